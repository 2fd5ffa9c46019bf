//! Conformance through the gateway with a generic tenant and no rules: the third-party testers
//! scim2-tester and scim-sanity must give exactly what they give straight against scim2-server
//! (135 passed / 0 failed; 24 passed / 4 failed / 3 skipped), check by check.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("SCIMGATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    let bin = venv.join("bin").join(name);
    assert!(
        bin.exists(),
        "{} missing: run ./scripts/setup.sh",
        bin.display()
    );
    bin
}

/// scim2-tester: status of every check, keyed by title and resource type.
fn scim2_tester(url: &str, token: Option<&str>) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/scim2_tester_json.py");
    let mut cmd = Command::new(venv_bin("python"));
    cmd.arg(script).arg(url).arg("--out").arg(&out);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let run = cmd.output().unwrap();
    let text = std::fs::read_to_string(&out).unwrap_or_else(|_| {
        panic!(
            "scim2-tester wrote nothing: {}",
            String::from_utf8_lossy(&run.stderr)
        )
    });
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut seen = BTreeMap::new();
    for r in v["results"].as_array().unwrap() {
        let mut key = format!(
            "{} [{}]",
            r["title"].as_str().unwrap_or(""),
            r["resource_type"].as_str().unwrap_or("-")
        );
        while seen.contains_key(&key) {
            key.push('+');
        }
        let reason = r["reason"].as_str().unwrap_or("");
        seen.insert(
            key,
            format!(
                "{} {}",
                r["status"].as_str().unwrap_or(""),
                if r["status"] == "SUCCESS" { "" } else { reason }
            ),
        );
    }
    seen
}

/// scim-sanity: summary and every probe's status.
fn scim_sanity(url: &str, token: Option<&str>) -> (Value, BTreeMap<String, String>) {
    let mut cmd = Command::new(venv_bin("scim-sanity"));
    cmd.args(["probe", url, "--i-accept-side-effects", "--json-output"]);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let out = cmd.output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scim-sanity output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let probes = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_string(),
                format!(
                    "{} {}",
                    r["status"].as_str().unwrap_or(""),
                    r["message"].as_str().unwrap_or("")
                ),
            )
        })
        .collect();
    (v["summary"].clone(), probes)
}

fn count(results: &BTreeMap<String, String>, prefix: &str) -> usize {
    results.values().filter(|s| s.starts_with(prefix)).count()
}

#[test]
fn scim2_tester_through_the_gateway_equals_the_direct_baseline() {
    let direct = {
        let server = ScimServer::start();
        scim2_tester(&server.url(), None)
    };
    let server = ScimServer::start();
    let gw = Gateway::start(
        &[(
            "local.toml",
            policy(
                "local",
                "/local/scim/v2",
                "conformance-token",
                &server.url(),
                "",
                "",
            ),
        )],
        &[],
    );
    let via = scim2_tester(&gw.url("/local/scim/v2"), Some("conformance-token"));
    assert_eq!(via.len(), 135, "{via:#?}");
    assert_eq!(count(&via, "SUCCESS"), 135, "{via:#?}");
    assert_eq!(via, direct, "check by check, the gateway changes nothing");
}

#[test]
fn scim_sanity_through_the_gateway_equals_the_direct_baseline() {
    let (direct_summary, direct) = {
        let server = ScimServer::start();
        scim_sanity(&server.url(), None)
    };
    let server = ScimServer::start();
    let gw = Gateway::start(
        &[(
            "local.toml",
            policy(
                "local",
                "/local/scim/v2",
                "conformance-token",
                &server.url(),
                "",
                "",
            ),
        )],
        &[],
    );
    let (summary, via) = scim_sanity(&gw.url("/local/scim/v2"), Some("conformance-token"));
    assert_eq!(summary["total"], 31, "{summary}");
    assert_eq!(summary["passed"], 24, "{summary}");
    assert_eq!(summary["failed"], 4, "{summary}");
    assert_eq!(summary["skipped"], 3, "{summary}");
    for (name, status) in &via {
        if status.starts_with("fail") {
            assert!(
                name.starts_with("PATCH") && status.contains("204"),
                "only the tester's PATCH-200 strictness fails: {name}: {status}"
            );
        }
    }
    assert_eq!(summary, direct_summary);
    assert_eq!(via, direct, "probe by probe, the gateway changes nothing");
}
