//! The live set of policies, swapped whole (ArcSwap): a request reads one consistent snapshot
//! and a reload never blocks or half-applies. Beside it, what the last reload could not load
//! (stale tenants, files not loaded), for `/readyz`.

use super::model::Policies;
use super::reconcile::Problem;
use arc_swap::ArcSwap;
use std::sync::Arc;

#[derive(Debug)]
pub struct PolicyStore {
    current: ArcSwap<Policies>,
    problems: ArcSwap<Vec<Problem>>,
}

impl PolicyStore {
    pub fn new(policies: Policies) -> Self {
        crate::telemetry::metrics::POLICY_TENANTS.set(policies.tenants.len() as i64);
        PolicyStore {
            current: ArcSwap::from_pointee(policies),
            problems: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// The snapshot a request works on from start to end.
    pub fn load(&self) -> Arc<Policies> {
        self.current.load_full()
    }

    /// Install a new, fully checked set of policies.
    pub fn swap(&self, policies: Policies) {
        crate::telemetry::metrics::POLICY_TENANTS.set(policies.tenants.len() as i64);
        self.current.store(Arc::new(policies));
    }

    /// Install what a reload decided: the set to serve and the files it could not load (each
    /// a stale tenant or a file not loaded; empty when every file loaded).
    pub fn install(&self, policies: Policies, problems: Vec<Problem>) {
        use crate::telemetry::metrics::{POLICY_FILES_NOT_LOADED, POLICY_STALE_TENANTS};
        let stale = problems.iter().filter(|p| p.stale.is_some()).count();
        POLICY_STALE_TENANTS.set(stale as i64);
        POLICY_FILES_NOT_LOADED.set((problems.len() - stale) as i64);
        self.swap(policies);
        self.problems.store(Arc::new(problems));
    }

    /// The policy files the last reload could not load, in file order.
    pub fn problems(&self) -> Arc<Vec<Problem>> {
        self.problems.load_full()
    }
}
