//! Step 6: one exchange with the target, through whatever [`Exchange`] the adapter gives (the
//! pooled Pingora client in `proxy`, a canned answer in a dry run): the request translated and
//! built, the upstream metrics, and what the target's back-pressure teaches (after a 429/423
//! the tenant waits at the gateway, not at the target).

use super::body::Body;
use super::translate::{self, Asked};
use super::Gateway;
use crate::mapping::Stats;
use crate::policy::model::Endpoint;
use crate::policy::Tenant;
use crate::scim::error::ScimError;
use crate::telemetry::metrics::{self, UpstreamErrorKind};
use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderMap;
use std::time::{Duration, Instant};

pub use super::request::UpstreamRequest;

/// The target's answer, read whole.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why an exchange failed; `kind` is the metric label, `detail` is safe to show the IdP.
#[derive(Debug)]
pub struct ExchangeError {
    pub kind: UpstreamErrorKind,
    pub detail: String,
    /// True only when the request provably never left the gateway (the host did not resolve,
    /// the connect or TLS handshake failed, the head could not be built: not a byte written).
    /// Only then may a POST or a PATCH go again ([`super::retry`]).
    pub unsent: bool,
}

impl ExchangeError {
    /// A failure after which the request may have reached the target (in part or whole).
    pub fn new(kind: UpstreamErrorKind, detail: impl Into<String>) -> Self {
        ExchangeError {
            kind,
            detail: detail.into(),
            unsent: false,
        }
    }

    /// A failure before any byte of the request was written.
    pub fn unsent(kind: UpstreamErrorKind, detail: impl Into<String>) -> Self {
        ExchangeError {
            unsent: true,
            ..Self::new(kind, detail)
        }
    }
}

/// Sends one request to a tenant's target and reads the whole answer, within the tenant's
/// timeouts. Only `proxy` (and the dry run's canned answer) implement it.
#[async_trait]
pub trait Exchange: Send + Sync {
    async fn exchange(
        &self,
        tenant: &Tenant,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError>;

    /// Send `req` to another endpoint of `tenant` (its token endpoint, `[upstream.oauth]`)
    /// and read the whole answer (at most [`MAX_TOKEN_ANSWER_BYTES`]), with the tenant's
    /// timeouts and trust (`ca_file`), by `req.deadline`.
    async fn exchange_at(
        &self,
        tenant: &Tenant,
        endpoint: &Endpoint,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError>;
}

/// The largest answer read from a token endpoint, bytes.
pub const MAX_TOKEN_ANSWER_BYTES: usize = 64 * 1024;

/// The outcome of [`send`].
pub enum Sent {
    Answered(UpstreamResponse),
    /// Every operation was dropped by policy: the target has nothing to do.
    NothingToSend,
}

/// How long a tenant is held after a 429/423 without a usable `Retry-After`.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

/// Translate one request (`body` is the one parsed message), send it (by `deadline`, when the
/// request has one), and learn from the target's back-pressure. `seen` counts the translation
/// rules applied and, for the console, keeps what the target got.
pub async fn send(
    gw: &Gateway<'_>,
    tenant: &Tenant,
    asked: &Asked<'_>,
    mut body: Body,
    deadline: Option<Instant>,
    seen: &mut super::observe::Seen<'_>,
) -> Result<Sent, ScimError> {
    let mut stats = Stats::default();
    let changes = translate::request(tenant, asked, &mut body, &mut stats);
    metrics::record_rules(&tenant.name, stats.by_kind());
    if !stats.notes.is_empty() {
        tracing::debug!(tenant = %tenant.name, changes = ?stats.notes, "request rewritten");
    }
    seen.rules += stats.total();
    seen.exchange.rules(stats.by_kind(), &stats.notes);
    let changes = changes?;
    if changes.nothing_to_send {
        return Ok(Sent::NothingToSend);
    }
    let bytes = match &body {
        Body::None => None,
        Body::Opaque(b) => Some(b.clone()),
        Body::Json(m) => Some(m.to_upstream(tenant.translates())?),
    };
    let query = changes.query.as_deref().or(asked.query);
    let rest = changes.rest.as_deref().unwrap_or(asked.rest);
    let mut req = super::request::build(tenant, asked.method, rest, query, asked.headers, bytes);
    req.deadline = deadline;
    seen.exchange
        .upstream(&req.method, &req.path_and_query, req.body.as_ref());

    let started = Instant::now();
    // Sent again when `[upstream.retry]` allows; what each answer teaches is learnt there.
    let result = super::retry::exchange(gw, tenant, &mut req).await?;
    let took = started.elapsed().as_secs_f64();
    metrics::UPSTREAM_DURATION
        .with_label_values(&[&tenant.name])
        .observe(took);
    let resp = result.map_err(|e| failed(tenant, e))?;
    // A split Bulk's chunks add up.
    *seen.upstream_ms.get_or_insert(0.0) += took * 1000.0;
    Ok(Sent::Answered(resp))
}

/// One failed exchange (or an answer the gateway refuses to pass on): counted, logged, and the
/// SCIM error the IdP gets (504 for a timeout, 502 otherwise).
pub fn failed(tenant: &Tenant, e: ExchangeError) -> ScimError {
    metrics::UPSTREAM_ERRORS
        .with_label_values(&[&tenant.name, e.kind.label()])
        .inc();
    tracing::warn!(tenant = %tenant.name, kind = e.kind.label(), detail = %e.detail, "upstream exchange failed");
    match e.kind {
        UpstreamErrorKind::Timeout => ScimError::gateway_timeout(e.detail),
        _ => ScimError::bad_gateway(e.detail),
    }
}

/// What the target's status says about the tenant: 5xx counted, 429/423 held, and a 503 held
/// when it says for how long (Retry-After). With `--store` the hold is every replica's.
pub(super) fn learn(gw: &Gateway<'_>, tenant: &Tenant, resp: &UpstreamResponse) {
    if resp.status >= 500 {
        metrics::UPSTREAM_ERRORS
            .with_label_values(&[&tenant.name, UpstreamErrorKind::Status5xx.label()])
            .inc();
    }
    let retry_after = || {
        resp.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::ratelimit::parse_retry_after)
    };
    let hold = match resp.status {
        429 | 423 => Some(retry_after().unwrap_or(DEFAULT_BACKOFF)),
        503 => retry_after().filter(|d| !d.is_zero()),
        _ => None,
    };
    if let Some(wait) = hold {
        gw.backoff.hold(&tenant.name, wait);
        metrics::UPSTREAM_ERRORS
            .with_label_values(&[&tenant.name, UpstreamErrorKind::Throttled.label()])
            .inc();
        tracing::warn!(tenant = %tenant.name, status = resp.status, wait_ms = wait.as_millis() as u64, "SCIM target is throttling");
    }
}
