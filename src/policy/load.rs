//! Reading a policies directory: every `*.toml` is one tenant. All files are compiled and all
//! errors collected, then the cross-file rules (unique names, no overlapping routes) run.

use super::compile::{compile_file_with, CompileOptions};
use super::diagnostics::Diagnostic;
use super::model::{Policies, Tenant};
use crate::scim::resource::Resource;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Load and compile every policy of `dir`. Secrets are not read here.
pub fn load_dir(dir: &Path) -> Result<Vec<Tenant>, Vec<Diagnostic>> {
    load_dir_with(dir, &CompileOptions::default())
}

/// [`load_dir`] under the deployment's [`CompileOptions`] (`--secrets-dir`).
pub fn load_dir_with(dir: &Path, opts: &CompileOptions) -> Result<Vec<Tenant>, Vec<Diagnostic>> {
    let files = policy_files(dir)?;
    let mut tenants = Vec::new();
    let mut errors = Vec::new();
    for file in &files {
        match load_file_with(file, opts) {
            Ok(t) => tenants.push(t),
            Err(mut d) => errors.append(&mut d),
        }
    }
    errors.extend(cross_checks(&tenants));
    if errors.is_empty() {
        Ok(tenants)
    } else {
        Err(errors)
    }
}

/// Read and compile one policy file on its own (no cross-file rules, no secrets): what a
/// reload does for each file ([`super::reconcile`]).
pub fn load_file_with(file: &Path, opts: &CompileOptions) -> Result<Tenant, Vec<Diagnostic>> {
    match std::fs::read_to_string(file) {
        Err(e) => Err(vec![Diagnostic::at(
            file,
            "",
            None,
            "E003",
            format!("cannot read: {e}"),
        )]),
        Ok(source) => compile_file_with(file, &source, opts),
    }
}

/// The `*.toml` files of `dir` (policy tests `*.test.toml` left out), sorted by name.
pub fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, Vec<Diagnostic>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![Diagnostic::at(
            dir,
            "",
            None,
            "E003",
            format!("cannot read policies directory: {e}"),
        )]
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        // `*.test.toml` files are policy tests (`scimgate test`), not tenants.
        .filter(|p| !p.to_string_lossy().ends_with(".test.toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(vec![Diagnostic::at(
            dir,
            "",
            None,
            "E002",
            "no *.toml policy files",
        )
        .with_hint("each tenant is one TOML file; see policies/README.md")]);
    }
    Ok(files)
}

fn cross_checks(tenants: &[Tenant]) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for (i, b) in tenants.iter().enumerate() {
        for a in tenants.iter().take(i) {
            errors.extend(conflicts(a, b));
        }
    }
    errors
}

/// What `b` claims that `a` has already (the same tenant name, an overlapping route), as
/// diagnostics in `b`'s file; empty when the two can serve side by side.
pub fn conflicts(a: &Tenant, b: &Tenant) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    if a.name == b.name {
        errors.push(
            at(
                &b.source,
                b.name_pos,
                "E012",
                format!(
                    "tenant {:?} is also defined in {}",
                    b.name,
                    a.source.display()
                ),
            )
            .with_hint("tenant names are unique across the policies directory"),
        );
    }
    if let Some(why) = routes_overlap(&a.route, &b.route) {
        errors.push(
            at(
                &b.source,
                b.route_pos,
                "E013",
                format!(
                    "route {:?} of tenant {:?} overlaps route {:?} of tenant {:?} in {}: {why}",
                    b.route,
                    b.name,
                    a.route,
                    a.name,
                    a.source.display()
                ),
            )
            .with_hint("give each tenant its own route"),
        );
    }
    errors
}

fn at(file: &Path, (line, col): (usize, usize), code: &'static str, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line,
        col,
        code,
        message,
        hint: None,
    }
}

/// Two routes overlap when they are the same (ignoring case), or when one lies inside the
/// other where the outer tenant's SCIM endpoints are (`/acme` and `/acme/Users`). Nested
/// routes that leave the endpoints alone (`/acme` and `/acme/eu`) are fine: the longest wins.
fn routes_overlap(a: &str, b: &str) -> Option<&'static str> {
    if a.eq_ignore_ascii_case(b) {
        return Some("they are the same route");
    }
    let (outer, inner) = if a.len() < b.len() { (a, b) } else { (b, a) };
    let lower_inner = inner.to_ascii_lowercase();
    let rest = lower_inner.strip_prefix(&outer.to_ascii_lowercase())?;
    let next = rest.strip_prefix('/')?.split('/').next()?;
    Resource::is_endpoint_segment(next).then_some("one would take the other's SCIM endpoints")
}

impl Policies {
    /// The checked set of tenants, longest route first.
    pub fn new(tenants: Vec<Tenant>) -> Policies {
        Policies::from_shared(tenants.into_iter().map(Arc::new).collect())
    }

    /// [`Policies::new`] of tenants some of which may serve already (a reload keeps a broken
    /// file's last good tenant as it is).
    pub fn from_shared(mut tenants: Vec<Arc<Tenant>>) -> Policies {
        tenants.sort_by(|a, b| {
            b.route
                .len()
                .cmp(&a.route.len())
                .then(a.route.cmp(&b.route))
        });
        // Two tenants on one route never load together (E013); were they given, the first in
        // this order answers, as the scan of every route did.
        let mut by_route = hashbrown::HashMap::with_capacity(tenants.len());
        for (i, t) in tenants.iter().enumerate() {
            by_route.entry(Box::from(t.route.as_str())).or_insert(i);
        }
        let max_segments = tenants
            .iter()
            .map(|t| t.route.matches('/').count())
            .max()
            .unwrap_or(0);
        Policies {
            tenants,
            by_route,
            max_segments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_rules() {
        assert!(routes_overlap("/a/scim", "/A/SCIM").is_some());
        assert!(routes_overlap("/a", "/a/Users").is_some());
        assert!(routes_overlap("/a/users/x", "/a").is_some());
        assert!(routes_overlap("/a", "/a/eu").is_none());
        assert!(routes_overlap("/a", "/ab").is_none());
        assert!(routes_overlap("/a/x", "/b/x").is_none());
    }
}
