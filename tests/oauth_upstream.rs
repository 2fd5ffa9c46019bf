//! `[upstream.oauth]` end to end: the scimgate binary in front of a SCIM target that verifies
//! every bearer at a real OAuth 2.0 server (oidc-provider from npm, `tests/oauth/`, with 5-second
//! tokens), token fetches counted at that server: steady load across many refreshes with no
//! failure, Zoom's account_credentials, client_secret_post, a wrong secret, a target's 401 (one
//! refresh, one replay), a token server that goes down and comes back, and no secret or token
//! in the gateway's trace log.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;

use common::{call, free_port, policy, tool, Gateway, ERROR_SCHEMA};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const IDP_TOKEN: &str = "idp-secret-token";
const CLIENT_SECRET: &str = "cl1ent:s3cret+with/odd%chars";
const TARGET_SECRET: &str = "target-introspection-secret";
const ZOOM_ACCOUNT: &str = "globex-zoom-account";

/// oidc-provider, started by `node tests/oauth/token-server.mjs PORT`.
struct TokenServer {
    child: Option<Child>,
    port: u16,
    ttl_s: u64,
    /// PEM certificate and key: https instead of http.
    tls: Option<(PathBuf, PathBuf)>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    fn start(ttl_s: u64) -> Self {
        Self::start_with(ttl_s, None)
    }

    fn start_with(ttl_s: u64, tls: Option<(PathBuf, PathBuf)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("token-server.log");
        let mut s = TokenServer {
            child: None,
            port: free_port(),
            ttl_s,
            tls,
            log,
            _dir: dir,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth");
        assert!(
            root.join("node_modules/oidc-provider").exists(),
            "tests/oauth/node_modules is missing: run ./scripts/setup.sh (npm ci --prefix tests/oauth)"
        );
        let node = tool("SCIMGATE_NODE", "node");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(node);
        if let Some((cert, key)) = &self.tls {
            cmd.env("TLS_CERT", cert).env("TLS_KEY", key);
        }
        let child = cmd
            .arg(root.join("token-server.mjs"))
            .arg(self.port.to_string())
            .env("TOKEN_TTL_S", self.ttl_s.to_string())
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("TARGET_SECRET", TARGET_SECRET)
            .env("ZOOM_ACCOUNT_ID", ZOOM_ACCOUNT)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start node tests/oauth/token-server.mjs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let up = |s: &Self| match s.tls {
            // The tests' HTTP client speaks no TLS: an https server is up once it accepts.
            Some(_) => TcpStream::connect(("127.0.0.1", s.port)).is_ok(),
            None => s.try_stats().is_some(),
        };
        while !up(self) {
            assert!(
                Instant::now() < deadline,
                "the token server did not start:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn token_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/token", self.port)
    }

    fn try_stats(&self) -> Option<Value> {
        ureq::get(&format!("http://127.0.0.1:{}/_admin/stats", self.port))
            .timeout(Duration::from_secs(2))
            .call()
            .ok()?
            .into_json()
            .ok()
    }

    /// Tokens the server issued, by grant, and token requests it refused.
    fn issued(&self, grant: &str) -> u64 {
        self.try_stats().unwrap()["issued"][grant].as_u64().unwrap()
    }

    fn refused(&self) -> u64 {
        self.try_stats().unwrap()["refused"].as_u64().unwrap()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How the target answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Verify the bearer at the token server (RFC 7662 introspection, cached until its `exp`).
    Verify,
    /// Answer 401 to the next N requests, then verify again.
    Reject(u32),
    /// Answer 401 to everything.
    RejectAll,
}

/// One request as the target saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    token: String,
    body: Vec<u8>,
    status: u16,
}

/// A SCIM target that, like a real resource server, accepts only bearers its authorization
/// server says are active.
struct Target {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Target {
    fn start(introspection: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(Mode::Verify));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cache: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let (m, s) = (mode.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (m, s, c, i) = (m.clone(), s.clone(), cache.clone(), introspection.clone());
                std::thread::spawn(move || serve(stream, &m, &s, &c, &i));
            }
        });
        Target { port, mode, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/scim/v2", self.port)
    }

    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Is `token` active? Asked of the token server once, then believed until its `exp`; a token
/// that cannot be verified is not accepted.
fn active(token: &str, cache: &Mutex<HashMap<String, u64>>, introspection: &str) -> bool {
    if let Some(&exp) = cache.lock().unwrap().get(token) {
        return unix_now() < exp;
    }
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("scim-target:{TARGET_SECRET}"));
    let answer = ureq::post(introspection)
        .timeout(Duration::from_secs(2))
        .set("Authorization", &format!("Basic {basic}"))
        .send_form(&[("token", token)]);
    let Ok(answer) = answer else { return false };
    let v: Value = answer.into_json().unwrap();
    if v["active"] != true {
        return false;
    }
    let exp = v["exp"].as_u64().unwrap();
    cache.lock().unwrap().insert(token.to_string(), exp);
    unix_now() < exp
}

fn serve(
    stream: TcpStream,
    mode: &Mutex<Mode>,
    seen: &Mutex<Vec<Seen>>,
    cache: &Mutex<HashMap<String, u64>>,
    introspection: &str,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let method = line.split_whitespace().next().unwrap_or("").to_string();
        let mut headers = Vec::new();
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
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let token = header("authorization")
            .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
            .unwrap_or_default();
        let ok = {
            let mut m = mode.lock().unwrap();
            match *m {
                Mode::Verify => None,
                Mode::RejectAll => Some(false),
                Mode::Reject(n) => {
                    *m = if n > 1 {
                        Mode::Reject(n - 1)
                    } else {
                        Mode::Verify
                    };
                    Some(false)
                }
            }
        }
        .unwrap_or_else(|| active(&token, cache, introspection));
        let (status, json) = if ok {
            let n = seen.lock().unwrap().len();
            (
                200,
                format!(
                    r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[],"served":{n}}}"#
                ),
            )
        } else {
            (
                401,
                format!(
                    r#"{{"schemas":["{ERROR_SCHEMA}"],"status":"401","detail":"the target did not accept the bearer"}}"#
                ),
            )
        };
        seen.lock().unwrap().push(Seen {
            method,
            token,
            body,
            status,
        });
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n{}\r\n{json}",
            json.len(),
            if ok { "" } else { "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n" }
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A tenant whose target tokens come from `[upstream.oauth]`; `oauth` is the table's body.
fn tenant(name: &str, target: &Target, oauth: &str, upstream_extra: &str) -> (String, String) {
    (
        format!("{name}.toml"),
        policy(
            name,
            &format!("/{name}/scim/v2"),
            IDP_TOKEN,
            &target.url(),
            upstream_extra,
            &format!("[upstream.oauth]\n{oauth}\n"),
        ),
    )
}

fn client_credentials(ts: &TokenServer, client: &str, extra: &str) -> String {
    format!(
        "grant = \"client_credentials\"\ntoken_url = \"{}\"\nclient_id = \"{client}\"\nclient_secret_env = \"TARGET_CLIENT_SECRET\"\n{extra}",
        ts.token_url()
    )
}

/// The gateway at `RUST_LOG=trace`, with `secret` as the client secret of the
/// client_credentials tenants (`TARGET_CLIENT_SECRET`) and the right one for Zoom's.
fn start(files: &[(String, String)], secret: &str) -> Gateway {
    let files: Vec<(&str, String)> = files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    Gateway::start(
        &files,
        &[
            ("TARGET_CLIENT_SECRET", secret),
            ("ZOOM_CLIENT_SECRET", CLIENT_SECRET),
            ("RUST_LOG", "trace"),
        ],
    )
}

fn get(gw: &Gateway, tenant: &str) -> common::Resp {
    call(
        "GET",
        &gw.url(&format!("/{tenant}/scim/v2/Users?count=1")),
        Some(IDP_TOKEN),
        &[],
        None,
    )
}

/// The value of one series of `/metrics`, 0 when absent.
fn metric(gw: &Gateway, series: &str) -> u64 {
    gw.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Nothing secret in the gateway's log: the client secret, and every token the target saw.
fn assert_no_secret_in_log(gw: &Gateway, target: &Target) {
    let log = gw.log();
    assert!(
        log.contains("upstream access token fetched"),
        "trace logging was on: {log}"
    );
    assert!(
        !log.contains(CLIENT_SECRET),
        "the client secret is in the log"
    );
    let mut tokens: Vec<String> = target.seen().into_iter().map(|s| s.token).collect();
    tokens.sort();
    tokens.dedup();
    assert!(!tokens.is_empty());
    for t in tokens.iter().filter(|t| !t.is_empty()) {
        assert!(!log.contains(t.as_str()), "an access token is in the log");
    }
}

#[test]
fn five_second_tokens_carry_a_steady_load_for_60_s() {
    let ts = TokenServer::start(5);
    let target = Target::start(format!("http://127.0.0.1:{}/token/introspection", ts.port));
    let gw = start(
        &[tenant(
            "steady",
            &target,
            &client_credentials(&ts, "scim-basic", "scope = \"scim\""),
            "",
        )],
        CLIENT_SECRET,
    );
    let started = Instant::now();
    let run = Duration::from_secs(60);
    let port = gw.port;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0u32, Vec::new());
                while started.elapsed() < run {
                    let r = call(
                        "GET",
                        &format!("http://127.0.0.1:{port}/steady/scim/v2/Users?count=1"),
                        Some(IDP_TOKEN),
                        &[],
                        None,
                    );
                    if r.status == 200 {
                        ok += 1;
                    } else {
                        failed.push(format!("{} {}", r.status, r.body));
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                (ok, failed)
            })
        })
        .collect();
    let (mut ok, mut failed) = (0, Vec::new());
    for w in workers {
        let (o, f) = w.join().unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(ok > 400, "steady load: {ok} requests");
    // Every request reached the target with a token the token server said was active (a
    // rare 401, an introspection that failed under load, was replayed: still no failure).
    let seen = target.seen();
    let rejected = seen.iter().filter(|s| s.status != 200).count();
    assert_eq!(seen.len() as u32, ok + rejected as u32);
    assert!(rejected <= 2, "{rejected} requests the target refused");
    // About one fetch per 4 s (5 s tokens, refreshed 1 s early), counted at the token server.
    let fetched = ts.issued("client_credentials");
    eprintln!("{ok} requests in 60 s, {fetched} token fetches");
    assert!(
        (8..=20).contains(&fetched),
        "{fetched} token fetches in 60 s"
    );
    assert_eq!(
        metric(
            &gw,
            "scimgate_upstream_token_refreshes_total{result=\"success\",tenant=\"steady\"}"
        ),
        fetched
    );
    let distinct: std::collections::HashSet<_> = seen.iter().map(|s| s.token.clone()).collect();
    assert_eq!(distinct.len() as u64, fetched);
    assert_no_secret_in_log(&gw, &target);
}

#[test]
fn zoom_account_credentials_and_client_secret_post() {
    let ts = TokenServer::start(5);
    let target = Target::start(format!("http://127.0.0.1:{}/token/introspection", ts.port));
    let zoom = format!(
        "grant = \"account_credentials\"\ntoken_url = \"{}\"\nclient_id = \"zoom-s2s\"\naccount_id = \"{ZOOM_ACCOUNT}\"\nclient_secret_env = \"ZOOM_CLIENT_SECRET\"",
        ts.token_url()
    );
    let gw = start(
        &[
            tenant("zoom", &target, &zoom, "profile = \"zoom\""),
            tenant(
                "post",
                &target,
                &client_credentials(&ts, "scim-post", "auth_method = \"post\""),
                "",
            ),
        ],
        CLIENT_SECRET,
    );
    for _ in 0..3 {
        assert_eq!(get(&gw, "zoom").status, 200);
    }
    assert_eq!(ts.issued("account_credentials"), 1);
    for _ in 0..3 {
        assert_eq!(get(&gw, "post").status, 200);
    }
    assert_eq!(ts.issued("client_credentials"), 1);
    assert_eq!(ts.refused(), 0);
    let seen = target.seen();
    assert_eq!(seen.len(), 6);
    assert!(seen.iter().all(|s| s.status == 200 && !s.token.is_empty()));
    assert_ne!(seen[0].token, seen[3].token, "one token per tenant");
    assert_no_secret_in_log(&gw, &target);
}

#[test]
fn a_wrong_secret_or_account_is_a_502_naming_the_token_source() {
    let ts = TokenServer::start(5);
    let target = Target::start(format!("http://127.0.0.1:{}/token/introspection", ts.port));
    let zoom = format!(
        "grant = \"account_credentials\"\ntoken_url = \"{}\"\nclient_id = \"zoom-s2s\"\naccount_id = \"not-the-account\"\nclient_secret_env = \"ZOOM_CLIENT_SECRET\"",
        ts.token_url()
    );
    // The gateway has the wrong secret of scim-basic, and the wrong account of zoom-s2s.
    let gw = start(
        &[
            tenant(
                "wrong",
                &target,
                &client_credentials(&ts, "scim-basic", ""),
                "",
            ),
            tenant("account", &target, &zoom, ""),
        ],
        "not-the-client-secret",
    );
    let r = get(&gw, "wrong");
    r.assert_scim_error(502, None);
    assert_eq!(
        r.json()["detail"],
        format!(
            "the token source of tenant wrong (client_credentials at {}) failed: HTTP 401 invalid_client (client authentication failed)",
            ts.token_url()
        )
    );
    assert!(!r.body.contains("not-the-client-secret"));
    let r = get(&gw, "account");
    r.assert_scim_error(502, None);
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.starts_with(&format!(
            "the token source of tenant account (account_credentials at {}) failed: HTTP 400 invalid_grant",
            ts.token_url()
        )),
        "{detail}"
    );
    assert!(target.seen().is_empty(), "nothing reached the target");
    assert_eq!(ts.refused(), 2);
    for t in ["wrong", "account"] {
        assert_eq!(
            metric(
                &gw,
                &format!(
                    "scimgate_upstream_token_refreshes_total{{result=\"failure\",tenant=\"{t}\"}}"
                )
            ),
            1
        );
    }
    let log = gw.log();
    assert!(log.contains("the upstream token source failed"), "{log}");
    assert!(!log.contains("not-the-client-secret") && !log.contains(CLIENT_SECRET));
}

#[test]
fn a_target_401_gets_one_refresh_and_one_replay() {
    // Long-lived tokens: every fetch here is one the 401 asked for.
    let ts = TokenServer::start(300);
    let target = Target::start(format!("http://127.0.0.1:{}/token/introspection", ts.port));
    let gw = start(
        &[tenant(
            "replay",
            &target,
            &client_credentials(&ts, "scim-basic", ""),
            "",
        )],
        CLIENT_SECRET,
    );
    assert_eq!(get(&gw, "replay").status, 200);
    assert_eq!(ts.issued("client_credentials"), 1);
    // The target stops taking the token once: a new token, the POST once more, its answer back.
    target.set(Mode::Reject(1));
    let body = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}"#;
    let r = call(
        "POST",
        &gw.url("/replay/scim/v2/Users"),
        Some(IDP_TOKEN),
        &[],
        Some(body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["served"], 2, "the IdP gets the replay's answer");
    assert_eq!(ts.issued("client_credentials"), 2, "exactly one refresh");
    let seen = target.seen();
    assert_eq!(seen.len(), 3, "exactly one replay");
    let (first, replay) = (&seen[1], &seen[2]);
    assert_eq!((first.status, replay.status), (401, 200));
    assert_eq!(
        (first.method.as_str(), replay.method.as_str()),
        ("POST", "POST")
    );
    assert_eq!(first.body, body.as_bytes());
    assert_eq!(replay.body, first.body);
    assert_ne!(first.token, replay.token);
    assert_eq!(first.token, seen[0].token);
    // A target that refuses every token: one refresh, one replay, then its own 401.
    target.set(Mode::RejectAll);
    let r = get(&gw, "replay");
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["detail"], "the target did not accept the bearer");
    assert_eq!(ts.issued("client_credentials"), 3);
    assert_eq!(target.seen().len(), 5);
    // Taking tokens again: the last one serves, no fetch.
    target.set(Mode::Verify);
    assert_eq!(get(&gw, "replay").status, 200);
    assert_eq!(ts.issued("client_credentials"), 3);
}

#[test]
fn a_token_server_down_gives_bounded_502s_and_recovers() {
    let mut ts = TokenServer::start(2);
    let target = Target::start(format!("http://127.0.0.1:{}/token/introspection", ts.port));
    let gw = start(
        &[tenant(
            "down",
            &target,
            &client_credentials(&ts, "scim-basic", ""),
            "timeout_ms = 3000",
        )],
        CLIENT_SECRET,
    );
    assert_eq!(get(&gw, "down").status, 200);
    let pid = gw.pid();
    ts.kill();
    let source = format!(
        "the token source of tenant down (client_credentials at {}) failed: ",
        ts.token_url()
    );
    let mut failures = 0;
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let asked = Instant::now();
        let r = get(&gw, "down");
        let took = asked.elapsed();
        assert!(
            took < Duration::from_millis(4000),
            "bounded by timeout_ms: {took:?}"
        );
        if r.status != 200 {
            r.assert_scim_error(502, None);
            let detail = r.json()["detail"].as_str().unwrap().to_string();
            assert!(detail.starts_with(&source), "{detail}");
            failures += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        failures > 10,
        "the token (2 s) expired while the server was down"
    );
    assert!(
        metric(
            &gw,
            "scimgate_upstream_token_refreshes_total{result=\"failure\",tenant=\"down\"}"
        ) >= 1
    );
    // Back on the same port: requests succeed again without restarting the gateway (within
    // the backoff's cap).
    ts.spawn();
    let back = Instant::now();
    loop {
        if get(&gw, "down").status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "no recovery after the token server came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(gw.pid(), pid);
    assert_eq!(
        ts.issued("client_credentials"),
        1,
        "a fresh server issued the new token"
    );
}

#[test]
fn an_https_token_endpoint_is_verified() {
    // A self-signed certificate for 127.0.0.1 that nothing trusts: the client secret must not
    // go there, and the IdP learns why.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ts = TokenServer::start_with(5, Some((cert, key)));
    let target = Target::start(format!("http://127.0.0.1:{}/token/introspection", ts.port));
    let gw = start(
        &[tenant(
            "tls",
            &target,
            &client_credentials(&ts, "scim-basic", ""),
            "",
        )],
        CLIENT_SECRET,
    );
    let r = get(&gw, "tls");
    r.assert_scim_error(502, None);
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.starts_with(&format!(
            "the token source of tenant tls (client_credentials at {}) failed: connecting to the token endpoint could not connect",
            ts.token_url()
        )),
        "{detail}"
    );
    assert!(target.seen().is_empty());
    let log = std::fs::read_to_string(&ts.log).unwrap();
    assert!(!log.contains("issued"), "no token was issued: {log}");
}
