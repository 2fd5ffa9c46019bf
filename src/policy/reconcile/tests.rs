use super::*;
use crate::policy::compile::compile_file;
use std::path::Path;

const DIGEST: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

fn source(name: &str, route: &str) -> String {
    format!(
        "tenant = \"{name}\"\nroute = \"{route}\"\n[auth]\nbearer_sha256 = [\"{DIGEST}\"]\n[upstream]\nurl = \"http://127.0.0.1:9/{name}\"\n"
    )
}

fn path(file: &str) -> PathBuf {
    Path::new("policies").join(file)
}

/// A file as a reload finds it: compiled (good) or not.
fn good(file: &str, name: &str, route: &str) -> (PathBuf, Result<Tenant, Vec<Diagnostic>>) {
    let p = path(file);
    let t = compile_file(&p, &source(name, route)).unwrap();
    (p, Ok(t))
}

fn broken(file: &str) -> (PathBuf, Result<Tenant, Vec<Diagnostic>>) {
    let p = path(file);
    let errors = compile_file(&p, "tenant = \"x\"\nthis is = not [toml").unwrap_err();
    (p, Err(errors))
}

/// What serves now: a first reload of good files.
fn serving(files: &[(&str, &str, &str)]) -> Vec<Arc<Tenant>> {
    let out = reconcile(&[], files.iter().map(|(f, n, r)| good(f, n, r)).collect());
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    out.tenants
}

fn routes(out: &Outcome) -> Vec<(String, String)> {
    let mut v: Vec<_> = out
        .tenants
        .iter()
        .map(|t| (t.name.clone(), t.route.clone()))
        .collect();
    v.sort();
    v
}

fn pair(name: &str, route: &str) -> (String, String) {
    (name.to_string(), route.to_string())
}

#[test]
fn good_files_all_apply_and_deleted_ones_go() {
    let now = serving(&[("a.toml", "a", "/a"), ("b.toml", "b", "/b")]);
    let out = reconcile(
        &now,
        vec![good("a.toml", "a", "/a2"), good("c.toml", "c", "/c")],
    );
    assert_eq!(routes(&out), [pair("a", "/a2"), pair("c", "/c")]);
    assert!(out.problems.is_empty());
}

#[test]
fn a_broken_file_keeps_its_last_good_tenant_and_the_others_apply() {
    let now = serving(&[("a.toml", "a", "/a"), ("b.toml", "b", "/b")]);
    let out = reconcile(&now, vec![broken("a.toml"), good("b.toml", "b", "/b2")]);
    assert_eq!(routes(&out), [pair("a", "/a"), pair("b", "/b2")]);
    let a = out.tenants.iter().find(|t| t.name == "a").unwrap();
    assert!(Arc::ptr_eq(a, &now[0]), "the very tenant that served");
    assert_eq!(out.problems.len(), 1);
    let p = &out.problems[0];
    assert_eq!(p.file, path("a.toml"));
    assert_eq!(p.stale.as_deref(), Some("a"));
    assert_eq!(p.errors[0].code, "E001");
    assert_eq!(
        p.to_string(),
        format!(
            "stale: a ({}:{}:{}: error[E001]: {})",
            path("a.toml").display(),
            p.errors[0].line,
            p.errors[0].col,
            p.errors[0].message
        )
    );
}

#[test]
fn a_new_broken_file_stays_out() {
    let now = serving(&[("a.toml", "a", "/a")]);
    let out = reconcile(&now, vec![good("a.toml", "a", "/a"), broken("n.toml")]);
    assert_eq!(routes(&out), [pair("a", "/a")]);
    assert_eq!(out.problems.len(), 1);
    assert_eq!(out.problems[0].stale, None);
    assert!(out.problems[0]
        .to_string()
        .starts_with(&format!("not loaded: {}:2:", path("n.toml").display())));
}

#[test]
fn a_newcomer_does_not_take_a_serving_route_whatever_its_name() {
    // "0.toml" sorts before "z.toml": file order alone would let it win.
    let now = serving(&[("z.toml", "z", "/shared")]);
    let out = reconcile(
        &now,
        vec![
            good("0.toml", "n", "/shared"),
            good("z.toml", "z", "/shared"),
        ],
    );
    assert_eq!(routes(&out), [pair("z", "/shared")]);
    assert_eq!(out.problems.len(), 1);
    let p = &out.problems[0];
    assert_eq!((p.file.clone(), p.stale.clone()), (path("0.toml"), None));
    assert_eq!(p.errors[0].code, "E013");
    assert_eq!((p.errors[0].line, p.errors[0].col), (2, 9));
    assert!(p.errors[0].message.contains("z.toml"), "{}", p.errors[0]);
}

#[test]
fn an_edit_that_claims_a_serving_route_keeps_its_own_last_good_version() {
    let now = serving(&[("b.toml", "b", "/b"), ("z.toml", "z", "/z")]);
    let out = reconcile(
        &now,
        vec![good("b.toml", "b", "/z"), good("z.toml", "z", "/z")],
    );
    assert_eq!(routes(&out), [pair("b", "/b"), pair("z", "/z")]);
    assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
    assert_eq!(out.problems[0].stale.as_deref(), Some("b"));
    assert_eq!(out.problems[0].errors[0].code, "E013");
}

#[test]
fn an_edit_that_takes_a_serving_tenant_name_is_refused() {
    let now = serving(&[("a.toml", "a", "/a"), ("b.toml", "b", "/b")]);
    let out = reconcile(
        &now,
        vec![good("a.toml", "b", "/a"), good("b.toml", "b", "/b")],
    );
    assert_eq!(routes(&out), [pair("a", "/a"), pair("b", "/b")]);
    assert_eq!(out.problems.len(), 1);
    assert_eq!(out.problems[0].file, path("a.toml"));
    assert_eq!(out.problems[0].stale.as_deref(), Some("a"));
    assert_eq!(out.problems[0].errors[0].code, "E012");
}

#[test]
fn two_tenants_may_swap_routes_in_one_reload() {
    let now = serving(&[("a.toml", "a", "/a"), ("b.toml", "b", "/b")]);
    let out = reconcile(
        &now,
        vec![good("a.toml", "a", "/b"), good("b.toml", "b", "/a")],
    );
    assert_eq!(routes(&out), [pair("a", "/b"), pair("b", "/a")]);
    assert!(out.problems.is_empty());
}

#[test]
fn a_route_freed_by_a_broken_file_is_not_freed() {
    // a.toml meant to move to /c but broke: it keeps /a, so b.toml cannot move there.
    let now = serving(&[("a.toml", "a", "/a"), ("b.toml", "b", "/b")]);
    let out = reconcile(&now, vec![broken("a.toml"), good("b.toml", "b", "/a")]);
    assert_eq!(routes(&out), [pair("a", "/a"), pair("b", "/b")]);
    let stale: Vec<_> = out.problems.iter().map(|p| p.stale.clone()).collect();
    assert_eq!(stale, [Some("a".to_string()), Some("b".to_string())]);
    assert_eq!(out.problems[1].errors[0].code, "E013");
}

#[test]
fn a_route_freed_by_a_deleted_file_can_be_taken() {
    let now = serving(&[("a.toml", "a", "/a")]);
    let out = reconcile(&now, vec![good("renamed.toml", "a", "/a")]);
    assert_eq!(routes(&out), [pair("a", "/a")]);
    assert!(out.problems.is_empty());
}

#[test]
fn two_newcomers_on_one_route_the_first_file_wins() {
    let out = reconcile(
        &[],
        vec![good("m.toml", "m", "/x"), good("n.toml", "n", "/x/Users")],
    );
    assert_eq!(routes(&out), [pair("m", "/x")]);
    assert_eq!(out.problems.len(), 1);
    assert_eq!(out.problems[0].file, path("n.toml"));
    assert_eq!(out.problems[0].errors[0].code, "E013");
}

#[test]
fn several_errors_are_counted_on_the_line() {
    let p = Problem {
        file: path("a.toml"),
        stale: None,
        errors: vec![
            Diagnostic::at(&path("a.toml"), "x", None, "E010", "bad\nname"),
            Diagnostic::at(&path("a.toml"), "x", None, "E011", "bad route"),
            Diagnostic::at(&path("a.toml"), "x", None, "E020", "bad digest"),
        ],
    };
    assert_eq!(
        p.to_string(),
        format!(
            "not loaded: {}:1:1: error[E010]: bad name; 2 more errors in the log",
            path("a.toml").display()
        )
    );
}
