//! `scimgate test DIR`: the example policies' own tests pass; a wrong expectation fails with a
//! readable diff and exit 1; a broken test file is a diagnostic with file:line:col.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

use std::path::Path;
use std::process::Command;

fn run(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .arg("test")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn copy_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn the_example_policy_tests_pass() {
    let (code, out) = run(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("7 passed, 0 failed"), "{out}");
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let dir = copy_policies();
    let f = dir.path().join("acme-entra-webex.test.toml");
    let text = std::fs::read_to_string(&f).unwrap().replace(
        r#""preferredLanguage": "en_US"}"#,
        r#""preferredLanguage": "fr_FR"}"#,
    );
    std::fs::write(&f, text).unwrap();
    let (code, out) = run(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL ") && out.contains("a new hire"), "{out}");
    assert!(
        out.contains(r#"-   "preferredLanguage": "fr_FR""#)
            && out.contains(r#"+   "preferredLanguage": "en_US""#),
        "{out}"
    );
    assert!(out.contains("6 passed, 1 failed"), "{out}");
}

#[test]
fn a_broken_test_file_points_at_the_line() {
    let dir = copy_policies();
    std::fs::write(dir.path().join("x.test.toml"), "policy = \"local-generic.toml\"\n[[test]]\nname = \"x\"\nmethod = \"GET\"\npath = \"/Users\"\nexpected = {}\n").unwrap();
    let (code, out) = run(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("x.test.toml:6:1: error[E080]: unknown field `expected`"),
        "{out}"
    );
}
