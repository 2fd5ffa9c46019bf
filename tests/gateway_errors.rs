//! Every answer the gateway makes itself: status, SCIM error body, and that the target saw
//! nothing. Also what the target does see: its own secret, never the IdP's token, and exact
//! bodies with a Content-Length. A recording upstream stands in for the target here.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use std::time::Duration;

const TOKEN: &str = "idp-token-a";

fn setup_with(extra_upstream: &str, rest: &str) -> (Recorder, Gateway) {
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "tenant-a",
                "/a/scim/v2",
                TOKEN,
                &rec.url(),
                &format!("bearer_env = \"A_SECRET\"\n{extra_upstream}"),
                rest,
            ),
        )],
        &[("A_SECRET", "upstream-secret-a")],
    );
    (rec, gw)
}

fn setup() -> (Recorder, Gateway) {
    setup_with("", "")
}

const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u"}"#;

#[test]
fn the_target_gets_its_own_secret_and_the_exact_request() {
    let (rec, gw) = setup();
    let r = call(
        "POST",
        &gw.url("/a/scim/v2/Users?attributes=userName"),
        Some(TOKEN),
        &[("If-Match", "W/\"3\""), ("Cookie", "session=abc")],
        Some(USER),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({"ok": true}));
    let seen = rec.requests();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.target, "/base/v2/Users?attributes=userName");
    assert_eq!(s.header("authorization"), Some("Bearer upstream-secret-a"));
    assert_eq!(
        s.header("host"),
        Some(format!("127.0.0.1:{}", rec.port).as_str())
    );
    assert_eq!(s.header("if-match"), Some("W/\"3\""));
    assert_eq!(s.header("cookie"), None);
    assert_eq!(
        s.header("content-length"),
        Some(USER.len().to_string().as_str())
    );
    assert_eq!(s.header("transfer-encoding"), None);
    assert_eq!(s.body, USER.as_bytes());
    assert!(
        !gw.log().contains(TOKEN) && !gw.log().contains("upstream-secret-a"),
        "no secret in logs"
    );
}

#[test]
fn a_900_kib_body_arrives_with_a_content_length_not_chunked() {
    let (rec, gw) = setup();
    let body = format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{}"}}"#,
        "y".repeat(900 * 1024)
    );
    let r = call(
        "POST",
        &gw.url("/a/scim/v2/Users"),
        Some(TOKEN),
        &[],
        Some(&body),
    );
    assert_eq!(r.status, 200);
    let s = &rec.requests()[0];
    assert_eq!(
        s.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(s.header("transfer-encoding"), None);
    assert!(s.body == body.as_bytes(), "body arrived intact");
}

#[test]
fn a_chunked_request_body_goes_upstream_with_a_content_length() {
    let (rec, gw) = setup();
    let chunked = format!(
        "POST /a/scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{USER}\r\n0\r\n\r\n",
        USER.len()
    );
    let out = raw(gw.port, chunked.as_bytes());
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let s = &rec.requests()[0];
    assert_eq!(
        s.header("content-length"),
        Some(USER.len().to_string().as_str())
    );
    assert_eq!(s.body, USER.as_bytes());
}

#[test]
fn unknown_route_is_404() {
    let (rec, gw) = setup();
    for path in ["/b/scim/v2/Users", "/", "/a/scim", "/a/scim/v2x/Users"] {
        call("GET", &gw.url(path), Some(TOKEN), &[], None).assert_scim_error(404, None);
    }
    assert!(rec.requests().is_empty());
}

#[test]
fn missing_or_wrong_token_is_401_with_a_bearer_challenge() {
    let (rec, gw) = setup();
    let url = gw.url("/a/scim/v2/Users");
    for (token, hdr) in [
        (None, None),
        (Some("wrong"), None),
        (None, Some("Basic dXNlcjpwdw==")),
        (None, Some(TOKEN)),
    ] {
        let headers: Vec<(&str, &str)> =
            hdr.map(|h| vec![("Authorization", h)]).unwrap_or_default();
        let r = call("GET", &url, token, &headers, None);
        r.assert_scim_error(401, None);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    assert!(rec.requests().is_empty());
}

#[test]
fn oversize_bodies_are_413_declared_or_chunked() {
    let (rec, gw) = setup_with("", "[limits]\nmax_body_bytes = 1000");
    let big = format!(r#"{{"userName":"{}"}}"#, "z".repeat(2000));
    call(
        "POST",
        &gw.url("/a/scim/v2/Users"),
        Some(TOKEN),
        &[],
        Some(&big),
    )
    .assert_scim_error(413, None);
    let chunk = "z".repeat(600);
    let chunked = format!(
        "POST /a/scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    let out = raw(gw.port, chunked.as_bytes());
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(out.contains(ERROR_SCHEMA), "{out}");
    assert!(rec.requests().is_empty());
    // Just under the limit passes.
    let ok = format!(r#"{{"userName":"{}"}}"#, "z".repeat(900));
    assert_eq!(
        call(
            "POST",
            &gw.url("/a/scim/v2/Users"),
            Some(TOKEN),
            &[],
            Some(&ok)
        )
        .status,
        200
    );
}

#[test]
fn non_json_bodies_are_400_invalid_syntax() {
    let (rec, gw) = setup();
    let url = gw.url("/a/scim/v2/Users");
    for body in ["", "not json", "{\"userName\":", "[1,2]", "{} trailing"] {
        call("POST", &url, Some(TOKEN), &[], Some(body))
            .assert_scim_error(400, Some("invalidSyntax"));
    }
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
    call("PATCH", &format!("{url}/1"), Some(TOKEN), &[], Some(&deep))
        .assert_scim_error(400, Some("invalidSyntax"));
    assert!(rec.requests().is_empty());
}

#[test]
fn other_media_types_are_415() {
    let (rec, gw) = setup();
    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ] {
        call(
            "POST",
            &gw.url("/a/scim/v2/Users"),
            Some(TOKEN),
            &[("Content-Type", ct)],
            Some(USER),
        )
        .assert_scim_error(415, None);
    }
    assert!(rec.requests().is_empty());
}

#[test]
fn nothing_leaves_the_base_path() {
    let (rec, gw) = setup();
    for path in [
        "/a/scim/v2/../../etc/passwd",
        "/a/scim/v2/%2e%2e/%2e%2e/admin",
        "/a/scim/v2/Users/..%2f..%2fadmin",
        "/a/scim/v2/Users/%2E%2E",
        "/a/scim/v2/.%2E/x",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n");
        let out = raw(gw.port, req.as_bytes());
        assert!(
            out.starts_with("HTTP/1.1 400") || out.starts_with("HTTP/1.1 404"),
            "{path}: {out}"
        );
        assert!(out.contains(ERROR_SCHEMA), "{path}: {out}");
    }
    assert!(rec.requests().is_empty(), "{:?}", rec.requests());
}

#[test]
fn heads_past_the_parsers_header_limit_are_refused_and_those_within_it_served() {
    // Pingora's HTTP/1 parser reads up to 256 headers into an array (left uninitialised by
    // vendor/scimgate.patch): 200 are served, 300 are refused, on either side.
    let (rec, gw) = setup();
    let lines = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    for (n, served) in [(200, true), (300, false)] {
        let req = format!(
            "GET /a/scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n{}Connection: close\r\n\r\n",
            lines(n)
        );
        let out = raw(gw.port, req.as_bytes());
        if served {
            assert!(out.starts_with("HTTP/1.1 200"), "{n} headers: {out}");
        } else {
            assert!(out.starts_with("HTTP/1.1 400"), "{n} headers: {out}");
            assert!(out.contains(ERROR_SCHEMA), "{n} headers: {out}");
        }
    }
    assert_eq!(
        rec.requests().len(),
        1,
        "only the request within the limit went on"
    );
    let headers = |n: usize| {
        (0..n)
            .map(|i| (format!("X-H{i}"), "v".to_owned()))
            .collect()
    };
    rec.set(Answer::Json(200, headers(200), "{}".into()));
    let ok = call("GET", &gw.url("/a/scim/v2/Users"), Some(TOKEN), &[], None);
    assert_eq!(ok.status, 200, "{}", ok.body);
    rec.set(Answer::Json(200, headers(300), "{}".into()));
    call("GET", &gw.url("/a/scim/v2/Users"), Some(TOKEN), &[], None).assert_scim_error(502, None);
}

#[test]
fn refused_upstream_is_502() {
    let port = free_port();
    let gw = Gateway::start(
        &[(
            "a.toml",
            policy(
                "a",
                "/a",
                TOKEN,
                &format!("http://127.0.0.1:{port}/v2"),
                "",
                "",
            ),
        )],
        &[],
    );
    call("GET", &gw.url("/a/Users"), Some(TOKEN), &[], None).assert_scim_error(502, None);
    assert!(
        gw.metrics()
            .contains(r#"scimgate_upstream_errors_total{kind="connect",tenant="a"} 1"#),
        "{}",
        gw.metrics()
    );
}

#[test]
fn slow_upstream_is_504_within_the_timeout() {
    let (rec, gw) = setup_with("timeout_ms = 300", "");
    rec.set(Answer::Delay(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    call("GET", &gw.url("/a/scim/v2/Users"), Some(TOKEN), &[], None).assert_scim_error(504, None);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered before the target did"
    );
    assert!(gw
        .metrics()
        .contains(r#"scimgate_upstream_errors_total{kind="timeout",tenant="tenant-a"} 1"#));
}

#[test]
fn broken_upstream_answers_are_502() {
    let (rec, gw) = setup();
    rec.set(Answer::Garbage);
    call("GET", &gw.url("/a/scim/v2/Users"), Some(TOKEN), &[], None).assert_scim_error(502, None);
    rec.set(Answer::Hangup);
    call("GET", &gw.url("/a/scim/v2/Users"), Some(TOKEN), &[], None).assert_scim_error(502, None);
    assert!(
        gw.metrics().contains(
            r#"scimgate_upstream_errors_total{kind="invalid_response",tenant="tenant-a"}"#
        ),
        "{}",
        gw.metrics()
    );
}

#[test]
fn upstream_5xx_passes_through_and_is_counted() {
    let (rec, gw) = setup();
    rec.set(Answer::Json(
        503,
        vec![("Retry-After".into(), "7".into())],
        r#"{"detail":"busy"}"#.into(),
    ));
    let r = call("GET", &gw.url("/a/scim/v2/Users"), Some(TOKEN), &[], None);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.json()["detail"], "busy");
    assert!(gw
        .metrics()
        .contains(r#"scimgate_upstream_errors_total{kind="status_5xx",tenant="tenant-a"} 1"#));
}

#[test]
fn location_headers_point_at_the_gateway() {
    let (rec, gw) = setup_with("", "");
    let loc = format!("http://127.0.0.1:{}/base/v2/Users/42", rec.port);
    rec.set(Answer::Json(
        201,
        vec![("Location".into(), loc.clone())],
        format!(r#"{{"id":"42","meta":{{"location":"{loc}"}}}}"#),
    ));
    let r = call(
        "POST",
        &gw.url("/a/scim/v2/Users"),
        Some(TOKEN),
        &[],
        Some(USER),
    );
    let want = gw.url("/a/scim/v2/Users/42");
    assert_eq!(r.header("location"), Some(want.as_str()));
    assert_eq!(r.json()["meta"]["location"], want.as_str());
}

#[test]
fn two_tenants_never_reach_each_other() {
    let (ra, rb) = (Recorder::start(), Recorder::start());
    let gw = Gateway::start(
        &[
            (
                "a.toml",
                policy("tenant-a", "/a/scim/v2", "token-a", &ra.url(), "", ""),
            ),
            (
                "b.toml",
                policy("tenant-b", "/b/scim/v2", "token-b", &rb.url(), "", ""),
            ),
        ],
        &[],
    );
    call(
        "GET",
        &gw.url("/a/scim/v2/Users"),
        Some("token-b"),
        &[],
        None,
    )
    .assert_scim_error(401, None);
    call(
        "GET",
        &gw.url("/b/scim/v2/Users"),
        Some("token-a"),
        &[],
        None,
    )
    .assert_scim_error(401, None);
    // Climbing from one route into the other does not work either.
    let req = "GET /a/scim/v2/../../b/scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-a\r\nConnection: close\r\n\r\n";
    assert!(!raw(gw.port, req.as_bytes()).starts_with("HTTP/1.1 200"));
    assert!(ra.requests().is_empty() && rb.requests().is_empty());
    assert_eq!(
        call(
            "GET",
            &gw.url("/a/scim/v2/Users"),
            Some("token-a"),
            &[],
            None
        )
        .status,
        200
    );
    assert_eq!(
        call(
            "GET",
            &gw.url("/b/scim/v2/Groups"),
            Some("token-b"),
            &[],
            None
        )
        .status,
        200
    );
    assert_eq!(ra.requests().len(), 1);
    assert_eq!(ra.requests()[0].target, "/base/v2/Users");
    assert_eq!(rb.requests().len(), 1);
    assert_eq!(rb.requests()[0].target, "/base/v2/Groups");
}

#[test]
fn the_longest_route_wins() {
    let (outer, inner) = (Recorder::start(), Recorder::start());
    let gw = Gateway::start(
        &[
            (
                "outer.toml",
                policy("outer", "/acme", "t", &outer.url(), "", ""),
            ),
            (
                "inner.toml",
                policy("inner", "/acme/eu", "t", &inner.url(), "", ""),
            ),
        ],
        &[],
    );
    assert_eq!(
        call("GET", &gw.url("/acme/eu/Users"), Some("t"), &[], None).status,
        200
    );
    assert_eq!(
        call("GET", &gw.url("/acme/Users"), Some("t"), &[], None).status,
        200
    );
    assert_eq!(inner.requests().len(), 1);
    assert_eq!(outer.requests().len(), 1);
}

#[test]
fn bulk_operation_paths_stay_inside_the_base_path() {
    let (rec, gw) = setup();
    for path in [
        "/../../admin/Users",
        "/Users/%2e%2e/%2e%2e/x",
        "Users",
        "/Users?x=1",
    ] {
        let bulk =
            serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "DELETE", "path": path}]})
            .to_string();
        call(
            "POST",
            &gw.url("/a/scim/v2/Bulk"),
            Some(TOKEN),
            &[],
            Some(&bulk),
        )
        .assert_scim_error(400, Some("invalidPath"));
    }
    assert!(rec.requests().is_empty());
}

#[test]
fn non_scim_methods_are_405_and_go_nowhere() {
    let (rec, gw) = setup();
    for m in ["TRACE", "OPTIONS", "PROPFIND", "FOO"] {
        let req = format!("{m} /a/scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n");
        let out = raw(gw.port, req.as_bytes());
        assert!(out.starts_with("HTTP/1.1 405"), "{m}: {out}");
        assert!(
            out.to_ascii_lowercase()
                .contains("allow: get, head, post, put, patch, delete"),
            "{out}"
        );
        assert!(out.contains(ERROR_SCHEMA), "{out}");
    }
    assert!(rec.requests().is_empty());
}
