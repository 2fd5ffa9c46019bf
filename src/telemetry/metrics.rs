//! Every metric name and label set, in one place (the contract in policies/README.md).
//! Label values are bounded: tenant names, endpoint families, methods, statuses, kinds.

use once_cell::sync::Lazy;
use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
    HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
};

/// Seconds; from 1 ms to 60 s, to cover both a fast local target and a slow SaaS one.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

// The `register_*` macros fail only on a duplicate or malformed name, which these constant
// definitions cannot produce; a panic there happens at the first scrape in every test run.
macro_rules! metric {
    ($e:expr) => {
        $e.expect("metric definition is valid and registered once")
    };
}

pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_requests_total",
        "Requests answered, by tenant, SCIM endpoint, method and HTTP status.",
        &["tenant", "resource", "method", "status"]
    ))
});

pub static REQUEST_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    metric!(register_histogram_vec!(
        "scimgate_request_duration_seconds",
        "Time from request headers read to response written.",
        &["tenant", "resource", "method"],
        LATENCY_BUCKETS.to_vec()
    ))
});

pub static UPSTREAM_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    metric!(register_histogram_vec!(
        "scimgate_upstream_duration_seconds",
        "Time of one upstream exchange, connect to last response byte.",
        &["tenant"],
        LATENCY_BUCKETS.to_vec()
    ))
});

pub static UPSTREAM_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_upstream_errors_total",
        "Upstream exchanges that failed, by kind: connect, timeout, status_5xx, invalid_response, throttled.",
        &["tenant", "kind"]
    ))
});

/// New connections to targets; the rest of the exchanges reuse pooled ones (issue 15: a pool
/// that discards healthy connections shows here as a rate close to the request rate).
pub static UPSTREAM_CONNECTIONS_OPENED: Lazy<prometheus::IntCounter> = Lazy::new(|| {
    metric!(prometheus::register_int_counter!(
        "scimgate_upstream_connections_opened_total",
        "Connections opened to SCIM targets (the other exchanges reused pooled connections)."
    ))
});

pub static UPSTREAM_TOKEN_REFRESHES: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_upstream_token_refreshes_total",
        "Access tokens asked of a tenant's token endpoint ([upstream.oauth]), by result: success, failure.",
        &["tenant", "result"]
    ))
});

pub static RULES_APPLIED: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_rules_applied_total",
        "Translation rules applied, by kind: map, drop, set, transform, null, dialect.",
        &["tenant", "kind"]
    ))
});

/// Count what one request's translation did: `(kind, count)` pairs.
pub fn record_rules(tenant: &str, by_kind: [(&'static str, u32); 6]) {
    for (kind, n) in by_kind {
        if n > 0 {
            RULES_APPLIED
                .with_label_values(&[tenant, kind])
                .inc_by(u64::from(n));
        }
    }
}

pub static TOKENS_ISSUED: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_tokens_issued_total",
        "Access tokens the gateway issued at a tenant's POST {route}/oauth/token.",
        &["tenant"]
    ))
});

/// `client` is a `client_id` of the tenant's policy (bounded) or "unknown client".
pub static TOKEN_FAILURES: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_token_failures_total",
        "Failed client authentications at a tenant's token endpoint, by client_id of the policy (\"unknown client\" for any other).",
        &["tenant", "client"]
    ))
});

pub static RATE_LIMITED: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_rate_limited_total",
        "Requests answered 429 because the tenant was over its quota.",
        &["tenant"]
    ))
});

/// Operations per Bulk request.
const BULK_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

pub static BULK_OPERATIONS: Lazy<HistogramVec> = Lazy::new(|| {
    metric!(register_histogram_vec!(
        "scimgate_bulk_operations",
        "Operations per Bulk request received.",
        &["tenant"],
        BULK_BUCKETS.to_vec()
    ))
});

pub static BULK_REJECTED: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_bulk_rejected_total",
        "Bulk requests refused with 413, by reason: max_operations, max_payload, over_burst, max_chunks.",
        &["tenant", "reason"]
    ))
});

pub static POLICY_RELOADS: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_policy_reloads_total",
        "Policy reloads (file change or SIGHUP), by result: success, failure.",
        &["result"]
    ))
});

pub static POLICY_TENANTS: Lazy<IntGauge> = Lazy::new(|| {
    metric!(register_int_gauge!(
        "scimgate_policy_tenants",
        "Tenants in the policies being served."
    ))
});

pub static POLICY_STALE_TENANTS: Lazy<IntGauge> = Lazy::new(|| {
    metric!(register_int_gauge!(
        "scimgate_policy_stale_tenants",
        "Tenants served on their last good policy because their file did not load at the last reload."
    ))
});

pub static POLICY_FILES_NOT_LOADED: Lazy<IntGauge> = Lazy::new(|| {
    metric!(register_int_gauge!(
        "scimgate_policy_files_not_loaded",
        "Policy files that did not load at the last reload and have no last good version: no tenant serves from them."
    ))
});

pub static STORE_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_store_errors_total",
        "Shared store (--store) calls that failed, by kind: timeout, connection, script.",
        &["kind"]
    ))
});

pub static STORE_FALLBACK: Lazy<IntGauge> = Lazy::new(|| {
    metric!(register_int_gauge!(
        "scimgate_store_fallback",
        "1 while the shared store's breaker is open and --store-on-error decides (local limits, open or closed), else 0."
    ))
});

/// With `--store` only: the store's series from the first scrape, every error kind at zero.
pub fn init_store(kinds: &[&str]) {
    for kind in kinds {
        STORE_ERRORS.with_label_values(&[kind]);
    }
    STORE_FALLBACK.set(0);
}

/// The tenant label for requests that matched no route.
pub const NO_TENANT: &str = "none";

/// A bounded method label.
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// Kinds of `scimgate_upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    Connect,
    Timeout,
    Status5xx,
    InvalidResponse,
    /// The target answered 429 or 423; also each request the gateway held back for it.
    Throttled,
}

impl UpstreamErrorKind {
    pub fn label(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Status5xx => "status_5xx",
            UpstreamErrorKind::InvalidResponse => "invalid_response",
            UpstreamErrorKind::Throttled => "throttled",
        }
    }
}

/// Make every family visible from the first scrape (counters at zero are still series-less
/// until labelled, but the gauge and the HELP lines are there).
pub static CONNECTIONS: Lazy<IntGaugeVec> = Lazy::new(|| {
    metric!(register_int_gauge_vec!(
        "scimgate_connections",
        "IdP connections open now, by listener (idp, idp-tls).",
        &["listener"]
    ))
});

/// IdP connections open now on each worker thread: one thread with most of them is one hot core
/// (the accept loops take turns, so they stay within a connection or two of each other).
pub static WORKER_CONNECTIONS: Lazy<IntGaugeVec> = Lazy::new(|| {
    metric!(register_int_gauge_vec!(
        "scimgate_worker_connections",
        "IdP connections open now on each worker thread (worker: 0, 1, ... in the order the threads took their first connection).",
        &["worker"]
    ))
});

pub static EDGE_REFUSALS: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_edge_refusals_total",
        "Request heads the connection edge refused before a request existed, by listener and reason: header_timeout (408), header_too_large (431), malformed (400 for a head Pingora's parser refused).",
        &["listener", "reason"]
    ))
});

pub static CONNECTIONS_REFUSED: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_connections_refused_total",
        "IdP connections refused at --max-connections with no idle connection to close, by listener.",
        &["listener"]
    ))
});

/// Seconds a request waited for its turn (`[limits] mode = "delay"`): from 1 ms to 10 s.
const QUEUE_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0,
];

pub static UPSTREAM_RETRIES: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_upstream_retries_total",
        "Upstream exchanges sent again ([upstream.retry]), by reason: status_429, status_5xx, connect, timeout.",
        &["tenant", "reason"]
    ))
});

pub static QUEUE_DELAY: Lazy<HistogramVec> = Lazy::new(|| {
    metric!(register_histogram_vec!(
        "scimgate_queue_delay_seconds",
        "Time a request over quota waited for its turn ([limits] mode = \"delay\"), admitted or not.",
        &["tenant"],
        QUEUE_BUCKETS.to_vec()
    ))
});

pub static GUARD_BLOCKED: Lazy<IntCounterVec> = Lazy::new(|| {
    metric!(register_int_counter_vec!(
        "scimgate_guard_blocked_total",
        "Deletions and deactivations refused by the deletion guard ([guard], 503), one per request.",
        &["tenant"]
    ))
});

pub static GUARD_TRIPPED: Lazy<IntGaugeVec> = Lazy::new(|| {
    metric!(register_int_gauge_vec!(
        "scimgate_guard_tripped",
        "1 while a tenant's deletions in the window reached [guard] max_deletes (enforced or observed), else 0.",
        &["tenant"]
    ))
});

pub fn init() {
    Lazy::force(&REQUESTS);
    Lazy::force(&REQUEST_DURATION);
    Lazy::force(&UPSTREAM_DURATION);
    Lazy::force(&UPSTREAM_ERRORS);
    Lazy::force(&UPSTREAM_CONNECTIONS_OPENED);
    Lazy::force(&UPSTREAM_TOKEN_REFRESHES);
    Lazy::force(&POLICY_TENANTS);
    Lazy::force(&POLICY_STALE_TENANTS);
    Lazy::force(&POLICY_FILES_NOT_LOADED);
    Lazy::force(&RULES_APPLIED);
    Lazy::force(&RATE_LIMITED);
    Lazy::force(&TOKENS_ISSUED);
    Lazy::force(&TOKEN_FAILURES);
    for result in ["success", "failure"] {
        POLICY_RELOADS.with_label_values(&[result]);
    }
    Lazy::force(&BULK_OPERATIONS);
    Lazy::force(&BULK_REJECTED);
    Lazy::force(&UPSTREAM_RETRIES);
    Lazy::force(&QUEUE_DELAY);
    Lazy::force(&GUARD_BLOCKED);
    Lazy::force(&GUARD_TRIPPED);
    for listener in ["idp", "idp-tls"] {
        CONNECTIONS.with_label_values(&[listener]);
        CONNECTIONS_REFUSED.with_label_values(&[listener]);
        for reason in ["header_timeout", "header_too_large", "malformed"] {
            EDGE_REFUSALS.with_label_values(&[listener, reason]);
        }
    }
}

/// The Prometheus text exposition of the default registry.
pub fn render() -> Vec<u8> {
    use prometheus::Encoder;
    let mut out = Vec::new();
    // Encoding only fails on a broken writer; a Vec never fails.
    let _ = prometheus::TextEncoder::new().encode(&prometheus::gather(), &mut out);
    out
}

/// The `status` label of a request: pre-rendered for the statuses SCIM uses, anything else by
/// its class, so the label set stays bounded.
pub fn status_label(status: u16) -> &'static str {
    const KNOWN: [(u16, &str); 19] = [
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (408, "408"),
        (409, "409"),
        (412, "412"),
        (413, "413"),
        (415, "415"),
        (429, "429"),
        (500, "500"),
        (501, "501"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    if let Some((_, label)) = KNOWN.iter().find(|(s, _)| *s == status) {
        return label;
    }
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}
