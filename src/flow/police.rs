//! Policing: the tenant's quota (a Bulk costs one unit per operation), the target's own
//! back-pressure (after a 429/423, or a 503 with Retry-After, the tenant waits here, not at the
//! target; on every replica with `--store`), and the RFC 7644 §3.7.4 Bulk limits. Answers are
//! 429 with `Retry-After`, 413 naming the limit, or 503 when the shared store cannot answer and
//! `--store-on-error closed` says so.

use super::body::Message;
use crate::policy::model::BulkOversize;
use crate::policy::Tenant;
use crate::ratelimit::{retry_after_secs, Backoff, Decision, Limiter};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::message::{clamp_fail_on_errors, field_mut, operations_mut};
use crate::telemetry::metrics::{self, UpstreamErrorKind};
use serde_json::Value;

/// Spend `cost` of the tenant's quota, unless the target asked us to hold off (here, or on
/// another replica when the quota is shared).
pub async fn throttle(
    limiter: &dyn Limiter,
    backoff: &Backoff,
    tenant: &Tenant,
    cost: u32,
) -> Result<(), ScimError> {
    if let Some(left) = backoff.held(&tenant.name) {
        return Err(held(tenant, left));
    }
    match crate::ratelimit::spend(limiter, &tenant.name, tenant.limits.rate, cost).await {
        Decision::Allow => Ok(()),
        Decision::Deny { retry_after } => {
            // The shared store may have just told of a hold set by another replica.
            if let Some(left) = backoff.held(&tenant.name) {
                return Err(held(tenant, left));
            }
            metrics::RATE_LIMITED
                .with_label_values(&[&tenant.name])
                .inc();
            Err(ScimError::too_many_requests(
                retry_after_secs(retry_after),
                format!(
                    "tenant {} is over its quota of {} requests per second",
                    tenant.name, tenant.limits.rate.per_second
                ),
            ))
        }
        Decision::Unavailable { retry_after } => {
            let mut e = ScimError::new(
                503,
                None,
                "the shared quota store is not answering; retry later",
            );
            e.headers
                .push(("Retry-After", retry_after_secs(retry_after).to_string()));
            Err(e)
        }
    }
}

/// The 429 of a held tenant.
pub(super) fn held(tenant: &Tenant, left: std::time::Duration) -> ScimError {
    metrics::UPSTREAM_ERRORS
        .with_label_values(&[&tenant.name, UpstreamErrorKind::Throttled.label()])
        .inc();
    ScimError::too_many_requests(
        retry_after_secs(left),
        "the SCIM target asked for a pause; retry later",
    )
}

/// The most chunks one split Bulk request becomes (each an upstream call); more is refused.
pub const MAX_CHUNKS: usize = 10;

/// What the Bulk limits say about one Bulk request.
#[derive(Debug, PartialEq, Eq)]
pub enum BulkCheck {
    /// Within the limits.
    Pass { operations: usize },
    /// Over `bulk_max_operations` with `bulk_oversize = "split"`.
    Split { operations: usize },
}

/// The Bulk caps on the one parsed message: payload size, operation count (reject or split),
/// `failOnErrors` in 1..=max, and every operation's path made canonical and kept inside the
/// tenant's base path, as request paths are ([`super::route::canonical_rest`]).
pub fn bulk(tenant: &Tenant, message: &mut Message) -> Result<BulkCheck, ScimError> {
    let l = &tenant.limits;
    let reject = |reason: &str, detail: String| {
        metrics::BULK_REJECTED
            .with_label_values(&[&tenant.name, reason])
            .inc();
        Err(ScimError::new(413, None, detail))
    };
    let size = message.raw.as_ref().map_or(0, |r| r.len());
    if size > l.bulk_max_payload_bytes {
        return reject(
            "max_payload",
            format!(
                "bulk request is {size} bytes; the limit is {}",
                l.bulk_max_payload_bytes
            ),
        );
    }
    let v = &mut message.value;
    let ops = operations_mut(v)
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest needs an Operations array"))?;
    let mut changed = false;
    for (i, op) in ops.iter_mut().enumerate() {
        let Some(p) = field_mut(op, "path") else {
            continue;
        };
        let Some(text) = p.as_str() else {
            return Err(ScimError::bad_request(
                Some(ScimType::InvalidPath),
                format!("Bulk operation {i} has a path that is not a string"),
            ));
        };
        let canonical = (text.starts_with('/') && !text.contains(['?', '#']))
            .then(|| super::route::canonical_rest(text).ok())
            .flatten()
            .filter(|c| !c.is_empty());
        let Some(canonical) = canonical else {
            return Err(ScimError::bad_request(
                Some(ScimType::InvalidPath),
                format!("Bulk operation {i} has a path outside the SCIM endpoints: {text:?}"),
            ));
        };
        if canonical != text {
            *p = Value::String(canonical);
            changed = true;
        }
    }
    let n = ops.len();
    metrics::BULK_OPERATIONS
        .with_label_values(&[&tenant.name])
        .observe(n as f64);
    let max = l.bulk_max_operations;
    if n > max && l.bulk_oversize == BulkOversize::Reject {
        return reject(
            "max_operations",
            format!("bulk request has {n} operations; the limit is {max}"),
        );
    }
    // One quota unit per operation: more operations than the burst could never be paid for at
    // once, so they are refused with the reason rather than waved through at the burst.
    if let Some(burst) = l.rate.max_cost() {
        if n > burst as usize {
            return reject(
                "over_burst",
                format!(
                    "bulk request has {n} operations; tenant {} may spend at most {burst} at once (limits.burst)",
                    tenant.name
                ),
            );
        }
    }
    let chunks = n.div_ceil(max.max(1));
    if chunks > MAX_CHUNKS {
        return reject(
            "max_chunks",
            format!(
                "bulk request would go to the target in {chunks} chunks of {max}; the limit is {MAX_CHUNKS}"
            ),
        );
    }
    changed |= clamp_fail_on_errors(v, max);
    if changed {
        message.raw = None;
    }
    Ok(if n > max {
        BulkCheck::Split { operations: n }
    } else {
        BulkCheck::Pass { operations: n }
    })
}

/// `ServiceProviderConfig.bulk` says what the gateway enforces: the smaller of its limits and
/// the target's. True when it changed.
pub fn service_provider_config(tenant: &Tenant, v: &mut Value) -> bool {
    let Some(bulk) = field_mut(v, "bulk").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut changed = false;
    let limits = [
        ("maxOperations", tenant.limits.bulk_max_operations),
        ("maxPayloadSize", tenant.limits.bulk_max_payload_bytes),
    ];
    for (key, ours) in limits {
        let theirs = bulk
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_u64());
        let effective = theirs.map_or(ours as u64, |t| t.min(ours as u64));
        if theirs != Some(effective) {
            let k = bulk
                .keys()
                .find(|k| k.eq_ignore_ascii_case(key))
                .cloned()
                .unwrap_or_else(|| key.to_string());
            bulk.insert(k, Value::from(effective));
            changed = true;
        }
    }
    changed
}
