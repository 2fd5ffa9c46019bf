//! `scimgate check` on one fixture directory per failure mode, asserting the exact diagnostics
//! (golden files: tests/fixtures/policy-errors/<case>/expected.txt), and `serve` refusing to
//! start on the same files.

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
