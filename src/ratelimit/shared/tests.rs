//! The shared limiter over an in-memory GCRA store (the same arithmetic as lua/gcra.lua) that
//! can fail, hang or hold on command.

use super::*;
use crate::ratelimit::store::Ask;
use std::sync::atomic::AtomicUsize;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Answer,
    Fail(StoreErrorKind),
    Hang,
    Held(Duration),
}

struct Fake {
    epoch: Instant,
    /// Theoretical arrival time per tenant, µs since `epoch`.
    tat: Mutex<HashMap<String, f64>>,
    mode: Mutex<Mode>,
    calls: AtomicUsize,
    refunds: AtomicUsize,
    /// Units of the last grant.
    granted: AtomicU32,
    replicas: AtomicU32,
}

impl Fake {
    fn new() -> Self {
        Fake {
            epoch: Instant::now(),
            tat: Mutex::default(),
            mode: Mutex::new(Mode::Answer),
            calls: AtomicUsize::new(0),
            refunds: AtomicUsize::new(0),
            granted: AtomicU32::new(0),
            replicas: AtomicU32::new(1),
        }
    }
    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn gcra(&self, tenant: &str, ask: &Ask) -> Grant {
        let now = self.epoch.elapsed().as_secs_f64() * 1e6;
        let interval = 1e6 / f64::from(ask.per_second);
        let tau = f64::from(ask.burst) * interval;
        let ahead = ask.ahead.as_secs_f64() * 1e6;
        let mut map = self.tat.lock().unwrap();
        let stored = map.get(tenant).copied();
        let tat = stored.unwrap_or(if ask.start_empty { now + tau } else { now });
        let tat = (tat - f64::from(ask.refund) * interval).max(now);
        self.refunds
            .fetch_add(ask.refund as usize, Ordering::SeqCst);
        let n = ((now + tau - tat) / interval + 1e-6).floor();
        if n >= f64::from(ask.min) {
            let n = n.min(f64::from(ask.want));
            map.insert(tenant.to_owned(), tat + n * interval);
            self.granted.store(n as u32, Ordering::SeqCst);
            return Grant::Granted {
                tokens: n as u32,
                start_in: Duration::ZERO,
            };
        }
        let n = ((now + ahead + tau - tat) / interval + 1e-6).floor();
        if n >= f64::from(ask.min) {
            let n = n.min(f64::from(ask.want));
            let new_tat = tat + n * interval;
            map.insert(tenant.to_owned(), new_tat);
            self.granted.store(n as u32, Ordering::SeqCst);
            return Grant::Granted {
                tokens: n as u32,
                start_in: Duration::from_micros((new_tat - tau - now).ceil().max(1.0) as u64),
            };
        }
        map.insert(tenant.to_owned(), tat);
        let retry = tat + f64::from(ask.min) * interval - tau - now;
        Grant::Denied {
            retry_after: Duration::from_micros(retry.ceil().max(1.0) as u64),
            ask_again_in: Duration::from_micros((retry - ahead).ceil().max(1.0) as u64),
        }
    }
}

#[async_trait]
impl QuotaStore for Arc<Fake> {
    async fn take(&self, tenant: &str, ask: &Ask) -> Result<Grant, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Answer => Ok(self.gcra(tenant, ask)),
            Mode::Fail(kind) => Err(StoreError::new(kind, "told to fail")),
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(self.gcra(tenant, ask))
            }
            Mode::Held(hold) => Ok(Grant::Held { hold }),
        }
    }

    async fn heartbeat(&self) -> Result<u32, StoreError> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Fail(kind) => Err(StoreError::new(kind, "told to fail")),
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(1)
            }
            _ => Ok(self.replicas.load(Ordering::SeqCst)),
        }
    }
}

fn q(per_second: u32, burst: u32) -> Quota {
    Quota { per_second, burst }
}

fn limiter(on_error: OnError, lease_ms: u64) -> (Arc<Fake>, SharedLimiter<Arc<Fake>>) {
    let fake = Arc::new(Fake::new());
    let mut opts = StoreOptions::new("redis://fake");
    opts.on_error = on_error;
    opts.lease = Duration::from_millis(lease_ms);
    opts.timeout = Duration::from_millis(20);
    let l = SharedLimiter::new(fake.clone(), &opts, Arc::new(Backoff::new()));
    (fake, l)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `n` checks in a tight loop: how many were allowed.
async fn burst_of(l: &SharedLimiter<Arc<Fake>>, tenant: &str, quota: Quota, n: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..n {
        allowed += usize::from(l.check(tenant, quota, 1).await.is_allowed());
    }
    allowed
}

#[test]
fn exact_mode_asks_once_per_admitted_request_and_caches_denials() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Local, 0);
        // A burst of 10 at 1/s, then 1,000 more in a tight loop.
        assert_eq!(burst_of(&l, "t", q(1, 10), 1010).await, 10);
        // 10 grants, one denial; the rest refused from the cached denial.
        assert_eq!(fake.calls(), 11);
        match l.check("t", q(1, 10), 1).await {
            Decision::Deny { retry_after } => {
                assert!(retry_after > Duration::from_millis(900), "{retry_after:?}")
            }
            d => panic!("{d:?}"),
        }
    });
}

#[test]
fn unlimited_tenants_never_reach_the_store() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Closed, 100);
        assert_eq!(burst_of(&l, "t", Quota::UNLIMITED, 100).await, 100);
        assert_eq!(fake.calls(), 0);
    });
}

#[test]
fn leases_cut_the_calls_at_a_high_rate() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Local, 100);
        let quota = q(1000, 1000);
        // 1,000 requests over about a second, every millisecond.
        let mut allowed = 0;
        for _ in 0..1000 {
            allowed += usize::from(l.check("t", quota, 1).await.is_allowed());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(allowed, 1000);
        let calls = fake.calls();
        assert!(calls <= 60, "{calls} store calls for 1,000 requests");
    });
}

#[test]
fn a_flood_over_quota_costs_the_store_little_and_admits_the_quota() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Local, 100);
        let quota = q(50, 10);
        let started = Instant::now();
        let mut allowed = 0;
        while started.elapsed() < Duration::from_millis(1000) {
            allowed += usize::from(l.check("t", quota, 1).await.is_allowed());
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        // The burst plus a second at 50/s, give or take a lease (5 units).
        assert!((50..=66).contains(&allowed), "allowed {allowed}");
        let calls = fake.calls();
        assert!(
            calls <= allowed,
            "{calls} store calls for {allowed} admitted"
        );
    });
}

#[test]
fn the_breaker_opens_after_three_failures_and_the_probe_closes_it() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Open, 0);
        fake.set(Mode::Fail(StoreErrorKind::Connection));
        let before = metrics::STORE_ERRORS
            .with_label_values(&["connection"])
            .get();
        assert_eq!(burst_of(&l, "t", q(1, 1), 10).await, 10, "open admits");
        assert_eq!(fake.calls(), TRIP_AFTER as usize, "then no more calls");
        assert!(!l.breaker().closed());
        assert!(
            metrics::STORE_ERRORS
                .with_label_values(&["connection"])
                .get()
                >= before + 3
        );
        // The probe keeps failing while the store does, and asks to be run again soon.
        assert_eq!(l.probe().await, PROBE_EVERY_FAILING);
        assert!(!l.breaker().closed());
        fake.set(Mode::Answer);
        assert_eq!(l.probe().await, PROBE_EVERY);
        assert!(l.breaker().closed());
        assert_eq!(
            burst_of(&l, "t", q(1, 1), 5).await,
            1,
            "shared limits again"
        );
    });
}

#[test]
fn closed_refuses_with_503_while_the_store_fails() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Closed, 100);
        fake.set(Mode::Fail(StoreErrorKind::Script));
        for _ in 0..5 {
            assert_eq!(
                l.check("t", q(10, 10), 1).await,
                Decision::Unavailable {
                    retry_after: Duration::from_secs(1)
                }
            );
        }
    });
}

#[test]
fn local_takes_over_at_this_replicas_share() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Local, 100);
        fake.replicas.store(2, Ordering::SeqCst);
        l.probe().await;
        assert_eq!(l.breaker().replicas(), 2);
        fake.set(Mode::Fail(StoreErrorKind::Connection));
        // Burst 10 over 2 replicas: 5 here.
        assert_eq!(burst_of(&l, "t", q(1, 10), 20).await, 5);
    });
}

#[test]
fn a_hung_store_costs_a_request_at_most_its_timeout() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Open, 0);
        fake.set(Mode::Hang);
        let before = metrics::STORE_ERRORS.with_label_values(&["timeout"]).get();
        for _ in 0..5 {
            let t = Instant::now();
            assert_eq!(l.check("t", q(10, 10), 1).await, Decision::Allow);
            assert!(t.elapsed() < Duration::from_millis(60), "{:?}", t.elapsed());
        }
        assert_eq!(fake.calls(), TRIP_AFTER as usize);
        assert!(metrics::STORE_ERRORS.with_label_values(&["timeout"]).get() >= before + 3);
    });
}

#[test]
fn requests_waiting_for_a_hung_call_keep_their_own_budget() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (fake, l) = limiter(OnError::Open, 0);
        let l = Arc::new(l);
        fake.set(Mode::Hang);
        let t = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let l = Arc::clone(&l);
                tokio::spawn(async move { l.check("t", q(10, 10), 1).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Decision::Allow);
        }
        assert!(t.elapsed() < Duration::from_millis(80), "{:?}", t.elapsed());
        // One call at a time per tenant: the others gave up waiting for the gate.
        assert!(
            fake.calls() <= TRIP_AFTER as usize,
            "{} calls",
            fake.calls()
        );
    });
}

#[test]
fn a_hold_told_by_the_store_holds_here() {
    rt().block_on(async {
        let fake = Arc::new(Fake::new());
        let backoff = Arc::new(Backoff::new());
        let l = SharedLimiter::new(
            fake.clone(),
            &StoreOptions::new("redis://fake"),
            backoff.clone(),
        );
        fake.set(Mode::Held(Duration::from_secs(5)));
        assert!(!l.check("t", q(10, 10), 1).await.is_allowed());
        assert!(backoff
            .held("t")
            .is_some_and(|d| d > Duration::from_millis(4_900)));
    });
}

#[test]
fn expired_leases_are_handed_back() {
    rt().block_on(async {
        let (fake, l) = limiter(OnError::Local, 50);
        let quota = q(1000, 1000);
        // Build up demand so leases are bigger than one, then go quiet past the lease. The quiet
        // starts right after a lease of more than one unit was taken (one spent), so units are
        // left in it whatever the machine's pace: a lease spent to its last unit just before
        // the quiet would have nothing to hand back.
        let mut checks = 0;
        loop {
            let calls = fake.calls();
            l.check("t", quota, 1).await;
            checks += 1;
            let leased = fake.calls() > calls && fake.granted.load(Ordering::SeqCst) > 1;
            if checks >= 200 && leased {
                break;
            }
            assert!(checks < 5_000, "no lease of more than one unit");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        l.check("t", quota, 1).await;
        assert!(fake.refunds.load(Ordering::SeqCst) > 0);
    });
}

#[test]
fn retain_forgets_leases_of_dead_tenants() {
    rt().block_on(async {
        let (_, l) = limiter(OnError::Local, 100);
        l.check("a", q(10, 10), 1).await;
        l.check("b", q(10, 10), 1).await;
        l.retain(&|t| t == "a");
        let t = l.tenants.lock().unwrap();
        assert_eq!(t.map.keys().collect::<Vec<_>>(), ["a"]);
    });
}
