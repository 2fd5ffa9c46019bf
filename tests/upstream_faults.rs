//! A target that misbehaves on purpose, over raw TCP: 1xx answers before the final one, 101,
//! answers over `upstream.max_response_bytes` (up to 50 MiB), a pooled connection closed after
//! the request was read, redirects, garbage for a tenant that must translate the answer, a
//! target that never answers or trickles its answer past `timeout_ms`, and a reset in the middle
//! of a body. Each test asserts what the IdP gets (status, SCIM error body), within what bound,
//! what `scimgate_upstream_errors_total` counted, and that the gateway still serves.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "faults-token";
const OK_BODY: &str = r#"{"id":"ok","userName":"ok"}"#;

/// What the faulty target does with one request it has read whole.
enum Act {
    /// Write each part (50 ms apart, so the gateway reads them separately), keep the connection.
    Send(Vec<Vec<u8>>),
    /// Say nothing and close the connection.
    Close,
    /// Hand the connection over (the request read whole); it closes when the function returns.
    Raw(Box<dyn FnOnce(TcpStream) + Send>),
}

/// One request as the faulty target read it: on which connection, its number there (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    conn: usize,
    n: usize,
    method: String,
    target: String,
}

type Script = dyn Fn(usize, &str, &str) -> Act + Send + Sync;

/// A raw-TCP target that reads each request whole and then follows its script, which is given
/// the request's number on its connection, its method and its target. `GET …/Users/ok` is always
/// answered 200 with [`OK_BODY`] (the "still serves" check).
struct Faulty {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Faulty {
    fn start(script: impl Fn(usize, &str, &str) -> Act + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let conns = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let conn = conns.fetch_add(1, Ordering::SeqCst) + 1;
                let (s, script) = (s.clone(), script.clone());
                std::thread::spawn(move || serve(stream, conn, s, script));
            }
        });
        Faulty { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/base/v2", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, conn: usize, seen: Arc<Mutex<Vec<Seen>>>, script: Arc<Script>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    for n in 1.. {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().push(Seen {
            conn,
            n,
            method: method.clone(),
            target: target.clone(),
        });
        let act = if method == "GET" && target.ends_with("/Users/ok") {
            Act::Send(vec![answer("200 OK", &[], OK_BODY.as_bytes())])
        } else {
            script(n, &method, &target)
        };
        match act {
            Act::Close => return,
            Act::Raw(f) => return f(out),
            Act::Send(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    if out.write_all(p).and_then(|_| out.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// A whole HTTP/1.1 answer with a Content-Length (and a JSON content type unless given).
fn answer(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/scim+json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

fn gateway(up: &Faulty, extra_upstream: &str, rest: &str) -> Gateway {
    Gateway::start(
        &[(
            "t.toml",
            policy("t", "/t/scim/v2", TOKEN, &up.url(), extra_upstream, rest),
        )],
        &[],
    )
}

/// A gateway with one worker thread: idle connections to a target are kept per thread, so
/// only then does a second request surely go out on the first one's connection.
fn gateway_one_thread(up: &Faulty) -> Gateway {
    Gateway::start_with(
        &[(
            "t.toml",
            policy("t", "/t/scim/v2", TOKEN, &up.url(), "", ""),
        )],
        &[],
        &["--threads", "1"],
    )
}

fn get(gw: &Gateway, path: &str) -> Resp {
    call("GET", &gw.url(path), Some(TOKEN), &[], None)
}

/// The gateway still answers a plain request after the fault.
fn still_serves(gw: &Gateway) {
    let r = get(gw, "/t/scim/v2/Users/ok");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], "ok");
}

fn invalid_responses(gw: &Gateway) -> String {
    gw.metrics()
        .lines()
        .find(|l| {
            l.starts_with(r#"scimgate_upstream_errors_total{kind="invalid_response",tenant="t"}"#)
        })
        .unwrap_or("none")
        .to_string()
}

const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u"}"#;

/// Well before the default `timeout_ms` (30 s): the fault ended the exchange, not the clock.
const AT_ONCE: Duration = Duration::from_secs(5);

/// Every kind of `scimgate_upstream_errors_total` at 0 for tenant `t`.
fn no_upstream_errors(gw: &Gateway) {
    for kind in [
        "connect",
        "timeout",
        "status_5xx",
        "invalid_response",
        "throttled",
    ] {
        assert_eq!(upstream_errors(gw, kind), 0, "{kind}: {}", gw.metrics());
    }
}

#[test]
fn early_hints_then_200_reach_the_idp_as_the_200() {
    let up = Faulty::start(|_, _, _| {
        Act::Send(vec![
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n".to_vec(),
            answer("200 OK", &[], br#"{"id":"7","userName":"seven"}"#),
        ])
    });
    let gw = gateway(&up, "", "");
    let r = get(&gw, "/t/scim/v2/Users/7");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({"id": "7", "userName": "seven"})
    );
    // 102 and 103 in the same packet as the final answer.
    let up2 = Faulty::start(|_, _, _| {
        let mut all = b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n".to_vec();
        all.extend(answer("200 OK", &[], br#"{"id":"8"}"#));
        Act::Send(vec![all])
    });
    let gw2 = gateway(&up2, "", "");
    let r = get(&gw2, "/t/scim/v2/Users/8");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], "8");
    assert!(!gw.log().contains("panicked") && !gw2.log().contains("panicked"));
    no_upstream_errors(&gw);
    no_upstream_errors(&gw2);
    still_serves(&gw);
    still_serves(&gw2);
}

#[test]
fn continue_then_201_reach_the_idp_as_the_201() {
    let up = Faulty::start(|_, _, _| {
        Act::Send(vec![
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
            answer("201 Created", &[], br#"{"id":"new","userName":"u"}"#),
        ])
    });
    let gw = gateway(&up, "", "");
    let r = call(
        "POST",
        &gw.url("/t/scim/v2/Users"),
        Some(TOKEN),
        &[],
        Some(USER),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["id"], "new");
    assert_eq!(up.seen().iter().filter(|s| s.method == "POST").count(), 1);
    no_upstream_errors(&gw);
    still_serves(&gw);
}

#[test]
fn switching_protocols_or_endless_1xx_is_a_502() {
    let up = Faulty::start(|_, _, target| {
        if target.ends_with("/Users/endless") {
            let mut hints = Vec::new();
            for _ in 0..20 {
                hints.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\n\r\n");
            }
            return Act::Send(vec![hints]);
        }
        Act::Send(vec![
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                .to_vec(),
            b"not http any more".to_vec(),
        ])
    });
    let gw = gateway(&up, "", "");
    let started = std::time::Instant::now();
    let r = get(&gw, "/t/scim/v2/Users/1");
    r.assert_scim_error(502, None);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("101"),
        "{}",
        r.body
    );
    let r = get(&gw, "/t/scim/v2/Users/endless");
    r.assert_scim_error(502, None);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("1xx"),
        "{}",
        r.body
    );
    assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
    assert!(!gw.log().contains("panicked"));
    assert!(
        invalid_responses(&gw).ends_with(" 2"),
        "{}",
        invalid_responses(&gw)
    );
    still_serves(&gw);
}

#[test]
fn an_answer_over_max_response_bytes_is_a_502_declared_or_not() {
    let big = format!(r#"{{"id":"big","x":"{}"}}"#, "a".repeat(4096));
    let up = Faulty::start(move |_, _, target| {
        if target.ends_with("/Users/declared") {
            return Act::Send(vec![answer("200 OK", &[], big.as_bytes())]);
        }
        // Chunked: no length to refuse up front, so the count while reading must stop it.
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..8 {
            out.extend_from_slice(format!("200\r\n{}\r\n", "b".repeat(512)).as_bytes());
        }
        out.extend_from_slice(b"0\r\n\r\n");
        Act::Send(vec![out])
    });
    let gw = gateway(&up, "max_response_bytes = 1024", "");
    for path in ["/t/scim/v2/Users/declared", "/t/scim/v2/Users/chunked"] {
        let started = std::time::Instant::now();
        let r = get(&gw, path);
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        r.assert_scim_error(502, None);
        let detail = r.json()["detail"].as_str().unwrap().to_string();
        assert!(detail.contains("larger than 1024 bytes"), "{detail}");
    }
    assert!(
        invalid_responses(&gw).ends_with(" 2"),
        "{}",
        invalid_responses(&gw)
    );
    still_serves(&gw);
}

/// The target answers the first request on a connection and reads the second whole, then
/// closes: the gateway's pooled connection died after the request went out.
fn drops_the_second(n: usize, _: &str, _: &str) -> Act {
    if n == 1 {
        Act::Send(vec![answer("200 OK", &[], br#"{"id":"1"}"#)])
    } else {
        Act::Close
    }
}

#[test]
fn a_post_on_a_reused_connection_that_dies_is_never_sent_twice() {
    let up = Faulty::start(drops_the_second);
    let gw = gateway_one_thread(&up);
    assert_eq!(get(&gw, "/t/scim/v2/Users/1").status, 200);
    let r = call(
        "POST",
        &gw.url("/t/scim/v2/Users"),
        Some(TOKEN),
        &[],
        Some(USER),
    );
    r.assert_scim_error(502, None);
    let posts: Vec<Seen> = up
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "the target saw the POST once: {posts:?}");
    assert_eq!(
        (posts[0].conn, posts[0].n),
        (1, 2),
        "on the reused connection"
    );
    // A PATCH is not re-sent either.
    assert_eq!(get(&gw, "/t/scim/v2/Users/2").status, 200);
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}"#;
    let r = call(
        "PATCH",
        &gw.url("/t/scim/v2/Users/2"),
        Some(TOKEN),
        &[],
        Some(patch),
    );
    r.assert_scim_error(502, None);
    let patches = up.seen().iter().filter(|s| s.method == "PATCH").count();
    assert_eq!(patches, 1);
    // Counted as what the target did to the exchange (closed it unanswered), not as a connect
    // failure: only a GET that finds a second dead connection counts `connect`.
    assert_eq!(
        upstream_errors(&gw, "invalid_response"),
        2,
        "{}",
        gw.metrics()
    );
    assert!(!gw.log().contains("panicked"));
    still_serves(&gw);
}

#[test]
fn a_get_on_a_reused_connection_that_dies_is_sent_again_and_succeeds() {
    let up = Faulty::start(drops_the_second);
    let gw = gateway_one_thread(&up);
    assert_eq!(get(&gw, "/t/scim/v2/Users/1").status, 200);
    let r = get(&gw, "/t/scim/v2/Users/1");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], "1");
    let gets: Vec<(usize, usize)> = up.seen().iter().map(|s| (s.conn, s.n)).collect();
    assert_eq!(
        gets,
        vec![(1, 1), (1, 2), (2, 1)],
        "retried on a fresh connection"
    );
    no_upstream_errors(&gw);
    still_serves(&gw);
}

#[test]
fn a_targets_headers_reach_the_idp_and_its_connection_close_is_obeyed() {
    // The answer's headers are moved out of the upstream session after its keep-alive is
    // decided (which reads them): each answer still carries its own ETag, the connection is
    // reused while the target keeps it alive, and not after it says `Connection: close`.
    let up = Faulty::start(|n, _, target| {
        let id = target.rsplit('/').next().unwrap_or_default().to_string();
        let etag = format!("W/\"{id}\"");
        let body = format!(r#"{{"id":"{id}","userName":"u{id}"}}"#);
        let mut headers = vec![
            ("ETag", etag.as_str()),
            ("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT"),
        ];
        if n == 2 {
            headers.push(("Connection", "close"));
        }
        Act::Send(vec![answer("200 OK", &headers, body.as_bytes())])
    });
    let gw = gateway_one_thread(&up);
    for id in ["1", "2", "3", "4"] {
        let r = get(&gw, &format!("/t/scim/v2/Users/{id}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["id"], id);
        assert_eq!(
            r.header("etag"),
            Some(format!("W/\"{id}\"").as_str()),
            "{:?}",
            r.headers
        );
        assert_eq!(
            r.header("last-modified"),
            Some("Tue, 01 Dec 2026 10:00:00 GMT")
        );
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
    }
    let on: Vec<(usize, usize)> = up.seen().iter().map(|s| (s.conn, s.n)).collect();
    assert_eq!(
        on,
        vec![(1, 1), (1, 2), (2, 1), (2, 2)],
        "kept alive until the target's Connection: close"
    );
    no_upstream_errors(&gw);
}

#[test]
fn redirects_are_rebased_under_the_target_and_refused_elsewhere() {
    let port = Arc::new(Mutex::new(0u16));
    let p = port.clone();
    let up = Faulty::start(move |_, _, target| {
        let own = format!("http://127.0.0.1:{}/base/v2/Users/9", p.lock().unwrap());
        let (status, location) = match target.rsplit('/').next().unwrap() {
            "away" => (
                "302 Found",
                "https://evil.example/base/v2/Users/9".to_string(),
            ),
            "netpath" => (
                "301 Moved Permanently",
                "//evil.example/base/v2".to_string(),
            ),
            "outside" => ("302 Found", "/elsewhere/Users/9".to_string()),
            "absolute" => ("302 Found", own),
            _ => ("307 Temporary Redirect", "/base/v2/Users/9?x=1".to_string()),
        };
        Act::Send(vec![answer(status, &[("Location", &location)], b"")])
    });
    *port.lock().unwrap() = up.port;
    let gw = gateway(&up, "", "");
    for leaf in ["away", "netpath", "outside"] {
        let started = std::time::Instant::now();
        let r = get(&gw, &format!("/t/scim/v2/Users/{leaf}"));
        assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
        r.assert_scim_error(502, None);
        assert!(!r.body.contains("evil.example"), "{}", r.body);
        assert_eq!(r.header("location"), None);
    }
    let r = get(&gw, "/t/scim/v2/Users/absolute");
    assert_eq!(r.status, 302, "{}", r.body);
    let want = gw.url("/t/scim/v2/Users/9");
    assert_eq!(r.header("location"), Some(want.as_str()));
    let r = get(&gw, "/t/scim/v2/Users/relative");
    assert_eq!(r.status, 307, "{}", r.body);
    let want = gw.url("/t/scim/v2/Users/9?x=1");
    assert_eq!(r.header("location"), Some(want.as_str()));
    assert!(invalid_responses(&gw).ends_with(" 3"));
    assert!(!gw.log().contains("panicked"));
    still_serves(&gw);
}

#[test]
fn garbage_for_a_tenant_that_maps_answers_is_a_502() {
    let up = Faulty::start(|_, _, _| {
        Act::Send(vec![answer(
            "200 OK",
            &[("Content-Type", "text/html")],
            b"<html>maintenance</html>",
        )])
    });
    let map = "[[map]]\nfrom = \"nickName\"\nto = \"displayName\"\n";
    let gw = Gateway::start(
        &[
            (
                "t.toml",
                policy("t", "/t/scim/v2", TOKEN, &up.url(), "", map),
            ),
            (
                "p.toml",
                policy("p", "/p/scim/v2", TOKEN, &up.url(), "", ""),
            ),
        ],
        &[],
    );
    let started = std::time::Instant::now();
    let r = get(&gw, "/t/scim/v2/Users/1");
    assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
    r.assert_scim_error(502, None);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("not JSON"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("maintenance"));
    assert!(
        invalid_responses(&gw).ends_with(" 1"),
        "{}",
        invalid_responses(&gw)
    );
    // A tenant that translates nothing passes the target's bytes as they are.
    let r = get(&gw, "/p/scim/v2/Users/1");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "<html>maintenance</html>");
    assert!(!gw.log().contains("panicked"));
    still_serves(&gw);
}

/// `scimgate_upstream_errors_total{kind,tenant="t"}`, 0 while the series does not exist.
fn upstream_errors(gw: &Gateway, kind: &str) -> u64 {
    let series = format!(r#"scimgate_upstream_errors_total{{kind="{kind}",tenant="t"}} "#);
    gw.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// A memory figure of a process from /proc/PID/status, in KiB: `VmRSS` (resident now),
/// `VmHWM` (the most it was resident).
fn mem_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Write `first`, then `each` every `every`, `times` times, or until the gateway hangs up;
/// true when it hung up (a write failed).
fn drip(s: &mut TcpStream, first: &[u8], each: &[u8], every: Duration, times: usize) -> bool {
    if s.write_all(first).and_then(|_| s.flush()).is_err() {
        return true;
    }
    for _ in 0..times {
        std::thread::sleep(every);
        if s.write_all(each).and_then(|_| s.flush()).is_err() {
            return true;
        }
    }
    false
}

/// Write `head`, then up to `total` body bytes in 64 KiB blocks (each framed as a chunk when
/// `chunked`); how many body bytes the kernel took before the gateway hung up.
fn flood(s: &mut TcpStream, head: &[u8], total: usize, chunked: bool) -> usize {
    let block = vec![b'a'; 64 << 10];
    let mut sent = 0;
    if s.write_all(head).is_err() {
        return 0;
    }
    while sent < total {
        let r = if chunked {
            s.write_all(format!("{:x}\r\n", block.len()).as_bytes())
                .and_then(|_| s.write_all(&block))
                .and_then(|_| s.write_all(b"\r\n"))
        } else {
            s.write_all(&block)
        };
        if r.is_err() {
            return sent;
        }
        sent += block.len();
    }
    if chunked {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    sent
}

/// Close with SO_LINGER 0: the kernel sends RST, not FIN.
fn reset(s: TcpStream) {
    tokio::net::TcpSocket::from_std_stream(s)
        .set_zero_linger()
        .unwrap();
}

/// Wait (at most `within`) until `what` holds.
fn eventually(within: Duration, mut what: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + within;
    while std::time::Instant::now() < until {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    what()
}

const TIMEOUT_MS: u64 = 1000;

#[test]
fn a_target_that_never_answers_or_trickles_past_timeout_ms_is_a_504_within_it() {
    // Each fault holds its connection up to 20 s, or until the gateway hangs up (noted here).
    let hung_up = Arc::new(Mutex::new(Vec::<String>::new()));
    let h = hung_up.clone();
    let up = Faulty::start(move |_, _, target| {
        let leaf = target.rsplit('/').next().unwrap().to_string();
        let h = h.clone();
        let every = Duration::from_millis(100);
        Act::Raw(Box::new(move |mut s| {
            let ended = match leaf.as_str() {
                // Accepts, reads the request, says nothing: the next read ends at the close.
                "silent" => {
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    matches!(s.read(&mut [0u8; 1]), Ok(0) | Err(_))
                }
                // The status line, then a header one byte every 100 ms: the head never ends.
                "head" => drip(&mut s, b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a", every, 200),
                // A whole head declaring 1000 bytes, then one byte every 100 ms.
                "body" => drip(
                    &mut s,
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n{",
                    b" ",
                    every,
                    200,
                ),
                // Chunked, one one-byte chunk every 100 ms.
                _ => drip(
                    &mut s,
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
                    b"1\r\n \r\n",
                    every,
                    200,
                ),
            };
            if ended {
                h.lock().unwrap().push(leaf);
            }
        }))
    });
    let gw = gateway(&up, &format!("timeout_ms = {TIMEOUT_MS}"), "");
    let bound = Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(2);
    let leaves = ["silent", "head", "body", "chunked"];
    for leaf in leaves {
        let started = std::time::Instant::now();
        let r = get(&gw, &format!("/t/scim/v2/Users/{leaf}"));
        let took = started.elapsed();
        r.assert_scim_error(504, None);
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("within {TIMEOUT_MS} ms")),
            "{leaf}: {}",
            r.body
        );
        assert!(
            took >= Duration::from_millis(TIMEOUT_MS - 100) && took < bound,
            "{leaf}: answered after {took:?}, want timeout_ms ({TIMEOUT_MS} ms) .. {bound:?}"
        );
        // The gateway let go of the target's connection too, within the same bound.
        assert!(
            eventually(bound - took + Duration::from_millis(500), || {
                hung_up.lock().unwrap().iter().any(|l| l == leaf)
            }),
            "{leaf}: the gateway still holds the target's connection"
        );
    }
    // Sent once each: a timeout is never retried.
    let targets: Vec<String> = up.seen().into_iter().map(|s| s.target).collect();
    for leaf in leaves {
        let times = targets.iter().filter(|t| t.ends_with(leaf)).count();
        assert_eq!(times, 1, "{leaf}: {targets:?}");
    }
    assert_eq!(upstream_errors(&gw, "timeout"), 4, "{}", gw.metrics());
    assert_eq!(upstream_errors(&gw, "invalid_response"), 0);
    assert!(!gw.log().contains("panicked"));
    still_serves(&gw);
}

#[test]
fn a_reset_in_the_middle_of_a_body_is_a_502_at_once() {
    let up = Faulty::start(|_, method, target| {
        let chunked = target.ends_with("/chunked");
        let method = method.to_string();
        Act::Raw(Box::new(move |mut s| {
            let head = if chunked {
                "HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n"
            } else if method == "POST" {
                "HTTP/1.1 201 Created\r\nContent-Type: application/scim+json\r\nContent-Length: 10000\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nContent-Length: 10000\r\n\r\n"
            };
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&[b' '; 100]).unwrap();
            s.flush().unwrap();
            // Let the gateway read the 100 bytes first, then RST.
            std::thread::sleep(Duration::from_millis(100));
            reset(s);
        }))
    });
    // timeout_ms is the default 30 s: the reset must end the exchange, not the clock.
    let gw = gateway(&up, "", "");
    for (method, path, body) in [
        ("GET", "/t/scim/v2/Users/length", None),
        ("GET", "/t/scim/v2/Users/chunked", None),
        ("POST", "/t/scim/v2/Users", Some(USER)),
    ] {
        let started = std::time::Instant::now();
        let r = call(method, &gw.url(path), Some(TOKEN), &[], body);
        let took = started.elapsed();
        r.assert_scim_error(502, None);
        assert!(took < AT_ONCE, "{method} {path}: answered after {took:?}");
        assert!(!r.body.contains("   "), "no part of the body passed on");
    }
    // The POST, whose answer was cut, was not sent again; the GETs were not either.
    let seen = up.seen();
    assert_eq!(seen.iter().filter(|s| s.method == "POST").count(), 1);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        upstream_errors(&gw, "invalid_response"),
        3,
        "{}",
        gw.metrics()
    );
    assert!(!gw.log().contains("panicked"));
    still_serves(&gw);
}

#[test]
fn a_50_mib_answer_is_a_502_quickly_and_the_gateway_stays_small() {
    const FIFTY_MIB: usize = 50 << 20;
    // Body bytes the kernel took from the target before the gateway hung up, per request.
    let took_in = Arc::new(Mutex::new(Vec::<(String, usize)>::new()));
    let t = took_in.clone();
    let up = Faulty::start(move |_, _, target| {
        let chunked = target.ends_with("/chunked");
        let t = t.clone();
        let leaf = target.rsplit('/').next().unwrap().to_string();
        Act::Raw(Box::new(move |mut s| {
            let head = if chunked {
                "HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nContent-Length: {FIFTY_MIB}\r\n\r\n")
            };
            let sent = flood(&mut s, head.as_bytes(), FIFTY_MIB, chunked);
            t.lock().unwrap().push((leaf, sent));
        }))
    });
    // No max_response_bytes: the default, 8 MiB. mimalloc purges freed pages only after a
    // delay and on later allocator calls, so by default RSS also counts its cache (up to
    // ~120 MB here after a few 8 MiB answers, flat after that); without the delay RSS and its
    // high-water mark show what the gateway itself held.
    let gw = Gateway::start(
        &[(
            "t.toml",
            policy("t", "/t/scim/v2", TOKEN, &up.url(), "", ""),
        )],
        &[("MIMALLOC_PURGE_DELAY", "0")],
    );
    let before = mem_kib(gw.pid(), "VmRSS");
    for round in 0..3 {
        for leaf in ["declared", "chunked"] {
            let started = std::time::Instant::now();
            let r = get(&gw, &format!("/t/scim/v2/Users/{leaf}"));
            let took = started.elapsed();
            r.assert_scim_error(502, None);
            let detail = r.json()["detail"].as_str().unwrap().to_string();
            assert!(
                detail.contains("larger than 8388608 bytes"),
                "{leaf}: {detail}"
            );
            assert!(
                took < AT_ONCE,
                "{leaf} (round {round}): answered after {took:?}"
            );
        }
    }
    // The gateway stopped reading: no target got its 50 MiB into the socket.
    assert!(
        eventually(Duration::from_secs(5), || took_in.lock().unwrap().len()
            == 6),
        "{:?}",
        took_in.lock().unwrap()
    );
    for (leaf, sent) in took_in.lock().unwrap().iter() {
        assert!(
            *sent < FIFTY_MIB,
            "{leaf}: the target delivered {sent} bytes"
        );
    }
    // Buffering one 50 MiB answer (64 MiB of capacity, grown by doubling) would pass 100 MB.
    let (after, peak) = (mem_kib(gw.pid(), "VmRSS"), mem_kib(gw.pid(), "VmHWM"));
    assert!(
        after < 100 << 10 && peak < 100 << 10,
        "gateway RSS {after} KiB (peak {peak} KiB) after six 50 MiB answers (was {before} KiB)"
    );
    assert_eq!(
        upstream_errors(&gw, "invalid_response"),
        6,
        "{}",
        gw.metrics()
    );
    assert_eq!(upstream_errors(&gw, "timeout"), 0);
    assert!(!gw.log().contains("panicked"));
    still_serves(&gw);
}

#[test]
fn with_work_stealing_the_gateway_serves_and_reuses_the_same() {
    let up = Faulty::start(drops_the_second);
    let gw = Gateway::start_with(
        &[(
            "t.toml",
            policy("t", "/t/scim/v2", TOKEN, &up.url(), "", ""),
        )],
        &[],
        &["--threads", "1", "--work-stealing"],
    );
    assert_eq!(get(&gw, "/t/scim/v2/Users/1").status, 200);
    let r = get(&gw, "/t/scim/v2/Users/1");
    assert_eq!(r.status, 200, "{}", r.body);
    let gets: Vec<(usize, usize)> = up.seen().iter().map(|s| (s.conn, s.n)).collect();
    assert_eq!(
        gets,
        vec![(1, 1), (1, 2), (2, 1)],
        "retried on a fresh connection"
    );
    still_serves(&gw);
}

/// Two idle connections, both dead by the time they are used: the retry goes out on a new
/// connection, not on the other dead one.
#[test]
fn the_retry_after_a_dead_pooled_connection_takes_a_new_one() {
    let up = Faulty::start(|n: usize, _: &str, _: &str| {
        if n == 1 {
            // In two parts, 50 ms apart: two requests at once need two connections.
            let whole = answer("200 OK", &[], br#"{"id":"1"}"#);
            let (head, body) = whole.split_at(whole.len() - 3);
            Act::Send(vec![head.to_vec(), body.to_vec()])
        } else {
            Act::Close
        }
    });
    let gw = gateway_one_thread(&up);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| get(&gw, "/t/scim/v2/Users/1").status);
        let b = s.spawn(|| get(&gw, "/t/scim/v2/Users/1").status);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a, b), (200, 200));
    let seen: Vec<(usize, usize)> = up.seen().iter().map(|s| (s.conn, s.n)).collect();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|&(_, n)| n == 1),
        "two connections: {seen:?}"
    );
    let r = get(&gw, "/t/scim/v2/Users/1");
    assert_eq!(r.status, 200, "{}", r.body);
    let after: Vec<(usize, usize)> = up.seen().iter().skip(2).map(|s| (s.conn, s.n)).collect();
    assert_eq!(
        after.len(),
        2,
        "one dead idle connection, then a new one: {after:?}"
    );
    assert_eq!(after[0].1, 2, "first on an idle connection: {after:?}");
    assert_eq!(after[1], (3, 1), "then on a new connection: {after:?}");
    still_serves(&gw);
}

/// A write's head and body leave in one `send` (one segment, one wake-up of the target): the
/// target's first read of each connection's request holds all of it. Two writes show up as a
/// first read of the head alone, which this fails on.
#[test]
fn a_request_with_a_body_reaches_the_target_in_one_piece() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let firsts: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
    let f = firsts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let f = f.clone();
            std::thread::spawn(move || {
                let mut s = stream;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    // The first read of each request, taken as soon as anything arrives.
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    f.lock().unwrap().push(buf[..n].to_vec());
                    let body = br#"{"id":"u1","userName":"one"}"#;
                    let head = format!(
                        "HTTP/1.1 201 Created\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if s.write_all(head.as_bytes())
                        .and_then(|()| s.write_all(body))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let gw = Gateway::start_with(
        &[(
            "t.toml",
            policy(
                "t",
                "/t/scim/v2",
                TOKEN,
                &format!("http://127.0.0.1:{port}/base/v2"),
                "",
                "",
            ),
        )],
        &[],
        &[],
    );
    let user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "one",
        "displayName": "x".repeat(2000),
    })
    .to_string();
    for _ in 0..20 {
        let r = call(
            "POST",
            &gw.url("/t/scim/v2/Users"),
            Some(TOKEN),
            &[],
            Some(&user),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let firsts = firsts.lock().unwrap();
    assert_eq!(firsts.len(), 20);
    for first in firsts.iter() {
        let text = String::from_utf8_lossy(first);
        let (head, body) = text.split_once("\r\n\r\n").expect("a whole head");
        assert!(head.starts_with("POST /base/v2/Users HTTP/1.1"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.trim())
            })
            .unwrap_or_else(|| panic!("no content-length in {head}"))
            .parse()
            .unwrap();
        assert_eq!(
            body.len(),
            length,
            "the first read held the head and {} of {length} body bytes",
            body.len()
        );
    }
}
