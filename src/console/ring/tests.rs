use super::*;
use crate::console::record::{Draft, Outcome};
use http::Method;
use std::time::{Duration, Instant};

fn rec(tenant: &str, body: usize) -> Record {
    let mut d = Draft::default();
    d.start();
    d.idp_body(&bytes::Bytes::copy_from_slice(&vec![b'a'; body]));
    d.finish(Outcome {
        method: &Method::GET,
        path: "/x",
        query: None,
        tenant,
        pii: false,
        resource: "Users",
        upstream_status: None,
        upstream_ms: None,
        rules: 0,
        status: 200,
        answer: b"",
        elapsed: Duration::ZERO,
    })
    .unwrap()
}

#[test]
fn each_tenant_keeps_its_newest() {
    let ring = Ring::new(Limits {
        per_tenant: 3,
        bytes: 1 << 20,
        queue: 8,
        queue_bytes: 1 << 20,
        per_second: 1000,
    });
    for _ in 0..5 {
        ring.insert_now(rec("a", 10));
    }
    ring.insert_now(rec("b", 10));
    let a = ring.tenant("a");
    assert_eq!(a.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![5, 4, 3]);
    assert_eq!(ring.tenant("b").len(), 1);
    assert_eq!(ring.usage().records, 4);
    assert_eq!(
        ring.after(3, None)
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    assert_eq!(ring.after(3, Some("b")).len(), 1);
}

#[test]
fn the_byte_budget_evicts_the_oldest_of_any_tenant() {
    let one = rec("a", 1000).bytes();
    let ring = Ring::new(Limits {
        per_tenant: 100,
        bytes: one * 4,
        queue: 8,
        queue_bytes: 1 << 20,
        per_second: 1000,
    });
    ring.insert_now(rec("a", 1000));
    ring.insert_now(rec("b", 1000));
    for _ in 0..10 {
        ring.insert_now(rec("c", 1000));
    }
    let u = ring.usage();
    assert!(u.bytes <= one * 4, "{u:?}");
    assert_eq!(u.records, 4);
    assert!(ring.tenant("a").is_empty() && ring.tenant("b").is_empty());
    assert_eq!(ring.tenant("c").len(), 4);
}

#[test]
fn pushed_records_reach_the_ring_and_the_tail() {
    let ring = Ring::new(Limits::default());
    let mut tail = ring.subscribe();
    ring.push(rec("a", 5));
    let got = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), tail.recv()).await })
        .unwrap()
        .unwrap();
    assert_eq!(got.tenant, "a");
    assert_eq!(ring.tenant("a").len(), 1);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let ring = Ring::new(Limits {
        per_tenant: 10_000,
        bytes: 1 << 30,
        queue: 16,
        queue_bytes: 1 << 20,
        per_second: 1000,
    });
    for _ in 0..10_000 {
        ring.push(rec("a", 1));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let u = ring.usage();
        if u.records as u64 + u.dropped == 10_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{u:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_queue_is_bounded_in_bytes() {
    let ring = Ring::new(Limits {
        per_tenant: 10,
        bytes: 1 << 20,
        queue: 1024,
        queue_bytes: 4096,
        per_second: 1000,
    });
    ring.push(rec("a", 10_000));
    assert_eq!(ring.usage().dropped, 1);
    ring.push(rec("a", 10));
    std::thread::sleep(TICK * 20);
    let u = ring.usage();
    assert_eq!((u.records, u.dropped), (1, 1), "{u:?}");
}

fn budget_of(per_second: u32) -> Arc<Ring> {
    Ring::new(Limits {
        per_second,
        ..Limits::default()
    })
}

/// Past the budget a second, a thread records only errors; the next second starts again, and
/// what was not recorded is counted.
#[test]
fn successes_past_the_budget_a_second_are_not_recorded() {
    let ring = budget_of(3);
    let at = Instant::now();
    let kept: Vec<bool> = (0..5).map(|_| ring.admit("a", 200, at)).collect();
    assert_eq!(kept, [true, true, true, false, false]);
    // Errors always; another tenant has its own budget.
    assert!(ring.admit("a", 400, at));
    assert!(ring.admit("a", 502, at));
    assert!(ring.admit("b", 201, at));
    assert!(!ring.admit("a", 204, at));
    assert_eq!(ring.usage().sampled, 0, "counted when the second turns");
    // The next second, the thread's first request (of any tenant) adds what it skipped.
    let next = at + Duration::from_secs(1);
    assert!(ring.admit("b", 200, next));
    assert_eq!(ring.usage().sampled, 3);
    assert!(ring.admit("a", 200, next));
    assert_eq!(ring.usage().sampled, 3);
    // A second ring in the same thread keeps its own budgets.
    let other = budget_of(1);
    assert!(other.admit("a", 200, next));
    assert!(!other.admit("a", 200, next));
    assert!(ring.admit("a", 200, next));
}

/// Each worker thread has its own budget: deciding writes nothing another thread reads.
#[test]
fn each_thread_has_its_own_budget() {
    let ring = budget_of(2);
    let at = Instant::now();
    let kept = |ring: Arc<Ring>| {
        std::thread::spawn(move || (0..4).filter(|_| ring.admit("a", 200, at)).count())
            .join()
            .unwrap()
    };
    assert_eq!(kept(Arc::clone(&ring)), 2);
    assert_eq!(kept(Arc::clone(&ring)), 2);
    assert_eq!((0..4).filter(|_| ring.admit("a", 200, at)).count(), 2);
}
