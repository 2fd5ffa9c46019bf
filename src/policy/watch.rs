//! Hot reload: a change in the policies directory (debounced; ConfigMap symlink swaps included)
//! or SIGHUP rebuilds the whole policy set off the request path. Only a set in which every file
//! compiles (and every secret resolves) is swapped in; otherwise the last good set keeps serving,
//! the errors are logged with file:line:col, and `scimgate_policy_reloads_total{result="failure"}`
//! counts it. Requests in flight finish on the snapshot they started with.

use super::diagnostics::Diagnostic;
use super::store::PolicyStore;
use super::{load, secrets, Policies};
use crate::ratelimit::{Backoff, Limiter};
use crate::telemetry::metrics;
use notify::{RecursiveMode, Watcher};
use std::collections::HashSet;
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
}

impl Reloader {
    /// Rebuild and, if every file is good, swap. Returns the number of tenants now served.
    pub fn reload(&self) -> Result<usize, Vec<Diagnostic>> {
        let loaded = load::load_dir(&self.dir).and_then(|mut tenants| {
            secrets::resolve(&mut tenants, |k| std::env::var(k).ok())?;
            Ok(tenants)
        });
        match loaded {
            Ok(tenants) => {
                for t in &tenants {
                    if let Some(ca) = &t.upstream.ca_file {
                        (self.load_ca)(ca);
                    }
                }
                let names: HashSet<String> = tenants.iter().map(|t| t.name.clone()).collect();
                let n = tenants.len();
                self.store.swap(Policies::new(tenants));
                self.limiter.retain(&|t| names.contains(t));
                self.backoff.retain(&|t| names.contains(t));
                metrics::POLICY_RELOADS
                    .with_label_values(&["success"])
                    .inc();
                tracing::info!(tenants = n, dir = %self.dir.display(), "policies reloaded");
                Ok(n)
            }
            Err(errors) => {
                metrics::POLICY_RELOADS
                    .with_label_values(&["failure"])
                    .inc();
                for d in &errors {
                    tracing::error!(target: "scimgate::policy", "{d}");
                }
                tracing::warn!(
                    errors = errors.len(),
                    "policy reload failed; the last good policies keep serving"
                );
                Err(errors)
            }
        }
    }

    /// Watch the directory (policy files and ConfigMap swaps only, see [`concerns_policies`])
    /// and SIGHUP from background threads for the life of the process.
    pub fn spawn(self: Arc<Self>) -> Result<(), String> {
        let (tx, rx) = mpsc::channel::<()>();
        let fs_tx = tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| concerns_policies(&e)) {
                    let _ = fs_tx.send(());
                }
            })
            .map_err(|e| format!("cannot watch {}: {e}", self.dir.display()))?;
        watcher
            .watch(&self.dir, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", self.dir.display()))?;
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
                let _watcher = watcher; // dropped with the thread, i.e. never
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
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Does a change in the policies directory concern the policies? Only `*.toml` files (policies
/// and their tests) and the kubelet's ConfigMap entries (`..data`, `..<version>`): a log file or
/// an editor's swap file written there must not reload in a loop.
fn concerns_policies(e: &notify::Event) -> bool {
    !e.kind.is_access()
        && e.paths.iter().any(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".toml") || n.starts_with(".."))
        })
}
