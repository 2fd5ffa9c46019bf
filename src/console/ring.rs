//! The last exchanges of every tenant, in memory and bounded whatever the traffic: at most
//! [`Limits::per_tenant`] records per tenant and [`Limits::bytes`] for all of them (the oldest
//! record of any tenant goes first), plus at most [`Limits::queue_bytes`] of records waiting to
//! be put in.
//!
//! The request path only hands a finished [`Record`] over a bounded channel ([`Ring::push`]: an
//! atomic add and one `try_send`, never a wait or a wake-up; past the queue's bound the record is
//! dropped and counted). One thread, `scimgate-console`, wakes every [`TICK`], puts what came in
//! the ring under one lock, tells the live tails ([`Ring::subscribe`]), and samples the request
//! counters once a second for the tenants page ([`super::stats`]).

use super::record::Record;
use super::stats::{Rates, TenantRates};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How much the ring keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records kept per tenant (newest).
    pub per_tenant: usize,
    /// Bytes kept for all tenants together ([`Record::bytes`]).
    pub bytes: usize,
    /// Records waiting between the request path and the ring (slots).
    pub queue: usize,
    /// Bytes of records waiting between the request path and the ring ([`Record::bytes`]).
    pub queue_bytes: usize,
    /// Successful exchanges each worker thread records per tenant and second; past it, until
    /// the next second, only errors (status 400 and above) are ([`Ring::admit`]).
    pub per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_tenant: 200,
            bytes: 32 << 20,
            queue: 2048,
            queue_bytes: 8 << 20,
            per_second: 100,
        }
    }
}

/// The exchanges ring; `flow::Gateway::exchanges` points at it.
pub struct Ring {
    tx: SyncSender<Record>,
    shared: Arc<Shared>,
    /// Tells this ring's budgets from another's in a thread's table ([`Ring::admit`]).
    id: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Record>>,
    rates: Mutex<Rates>,
    dropped: AtomicU64,
    /// Successful exchanges not recorded past `Limits::per_second` (added once a second).
    sampled: AtomicU64,
    /// Bytes of the records in the channel.
    queued: AtomicUsize,
    limits: Limits,
}

#[derive(Default)]
struct Inner {
    tenants: HashMap<String, VecDeque<Arc<Record>>>,
    records: usize,
    bytes: usize,
    next_seq: u64,
}

/// What the ring holds now, for the console's footer and the memory figures.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Usage {
    pub records: usize,
    pub bytes: usize,
    pub dropped: u64,
    /// Successful exchanges not recorded past the per-second budget (each worker thread adds
    /// its count at its first request of the next second).
    pub sampled: u64,
    pub limit_per_second: u32,
    pub limit_per_tenant: usize,
    pub limit_bytes: usize,
}

/// One thread's count of a tenant's successful exchanges in the current second.
struct Budget {
    second: u64,
    kept: u32,
}

/// One thread's budgets for one ring.
struct ThreadBudgets {
    ring: u64,
    tenants: hashbrown::HashMap<Box<str>, Budget>,
    /// Successes this thread did not record since `second` began.
    pending: u64,
    second: u64,
}

/// Per worker thread: each ring's budgets.
type Budgets = Vec<ThreadBudgets>;

/// Tenants one thread keeps a budget for before it starts its table again.
const MAX_BUDGETS: usize = 1 << 16;

thread_local! {
    static BUDGETS: std::cell::RefCell<Budgets> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The seconds of [`Ring::admit`] count from here.
static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// Events waiting for a slow live tail before it skips ahead.
const EVENTS: usize = 256;

/// How often the ring's thread takes in what arrived (the live tail's added delay at most).
pub const TICK: Duration = Duration::from_millis(10);

impl Ring {
    /// A ring and its thread (the thread ends when the ring is dropped).
    pub fn new(limits: Limits) -> Arc<Ring> {
        let (tx, rx) = mpsc::sync_channel(limits.queue.max(1));
        let (events, _) = broadcast::channel(EVENTS);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                next_seq: 1,
                ..Inner::default()
            }),
            events,
            rates: Mutex::new(Rates::default()),
            dropped: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            limits,
        });
        let for_thread = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("scimgate-console".into())
            .spawn(move || run(&for_thread, &rx));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "the console's thread did not start: no exchanges are kept");
        }
        static IDS: AtomicU64 = AtomicU64::new(0);
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        Arc::new(Ring { tx, shared, id })
    }

    /// Whether a successful exchange of `tenant` that started at `at` is recorded: the first
    /// [`Limits::per_second`] of each second, per worker thread. An error is always recorded.
    ///
    /// Past a few hundred exchanges a second nobody reads each one, and making a record (the
    /// answer searched for secrets, copied, handed over, filed) was ~4 % of a passthrough
    /// request's CPU at 38,000 a second; the ring's 200 a tenant still hold the last second.
    /// The budget lives in the thread, so deciding touches no memory another thread writes;
    /// what was not recorded is added to [`Usage::sampled`] once a second.
    pub fn admit(&self, tenant: &str, status: u16, at: Instant) -> bool {
        if status >= 400 {
            return true;
        }
        let second = at.saturating_duration_since(*EPOCH).as_secs();
        BUDGETS.with(|cell| {
            let Ok(mut rings) = cell.try_borrow_mut() else {
                return true;
            };
            let mine = match rings.iter().position(|r| r.ring == self.id) {
                Some(i) => rings.get_mut(i),
                None => {
                    // A thread outlives a ring only in tests; keep the table small.
                    if rings.len() >= 8 {
                        rings.remove(0);
                    }
                    rings.push(ThreadBudgets {
                        ring: self.id,
                        tenants: hashbrown::HashMap::new(),
                        pending: 0,
                        second,
                    });
                    rings.last_mut()
                }
            };
            let Some(mine) = mine else { return true };
            // What this thread did not record reaches the shared count once a second.
            if mine.second != second {
                self.flush(mine);
                mine.second = second;
            }
            let budget = match mine.tenants.get_mut(tenant) {
                Some(b) => b,
                None => {
                    // Tenant names come from policy files, not requests: a thread's table is
                    // bounded by them, and by this.
                    if mine.tenants.len() >= MAX_BUDGETS {
                        mine.tenants.clear();
                    }
                    mine.tenants
                        .entry(Box::from(tenant))
                        .or_insert(Budget { second, kept: 0 })
                }
            };
            if budget.second != second {
                *budget = Budget { second, kept: 0 };
            }
            if budget.kept < self.shared.limits.per_second {
                budget.kept += 1;
                true
            } else {
                mine.pending += 1;
                false
            }
        })
    }

    fn flush(&self, mine: &mut ThreadBudgets) {
        if mine.pending > 0 {
            self.shared
                .sampled
                .fetch_add(mine.pending, Ordering::Relaxed);
            mine.pending = 0;
        }
    }

    /// Hand a finished record over (the request path: never blocks, never wakes a thread).
    pub fn push(&self, record: Record) {
        let size = record.bytes();
        let before = self.shared.queued.fetch_add(size, Ordering::Relaxed);
        if before + size > self.shared.limits.queue_bytes || self.tx.try_send(record).is_err() {
            self.shared.queued.fetch_sub(size, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A tenant's records, newest first.
    pub fn tenant(&self, tenant: &str) -> Vec<Arc<Record>> {
        self.shared
            .lock()
            .tenants
            .get(tenant)
            .map(|d| d.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// How many records a tenant has.
    pub fn count(&self, tenant: &str) -> usize {
        self.shared
            .lock()
            .tenants
            .get(tenant)
            .map_or(0, VecDeque::len)
    }

    /// Records after `seq` (oldest first), of one tenant or all: what a live tail missed.
    pub fn after(&self, seq: u64, tenant: Option<&str>) -> Vec<Arc<Record>> {
        let inner = self.shared.lock();
        let mut out: Vec<Arc<Record>> = inner
            .tenants
            .iter()
            .filter(|(t, _)| tenant.is_none_or(|want| want == t.as_str()))
            .flat_map(|(_, d)| d.iter().filter(|r| r.seq > seq).cloned())
            .collect();
        out.sort_by_key(|r| r.seq);
        out
    }

    /// New records as they are put in.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.shared.events.subscribe()
    }

    pub fn usage(&self) -> Usage {
        let inner = self.shared.lock();
        Usage {
            records: inner.records,
            bytes: inner.bytes,
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            sampled: self.shared.sampled.load(Ordering::Relaxed),
            limit_per_second: self.shared.limits.per_second,
            limit_per_tenant: self.shared.limits.per_tenant,
            limit_bytes: self.shared.limits.bytes,
        }
    }

    /// A tenant's request rates (sampled once a second).
    pub fn rates(&self, tenant: &str) -> TenantRates {
        self.shared
            .rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .of(tenant)
    }

    /// Put a record in now, on this thread (tests; the ring's thread does this).
    pub fn insert_now(&self, record: Record) {
        self.shared.insert_all(vec![record]);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Put records in under one lock, then tell the live tails.
    fn insert_all(&self, records: Vec<Record>) {
        let records: Vec<Arc<Record>> = {
            let mut inner = self.lock();
            records
                .into_iter()
                .map(|mut record| {
                    record.seq = inner.next_seq;
                    inner.next_seq += 1;
                    let record = Arc::new(record);
                    inner.put(Arc::clone(&record), self.limits);
                    record
                })
                .collect()
        };
        if self.events.receiver_count() > 0 {
            for r in &records {
                // A tail that left meanwhile is not an error.
                let _ = self.events.send(Arc::clone(r));
            }
        }
    }
}

impl Inner {
    fn put(&mut self, record: Arc<Record>, limits: Limits) {
        let size = record.bytes();
        let deque = match self.tenants.get_mut(&record.tenant) {
            Some(d) => d,
            None => self.tenants.entry(record.tenant.clone()).or_default(),
        };
        deque.push_back(record);
        self.records += 1;
        self.bytes += size;
        let mut over = deque.len().saturating_sub(limits.per_tenant.max(1));
        let mut freed = (0, 0);
        while over > 0 {
            if let Some(old) = deque.pop_front() {
                freed.0 += 1;
                freed.1 += old.bytes();
            }
            over -= 1;
        }
        self.records -= freed.0;
        self.bytes -= freed.1;
        // Over the byte budget: the oldest record of any tenant goes, until it fits.
        while self.bytes > limits.bytes && self.records > 0 {
            let oldest = self
                .tenants
                .iter()
                .filter_map(|(t, d)| d.front().map(|r| (r.seq, t.clone())))
                .min();
            let Some((_, tenant)) = oldest else { break };
            if let Some(d) = self.tenants.get_mut(&tenant) {
                if let Some(old) = d.pop_front() {
                    self.records -= 1;
                    self.bytes -= old.bytes();
                }
                if d.is_empty() {
                    self.tenants.remove(&tenant);
                }
            }
        }
    }
}

/// The ring's thread: every [`TICK`], take in what arrived; once a second, sample the rates.
/// It sleeps rather than waits on the channel, so a request never has to wake it.
fn run(shared: &Shared, rx: &Receiver<Record>) {
    let second = Duration::from_secs(1);
    let mut next_sample = std::time::Instant::now();
    loop {
        std::thread::sleep(TICK);
        let mut batch = Vec::new();
        let gone = loop {
            match rx.try_recv() {
                Ok(record) => {
                    shared.queued.fetch_sub(record.bytes(), Ordering::Relaxed);
                    batch.push(record);
                }
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        if !batch.is_empty() {
            shared.insert_all(batch);
        }
        if gone {
            return;
        }
        if std::time::Instant::now() >= next_sample {
            shared
                .rates
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sample();
            next_sample += second;
            // After a long stall, sample from now on rather than catching up.
            if next_sample < std::time::Instant::now() {
                next_sample = std::time::Instant::now() + second;
            }
        }
    }
}

#[cfg(test)]
#[path = "ring/tests.rs"]
mod tests;
