//! The live set of policies, swapped whole (ArcSwap): a request reads one consistent snapshot
//! and a reload never blocks or half-applies.

use super::model::Policies;
use arc_swap::ArcSwap;
use std::sync::Arc;

#[derive(Debug)]
pub struct PolicyStore {
    current: ArcSwap<Policies>,
}

impl PolicyStore {
    pub fn new(policies: Policies) -> Self {
        crate::telemetry::metrics::POLICY_TENANTS.set(policies.tenants.len() as i64);
        PolicyStore {
            current: ArcSwap::from_pointee(policies),
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
}
