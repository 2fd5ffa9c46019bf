//! What counts as a deprovisioning, read off the one parsed message (never raw bytes), in every
//! spelling Entra and Okta send, whatever the tenant's `idp` (a tenant left at `generic` is
//! protected too): a DELETE; `active` set false by PUT; by PATCH — op `replace`/`add` in any
//! case, path `active` or URN-qualified, or path-less with `{"active": false}` (also under the
//! core User URN), the value `false` or a string `"False"` in any case; and each of these
//! inside a Bulk request.

use crate::scim::message::{field, operations};
use crate::scim::value::CORE_USER_URN;
use http::Method;
use serde_json::Value;

/// How many deletions and deactivations a request carries: 1 for a DELETE or a deactivating
/// PUT/PATCH, one per such operation of a Bulk request, else 0. `body` is the parsed message
/// (`None` when the method has no body).
pub fn count(method: &Method, bulk: bool, body: Option<&Value>) -> u32 {
    if bulk {
        return body
            .and_then(operations)
            .map_or(0, |ops| {
                ops.iter().filter(|op| bulk_op_deprovisions(op)).count()
            })
            .try_into()
            .unwrap_or(u32::MAX);
    }
    u32::from(deprovisions(method.as_str(), body))
}

/// One Bulk operation: its `method` (any case) and its `data`.
fn bulk_op_deprovisions(op: &Value) -> bool {
    let Some(method) = field(op, "method").and_then(Value::as_str) else {
        return false;
    };
    deprovisions(&method.trim().to_ascii_uppercase(), field(op, "data"))
}

fn deprovisions(method: &str, body: Option<&Value>) -> bool {
    match method {
        "DELETE" => true,
        "PUT" => body.is_some_and(|b| active_in_resource(b) == Some(false)),
        "PATCH" => body.is_some_and(patch_deactivates),
        _ => false,
    }
}

/// `false` for `false` or a string `"false"` in any case (and spaces), `true` likewise; a
/// one-element array or a `{"value": …}` object around it too (lenient IdPs).
fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => {
            let s = s.trim();
            if s.eq_ignore_ascii_case("true") {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        }
        Value::Array(items) if items.len() == 1 => items.first().and_then(as_bool),
        Value::Object(_) => field(v, "value").and_then(as_bool),
        _ => None,
    }
}

/// Is `path` the User's `active`: `active` or `urn:…:core:2.0:User:active`, any case?
fn is_active_path(path: &str) -> bool {
    let path = path.trim();
    if path.eq_ignore_ascii_case("active") {
        return true;
    }
    path.len() == CORE_USER_URN.len() + ":active".len()
        && path
            .get(..CORE_USER_URN.len())
            .is_some_and(|urn| urn.eq_ignore_ascii_case(CORE_USER_URN))
        && path
            .get(CORE_USER_URN.len()..)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(":active"))
}

/// The `active` a (partial) resource sets: its own key, a URN-qualified key, or inside the
/// core User schema's object.
fn active_in_resource(v: &Value) -> Option<bool> {
    let obj = v.as_object()?;
    let mut found = None;
    for (k, x) in obj {
        if is_active_path(k) {
            found = as_bool(x).or(found);
        } else if k.eq_ignore_ascii_case(CORE_USER_URN) {
            found = active_in_resource(x).or(found);
        }
    }
    found
}

/// Does the PatchOp leave `active` false (the last operation that sets it decides)?
fn patch_deactivates(v: &Value) -> bool {
    let mut last = None;
    for op in operations(v).into_iter().flatten() {
        // The first member of each name in any case (as `field` finds it), in one pass.
        let (mut kind, mut value, mut path) = (None, None, None);
        for (k, x) in op.as_object().into_iter().flatten() {
            let slot = match k.len() {
                2 if k.eq_ignore_ascii_case("op") => &mut kind,
                4 if k.eq_ignore_ascii_case("path") => &mut path,
                5 if k.eq_ignore_ascii_case("value") => &mut value,
                _ => continue,
            };
            slot.get_or_insert(x);
        }
        let kind = kind.and_then(Value::as_str).map(str::trim);
        let sets = kind
            .is_some_and(|k| k.eq_ignore_ascii_case("replace") || k.eq_ignore_ascii_case("add"));
        if !sets {
            continue;
        }
        let Some(value) = value else {
            continue;
        };
        let path = path.and_then(Value::as_str).map(str::trim);
        let set = match path {
            None | Some("") => active_in_resource(value),
            Some(p) if is_active_path(p) => as_bool(value),
            Some(_) => None,
        };
        if set.is_some() {
            last = set;
        }
    }
    last == Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(ops: Value) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    }

    fn n(method: Method, body: Value) -> u32 {
        count(&method, false, Some(&body))
    }

    #[test]
    fn every_idp_spelling_of_a_deactivating_patch_counts() {
        let urn = "urn:ietf:params:scim:schemas:core:2.0:User:active";
        let deactivating = [
            // Entra: capitalised op, string "False".
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            json!([{"op": "replace", "path": "active", "value": false}]),
            json!([{"op": "Add", "path": "Active", "value": "false"}]),
            // Okta: path-less, the value object.
            json!([{"op": "replace", "value": {"active": false}}]),
            json!([{"op": "replace", "value": {"id": "x", "Active": "FALSE"}}]),
            // URN-qualified, as path or as key.
            json!([{"op": "replace", "path": urn, "value": "False"}]),
            json!([{"op": "replace", "value": {urn: false}}]),
            json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:User": {"active": false}}}]),
            // A value wrapped once.
            json!([{"op": "replace", "path": "active", "value": [{"value": "False"}]}]),
            // Several ops: the last one that sets active decides.
            json!([{"op": "replace", "path": "active", "value": true}, {"op": "replace", "path": "displayName", "value": "x"}, {"op": "replace", "path": "active", "value": " False "}]),
        ];
        for ops in deactivating {
            assert_eq!(n(Method::PATCH, patch(ops.clone())), 1, "{ops}");
        }
        let not = [
            json!([{"op": "replace", "path": "active", "value": "True"}]),
            json!([{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "active", "value": true}]),
            json!([{"op": "remove", "path": "active"}]),
            json!([{"op": "replace", "path": "displayName", "value": "False"}]),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].active", "value": false}]),
            json!([{"op": "replace", "value": {"displayName": "false"}}]),
        ];
        for ops in not {
            assert_eq!(n(Method::PATCH, patch(ops.clone())), 0, "{ops}");
        }
    }

    #[test]
    fn deletes_and_deactivating_puts_count_creates_and_reads_do_not() {
        assert_eq!(count(&Method::DELETE, false, None), 1);
        assert_eq!(count(&Method::GET, false, None), 0);
        let user =
            |active: Value| json!({"schemas": [CORE_USER_URN], "userName": "u", "active": active});
        assert_eq!(n(Method::PUT, user(json!(false))), 1);
        assert_eq!(n(Method::PUT, user(json!("False"))), 1);
        assert_eq!(n(Method::PUT, user(json!(true))), 0);
        assert_eq!(n(Method::PUT, json!({"userName": "u"})), 0);
        // A user created inactive is not a deprovisioning.
        assert_eq!(n(Method::POST, user(json!(false))), 0);
    }

    #[test]
    fn a_bulk_counts_each_deprovisioning_operation() {
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "DELETE", "path": "/Users/1"},
            {"method": "delete", "path": "/Groups/2"},
            {"method": "PATCH", "path": "/Users/3", "data": patch(json!([{"op": "Replace", "path": "active", "value": "False"}]))},
            {"method": "PUT", "path": "/Users/4", "data": {"userName": "u", "active": false}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "n", "active": false}},
            {"method": "PATCH", "path": "/Users/5", "data": patch(json!([{"op": "replace", "path": "title", "value": "x"}]))},
            {"path": "/Users/6"}
        ]});
        assert_eq!(count(&Method::POST, true, Some(&bulk)), 4);
        assert_eq!(count(&Method::POST, true, Some(&json!({}))), 0);
        assert_eq!(count(&Method::POST, true, None), 0);
    }
}
