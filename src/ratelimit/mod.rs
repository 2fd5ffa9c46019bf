//! Per-tenant rate limiting behind the [`Limiter`] trait, with a local GCRA default and a
//! shared store for several replicas ([`store`], Redis in [`redis`]); also upstream
//! back-pressure ([`Backoff`], shared through the store too) and `Retry-After` parsing.

mod backoff;
mod lease;
pub mod redis;
pub mod redis_window;
mod retry_after;
pub mod shared;
pub mod store;
pub mod window;

pub use backoff::{Backoff, ShareHolds, MAX_HOLD};
pub use retry_after::{parse_retry_after, MAX_RETRY_AFTER};
pub use store::{OnError, StoreOptions};

use async_trait::async_trait;

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
        Some(Effective {
            per_second,
            burst,
            share: NonZeroU32::MIN,
        })
    }
}

/// A limited quota with its defaults resolved; what an entry was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Effective {
    per_second: NonZeroU32,
    burst: NonZeroU32,
    /// This process enforces `1/share` of the rate and of the burst (rounded up): its part
    /// when `share` replicas fall back to local limits together ([`Share`]).
    share: NonZeroU32,
}

impl Effective {
    fn governor(self) -> governor::Quota {
        let whole = governor::Quota::per_second(self.per_second).allow_burst(self.burst);
        if self.share == NonZeroU32::MIN {
            return whole;
        }
        // One unit every share/per_second seconds, and a burst of ceil(burst/share).
        let nanos =
            1_000_000_000u64 * u64::from(self.share.get()) / u64::from(self.per_second.get());
        let burst =
            NonZeroU32::new(self.burst.get().div_ceil(self.share.get())).unwrap_or(NonZeroU32::MIN);
        governor::Quota::with_period(Duration::from_nanos(nanos.max(1)))
            .map_or(whole, |q| q.allow_burst(burst))
    }

    /// The burst this process enforces (after its share).
    fn local_burst(self) -> u32 {
        self.burst.get().div_ceil(self.share.get())
    }
}

/// How much of a quota one process enforces on its own, and how its bucket starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// How many replicas split the quota (each gets `1/replicas` of rate and burst); 0 or 1 is
    /// the whole quota.
    pub replicas: u32,
    /// A bucket built now starts empty instead of full (the tenant was at its limit a moment
    /// ago, so a fresh burst would be a gift).
    pub start_empty: bool,
}

impl Share {
    /// The whole quota, a new bucket starting full: the embedded default.
    pub const WHOLE: Share = Share {
        replicas: 1,
        start_empty: false,
    };
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
    /// The shared store did not answer and `--store-on-error closed` says refuse: 503 with
    /// `Retry-After`.
    Unavailable {
        /// When to try again (never zero).
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the request may go through.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// A per-tenant quota store. The embedded default is [`LocalLimiter`]; the shared one
/// ([`shared::SharedLimiter`] over Redis, `serve --store`) makes replicas spend from the same
/// quota. Async because a shared store is a network call on the request path.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Spend `cost` units (a Bulk request costs one per operation) of `tenant`'s quota.
    async fn check(&self, tenant: &str, quota: Quota, cost: u32) -> Decision;
    /// The same decision at once, when this limiter needs no network call for it (quotas in
    /// this process); `None` sends the caller to [`Self::check`]. [`spend`] asks this first:
    /// `check`'s future is boxed (a trait object's async method), one allocation a request.
    fn check_at_once(&self, _tenant: &str, _quota: Quota, _cost: u32) -> Option<Decision> {
        None
    }
    /// Forget tenants not in `live` (after a policy reload) so memory stays bounded.
    fn retain(&self, live: &dyn Fn(&str) -> bool);
}

/// Spend `cost` of `tenant`'s quota: [`Limiter::check_at_once`], else [`Limiter::check`].
pub async fn spend(limiter: &dyn Limiter, tenant: &str, quota: Quota, cost: u32) -> Decision {
    match limiter.check_at_once(tenant, quota, cost) {
        Some(decision) => decision,
        None => limiter.check(tenant, quota, cost).await,
    }
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

    /// The tenant's limiter for `quota`, built (or rebuilt after a quota change) if needed;
    /// a new one starts empty when `start_empty`.
    fn limiter_for(&self, tenant: &str, quota: Effective, start_empty: bool) -> Arc<Direct<C>> {
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
        if start_empty {
            if let Some(all) = NonZeroU32::new(quota.local_burst()) {
                let _ = limiter.check_n(all);
            }
        }
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

impl<C: Clock + Clone> LocalLimiter<C> {
    /// Spends `cost` units, clamped to `1..=burst`: a request always costs something, and a
    /// cost above the burst passes only when the bucket is full instead of never.
    pub fn check_now(&self, tenant: &str, quota: Quota, cost: u32) -> Decision {
        self.check_with(tenant, quota, cost, Share::WHOLE)
    }

    /// As [`LocalLimiter::check_now`], enforcing only this process's [`Share`] of the quota
    /// (the fallback of a shared store). A change of share rebuilds the tenant's bucket.
    pub fn check_with(&self, tenant: &str, quota: Quota, cost: u32, share: Share) -> Decision {
        let Some(mut quota) = quota.effective() else {
            return Decision::Allow;
        };
        quota.share = NonZeroU32::new(share.replicas).unwrap_or(NonZeroU32::MIN);
        let n = NonZeroU32::new(cost.min(quota.local_burst())).unwrap_or(NonZeroU32::MIN);
        let limiter = self.limiter_for(tenant, quota, share.start_empty);
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

    /// Forget tenants not in `live`.
    pub fn retain_live(&self, live: &dyn Fn(&str) -> bool) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .retain(|tenant, _| live(tenant));
    }
}

#[async_trait]
impl<C> Limiter for LocalLimiter<C>
where
    C: Clock + Clone + Send + Sync,
{
    async fn check(&self, tenant: &str, quota: Quota, cost: u32) -> Decision {
        self.check_now(tenant, quota, cost)
    }

    fn check_at_once(&self, tenant: &str, quota: Quota, cost: u32) -> Option<Decision> {
        Some(self.check_now(tenant, quota, cost))
    }

    fn retain(&self, live: &dyn Fn(&str) -> bool) {
        self.retain_live(live);
    }
}

/// The quotas and holds of `serve`: in this process ([`LocalLimiter`], no store), or shared by
/// every replica through the store `--store` names (Redis; a store down at start only means
/// the `--store-on-error` fallback until it answers).
/// The limiter, the holds and the guard's counters: in this process, or shared through the
/// store (`--store`).
pub type Built = (
    Arc<dyn Limiter>,
    Arc<Backoff>,
    Arc<dyn store::WindowCounter>,
);

pub fn build(store: Option<&StoreOptions>) -> Result<Built, String> {
    match store {
        None => Ok((
            Arc::new(LocalLimiter::new()),
            Arc::new(Backoff::new()),
            Arc::new(window::LocalWindow::new()),
        )),
        Some(opts) => redis::start(opts),
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
            d => panic!("expected Deny, got {d:?}"),
        }
    }

    #[test]
    fn unlimited_always_allows_and_keeps_no_state() {
        let (_, l) = fake();
        for _ in 0..10_000 {
            assert_eq!(l.check_now("t", Quota::UNLIMITED, 1_000), Decision::Allow);
        }
        assert_eq!(l.check_now("t", q(0, 5), 1), Decision::Allow);
        assert_eq!(l.tenants(), 0);
        assert!(Quota::default().is_unlimited());
    }

    #[test]
    fn burst_passes_then_denies() {
        let (_, l) = fake();
        for i in 0..5 {
            assert_eq!(l.check_now("t", q(1, 5), 1), Decision::Allow, "request {i}");
        }
        assert!(!l.check_now("t", q(1, 5), 1).is_allowed());
    }

    /// A limiter that answers only through its future, counting the calls.
    struct Remote(std::sync::atomic::AtomicU32);

    #[async_trait]
    impl Limiter for Remote {
        async fn check(&self, _tenant: &str, _quota: Quota, cost: u32) -> Decision {
            self.0.fetch_add(cost, std::sync::atomic::Ordering::SeqCst);
            Decision::Deny {
                retry_after: Duration::from_secs(1),
            }
        }
        fn retain(&self, _live: &dyn Fn(&str) -> bool) {}
    }

    #[tokio::test]
    async fn spend_answers_at_once_in_process_and_asks_the_store_otherwise() {
        // In process: the same bucket whichever way it is asked.
        let (_, l) = fake();
        for i in 0..3 {
            assert_eq!(spend(&l, "t", q(1, 5), 1).await, Decision::Allow, "{i}");
        }
        assert_eq!(l.check_at_once("t", q(1, 5), 1), Some(Decision::Allow));
        assert_eq!(l.check("t", q(1, 5), 1).await, Decision::Allow);
        assert!(!spend(&l, "t", q(1, 5), 1).await.is_allowed());
        // A limiter without an answer at once is asked through `check`, every time.
        let r = Remote(std::sync::atomic::AtomicU32::new(0));
        assert_eq!(r.check_at_once("t", q(1, 5), 1), None);
        assert!(!spend(&r, "t", q(1, 5), 2).await.is_allowed());
        assert!(!spend(&r, "t", q(1, 5), 3).await.is_allowed());
        assert_eq!(r.0.load(std::sync::atomic::Ordering::SeqCst), 5);
    }

    #[test]
    fn burst_zero_means_per_second() {
        let (_, l) = fake();
        for _ in 0..10 {
            assert!(l.check_now("t", q(10, 0), 1).is_allowed());
        }
        assert!(!l.check_now("t", q(10, 0), 1).is_allowed());
    }

    #[test]
    fn retry_after_is_one_emission_interval() {
        let (clock, l) = fake();
        assert!(l.check_now("t", q(4, 4), 4).is_allowed());
        assert_eq!(
            retry(l.check_now("t", q(4, 4), 1)),
            Duration::from_millis(250)
        );
        clock.advance(Duration::from_millis(100));
        assert_eq!(
            retry(l.check_now("t", q(4, 4), 1)),
            Duration::from_millis(150)
        );
        clock.advance(Duration::from_millis(150));
        assert!(l.check_now("t", q(4, 4), 1).is_allowed());
    }

    #[test]
    fn refills_over_time() {
        let (clock, l) = fake();
        assert!(l.check_now("t", q(10, 10), 10).is_allowed());
        assert!(!l.check_now("t", q(10, 10), 1).is_allowed());
        clock.advance(Duration::from_millis(500));
        assert!(l.check_now("t", q(10, 10), 5).is_allowed());
        assert!(!l.check_now("t", q(10, 10), 1).is_allowed());
    }

    #[test]
    fn cost_spends_that_many_units() {
        let (_, l) = fake();
        assert!(l.check_now("t", q(1, 10), 7).is_allowed());
        assert!(!l.check_now("t", q(1, 10), 4).is_allowed());
        assert!(l.check_now("t", q(1, 10), 3).is_allowed());
        assert!(!l.check_now("t", q(1, 10), 1).is_allowed());
    }

    #[test]
    fn denied_check_spends_nothing() {
        let (_, l) = fake();
        assert!(l.check_now("t", q(1, 10), 8).is_allowed());
        assert!(!l.check_now("t", q(1, 10), 5).is_allowed());
        assert!(l.check_now("t", q(1, 10), 2).is_allowed());
    }

    #[test]
    fn cost_above_burst_is_clamped_and_needs_full_bucket() {
        let (clock, l) = fake();
        let quota = q(50, 50);
        assert!(l.check_now("t", quota, 100).is_allowed());
        assert_eq!(retry(l.check_now("t", quota, 100)), Duration::from_secs(1));
        clock.advance(Duration::from_millis(999));
        assert_eq!(
            retry(l.check_now("t", quota, 100)),
            Duration::from_millis(1)
        );
        clock.advance(Duration::from_millis(1));
        assert!(l.check_now("t", quota, 100).is_allowed());
        assert!(!l.check_now("t", quota, 1).is_allowed());
    }

    #[test]
    fn zero_cost_costs_one() {
        let (_, l) = fake();
        assert!(l.check_now("t", q(1, 2), 0).is_allowed());
        assert!(l.check_now("t", q(1, 2), 0).is_allowed());
        assert!(!l.check_now("t", q(1, 2), 0).is_allowed());
    }

    #[test]
    fn tenants_are_independent() {
        let (_, l) = fake();
        assert!(l.check_now("a", q(1, 3), 3).is_allowed());
        assert!(!l.check_now("a", q(1, 3), 1).is_allowed());
        assert!(l.check_now("b", q(1, 3), 3).is_allowed());
        assert!(l.check_now("c", q(1, 3), 1).is_allowed());
        assert!(!l.check_now("b", q(1, 3), 1).is_allowed());
        assert_eq!(l.tenants(), 3);
    }

    #[test]
    fn quota_change_rebuilds_the_limiter() {
        let (_, l) = fake();
        assert!(l.check_now("t", q(1, 2), 2).is_allowed());
        assert!(!l.check_now("t", q(1, 2), 1).is_allowed());
        assert!(l.check_now("t", q(1, 5), 5).is_allowed());
        assert!(!l.check_now("t", q(1, 5), 1).is_allowed());
        assert_eq!(l.tenants(), 1);
    }

    #[test]
    fn equivalent_quota_spelling_keeps_state() {
        let (_, l) = fake();
        assert!(l.check_now("t", q(3, 0), 3).is_allowed());
        assert!(!l.check_now("t", q(3, 3), 1).is_allowed());
    }

    #[test]
    fn retain_evicts_dead_tenants() {
        let (_, l) = fake();
        for t in ["a", "b", "c"] {
            assert!(l.check_now(t, q(1, 1), 1).is_allowed());
        }
        l.retain_live(&|t| t != "b");
        assert_eq!(l.tenants(), 2);
        // "b" starts afresh, "a" is still drained.
        assert!(l.check_now("b", q(1, 1), 1).is_allowed());
        assert!(!l.check_now("a", q(1, 1), 1).is_allowed());
        l.retain_live(&|_| false);
        assert_eq!(l.tenants(), 0);
    }

    #[test]
    fn idle_entries_are_swept_lazily() {
        let (clock, l) = fake();
        assert!(l.check_now("idle", q(10, 10), 1).is_allowed());
        clock.advance(Duration::from_secs(5 * 60));
        assert!(l.check_now("busy", q(10, 10), 1).is_allowed());
        assert_eq!(l.tenants(), 2);
        clock.advance(IDLE_TTL);
        assert!(l.check_now("busy", q(10, 10), 1).is_allowed());
        assert_eq!(l.tenants(), 1);
    }

    #[test]
    fn slow_refill_entries_outlive_the_idle_ttl() {
        let (clock, l) = fake();
        // 1/s with burst 1000 takes 1000 s to refill: forgetting it at 10 min would be a gift.
        assert!(l.check_now("slow", q(1, 1000), 1000).is_allowed());
        clock.advance(IDLE_TTL + SWEEP_EVERY);
        assert!(l.check_now("other", q(1, 1), 1).is_allowed());
        assert_eq!(l.tenants(), 2);
        assert!(!l.check_now("slow", q(1, 1000), 1000).is_allowed());
    }

    #[test]
    fn huge_rates_do_not_panic() {
        let (_, l) = fake();
        assert!(l
            .check_now("t", q(u32::MAX, u32::MAX), u32::MAX)
            .is_allowed());
        assert!(l.check_now("u", q(1, u32::MAX), u32::MAX).is_allowed());
        assert!(!l.check_now("u", q(1, u32::MAX), 1).is_allowed());
    }

    #[test]
    fn real_clock_burst_and_retry_after_bounds() {
        let l = LocalLimiter::new();
        let quota = q(2, 20);
        for _ in 0..20 {
            assert!(l.check_now("t", quota, 1).is_allowed());
        }
        let wait = retry(l.check_now("t", quota, 1));
        assert!(wait > Duration::ZERO);
        assert!(wait <= Duration::from_millis(500) + Duration::from_millis(5));
        assert!(l.check_now("other", quota, 20).is_allowed());
        assert!(format!("{l:?}").contains("tenants: 2"));
    }

    #[test]
    fn limiter_is_object_safe_and_shareable() {
        let l: Arc<dyn Limiter> = Arc::new(LocalLimiter::new());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let allowed: usize = rt.block_on(async {
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let l = Arc::clone(&l);
                    tokio::spawn(async move {
                        let mut n = 0;
                        for _ in 0..50 {
                            n += usize::from(l.check("t", q(1, 60), 1).await.is_allowed());
                        }
                        n
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        assert!((60..=61).contains(&allowed), "allowed {allowed}");
    }

    #[test]
    fn a_share_enforces_its_part_of_rate_and_burst() {
        let (clock, l) = fake();
        let share = Share {
            replicas: 3,
            start_empty: false,
        };
        // burst 10 / 3 -> 4 at once, then one every 3/20 s = 150 ms.
        for _ in 0..4 {
            assert!(l.check_with("t", q(20, 10), 1, share).is_allowed());
        }
        assert_eq!(
            retry(l.check_with("t", q(20, 10), 1, share)),
            Duration::from_millis(150)
        );
        clock.advance(Duration::from_millis(150));
        assert!(l.check_with("t", q(20, 10), 1, share).is_allowed());
        // A cost above the share's burst is clamped to it.
        clock.advance(Duration::from_secs(10));
        assert!(l.check_with("t", q(20, 10), 10, share).is_allowed());
        assert!(!l.check_with("t", q(20, 10), 1, share).is_allowed());
    }

    #[test]
    fn a_share_can_start_empty_and_a_new_share_rebuilds() {
        let (clock, l) = fake();
        let empty = Share {
            replicas: 2,
            start_empty: true,
        };
        assert_eq!(
            retry(l.check_with("t", q(10, 10), 1, empty)),
            Duration::from_millis(200)
        );
        clock.advance(Duration::from_millis(200));
        assert!(l.check_with("t", q(10, 10), 1, empty).is_allowed());
        // The whole quota again: a new bucket, full.
        for _ in 0..10 {
            assert!(l.check_now("t", q(10, 10), 1).is_allowed());
        }
        assert!(!l.check_now("t", q(10, 10), 1).is_allowed());
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
