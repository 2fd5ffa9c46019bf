//! What each IdP really sends, normalised to RFC 7644 before the tenant's own rules run
//! ([`entra`], [`okta`]), and what each target really accepts, applied after them ([`profile`]).
//! Every change is counted (`scimgate_rules_applied_total{kind="dialect"}`) and named in the
//! request's debug log line.

pub mod entra;
pub mod okta;
pub mod profile;

use crate::mapping::Stats;
use crate::scim::value::CORE_USER_URN;
use serde_json::{Map, Value};

/// The enterprise User extension URN.
pub use crate::scim::value::ENTERPRISE_USER_URN as ENTERPRISE;

/// Record one dialect change with a note for the debug log.
pub fn note(stats: &mut Stats, what: &'static str) {
    stats.dialect += 1;
    if !stats.notes.contains(&what) {
        stats.notes.push(what);
    }
}

/// `"True"`, `" false "` → a JSON boolean; true when it changed.
pub fn to_bool(v: &mut Value) -> bool {
    let Value::String(s) = v else { return false };
    let b = match s.trim().to_ascii_lowercase().as_str() {
        "true" => true,
        "false" => false,
        _ => return false,
    };
    *v = Value::Bool(b);
    true
}

/// Is this attribute boolean in the RFC 7643 schemas? `active`, and `primary` of every
/// multi-valued attribute.
pub fn is_boolean(name: &str, sub: Option<&str>) -> bool {
    match sub {
        Some(s) => s.eq_ignore_ascii_case("primary"),
        None => name.eq_ignore_ascii_case("active") || name.eq_ignore_ascii_case("primary"),
    }
}

/// Turn string booleans into booleans in a (partial) resource: `active`, and `primary` in the
/// elements of every multi-valued attribute. Returns how many changed.
pub fn booleans_in_resource(obj: &mut Map<String, Value>) -> u32 {
    let mut n = 0;
    for (k, v) in obj.iter_mut() {
        if is_boolean(k, None) {
            n += u32::from(to_bool(v));
        } else if let Value::Array(items) = v {
            n += booleans_in_elements(items);
        }
    }
    n
}

/// `primary` in each element of a multi-valued attribute.
pub fn booleans_in_elements(items: &mut [Value]) -> u32 {
    let mut n = 0;
    for item in items.iter_mut() {
        if let Some(o) = item.as_object_mut() {
            for (k, v) in o.iter_mut() {
                if k.eq_ignore_ascii_case("primary") {
                    n += u32::from(to_bool(v));
                }
            }
        }
    }
    n
}

/// The value of a key, any case.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    crate::scim::message::member(obj, name)
}

/// Remove a key, any case, keeping the order of the others.
pub fn remove_ci(obj: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = obj.keys().find(|k| k.eq_ignore_ascii_case(name))?.clone();
    obj.shift_remove(&key)
}

/// Is `urn` the core User schema?
pub fn is_core_user(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(CORE_USER_URN)
}
