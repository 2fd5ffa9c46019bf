//! TLS both ways: the gateway's own `--tls-listen`, and https targets verified by default,
//! trusted through a policy's `ca_file` for a private CA and refused (502) without it.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use std::process::Command;

#[test]
fn https_targets_are_verified_and_private_cas_are_trusted_by_ca_file() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let rec = Recorder::start();

    // The inner gateway serves TLS with the private CA's certificate, in front of the recorder.
    let inner_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        inner_dir.path().join("inner.toml"),
        policy("inner", "/inner", "inner-token", &rec.url(), "", ""),
    )
    .unwrap();
    let tls_port = free_port();
    let plain_port = std::iter::repeat_with(free_port)
        .find(|&p| p != tls_port)
        .unwrap_or(tls_port);
    let mut inner = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["serve", "--policies"])
        .arg(inner_dir.path())
        .args([
            "--listen",
            &format!("127.0.0.1:{plain_port}"),
            "--tls-listen",
            &format!("127.0.0.1:{tls_port}"),
        ])
        .arg("--tls-cert")
        .arg(pki.path().join("server.pem"))
        .arg("--tls-key")
        .arg(pki.path().join("server.key"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "TLS listener not up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // The outer gateway reaches it over https: once trusting the CA, once not.
    let target = format!("https://127.0.0.1:{tls_port}/inner");
    let ca = pki.path().join("ca.pem");
    let outer = Gateway::start(
        &[
            (
                "trusted.toml",
                policy(
                    "trusted",
                    "/trusted",
                    "t",
                    &target,
                    &format!("bearer_env = \"INNER\"\nca_file = \"{}\"", ca.display()),
                    "",
                ),
            ),
            (
                "untrusted.toml",
                policy(
                    "untrusted",
                    "/untrusted",
                    "t",
                    &target,
                    "bearer_env = \"INNER\"",
                    "",
                ),
            ),
        ],
        &[("INNER", "inner-token")],
    );
    let ok = call(
        "GET",
        &outer.url("/trusted/Users?count=1"),
        Some("t"),
        &[],
        None,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(rec.requests().len(), 1);
    assert_eq!(rec.requests()[0].target, "/base/v2/Users?count=1");

    let refused = call("GET", &outer.url("/untrusted/Users"), Some("t"), &[], None);
    refused.assert_scim_error(502, None);
    assert_eq!(rec.requests().len(), 1, "an unverified target gets nothing");
    let _ = inner.kill();
    let _ = inner.wait();
}
