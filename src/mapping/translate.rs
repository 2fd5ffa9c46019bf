//! A target's answer mapped back so the IdP sees its own names: resources,
//! `ListResponse.Resources` and `BulkResponse` operations. (The request side and the
//! orchestration of dialects, rules and profiles live in `flow::translate`.)

use super::rules::{Kind, Rules};
use super::{bulk, resource, Stats};
use crate::scim::message::{field_mut, operations};
use serde_json::Value;

/// Map a target's answer back in place; true when anything changed.
pub fn response(rules: &Rules, rest: &str, v: &mut Value, stats: &mut Stats) -> bool {
    if !rules.maps_responses() {
        return false;
    }
    let before = stats.total();
    let default_kind = Kind::from_rest(rest);
    if let Some(items) = field_mut(v, "Resources").and_then(Value::as_array_mut) {
        for item in items.iter_mut() {
            if let Some(k) = Kind::of_resource(item).or(default_kind) {
                resource::apply_response(rules, k, item, stats);
            }
        }
    } else if operations(v).is_some() {
        bulk::apply_response(rules, v, stats);
    } else if let Some(k) = Kind::of_resource(v).or(default_kind) {
        resource::apply_response(rules, k, v, stats);
    }
    stats.total() != before
}
