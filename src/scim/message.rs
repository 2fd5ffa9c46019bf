//! Fields of SCIM messages (PatchOp, Bulk, SearchRequest, ServiceProviderConfig; RFC 7644),
//! found by name in any case, as IdPs spell them.

use crate::scim::error::{ScimError, ScimType};
use serde_json::{Map, Value};

/// The value of the object's field `name`, any case.
pub fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    member(object.as_object()?, name)
}

/// The value of the object's field `name`, any case, mutable.
pub fn field_mut<'a>(object: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    member_mut(object.as_object_mut()?, name)
}

/// The value of the first member of `object` named `name` in any case.
pub fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| same_name(k, name))
        .map(|(_, v)| v)
}

/// [`member`], mutable.
pub fn member_mut<'a>(object: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    object
        .iter_mut()
        .find(|(k, _)| same_name(k, name))
        .map(|(_, v)| v)
}

/// `a.eq_ignore_ascii_case(b)`, with the usual case (spelt alike) settled by one comparison of
/// the bytes rather than one of each byte folded.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a == b || a.eq_ignore_ascii_case(b))
}

/// The message's `Operations`, if it has an array there.
pub fn operations(message: &Value) -> Option<&Vec<Value>> {
    field(message, "Operations")?.as_array()
}

/// The message's `Operations`, mutable.
pub fn operations_mut(message: &mut Value) -> Option<&mut Vec<Value>> {
    field_mut(message, "Operations")?.as_array_mut()
}

/// A BulkRequest's `failOnErrors` below 1 or above `max` is clamped (RFC 7644 §3.7.3); true
/// when it changed.
pub fn clamp_fail_on_errors(v: &mut Value, max: usize) -> bool {
    let Some(f) = field_mut(v, "failOnErrors") else {
        return false;
    };
    let Some(n) = f.as_i64() else { return false };
    let clamped = n.clamp(1, i64::try_from(max).unwrap_or(i64::MAX));
    if clamped != n {
        *f = Value::from(clamped);
    }
    clamped != n
}

/// A PatchOp the gateway can translate (RFC 7644 §3.5.2): an `Operations` array of objects,
/// each with `op` add, remove or replace (any case), a string `path` when there is one, a
/// `path` on every remove (noTarget), a `value` on add and replace, an object when there is no
/// path (invalidValue).
pub fn check_patch(v: &Value) -> Result<(), ScimError> {
    let ops = field(v, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PatchOp needs an Operations array"))?;
    for (i, op) in ops.iter().enumerate() {
        if !op.is_object() {
            return Err(ScimError::invalid_syntax(format!(
                "PATCH operation {i} is not an object"
            )));
        }
        let name = field(op, "op").and_then(Value::as_str).unwrap_or("");
        let name = ["add", "remove", "replace"]
            .into_iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ScimError::invalid_syntax(format!(
                    "PATCH operation {i} has no op add, remove or replace"
                ))
            })?;
        let path = match field(op, "path") {
            None => None,
            Some(Value::String(p)) => Some(p),
            Some(_) => {
                return Err(ScimError::bad_request(
                    Some(ScimType::InvalidPath),
                    format!("PATCH operation {i} has a path that is not a string"),
                ))
            }
        };
        let value = field(op, "value");
        match (name, path, value) {
            ("remove", None, _) => {
                return Err(ScimError::bad_request(
                    Some(ScimType::NoTarget),
                    format!("PATCH operation {i} removes without a path"),
                ))
            }
            ("remove", Some(_), _) => {}
            (_, _, None) => {
                return Err(ScimError::bad_request(
                    Some(ScimType::InvalidValue),
                    format!("PATCH operation {i} ({name}) has no value"),
                ))
            }
            (_, None, Some(v)) if !v.is_object() => {
                return Err(ScimError::bad_request(
                    Some(ScimType::InvalidValue),
                    format!("PATCH operation {i} ({name}) without a path needs an object value"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A BulkRequest the gateway can translate (RFC 7644 §3.7): an `Operations` array of objects,
/// each with a `method` (POST, PUT, PATCH, DELETE, any case) and a string `path`; `data` an
/// object where the method carries one, and a valid PatchOp for PATCH.
pub fn check_bulk(v: &Value) -> Result<(), ScimError> {
    let ops = operations(v)
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest needs an Operations array"))?;
    for (i, op) in ops.iter().enumerate() {
        let method = field(op, "method").and_then(Value::as_str).unwrap_or("");
        let method = ["POST", "PUT", "PATCH", "DELETE"]
            .into_iter()
            .find(|m| m.eq_ignore_ascii_case(method))
            .ok_or_else(|| {
                ScimError::invalid_syntax(format!(
                    "Bulk operation {i} has no method POST, PUT, PATCH or DELETE"
                ))
            })?;
        if !field(op, "path").is_some_and(Value::is_string) {
            return Err(ScimError::bad_request(
                Some(ScimType::InvalidPath),
                format!("Bulk operation {i} has no path"),
            ));
        }
        let data = field(op, "data");
        match (method, data) {
            ("DELETE", _) => {}
            (_, Some(d)) if d.is_object() => {
                if method == "PATCH" {
                    check_patch(d).map_err(|mut e| {
                        e.detail = format!("Bulk operation {i}: {}", e.detail);
                        e
                    })?;
                }
            }
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "Bulk operation {i} ({method}) needs a data object"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_is_equal_ignoring_ascii_case() {
        let names = [
            "", "op", "OP", "oP", "path", "Path", "value", "VALUE", "valuE", "valu", "values",
            "Éa", "éa", "ÉA", "op\u{0}", "o\u{130}",
        ];
        for a in names {
            for b in names {
                assert_eq!(same_name(a, b), a.eq_ignore_ascii_case(b), "{a:?} {b:?}");
            }
        }
    }

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

    #[test]
    fn patch_shapes() {
        use serde_json::json;
        let ok = json!({"Operations": [
            {"op": "Replace", "path": "title", "value": "x"},
            {"op": "add", "value": {"title": "x"}},
            {"op": "remove", "path": "members[value eq \"1\"]"}
        ]});
        assert!(check_patch(&ok).is_ok());
        let cases = [
            (json!({"Operations": {"op": "add"}}), None),
            (json!({}), None),
            (json!({"Operations": ["x"]}), None),
            (
                json!({"Operations": [{"op": "replace ", "path": "a", "value": 1}]}),
                None,
            ),
            (
                json!({"Operations": [{"op": ["add"], "path": "a", "value": 1}]}),
                None,
            ),
            (
                json!({"Operations": [{"op": "remove"}]}),
                Some(ScimType::NoTarget),
            ),
            (
                json!({"Operations": [{"op": "add", "path": 1, "value": 1}]}),
                Some(ScimType::InvalidPath),
            ),
            (
                json!({"Operations": [{"op": "add", "path": "a"}]}),
                Some(ScimType::InvalidValue),
            ),
            (
                json!({"Operations": [{"op": "add", "value": "x"}]}),
                Some(ScimType::InvalidValue),
            ),
        ];
        for (body, want) in cases {
            let e = check_patch(&body).unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(
                e.scim_type,
                Some(want.unwrap_or(ScimType::InvalidSyntax)),
                "{body}"
            );
        }
    }

    #[test]
    fn bulk_shapes() {
        use serde_json::json;
        let ok = json!({"Operations": [
            {"method": "post", "path": "/Users", "bulkId": "a", "data": {"userName": "a"}},
            {"method": "DELETE", "path": "/Users/1"},
            {"method": "PATCH", "path": "/Users/1", "data": {"Operations": [{"op": "remove", "path": "title"}]}}
        ]});
        assert!(check_bulk(&ok).is_ok());
        for body in [
            json!({"Operations": {}}),
            json!({"Operations": [{"path": "/Users"}]}),
            json!({"Operations": [{"method": "GET", "path": "/Users"}]}),
            json!({"Operations": [{"method": "POST"}]}),
            json!({"Operations": [{"method": "POST", "path": "/Users", "data": []}]}),
            json!({"Operations": [{"method": "PATCH", "path": "/Users/1", "data": {"Operations": [{"op": "remove"}]}}]}),
        ] {
            assert_eq!(check_bulk(&body).unwrap_err().status, 400, "{body}");
        }
    }
}
