//! Policing through the running gateway: per-tenant quotas (429 + Retry-After, nothing sent),
//! the target's own back-pressure, Bulk caps and splitting against the real scim2-server, and
//! ServiceProviderConfig saying what the gateway enforces.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn user_op(i: usize) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": {"schemas": [SCIM_USER], "userName": format!("bulk-user-{i}")}})
}

fn upstream_calls(gw: &Gateway, tenant: &str) -> u64 {
    let m = gw.metrics();
    let line = format!("scimgate_upstream_duration_seconds_count{{tenant=\"{tenant}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_tenant_over_quota_gets_429_and_the_other_tenant_does_not_notice() {
    let (ra, rb) = (Recorder::start(), Recorder::start());
    let gw = Gateway::start(
        &[
            (
                "a.toml",
                policy(
                    "a",
                    "/a",
                    "ta",
                    &ra.url(),
                    "",
                    "[limits]\nrequests_per_second = 2\nburst = 5",
                ),
            ),
            ("b.toml", policy("b", "/b", "tb", &rb.url(), "", "")),
        ],
        &[],
    );
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = call("GET", &gw.url("/a/Users"), Some("ta"), &[], None);
        if r.status == 429 {
            r.assert_scim_error(429, None);
            let secs: u64 = r
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .unwrap();
            assert!((1..=1).contains(&secs), "whole seconds, rounded up: {secs}");
        }
        statuses.push(r.status);
        assert_eq!(
            call("GET", &gw.url("/b/Users"), Some("tb"), &[], None).status,
            200,
            "b is never limited"
        );
    }
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        (5..=6).contains(&passed),
        "the burst of 5 (plus at most one refill) passes: {statuses:?}"
    );
    assert!(statuses.contains(&429));
    assert_eq!(
        ra.requests().len(),
        passed,
        "a refused request never reaches the target"
    );
    assert_eq!(rb.requests().len(), 8);
    assert!(gw.metrics().contains(&format!(
        "scimgate_rate_limited_total{{tenant=\"a\"}} {}",
        8 - passed
    )));
}

#[test]
fn a_bulk_costs_one_unit_per_operation() {
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "a",
                "/a",
                "t",
                &rec.url(),
                "",
                "[limits]\nrequests_per_second = 1\nburst = 10",
            ),
        )],
        &[],
    );
    let ops: Vec<Value> = (0..8).map(user_op).collect();
    let bulk = json!({"schemas": [BULK], "Operations": ops}).to_string();
    assert_eq!(
        call("POST", &gw.url("/a/Bulk"), Some("t"), &[], Some(&bulk)).status,
        200
    );
    // 8 of 10 spent: the next Bulk of 8 is refused.
    call("POST", &gw.url("/a/Bulk"), Some("t"), &[], Some(&bulk)).assert_scim_error(429, None);
    assert_eq!(rec.requests().len(), 1);
}

#[test]
fn a_throttling_target_holds_the_tenant_for_its_retry_after() {
    let rec = Recorder::start();
    // The hold, not [upstream.retry] (on by default: a GET would wait the 3 s out and go again;
    // tests/provisioning_safety.rs covers that).
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "a",
                "/a",
                "t",
                &rec.url(),
                "",
                "[upstream.retry]\nattempts = 0",
            ),
        )],
        &[],
    );
    rec.set(Answer::Json(
        429,
        vec![("Retry-After".into(), "3".into())],
        r#"{"detail":"slow down"}"#.into(),
    ));
    let first = call("GET", &gw.url("/a/Users"), Some("t"), &[], None);
    assert_eq!(first.status, 429);
    assert_eq!(
        first.header("retry-after"),
        Some("3"),
        "the target's own answer passes back"
    );
    let held_at = Instant::now();
    rec.set(Answer::Json(200, vec![], "{}".into()));
    let held = call("GET", &gw.url("/a/Users"), Some("t"), &[], None);
    held.assert_scim_error(429, None);
    let secs: u64 = held.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&secs), "{secs}");
    assert_eq!(
        rec.requests().len(),
        1,
        "held requests do not spend the target's quota"
    );
    assert!(
        gw.metrics()
            .contains(r#"scimgate_upstream_errors_total{kind="throttled",tenant="a"} 2"#),
        "{}",
        gw.metrics()
    );
    // After the 3 s the tenant goes through again.
    std::thread::sleep(
        Duration::from_secs(3).saturating_sub(held_at.elapsed()) + Duration::from_millis(200),
    );
    assert_eq!(
        call("GET", &gw.url("/a/Users"), Some("t"), &[], None).status,
        200
    );
    assert_eq!(rec.requests().len(), 2);
}

#[test]
fn bulk_caps_against_scim2_server() {
    let server = ScimServer::start();
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "a",
                "/a",
                "t",
                &server.url(),
                "",
                "[limits]\nbulk_max_operations = 100\nbulk_max_payload_bytes = 200000",
            ),
        )],
        &[],
    );
    let count = || {
        call(
            "GET",
            &format!("{}/Users?count=1", server.url()),
            None,
            &[],
            None,
        )
        .json()["totalResults"]
            .as_u64()
            .unwrap()
    };

    let ops: Vec<Value> = (0..100).map(user_op).collect();
    let r = call(
        "POST",
        &gw.url("/a/Bulk"),
        Some("t"),
        &[],
        Some(&json!({"schemas": [BULK], "Operations": ops}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(300)]);
    assert_eq!(r.json()["Operations"].as_array().unwrap().len(), 100);
    assert_eq!(count(), 100);

    let ops: Vec<Value> = (100..201).map(user_op).collect();
    let r = call(
        "POST",
        &gw.url("/a/Bulk"),
        Some("t"),
        &[],
        Some(&json!({"schemas": [BULK], "Operations": ops}).to_string()),
    );
    r.assert_scim_error(413, None);
    assert_eq!(
        r.json()["detail"],
        "bulk request has 101 operations; the limit is 100"
    );
    assert_eq!(count(), 100, "the server saw nothing");

    let big = "x".repeat(210_000);
    let r = call("POST", &gw.url("/a/Bulk"), Some("t"), &[], Some(&json!({"schemas": [BULK], "Operations": [{"method": "POST", "path": "/Users", "data": {"schemas": [SCIM_USER], "userName": "big", "displayName": big}}]}).to_string()));
    r.assert_scim_error(413, None);
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("the limit is 200000"));
    let m = gw.metrics();
    assert!(
        m.contains(r#"scimgate_bulk_rejected_total{reason="max_operations",tenant="a"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"scimgate_bulk_rejected_total{reason="max_payload",tenant="a"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"scimgate_bulk_operations_count{tenant="a"} 2"#),
        "{m}"
    );

    // ServiceProviderConfig says what the gateway enforces.
    let spc = call(
        "GET",
        &gw.url("/a/ServiceProviderConfig"),
        Some("t"),
        &[],
        None,
    )
    .json();
    assert_eq!(spc["bulk"]["maxOperations"], 100);
    assert_eq!(spc["bulk"]["maxPayloadSize"], 200000);
}

#[test]
fn an_oversize_bulk_is_split_with_references_resolved() {
    let server = ScimServer::start();
    let gw = Gateway::start(
        &[("a.toml", policy("a", "/a", "t", &server.url(), "", "[limits]\nbulk_max_operations = 100\nbulk_oversize = \"split\"\nbulk_max_payload_bytes = 1048576"))],
        &[],
    );
    // 200 users and 50 groups; every group references users created earlier (one of them far
    // earlier, so in another chunk), and 5 groups are sent *before* the users they reference.
    let mut ops: Vec<Value> = Vec::new();
    for g in 0..5 {
        ops.push(json!({"method": "POST", "path": "/Groups", "bulkId": format!("early{g}"), "data": {"schemas": [SCIM_GROUP], "displayName": format!("early-{g}"), "members": [{"value": format!("bulkId:u{}", 150 + g)}]}}));
    }
    for i in 0..200 {
        ops.push(user_op(i));
        if i % 5 == 4 && i >= 20 && ops.len() < 250 {
            let g = ops.len();
            ops.push(json!({"method": "POST", "path": "/Groups", "bulkId": format!("g{g}"), "data": {"schemas": [SCIM_GROUP], "displayName": format!("group-{g}"), "members": [{"value": format!("bulkId:u{i}")}, {"value": "bulkId:u0"}]}}));
        }
    }
    while ops.len() < 250 {
        let g = ops.len();
        ops.push(json!({"method": "POST", "path": "/Groups", "bulkId": format!("g{g}"), "data": {"schemas": [SCIM_GROUP], "displayName": format!("group-{g}"), "members": [{"value": "bulkId:u199"}]}}));
    }
    assert_eq!(ops.len(), 250);
    let calls_before = upstream_calls(&gw, "a");
    let r = call(
        "POST",
        &gw.url("/a/Bulk"),
        Some("t"),
        &[],
        Some(&json!({"schemas": [BULK], "Operations": ops}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(500)]);
    let results = r.json()["Operations"].as_array().unwrap().clone();
    assert_eq!(results.len(), 250, "the IdP sees 250 results");
    for res in &results {
        assert_eq!(res["status"], "201", "{res}");
        assert!(
            res["location"]
                .as_str()
                .unwrap()
                .starts_with(&gw.url("/a/")),
            "{res}"
        );
    }
    assert!(
        upstream_calls(&gw, "a") - calls_before <= 3,
        "at most 3 upstream calls"
    );

    // The server holds 200 users and 50 groups whose members are the right users.
    let users = call(
        "GET",
        &format!("{}/Users?count=1", server.url()),
        None,
        &[],
        None,
    )
    .json();
    assert_eq!(users["totalResults"], 200);
    let groups = call(
        "GET",
        &format!("{}/Groups?count=100", server.url()),
        None,
        &[],
        None,
    )
    .json();
    assert_eq!(groups["totalResults"], 50);
    let id_of = |name: &str| {
        let q = format!("{}/Users?filter=userName%20eq%20%22{name}%22", server.url());
        call("GET", &q, None, &[], None).json()["Resources"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for g in groups["Resources"].as_array().unwrap() {
        let members: Vec<&str> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        assert!(
            !members.iter().any(|m| m.starts_with("bulkId:")),
            "references resolved: {g}"
        );
        if let Some(n) = g["displayName"].as_str().unwrap().strip_prefix("early-") {
            let want = id_of(&format!("bulk-user-{}", 150 + n.parse::<usize>().unwrap()));
            assert_eq!(
                members,
                vec![want.as_str()],
                "a forward reference points at the right user"
            );
        }
    }
}

#[test]
fn circular_references_get_409_and_the_rest_is_created() {
    let server = ScimServer::start();
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "a",
                "/a",
                "t",
                &server.url(),
                "",
                "[limits]\nbulk_max_operations = 2\nbulk_oversize = \"split\"",
            ),
        )],
        &[],
    );
    let ops = vec![
        json!({"method": "POST", "path": "/Groups", "bulkId": "x", "data": {"schemas": [SCIM_GROUP], "displayName": "x", "members": [{"value": "bulkId:y"}]}}),
        json!({"method": "POST", "path": "/Groups", "bulkId": "y", "data": {"schemas": [SCIM_GROUP], "displayName": "y", "members": [{"value": "bulkId:x"}]}}),
        user_op(1),
        user_op(2),
        user_op(3),
    ];
    let r = call(
        "POST",
        &gw.url("/a/Bulk"),
        Some("t"),
        &[],
        Some(&json!({"schemas": [BULK], "Operations": ops}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.json()["Operations"].as_array().unwrap().clone();
    assert_eq!(results.len(), 5);
    assert_eq!(
        results.iter().filter(|o| o["status"] == "409").count(),
        2,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|o| o["status"] == "201").count(),
        3,
        "{results:?}"
    );
}

#[test]
fn an_id_the_target_returns_cannot_walk_a_later_chunk_out_of_the_base_path() {
    // A hostile or broken target answers the first chunk's create with id "../../admin": the
    // second chunk's "/Groups/bulkId:g" would become "/Groups/../../admin". It is never sent.
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "a",
                "/a",
                "t",
                &rec.url(),
                "",
                "[limits]\nbulk_max_operations = 1\nbulk_oversize = \"split\"",
            ),
        )],
        &[],
    );
    let created = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
        "Operations": [{"method": "POST", "bulkId": "g", "status": "201",
            "response": {"id": "../../admin"}}]});
    rec.set(Answer::Json(200, vec![], created.to_string()));
    let ops = vec![
        json!({"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": [SCIM_GROUP], "displayName": "g"}}),
        json!({"method": "DELETE", "path": "/Groups/bulkId:g"}),
    ];
    let r = call(
        "POST",
        &gw.url("/a/Bulk"),
        Some("t"),
        &[],
        Some(&json!({"schemas": [BULK], "Operations": ops}).to_string()),
    );
    r.assert_scim_error(502, None);
    let seen = rec.requests();
    assert_eq!(seen.len(), 1, "only the first chunk was sent");
    assert!(!String::from_utf8_lossy(&seen[0].body).contains("admin"));
}

#[test]
fn a_bulk_over_the_burst_is_refused_with_the_reason_not_waved_through() {
    // 12 operations cost 12 units; a burst of 10 can never pay that at once. Before, the cost
    // was clamped to the burst and the Bulk passed on a full bucket.
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "a",
                "/a",
                "t",
                &rec.url(),
                "",
                "[limits]\nrequests_per_second = 1\nburst = 10\nbulk_oversize = \"split\"\nbulk_max_operations = 5",
            ),
        )],
        &[],
    );
    let ops: Vec<Value> = (0..12).map(user_op).collect();
    let bulk = json!({"schemas": [BULK], "Operations": ops}).to_string();
    let r = call("POST", &gw.url("/a/Bulk"), Some("t"), &[], Some(&bulk));
    r.assert_scim_error(413, None);
    assert!(r.body.contains("at most 10 at once"), "{}", r.body);
    assert!(rec.requests().is_empty());
    assert!(gw
        .metrics()
        .contains(r#"scimgate_bulk_rejected_total{reason="over_burst",tenant="a"} 1"#));
    // The quota was not spent: a Bulk within the burst still passes at once.
    let ops: Vec<Value> = (0..10).map(user_op).collect();
    let bulk = json!({"schemas": [BULK], "Operations": ops}).to_string();
    rec.set(Answer::Json(
        200,
        vec![],
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"], "Operations": []})
            .to_string(),
    ));
    let r = call("POST", &gw.url("/a/Bulk"), Some("t"), &[], Some(&bulk));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(rec.requests().len(), 2, "two chunks of 5");
}

#[test]
fn a_split_bulk_has_a_cap_on_chunks_and_one_deadline() {
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "a",
                "/a",
                "t",
                &rec.url(),
                "timeout_ms = 1500",
                "[limits]\nbulk_oversize = \"split\"\nbulk_max_operations = 1",
            ),
        )],
        &[],
    );
    // 11 operations in chunks of 1: 11 upstream calls for one request, over the cap of 10.
    let ops: Vec<Value> = (0..11).map(user_op).collect();
    let bulk = json!({"schemas": [BULK], "Operations": ops}).to_string();
    let r = call("POST", &gw.url("/a/Bulk"), Some("t"), &[], Some(&bulk));
    r.assert_scim_error(413, None);
    assert!(r.body.contains("11 chunks"), "{}", r.body);
    assert!(rec.requests().is_empty());

    // 3 chunks against a target that takes 1 s each: the whole request ends by the one
    // deadline (1.5 s), not after 3 × 1.5 s.
    rec.set(Answer::Delay(Duration::from_millis(1000)));
    let ops: Vec<Value> = (0..3).map(user_op).collect();
    let bulk = json!({"schemas": [BULK], "Operations": ops}).to_string();
    let started = Instant::now();
    let r = call("POST", &gw.url("/a/Bulk"), Some("t"), &[], Some(&bulk));
    let took = started.elapsed();
    r.assert_scim_error(504, None);
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(rec.requests().len() <= 2, "{}", rec.requests().len());
    // The gateway still serves.
    rec.set(Answer::Json(200, vec![], "{}".into()));
    assert_eq!(
        call("GET", &gw.url("/a/Users"), Some("t"), &[], None).status,
        200
    );
}
