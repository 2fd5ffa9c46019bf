//! The metrics endpoint scraped by a real Prometheus server, queried back through its API:
//! what ops will put on dashboards must parse and carry the contract's names and labels.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn query(port: u16, q: &str) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    match ureq::get(&url).query("query", q).call() {
        Ok(r) => {
            let v: Value = r.into_json().unwrap();
            v["data"]["result"].as_array().cloned().unwrap_or_default()
        }
        Err(_) => vec![],
    }
}

#[test]
fn a_real_prometheus_scrapes_the_contract_metrics() {
    let bin = tool("PROMETHEUS_BIN", "prometheus");
    let server = ScimServer::start();
    let gw = Gateway::start(
        &[(
            "local.toml",
            policy("local", "/local/scim/v2", "tok", &server.url(), "", ""),
        )],
        &[],
    );
    let base = gw.url("/local/scim/v2");
    for i in 0..3 {
        let body = json!({"schemas": [SCIM_USER], "userName": format!("p{i}")}).to_string();
        assert_eq!(
            call(
                "POST",
                &format!("{base}/Users"),
                Some("tok"),
                &[],
                Some(&body)
            )
            .status,
            201
        );
    }
    assert_eq!(
        call("GET", &format!("{base}/Users"), None, &[], None).status,
        401
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: scimgate\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n", gw.admin),
    )
    .unwrap();
    let port = free_port();
    let mut prom = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let created = loop {
        let r = query(
            port,
            r#"scimgate_requests_total{tenant="local",resource="Users",method="POST",status="201"}"#,
        );
        if !r.is_empty() {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped scimgate"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(created[0]["value"][1], "3");
    let up = query(port, r#"up{job="scimgate"}"#);
    assert_eq!(up[0]["value"][1], "1", "the scrape succeeds: {up:?}");
    let denied = query(port, r#"scimgate_requests_total{status="401"}"#);
    assert_eq!(denied[0]["metric"]["tenant"], "local");
    assert_eq!(denied[0]["value"][1], "1");
    assert_eq!(query(port, "scimgate_policy_tenants")[0]["value"][1], "1");
    let hist = query(
        port,
        r#"sum(scimgate_request_duration_seconds_count{tenant="local"})"#,
    );
    assert_eq!(hist[0]["value"][1], "4");
    let up_hist = query(
        port,
        r#"scimgate_upstream_duration_seconds_bucket{tenant="local",le="+Inf"}"#,
    );
    assert_eq!(up_hist[0]["value"][1], "3");
    let _ = prom.kill();
    let _ = prom.wait();
}
