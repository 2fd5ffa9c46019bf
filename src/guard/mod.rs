//! The deletion guard (`[guard]`): a tenant's DELETEs and deactivations ([`detect`]) are counted
//! in a sliding window of `window_s`; past `max_deletes` each further one is refused with 503 +
//! `Retry-After` (IdPs retry those later) and nothing is sent upstream, while every other request
//! flows. `mode = "observe"` only counts. An operator's release ([`admin`]) lets deletions through
//! for one window, after which the guard re-arms, empty.
//!
//! Counting goes through [`WindowCounter`], the store interface of the quotas: the embedded
//! [`LocalWindow`] counts in this process; a shared implementation makes replicas count together.

pub mod admin;
pub mod detect;

use crate::policy::model::GuardMode;
use crate::policy::Tenant;
use crate::ratelimit::retry_after_secs;
use crate::ratelimit::store::{StoreError, WindowCounter, WindowTake};
use crate::ratelimit::window::LocalWindow;
use crate::scim::error::ScimError;
use crate::telemetry::metrics;
use std::sync::Arc;

/// The counter's name under the tenant (`{scimgate:<tenant>}:guard:deletes` in a shared store).
const COUNTER: &str = "deletes";

/// Every tenant's deletion counters.
pub struct Guard {
    counter: Arc<dyn WindowCounter>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}

impl Default for Guard {
    fn default() -> Self {
        Self::local()
    }
}

impl Guard {
    /// Counting in this process only (the embedded default).
    pub fn local() -> Self {
        Self::new(Arc::new(LocalWindow::new()))
    }

    /// Counting through `counter` (a shared store's, for every replica).
    pub fn new(counter: Arc<dyn WindowCounter>) -> Self {
        Guard { counter }
    }

    /// Count a request's `deletions` (from [`detect::count`]) for `tenant`: `Err` (503 +
    /// `Retry-After`, a SCIM error) when enforcing and they would pass `max_deletes` in the
    /// window. A Bulk whose deletions do not all fit is refused whole. A counter that cannot
    /// answer lets the request through (logged): the guard is a safety net, never an outage.
    pub async fn check(&self, tenant: &Tenant, deletions: u32) -> Result<(), ScimError> {
        let g = &tenant.guard;
        if !g.is_on() || deletions == 0 {
            return Ok(());
        }
        let tripped = metrics::GUARD_TRIPPED.with_label_values(&[&tenant.name]);
        let limit = u64::from(g.max_deletes);
        if g.mode == GuardMode::Observe {
            match self
                .counter
                .add_in_window(&tenant.name, COUNTER, deletions, g.window)
                .await
            {
                Ok(count) if count > limit => {
                    if tripped.get() == 0 {
                        tracing::warn!(tenant = %tenant.name, count, max_deletes = limit, window_s = g.window.as_secs(), "deletion guard (observe): more deletions and deactivations than max_deletes in the window; nothing refused");
                    }
                    tripped.set(1);
                }
                Ok(_) => tripped.set(0),
                Err(e) => unavailable(tenant, &e),
            }
            return Ok(());
        }
        let took = self
            .counter
            .take_in_window(&tenant.name, COUNTER, deletions, limit, g.window)
            .await;
        match took {
            Ok(WindowTake::Taken { .. } | WindowTake::Released { .. }) => {
                tripped.set(0);
                Ok(())
            }
            Ok(WindowTake::Full { count, retry_after }) => {
                if tripped.get() == 0 {
                    tracing::warn!(tenant = %tenant.name, count, max_deletes = limit, window_s = g.window.as_secs(), "deletion guard tripped: deletions and deactivations are refused until the window lets them through or an operator releases the guard (POST /admin/tenants/{}/guard/release)", tenant.name);
                }
                tripped.set(1);
                metrics::GUARD_BLOCKED
                    .with_label_values(&[&tenant.name])
                    .inc();
                let mut e = ScimError::new(
                    503,
                    None,
                    format!(
                        "the deletion guard of tenant {} holds deletions and deactivations: {count} in the last {} s, the limit is {limit} ([guard] max_deletes); retry later, or an operator releases it",
                        tenant.name,
                        g.window.as_secs()
                    ),
                );
                e.headers
                    .push(("Retry-After", retry_after_secs(retry_after).to_string()));
                Err(e)
            }
            Err(e) => {
                unavailable(tenant, &e);
                Ok(())
            }
        }
    }

    /// Release `tenant`'s guard: its count is forgotten and nothing is counted for one
    /// `window_s`; then it re-arms, empty.
    pub async fn release(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.counter
            .release(&tenant.name, COUNTER, tenant.guard.window)
            .await?;
        metrics::GUARD_TRIPPED
            .with_label_values(&[&tenant.name])
            .set(0);
        tracing::warn!(tenant = %tenant.name, window_s = tenant.guard.window.as_secs(), "deletion guard released by an operator: deletions pass uncounted for one window");
        Ok(())
    }
}

fn unavailable(tenant: &Tenant, e: &StoreError) {
    tracing::warn!(tenant = %tenant.name, error = %e, "the deletion guard's counter did not answer; the request goes through");
}
