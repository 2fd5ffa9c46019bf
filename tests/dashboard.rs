//! The Grafana dashboard and the Prometheus alert rules in `deploy/` against the real thing:
//! every panel query of `deploy/grafana/scimgate.json`, run by a real Prometheus scraping a
//! gateway under a small mixed load, returns data; the queries name only contract metrics;
//! `deploy/prometheus/alerts.yml` passes `promtool check rules`, loads and evaluates cleanly.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// The contract's metric names (policies/README.md, "Metrics"), plus the reload counter and the
/// connection edge's and the upstream pool's.
const METRICS: &[&str] = &[
    "scimgate_requests_total",
    "scimgate_request_duration_seconds",
    "scimgate_upstream_duration_seconds",
    "scimgate_upstream_errors_total",
    "scimgate_rate_limited_total",
    "scimgate_bulk_operations",
    "scimgate_bulk_rejected_total",
    "scimgate_rules_applied_total",
    "scimgate_policy_reloads_total",
    "scimgate_policy_tenants",
    "scimgate_upstream_retries_total",
    "scimgate_queue_delay_seconds",
    "scimgate_guard_blocked_total",
    "scimgate_guard_tripped",
    "scimgate_connections",
    "scimgate_connections_refused_total",
    "scimgate_worker_connections",
    "scimgate_edge_refusals_total",
    "scimgate_upstream_connections_opened_total",
];

/// Metrics without a `tenant` label.
const UNTENANTED: &[&str] = &[
    "scimgate_policy_reloads_total",
    "scimgate_policy_tenants",
    "scimgate_connections",
    "scimgate_connections_refused_total",
    "scimgate_worker_connections",
    "scimgate_edge_refusals_total",
    "scimgate_upstream_connections_opened_total",
];

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn dashboard() -> Value {
    let path = repo_file("deploy/grafana/scimgate.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// (panel title, expr) of every target of every panel, rows' nested panels included.
fn panel_exprs(dash: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("panel {title:?}: a target without expr: {t}"));
                out.push((title.clone(), expr.to_string()));
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// Every `scimgate_[a-z_]+` in `text`, without a histogram's `_bucket`/`_sum`/`_count`.
fn metric_names(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "scimgate_";
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(PREFIX) {
        let tail = &rest[i + PREFIX.len()..];
        let n = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let name = &rest[i..i + PREFIX.len() + n];
        if n > 0 {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            out.insert(base.to_string());
        }
        rest = &rest[i + PREFIX.len() + n..];
    }
    out
}

/// What Grafana would send with "All" tenants selected.
fn concrete(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("${tenant}", ".*")
        .replace("$tenant", ".*")
}

/// A real Prometheus scraping the gateway's admin listener every second and evaluating
/// `deploy/prometheus/alerts.yml` every second; killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(admin: u16) -> Self {
        let bin = tool("PROMETHEUS_BIN", "prometheus");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - '{}'\nscrape_configs:\n  - job_name: scimgate\n    static_configs:\n      - targets: ['127.0.0.1:{admin}']\n",
                repo_file("deploy/prometheus/alerts.yml").display()
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prom = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while prom.query(r#"up{job="scimgate"} == 1"#).is_empty() {
            assert!(
                Instant::now() < deadline,
                "Prometheus never scraped scimgate"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        prom
    }

    /// The result vector of an instant query; empty while Prometheus is not ready. A query
    /// Prometheus refuses (bad PromQL, matching errors) fails the test at once.
    fn query(&self, q: &str) -> Vec<Value> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        match ureq::get(&url).query("query", q).call() {
            Ok(r) => {
                let v: Value = r.into_json().unwrap();
                v["data"]["result"].as_array().cloned().unwrap_or_default()
            }
            Err(ureq::Error::Status(code @ (400 | 422), r)) => panic!(
                "Prometheus refused {q} ({code}): {}",
                r.into_string().unwrap_or_default()
            ),
            Err(_) => vec![],
        }
    }

    fn rules(&self) -> Vec<Value> {
        let url = format!("http://127.0.0.1:{}/api/v1/rules", self.port);
        let v: Value = ureq::get(&url).call().unwrap().into_json().unwrap();
        v["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user(name: &str) -> String {
    json!({"schemas": [SCIM_USER], "userName": name}).to_string()
}

fn bulk(prefix: &str, n: usize) -> String {
    let ops: Vec<Value> = (0..n)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": {"schemas": [SCIM_USER], "userName": format!("{prefix}-{i}")}}))
        .collect();
    json!({"schemas": [BULK], "Operations": ops}).to_string()
}

/// Retry while tenant b's quota (1/s, burst 2) answers 429.
fn past_quota(method: &str, url: &str, token: &str, body: Option<&str>) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = call(method, url, Some(token), &[], body);
        if r.status != 429 || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(1100));
    }
}

/// a: plain (one `[[set]]` rule, for `scimgate_rules_applied_total`); b: 1 request/s, burst 2,
/// Bulks of at most 2 operations; c: a closed port; d: a target that always answers 429.
fn tenants(server: &ScimServer, throttler: &Recorder) -> Vec<(&'static str, String)> {
    let closed = format!("http://127.0.0.1:{}/v2", free_port());
    vec![
        (
            "a.toml",
            policy(
                "a",
                "/a/scim/v2",
                "ta",
                &server.url(),
                "",
                "[[set]]\npath = \"title\"\nvalue = \"Engineer\"",
            ),
        ),
        (
            "b.toml",
            policy(
                "b",
                "/b/scim/v2",
                "tb",
                &server.url(),
                "",
                "[limits]\nrequests_per_second = 1\nburst = 2\nbulk_max_operations = 2",
            ),
        ),
        ("c.toml", policy("c", "/c/scim/v2", "tc", &closed, "", "")),
        (
            "d.toml",
            policy("d", "/d/scim/v2", "td", &throttler.url(), "", ""),
        ),
        // e: waits for its turn ([limits] mode = "delay") and guards deletions (one per 10 min).
        (
            "e.toml",
            policy(
                "e",
                "/e/scim/v2",
                "te",
                &server.url(),
                "",
                "[limits]\nrequests_per_second = 100\nmode = \"delay\"\n[guard]\nmax_deletes = 1\nwindow_s = 600",
            ),
        ),
    ]
}

/// One pass of every kind of request the panels show.
fn load(gw: &Gateway) {
    let a = gw.url("/a/scim/v2");
    let b = gw.url("/b/scim/v2");
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = call(
            "POST",
            &format!("{a}/Users"),
            Some("ta"),
            &[],
            Some(&user(&format!("dash-a-{i}"))),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        call("GET", &format!("{a}/Users"), Some("ta"), &[], None).status,
        200
    );
    assert_eq!(
        call(
            "GET",
            &format!("{a}/Users/{}", ids[0]),
            Some("ta"),
            &[],
            None
        )
        .status,
        200
    );
    assert_eq!(
        call(
            "GET",
            &format!("{a}/Users/no-such-user"),
            Some("ta"),
            &[],
            None
        )
        .status,
        404
    );

    let r = past_quota("POST", &format!("{b}/Users"), "tb", Some(&user("dash-b-0")));
    assert_eq!(r.status, 201, "{}", r.body);
    let statuses: Vec<u16> = (0..5)
        .map(|_| call("GET", &format!("{b}/Users"), Some("tb"), &[], None).status)
        .collect();
    assert!(
        statuses.contains(&429),
        "b goes over its quota: {statuses:?}"
    );
    let r = past_quota(
        "POST",
        &format!("{b}/Bulk"),
        "tb",
        Some(&bulk("dash-bulk", 1)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = past_quota(
        "POST",
        &format!("{b}/Bulk"),
        "tb",
        Some(&bulk("dash-big", 3)),
    );
    r.assert_scim_error(413, None);

    call("GET", &gw.url("/c/scim/v2/Users"), Some("tc"), &[], None).assert_scim_error(502, None);
    assert_eq!(
        call("GET", &gw.url("/d/scim/v2/Users"), Some("td"), &[], None).status,
        429
    );

    // e: a read waits (no time) in its lane; the second deletion trips the guard.
    let e = gw.url("/e/scim/v2");
    assert_eq!(
        call("GET", &format!("{e}/Users"), Some("te"), &[], None).status,
        200
    );
    let first = call(
        "DELETE",
        &format!("{e}/Users/no-such-1"),
        Some("te"),
        &[],
        None,
    );
    assert_eq!(first.status, 404, "{}", first.body);
    call(
        "DELETE",
        &format!("{e}/Users/no-such-2"),
        Some("te"),
        &[],
        None,
    )
    .assert_scim_error(503, None);

    let m = gw.metrics();
    for series in [
        r#"scimgate_rate_limited_total{tenant="b"}"#,
        r#"scimgate_bulk_rejected_total{reason="max_operations",tenant="b"}"#,
        r#"scimgate_bulk_operations_count{tenant="b"}"#,
        r#"scimgate_upstream_errors_total{kind="connect",tenant="c"}"#,
        r#"scimgate_upstream_errors_total{kind="throttled",tenant="d"}"#,
        r#"scimgate_rules_applied_total{kind="set",tenant="a"}"#,
        r#"scimgate_upstream_retries_total{reason="connect",tenant="c"}"#,
        r#"scimgate_queue_delay_seconds_count{tenant="e"}"#,
        r#"scimgate_guard_blocked_total{tenant="e"} 1"#,
        r#"scimgate_guard_tripped{tenant="e"} 1"#,
    ] {
        assert!(m.contains(series), "{series} missing from /metrics:\n{m}");
    }
}

/// Requests to every tenant every 250 ms until finished or dropped, so that rate() over any
/// window has increases to show. Statuses are not checked: b is over its quota most of the time.
struct Trickle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Trickle {
    fn start(gw: &Gateway) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = Some(trickle(gw, stop.clone()));
        Trickle { stop, thread }
    }

    /// Stop, and fail if a request could not be sent at all.
    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("background requests");
        }
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn trickle(gw: &Gateway, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let urls: Vec<(String, &str)> = ["a", "b", "c", "d"]
        .iter()
        .map(|t| (gw.url(&format!("/{t}/scim/v2")), *t))
        .collect();
    std::thread::spawn(move || {
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            for (base, t) in &urls {
                let token = format!("t{t}");
                call("GET", &format!("{base}/Users"), Some(&token), &[], None);
            }
            let (a, b) = (&urls[0].0, &urls[1].0);
            call(
                "GET",
                &format!("{a}/Users/no-such-user"),
                Some("ta"),
                &[],
                None,
            );
            if i.is_multiple_of(4) {
                let name = format!("dash-trickle-{i}");
                call(
                    "POST",
                    &format!("{a}/Users"),
                    Some("ta"),
                    &[],
                    Some(&user(&name)),
                );
                call(
                    "POST",
                    &format!("{b}/Bulk"),
                    Some("tb"),
                    &[],
                    Some(&bulk(&name, 1)),
                );
                call(
                    "POST",
                    &format!("{b}/Bulk"),
                    Some("tb"),
                    &[],
                    Some(&bulk(&name, 3)),
                );
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(250));
        }
    })
}

#[test]
fn every_dashboard_panel_has_data_from_a_real_prometheus() {
    let started = Instant::now();
    let dash = dashboard();
    let exprs = panel_exprs(&dash);
    assert!(!exprs.is_empty(), "the dashboard has no queries");

    let server = ScimServer::start();
    let throttler = Recorder::start();
    throttler.set(Answer::Json(
        429,
        vec![("Retry-After".into(), "1".into())],
        r#"{"detail":"slow down"}"#.into(),
    ));
    let gw = Gateway::start(&tenants(&server, &throttler), &[]);
    // Scraping from before the load, so that rate() sees the first increases too.
    let prom = Prometheus::start(gw.admin);
    load(&gw);
    let background = Trickle::start(&gw);

    // What must answer: every panel query, and two alerts the load makes pending for c.
    let mut pending: BTreeMap<String, String> = exprs
        .iter()
        .map(|(title, e)| (concrete(e), title.clone()))
        .collect();
    for alert in ["ScimgateUpstreamDown", "ScimgateHighErrorRatio"] {
        pending.insert(
            format!(r#"ALERTS{{alertname="{alert}",tenant="c"}}"#),
            format!("alert {alert}"),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|q, _| prom.query(q).is_empty());
        std::thread::sleep(Duration::from_millis(500));
    }

    // A query may stay empty only if its metric does not exist in this build at all.
    let exposed = gw.metrics();
    let mut failures = Vec::new();
    let mut allowed = 0;
    for (q, title) in &pending {
        let missing: Vec<String> = metric_names(q)
            .into_iter()
            .filter(|n| !exposed.contains(n.as_str()))
            .collect();
        if missing.is_empty() || title.starts_with("alert ") {
            failures.push(format!("{title}: {q}"));
        } else {
            allowed += 1;
            println!(
                "empty, allowed: {title:?} ({} not exposed by this build): {q}",
                missing.join(", ")
            );
        }
    }
    assert!(
        failures.is_empty(),
        "no data after 60 s for:\n  {}",
        failures.join("\n  ")
    );

    // A healthy tenant is not reported down; every rule evaluates without error.
    assert!(
        prom.query(r#"ALERTS{alertname="ScimgateUpstreamDown",tenant="a"}"#)
            .is_empty(),
        "tenant a answers 2xx"
    );
    let rules = prom.rules();
    assert!(!rules.is_empty(), "alerts.yml was not loaded");
    for r in &rules {
        assert_eq!(
            r["health"], "ok",
            "rule {} does not evaluate: {r}",
            r["name"]
        );
    }

    background.finish();
    println!(
        "{} of {} panel queries answered ({allowed} empty, allowed), {} rules healthy, in {:?}",
        exprs.len() - allowed,
        exprs.len(),
        rules.len(),
        started.elapsed()
    );
}

#[test]
fn the_alert_rules_pass_promtool() {
    let bin = tool("PROMTOOL_BIN", "promtool");
    let rules = repo_file("deploy/prometheus/alerts.yml");
    let out = Command::new(&bin)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check rules {}:\n{}{}",
        rules.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&bin)
        .args(["check", "config"])
        .arg(repo_file("deploy/prometheus/prometheus.yml"))
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check config:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&rules).unwrap();
    let unknown: Vec<String> = metric_names(&text)
        .into_iter()
        .filter(|n| !METRICS.contains(&n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "alerts.yml names unknown metrics: {unknown:?}"
    );
}

#[test]
fn the_dashboard_has_a_tenant_variable_and_queries_only_contract_metrics() {
    let dash = dashboard();
    let vars = dash["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no {name} variable"))
    };
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let tenant = var("tenant");
    assert_eq!(tenant["type"], "query");
    assert_eq!(
        tenant["definition"],
        "label_values(scimgate_requests_total, tenant)"
    );
    assert_eq!(tenant["multi"], true);
    assert_eq!(tenant["includeAll"], true);
    assert_eq!(tenant["datasource"]["uid"], "${datasource}");

    let exprs = panel_exprs(&dash);
    assert!(exprs.len() >= 10, "{} queries", exprs.len());
    for (title, expr) in &exprs {
        let names = metric_names(expr);
        assert!(
            !names.is_empty(),
            "{title:?} queries no scimgate metric: {expr}"
        );
        for n in &names {
            assert!(
                METRICS.contains(&n.as_str()),
                "{title:?} queries {n}, not a scimgate metric: {expr}"
            );
            if !UNTENANTED.contains(&n.as_str()) {
                assert!(
                    expr.contains(r#"tenant=~"$tenant""#),
                    "{title:?} does not filter on $tenant: {expr}"
                );
            }
        }
        // Every range selector is Grafana's rate interval.
        for window in expr.split('[').skip(1) {
            assert!(
                window.starts_with("$__rate_interval]"),
                "{title:?} has a window other than $__rate_interval: {expr}"
            );
        }
    }
    for p in dash["panels"].as_array().unwrap() {
        if p["targets"].as_array().is_some_and(|t| !t.is_empty()) {
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "panel {} uses a fixed datasource",
                p["title"]
            );
        }
    }
    let used: BTreeSet<String> = exprs.iter().flat_map(|(_, e)| metric_names(e)).collect();
    for m in METRICS {
        assert!(used.contains(*m), "no panel shows {m}");
    }
}
