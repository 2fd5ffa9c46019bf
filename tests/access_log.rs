//! The JSON access log: one line per request with tenant, method, resource type and id, status,
//! upstream status, latency and rules applied; no token, secret or personal data unless the
//! tenant opts in with `[log] pii = true`.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};

/// The access log's lines so far. They are written in batches every 50 ms (issue 15), so this
/// waits three batches first.
fn access_lines(gw: &Gateway) -> Vec<Value> {
    std::thread::sleep(std::time::Duration::from_millis(150));
    gw.log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "scimgate::access")
        .collect()
}

#[test]
fn access_lines_carry_what_ops_need_and_no_personal_data() {
    let rec = Recorder::start();
    let rules = "[nulls]\ndefault = \"drop\"";
    let gw = Gateway::start_with(
        &[
            (
                "quiet.toml",
                policy(
                    "quiet",
                    "/quiet",
                    "token-q",
                    &rec.url(),
                    "bearer_env = \"UP\"",
                    rules,
                ),
            ),
            (
                "loud.toml",
                policy(
                    "loud",
                    "/loud",
                    "token-l",
                    &rec.url(),
                    "",
                    &format!("{rules}\n[log]\npii = true"),
                ),
            ),
        ],
        &[("UP", "upstream-secret-value")],
        &["--log-format", "json"],
    );
    let user = json!({"schemas": [SCIM_USER], "userName": "bjensen@example.com", "title": null, "emails": [{"value": "bjensen@example.com"}]}).to_string();
    rec.set(Answer::Json(201, vec![], r#"{"id":"2819c223"}"#.into()));
    call(
        "POST",
        &gw.url("/quiet/Users?filter=userName%20eq%20%22bjensen%22"),
        Some("token-q"),
        &[],
        Some(&user),
    );
    rec.set(Answer::Json(200, vec![], "{}".into()));
    call(
        "GET",
        &gw.url("/quiet/Users/2819c223"),
        Some("token-q"),
        &[],
        None,
    );
    call(
        "POST",
        &gw.url("/loud/Users"),
        Some("token-l"),
        &[],
        Some(&user),
    );
    std::thread::sleep(std::time::Duration::from_millis(200));

    let lines = access_lines(&gw);
    assert_eq!(lines.len(), 3, "{}", gw.log());
    let created = &lines[0];
    assert_eq!(created["tenant"], "quiet");
    assert_eq!(created["method"], "POST");
    assert_eq!(created["resource"], "Users");
    assert_eq!(created["status"], 201);
    assert_eq!(created["upstream_status"], 201);
    assert!(
        created["duration_ms"].as_f64().is_some() && created["upstream_ms"].as_f64().is_some(),
        "{created}"
    );
    assert_eq!(created["rules"], 1, "the null title was dropped: {created}");
    assert!(created.get("user_name").is_none(), "{created}");
    assert_eq!(lines[1]["resource_id"], "2819c223");
    assert_eq!(
        lines[2]["user_name"], "bjensen@example.com",
        "the opted-in tenant logs userName"
    );

    let log = gw.log();
    let quiet: String = log
        .lines()
        .filter(|l| !l.contains("\"loud\""))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in [
        "token-q",
        "token-l",
        "upstream-secret-value",
        "bjensen",
        "filter",
    ] {
        assert!(
            !quiet.contains(secret),
            "{secret:?} reached the log:\n{quiet}"
        );
    }
}

#[test]
fn the_access_log_goes_where_it_is_told_whatever_rust_log_says() {
    let rec = Recorder::start();
    let files = [("t.toml", policy("t", "/t", "tok", &rec.url(), "", ""))];
    // RUST_LOG=warn silenced the audit trail before; now only the other lines.
    let gw = Gateway::start_with(&files, &[("RUST_LOG", "warn")], &[]);
    call("GET", &gw.url("/t/Users"), Some("tok"), &[], None);
    let lines = access_lines(&gw);
    assert_eq!(lines.len(), 1, "{}", gw.log());
    assert_eq!(lines[0]["tenant"], "t");
    assert_eq!(lines[0]["status"], 200);
    assert!(
        !gw.log().contains(" INFO "),
        "RUST_LOG=warn still rules the rest"
    );

    // To a file, and nowhere else.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.jsonl");
    let gw = Gateway::start_with(
        &files,
        &[("RUST_LOG", "warn")],
        &["--access-log", file.to_str().unwrap()],
    );
    call("GET", &gw.url("/t/Users"), Some("tok"), &[], None);
    call("GET", &gw.url("/nope"), None, &[], None);
    assert!(access_lines(&gw).is_empty());
    let written = std::fs::read_to_string(&file).unwrap();
    let statuses: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(200), json!(404)], "{written}");

    // Off.
    let gw = Gateway::start_with(&files, &[], &["--access-log", "off"]);
    call("GET", &gw.url("/t/Users"), Some("tok"), &[], None);
    assert!(access_lines(&gw).is_empty(), "{}", gw.log());

    // A file that cannot be opened is a start-up error, named.
    let bad = Gateway::try_start_with(&files, &[], &["--access-log", "/nonexistent/dir/a.log"]);
    let Err((_, err)) = bad else {
        panic!("started with an access log it cannot write")
    };
    assert!(err.contains("--access-log /nonexistent/dir/a.log"), "{err}");
}

#[test]
fn no_token_reaches_the_log_at_trace_level() {
    // Pingora logs the raw head of a malformed request at debug and every request head at
    // trace; the IdP's token must not reach the log even with RUST_LOG=trace.
    let rec = Recorder::start();
    let files = [(
        "t.toml",
        policy(
            "t",
            "/t",
            "SUPERSECRET-TOKEN-123",
            &rec.url(),
            "bearer_env = \"UP\"",
            "",
        ),
    )];
    for level in [
        "trace",
        "debug",
        "pingora_core=trace,pingora_proxy=trace,trace",
    ] {
        let gw = Gateway::start_with(
            &files,
            &[("RUST_LOG", level), ("UP", "UPSTREAM-SECRET-456")],
            &[],
        );
        let ok = call(
            "GET",
            &gw.url("/t/Users"),
            Some("SUPERSECRET-TOKEN-123"),
            &[],
            None,
        );
        assert_eq!(ok.status, 200);
        // A malformed head (a space in a header name) that Pingora refuses itself.
        raw(
            gw.port,
            b"GET /t/Users HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer SUPERSECRET-TOKEN-123\r\nBad Header: x\r\n\r\n",
        );
        let log = gw.log();
        assert!(!log.is_empty());
        for secret in ["SUPERSECRET-TOKEN-123", "UPSTREAM-SECRET-456"] {
            assert!(
                !log.contains(secret),
                "RUST_LOG={level}: {secret} in the log:\n{log}"
            );
        }
    }
}

/// Lines gathered for the next batch are written when the gateway stops (SIGTERM), not lost.
#[test]
fn a_stop_writes_the_lines_not_yet_written() {
    let rec = Recorder::start();
    let files = [("t.toml", policy("t", "/t", "tok", &rec.url(), "", ""))];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.jsonl");
    let gw = Gateway::start_with(
        &files,
        &[],
        &[
            "--access-log",
            file.to_str().unwrap(),
            "--access-log-flush-ms",
            "10000",
        ],
    );
    for _ in 0..20 {
        call("GET", &gw.url("/t/Users"), Some("tok"), &[], None);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "",
        "gathered for the next write, 10 s away"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut lines = 0;
    while std::time::Instant::now() < deadline {
        lines = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .count();
        if lines == 20 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        lines, 20,
        "every request's line is in the file after the stop"
    );
}
