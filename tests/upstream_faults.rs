//! A target that misbehaves on purpose, over raw TCP: 1xx answers before the final one, 101,
//! answers over `upstream.max_response_bytes`, a pooled connection closed after the request
//! was read, redirects, and garbage for a tenant that must translate the answer. Each test
//! asserts what the IdP gets (status, SCIM error body) and that the gateway still serves.
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
        let r = get(&gw, path);
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
    let gw = gateway(&up, "", "");
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
    still_serves(&gw);
}

#[test]
fn a_get_on_a_reused_connection_that_dies_is_sent_again_and_succeeds() {
    let up = Faulty::start(drops_the_second);
    let gw = gateway(&up, "", "");
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
    still_serves(&gw);
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
        let r = get(&gw, &format!("/t/scim/v2/Users/{leaf}"));
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
    let r = get(&gw, "/t/scim/v2/Users/1");
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
    still_serves(&gw);
}
