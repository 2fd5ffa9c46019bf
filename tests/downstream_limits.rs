//! The IdP side of the connection is bounded: after an answer, a keep-alive connection may idle
//! for `--idle-timeout-s` and is then closed (Pingora's default is forever, so idle sockets
//! could exhaust the gateway without a token).
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Send one request on `s` and read until the end of its (Content-Length) answer.
fn exchange(s: &mut TcpStream, request: &str) -> String {
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before the answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
    }
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let rec = Recorder::start();
    let gw = Gateway::start_with(
        &[("a.toml", policy("a", "/a", "t", &rec.url(), "", ""))],
        &[],
        &["--idle-timeout-s", "1"],
    );
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // No token needed: a 404 is enough to leave a connection behind.
    let req = "GET /nope HTTP/1.1\r\nHost: gw\r\n\r\n";
    let first = exchange(&mut s, req);
    assert!(first.starts_with("HTTP/1.1 404"), "{first}");
    // Still usable right away: keep-alive is on.
    let second = exchange(&mut s, req);
    assert!(second.starts_with("HTTP/1.1 404"), "{second}");
    // Then idle: the gateway closes it after about a second, not never.
    let idle = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the gateway closes the idle connection");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    // The gateway still serves.
    let mut fresh = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    fresh
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let ok = exchange(
        &mut fresh,
        "GET /a/Users HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\n\r\n",
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[test]
fn the_idle_timeout_is_bounded_at_start() {
    for bad in ["0", "3601", "x"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scimgate"))
            .args([
                "serve",
                "--policies",
                ".",
                "--listen",
                "127.0.0.1:1",
                "--idle-timeout-s",
                bad,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--idle-timeout-s"),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_body_that_trickles_is_cut_at_the_whole_body_timeout() {
    // One byte every 200 ms never trips a per-read timeout; the whole-body deadline (700 ms)
    // ends it with a 408 and a closed connection, and nothing reaches the target.
    let rec = Recorder::start();
    let gw = Gateway::start_with(
        &[("a.toml", policy("a", "/a", "t", &rec.url(), "", ""))],
        &[],
        &["--body-timeout-ms", "700"],
    );
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"POST /a/Users HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\n\
          Content-Type: application/scim+json\r\nContent-Length: 1000000\r\n\r\n{",
    )
    .unwrap();
    let started = Instant::now();
    let trickle = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..50 {
                std::thread::sleep(Duration::from_millis(200));
                if w.write_all(b" ").is_err() {
                    return;
                }
            }
        })
    };
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""status":"408""#), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(took < Duration::from_secs(5), "ended after {took:?}");
    let _ = trickle.join();
    assert!(rec.requests().is_empty());
    assert!(gw.metrics().contains(r#"status="408""#));
}

#[test]
fn requests_with_and_without_a_body_share_one_connection_each_framed_by_its_head() {
    // A request that declares no body is not read for one (`BodySource::declared_empty`);
    // one that declares a body is read whole. On one keep-alive connection, in turn: every
    // answer is the one to its own request, and the target gets each body exactly.
    let rec = Recorder::start();
    let gw = Gateway::start_with(
        &[("a.toml", policy("a", "/a", "t", &rec.url(), "", ""))],
        &[],
        &[],
    );
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = "Host: gw\r\nAuthorization: Bearer t";
    let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u1"}"#;
    let steps: Vec<(String, &str)> = vec![
        (format!("GET /a/Users/1 HTTP/1.1\r\n{auth}\r\n\r\n"), "HTTP/1.1 200"),
        (
            format!("GET /a/Users/2 HTTP/1.1\r\n{auth}\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 200",
        ),
        // A POST that declares an empty body is refused, as it was when it was read.
        (
            format!("POST /a/Users HTTP/1.1\r\n{auth}\r\nContent-Type: application/scim+json\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 400",
        ),
        (
            format!(
                "POST /a/Users HTTP/1.1\r\n{auth}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{user}",
                user.len()
            ),
            "HTTP/1.1 200",
        ),
        (format!("DELETE /a/Users/3 HTTP/1.1\r\n{auth}\r\n\r\n"), "HTTP/1.1 200"),
        (
            format!("GET /a/Users/4 HTTP/1.1\r\n{auth}\r\nContent-Length: 2\r\n\r\n{{}}"),
            "HTTP/1.1 200",
        ),
        (format!("GET /a/Users/5 HTTP/1.1\r\n{auth}\r\n\r\n"), "HTTP/1.1 200"),
    ];
    for (req, want) in &steps {
        let got = exchange(&mut s, req);
        assert!(got.starts_with(want), "{req:?}\n-> {got}");
    }
    let seen: Vec<(String, String, Vec<u8>)> = rec
        .requests()
        .into_iter()
        .map(|r| (r.method, r.target, r.body))
        .collect();
    let want: Vec<(String, String, Vec<u8>)> = [
        ("GET", "/Users/1", &b""[..]),
        ("GET", "/Users/2", b""),
        ("POST", "/Users", user.as_bytes()),
        ("DELETE", "/Users/3", b""),
        // A GET's body is read (so the next request starts where it should) and not sent on.
        ("GET", "/Users/4", b""),
        ("GET", "/Users/5", b""),
    ]
    .iter()
    .map(|(m, t, b)| (m.to_string(), format!("{}{t}", rec_base(&rec)), b.to_vec()))
    .collect();
    assert_eq!(seen, want);
}

/// The path of the recorder's base URL (what the gateway puts before the resource).
fn rec_base(rec: &Recorder) -> String {
    let url = rec.url();
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    after_scheme
        .split_once('/')
        .map_or(String::new(), |(_, p)| format!("/{p}"))
}
