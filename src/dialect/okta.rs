//! Okta's SCIM dialect: read-only `id`, `meta` and `groups` that Okta puts into PUT bodies and
//! path-less replace values are stripped; paging fields are integers both ways.

use super::{note, remove_ci};
use crate::mapping::Stats;
use serde_json::{Map, Value};

const READ_ONLY: [&str; 3] = ["id", "meta", "groups"];

/// A PUT body or a path-less replace value: read-only attributes out.
pub fn strip_read_only(obj: &mut Map<String, Value>, stats: &mut Stats) {
    for k in READ_ONLY {
        if remove_ci(obj, k).is_some() {
            note(stats, "okta: read-only attribute stripped");
        }
    }
}

/// A PatchOp: path-less `replace` values lose their read-only attributes.
pub fn patch(body: &mut Value, stats: &mut Stats) {
    let Some(ops) = crate::scim::message::operations_mut(body) else {
        return;
    };
    for op in ops.iter_mut().filter_map(Value::as_object_mut) {
        let is_replace = super::get_ci(op, "op")
            .and_then(Value::as_str)
            .is_some_and(|o| o.eq_ignore_ascii_case("replace"));
        let pathless = super::get_ci(op, "path").is_none();
        if !(is_replace && pathless) {
            continue;
        }
        if let Some(Value::Object(v)) = op
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"))
            .map(|(_, v)| v)
        {
            strip_read_only(v, stats);
        }
    }
}

/// `"startIndex": "1"` → `1` (SearchRequest bodies Okta sends; ListResponses Okta reads).
pub fn integer_paging(obj: &mut Map<String, Value>, stats: &mut Stats) {
    for (k, v) in obj.iter_mut() {
        let paging = ["startIndex", "count", "totalResults", "itemsPerPage"]
            .iter()
            .any(|p| p.eq_ignore_ascii_case(k));
        if let (true, Value::String(s)) = (paging, &*v) {
            if let Ok(n) = s.trim().parse::<u64>() {
                *v = Value::from(n);
                note(stats, "okta: paging field made an integer");
            }
        }
    }
}
