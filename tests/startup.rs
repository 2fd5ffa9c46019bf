//! Start-up refuses clearly: a missing upstream secret names the tenant and the variable,
//! bad listen addresses and TLS files are messages, not panics. `hash-token` works as documented.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn a_missing_secret_names_the_tenant_and_variable() {
    let p = policy(
        "acme-webex",
        "/acme",
        "t",
        "http://127.0.0.1:9/v2",
        "bearer_env = \"ACME_WEBEX_TOKEN_UNSET\"",
        "",
    );
    let Err((code, err)) = Gateway::try_start(&[("acme.toml", p)], &[]) else {
        panic!("started without its secret");
    };
    assert_eq!(code, Some(1));
    assert!(err.contains("acme.toml:7:14: error[E060]: tenant \"acme-webex\": environment variable ACME_WEBEX_TOKEN_UNSET (upstream.bearer_env) is not set"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_secret_file_is_read_and_sent() {
    let rec = Recorder::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let p = policy(
        "a",
        "/a",
        "t",
        &rec.url(),
        &format!("bearer_file = \"{}\"", secret.display()),
        "",
    );
    let gw = Gateway::start(&[("a.toml", p)], &[]);
    assert_eq!(
        call("GET", &gw.url("/a/Users"), Some("t"), &[], None).status,
        200
    );
    assert_eq!(
        rec.requests()[0].header("authorization"),
        Some("Bearer from-a-file")
    );
}

fn serve_err(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        policy("a", "/a", "t", "http://127.0.0.1:9/v2", "", ""),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["serve", "--policies"])
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_listen_addresses_and_tls_files_are_clear_errors() {
    assert!(serve_err(&["--listen", "not-an-address"])
        .contains("--listen \"not-an-address\" is not an IP:port address"));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    assert!(
        serve_err(&["--listen", &addr]).contains(&format!("cannot listen on {addr} (--listen)"))
    );
    let e = serve_err(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        "/nonexistent.key",
    ]);
    assert!(
        e.contains("--tls-cert /nonexistent.pem / --tls-key /nonexistent.key cannot be used"),
        "{e}"
    );
    let e = serve_err(&["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"]);
    assert!(e.contains("go together"), "{e}");
    // Two listeners on one address: refused before either is opened.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let same = format!("127.0.0.1:{port}");
    let e = serve_err(&["--listen", &same, "--admin", &same]);
    assert!(
        e.contains(&format!(
            "--listen {same} and --admin {same} share a port: each listener needs its own address"
        )),
        "{e}"
    );
    let any = format!("0.0.0.0:{port}");
    let e = serve_err(&["--listen", &same, "--admin", &any]);
    assert!(e.contains("share a port"), "{e}");
}

#[test]
fn hash_token_prints_the_sha256_hex_of_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
    );
}
