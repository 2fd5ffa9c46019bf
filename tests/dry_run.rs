//! The dry run (`scimgate translate`) runs the gateway's own phases: for the same policy and
//! request it answers what the running gateway answers — Bulk policing and splitting included.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "dry-run-token";

/// `scimgate translate` on the policy text `policy` with `body` on stdin.
fn translate(policy: &str, method: &str, path: &str, body: &Value) -> (bool, Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, policy).unwrap();
    translate_cli(&file, method, path, &body.to_string())
}

fn bulk(n: usize) -> Value {
    let ops: Vec<Value> = (0..n)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {"userName": format!("u{i}"), "password": "x"}}))
        .collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
}

#[test]
fn a_bulk_over_the_cap_gets_the_same_413_from_both() {
    let rec = Recorder::start();
    let text = policy(
        "capped",
        "/c/scim/v2",
        TOKEN,
        &rec.url(),
        "",
        "[limits]\nbulk_max_operations = 2\n[[drop]]\npath = \"password\"\n",
    );
    let gw = Gateway::start(&[("c.toml", text.clone())], &[]);
    let body = bulk(3);
    let live = call(
        "POST",
        &gw.url("/c/scim/v2/Bulk"),
        Some(TOKEN),
        &[],
        Some(&body.to_string()),
    );
    live.assert_scim_error(413, None);
    assert!(rec.requests().is_empty(), "the target saw nothing");

    let (ok, dry) = translate(&text, "POST", "/c/scim/v2/Bulk", &body);
    assert!(!ok, "the dry run fails as the gateway refuses");
    assert_eq!(
        dry,
        live.json(),
        "the dry run answers the gateway's own error"
    );

    // Within the cap both send the same policed body (the password dropped).
    let body = bulk(2);
    let live = call(
        "POST",
        &gw.url("/c/scim/v2/Bulk"),
        Some(TOKEN),
        &[],
        Some(&body.to_string()),
    );
    assert_eq!(live.status, 200, "{}", live.body);
    let sent: Value = serde_json::from_slice(&rec.requests()[0].body).unwrap();
    let (ok, dry) = translate(&text, "POST", "/c/scim/v2/Bulk", &body);
    assert!(ok);
    assert_eq!(dry["body"], sent, "the dry run sends what the gateway sent");
    assert!(!sent.to_string().contains("password"));
}

#[test]
fn a_split_bulk_shows_every_chunk() {
    let text = policy(
        "split",
        "/s/scim/v2",
        TOKEN,
        "http://127.0.0.1:9/v2",
        "",
        "[limits]\nbulk_max_operations = 2\nbulk_oversize = \"split\"\n",
    );
    let (ok, dry) = translate(&text, "POST", "/Bulk", &bulk(5));
    assert!(ok);
    let chunks = dry["split"].as_array().expect("one entry per chunk");
    let sizes: Vec<usize> = chunks
        .iter()
        .map(|c| c["body"]["Operations"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert!(chunks.iter().all(|c| c["path"] == "/Bulk"));
}
