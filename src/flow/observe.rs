//! Step 8: one request, one event: the request counter and duration (recorded before the answer
//! is written, so a client that scrapes right after its answer sees its own request) and one
//! access-log line — bounded labels, no token, no body, personal data only where the tenant's
//! `[log] pii = true` allows it. The access log is its own target, `scimgate::access`. With an
//! admin listener, the console's record of the exchange too ([`keep`]: one `try_send`).

use super::Reply;
use crate::policy::Tenant;
use crate::scim::resource::Resource;
use crate::telemetry::metrics::{self, NO_TENANT};
use serde_json::Value;
use std::time::{Duration, Instant};

/// What the flow learned about one request, for its metrics and access-log line. The tenant is
/// borrowed from the policy snapshot the request holds: no shared reference count is touched
/// per request (two threads counting one tenant's `Arc` pass its cache line back and forth).
#[derive(Default)]
pub struct Seen<'p> {
    pub tenant: Option<&'p Tenant>,
    pub resource: Resource,
    /// The id in `/Users/{id}` or `/Groups/{id}` (an opaque identifier, not PII).
    pub resource_id: Option<String>,
    pub upstream_status: Option<u16>,
    /// Time in the exchange with the target, retries included (a split Bulk: its chunks'
    /// sum); the same clock readings as `scimgate_upstream_duration_seconds`.
    pub upstream_ms: Option<f64>,
    /// Translation rules applied, request and response.
    pub rules: u32,
    /// Only for tenants with `[log] pii = true`: the `userName` the request carried.
    pub user_name: Option<String>,
    /// For the console (only when a ring takes records): both legs of the exchange.
    pub exchange: crate::console::record::Draft,
}

impl<'p> Seen<'p> {
    /// Learn the tenant and endpoint of a routed request (`rest` is canonical).
    pub fn routed(&mut self, tenant: &'p Tenant, rest: &str) {
        self.tenant = Some(tenant);
        self.resource = Resource::classify(rest);
        if matches!(self.resource, Resource::Users | Resource::Groups) {
            self.resource_id = rest
                .split('/')
                .filter(|s| !s.is_empty())
                .nth(1)
                .map(|id| first_chars(id, 128).to_owned());
        }
    }

    /// The `userName` of a request body, for tenants that log it.
    pub fn body(&mut self, tenant: &Tenant, body: Option<&Value>) {
        if tenant.log.pii {
            self.user_name = body
                .and_then(|v| crate::scim::message::field(v, "userName"))
                .and_then(Value::as_str)
                .map(|s| first_chars(s, 256).to_owned());
        }
    }
}

/// Hand the console's ring this exchange's record (a request routed to a tenant): one bounded
/// record, one `try_send`, nothing else on the request path. Past the ring's budget a second
/// (`Ring::admit`), a successful exchange is not recorded.
pub fn keep(
    ring: &crate::console::Ring,
    req: &super::Incoming<'_>,
    seen: &mut Seen<'_>,
    reply: &Reply,
    started: Instant,
    elapsed: Duration,
) {
    let Some(tenant) = seen.tenant else {
        return;
    };
    if !ring.admit(&tenant.name, reply.status, started) {
        return;
    }
    let draft = std::mem::take(&mut seen.exchange);
    let record = draft.finish(crate::console::record::Outcome {
        method: req.method,
        path: req.path,
        query: req.query,
        tenant: &tenant.name,
        pii: tenant.log.pii,
        resource: seen.resource.label(),
        upstream_status: seen.upstream_status,
        upstream_ms: seen.upstream_ms,
        rules: seen.rules,
        status: reply.status,
        answer: &reply.body,
        elapsed,
    });
    if let Some(record) = record {
        ring.push(record);
    }
}

/// Count the request and write its access-log line.
pub fn record(method: &http::Method, seen: &Seen<'_>, reply: &Reply, elapsed: Duration) {
    let status = reply.status;
    let method = metrics::method_label(method);
    let tenant = seen.tenant.as_ref().map_or(NO_TENANT, |t| t.name.as_str());
    let resource = seen.resource.label();
    metrics::REQUESTS
        .with_label_values(&[tenant, resource, method, metrics::status_label(status)])
        .inc();
    metrics::REQUEST_DURATION
        .with_label_values(&[tenant, resource, method])
        .observe(elapsed.as_secs_f64());
    crate::telemetry::logs::access(&crate::telemetry::logs::AccessLine {
        tenant,
        resource,
        resource_id: seen.resource_id.as_deref(),
        method,
        status,
        upstream_status: seen.upstream_status,
        upstream_ms: seen.upstream_ms,
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        rules: seen.rules,
        user_name: seen.user_name.as_deref(),
    });
}

/// The first `n` characters of `s` (all of it when it is shorter), without walking a text
/// of at most `n` bytes.
fn first_chars(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    match s.char_indices().nth(n) {
        Some((end, _)) => s.get(..end).unwrap_or(s),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::console::ring::{Limits, TICK};
    use bytes::Bytes;

    /// `keep` asks the ring's budget: past it a success is not recorded, an error is.
    #[test]
    fn keep_records_past_the_budget_only_errors() {
        let src = "tenant = \"t\"\nroute = \"/t/scim/v2\"\n[auth]\nbearer_sha256 = [\"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"]\n[upstream]\nurl = \"http://127.0.0.1:9/v2\"\n";
        let tenant =
            crate::policy::compile::compile_file(std::path::Path::new("t.toml"), src).unwrap();
        let ring = crate::console::Ring::new(Limits {
            per_second: 2,
            ..Limits::default()
        });
        let started = Instant::now();
        let reply = |status| Reply {
            status,
            headers: Vec::new(),
            body: Bytes::from_static(b"{}"),
        };
        for status in [200, 201, 200, 204, 404, 502, 200] {
            let mut seen = Seen::default();
            seen.routed(&tenant, "/Users");
            seen.exchange.start();
            let req = super::super::Incoming {
                method: &http::Method::GET,
                path: "/t/scim/v2/Users",
                query: None,
                headers: &http::HeaderMap::new(),
                host: None,
            };
            keep(
                &ring,
                &req,
                &mut seen,
                &reply(status),
                started,
                Duration::ZERO,
            );
        }
        std::thread::sleep(TICK * 20);
        let statuses: Vec<u16> = ring.tenant("t").iter().map(|r| r.status).collect();
        assert_eq!(statuses, [502, 404, 201, 200], "newest first");
    }

    #[test]
    fn first_chars_is_the_first_n_characters() {
        for s in [
            "",
            "abc",
            "2819c223-7f76-453a-919d-413861904646",
            "é😀xyz",
            "ééééé",
        ] {
            for n in 0..8 {
                let want: String = s.chars().take(n).collect();
                assert_eq!(first_chars(s, n), want, "{s:?} {n}");
            }
        }
    }
}
