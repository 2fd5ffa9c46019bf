use super::*;

const MS: Duration = Duration::from_millis(1);
const LEASE: Duration = Duration::from_millis(100);

fn q(per_second: u32, burst: u32) -> Quota {
    Quota { per_second, burst }
}

/// `n` requests spread evenly over one second ending at `now` (the demand estimate).
fn warm(l: &mut Lease, t0: Instant, n: u32) -> Instant {
    for i in 0..n {
        l.arrive(t0 + SECOND * i / n);
    }
    t0 + SECOND
}

#[test]
fn a_fresh_lease_asks_the_store_for_what_it_spends() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    l.arrive(t0);
    assert_eq!(l.step(t0, q(20, 10), 1), Step::AskStore);
    let ask = l.ask(t0, q(20, 10), 1, LEASE, Duration::from_secs(1));
    // One request seen: a lease of one, no refund, a full bucket if the store has none.
    assert_eq!(
        ask,
        Ask {
            per_second: 20,
            burst: 10,
            want: 1,
            min: 1,
            ahead: Duration::from_secs(1),
            refund: 0,
            start_empty: false
        }
    );
}

#[test]
fn the_lease_is_the_smaller_of_rate_and_demand_times_lease_ms() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let now = warm(&mut l, t0, 40);
    // 40/s here, 20/s quota: 100 ms is 2 units at the quota's rate.
    assert_eq!(l.ask(now, q(20, 10), 1, LEASE, SECOND).want, 2);
    // 40/s here, 1000/s quota: 4 units at this replica's demand.
    assert_eq!(l.ask(now, q(1000, 1000), 1, LEASE, SECOND).want, 4);
    // Never more than the burst, never less than the cost.
    assert_eq!(l.ask(now, q(1000, 3), 1, LEASE, SECOND).want, 3);
    assert_eq!(l.ask(now, q(1000, 1000), 7, LEASE, SECOND).want, 7);
    // Zero lease: exact, nothing ahead.
    let exact = l.ask(now, q(1000, 1000), 1, Duration::ZERO, SECOND);
    assert_eq!((exact.want, exact.ahead), (1, Duration::ZERO));
}

#[test]
fn demand_slides_over_a_second_and_forgets() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let now = warm(&mut l, t0, 100);
    assert_eq!(l.demand.per_second(now), 100);
    // Half a second later with nothing new: half the previous second still counts.
    assert_eq!(l.demand.per_second(now + 500 * MS), 50);
    assert_eq!(l.demand.per_second(now + 3 * SECOND), 0);
}

#[test]
fn a_grant_now_pays_this_request_and_leaves_the_rest_for_the_lease() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let quota = q(20, 10);
    let now = warm(&mut l, t0, 40);
    assert_eq!(l.step(now, quota, 1), Step::AskStore);
    let ask = l.ask(now, quota, 1, LEASE, SECOND);
    let got = Grant::Granted {
        tokens: 2,
        start_in: Duration::ZERO,
    };
    assert_eq!(l.answer(now, &ask, LEASE, got), Step::Allow);
    assert_eq!(l.step(now + 10 * MS, quota, 1), Step::Allow);
    assert_eq!(l.step(now + 20 * MS, quota, 1), Step::AskStore);
    assert!(!l.congested(now), "a full grant says nothing of congestion");
}

#[test]
fn an_unspent_lease_expires_and_is_refunded_with_the_next_ask() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let quota = q(100, 100);
    let now = warm(&mut l, t0, 100);
    assert_eq!(l.step(now, quota, 1), Step::AskStore);
    let ask = l.ask(now, quota, 1, LEASE, SECOND);
    assert_eq!(ask.want, 10);
    let got = Grant::Granted {
        tokens: 10,
        start_in: Duration::ZERO,
    };
    assert_eq!(l.answer(now, &ask, LEASE, got), Step::Allow);
    assert_eq!(l.step(now + 50 * MS, quota, 1), Step::Allow);
    // Past the lease: the 8 left go back with the next call.
    assert_eq!(l.step(now + LEASE, quota, 1), Step::AskStore);
    assert_eq!(l.ask(now + LEASE, quota, 1, LEASE, SECOND).refund, 8);
    assert_eq!(l.ask(now + LEASE, quota, 1, LEASE, SECOND).refund, 0);
}

#[test]
fn a_cost_the_lease_cannot_cover_asks_and_refunds_the_rest() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let quota = q(100, 100);
    let now = warm(&mut l, t0, 100);
    assert_eq!(l.step(now, quota, 1), Step::AskStore);
    let ask = l.ask(now, quota, 1, LEASE, SECOND);
    let got = Grant::Granted {
        tokens: 4,
        start_in: Duration::ZERO,
    };
    l.answer(now, &ask, LEASE, got);
    assert_eq!(l.step(now, quota, 5), Step::AskStore);
    assert_eq!(l.ask(now, quota, 5, LEASE, SECOND).refund, 3);
}

#[test]
fn a_lease_taken_ahead_refuses_until_it_starts() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let quota = q(20, 10);
    let now = warm(&mut l, t0, 40);
    assert_eq!(l.step(now, quota, 1), Step::AskStore);
    let ask = l.ask(now, quota, 1, LEASE, SECOND);
    let later = Grant::Granted {
        tokens: 2,
        start_in: 300 * MS,
    };
    assert_eq!(l.answer(now, &ask, LEASE, later), Step::Wait(300 * MS));
    assert!(l.congested(now));
    assert_eq!(l.step(now + 100 * MS, quota, 1), Step::Wait(200 * MS));
    assert_eq!(l.step(now + 300 * MS, quota, 1), Step::Allow);
    assert_eq!(l.step(now + 320 * MS, quota, 1), Step::Allow);
    assert_eq!(l.step(now + 340 * MS, quota, 1), Step::AskStore);
}

#[test]
fn a_denial_is_cached_for_costs_at_least_as_big() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let quota = q(20, 10);
    assert_eq!(l.step(t0, quota, 3), Step::AskStore);
    let ask = l.ask(t0, quota, 3, LEASE, SECOND);
    let no = Grant::Denied {
        retry_after: 150 * MS,
        ask_again_in: 100 * MS,
    };
    assert_eq!(l.answer(t0, &ask, LEASE, no), Step::Wait(150 * MS));
    assert_eq!(l.step(t0 + 10 * MS, quota, 3), Step::Wait(90 * MS));
    assert_eq!(l.step(t0 + 10 * MS, quota, 5), Step::Wait(90 * MS));
    assert_eq!(
        l.step(t0 + 10 * MS, quota, 1),
        Step::AskStore,
        "a smaller cost may pass"
    );
    assert_eq!(l.step(t0 + 100 * MS, quota, 3), Step::AskStore);
    assert!(l.congested(t0 + 100 * MS));
    assert!(!l.congested(t0 + CONGESTED_FOR));
}

#[test]
fn a_quota_change_drops_the_lease_and_the_denial() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let ask = l.ask(t0, q(20, 10), 1, LEASE, SECOND);
    let got = Grant::Granted {
        tokens: 2,
        start_in: Duration::ZERO,
    };
    l.step(t0, q(20, 10), 1);
    l.answer(t0, &ask, LEASE, got);
    assert_eq!(l.step(t0, q(40, 10), 1), Step::AskStore);
    assert_eq!(l.ask(t0, q(40, 10), 1, LEASE, SECOND).refund, 0);
}

#[test]
fn a_congested_tenant_asks_a_missing_bucket_to_start_empty() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    l.mark_congested(t0);
    assert!(l.ask(t0 + 10 * MS, q(20, 10), 1, LEASE, SECOND).start_empty);
    assert!(
        !l.ask(t0 + CONGESTED_FOR, q(20, 10), 1, LEASE, SECOND)
            .start_empty
    );
}

#[test]
fn a_hold_from_the_store_refuses_for_the_hold() {
    let t0 = Instant::now();
    let mut l = Lease::new(t0);
    let ask = l.ask(t0, q(20, 10), 1, LEASE, SECOND);
    let held = Grant::Held {
        hold: Duration::from_secs(5),
    };
    assert_eq!(
        l.answer(t0, &ask, LEASE, held),
        Step::Wait(Duration::from_secs(5))
    );
}
