//! One tenant's view of the shared quota on this replica: the units leased ahead from the store,
//! a cached "denied until", and the demand that sizes the next lease. Plain state over explicit
//! instants; the store calls themselves are in [`super::shared`].
//!
//! A lease is valid for `--store-lease-ms` from the moment its units conform in the store, so
//! in any window of `w` the replicas together admit at most `burst + rate × (w + lease)`: the
//! worst-case overshoot over the local limiter is `rate × lease` (docs/ARCHITECTURE.md).

use super::store::{Ask, Grant};
use super::Quota;
use std::time::{Duration, Instant};

/// How long after the store (or the local fallback) last said "empty" the tenant counts as
/// at its limit: a bucket rebuilt then starts empty instead of giving a fresh burst.
pub const CONGESTED_FOR: Duration = Duration::from_secs(2);

/// What to do with one request, as far as this replica knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Spent from the lease: let it through.
    Allow,
    /// Refused without asking the store (cached denial, or a lease that starts later).
    Wait(Duration),
    /// The lease cannot pay: ask the store.
    AskStore,
}

/// Requests per second arriving here for one tenant: a sliding one-second window made of the
/// current second and the one before, weighted by how much of it the window still covers.
#[derive(Debug, Clone, Copy)]
struct Demand {
    since: Instant,
    current: u64,
    previous: u64,
}

impl Demand {
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed >= 2 * SECOND {
            *self = Demand {
                since: now,
                current: 0,
                previous: 0,
            };
        } else if elapsed >= SECOND {
            self.previous = self.current;
            self.current = 0;
            self.since += SECOND;
        }
    }

    fn record(&mut self, now: Instant) {
        self.roll(now);
        self.current = self.current.saturating_add(1);
    }

    /// The sliding count, or the current second's pace when that is higher (a replica that
    /// just got busy sizes its leases on the pace, not on the quiet second before; at least
    /// 100 ms of it, so a handful of requests does not make a rate).
    fn per_second(&mut self, now: Instant) -> u64 {
        self.roll(now);
        let into = now
            .saturating_duration_since(self.since)
            .as_millis()
            .min(1000) as u64;
        let sliding = self.previous * (1000 - into) / 1000 + self.current;
        let pace = self.current * 1000 / into.max(100);
        sliding.max(pace)
    }
}

const SECOND: Duration = Duration::from_secs(1);

/// One tenant's lease on this replica.
#[derive(Debug)]
pub struct Lease {
    /// The quota the lease was taken under (a change drops it).
    quota: Quota,
    /// Units leased and not spent.
    tokens: u32,
    /// When they conform in the store (later than now for a lease taken ahead).
    from: Instant,
    /// When they stop being spendable (`from` + lease).
    until: Instant,
    /// Units of expired leases, handed back with the next store call.
    refund: u32,
    /// Cached denial: no request costing at least `.1` is asked for before `.0`.
    denied: Option<(Instant, u32)>,
    demand: Demand,
    congested_at: Option<Instant>,
    /// Last request for this tenant here (idle leases are swept).
    pub last_used: Instant,
}

impl Lease {
    pub fn new(now: Instant) -> Self {
        Lease {
            quota: Quota::UNLIMITED,
            tokens: 0,
            from: now,
            until: now,
            refund: 0,
            denied: None,
            demand: Demand {
                since: now,
                current: 0,
                previous: 0,
            },
            congested_at: None,
            last_used: now,
        }
    }

    /// Count one request (once per request, however often it looks at the lease).
    pub fn arrive(&mut self, now: Instant) {
        self.demand.record(now);
        self.last_used = now;
    }

    /// Whether the tenant was at its limit a moment ago.
    pub fn congested(&self, now: Instant) -> bool {
        self.congested_at
            .is_some_and(|at| now.saturating_duration_since(at) < CONGESTED_FOR)
    }

    /// The local fallback refused: remember the tenant is at its limit.
    pub fn mark_congested(&mut self, now: Instant) {
        self.congested_at = Some(now);
    }

    /// Pay `cost` from the lease if it can, refuse from the cached denial, or say to ask.
    pub fn step(&mut self, now: Instant, quota: Quota, cost: u32) -> Step {
        if quota != self.quota {
            // Units of another rate; forget them (the store keeps its own count).
            self.quota = quota;
            self.tokens = 0;
            self.refund = 0;
            self.denied = None;
        }
        if self.tokens > 0 && now >= self.until {
            self.refund = self.refund.saturating_add(self.tokens);
            self.tokens = 0;
        }
        if self.tokens > 0 {
            if now < self.from {
                return Step::Wait(self.from - now);
            }
            if self.tokens >= cost {
                self.tokens -= cost;
                return Step::Allow;
            }
            // A cost the lease cannot cover: the rest goes back with the next call.
            self.refund = self.refund.saturating_add(self.tokens);
            self.tokens = 0;
        }
        match self.denied {
            Some((until, min)) if now < until && cost >= min => return Step::Wait(until - now),
            Some((until, _)) if now >= until => self.denied = None,
            _ => {}
        }
        Step::AskStore
    }

    /// What to ask the store for: `cost` at least, and up to `lease` worth of units at the
    /// smaller of the quota's rate and this replica's demand (a quiet replica asks for what
    /// it spends, so leases are not wasted), never more than the burst.
    pub fn ask(
        &mut self,
        now: Instant,
        quota: Quota,
        cost: u32,
        lease: Duration,
        ahead: Duration,
    ) -> Ask {
        let burst = quota.max_cost().unwrap_or(u32::MAX);
        let cost = cost.clamp(1, burst.max(1));
        let lease_ms = lease.as_millis().min(u128::from(u32::MAX)) as u64;
        let by_rate = u64::from(quota.per_second) * lease_ms / 1000;
        let by_demand = self.demand.per_second(now) * lease_ms / 1000;
        let want = by_rate
            .min(by_demand)
            .max(u64::from(cost))
            .min(u64::from(burst));
        Ask {
            per_second: quota.per_second,
            burst,
            want: u32::try_from(want).unwrap_or(burst),
            min: cost,
            ahead: if lease.is_zero() {
                Duration::ZERO
            } else {
                ahead
            },
            refund: std::mem::take(&mut self.refund),
            start_empty: self.congested(now),
        }
    }

    /// Take the store's answer to `ask` for a request costing `ask.min`.
    pub fn answer(&mut self, now: Instant, ask: &Ask, lease: Duration, grant: Grant) -> Step {
        match grant {
            Grant::Granted { tokens, start_in } => {
                self.denied = None;
                if tokens < ask.want || !start_in.is_zero() {
                    self.congested_at = Some(now);
                }
                self.from = now + start_in;
                self.until = self.from + lease;
                if start_in.is_zero() {
                    self.tokens = tokens.saturating_sub(ask.min);
                    Step::Allow
                } else {
                    self.tokens = tokens;
                    Step::Wait(start_in)
                }
            }
            Grant::Denied {
                retry_after,
                ask_again_in,
            } => {
                self.congested_at = Some(now);
                self.denied = Some((now + ask_again_in.max(Duration::from_micros(1)), ask.min));
                Step::Wait(retry_after)
            }
            Grant::Held { hold } => Step::Wait(hold),
        }
    }
}

#[cfg(test)]
mod tests;
