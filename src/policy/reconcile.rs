//! Per-file reload: which version of each policy file serves after a reload. A file that no
//! longer loads keeps its own tenant on its last good version while every other change applies.
//!
//! [`reconcile`] takes every policy file of the directory as it is now (compiled, secrets
//! resolved) and the tenants serving, and decides for each file:
//! - it loads: its new version serves, unless it conflicts with another file (E012 the same
//!   tenant name, E013 an overlapping route) and loses (below);
//! - it does not load, or its new version lost: the tenant last loaded from the same path
//!   serves on, *stale*; a file that never loaded keeps its tenant out (*not loaded*);
//! - it is gone: its tenant is gone.
//!
//! A conflict is settled in favour of what serves already: a last good version beats a new
//! one; between two new versions, the file whose serving version held the claim (name or
//! route) wins, else the file first by name. The loser gets the diagnostic, in its own file,
//! that `scimgate check` would print, and falls back as above.

use super::diagnostics::Diagnostic;
use super::load::conflicts;
use super::model::Tenant;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A policy file that did not load at the last reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// The tenant still served from `file` on its last good version; `None` when `file` has
    /// no last good version, so no tenant serves from it.
    pub stale: Option<String>,
    /// Why, first the file's own errors, then lost conflicts; never empty.
    pub errors: Vec<Diagnostic>,
}

/// One line, as `/readyz` and the reload's warning log line show it:
/// `stale: acme (policies/acme.toml:12:5: error[E001]: …)` or
/// `not loaded: policies/new.toml:3:9: error[E013]: …`, with `; N more errors in the log`
/// when there are several.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = self.errors.first().map_or_else(
            || format!("{}: did not load", self.file.display()),
            headline,
        );
        let more = match self.errors.len() {
            0 | 1 => String::new(),
            2 => "; 1 more error in the log".to_string(),
            n => format!("; {} more errors in the log", n - 1),
        };
        match &self.stale {
            Some(tenant) => write!(f, "stale: {tenant} ({head}{more})"),
            None => write!(f, "not loaded: {head}{more}"),
        }
    }
}

/// A diagnostic on one line, without its hint.
fn headline(d: &Diagnostic) -> String {
    format!(
        "{}:{}:{}: error[{}]: {}",
        d.file.display(),
        d.line,
        d.col,
        d.code,
        d.message.replace('\n', " ")
    )
}

/// What serves after a reload, and what did not load.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tenants: Vec<Arc<Tenant>>,
    /// In file order.
    pub problems: Vec<Problem>,
}

/// Decide what serves: `serving` are the tenants serving now, `files` every policy file of the
/// directory (sorted by path) with what it compiled to, secrets resolved.
pub fn reconcile(
    serving: &[Arc<Tenant>],
    files: Vec<(PathBuf, Result<Tenant, Vec<Diagnostic>>)>,
) -> Outcome {
    let mut entries: Vec<Entry> = files
        .into_iter()
        .map(|(file, loaded)| {
            let old = serving.iter().find(|t| t.source == file).cloned();
            match loaded {
                Ok(t) => Entry {
                    file,
                    old,
                    version: Version::New(Arc::new(t)),
                    errors: Vec::new(),
                },
                Err(errors) => Entry {
                    file,
                    version: old.clone().map_or(Version::Out, Version::Old),
                    old,
                    errors,
                },
            }
        })
        .collect();
    // Each round moves one file down (new -> last good -> out), so this ends.
    while let Some((loser, winner)) = next_conflict(&entries) {
        let why = match (
            entries.get(winner).and_then(Entry::tenant),
            entries.get(loser).and_then(Entry::tenant),
        ) {
            (Some(w), Some(l)) => conflicts(w, l),
            _ => break,
        };
        if let Some(e) = entries.get_mut(loser) {
            e.fall_back(why);
        }
    }
    let tenants = entries.iter().filter_map(|e| e.tenant().cloned()).collect();
    let problems = entries
        .into_iter()
        .filter(|e| !e.errors.is_empty())
        .map(|e| Problem {
            stale: match &e.version {
                Version::Old(t) => Some(t.name.clone()),
                Version::New(_) | Version::Out => None,
            },
            file: e.file,
            errors: e.errors,
        })
        .collect();
    Outcome { tenants, problems }
}

/// Which version of one file serves.
enum Version {
    /// What the file says now.
    New(Arc<Tenant>),
    /// The tenant last loaded from the file (serving already).
    Old(Arc<Tenant>),
    Out,
}

struct Entry {
    file: PathBuf,
    /// The tenant serving from this file before the reload.
    old: Option<Arc<Tenant>>,
    version: Version,
    errors: Vec<Diagnostic>,
}

impl Entry {
    fn tenant(&self) -> Option<&Arc<Tenant>> {
        match &self.version {
            Version::New(t) | Version::Old(t) => Some(t),
            Version::Out => None,
        }
    }

    fn is_new(&self) -> bool {
        matches!(self.version, Version::New(_))
    }

    /// Lose a conflict: a new version falls back to the last good one, a last good one goes.
    fn fall_back(&mut self, why: Vec<Diagnostic>) {
        self.errors.extend(why);
        self.version = match self.version {
            Version::New(_) => self.old.clone().map_or(Version::Out, Version::Old),
            Version::Old(_) | Version::Out => Version::Out,
        };
    }

    /// Did this file's serving version already claim what `other` claims?
    fn held(&self, other: &Tenant) -> bool {
        self.old
            .as_ref()
            .is_some_and(|o| !conflicts(o, other).is_empty())
    }
}

/// The next conflict to settle, as (loser, winner): one between a last good and a new version
/// first (the new one loses), then one between two new versions.
fn next_conflict(entries: &[Entry]) -> Option<(usize, usize)> {
    let mut between_new = None;
    for (j, b) in entries.iter().enumerate() {
        let Some(tb) = b.tenant() else { continue };
        for (i, a) in entries.iter().enumerate().take(j) {
            let Some(ta) = a.tenant() else { continue };
            if conflicts(ta, tb).is_empty() {
                continue;
            }
            match (a.is_new(), b.is_new()) {
                (true, false) => return Some((i, j)),
                // Two last good versions served side by side already; should they clash
                // anyway, the later file goes, so the result is always conflict-free.
                (false, _) => return Some((j, i)),
                (true, true) if between_new.is_none() => {
                    between_new = Some(if b.held(ta) && !a.held(tb) {
                        (i, j)
                    } else {
                        (j, i)
                    });
                }
                (true, true) => {}
            }
        }
    }
    between_new
}

#[cfg(test)]
mod tests;
