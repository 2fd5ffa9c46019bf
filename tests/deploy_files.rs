//! The deployment files in `deploy/` (Dockerfile, compose, Prometheus and Grafana provisioning,
//! Kubernetes manifests) checked without Docker, a cluster or the network.
//!
//! YAML is read by `tests/deploy/check_deploy_files.py` in the project's venv (PyYAML, pinned in
//! `tests/conformance/requirements.txt`), which cross-checks the files against each other and
//! the repository; the policies the compose stack and the Kubernetes ConfigMap ship must pass
//! `scimgate check`. `SCIMGATE_ALLOW_MISSING_DASHBOARD=1` tolerates a missing
//! `deploy/grafana/scimgate.json`.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's Python, found like `tests/common/mod.rs` finds the venv.
fn python() -> PathBuf {
    let venv = std::env::var_os("SCIMGATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let bin = venv.join("bin/python");
    assert!(
        bin.exists(),
        "{} is missing: run ./scripts/setup.sh first",
        bin.display()
    );
    bin
}

fn checker(args: &[&str]) -> Output {
    Command::new(python())
        .arg(repo().join("tests/deploy/check_deploy_files.py"))
        .arg(repo())
        .args(args)
        .env("SCIMGATE_CARGO", env!("CARGO"))
        .output()
        .expect("run tests/deploy/check_deploy_files.py")
}

fn scimgate_check(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .arg("check")
        .arg(dir)
        .output()
        .expect("run scimgate check")
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn toml_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count()
}

#[test]
fn deploy_files_parse_and_agree() {
    let out = checker(&[]);
    assert_success("check_deploy_files.py", &out);
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn compose_policies_pass_scimgate_check() {
    let dir = repo().join("deploy/compose-policies");
    assert!(toml_files(&dir) > 0, "{} holds no policy", dir.display());
    assert_success(
        "scimgate check deploy/compose-policies",
        &scimgate_check(&dir),
    );
}

#[test]
fn k8s_configmap_policies_pass_scimgate_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = checker(&["--extract-configmap", dir.path().to_str().unwrap()]);
    assert_success("extracting the policies ConfigMap", &out);
    assert!(
        toml_files(dir.path()) > 0,
        "the policies ConfigMap holds no *.toml"
    );
    assert_success(
        "scimgate check on the ConfigMap's policies",
        &scimgate_check(dir.path()),
    );
}

/// The `--admin` address of a command line split into words (`--admin ADDR` or `--admin=ADDR`).
fn admin_flag(words: &[&str]) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        w.strip_prefix("--admin=")
            .map(str::to_string)
            .or_else(|| (*w == "--admin").then(|| words.get(i + 1).unwrap().to_string()))
    })
}

fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').unwrap().0;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The admin listener has no authentication: the image, the systemd unit and every script bind
/// it to loopback; only deployments that must be scraped from another container or the pod IP
/// (compose, Kubernetes) say otherwise in their own command, which the Python checker asserts.
#[test]
fn the_admin_listener_is_loopback_unless_told_otherwise() {
    let docker = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let cmd = docker
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("a CMD in deploy/Dockerfile");
    let cmd: Vec<String> = serde_json::from_str(cmd).expect("an exec-form CMD");
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let admin = admin_flag(&cmd).expect("the image's CMD passes --admin");
    assert!(
        is_loopback(&admin),
        "deploy/Dockerfile CMD binds --admin {admin}"
    );

    let unit = std::fs::read_to_string(repo().join("deploy/scimgate.service")).unwrap();
    let unit = unit.replace("\\\n", " ");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let words: Vec<&str> = exec.split_whitespace().collect();
    let admin = admin_flag(&words).expect("the systemd unit passes --admin");
    assert!(
        is_loopback(&admin),
        "scimgate.service binds --admin {admin}"
    );

    let mut scripts = 0;
    for dir in ["scripts", "benches", "benches/load"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "sh") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap().replace('"', " ");
            for line in text.lines().filter(|l| l.contains("--admin")) {
                let words: Vec<&str> = line.split_whitespace().collect();
                let admin = admin_flag(&words).unwrap();
                assert!(is_loopback(&admin), "{}: --admin {admin}", p.display());
                scripts += 1;
            }
        }
    }
    assert!(scripts > 0, "no script starts the gateway with --admin");
    // compose and k8s (YAML): `deploy_files_parse_and_agree` runs the checker, which refuses
    // a non-loopback admin address they inherit rather than pass, or publish beyond 127.0.0.1.
}
