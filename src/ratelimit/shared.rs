//! The shared limiter: [`Limiter`] over any [`QuotaStore`]. Per tenant a lease (`lease.rs`)
//! answers most requests on this replica; one store call at a time per tenant refills it,
//! within `--store-timeout-ms` for each request; after [`TRIP_AFTER`] failures in a row a
//! [`Breaker`] stops calling until the background probe ([`SharedLimiter::run_probe`]) gets an
//! answer, and meanwhile `--store-on-error` decides: the local limiter at this replica's share,
//! admit, or refuse with 503.

use super::lease::{Lease, Step};
use super::store::{Grant, OnError, QuotaStore, StoreError, StoreErrorKind, StoreOptions};
use super::{
    Backoff, Decision, Limiter, LocalLimiter, Quota, Share, IDLE_TTL, MIN_RETRY_AFTER, SWEEP_EVERY,
};
use crate::telemetry::metrics;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Failures in a row (request path or probe) that open the breaker.
pub const TRIP_AFTER: u32 = 3;
/// How often the probe runs while the store answers (it also counts the live replicas).
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often the probe runs after a failure, and while the breaker is open.
pub const PROBE_EVERY_FAILING: Duration = Duration::from_millis(100);
/// The probe's own budget (it is off the request path).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// How far ahead a lease may be reserved when the bucket is empty now (with a lease > 0):
/// replicas queue for the next units instead of polling the store together.
pub const AHEAD: Duration = Duration::from_secs(1);
/// `Retry-After` of the 503 that `--store-on-error closed` answers.
const CLOSED_RETRY: Duration = Duration::from_secs(1);

/// Counts the store's failures; open, the request path does not call the store.
#[derive(Debug)]
pub struct Breaker {
    failures: AtomicU32,
    open: AtomicBool,
    /// Replicas last seen alive in the store (the local fallback's share), at least 1.
    replicas: AtomicU32,
    on_error: OnError,
}

impl Breaker {
    fn new(on_error: OnError) -> Self {
        Breaker {
            failures: AtomicU32::new(0),
            open: AtomicBool::new(false),
            replicas: AtomicU32::new(1),
            on_error,
        }
    }

    /// Whether the request path may call the store.
    pub fn closed(&self) -> bool {
        !self.open.load(Ordering::Acquire)
    }

    /// Whether the last call succeeded and the breaker is closed.
    fn healthy(&self) -> bool {
        self.closed() && self.failures.load(Ordering::Relaxed) == 0
    }

    pub fn replicas(&self) -> u32 {
        self.replicas.load(Ordering::Relaxed).max(1)
    }

    fn failed(&self, e: &StoreError) {
        metrics::STORE_ERRORS
            .with_label_values(&[e.kind.label()])
            .inc();
        let n = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        tracing::debug!(error = %e, failures = n, "shared store call failed");
        if n >= TRIP_AFTER && !self.open.swap(true, Ordering::AcqRel) {
            metrics::STORE_FALLBACK.set(1);
            tracing::warn!(
                error = %e,
                on_error = self.on_error.label(),
                "shared store not answering: breaker open, --store-on-error decides until it answers"
            );
        }
    }

    fn answered(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// A probe succeeded: true when that closed the breaker.
    fn probed(&self, replicas: u32) -> bool {
        self.failures.store(0, Ordering::Relaxed);
        self.replicas.store(replicas.max(1), Ordering::Relaxed);
        if self.open.swap(false, Ordering::AcqRel) {
            metrics::STORE_FALLBACK.set(0);
            tracing::info!(replicas, "shared store answers again: breaker closed");
            true
        } else {
            false
        }
    }
}

/// One tenant on this replica: its lease, and the gate that lets one store call at a time.
struct TenantLease {
    lease: Mutex<Lease>,
    gate: tokio::sync::Mutex<()>,
}

impl TenantLease {
    fn lock(&self) -> MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Tenants {
    map: HashMap<String, Arc<TenantLease>>,
    last_sweep: Instant,
}

/// A [`Limiter`] whose quotas live in a [`QuotaStore`] shared by every replica.
pub struct SharedLimiter<S> {
    store: S,
    backoff: Arc<Backoff>,
    on_error: OnError,
    timeout: Duration,
    lease: Duration,
    breaker: Breaker,
    tenants: Mutex<Tenants>,
    fallback: LocalLimiter,
}

impl<S: QuotaStore> SharedLimiter<S> {
    /// Holds the store tells about (a tenant held by another replica) go into `backoff`.
    pub fn new(store: S, opts: &StoreOptions, backoff: Arc<Backoff>) -> Self {
        SharedLimiter {
            store,
            backoff,
            on_error: opts.on_error,
            timeout: opts.timeout,
            lease: opts.lease,
            breaker: Breaker::new(opts.on_error),
            tenants: Mutex::new(Tenants {
                map: HashMap::new(),
                last_sweep: Instant::now(),
            }),
            fallback: LocalLimiter::new(),
        }
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn tenant(&self, tenant: &str, now: Instant) -> Arc<TenantLease> {
        let mut t = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(t.last_sweep) >= SWEEP_EVERY {
            t.map
                .retain(|_, e| now.saturating_duration_since(e.lock().last_used) <= IDLE_TTL);
            t.last_sweep = now;
        }
        if let Some(e) = t.map.get(tenant) {
            return Arc::clone(e);
        }
        let e = Arc::new(TenantLease {
            lease: Mutex::new(Lease::new(now)),
            gate: tokio::sync::Mutex::new(()),
        });
        t.map.insert(tenant.to_owned(), Arc::clone(&e));
        e
    }

    /// What a request gets while the store cannot answer it.
    fn on_error(&self, tenant: &str, quota: Quota, cost: u32, entry: &TenantLease) -> Decision {
        match self.on_error {
            OnError::Open => Decision::Allow,
            OnError::Closed => Decision::Unavailable {
                retry_after: CLOSED_RETRY,
            },
            OnError::Local => {
                let now = Instant::now();
                let share = Share {
                    replicas: self.breaker.replicas(),
                    start_empty: entry.lock().congested(now),
                };
                let d = self.fallback.check_with(tenant, quota, cost, share);
                if !d.is_allowed() {
                    entry.lock().mark_congested(now);
                }
                d
            }
        }
    }

    /// One probe: say this replica is alive; on success close the breaker (and start the next
    /// fallback afresh), on failure count it. Returns when to probe again.
    pub async fn probe(&self) -> Duration {
        let result = match tokio::time::timeout(PROBE_TIMEOUT, self.store.heartbeat()).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::new(
                StoreErrorKind::Timeout,
                format!("probe: no answer within {} ms", PROBE_TIMEOUT.as_millis()),
            )),
        };
        match result {
            Ok(replicas) => {
                if self.breaker.probed(replicas) {
                    self.fallback.retain_live(&|_| false);
                    self.store.after_outage();
                }
            }
            Err(e) => self.breaker.failed(&e),
        }
        if self.breaker.healthy() {
            PROBE_EVERY
        } else {
            PROBE_EVERY_FAILING
        }
    }

    /// Probe forever (spawned once on the store's runtime).
    pub async fn run_probe(self: Arc<Self>) {
        loop {
            let next = self.probe().await;
            tokio::time::sleep(next).await;
        }
    }
}

fn from_step(step: Step) -> Option<Decision> {
    match step {
        Step::Allow => Some(Decision::Allow),
        Step::Wait(d) => Some(Decision::Deny {
            retry_after: d.max(MIN_RETRY_AFTER),
        }),
        Step::AskStore => None,
    }
}

#[async_trait]
impl<S: QuotaStore> Limiter for SharedLimiter<S> {
    async fn check(&self, tenant: &str, quota: Quota, cost: u32) -> Decision {
        let Some(burst) = quota.max_cost() else {
            return Decision::Allow;
        };
        let cost = cost.clamp(1, burst);
        let started = Instant::now();
        let entry = self.tenant(tenant, started);
        let first = {
            let mut lease = entry.lock();
            lease.arrive(started);
            lease.step(started, quota, cost)
        };
        if let Some(d) = from_step(first) {
            return d;
        }
        if !self.breaker.closed() {
            return self.on_error(tenant, quota, cost, &entry);
        }
        // The whole store budget of this request, waiting for a concurrent call included.
        let deadline = tokio::time::Instant::from_std(started + self.timeout);
        let Ok(_gate) = tokio::time::timeout_at(deadline, entry.gate.lock()).await else {
            return self.on_error(tenant, quota, cost, &entry);
        };
        // The call we may have waited for refilled the lease or learned a denial.
        let ask = {
            let now = Instant::now();
            let mut lease = entry.lock();
            let step = lease.step(now, quota, cost);
            if let Some(d) = from_step(step) {
                return d;
            }
            lease.ask(now, quota, cost, self.lease, AHEAD)
        };
        if !self.breaker.closed() {
            return self.on_error(tenant, quota, cost, &entry);
        }
        let result = match tokio::time::timeout_at(deadline, self.store.take(tenant, &ask)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::new(
                StoreErrorKind::Timeout,
                format!("no answer within {} ms", self.timeout.as_millis()),
            )),
        };
        match result {
            Ok(grant) => {
                self.breaker.answered();
                if let Grant::Held { hold } = grant {
                    self.backoff.hold_here(tenant, hold);
                }
                let step = entry.lock().answer(Instant::now(), &ask, self.lease, grant);
                // `answer` never says to ask again; refuse rather than loop if it did.
                from_step(step).unwrap_or(Decision::Deny {
                    retry_after: MIN_RETRY_AFTER,
                })
            }
            Err(e) => {
                // A refund sent with a failed call may or may not have applied: it is dropped
                // (the safe side: units lost, never given twice).
                self.breaker.failed(&e);
                self.on_error(tenant, quota, cost, &entry)
            }
        }
    }

    fn retain(&self, live: &dyn Fn(&str) -> bool) {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .retain(|t, _| live(t));
        self.fallback.retain_live(live);
    }
}

#[cfg(test)]
mod tests;
