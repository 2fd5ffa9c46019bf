//! `[limits] mode = "delay"`: a request over quota waits for its turn instead of a 429.
//!
//! Per tenant, one lane: a fair (FIFO) async mutex that the request at the head of the line
//! holds while it waits for the quota, and a count of the requests in the lane. The head
//! sleeps (a tokio timer: no thread, no polling) until the limiter says its units conform, or
//! until a target's hold ends, then spends and lets the next one in. A request gets 429 only
//! when its turn cannot come within `max_delay_ms` (known at once when the requests ahead of
//! it alone need longer at the quota's rate; else when the wait runs out), when the hold lasts
//! past it, or when `max_queued` are already waiting. Works over any [`Limiter`] (local or
//! the shared store: a denial's `retry_after` is when to ask again).
//! `scimgate_queue_delay_seconds` observes every wait in delay mode, admitted or not.

use super::police;
use super::Gateway;
use crate::policy::model::LimitMode;
use crate::policy::Tenant;
use crate::ratelimit::{retry_after_secs, Backoff, Decision, Limiter};
use crate::scim::error::ScimError;
use crate::telemetry::metrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Every tenant's lane.
#[derive(Debug, Default)]
pub struct Shaper {
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
}

#[derive(Debug, Default)]
struct Lane {
    /// Held by the request whose turn is next (tokio's mutex queues waiters in FIFO order).
    turn: tokio::sync::Mutex<()>,
    /// Requests in the lane: the head and those waiting behind it.
    queued: AtomicUsize,
}

/// One place in a lane, given back when the request leaves it (admitted, refused or dropped).
struct Place(Arc<Lane>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Lanes kept before idle ones are dropped (tenants come from policies: a small number).
const LANES_BEFORE_SWEEP: usize = 1024;

/// Spend `cost` units of the tenant's quota: at once (`mode = "reject"`, or no shaper: dry
/// runs), or waiting for a turn (`mode = "delay"`).
pub async fn admit(gw: &Gateway<'_>, tenant: &Tenant, cost: u32) -> Result<(), ScimError> {
    match (tenant.limits.mode, gw.shaper) {
        (LimitMode::Delay, Some(shaper)) => shaper.wait(gw.limiter, gw.backoff, tenant, cost).await,
        _ => police::throttle(gw.limiter, gw.backoff, tenant, cost).await,
    }
}

impl Shaper {
    pub fn new() -> Self {
        Self::default()
    }

    fn lane(&self, tenant: &str) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = lanes.get(tenant) {
            return Arc::clone(l);
        }
        if lanes.len() >= LANES_BEFORE_SWEEP {
            lanes.retain(|_, l| Arc::strong_count(l) > 1);
        }
        let l = Arc::new(Lane::default());
        lanes.insert(tenant.to_owned(), Arc::clone(&l));
        l
    }

    /// How many requests of `tenant` wait in its lane now.
    pub fn queued(&self, tenant: &str) -> usize {
        self.lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .map_or(0, |l| l.queued.load(Ordering::Acquire))
    }

    /// Wait for the turn to spend `cost`, within `max_delay` and `max_queued`.
    pub async fn wait(
        &self,
        limiter: &dyn Limiter,
        backoff: &Backoff,
        tenant: &Tenant,
        cost: u32,
    ) -> Result<(), ScimError> {
        let l = &tenant.limits;
        let started = Instant::now();
        let deadline = started + l.max_delay;
        let lane = self.lane(&tenant.name);
        let ahead = lane.queued.fetch_add(1, Ordering::AcqRel);
        let _place = Place(Arc::clone(&lane));
        let observe = |r: Result<(), ScimError>| {
            metrics::QUEUE_DELAY
                .with_label_values(&[&tenant.name])
                .observe(started.elapsed().as_secs_f64());
            r
        };
        if ahead >= l.max_queued {
            return observe(Err(over_quota(
                tenant,
                Duration::from_secs(1),
                format!(
                    "tenant {} already has {} requests waiting for their turn (limits.max_queued)",
                    tenant.name, l.max_queued
                ),
            )));
        }
        // Each request ahead needs at least one unit; all but a burst of them wait one
        // emission interval each. When that alone passes max_delay, say so now.
        if let Some(interval) = emission_interval(tenant) {
            let burst = tenant.limits.rate.max_cost().unwrap_or(0) as usize;
            let waiting = u32::try_from(ahead.saturating_sub(burst)).unwrap_or(u32::MAX);
            let at_least = interval.saturating_mul(waiting);
            if at_least >= l.max_delay {
                return observe(Err(turn_too_far(tenant, at_least)));
            }
        }
        let turn = tokio::time::timeout_at(
            deadline.into(),
            self.take_turn(&lane, limiter, backoff, tenant, cost, deadline),
        )
        .await;
        observe(match turn {
            Ok(r) => r,
            Err(_) => Err(turn_too_far(tenant, l.max_delay)),
        })
    }

    async fn take_turn(
        &self,
        lane: &Lane,
        limiter: &dyn Limiter,
        backoff: &Backoff,
        tenant: &Tenant,
        cost: u32,
        deadline: Instant,
    ) -> Result<(), ScimError> {
        let _turn = lane.turn.lock().await;
        loop {
            if let Some(left) = backoff.held(&tenant.name) {
                if Instant::now() + left > deadline {
                    return Err(police::held(tenant, left));
                }
                tokio::time::sleep(left).await;
                continue;
            }
            match crate::ratelimit::spend(limiter, &tenant.name, tenant.limits.rate, cost).await {
                Decision::Allow => return Ok(()),
                Decision::Deny { retry_after } => {
                    if let Some(left) = backoff.held(&tenant.name) {
                        if Instant::now() + left > deadline {
                            return Err(police::held(tenant, left));
                        }
                        continue;
                    }
                    if Instant::now() + retry_after > deadline {
                        return Err(turn_too_far(tenant, retry_after));
                    }
                    tokio::time::sleep(retry_after).await;
                }
                Decision::Unavailable { .. } => {
                    // The store's own answer (503 or the fallback) stands: ask it once more
                    // through the plain path, which words it.
                    return police::throttle(limiter, backoff, tenant, cost).await;
                }
            }
        }
    }
}

/// One unit's time at the tenant's rate, or `None` when unlimited.
fn emission_interval(tenant: &Tenant) -> Option<Duration> {
    let per_second = tenant.limits.rate.per_second;
    (per_second > 0).then(|| Duration::from_secs(1) / per_second)
}

fn turn_too_far(tenant: &Tenant, wait: Duration) -> ScimError {
    over_quota(
        tenant,
        wait,
        format!(
            "tenant {} is over its quota of {} requests per second and its turn is more than {} ms away (limits.max_delay_ms)",
            tenant.name,
            tenant.limits.rate.per_second,
            tenant.limits.max_delay.as_millis()
        ),
    )
}

fn over_quota(tenant: &Tenant, retry_after: Duration, detail: String) -> ScimError {
    metrics::RATE_LIMITED
        .with_label_values(&[&tenant.name])
        .inc();
    ScimError::too_many_requests(retry_after_secs(retry_after), detail)
}
