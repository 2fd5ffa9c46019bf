//! What the console shows, as data: the tenants ([`TenantView`]) and the exchanges (JSON, as
//! `GET /api/tenants/{tenant}/exchanges` answers and the live tail sends them). The HTML pages
//! ([`super::html`]) render these same values, so the pages and the API cannot disagree, and
//! redaction ([`super::redact`]) happens here, once, for both.

use super::record::{Kept, Record, REDACTED};
use super::redact;
use crate::policy::model::{Idp, Profile};
use crate::policy::Tenant;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One row of the tenants page.
#[derive(Debug, Clone, Serialize)]
pub struct TenantView {
    pub tenant: String,
    pub route: String,
    pub idp: &'static str,
    pub profile: &'static str,
    pub upstream: String,
    pub policy_file: String,
    pub content_sha256: String,
    pub loaded_at: String,
    pub pii: bool,
    pub requests_per_second: f64,
    pub last_minute_4xx: u64,
    pub last_minute_5xx: u64,
    pub last_minute_429: u64,
    pub requests_total: u64,
    /// Seconds left of a hold the target asked for (429/423/503 + Retry-After), if held.
    pub held_for_s: Option<f64>,
    /// The deprovisioning guard's state, e.g. `armed (enforce, 50 per 3600 s)` or `tripped (…)`;
    /// `null` (shown as "—") when the tenant has no guard.
    pub guard: Option<String>,
    /// What the last reload said about this tenant's file, when it serves a stale version.
    pub last_reload_error: Option<String>,
    /// Exchanges kept for it now.
    pub exchanges: usize,
}

pub fn idp_label(idp: Idp) -> &'static str {
    match idp {
        Idp::Generic => "generic",
        Idp::Entra => "entra",
        Idp::Okta => "okta",
    }
}

pub fn profile_label(p: Profile) -> &'static str {
    match p {
        Profile::Generic => "generic",
        Profile::Webex => "webex",
        Profile::Zoom => "zoom",
        Profile::Gluu => "gluu",
    }
}

/// `[guard]` as the console shows it: off (`None`), armed or tripped (its gauge, which the
/// guard keeps), with mode and limit.
fn guard_state(t: &Tenant) -> Option<String> {
    use crate::policy::model::GuardMode;
    let g = &t.guard;
    if !g.is_on() {
        return None;
    }
    let tripped = crate::telemetry::metrics::GUARD_TRIPPED
        .with_label_values(&[&t.name])
        .get()
        > 0;
    let mode = match g.mode {
        GuardMode::Enforce => "enforce",
        GuardMode::Observe => "observe",
    };
    Some(format!(
        "{} ({mode}, {} per {} s)",
        if tripped { "tripped" } else { "armed" },
        g.max_deletes,
        g.window.as_secs()
    ))
}

/// The static part of a tenant's row (the console fills in rates, holds and reload errors).
pub fn tenant_row(t: &Tenant) -> TenantView {
    TenantView {
        tenant: t.name.clone(),
        route: t.route.clone(),
        idp: idp_label(t.idp),
        profile: profile_label(t.upstream.profile),
        upstream: t.upstream.url.clone(),
        policy_file: t.source.display().to_string(),
        content_sha256: t.digest.clone(),
        loaded_at: rfc3339(t.loaded_at),
        pii: t.log.pii,
        requests_per_second: 0.0,
        last_minute_4xx: 0,
        last_minute_5xx: 0,
        last_minute_429: 0,
        requests_total: 0,
        held_for_s: None,
        guard: guard_state(t),
        last_reload_error: None,
        exchanges: 0,
    }
}

/// A body as shown: the text to read and, when it is whole JSON, the value.
pub struct ShownBody {
    pub text: String,
    pub json: Option<Value>,
    pub bytes: usize,
    pub truncated: bool,
}

/// A kept body as shown, personal values redacted unless `pii`.
pub fn body(k: &Kept, pii: bool) -> ShownBody {
    if let Some(why) = k.withheld {
        return ShownBody {
            text: format!("‹{} bytes {why}›", k.len),
            json: None,
            bytes: k.len,
            truncated: false,
        };
    }
    let raw = String::from_utf8_lossy(&k.bytes);
    let looks_json = matches!(raw.trim_start().as_bytes().first(), Some(b'{' | b'['));
    let text = match (pii, looks_json) {
        (true, _) => raw.into_owned(),
        (false, true) => redact::body(&raw),
        (false, false) => format!("‹{} bytes, not JSON: {REDACTED}›", k.len),
    };
    let json = if k.truncated() {
        None
    } else {
        serde_json::from_str::<Value>(&text).ok()
    };
    let text = match &json {
        Some(v) => serde_json::to_string_pretty(v).unwrap_or(text),
        None if k.truncated() => format!("{text}…"),
        None => text,
    };
    ShownBody {
        text,
        json,
        bytes: k.len,
        truncated: k.truncated(),
    }
}

/// A path and query as shown (the query decoded, redacted unless `pii`).
pub fn path(path: &str, query: Option<&str>, pii: bool) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{}", redact::query(q, pii)),
        None => path.to_string(),
    }
}

fn body_json(k: Option<&Kept>, pii: bool) -> Value {
    match k {
        None => json!({"body": null, "body_bytes": 0, "truncated": false}),
        Some(k) => {
            let shown = body(k, pii);
            json!({
                "body": shown.json.unwrap_or(Value::String(shown.text)),
                "body_bytes": shown.bytes,
                "truncated": shown.truncated,
            })
        }
    }
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    base
}

/// One exchange as the API and the live tail give it.
pub fn exchange(r: &Record) -> Value {
    let pii = r.pii;
    let idp = merge(
        json!({"method": r.method.as_str(), "path": path(&r.path, r.query.as_deref(), pii)}),
        body_json(r.body.as_ref(), pii),
    );
    let upstream = r.upstream.as_ref().map(|l| {
        let (p, q) = match l.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (l.path.as_str(), None),
        };
        merge(
            json!({
                "method": l.method.as_str(),
                "path": path(p, q, pii),
                "status": r.upstream_status,
                "duration_ms": r.upstream_ms.map(round2),
                "calls": r.upstream_calls,
            }),
            body_json(l.body.as_ref(), pii),
        )
    });
    let answer = merge(
        json!({"status": r.status}),
        body_json(r.answer.as_ref(), pii),
    );
    let kinds: serde_json::Map<String, Value> = r
        .rule_kinds
        .iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    json!({
        "seq": r.seq,
        "at": rfc3339(r.at),
        "tenant": r.tenant,
        "resource": r.resource,
        "method": r.method.as_str(),
        "status": r.status,
        "duration_ms": round2(r.duration_ms),
        "rules": r.rules,
        "rule_kinds": kinds,
        "notes": r.notes,
        "redacted": !pii,
        "idp": idp,
        "upstream": upstream,
        "answer": answer,
    })
}

fn round2(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// `2026-03-01T12:34:56.789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
#[path = "view/tests.rs"]
mod tests;
