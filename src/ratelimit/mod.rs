//! Per-tenant rate limiting behind the [`Limiter`] trait, with a local GCRA default.
//! Also upstream back-pressure ([`Backoff`]) and HTTP `Retry-After` parsing and formatting.

mod backoff;
mod retry_after;

pub use backoff::{Backoff, MAX_HOLD};
pub use retry_after::{parse_retry_after, MAX_RETRY_AFTER};

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::RateLimiter;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A tenant's request quota: a sustained rate and a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Quota {
    /// Units replenished per second; `0` means unlimited.
    pub per_second: u32,
    /// Bucket size, the most units that can be spent at once; `0` means "same as `per_second`".
    pub burst: u32,
}

impl Quota {
    /// A quota that never limits.
    pub const UNLIMITED: Quota = Quota {
        per_second: 0,
        burst: 0,
    };

    /// Whether this quota never limits (`per_second == 0`).
    pub fn is_unlimited(&self) -> bool {
        self.per_second == 0
    }

    /// The most units one request can ever spend at once (the burst), or `None` for unlimited.
    pub fn max_cost(&self) -> Option<u32> {
        self.effective().map(|e| e.burst.get())
    }

    /// The rate and burst actually enforced, or `None` for unlimited.
    fn effective(&self) -> Option<Effective> {
        let per_second = NonZeroU32::new(self.per_second)?;
        let burst = NonZeroU32::new(self.burst).unwrap_or(per_second);
        Some(Effective { per_second, burst })
    }
}

/// A limited quota with its defaults resolved; what an entry was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Effective {
    per_second: NonZeroU32,
    burst: NonZeroU32,
}

impl Effective {
    fn governor(self) -> governor::Quota {
        governor::Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The outcome of a [`Limiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The units were spent; let the request through.
    Allow,
    /// Nothing was spent; answer 429 with `Retry-After`.
    Deny {
        /// How long until the same cost would be allowed (never zero).
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the request may go through.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// A per-tenant quota store. The embedded default is [`LocalLimiter`]; a shared (e.g. Redis)
/// implementation can replace it so that replicas spend from the same quota.
pub trait Limiter: Send + Sync {
    /// Spend `cost` units (a Bulk request costs one per operation) of `tenant`'s quota.
    fn check(&self, tenant: &str, quota: Quota, cost: u32) -> Decision;
    /// Forget tenants not in `live` (after a policy reload) so memory stays bounded.
    fn retain(&self, live: &dyn Fn(&str) -> bool);
}

/// Entries unused for longer than this (and longer than it takes their bucket to refill)
/// are dropped lazily by [`LocalLimiter`].
pub const IDLE_TTL: Duration = Duration::from_secs(10 * 60);

/// How often at most [`LocalLimiter`] sweeps for idle entries.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The smallest `retry_after` a [`Decision::Deny`] carries.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(1);

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

struct Entry<C: Clock> {
    quota: Effective,
    limiter: Arc<Direct<C>>,
    last_used: C::Instant,
}

struct Table<C: Clock> {
    entries: HashMap<String, Entry<C>>,
    last_sweep: C::Instant,
}

/// The embedded [`Limiter`]: one `governor` GCRA direct rate limiter per tenant, kept in memory
/// of this process only.
///
/// A tenant's limiter is rebuilt (starting full) when its quota changes. Entries idle for more
/// than [`IDLE_TTL`] — and long enough that their bucket would be full again — are swept at
/// most once a minute, so forgetting them changes no decision.
pub struct LocalLimiter<C: Clock = DefaultClock> {
    clock: C,
    table: Mutex<Table<C>>,
}

impl LocalLimiter<DefaultClock> {
    /// A limiter on the default (quanta, monotonic) clock.
    pub fn new() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl Default for LocalLimiter<DefaultClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock> fmt::Debug for LocalLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("tenants", &self.tenants())
            .finish()
    }
}

impl<C: Clock + Clone> LocalLimiter<C> {
    /// A limiter on the given clock (tests use `governor::clock::FakeRelativeClock`).
    pub fn with_clock(clock: C) -> Self {
        let now = clock.now();
        LocalLimiter {
            clock,
            table: Mutex::new(Table {
                entries: HashMap::new(),
                last_sweep: now,
            }),
        }
    }

    /// The tenant's limiter for `quota`, built (or rebuilt after a quota change) if needed.
    fn limiter_for(&self, tenant: &str, quota: Effective) -> Arc<Direct<C>> {
        let now = self.clock.now();
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if Duration::from(now.duration_since(table.last_sweep)) >= SWEEP_EVERY {
            table.entries.retain(|_, e| {
                let idle = Duration::from(now.duration_since(e.last_used));
                idle <= IDLE_TTL.max(e.quota.governor().burst_size_replenished_in())
            });
            table.last_sweep = now;
        }
        if let Some(entry) = table.entries.get_mut(tenant) {
            if entry.quota == quota {
                entry.last_used = now;
                return Arc::clone(&entry.limiter);
            }
        }
        let limiter = Arc::new(RateLimiter::direct_with_clock(
            quota.governor(),
            self.clock.clone(),
        ));
        table.entries.insert(
            tenant.to_owned(),
            Entry {
                quota,
                limiter: Arc::clone(&limiter),
                last_used: now,
            },
        );
        limiter
    }
}

impl<C: Clock> LocalLimiter<C> {
    /// How many tenants currently hold state.
    pub fn tenants(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

impl<C> Limiter for LocalLimiter<C>
where
    C: Clock + Clone + Send + Sync,
{
    /// Spends `cost` units, clamped to `1..=burst`: a request always costs something, and a
    /// cost above the burst passes only when the bucket is full instead of never.
    fn check(&self, tenant: &str, quota: Quota, cost: u32) -> Decision {
        let Some(quota) = quota.effective() else {
            return Decision::Allow;
        };
        let n = NonZeroU32::new(cost.min(quota.burst.get())).unwrap_or(NonZeroU32::MIN);
        let limiter = self.limiter_for(tenant, quota);
        match limiter.check_n(n) {
            Ok(Ok(())) => Decision::Allow,
            Ok(Err(not_until)) => Decision::Deny {
                retry_after: not_until
                    .wait_time_from(self.clock.now())
                    .max(MIN_RETRY_AFTER),
            },
            // Unreachable since n <= burst; deny for a full refill rather than panic.
            Err(_) => Decision::Deny {
                retry_after: quota
                    .governor()
                    .burst_size_replenished_in()
                    .max(MIN_RETRY_AFTER),
            },
        }
    }

    fn retain(&self, live: &dyn Fn(&str) -> bool) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .retain(|tenant, _| live(tenant));
    }
}

/// Whole seconds for an HTTP `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = if d.subsec_nanos() > 0 {
        d.as_secs().saturating_add(1)
    } else {
        d.as_secs()
    };
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn q(per_second: u32, burst: u32) -> Quota {
        Quota { per_second, burst }
    }

    fn fake() -> (FakeRelativeClock, LocalLimiter<FakeRelativeClock>) {
        let clock = FakeRelativeClock::default();
        (clock.clone(), LocalLimiter::with_clock(clock))
    }

    fn retry(d: Decision) -> Duration {
        match d {
            Decision::Deny { retry_after } => retry_after,
            Decision::Allow => panic!("expected Deny"),
        }
    }

    #[test]
    fn unlimited_always_allows_and_keeps_no_state() {
        let (_, l) = fake();
        for _ in 0..10_000 {
            assert_eq!(l.check("t", Quota::UNLIMITED, 1_000), Decision::Allow);
        }
        assert_eq!(l.check("t", q(0, 5), 1), Decision::Allow);
        assert_eq!(l.tenants(), 0);
        assert!(Quota::default().is_unlimited());
    }

    #[test]
    fn burst_passes_then_denies() {
        let (_, l) = fake();
        for i in 0..5 {
            assert_eq!(l.check("t", q(1, 5), 1), Decision::Allow, "request {i}");
        }
        assert!(!l.check("t", q(1, 5), 1).is_allowed());
    }

    #[test]
    fn burst_zero_means_per_second() {
        let (_, l) = fake();
        for _ in 0..10 {
            assert!(l.check("t", q(10, 0), 1).is_allowed());
        }
        assert!(!l.check("t", q(10, 0), 1).is_allowed());
    }

    #[test]
    fn retry_after_is_one_emission_interval() {
        let (clock, l) = fake();
        assert!(l.check("t", q(4, 4), 4).is_allowed());
        assert_eq!(retry(l.check("t", q(4, 4), 1)), Duration::from_millis(250));
        clock.advance(Duration::from_millis(100));
        assert_eq!(retry(l.check("t", q(4, 4), 1)), Duration::from_millis(150));
        clock.advance(Duration::from_millis(150));
        assert!(l.check("t", q(4, 4), 1).is_allowed());
    }

    #[test]
    fn refills_over_time() {
        let (clock, l) = fake();
        assert!(l.check("t", q(10, 10), 10).is_allowed());
        assert!(!l.check("t", q(10, 10), 1).is_allowed());
        clock.advance(Duration::from_millis(500));
        assert!(l.check("t", q(10, 10), 5).is_allowed());
        assert!(!l.check("t", q(10, 10), 1).is_allowed());
    }

    #[test]
    fn cost_spends_that_many_units() {
        let (_, l) = fake();
        assert!(l.check("t", q(1, 10), 7).is_allowed());
        assert!(!l.check("t", q(1, 10), 4).is_allowed());
        assert!(l.check("t", q(1, 10), 3).is_allowed());
        assert!(!l.check("t", q(1, 10), 1).is_allowed());
    }

    #[test]
    fn denied_check_spends_nothing() {
        let (_, l) = fake();
        assert!(l.check("t", q(1, 10), 8).is_allowed());
        assert!(!l.check("t", q(1, 10), 5).is_allowed());
        assert!(l.check("t", q(1, 10), 2).is_allowed());
    }

    #[test]
    fn cost_above_burst_is_clamped_and_needs_full_bucket() {
        let (clock, l) = fake();
        let quota = q(50, 50);
        assert!(l.check("t", quota, 100).is_allowed());
        assert_eq!(retry(l.check("t", quota, 100)), Duration::from_secs(1));
        clock.advance(Duration::from_millis(999));
        assert_eq!(retry(l.check("t", quota, 100)), Duration::from_millis(1));
        clock.advance(Duration::from_millis(1));
        assert!(l.check("t", quota, 100).is_allowed());
        assert!(!l.check("t", quota, 1).is_allowed());
    }

    #[test]
    fn zero_cost_costs_one() {
        let (_, l) = fake();
        assert!(l.check("t", q(1, 2), 0).is_allowed());
        assert!(l.check("t", q(1, 2), 0).is_allowed());
        assert!(!l.check("t", q(1, 2), 0).is_allowed());
    }

    #[test]
    fn tenants_are_independent() {
        let (_, l) = fake();
        assert!(l.check("a", q(1, 3), 3).is_allowed());
        assert!(!l.check("a", q(1, 3), 1).is_allowed());
        assert!(l.check("b", q(1, 3), 3).is_allowed());
        assert!(l.check("c", q(1, 3), 1).is_allowed());
        assert!(!l.check("b", q(1, 3), 1).is_allowed());
        assert_eq!(l.tenants(), 3);
    }

    #[test]
    fn quota_change_rebuilds_the_limiter() {
        let (_, l) = fake();
        assert!(l.check("t", q(1, 2), 2).is_allowed());
        assert!(!l.check("t", q(1, 2), 1).is_allowed());
        assert!(l.check("t", q(1, 5), 5).is_allowed());
        assert!(!l.check("t", q(1, 5), 1).is_allowed());
        assert_eq!(l.tenants(), 1);
    }

    #[test]
    fn equivalent_quota_spelling_keeps_state() {
        let (_, l) = fake();
        assert!(l.check("t", q(3, 0), 3).is_allowed());
        assert!(!l.check("t", q(3, 3), 1).is_allowed());
    }

    #[test]
    fn retain_evicts_dead_tenants() {
        let (_, l) = fake();
        for t in ["a", "b", "c"] {
            assert!(l.check(t, q(1, 1), 1).is_allowed());
        }
        l.retain(&|t| t != "b");
        assert_eq!(l.tenants(), 2);
        // "b" starts afresh, "a" is still drained.
        assert!(l.check("b", q(1, 1), 1).is_allowed());
        assert!(!l.check("a", q(1, 1), 1).is_allowed());
        l.retain(&|_| false);
        assert_eq!(l.tenants(), 0);
    }

    #[test]
    fn idle_entries_are_swept_lazily() {
        let (clock, l) = fake();
        assert!(l.check("idle", q(10, 10), 1).is_allowed());
        clock.advance(Duration::from_secs(5 * 60));
        assert!(l.check("busy", q(10, 10), 1).is_allowed());
        assert_eq!(l.tenants(), 2);
        clock.advance(IDLE_TTL);
        assert!(l.check("busy", q(10, 10), 1).is_allowed());
        assert_eq!(l.tenants(), 1);
    }

    #[test]
    fn slow_refill_entries_outlive_the_idle_ttl() {
        let (clock, l) = fake();
        // 1/s with burst 1000 takes 1000 s to refill: forgetting it at 10 min would be a gift.
        assert!(l.check("slow", q(1, 1000), 1000).is_allowed());
        clock.advance(IDLE_TTL + SWEEP_EVERY);
        assert!(l.check("other", q(1, 1), 1).is_allowed());
        assert_eq!(l.tenants(), 2);
        assert!(!l.check("slow", q(1, 1000), 1000).is_allowed());
    }

    #[test]
    fn huge_rates_do_not_panic() {
        let (_, l) = fake();
        assert!(l.check("t", q(u32::MAX, u32::MAX), u32::MAX).is_allowed());
        assert!(l.check("u", q(1, u32::MAX), u32::MAX).is_allowed());
        assert!(!l.check("u", q(1, u32::MAX), 1).is_allowed());
    }

    #[test]
    fn real_clock_burst_and_retry_after_bounds() {
        let l = LocalLimiter::new();
        let quota = q(2, 20);
        for _ in 0..20 {
            assert!(l.check("t", quota, 1).is_allowed());
        }
        let wait = retry(l.check("t", quota, 1));
        assert!(wait > Duration::ZERO);
        assert!(wait <= Duration::from_millis(500) + Duration::from_millis(5));
        assert!(l.check("other", quota, 20).is_allowed());
        assert!(format!("{l:?}").contains("tenants: 2"));
    }

    #[test]
    fn limiter_is_object_safe_and_shareable() {
        let l: Arc<dyn Limiter> = Arc::new(LocalLimiter::new());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| l.check("t", q(1, 60), 1).is_allowed())
                        .count()
                })
            })
            .collect();
        let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert!((60..=61).contains(&allowed), "allowed {allowed}");
    }

    #[test]
    fn retry_after_secs_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
        assert_eq!(retry_after_secs(Duration::MAX), u64::MAX);
    }
}
