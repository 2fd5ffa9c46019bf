//! `[upstream.retry]`: one exchange, sent again when that is safe and useful, all by one
//! deadline (the tenant's `timeout_ms` from the first attempt, or the split Bulk's).
//!
//! - GET, HEAD, PUT and DELETE (idempotent, RFC 9110 §9.2.2) go again after a 429, 502, 503 or
//!   504, a failed connect or a timeout that left time.
//! - POST and PATCH go again only when the request provably never left the gateway
//!   ([`ExchangeError::unsent`]: resolve, connect or TLS failed): a target that may have acted on
//!   one must not act twice. A Bulk is a POST: never sent again whole after it may have left;
//!   the chunks of a split Bulk follow the same rule, each on its own.
//! - The n-th retry waits a random time in `[0, min(max_wait, base · 2^(n-1))]` (full jitter),
//!   or the target's `Retry-After` when it gives one; a `Retry-After` past `max_wait_ms`, or a
//!   wait that would end past the deadline, is not waited: the IdP gets the answer at once.
//! - Each attempt's answer is learnt (5xx counted, 429/423 and 503 + Retry-After hold the
//!   tenant); each retry is counted, `scimgate_upstream_retries_total{tenant,reason}`.

use super::exchange::{learn, ExchangeError, UpstreamRequest, UpstreamResponse};
use super::Gateway;
use crate::policy::model::Retry;
use crate::policy::Tenant;
use crate::scim::error::ScimError;
use crate::telemetry::metrics::{self, UpstreamErrorKind};
use http::Method;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// Why an attempt is worth another: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Status429,
    Status5xx,
    Connect,
    Timeout,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Status429 => "status_429",
            Reason::Status5xx => "status_5xx",
            Reason::Connect => "connect",
            Reason::Timeout => "timeout",
        }
    }
}

/// One attempt's outcome, as the adapter gave it.
type Outcome = Result<UpstreamResponse, ExchangeError>;

/// Send `req` (with the target's access token when the tenant has `[upstream.oauth]`), again
/// while [`retryable`] says so and the policy and deadline allow. `Err`: the token source
/// failed (never retried here; it has its own backoff).
pub async fn exchange(
    gw: &Gateway<'_>,
    tenant: &Tenant,
    req: &mut UpstreamRequest,
) -> Result<Outcome, ScimError> {
    let deadline = *req
        .deadline
        .get_or_insert_with(|| Instant::now() + tenant.upstream.timeout);
    let policy = tenant.upstream.retry;
    let mut retries = 0;
    loop {
        let outcome = match &tenant.upstream.oauth {
            // The target's access token, fetched and refreshed (one replay after a 401).
            Some(oauth) => super::upstream_token::exchange(gw, tenant, oauth, req).await?,
            None => gw.upstream.exchange(tenant, req).await,
        };
        if let Ok(resp) = &outcome {
            learn(gw, tenant, resp);
        }
        let Some(reason) = retryable(&req.method, &outcome) else {
            return Ok(outcome);
        };
        if retries >= policy.attempts {
            return Ok(outcome);
        }
        retries += 1;
        let Some(wait) = wait(&policy, retries, retry_after(&outcome), jitter()) else {
            return Ok(outcome);
        };
        if Instant::now() + wait >= deadline {
            return Ok(outcome);
        }
        metrics::UPSTREAM_RETRIES
            .with_label_values(&[&tenant.name, reason.label()])
            .inc();
        tracing::info!(tenant = %tenant.name, method = %req.method, reason = reason.label(), retry = retries, wait_ms = wait.as_millis() as u64, "sending the request to the SCIM target again");
        tokio::time::sleep(wait).await;
    }
}

/// Whether this outcome of a `method` request may be sent again, and why.
pub fn retryable(method: &Method, outcome: &Outcome) -> Option<Reason> {
    let idempotent = matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE
    );
    match outcome {
        Ok(resp) if idempotent => match resp.status {
            429 => Some(Reason::Status429),
            502..=504 => Some(Reason::Status5xx),
            _ => None,
        },
        Ok(_) => None,
        Err(e) if e.unsent && e.kind == UpstreamErrorKind::Connect => Some(Reason::Connect),
        Err(_) if !idempotent => None,
        Err(e) => match e.kind {
            UpstreamErrorKind::Connect => Some(Reason::Connect),
            UpstreamErrorKind::Timeout => Some(Reason::Timeout),
            _ => None,
        },
    }
}

/// The target's `Retry-After` on a 429 or 503.
fn retry_after(outcome: &Outcome) -> Option<Duration> {
    let resp = outcome.as_ref().ok()?;
    resp.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::ratelimit::parse_retry_after)
}

/// A random number for the jitter (no crate needed for a wait's randomness).
fn jitter() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}

/// The wait before the `retry`-th retry (from 1): the target's `retry_after` when it gives one
/// (`None`: longer than `max_wait`, not waited), else full jitter from `random`.
pub fn wait(
    policy: &Retry,
    retry: u32,
    retry_after: Option<Duration>,
    random: u64,
) -> Option<Duration> {
    if let Some(d) = retry_after {
        return (d <= policy.max_wait).then_some(d);
    }
    let shift = retry.saturating_sub(1).min(20);
    let ceiling = policy
        .base
        .saturating_mul(1u32 << shift)
        .min(policy.max_wait);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Some(Duration::from_millis(random % millis.saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn answer(status: u16) -> Outcome {
        Ok(UpstreamResponse {
            status,
            headers: HeaderMap::new(),
            body: bytes::Bytes::new(),
        })
    }

    #[test]
    fn idempotent_methods_retry_on_throttling_gateway_errors_connect_and_timeout() {
        for m in [Method::GET, Method::PUT, Method::DELETE] {
            assert_eq!(retryable(&m, &answer(429)), Some(Reason::Status429));
            for s in [502, 503, 504] {
                assert_eq!(retryable(&m, &answer(s)), Some(Reason::Status5xx));
            }
            for s in [200, 201, 204, 400, 404, 409, 500, 501] {
                assert_eq!(retryable(&m, &answer(s)), None, "{m} {s}");
            }
            let after = Err(ExchangeError::new(UpstreamErrorKind::Timeout, "t"));
            assert_eq!(retryable(&m, &after), Some(Reason::Timeout));
            let invalid = Err(ExchangeError::new(UpstreamErrorKind::InvalidResponse, "x"));
            assert_eq!(retryable(&m, &invalid), None);
        }
    }

    #[test]
    fn posts_and_patches_retry_only_what_never_left() {
        for m in [Method::POST, Method::PATCH] {
            for s in [429, 502, 503, 504] {
                assert_eq!(retryable(&m, &answer(s)), None, "{m} {s}");
            }
            let left = Err(ExchangeError::new(UpstreamErrorKind::Connect, "closed"));
            assert_eq!(retryable(&m, &left), None);
            let timeout = Err(ExchangeError::new(UpstreamErrorKind::Timeout, "t"));
            assert_eq!(retryable(&m, &timeout), None);
            let never = Err(ExchangeError::unsent(UpstreamErrorKind::Connect, "refused"));
            assert_eq!(retryable(&m, &never), Some(Reason::Connect));
        }
    }

    #[test]
    fn waits_are_full_jitter_capped_and_retry_after_is_honoured_up_to_max_wait() {
        let p = Retry {
            attempts: 3,
            base: Duration::from_millis(100),
            max_wait: Duration::from_millis(1000),
        };
        assert_eq!(wait(&p, 1, None, 0), Some(Duration::ZERO));
        assert_eq!(wait(&p, 1, None, 100), Some(Duration::from_millis(100)));
        assert_eq!(wait(&p, 1, None, 101), Some(Duration::ZERO));
        assert_eq!(wait(&p, 3, None, 400), Some(Duration::from_millis(400)));
        // base · 2^9 = 51.2 s, capped at max_wait.
        assert_eq!(wait(&p, 10, None, 1000), Some(Duration::from_millis(1000)));
        for r in 0..1000 {
            assert!(wait(&p, 2, None, r).unwrap() <= Duration::from_millis(200));
        }
        let one = Some(Duration::from_secs(1));
        assert_eq!(wait(&p, 1, one, 7), one);
        assert_eq!(wait(&p, 1, Some(Duration::from_millis(1001)), 7), None);
    }
}
