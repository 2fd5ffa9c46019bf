//! Provisioning that does not fall over (issue 14), against the real gateway binary: retries
//! toward a target that fails on purpose, shaping instead of refusing, and the deletion guard
//! against an Entra-shaped mass deprovisioning of scim2-server.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// One request as the scripted target read it, and when.
#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    method: String,
    target: String,
}

/// status, extra headers, JSON body
type Reply = (u16, Vec<(&'static str, String)>, String);
type Script = dyn Fn(&str, &str, usize) -> Reply + Send + Sync;

/// A keep-alive HTTP/1.1 target that answers by script: given the method, the target and how
/// many times this method + target was seen before (from 0).
struct Scripted {
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Scripted {
    fn start(script: impl Fn(&str, &str, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let h = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (h, s, c) = (h.clone(), script.clone(), counts.clone());
                std::thread::spawn(move || serve(stream, h, s, c));
            }
        });
        Scripted { port, hits }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/base/v2", self.port)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn count(&self, method: &str, target: &str) -> usize {
        self.hits()
            .iter()
            .filter(|h| h.method == method && h.target == target)
            .count()
    }
}

fn serve(
    stream: TcpStream,
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Script>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
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
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        hits.lock().unwrap().push(Hit {
            at: Instant::now(),
            method: method.clone(),
            target: target.clone(),
        });
        let n = {
            let mut c = counts.lock().unwrap();
            let e = c.entry(format!("{method} {target}")).or_insert(0);
            *e += 1;
            *e - 1
        };
        let (status, headers, json) = script(&method, &target, n);
        let resp = scim_answer(status, headers.iter().map(|(k, v)| (*k, v.as_str())), &json);
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn ok() -> Reply {
    (200, vec![], r#"{"id":"x","userName":"x"}"#.to_string())
}

fn unavailable() -> Reply {
    (503, vec![], r#"{"detail":"busy"}"#.to_string())
}

/// A metric sample's value, 0 when absent.
fn sample(gw: &Gateway, series: &str) -> f64 {
    gw.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn user(name: &str) -> String {
    json!({"schemas": [SCIM_USER], "userName": name}).to_string()
}

// ---- 1. Retries toward the target ----

#[test]
fn idempotent_requests_ride_out_two_503s_posts_are_never_sent_twice_and_retry_after_is_waited() {
    let up = Scripted::start(|method, target, n| {
        if target.ends_with("/Users/flaky") {
            return if n < 2 { unavailable() } else { ok() };
        }
        if target.ends_with("/Users/after") {
            return if n == 0 {
                (503, vec![("Retry-After", "1".into())], "{}".into())
            } else {
                ok()
            };
        }
        if method == "POST" || method == "PATCH" {
            return unavailable();
        }
        ok()
    });
    let closed = format!("http://127.0.0.1:{}/v2", free_port());
    let gw = Gateway::start(
        &[
            (
                "t.toml",
                policy(
                    "t",
                    "/t/scim/v2",
                    "tok",
                    &up.url(),
                    "",
                    "[upstream.retry]\nbase_ms = 10",
                ),
            ),
            (
                "c.toml",
                policy(
                    "c",
                    "/c/scim/v2",
                    "tok",
                    &closed,
                    "",
                    "[upstream.retry]\nbase_ms = 10",
                ),
            ),
            (
                "n.toml",
                policy(
                    "n",
                    "/n/scim/v2",
                    "tok",
                    &up.url(),
                    "",
                    "[upstream.retry]\nattempts = 0",
                ),
            ),
        ],
        &[],
    );
    let url = |p: &str| gw.url(&format!("/t/scim/v2{p}"));
    // GET, PUT, DELETE: the IdP sees one 200; the target saw 3 calls each.
    for method in ["GET", "PUT", "DELETE"] {
        let body = (method == "PUT").then(|| user("flaky"));
        let before = up.count(method, "/base/v2/Users/flaky");
        let r = call(
            method,
            &url("/Users/flaky"),
            Some("tok"),
            &[],
            body.as_deref(),
        );
        assert_eq!(r.status, 200, "{method}: {}", r.body);
        assert_eq!(
            up.count(method, "/base/v2/Users/flaky") - before,
            3,
            "{method}"
        );
    }
    assert_eq!(
        sample(
            &gw,
            r#"scimgate_upstream_retries_total{reason="status_5xx",tenant="t"}"#
        ),
        6.0
    );
    // A POST and a PATCH that hit a 503 are not re-sent.
    let r = call("POST", &url("/Users"), Some("tok"), &[], Some(&user("p")));
    assert_eq!(r.status, 503);
    assert_eq!(up.count("POST", "/base/v2/Users"), 1);
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    let r = call(
        "PATCH",
        &url("/Users/p"),
        Some("tok"),
        &[],
        Some(&patch.to_string()),
    );
    assert_eq!(r.status, 503);
    assert_eq!(up.count("PATCH", "/base/v2/Users/p"), 1);
    // A target's Retry-After: 1 is waited out.
    let started = Instant::now();
    let r = call("GET", &url("/Users/after"), Some("tok"), &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(up.count("GET", "/base/v2/Users/after"), 2);
    // A POST whose connect failed never left: it goes again (attempts = 2), then 502.
    let r = call(
        "POST",
        &gw.url("/c/scim/v2/Users"),
        Some("tok"),
        &[],
        Some(&user("c")),
    );
    r.assert_scim_error(502, None);
    assert_eq!(
        sample(
            &gw,
            r#"scimgate_upstream_retries_total{reason="connect",tenant="c"}"#
        ),
        2.0
    );
    // attempts = 0 keeps the first answer.
    let before = up.count("GET", "/base/v2/Users/flaky");
    let r = call(
        "GET",
        &gw.url("/n/scim/v2/Users/flaky"),
        Some("tok"),
        &[],
        None,
    );
    assert_eq!(
        (r.status, up.count("GET", "/base/v2/Users/flaky") - before),
        (200, 1)
    );
}

// ---- 2. Shaping instead of refusing ----

struct Outcome {
    sent: Instant,
    status: u16,
    took: Duration,
}

/// `n` GETs, one every `every`, each on its own thread; the most in flight at once.
fn flood(url: &str, n: usize, every: Duration) -> (Vec<Outcome>, usize) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let target = start + every * i as u32;
            std::thread::sleep(target.saturating_duration_since(Instant::now()));
            let (url, in_flight, most) = (url.to_string(), in_flight.clone(), most.clone());
            std::thread::spawn(move || {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let sent = Instant::now();
                let r = call("GET", &url, Some("tok"), &[], None);
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Outcome {
                    sent,
                    status: r.status,
                    took: sent.elapsed(),
                }
            })
        })
        .collect();
    let out = handles.into_iter().map(|h| h.join().unwrap()).collect();
    (out, most.load(Ordering::SeqCst))
}

#[test]
fn delay_mode_serves_a_flood_at_the_quota_without_refusing_what_can_wait() {
    let up = Scripted::start(|_, _, _| ok());
    let shaped = "[limits]\nrequests_per_second = 10\nburst = 5\nmode = \"delay\"\nmax_delay_ms = 2000\nmax_queued = 100";
    let gw = Gateway::start(
        &[(
            "s.toml",
            policy("s", "/s/scim/v2", "tok", &up.url(), "", shaped),
        )],
        &[],
    );
    // 30/s for 10 s.
    let (out, most) = flood(&gw.url("/s/scim/v2/Users"), 300, Duration::from_millis(33));
    let served: Vec<&Outcome> = out.iter().filter(|o| o.status == 200).collect();
    let refused: Vec<&Outcome> = out.iter().filter(|o| o.status == 429).collect();
    assert_eq!(served.len() + refused.len(), out.len(), "only 200 or 429");
    // The target sees at most 10/s + burst in any second.
    let hits: Vec<Instant> = up.hits().iter().map(|h| h.at).collect();
    let worst = hits
        .iter()
        .map(|&t| {
            hits.iter()
                .filter(|&&u| u >= t && u < t + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(
        worst <= 15,
        "{worst} requests reached the target within one second"
    );
    // Nothing that could be served within 2 s was refused: the quota was spent to the unit
    // over the flood and the 2 s after it (5 + 10/s × ~12 s), and what was served waited ≤ 2 s.
    let flood_s = out
        .last()
        .unwrap()
        .sent
        .duration_since(out[0].sent)
        .as_secs_f64();
    let capacity = 5.0 + 10.0 * (flood_s + 2.0);
    assert!(
        served.len() as f64 >= capacity - 6.0,
        "{} served of a capacity of {capacity:.0} ({} refused)",
        served.len(),
        refused.len()
    );
    let slowest = served.iter().map(|o| o.took).max().unwrap();
    assert!(
        slowest <= Duration::from_millis(2300),
        "a request waited {slowest:?}"
    );
    // A 429 says when to come back, and the line never passed max_queued.
    assert!(most <= 100 + 5, "{most} in flight");
    assert!(!refused.is_empty(), "30/s against 10/s must refuse some");
    let waited = sample(&gw, r#"scimgate_queue_delay_seconds_count{tenant="s"}"#);
    assert_eq!(waited as usize, out.len());
}

#[test]
fn delay_mode_bounds_the_line_and_waits_out_a_short_target_hold() {
    let up = Scripted::start(|method, _, n| {
        if method == "POST" && n == 0 {
            (429, vec![("Retry-After", "1".into())], "{}".into())
        } else {
            ok()
        }
    });
    let line = "[limits]\nrequests_per_second = 1\nburst = 1\nmode = \"delay\"\nmax_delay_ms = 5000\nmax_queued = 3";
    let hold = "[limits]\nmode = \"delay\"\nmax_delay_ms = 2000";
    let gw = Gateway::start(
        &[
            (
                "q.toml",
                policy("q", "/q/scim/v2", "tok", &up.url(), "", line),
            ),
            (
                "h.toml",
                policy("h", "/h/scim/v2", "tok", &up.url(), "", hold),
            ),
        ],
        &[],
    );
    // 10 at once: 1 at once, 3 wait their turn (1 s apart), 6 find the line full: 429 at once.
    let (out, _) = flood(&gw.url("/q/scim/v2/Users"), 10, Duration::ZERO);
    let mut served: Vec<Duration> = out
        .iter()
        .filter(|o| o.status == 200)
        .map(|o| o.took)
        .collect();
    served.sort();
    let fast_429 = out
        .iter()
        .filter(|o| o.status == 429 && o.took < Duration::from_millis(500))
        .count();
    assert_eq!((served.len(), fast_429), (4, 6), "{served:?}");
    assert!(served[3] >= Duration::from_millis(2500), "{served:?}");
    // The target's 429 + Retry-After: 1 holds tenant h; a read meanwhile waits instead of a 429.
    let r = call(
        "POST",
        &gw.url("/h/scim/v2/Users"),
        Some("tok"),
        &[],
        Some(&user("h")),
    );
    assert_eq!(r.status, 429);
    let started = Instant::now();
    let r = call("GET", &gw.url("/h/scim/v2/Users"), Some("tok"), &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

// ---- 3. The deletion guard ----

const ENTRA_DEACTIVATE: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#;

fn guard_bulk(ids: &[String]) -> String {
    let ops: Vec<Value> = ids
        .iter()
        .map(|id| json!({"method": "DELETE", "path": format!("/Users/{id}")}))
        .collect();
    json!({"schemas": [BULK], "Operations": ops}).to_string()
}

#[test]
fn an_entra_mass_deprovisioning_is_held_at_max_deletes_and_released_by_an_operator() {
    let server = ScimServer::start();
    let rest = "idp = \"entra\"\n[guard]\nmax_deletes = 50\nwindow_s = 600";
    // `idp` is a top-level key: put it before the tables.
    let text = policy("g", "/g/scim/v2", "tok", &server.url(), "", "").replacen(
        "[auth]",
        &format!("{}\n[auth]", rest.lines().next().unwrap()),
        1,
    ) + &rest.lines().skip(1).collect::<Vec<_>>().join("\n");
    let gw = Gateway::start(&[("g.toml", text)], &[]);
    let base = gw.url("/g/scim/v2");
    let ids: Vec<String> = (0..200)
        .map(|i| {
            let r = call(
                "POST",
                &format!("{base}/Users"),
                Some("tok"),
                &[],
                Some(&user(&format!("dep-{i}"))),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].as_str().unwrap().to_string()
        })
        .collect();
    let delete = |id: &str| {
        call(
            "DELETE",
            &format!("{base}/Users/{id}"),
            Some("tok"),
            &[],
            None,
        )
    };
    let deactivate = |id: &str| {
        call(
            "PATCH",
            &format!("{base}/Users/{id}"),
            Some("tok"),
            &[],
            Some(ENTRA_DEACTIVATE),
        )
    };
    let bulk = |ids: &[String]| {
        call(
            "POST",
            &format!("{base}/Bulk"),
            Some("tok"),
            &[],
            Some(&guard_bulk(ids)),
        )
    };
    let mut refused: Vec<(&str, Vec<String>)> = Vec::new();
    let mut expect_refused = |r: Resp, what: &'static str, ids: Vec<String>| {
        r.assert_scim_error(503, None);
        let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=600).contains(&secs), "Retry-After {secs}");
        refused.push((what, ids));
    };
    // 30 DELETEs pass, then 40 "False" PATCHes: 20 pass and 20 are refused.
    for id in &ids[..30] {
        assert_eq!(delete(id).status, 204);
    }
    for (i, id) in ids[30..70].iter().enumerate() {
        let r = deactivate(id);
        if i < 20 {
            assert!(matches!(r.status, 200 | 204), "{} {}", r.status, r.body);
        } else {
            expect_refused(r, "PATCH", vec![id.clone()]);
        }
    }
    // Creates and reads keep flowing.
    assert_eq!(
        call(
            "POST",
            &format!("{base}/Users"),
            Some("tok"),
            &[],
            Some(&user("new-hire"))
        )
        .status,
        201
    );
    assert_eq!(
        call(
            "GET",
            &format!("{base}/Users/{}", ids[199]),
            Some("tok"),
            &[],
            None
        )
        .status,
        200
    );
    // A Bulk of 40 deletions is refused whole; 90 more DELETEs too.
    expect_refused(bulk(&ids[70..110]), "Bulk", ids[70..110].to_vec());
    for id in &ids[110..200] {
        expect_refused(delete(id), "DELETE", vec![id.clone()]);
    }
    // The target received exactly 50 deletions and deactivations.
    let gone_or_inactive = |ids: &[String]| {
        ids.iter()
            .filter(|id| {
                let r = call("GET", &format!("{base}/Users/{id}"), Some("tok"), &[], None);
                r.status == 404 || r.json()["active"] == json!(false)
            })
            .count()
    };
    assert_eq!(gone_or_inactive(&ids), 50);
    assert_eq!(
        sample(&gw, r#"scimgate_guard_blocked_total{tenant="g"}"#),
        111.0
    );
    assert_eq!(sample(&gw, r#"scimgate_guard_tripped{tenant="g"}"#), 1.0);
    // An operator releases the guard; the IdP's retries go through.
    let release = format!(
        "http://127.0.0.1:{}/admin/tenants/g/guard/release",
        gw.admin
    );
    let r = call("POST", &release, None, &[], Some("{}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sample(&gw, r#"scimgate_guard_tripped{tenant="g"}"#), 0.0);
    for (what, ids) in &refused {
        let r = match *what {
            "PATCH" => deactivate(&ids[0]),
            "DELETE" => delete(&ids[0]),
            _ => bulk(ids),
        };
        assert!(
            matches!(r.status, 200 | 204),
            "{what}: {} {}",
            r.status,
            r.body
        );
    }
    assert_eq!(gone_or_inactive(&ids), 200);
}

#[test]
fn the_guard_re_arms_after_its_window_observes_without_refusing_and_wants_the_admin_token() {
    let up = Scripted::start(|_, _, _| (204, vec![], String::new()));
    let enforce = "[guard]\nmax_deletes = 1\nwindow_s = 2";
    let observe = "[guard]\nmax_deletes = 1\nwindow_s = 600\nmode = \"observe\"";
    let gw = Gateway::start_with(
        &[
            (
                "e.toml",
                policy("e", "/e/scim/v2", "tok", &up.url(), "", enforce),
            ),
            (
                "o.toml",
                policy("o", "/o/scim/v2", "tok", &up.url(), "", observe),
            ),
        ],
        &[("GUARD_ADMIN_TOKEN", "an-admin-token-of-some-length")],
        &["--admin-token-env", "GUARD_ADMIN_TOKEN"],
    );
    let delete = |t: &str, id: &str| {
        call(
            "DELETE",
            &gw.url(&format!("/{t}/scim/v2/Users/{id}")),
            Some("tok"),
            &[],
            None,
        )
    };
    assert_eq!(delete("e", "1").status, 204);
    let r = delete("e", "2");
    r.assert_scim_error(503, None);
    assert_eq!(r.header("retry-after"), Some("2"));
    let release = format!(
        "http://127.0.0.1:{}/admin/tenants/e/guard/release",
        gw.admin
    );
    assert_eq!(call("POST", &release, None, &[], Some("{}")).status, 401);
    assert_eq!(
        call(
            "POST",
            &release,
            Some("wrong-token-wrong-token"),
            &[],
            Some("{}")
        )
        .status,
        401
    );
    let r = call(
        "POST",
        &release,
        Some("an-admin-token-of-some-length"),
        &[],
        Some("{}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let unknown = format!(
        "http://127.0.0.1:{}/admin/tenants/nope/guard/release",
        gw.admin
    );
    assert_eq!(
        call(
            "POST",
            &unknown,
            Some("an-admin-token-of-some-length"),
            &[],
            Some("{}")
        )
        .status,
        404
    );
    // Released: deletions pass for one window...
    for id in 2..6 {
        assert_eq!(delete("e", &id.to_string()).status, 204);
    }
    // ...then the guard re-arms, empty.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(delete("e", "6").status, 204);
    delete("e", "7").assert_scim_error(503, None);
    assert_eq!(
        up.count("DELETE", "/base/v2/Users/7"),
        0,
        "nothing sent upstream"
    );
    // Observe: nothing refused, the gauge trips.
    for id in 0..3 {
        assert_eq!(delete("o", &id.to_string()).status, 204);
    }
    assert_eq!(sample(&gw, r#"scimgate_guard_tripped{tenant="o"}"#), 1.0);
    assert_eq!(
        sample(&gw, r#"scimgate_guard_blocked_total{tenant="o"}"#),
        0.0
    );
}
