//! Policy tests beside the policies (`scimgate test DIR`): each `*.test.toml` names a policy file
//! and lists `[[test]]` cases, an input request (or target answer) and what must come out,
//! run through the same translation the gateway does, with a readable diff on failure.

use crate::flow::dry_run::{preview, Direction};
use crate::policy::compile::compile_file;
use crate::policy::diagnostics::Diagnostic;
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A `*.test.toml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The policy under test, relative to this file.
    pub policy: Spanned<String>,
    #[serde(rename = "test", default)]
    pub tests: Vec<Spanned<TestCase>>,
}

/// One `[[test]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// `"request"` (IdP -> target, default) or `"response"` (target -> IdP).
    #[serde(default)]
    pub direction: Option<String>,
    /// The request's method.
    pub method: String,
    /// The request's path after the tenant route (or with it), query included.
    pub path: String,
    /// For `direction = "response"`: the target's status. Default 200.
    #[serde(default)]
    pub status: Option<u16>,
    /// The request (or answer) body, JSON text.
    #[serde(default)]
    pub body: Option<String>,
    pub expect: Expect,
}

/// What must come out. Only the keys given are compared.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The method the target receives.
    #[serde(default)]
    pub method: Option<String>,
    /// The path (and query) the target receives, relative to `upstream.url`.
    #[serde(default)]
    pub path: Option<String>,
    /// The body the target (or the IdP) receives, JSON text; compared as JSON.
    #[serde(default)]
    pub body: Option<String>,
    /// The status the IdP gets: for a request the gateway refuses (400, 413, …) or answers
    /// itself (204), or for an answer.
    #[serde(default)]
    pub status: Option<u16>,
}

/// The outcome of one test file.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: Vec<String>,
}

/// Run every `*.test.toml` of `dir`.
pub fn run_dir(dir: &Path) -> Result<Report, Vec<Diagnostic>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            vec![Diagnostic::at(
                dir,
                "",
                None,
                "E003",
                format!("cannot read: {e}"),
            )]
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.toml"))
        .collect();
    files.sort();
    let mut report = Report::default();
    let mut errors = Vec::new();
    for file in &files {
        match run_file(file, &mut report) {
            Ok(()) => {}
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(report)
    } else {
        Err(errors)
    }
}

fn run_file(file: &Path, report: &mut Report) -> Result<(), Vec<Diagnostic>> {
    let source = std::fs::read_to_string(file).map_err(|e| {
        vec![Diagnostic::at(
            file,
            "",
            None,
            "E003",
            format!("cannot read: {e}"),
        )]
    })?;
    let tf: TestFile = toml::from_str(&source).map_err(|e| {
        vec![Diagnostic::at(
            file,
            &source,
            e.span(),
            "E080",
            e.message().trim_end().replace('\n', "; "),
        )]
    })?;
    let policy_path = file
        .parent()
        .unwrap_or(Path::new(""))
        .join(tf.policy.get_ref());
    let policy_source = std::fs::read_to_string(&policy_path).map_err(|e| {
        vec![Diagnostic::at(
            file,
            &source,
            Some(tf.policy.span()),
            "E081",
            format!("cannot read policy {}: {e}", policy_path.display()),
        )]
    })?;
    let tenant = std::sync::Arc::new(compile_file(&policy_path, &policy_source)?);
    let mut errors = Vec::new();
    for case in &tf.tests {
        let span = case.span();
        let case = case.get_ref();
        let label = format!("{}: {}", file.display(), case.name);
        let direction = match case.direction.as_deref() {
            None | Some("request") => Direction::Request,
            Some("response") => Direction::Response,
            Some(other) => {
                errors.push(Diagnostic::at(
                    file,
                    &source,
                    Some(span),
                    "E082",
                    format!("test {:?}: unknown direction {other:?}", case.name),
                ));
                continue;
            }
        };
        let Ok(method) = http::Method::from_bytes(case.method.to_ascii_uppercase().as_bytes())
        else {
            errors.push(Diagnostic::at(
                file,
                &source,
                Some(span.clone()),
                "E082",
                format!(
                    "test {:?}: {:?} is not an HTTP method",
                    case.name, case.method
                ),
            ));
            continue;
        };
        let parse = |text: &Option<String>, what: &str| -> Result<Option<Value>, Diagnostic> {
            text.as_ref()
                .map(|t| serde_json::from_str(t))
                .transpose()
                .map_err(|e| {
                    Diagnostic::at(
                        file,
                        &source,
                        Some(span.clone()),
                        "E083",
                        format!("test {:?}: {what} is not JSON: {e}", case.name),
                    )
                })
        };
        let (body, want_body) = match (
            parse(&case.body, "body"),
            parse(&case.expect.body, "expect.body"),
        ) {
            (Ok(b), Ok(w)) => (b, w),
            (Err(e), _) | (_, Err(e)) => {
                errors.push(e);
                continue;
            }
        };
        let body_bytes = body.as_ref().and_then(|b| serde_json::to_vec(b).ok());
        let got = preview(
            &tenant,
            direction,
            case.status.unwrap_or(200),
            &method,
            &case.path,
            body_bytes.as_deref(),
        );
        let mut diffs = Vec::new();
        match got {
            Err(e) => {
                if case.expect.status != Some(e.status) {
                    diffs.push(format!(
                        "  the gateway answers {} {:?}; expected {}",
                        e.status,
                        e.detail,
                        describe(&case.expect)
                    ));
                } else if let Some(w) = &want_body {
                    let got: Value = serde_json::from_slice(&e.body()).unwrap_or(Value::Null);
                    diff_json(&mut diffs, "body", w, &got);
                }
            }
            Ok(out) => {
                let answered = out
                    .get("gateway_answers")
                    .and_then(Value::as_u64)
                    .map(|s| s as u16);
                let status = answered
                    .or_else(|| out.get("status").and_then(Value::as_u64).map(|s| s as u16));
                if let Some(s) = case.expect.status {
                    if status != Some(s) && !(status.is_none() && s == 200) {
                        diffs.push(format!(
                            "  status: expected {s}, got {}",
                            status
                                .map_or("the request sent upstream".to_string(), |s| s.to_string())
                        ));
                    }
                }
                if let Some(m) = &case.expect.method {
                    let got = out.get("method").and_then(Value::as_str).unwrap_or("");
                    if !got.eq_ignore_ascii_case(m) {
                        diffs.push(format!("  method: expected {m}, got {got}"));
                    }
                }
                if let Some(p) = &case.expect.path {
                    let got = out.get("path").and_then(Value::as_str).unwrap_or("");
                    if got != p {
                        diffs.push(format!("  path: expected {p}\n        got      {got}"));
                    }
                }
                if let Some(w) = &want_body {
                    diff_json(
                        &mut diffs,
                        "body",
                        w,
                        out.get("body").unwrap_or(&Value::Null),
                    );
                }
            }
        }
        if diffs.is_empty() {
            report.passed += 1;
        } else {
            report.failed.push(format!("{label}\n{}", diffs.join("\n")));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn describe(e: &Expect) -> String {
    match e.status {
        Some(s) => format!("status {s}"),
        None => "the request to go upstream".to_string(),
    }
}

/// A unified diff of two JSON values, pretty-printed.
fn diff_json(out: &mut Vec<String>, what: &str, want: &Value, got: &Value) {
    if want == got {
        return;
    }
    let (w, g) = (
        serde_json::to_string_pretty(want).unwrap_or_default(),
        serde_json::to_string_pretty(got).unwrap_or_default(),
    );
    let mut text = format!("  {what} differs (- expected, + got):\n");
    for change in similar::TextDiff::from_lines(&w, &g).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        let _ = write!(text, "  {sign} {change}");
    }
    out.push(text.trim_end().to_string());
}
