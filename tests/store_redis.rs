//! Several replicas, one set of quotas (issue 13): a real redis-server on a free loopback port,
//! three scimgate replicas with `--store redis://…` in front of one recording target, and a
//! client spreading a paced load across them. Faults by `kill -9`, `SIGSTOP`/`SIGCONT` and
//! `CLIENT PAUSE`. One tenant at 20/s, burst 10, load 120/s, as the issue's bars say; the
//! scenarios run one at a time (they time things).
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "store-token";
const QUOTA: &str = "[limits]\nrequests_per_second = 20\nburst = 10";
const RATE: f64 = 20.0;
const BURST: f64 = 10.0;

/// The scenarios time things: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// redis-server

/// A redis-server (Debian's, installed by scripts/setup.sh) on a free loopback port, no
/// persistence: a restart starts empty, as after a crash without AOF.
struct Redis {
    child: Option<Child>,
    port: u16,
    extra: Vec<String>,
}

impl Redis {
    fn start() -> Self {
        Self::start_with(free_port(), Vec::new())
    }

    fn start_with(port: u16, extra: Vec<String>) -> Self {
        let mut r = Redis {
            child: None,
            port,
            extra,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new(tool("REDIS_SERVER", "redis-server"))
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        if self.extra.is_empty() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.cli(&["PING"]) != "PONG" {
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        } else {
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `kill -9`.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port (empty).
    fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// One command over a raw socket (RESP), the answer as text ("" when none).
    fn cli(&self, args: &[&str]) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        if s.write_all(req.as_bytes()).is_err() {
            return String::new();
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if resp_complete(&out) {
                break;
            }
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        match text.chars().next() {
            Some('+') | Some(':') => text[1..].trim().to_string(),
            Some('$') => text
                .split_once("\r\n")
                .map_or("", |x| x.1)
                .trim()
                .to_string(),
            _ => text,
        }
    }

    /// Quota calls so far (gcra.lua and hold.lua run as EVALSHA; the heartbeat is EVAL).
    fn quota_calls(&self) -> u64 {
        let info = self.cli(&["INFO", "commandstats"]);
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

fn resp_complete(b: &[u8]) -> bool {
    match b.first() {
        Some(b'+') | Some(b'-') | Some(b':') => b.ends_with(b"\r\n"),
        Some(b'$') => {
            let text = String::from_utf8_lossy(b);
            let Some((len, rest)) = text.split_once("\r\n") else {
                return false;
            };
            let len: i64 = len[1..].parse().unwrap_or(0);
            len < 0 || rest.len() >= len as usize + 2
        }
        _ => !b.is_empty(),
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A stopped process dies of SIGKILL too, but let it go cleanly.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill9();
    }
}

// ---------------------------------------------------------------------------------------------
// replicas and load

fn tenant(rec: &Recorder, limits: &str) -> Vec<(&'static str, String)> {
    vec![(
        "acme.toml",
        policy("acme", "/acme", TOKEN, &rec.url(), "", limits),
    )]
}

fn replicas(n: usize, files: &[(&str, String)], args: &[&str]) -> Vec<Gateway> {
    (0..n)
        .map(|_| Gateway::start_with(files, &[], args))
        .collect()
}

fn metric(gw: &Gateway, series: &str) -> Option<f64> {
    gw.metrics().lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// One answered request.
#[derive(Debug, Clone)]
struct Sample {
    /// Sent and answered, since the load started.
    sent: Duration,
    answered: Duration,
    replica: usize,
    status: u16,
    retry_after: Option<String>,
    /// A SCIM error body the gateway made (not the target's own answer).
    gateway_error: bool,
    /// The body of an answer that is neither 200 nor 429.
    odd: Option<String>,
}

impl Sample {
    fn latency(&self) -> Duration {
        self.answered - self.sent
    }
}

/// A paced client: `rate` requests per second in total for `seconds`, from `threads`
/// threads, each request to the next replica in turn, keep-alive connections.
struct Load {
    start: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(ports: &[u16], rate: f64, seconds: f64) -> Self {
        let threads_n = 6usize;
        let start = Instant::now() + Duration::from_millis(100);
        let samples = Arc::new(Mutex::new(Vec::new()));
        let per_thread = rate / threads_n as f64;
        let threads = (0..threads_n)
            .map(|i| {
                let ports = ports.to_vec();
                let samples = samples.clone();
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(10))
                        .build();
                    // Threads interleave: thread i sends at offsets i/rate.
                    let offset = i as f64 / (per_thread * threads_n as f64);
                    let mut n = 0u64;
                    loop {
                        let due = offset + n as f64 / per_thread;
                        if due >= seconds {
                            break;
                        }
                        let at = start + Duration::from_secs_f64(due);
                        let now = Instant::now();
                        if at > now {
                            std::thread::sleep(at - now);
                        }
                        let replica = (i + n as usize) % ports.len();
                        let url = format!("http://127.0.0.1:{}/acme/Users", ports[replica]);
                        let sent = start.elapsed();
                        let result = agent
                            .get(&url)
                            .set("Authorization", &format!("Bearer {TOKEN}"))
                            .call();
                        let resp = match result {
                            Ok(r) | Err(ureq::Error::Status(_, r)) => Some(r),
                            Err(_) => None,
                        };
                        let (status, retry_after, body) = match resp {
                            Some(r) => {
                                let status = r.status();
                                let retry = r.header("retry-after").map(str::to_string);
                                (status, retry, r.into_string().unwrap_or_default())
                            }
                            None => (0, None, String::new()),
                        };
                        samples.lock().unwrap().push(Sample {
                            sent,
                            answered: start.elapsed(),
                            replica,
                            status,
                            retry_after,
                            gateway_error: body.contains(ERROR_SCHEMA),
                            odd: (status != 200 && status != 429).then_some(body),
                        });
                        n += 1;
                    }
                })
            })
            .collect();
        Load {
            start,
            samples,
            threads,
        }
    }

    /// Sleep until `secs` after the load started.
    fn at(&self, secs: f64) {
        let t = self.start + Duration::from_secs_f64(secs);
        let now = Instant::now();
        if t > now {
            std::thread::sleep(t - now);
        }
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn finish(self) -> Vec<Sample> {
        for t in self.threads {
            t.join().unwrap();
        }
        let mut s = self.samples.lock().unwrap().clone();
        s.sort_by_key(|s| s.sent);
        s
    }
}

fn ok_between(samples: &[Sample], from: f64, to: f64) -> usize {
    samples
        .iter()
        .filter(|s| s.status == 200 && s.sent.as_secs_f64() >= from && s.sent.as_secs_f64() < to)
        .count()
}

/// The most 200s sent within any one second (sliding).
fn max_per_second(samples: &[Sample]) -> usize {
    let ok: Vec<f64> = samples
        .iter()
        .filter(|s| s.status == 200)
        .map(|s| s.sent.as_secs_f64())
        .collect();
    let mut best = 0;
    let mut j = 0;
    for i in 0..ok.len() {
        while ok[i] - ok[j] >= 1.0 {
            j += 1;
        }
        best = best.max(i - j + 1);
    }
    best
}

/// Every refusal is a SCIM 429 with a whole-seconds Retry-After; nothing else but 200.
fn assert_only_200_and_scim_429(samples: &[Sample]) {
    for s in samples {
        match s.status {
            200 => {}
            429 => {
                assert!(s.gateway_error, "a 429 without a SCIM body: {s:?}");
                let secs: u64 = s
                    .retry_after
                    .as_deref()
                    .unwrap_or_else(|| panic!("429 without Retry-After: {s:?}"))
                    .parse()
                    .unwrap();
                assert!(secs >= 1, "{s:?}");
            }
            _ => panic!("unexpected answer {}: {:?} ({s:?})", s.status, s.odd),
        }
    }
}

fn summary(samples: &[Sample]) -> String {
    let mut by = std::collections::BTreeMap::new();
    for s in samples {
        *by.entry(s.status).or_insert(0) += 1;
    }
    format!("{} sent, by status {by:?}", samples.len())
}

// ---------------------------------------------------------------------------------------------
// the issue's scenarios

#[test]
fn without_a_store_three_replicas_give_three_times_the_quota() {
    let _one = serial();
    let rec = Recorder::start();
    let gws = replicas(3, &tenant(&rec, QUOTA), &[]);
    let secs = 5.0;
    let load = Load::start(&gws.iter().map(|g| g.port).collect::<Vec<_>>(), 120.0, secs);
    let samples = load.finish();
    let got = rec.requests().len() as f64;
    let one_quota = BURST + RATE * secs;
    eprintln!("no store: target received {got} ({})", summary(&samples));
    // The problem the store solves: each replica spends the whole quota.
    assert!(got > 2.5 * one_quota, "{got} vs one quota {one_quota}");
    assert!(got <= 3.0 * (one_quota + 1.0), "{got}");
}

/// Run the issue's 20 s scenario with `--store-lease-ms lease`; returns (target count,
/// max 200s in a second, quota calls, samples).
fn shared_run(lease: &str, secs: f64) -> (usize, usize, u64, Vec<Sample>) {
    let redis = Redis::start();
    let rec = Recorder::start();
    let url = redis.url();
    let gws = replicas(
        3,
        &tenant(&rec, QUOTA),
        &["--store", &url, "--store-lease-ms", lease],
    );
    let before = redis.quota_calls();
    let load = Load::start(&gws.iter().map(|g| g.port).collect::<Vec<_>>(), 120.0, secs);
    let samples = load.finish();
    let calls = redis.quota_calls() - before;
    let got = rec.requests().len();
    assert_eq!(
        got,
        samples.iter().filter(|s| s.status == 200).count(),
        "a refused request never reaches the target"
    );
    (got, max_per_second(&samples), calls, samples)
}

#[test]
fn lease_zero_is_exact_across_three_replicas() {
    let _one = serial();
    let (got, max_1s, calls, samples) = shared_run("0", 20.0);
    eprintln!(
        "lease 0: target received {got} in 20 s, at most {max_1s} in a second, {calls} store calls ({})",
        summary(&samples)
    );
    assert!((398..=413).contains(&got), "target received {got}");
    assert!(max_1s <= 30, "{max_1s} in one second");
    assert_only_200_and_scim_429(&samples);
}

#[test]
fn the_default_lease_stays_within_rate_times_lease() {
    let _one = serial();
    let (got, max_1s, calls, samples) = shared_run("100", 20.0);
    let per_admitted = calls as f64 / got as f64;
    eprintln!(
        "lease 100 ms: target received {got} in 20 s, at most {max_1s} in a second, {calls} store calls ({per_admitted:.3} per admitted; {})",
        summary(&samples)
    );
    assert!((369..=412).contains(&got), "target received {got}");
    // burst + rate × (1 s + lease) = 10 + 20 × 1.1
    assert!(max_1s <= 32, "{max_1s} in one second");
    assert!(
        per_admitted <= 0.6,
        "{per_admitted} store calls per admitted request"
    );
    assert_only_200_and_scim_429(&samples);
}

#[test]
fn one_upstream_429_holds_every_replica() {
    let _one = serial();
    let redis = Redis::start();
    let rec = Recorder::start();
    let url = redis.url();
    // A quota that never limits here: every request reaches the target unless held. No
    // retries: the replica that meets the 429 passes it on and holds (it would otherwise wait
    // the 5 s out itself, within max_wait_ms).
    let gws = replicas(
        3,
        &tenant(
            &rec,
            "[limits]\nrequests_per_second = 1000\nburst = 1000\n[upstream.retry]\nattempts = 0",
        ),
        &["--store", &url],
    );
    let load = Load::start(&gws.iter().map(|g| g.port).collect::<Vec<_>>(), 120.0, 9.0);
    load.at(2.0);
    rec.set(Answer::Json(
        429,
        vec![("Retry-After".into(), "5".into())],
        r#"{"detail":"slow down"}"#.into(),
    ));
    std::thread::sleep(Duration::from_millis(15));
    rec.set(Answer::Json(200, vec![], r#"{"ok":true}"#.into()));
    let samples = load.finish();
    let first = samples
        .iter()
        .filter(|s| s.status == 429 && !s.gateway_error)
        .map(|s| s.answered)
        .min()
        .expect("the target answered 429 once")
        .as_secs_f64();
    let held: Vec<_> = samples
        .iter()
        .filter(|s| s.sent.as_secs_f64() > first + 0.05 && s.sent.as_secs_f64() < first + 4.95)
        .collect();
    let leaked: Vec<_> = held
        .iter()
        .filter(|s| s.status != 429 || !s.gateway_error)
        .collect();
    assert!(
        leaked.is_empty(),
        "within 50 ms every replica holds for 5 s: {leaked:?}"
    );
    for r in 0..3 {
        assert!(
            held.iter().any(|s| s.replica == r),
            "replica {r} answered during the hold"
        );
    }
    for s in &held {
        assert!(s.retry_after.is_some(), "{s:?}");
    }
    let resumed = samples
        .iter()
        .find(|s| s.status == 200 && s.sent.as_secs_f64() > first + 4.95)
        .expect("traffic resumes")
        .sent
        .as_secs_f64();
    eprintln!(
        "hold: first upstream 429 at {first:.3} s, traffic resumed {:.3} s later",
        resumed - first
    );
    assert!(
        resumed - first <= 5.5,
        "resumed {:.3} s later",
        resumed - first
    );
}

#[test]
fn kill_9_of_redis_falls_back_to_local_shares_and_comes_back() {
    let _one = serial();
    let mut redis = Redis::start();
    let rec = Recorder::start();
    let url = redis.url();
    let gws = replicas(3, &tenant(&rec, QUOTA), &["--store", &url]);
    let load = Load::start(&gws.iter().map(|g| g.port).collect::<Vec<_>>(), 120.0, 14.0);
    load.at(3.0);
    redis.kill9();
    let killed = load.now().as_secs_f64();
    load.at(9.0);
    redis.restart();
    let back = load.now().as_secs_f64();
    // Shared limiting back within 2 s: every replica's breaker closes.
    let deadline = Instant::now() + Duration::from_secs(2);
    for gw in &gws {
        while metric(gw, "scimgate_store_fallback") != Some(0.0) {
            assert!(
                Instant::now() < deadline,
                "a replica still falls back 2 s after Redis returned"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let recovered = load.now().as_secs_f64() - back;
    let samples = load.finish();
    assert_only_200_and_scim_429(&samples);
    let outage = back - killed;
    let during = ok_between(&samples, killed, back) as f64;
    let bound = 1.15 * RATE * outage + BURST;
    let after = ok_between(&samples, back, 14.0) as f64;
    eprintln!(
        "kill -9: {during} admitted in the {outage:.1} s outage (bound {bound:.0}), {after} in the {:.1} s after, breakers closed {recovered:.2} s after Redis returned ({})",
        14.0 - back,
        summary(&samples)
    );
    assert!(during <= bound, "{during} admitted during the outage");
    assert!(
        during >= 0.8 * RATE * outage,
        "{during}: the fallback still admits the quota"
    );
    // A restart costs at most one burst (plus the lease's overshoot, rate × 100 ms).
    assert!(
        after <= RATE * (14.0 - back) + BURST + 2.0,
        "{after} after the restart"
    );
    for gw in &gws {
        assert!(metric(gw, "scimgate_store_errors_total{kind=\"connection\"}").unwrap() > 0.0);
    }
}

#[test]
fn on_error_open_admits_and_closed_refuses_with_503() {
    let _one = serial();
    let mut redis = Redis::start();
    let rec = Recorder::start();
    let url = redis.url();
    let files = tenant(&rec, "[limits]\nrequests_per_second = 1\nburst = 2");
    let open = Gateway::start_with(&files, &[], &["--store", &url, "--store-on-error", "open"]);
    let closed = Gateway::start_with(
        &files,
        &[],
        &["--store", &url, "--store-on-error", "closed"],
    );
    let get = |gw: &Gateway| call("GET", &gw.url("/acme/Users"), Some(TOKEN), &[], None);
    // Shared: a burst of 2 across both.
    assert_eq!(get(&open).status, 200);
    assert_eq!(get(&closed).status, 200);
    get(&open).assert_scim_error(429, None);
    get(&closed).assert_scim_error(429, None);
    redis.kill9();
    // The denials above are cached for up to a second (the bucket was empty): let them pass.
    std::thread::sleep(Duration::from_millis(1100));
    for _ in 0..10 {
        assert_eq!(
            get(&open).status,
            200,
            "open admits while the store is down"
        );
        let r = get(&closed);
        r.assert_scim_error(503, None);
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    for gw in [&open, &closed] {
        assert_eq!(metric(gw, "scimgate_store_fallback"), Some(1.0));
    }
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(2);
    while metric(&closed, "scimgate_store_fallback") != Some(0.0) {
        assert!(Instant::now() < deadline, "the breaker closes again");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Shared limits again (the restarted store starts the tenant empty: it was at its limit).
    let r = get(&closed);
    assert!(r.status == 200 || r.status == 429, "{r:?}");
}

/// Latency through a fault: no request slower than the baseline + 75 ms, no 5xx.
fn fault_latency(fault: impl FnOnce(&Redis, &Load), name: &str) {
    let redis = Redis::start();
    let rec = Recorder::start();
    let url = redis.url();
    let gws = replicas(3, &tenant(&rec, QUOTA), &["--store", &url]);
    let load = Load::start(&gws.iter().map(|g| g.port).collect::<Vec<_>>(), 120.0, 9.0);
    load.at(3.0);
    fault(&redis, &load);
    let samples = load.finish();
    assert_only_200_and_scim_429(&samples);
    let mut before: Vec<Duration> = samples
        .iter()
        .filter(|s| s.sent.as_secs_f64() >= 0.5 && s.sent.as_secs_f64() < 3.0)
        .map(Sample::latency)
        .collect();
    before.sort();
    let baseline = before[before.len() * 99 / 100];
    let worst = samples
        .iter()
        .filter(|s| s.sent.as_secs_f64() >= 3.0)
        .max_by_key(|s| s.latency())
        .unwrap();
    let during = ok_between(&samples, 3.0, 6.0);
    eprintln!(
        "{name}: baseline p99 {baseline:?}, worst during/after {:?} ({worst:?}); {during} admitted in the 3 s fault ({})",
        worst.latency(),
        summary(&samples)
    );
    assert!(
        worst.latency() <= baseline + Duration::from_millis(75),
        "{name}: {:?} vs baseline {baseline:?}",
        worst.latency()
    );
    assert!(during as f64 <= 1.15 * RATE * 3.0 + BURST, "{during}");
}

#[test]
fn sigstop_of_redis_for_3_s_costs_no_request_more_than_75_ms() {
    let _one = serial();
    fault_latency(
        |redis, load| {
            redis.signal("-STOP");
            load.at(6.0);
            redis.signal("-CONT");
        },
        "SIGSTOP 3 s",
    );
}

#[test]
fn client_pause_of_redis_for_3_s_costs_no_request_more_than_75_ms() {
    let _one = serial();
    fault_latency(
        |redis, _| {
            assert_eq!(redis.cli(&["CLIENT", "PAUSE", "3000", "ALL"]), "OK");
        },
        "CLIENT PAUSE 3 s",
    );
}

// ---------------------------------------------------------------------------------------------
// start-up and TLS

#[test]
fn a_store_down_at_start_serves_on_the_fallback() {
    let _one = serial();
    let rec = Recorder::start();
    let nothing = format!("redis://127.0.0.1:{}", free_port());
    let slow = "[limits]\nrequests_per_second = 1\nburst = 5";
    let gw = Gateway::start_with(&tenant(&rec, slow), &[], &["--store", &nothing]);
    let statuses: Vec<u16> = (0..8)
        .map(|_| call("GET", &gw.url("/acme/Users"), Some(TOKEN), &[], None).status)
        .collect();
    // The local limiter at the whole quota (no replica was ever seen).
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while metric(&gw, "scimgate_store_fallback") != Some(1.0) {
        assert!(Instant::now() < deadline, "the breaker opens");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_store_flags_stop_start_up_with_a_message() {
    let rec = Recorder::start();
    let files = tenant(&rec, QUOTA);
    let (code, err) = Gateway::try_start_with(
        &files,
        &[],
        &["--store", "http://user:hunter2@127.0.0.1:6379"],
    )
    .err()
    .expect("refused");
    assert_eq!(code, Some(1));
    assert!(err.contains("redis://"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let (code, err) = Gateway::try_start_with(&files, &[], &["--store-lease-ms", "0"])
        .err()
        .expect("refused");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--store"), "{err}");
}

#[test]
fn rediss_shares_quotas_over_tls_verified_by_the_ca() {
    let _one = serial();
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let p = |f: &str| pki.path().join(f).to_string_lossy().into_owned();
    let port = free_port();
    let _redis = Redis::start_with(
        port,
        vec![
            "--tls-port".into(),
            port.to_string(),
            "--port".into(),
            "0".into(),
            "--tls-cert-file".into(),
            p("server.pem"),
            "--tls-key-file".into(),
            p("server.key"),
            "--tls-ca-cert-file".into(),
            p("ca.pem"),
            "--tls-auth-clients".into(),
            "no".into(),
        ],
    );
    let rec = Recorder::start();
    let url = format!("rediss://127.0.0.1:{port}");
    let ca = p("ca.pem");
    let mut files = tenant(&rec, "[limits]\nrequests_per_second = 1\nburst = 3");
    // A second tenant to open each replica's store connection (TCP + TLS) before the count:
    // a first call slower than --store-timeout-ms on a busy machine would fall back.
    files.push((
        "warm.toml",
        policy("warm", "/warm", TOKEN, &rec.url(), "", ""),
    ));
    let env = [("SSL_CERT_FILE", ca.as_str())];
    // Exact (no lease) and a generous store budget: this test is about TLS and sharing, not
    // latency (a busy machine's 25 ms miss would fall back to local shares).
    let args = [
        "--store",
        url.as_str(),
        "--store-lease-ms",
        "0",
        "--store-timeout-ms",
        "500",
    ];
    let a = Gateway::start_with(&files, &env, &args);
    let b = Gateway::start_with(&files, &env, &args);
    for gw in [&a, &b] {
        for _ in 0..3 {
            call("GET", &gw.url("/warm/Users"), Some(TOKEN), &[], None);
        }
    }
    let statuses: Vec<u16> = (0..6)
        .map(|i| {
            let gw = if i % 2 == 0 { &a } else { &b };
            call("GET", &gw.url("/acme/Users"), Some(TOKEN), &[], None).status
        })
        .collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 429, 429],
        "one burst of 3 across both"
    );
    for gw in [&a, &b] {
        assert_eq!(metric(gw, "scimgate_store_fallback"), Some(0.0));
        assert_eq!(
            metric(gw, "scimgate_store_errors_total{kind=\"connection\"}"),
            Some(0.0),
            "{}",
            gw.log()
        );
    }
}

#[test]
fn a_503_with_retry_after_holds_the_other_replica_too() {
    let _one = serial();
    let redis = Redis::start();
    let rec = Recorder::start();
    let url = redis.url();
    // No retries: the first replica must pass the 503 on and hold, not wait out the 3 s itself.
    let files = tenant(&rec, "[upstream.retry]\nattempts = 0\n");
    let a = Gateway::start_with(&files, &[], &["--store", &url]);
    let b = Gateway::start_with(&files, &[], &["--store", &url]);
    rec.set(Answer::Json(
        503,
        vec![("Retry-After".into(), "3".into())],
        r#"{"detail":"maintenance"}"#.into(),
    ));
    let get = |gw: &Gateway| call("GET", &gw.url("/acme/Users"), Some(TOKEN), &[], None);
    assert_eq!(get(&a).status, 503, "the target's answer passes through");
    rec.set(Answer::Json(200, vec![], r#"{"ok":true}"#.into()));
    std::thread::sleep(Duration::from_millis(50));
    let r = get(&b);
    r.assert_scim_error(429, None);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(
        rec.requests().len(),
        1,
        "the other replica did not call the target"
    );
    assert!(
        redis
            .cli(&["PTTL", "{scimgate:acme}:hold"])
            .parse::<i64>()
            .unwrap()
            > 2_000
    );
}

#[test]
fn the_deletion_guard_counts_across_replicas_and_one_release_frees_them_all() {
    let _one = serial();
    let redis = Redis::start();
    let rec = Recorder::start();
    let gws = replicas(
        2,
        &tenant(&rec, "[guard]\nmax_deletes = 5\nwindow_s = 60\n"),
        &["--store", &redis.url()],
    );
    let delete = |gw: &Gateway, i: usize| {
        call(
            "DELETE",
            &gw.url(&format!("/acme/Users/u{i}")),
            Some(TOKEN),
            &[],
            None,
        )
    };
    let mut refused = 0;
    for i in 0..12 {
        let r = delete(&gws[i % 2], i);
        if r.status == 503 {
            assert!(r.header("retry-after").is_some(), "{}", r.body);
            refused += 1;
        } else {
            assert!(r.status < 300, "{} {}", r.status, r.body);
        }
    }
    let deletes = |rec: &Recorder| {
        rec.requests()
            .iter()
            .filter(|r| r.method == "DELETE")
            .count()
    };
    assert_eq!(
        deletes(&rec),
        5,
        "two replicas, one max_deletes: the target got exactly 5"
    );
    assert_eq!(refused, 7);
    // A release on one replica frees the other too.
    let release = ureq::post(&format!(
        "http://127.0.0.1:{}/admin/tenants/acme/guard/release",
        gws[0].admin
    ))
    .call()
    .map(|r| r.status())
    .unwrap_or_else(|e| match e {
        ureq::Error::Status(s, _) => s,
        other => panic!("{other}"),
    });
    assert!(release < 300, "release answered {release}");
    assert!(delete(&gws[1], 100).status < 300);
    assert_eq!(deletes(&rec), 6);
}
