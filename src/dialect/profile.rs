//! What each target really accepts, applied after the tenant's rules: Webex (Bulk limits, no PUT
//! in Bulk, eq/sw/ew filters only), Zoom (`Accept: application/scim+json`, non-SCIM errors
//! wrapped), Gluu (`/Users/.search` as `/Users/Search`, `count` clamped).

use super::note;
use crate::mapping::Stats;
use crate::policy::model::Profile;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::expr::{parse_filter_with, CompareOp, Filter, ParseOptions};
use serde_json::Value;

/// Webex: most operations in one Bulk request, and the `failOnErrors` range.
pub const WEBEX_BULK_MAX: usize = 100;
/// Gluu's default `maxCount` for list and search results.
pub const GLUU_MAX_COUNT: u64 = 200;
/// Zoom's largest page: the maximum `page_size` of its list APIs (its SCIM reference gives none).
pub const ZOOM_MAX_COUNT: u64 = 300;

/// Webex's answer to a Bulk it cannot take.
pub fn webex_bulk(body: &mut Value, stats: &mut Stats) -> Result<(), ScimError> {
    if let Some(ops) = crate::scim::message::operations(body) {
        if ops.len() > WEBEX_BULK_MAX {
            return Err(ScimError::new(
                413,
                None,
                format!(
                    "bulk request has {} operations; Webex accepts at most {WEBEX_BULK_MAX}",
                    ops.len()
                ),
            ));
        }
        for op in ops {
            let method = crate::scim::message::field(op, "method")
                .and_then(Value::as_str)
                .unwrap_or("");
            if method.eq_ignore_ascii_case("PUT") {
                return Err(ScimError::bad_request(
                    Some(ScimType::InvalidValue),
                    "Webex does not accept PUT inside a Bulk request; send a PATCH replace (or a PUT outside Bulk)",
                ));
            }
        }
    }
    if crate::scim::message::clamp_fail_on_errors(body, WEBEX_BULK_MAX) {
        note(stats, "webex: failOnErrors clamped to 1..100");
    }
    Ok(())
}

/// Webex filters only with `eq`, `sw` and `ew`: anything else is refused here, naming it.
pub fn webex_filter(text: &str) -> Result<(), ScimError> {
    let Ok(f) = parse_filter_with(text, &ParseOptions::lenient()) else {
        return Ok(()); // malformed filters are someone else's 400
    };
    fn check(f: &Filter) -> Result<(), String> {
        match f {
            Filter::Compare {
                op: CompareOp::Eq | CompareOp::Sw | CompareOp::Ew,
                ..
            } => Ok(()),
            Filter::Compare { op, .. } => Err(op.as_str().to_string()),
            Filter::Present(_) => Err("pr".into()),
            Filter::And(a, b) | Filter::Or(a, b) => check(a).and_then(|_| check(b)),
            Filter::Not(inner) => check(inner),
            Filter::ValuePath { filter, .. } => check(filter),
        }
    }
    check(&f).map_err(|op| {
        ScimError::bad_request(
            Some(ScimType::InvalidFilter),
            format!("Webex supports only the eq, sw and ew filter operators, not {op:?}"),
        )
    })
}

/// Clamp `count` in a query string to `max`, whatever the spelling of its name (read decoded,
/// any case); `Ok(None)` when nothing changes. A `count` that is not a non-negative integer is
/// refused (RFC 7644 §3.4.2.4), one too large for any integer is clamped.
pub fn clamp_count(
    query: &str,
    max: u64,
    stats: &mut Stats,
    what: &'static str,
) -> Result<Option<String>, ScimError> {
    let out = crate::mapping::query::map_params(query, |name, value| {
        if name != "count" {
            return Ok(None);
        }
        let digits = value.trim();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ScimError::bad_request(
                Some(ScimType::InvalidValue),
                format!("count must be a non-negative integer, not {value:?}"),
            ));
        }
        let n = digits.parse::<u64>().unwrap_or(u64::MAX);
        Ok((n > max).then(|| max.to_string()))
    })?;
    if out.is_some() {
        note(stats, what);
    }
    Ok(out)
}

/// Gluu's search endpoint: `/Users/.search` → `/Users/Search` (Gluu Server 3.x and 4.x).
pub fn gluu_rest(rest: &str, stats: &mut Stats) -> Option<String> {
    let (head, last) = rest.rsplit_once('/')?;
    if last.eq_ignore_ascii_case(".search") {
        note(stats, "gluu: .search sent as Search");
        Some(format!("{head}/Search"))
    } else {
        None
    }
}

/// The count cap of a profile, if it has one.
pub fn max_count(profile: Profile) -> Option<(u64, &'static str)> {
    match profile {
        Profile::Gluu => Some((GLUU_MAX_COUNT, "gluu: count clamped to 200")),
        Profile::Zoom => Some((ZOOM_MAX_COUNT, "zoom: count clamped to 300")),
        _ => None,
    }
}

/// Zoom answers errors as `{"code": …, "message": …}`: wrap them into SCIM error bodies with the
/// same status. `None` when the body is already SCIM (or not a Zoom error).
pub fn zoom_error(status: u16, body: &Value) -> Option<Value> {
    if status < 400 {
        return None;
    }
    let obj = body.as_object()?;
    if obj.contains_key("schemas") {
        return None;
    }
    let message = obj.get("message").and_then(Value::as_str)?;
    let code = obj.get("code").map(|c| match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let detail = match code {
        Some(c) => format!("{message} (Zoom code {c})"),
        None => message.to_string(),
    };
    Some(serde_json::json!({
        "schemas": [crate::scim::error::ERROR_SCHEMA],
        "status": status.to_string(),
        "detail": detail
    }))
}
