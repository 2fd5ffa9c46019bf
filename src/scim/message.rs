//! The `Operations` array of PatchOp and Bulk messages (RFC 7644 §3.5.2, §3.7), found by its
//! name in any case, as IdPs spell it.

use serde_json::Value;

/// The message's `Operations`, if it has an array there.
pub fn operations(message: &Value) -> Option<&Vec<Value>> {
    message
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, ops)| ops.as_array())
}

/// The message's `Operations`, mutable.
pub fn operations_mut(message: &mut Value) -> Option<&mut Vec<Value>> {
    message
        .as_object_mut()?
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, ops)| ops.as_array_mut())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_operations_in_any_case() {
        let mut v = serde_json::json!({"operations": [1, 2]});
        assert_eq!(operations(&v).map(Vec::len), Some(2));
        operations_mut(&mut v).unwrap().push(Value::from(3));
        assert_eq!(operations(&v).map(Vec::len), Some(3));
        assert!(operations(&serde_json::json!({"Operations": {}})).is_none());
        assert!(operations(&serde_json::json!([])).is_none());
    }
}
