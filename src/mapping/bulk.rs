//! Rules on Bulk (RFC 7644 §3.7): each operation's `data` is translated as the request it
//! stands for (POST/PUT a resource, PATCH a PatchOp); each `response` resource is mapped back.

use super::rules::{Kind, Rules};
use super::{patch, resource, Stats};
use crate::scim::error::ScimError;
use crate::scim::message::{field, field_mut, operations_mut};
use serde_json::Value;

/// Translate every operation of a BulkRequest in place.
pub fn apply_request(
    rules: &Rules,
    body: &mut Value,
    lenient: bool,
    stats: &mut Stats,
) -> Result<(), ScimError> {
    let Some(ops) = operations_mut(body) else {
        return Ok(());
    };
    for op in ops.iter_mut() {
        let method = field(op, "method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_uppercase();
        let Some(kind) = field(op, "path")
            .and_then(Value::as_str)
            .and_then(Kind::from_rest)
        else {
            continue;
        };
        let Some(data) = field_mut(op, "data") else {
            continue;
        };
        match method.as_str() {
            "POST" | "PUT" => resource::apply_request(rules, kind, data, stats),
            "PATCH" => patch::apply_request(
                rules,
                kind,
                data,
                lenient,
                &mut crate::scim::expr::PathMemo::default(),
                stats,
            )?,
            _ => {}
        }
    }
    Ok(())
}

/// Map back every resource inside a BulkResponse.
pub fn apply_response(rules: &Rules, body: &mut Value, stats: &mut Stats) {
    let Some(ops) = operations_mut(body) else {
        return;
    };
    for op in ops.iter_mut() {
        let from_location = field(op, "location").and_then(Value::as_str).and_then(|l| {
            if l.contains("/Users/") {
                Some(Kind::User)
            } else if l.contains("/Groups/") {
                Some(Kind::Group)
            } else {
                None
            }
        });
        let Some(resp) = field_mut(op, "response") else {
            continue;
        };
        if let Some(kind) = Kind::of_resource(resp).or(from_location) {
            resource::apply_response(rules, kind, resp, stats);
        }
    }
}
