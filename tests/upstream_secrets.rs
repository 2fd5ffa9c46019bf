//! Upstream secrets stay in their lane, on the real binary: with `--secrets-dir` every
//! `bearer_file` lies inside it once symlinks are resolved (Kubernetes' `..data` links work, a
//! link or `..` leading out does not), and `check` gives serve's verdict; a secret never goes
//! over plain http to a host that is not loopback unless the policy says `allow_insecure`.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A secrets directory laid out as a Kubernetes Secret volume: `token -> ..data/token`,
/// `..data -> ..2026_11_30_12_00_00.000000001/`, plus a file outside it and an escaping link.
struct Secrets {
    root: tempfile::TempDir,
}

impl Secrets {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("secrets");
        let version = dir.join("..2026_11_30_12_00_00.000000001");
        std::fs::create_dir_all(&version).unwrap();
        std::fs::write(version.join("token"), "from-the-secret-volume\n").unwrap();
        symlink("..2026_11_30_12_00_00.000000001", dir.join("..data")).unwrap();
        symlink("..data/token", dir.join("token")).unwrap();
        std::fs::write(dir.join("plain"), "plain-file\n").unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("token"), "not-yours\n").unwrap();
        symlink(outside.join("token"), dir.join("escape")).unwrap();
        Secrets { root }
    }

    fn dir(&self) -> PathBuf {
        self.root.path().join("secrets")
    }

    fn outside(&self) -> PathBuf {
        self.root.path().join("outside/token")
    }
}

fn tenant(url: &str, extra_upstream: &str) -> String {
    policy("a", "/a", "t", url, extra_upstream, "")
}

fn bearer_file(p: &Path) -> String {
    format!("bearer_file = \"{}\"", p.display())
}

/// `scimgate check DIR [args]` on a policies directory holding `a.toml`: exit code, stdout,
/// stderr.
fn check(policy: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), policy).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .arg("check")
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code(), stdout, stderr)
}

/// `serve` must refuse to start; its stderr.
fn serve_refuses(policy: String, args: &[&str]) -> String {
    let Err((code, err)) = Gateway::try_start_with(&[("a.toml", policy)], &[("UP", "x")], args)
    else {
        panic!("started, but should have refused");
    };
    assert_eq!(code, Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("scimgate did not start"), "{err}");
    err
}

#[test]
fn a_secret_file_inside_the_secrets_dir_is_read_through_kubernetes_links() {
    let s = Secrets::new();
    let dir = s.dir();
    let rec = Recorder::start();
    for (file, sent) in [
        (dir.join("token"), "from-the-secret-volume"),
        (dir.join("..data/token"), "from-the-secret-volume"),
        (dir.join("plain"), "plain-file"),
    ] {
        let p = tenant(&rec.url(), &bearer_file(&file));
        let (code, _, err) = check(&p, &["--secrets-dir", dir.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{err}");
        let gw = Gateway::start_with(
            &[("a.toml", p)],
            &[],
            &["--secrets-dir", dir.to_str().unwrap()],
        );
        assert_eq!(
            call("GET", &gw.url("/a/Users"), Some("t"), &[], None).status,
            200
        );
        let last = rec.requests().pop().unwrap();
        assert_eq!(
            last.header("authorization"),
            Some(format!("Bearer {sent}").as_str())
        );
    }
}

#[test]
fn a_secret_file_outside_the_secrets_dir_is_refused_at_its_key() {
    let s = Secrets::new();
    let dir = s.dir();
    let dir_arg = dir.to_str().unwrap();
    let real_dir = std::fs::canonicalize(&dir).unwrap();
    let real_outside = std::fs::canonicalize(s.outside()).unwrap();
    // Outside outright, through a symlink inside the directory, and through `..`.
    for file in [
        s.outside(),
        dir.join("escape"),
        dir.join("../outside/token"),
    ] {
        let p = tenant("http://127.0.0.1:9/v2", &bearer_file(&file));
        let want = format!(
            "a.toml:7:15: error[E035]: upstream.bearer_file \"{}\" resolves to {}, outside --secrets-dir {}",
            file.display(),
            real_outside.display(),
            real_dir.display()
        );
        let (code, _, err) = check(&p, &["--secrets-dir", dir_arg]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(&want), "{want}\n{err}");
        let err = serve_refuses(p.clone(), &["--secrets-dir", dir_arg]);
        assert!(err.contains(&want), "{want}\n{err}");
        // Without the flag the same policy is fine: the confinement is the deployment's choice.
        assert_eq!(check(&p, &[]).0, Some(0));
    }
    // A `..` past a directory that does not exist cannot be judged: refused too.
    let p = tenant(
        "http://127.0.0.1:9/v2",
        &bearer_file(&dir.join("missing/../../outside/token")),
    );
    let (code, _, err) = check(&p, &["--secrets-dir", dir_arg]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("a.toml:7:15: error[E035]: upstream.bearer_file") && err.contains("'..'"),
        "{err}"
    );
}

#[test]
fn a_secrets_dir_that_does_not_exist_stops_start_up_and_check() {
    let s = Secrets::new();
    let missing = s.root.path().join("nope");
    let missing = missing.to_str().unwrap();
    let p = tenant(
        "http://127.0.0.1:9/v2",
        &bearer_file(&s.dir().join("token")),
    );
    let err = serve_refuses(p.clone(), &["--secrets-dir", missing]);
    assert!(
        err.contains(&format!("--secrets-dir {missing} cannot be used")),
        "{err}"
    );
    let (code, _, err) = check(&p, &["--secrets-dir", missing]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("--secrets-dir {missing} cannot be used")),
        "{err}"
    );
    let file = s.dir().join("plain");
    let err = serve_refuses(p, &["--secrets-dir", file.to_str().unwrap()]);
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn a_secret_over_plain_http_to_a_remote_host_needs_allow_insecure() {
    let url = "http://scim.example.invalid:8080/v2";
    for secret in [
        "bearer_env = \"UP\"".to_string(),
        bearer_file(Path::new("/dev/null")),
    ] {
        let key = secret.split(' ').next().unwrap().to_string();
        let p = tenant(url, &secret);
        let want = format!(
            "a.toml:6:7: error[E036]: upstream.url \"{url}\" is plain http to scim.example.invalid, which is not loopback, and upstream.{key} sends it a secret"
        );
        let (code, _, err) = check(&p, &[]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(&want), "{want}\n{err}");
        assert!(err.contains("set allow_insecure = true"), "{err}");
        let err = serve_refuses(p, &[]);
        assert!(err.contains(&want), "{want}\n{err}");
    }
}

#[test]
fn allow_insecure_loads_with_a_warning_naming_the_host() {
    let p = tenant(
        "http://scim.example.invalid:8080/v2",
        "bearer_env = \"UP\"\nallow_insecure = true",
    );
    let (code, stdout, err) = check(&p, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("ok: a"), "{stdout}");
    let want = "a.toml:6:7: warning[W001]: the upstream secret (upstream.bearer_env) goes in clear text to scim.example.invalid (plain http, allow_insecure = true)";
    assert!(err.contains(want), "{err}");
    let gw = Gateway::start_with(&[("a.toml", p)], &[("UP", "x")], &[]);
    assert!(gw.log().contains("warning[W001]"), "{}", gw.log());
}

#[test]
fn loopback_http_and_https_need_no_allow_insecure() {
    for url in [
        "http://127.0.0.1:8081/v2",
        "http://127.1.2.3/v2",
        "http://localhost:8081/v2",
        "http://[::1]:8081/v2",
        "https://scim.example.invalid/v2",
    ] {
        let (code, stdout, err) = check(&tenant(url, "bearer_env = \"UP\""), &[]);
        assert_eq!(code, Some(0), "{url}: {err}");
        assert!(stdout.contains("ok: a"), "{url}: {stdout}");
        assert!(!err.contains("warning"), "{url}: {err}");
    }
    // Plain http to a remote host with no secret leaks nothing.
    let (code, _, err) = check(&tenant("http://scim.example.invalid/v2", ""), &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
    // And a loopback tenant with a secret serves.
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[("a.toml", tenant(&rec.url(), "bearer_env = \"UP\""))],
        &[("UP", "up-secret")],
    );
    assert_eq!(
        call("GET", &gw.url("/a/Users"), Some("t"), &[], None).status,
        200
    );
    assert_eq!(
        rec.requests()[0].header("authorization"),
        Some("Bearer up-secret")
    );
}

#[test]
fn a_reload_judges_secret_files_by_the_same_secrets_dir() {
    let s = Secrets::new();
    let dir = s.dir();
    let rec = Recorder::start();
    let gw = Gateway::start_with(
        &[(
            "a.toml",
            tenant(&rec.url(), &bearer_file(&dir.join("token"))),
        )],
        &[],
        &["--secrets-dir", dir.to_str().unwrap()],
    );
    // The edit points the secret outside the directory: the tenant keeps its last good version.
    std::fs::write(
        gw.policies().join("a.toml"),
        tenant(&rec.url(), &bearer_file(&s.outside())),
    )
    .unwrap();
    let ready = format!("http://127.0.0.1:{}/readyz", gw.admin);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        let body = ureq::get(&ready).call().unwrap().into_string().unwrap();
        if body.contains("stale: a") {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "never stale: {body}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(body.contains("E035"), "{body}");
    assert_eq!(
        call("GET", &gw.url("/a/Users"), Some("t"), &[], None).status,
        200
    );
    let last = rec.requests().pop().unwrap();
    assert_eq!(
        last.header("authorization"),
        Some("Bearer from-the-secret-volume"),
        "the secret outside the directory was never read"
    );
}

/// Swap a Kubernetes Secret volume to a new version the way the kubelet does: a new
/// `..<timestamp>` directory, a `..data_tmp` link to it renamed over `..data`.
fn kubelet_swap(dir: &Path, version: &str, token: &str) {
    let v = dir.join(version);
    std::fs::create_dir(&v).unwrap();
    std::fs::write(v.join("token"), format!("{token}\n")).unwrap();
    symlink(version, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
}

#[test]
fn a_rotated_secret_file_applies_within_two_seconds_under_load_with_no_failure() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let s = Secrets::new();
    let dir = s.dir();
    let rec = Recorder::start();
    let gw = Gateway::start_with(
        &[(
            "a.toml",
            tenant(&rec.url(), &bearer_file(&dir.join("token"))),
        )],
        &[],
        &["--secrets-dir", dir.to_str().unwrap()],
    );
    let url = gw.url("/a/Users");
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop, sent, failed) =
                (url.clone(), stop.clone(), sent.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let status = call("GET", &url, Some("t"), &[], None).status;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    let newest = |rec: &Recorder| {
        rec.requests()
            .last()
            .and_then(|r| r.header("authorization").map(str::to_string))
    };
    let wait_for = |want: &str, rec: &Recorder| {
        let started = Instant::now();
        while newest(rec).as_deref() != Some(want) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{want} never reached the target"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        started.elapsed()
    };
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        newest(&rec).as_deref(),
        Some("Bearer from-the-secret-volume")
    );
    // The kubelet's swap of the Secret volume.
    kubelet_swap(
        &dir,
        "..2026_11_30_13_00_00.000000002",
        "rotated-by-kubelet",
    );
    let took = wait_for("Bearer rotated-by-kubelet", &rec);
    assert!(took < Duration::from_secs(2), "the rotation took {took:?}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    assert!(sent.load(Ordering::Relaxed) > 50);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during rotation"
    );
    assert!(!gw.log().contains("panicked"));
}

#[test]
fn a_secret_file_rewritten_in_place_applies_without_a_policy_change() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("token");
    std::fs::write(&file, "first\n").unwrap();
    let rec = Recorder::start();
    let gw = Gateway::start_with(
        &[("a.toml", tenant(&rec.url(), &bearer_file(&file)))],
        &[],
        &[],
    );
    let auth_seen = |rec: &Recorder| {
        call("GET", &gw.url("/a/Users"), Some("t"), &[], None);
        rec.requests()
            .last()
            .and_then(|r| r.header("authorization").map(str::to_string))
    };
    assert_eq!(auth_seen(&rec).as_deref(), Some("Bearer first"));
    std::fs::write(&file, "second\n").unwrap();
    let started = std::time::Instant::now();
    while auth_seen(&rec).as_deref() != Some("Bearer second") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the rewritten secret never applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
