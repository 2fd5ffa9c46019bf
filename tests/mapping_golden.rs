//! Golden translations: tests/fixtures/mapping/<case>/ (tenant rules) and
//! tests/fixtures/dialect/<case>/ (IdP dialects and target profiles) each hold `rules.toml` (the rule sections of
//! a policy), `input.json` (direction, method, path, body) and `expected.json` (what the target,
//! or for responses the IdP, receives; `{"error": …}` for a refusal). Bodies compare as JSON.
//! `UPDATE_GOLDEN=1 cargo test --test mapping_golden` rewrites the expected files for review.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use scimgate::flow::dry_run::{preview, Direction};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TOP: &str = "tenant = \"golden\"\nroute = \"/t/scim/v2\"\n";
const TABLES: &str = "\n[auth]\nbearer_sha256 = [\"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"]\n[upstream]\nurl = \"http://127.0.0.1:8081/v2\"\n";

fn cases_in(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut cases: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn cases() -> Vec<PathBuf> {
    cases_in("mapping")
}

/// The policy file a case stands for: its rules inside a fixed tenant (and the target
/// `profile` named in its input, if any).
pub fn policy_text(case: &Path) -> String {
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("input.json")).unwrap()).unwrap();
    let mut tables = TABLES.to_string();
    if let Some(p) = input["profile"].as_str() {
        tables.push_str(&format!("profile = \"{p}\"\n"));
    }
    format!(
        "{TOP}{}{tables}",
        std::fs::read_to_string(case.join("rules.toml")).unwrap()
    )
}

fn run(case: &Path) -> Value {
    let text = policy_text(case);
    let tenant = scimgate::policy::compile::compile_file(&case.join("policy.toml"), &text)
        .unwrap_or_else(|e| panic!("{}: {e:?}", case.display()));
    let tenant = std::sync::Arc::new(tenant);
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("input.json")).unwrap()).unwrap();
    let direction = if input["direction"] == "response" {
        Direction::Response
    } else {
        Direction::Request
    };
    let method = http::Method::from_bytes(input["method"].as_str().unwrap().as_bytes()).unwrap();
    let body = (!input["body"].is_null()).then(|| serde_json::to_vec(&input["body"]).unwrap());
    let status = input["status"].as_u64().unwrap_or(200) as u16;
    match preview(
        &tenant,
        direction,
        status,
        &method,
        input["path"].as_str().unwrap(),
        body.as_deref(),
    ) {
        Ok(v) => v,
        Err(e) => serde_json::json!({"error": serde_json::from_slice::<Value>(&e.body()).unwrap()}),
    }
}

#[test]
fn every_case_translates_to_its_golden_output() {
    let (mapping, dialect) = (cases_in("mapping"), cases_in("dialect"));
    assert!(mapping.len() >= 30, "at least 30 golden rule cases");
    assert!(
        dialect.len() >= 40,
        "at least 40 golden dialect and profile cases"
    );
    let cases: Vec<PathBuf> = mapping.into_iter().chain(dialect).collect();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let got = run(case);
        let file = case.join("expected.json");
        if update {
            std::fs::write(&file, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(&file)
                .unwrap_or_else(|_| panic!("{} has no expected.json", case.display())),
        )
        .unwrap();
        if got != want {
            failures.push(format!(
                "{}:\n--- want\n{}\n--- got\n{}",
                case.display(),
                serde_json::to_string_pretty(&want).unwrap(),
                serde_json::to_string_pretty(&got).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_rule_kind_is_covered_in_every_place() {
    // A guard on the fixture set itself: each rule kind appears in request bodies, PATCH,
    // Bulk and (for maps) queries and responses.
    let names: Vec<String> = cases()
        .iter()
        .map(|c| c.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for prefix in [
        "map-post",
        "map-put",
        "map-patch",
        "map-bulk",
        "map-filter",
        "map-attributes",
        "map-search",
        "map-response",
        "drop-post",
        "drop-patch",
        "set-",
        "set-in-bulk",
        "transform-",
        "transform-boolean-patch",
        "nulls-",
        "nulls-clear-patch",
        "error-",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no case {prefix}*"
        );
    }
}

#[test]
fn the_translate_command_prints_the_same() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mapping/map-post-into-another-extension");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, policy_text(&case)).unwrap();
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("input.json")).unwrap()).unwrap();
    let (ok, got) = common::translate_cli(
        &policy,
        "POST",
        "/t/scim/v2/Users",
        &input["body"].to_string(),
    );
    assert!(ok);
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    assert_eq!(got, want);
}
