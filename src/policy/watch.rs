//! Hot reload: a change in the policies directory (debounced; ConfigMap symlink swaps included)
//! or SIGHUP reloads every policy file off the request path, each file on its own
//! ([`reconcile`]): a file that does not compile (or whose secret does not resolve, or that
//! claims a tenant name or route another file serves) keeps its own tenant on its last good
//! version, or out if it never loaded, while every other file's edit, addition or deletion
//! applies. The new set is swapped in whole; requests in flight finish on their snapshot.
//!
//! A reload with any such file counts as `scimgate_policy_reloads_total{result="failure"}` and
//! logs each diagnostic (ERROR, file:line:col), then one WARN line per file, the line `/readyz`
//! shows: `stale: acme (policies/acme.toml:12:5: error[E001]: …)` or
//! `not loaded: policies/new.toml:3:9: error[E013]: …`. A policies directory that cannot be read
//! or has no policy file changes nothing.

use super::compile::CompileOptions;
use super::diagnostics::Diagnostic;
use super::reconcile::{reconcile, Outcome, Problem};
use super::store::PolicyStore;
use super::{load, secrets, Policies, Tenant};
use crate::ratelimit::{Backoff, Limiter};
use crate::telemetry::metrics;
use notify::{RecursiveMode, Watcher};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// Quiet time after the last change before reloading (editors and ConfigMaps write in bursts).
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Everything a reload touches.
pub struct Reloader {
    pub dir: PathBuf,
    pub store: Arc<PolicyStore>,
    /// Called with each private CA file of a new set before it serves (the upstream client
    /// loads it), so the policy layer needs no knowledge of the client.
    pub load_ca: Arc<dyn Fn(&std::path::Path) + Send + Sync>,
    pub limiter: Arc<dyn Limiter>,
    pub backoff: Arc<Backoff>,
    /// What `serve` compiled with (`--secrets-dir`): a reload judges files the same way.
    pub compile: CompileOptions,
}

impl Reloader {
    /// Reload every policy file and swap in what serves. Call it from one thread at a time.
    /// `Ok(tenants served)` when every file loaded; otherwise `Err` with every diagnostic,
    /// after whatever could apply applied (nothing when the directory itself is unusable).
    pub fn reload(&self) -> Result<usize, Vec<Diagnostic>> {
        let files = match load::policy_files(&self.dir) {
            Ok(files) => files,
            Err(errors) => {
                metrics::POLICY_RELOADS
                    .with_label_values(&["failure"])
                    .inc();
                for d in &errors {
                    tracing::error!(target: "scimgate::policy", "{d}");
                }
                tracing::warn!(
                    dir = %self.dir.display(),
                    "policy reload failed: the policies directory cannot be used; every tenant keeps its policy"
                );
                return Err(errors);
            }
        };
        let opts = &self.compile;
        let loaded = files
            .into_iter()
            .map(|file| {
                let tenant = load::load_file_with(&file, opts).and_then(with_secret);
                (file, tenant)
            })
            .collect();
        let serving = self.store.load();
        let Outcome { tenants, problems } = reconcile(&serving.tenants, loaded);
        drop(serving);
        for w in tenants.iter().flat_map(|t| &t.warnings) {
            tracing::warn!(target: "scimgate::policy", "{}", super::diagnostics::Warning(w));
        }
        for t in &tenants {
            if let Some(ca) = &t.upstream.ca_file {
                (self.load_ca)(ca);
            }
        }
        let names: HashSet<String> = tenants.iter().map(|t| t.name.clone()).collect();
        let n = tenants.len();
        log_problems(&problems);
        let errors: Vec<Diagnostic> = problems
            .iter()
            .flat_map(|p| p.errors.iter().cloned())
            .collect();
        let stale = problems.iter().filter(|p| p.stale.is_some()).count();
        let not_loaded = problems.len() - stale;
        self.store.install(Policies::from_shared(tenants), problems);
        self.limiter.retain(&|t| names.contains(t));
        self.backoff.retain(&|t| names.contains(t));
        if errors.is_empty() {
            metrics::POLICY_RELOADS
                .with_label_values(&["success"])
                .inc();
            tracing::info!(tenants = n, dir = %self.dir.display(), "policies reloaded");
            Ok(n)
        } else {
            metrics::POLICY_RELOADS
                .with_label_values(&["failure"])
                .inc();
            tracing::warn!(
                tenants = n,
                stale,
                not_loaded,
                dir = %self.dir.display(),
                "policy reload partly applied: {n} tenants serve, {stale} on a stale version, {not_loaded} files not loaded"
            );
            Err(errors)
        }
    }

    /// Watch the directory (policy files and ConfigMap swaps only, see [`Watched::concerns`]),
    /// the directories of the secret files the served policies read (so a rotated secret
    /// applies without a policy change), and SIGHUP, from background threads for the life of
    /// the process.
    pub fn spawn(self: Arc<Self>) -> Result<(), String> {
        let (tx, rx) = mpsc::channel::<()>();
        let fs_tx = tx.clone();
        let watched = Arc::new(std::sync::RwLock::new(Watched {
            policies: self.dir.clone(),
            secrets: HashMap::new(),
        }));
        let filter = watched.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let concerns = event.is_ok_and(|e| {
                    filter
                        .read()
                        .map(|w| w.concerns(&e))
                        .unwrap_or_else(|p| p.into_inner().concerns(&e))
                });
                if concerns {
                    let _ = fs_tx.send(());
                }
            })
            .map_err(|e| format!("cannot watch {}: {e}", self.dir.display()))?;
        watcher
            .watch(&self.dir, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", self.dir.display()))?;
        watch_secrets(&mut watcher, &watched, &self.store.load().tenants);
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
            .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
        std::thread::Builder::new()
            .name("scimgate-sighup".into())
            .spawn(move || {
                for _ in signals.forever() {
                    tracing::info!("SIGHUP: reloading policies");
                    if tx.send(()).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("scimgate-reload".into())
            .spawn(move || {
                let mut watcher = watcher; // dropped with the thread, i.e. never
                while rx.recv().is_ok() {
                    // Debounce: wait until the directory has been quiet for DEBOUNCE.
                    loop {
                        match rx.recv_timeout(DEBOUNCE) {
                            Ok(()) => continue,
                            Err(mpsc::RecvTimeoutError::Timeout) => break,
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    let _ = self.reload();
                    watch_secrets(&mut watcher, &watched, &self.store.load().tenants);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Read the upstream secret of one tenant (a reload reads them all again, so a rotated
/// `bearer_file` takes effect).
fn with_secret(mut t: Tenant) -> Result<Tenant, Vec<Diagnostic>> {
    secrets::resolve(std::slice::from_mut(&mut t), |k| std::env::var(k).ok())?;
    Ok(t)
}

/// Each diagnostic (ERROR, with its hint), then one WARN line per file that did not load.
fn log_problems(problems: &[Problem]) {
    for p in problems {
        for d in &p.errors {
            tracing::error!(target: "scimgate::policy", "{d}");
        }
        let file = p.file.display();
        match &p.stale {
            Some(tenant) => tracing::warn!(target: "scimgate::policy", %tenant, %file, "{p}"),
            None => tracing::warn!(target: "scimgate::policy", %file, "{p}"),
        }
    }
}

/// What the watcher listens to: the policies directory, and per directory holding secret
/// files, the names of those files.
struct Watched {
    policies: PathBuf,
    secrets: HashMap<PathBuf, HashSet<OsString>>,
}

impl Watched {
    /// Does a change concern the policies? In the policies directory only `*.toml` files
    /// (policies and their tests) and the kubelet's ConfigMap entries (`..data`,
    /// `..<version>`): a log file or an editor's swap file written there must not reload in a
    /// loop. In a secrets directory, the secret files themselves and the kubelet's Secret
    /// volume entries (the same `..` names).
    fn concerns(&self, e: &notify::Event) -> bool {
        !e.kind.is_access()
            && e.paths.iter().any(|p| {
                let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
                    return false;
                };
                let kubelet = name.to_str().is_some_and(|n| n.starts_with(".."));
                let policy = dir == self.policies
                    && (kubelet || name.to_str().is_some_and(|n| n.ends_with(".toml")));
                let secret = self
                    .secrets
                    .get(dir)
                    .is_some_and(|names| kubelet || names.contains(name));
                policy || secret
            })
    }
}

/// Watch the directories of the secret files `tenants` read, and stop watching those no longer
/// needed. A directory that cannot be watched is logged; its secret is still read on every
/// reload (SIGHUP, a policy change).
fn watch_secrets(
    watcher: &mut impl Watcher,
    watched: &std::sync::RwLock<Watched>,
    tenants: &[Arc<super::Tenant>],
) {
    let mut wanted: HashMap<PathBuf, HashSet<OsString>> = HashMap::new();
    for file in tenants.iter().flat_map(|t| t.upstream.secret_files()) {
        if let (Some(dir), Some(name)) = (file.parent(), file.file_name()) {
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir.to_path_buf()
            };
            wanted.entry(dir).or_default().insert(name.to_os_string());
        }
    }
    let mut w = watched.write().unwrap_or_else(|p| p.into_inner());
    let gone: Vec<PathBuf> = w
        .secrets
        .keys()
        .filter(|d| !wanted.contains_key(*d))
        .cloned()
        .collect();
    for dir in gone {
        w.secrets.remove(&dir);
        if dir != w.policies {
            let _ = watcher.unwatch(&dir);
        }
    }
    for (dir, names) in wanted {
        if !w.secrets.contains_key(&dir) && dir != w.policies {
            if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), "cannot watch a secrets directory ({e}); its secrets are read again on each reload or SIGHUP");
                continue;
            }
        }
        w.secrets.insert(dir, names);
    }
}
