//! Fields of SCIM messages (PatchOp, Bulk, SearchRequest, ServiceProviderConfig; RFC 7644),
//! found by name in any case, as IdPs spell them.

use serde_json::Value;

/// The value of the object's field `name`, any case.
pub fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The value of the object's field `name`, any case, mutable.
pub fn field_mut<'a>(object: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    object
        .as_object_mut()?
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The message's `Operations`, if it has an array there.
pub fn operations(message: &Value) -> Option<&Vec<Value>> {
    field(message, "Operations")?.as_array()
}

/// The message's `Operations`, mutable.
pub fn operations_mut(message: &mut Value) -> Option<&mut Vec<Value>> {
    field_mut(message, "Operations")?.as_array_mut()
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
        assert_eq!(
            field(&serde_json::json!({"FailOnErrors": 3}), "failOnErrors"),
            Some(&Value::from(3))
        );
        assert!(field(&serde_json::json!("x"), "a").is_none());
    }
}
