use super::*;
use crate::console::record::{Draft, Outcome};
use http::Method;
use std::time::Duration;

fn rec(tenant: &str, body: usize) -> Record {
    let mut d = Draft::default();
    d.start(&Method::GET, "/x", None);
    d.idp_body(&vec![b'a'; body]);
    d.finish(Outcome {
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
    });
    ring.push(rec("a", 10_000));
    assert_eq!(ring.usage().dropped, 1);
    ring.push(rec("a", 10));
    std::thread::sleep(TICK * 20);
    let u = ring.usage();
    assert_eq!((u.records, u.dropped), (1, 1), "{u:?}");
}
