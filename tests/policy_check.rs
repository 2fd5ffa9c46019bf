//! `scimgate check` on one fixture directory per failure mode, asserting the exact diagnostics
//! (golden files: tests/fixtures/policy-errors/<case>/expected.txt), and `serve` refusing to
//! start on the same files.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

use std::path::Path;
use std::process::Command;

fn check(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["check", "policies"])
        .current_dir(dir)
        .output()
        .unwrap();
    format!(
        "{}exit {}\n",
        String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1)
    )
}

#[test]
fn every_failure_mode_has_its_exact_diagnostic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy-errors");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "one fixture per failure mode");
    let mut failures = Vec::new();
    for case in &cases {
        let want = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let got = check(case);
        if got != want {
            failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                case.display()
            ));
        }
        assert!(!got.contains("panicked"), "{got}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_example_policies_pass_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["check", "policies"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().count() >= 3, "{stdout}");
}

#[test]
fn serve_refuses_a_broken_policy_with_file_line_col() {
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy-errors/unknown-key");
    let out = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["serve", "--policies", "policies", "--listen", "127.0.0.1:0"])
        .current_dir(&case)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policies/tenant.toml:7:1: error[E001]: unknown field `bearer_envv`"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn check_reports_every_broken_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policies");
    std::fs::create_dir(&p).unwrap();
    let good = "tenant = \"good\"\nroute = \"/good\"\n[auth]\nbearer_sha256 = [\"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"]\n[upstream]\nurl = \"http://127.0.0.1:8081/v2\"\n";
    std::fs::write(
        p.join("a.toml"),
        good.replace("\"good\"", "\"a\"")
            .replace("/good", "/a")
            .replace("url =", "urll ="),
    )
    .unwrap();
    std::fs::write(
        p.join("b.toml"),
        good.replace("\"good\"", "\"B!\"").replace("/good", "/b"),
    )
    .unwrap();
    std::fs::write(
        p.join("c.toml"),
        good.replace("\"good\"", "\"c\"")
            .replace("/good", "/c")
            .replace("[auth]", "[auth\n"),
    )
    .unwrap();
    std::fs::write(p.join("d.toml"), good).unwrap();
    std::fs::write(
        p.join("d.test.toml"),
        "not a policy: policy tests are not loaded as tenants",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["check", "policies"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(": error[")).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("policies/a.toml:6:1: error[E001]"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("policies/b.toml:1:10: error[E010]"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("policies/c.toml:3:6: error[E001]"),
        "{err}"
    );
}
