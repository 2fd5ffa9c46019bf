//! The deletion guard's counters in the shared store ([`WindowCounter`] over Redis): one
//! sliding window per tenant and counter, exact, on the server's clock (`lua/window.lua`), so
//! every replica counts against the same `max_deletes` and an operator's release on one
//! replica releases them all. Keys share the tenant's hash tag with its quota keys:
//! `{scimgate:<tenant>}:guard:<name>` (a sorted set, one member per event), `…:released`,
//! `…:seq`; all expire on their own.
//!
//! A store that does not answer within the budget is not a reason to let a mass
//! deprovisioning through, nor to refuse every deletion: the call falls back to this replica's
//! own window ([`LocalWindow`]) for that request, counted in `scimgate_store_errors_total`.

use super::redis::{key, RedisCalls};
use super::store::{StoreError, StoreErrorKind, WindowCounter, WindowTake};
use super::window::LocalWindow;
use crate::telemetry::metrics;
use async_trait::async_trait;
use std::time::Duration;

/// The sliding-window script (see its header).
pub const WINDOW: &str = include_str!("lua/window.lua");

/// Budget of one guard call. Deletions are rare next to quota calls, and the guard must not
/// fall back on a hiccup, so it is more generous than `--store-timeout-ms`.
const GUARD_TIMEOUT: Duration = Duration::from_millis(250);

/// [`WindowCounter`] through the shared store, with this replica's window as the fallback.
pub struct SharedWindow {
    calls: RedisCalls,
    script: ::redis::Script,
    local: LocalWindow,
}

impl SharedWindow {
    pub fn new(calls: RedisCalls) -> Self {
        SharedWindow {
            calls,
            script: ::redis::Script::new(WINDOW),
            local: LocalWindow::new(),
        }
    }

    async fn call(
        &self,
        tenant: &str,
        name: &str,
        mode: &str,
        n: u32,
        limit: u64,
        window: Duration,
    ) -> Result<[i64; 3], StoreError> {
        let base = format!("guard:{name}");
        let mut invoke = self.script.prepare_invoke();
        invoke
            .key(key(tenant, &base))
            .key(key(tenant, &format!("{base}:released")))
            .key(key(tenant, &format!("{base}:seq")))
            .arg(mode)
            .arg(n)
            .arg(limit)
            .arg(u64::try_from(window.as_micros()).unwrap_or(u64::MAX));
        let mut con = self.calls.connection()?;
        let answer: Vec<i64> =
            match tokio::time::timeout(GUARD_TIMEOUT, invoke.invoke_async(&mut con)).await {
                Ok(r) => r.map_err(super::redis::store_error)?,
                Err(_) => {
                    return Err(StoreError::new(
                        StoreErrorKind::Timeout,
                        "the guard's counter did not answer in time",
                    ))
                }
            };
        match answer.as_slice() {
            &[a, b, c] => Ok([a, b, c]),
            other => Err(StoreError::new(
                StoreErrorKind::Script,
                format!("window.lua answered {} values, not 3", other.len()),
            )),
        }
    }

    fn fell_back(e: &StoreError) {
        metrics::STORE_ERRORS
            .with_label_values(&[e.kind.label()])
            .inc();
        tracing::warn!(error = %e, "the shared store did not count a deletion; this replica counts it alone");
    }
}

fn us(v: i64) -> Duration {
    Duration::from_micros(u64::try_from(v).unwrap_or(0))
}

#[async_trait]
impl WindowCounter for SharedWindow {
    async fn add_in_window(
        &self,
        tenant: &str,
        name: &str,
        n: u32,
        window: Duration,
    ) -> Result<u64, StoreError> {
        match self.call(tenant, name, "add", n, 0, window).await {
            Ok([_, count, _]) => Ok(u64::try_from(count).unwrap_or(0)),
            Err(e) => {
                Self::fell_back(&e);
                self.local.add_in_window(tenant, name, n, window).await
            }
        }
    }

    async fn take_in_window(
        &self,
        tenant: &str,
        name: &str,
        n: u32,
        limit: u64,
        window: Duration,
    ) -> Result<WindowTake, StoreError> {
        match self.call(tenant, name, "take", n, limit, window).await {
            Ok([1, count, _]) => Ok(WindowTake::Taken {
                count: u64::try_from(count).unwrap_or(0),
            }),
            Ok([2, _, left]) => Ok(WindowTake::Released { left: us(left) }),
            Ok([_, count, retry]) => Ok(WindowTake::Full {
                count: u64::try_from(count).unwrap_or(0),
                retry_after: us(retry),
            }),
            Err(e) => {
                Self::fell_back(&e);
                self.local
                    .take_in_window(tenant, name, n, limit, window)
                    .await
            }
        }
    }

    async fn release(&self, tenant: &str, name: &str, window: Duration) -> Result<(), StoreError> {
        // Release here too, so a fallback during the release does not count old events.
        self.local.release(tenant, name, window).await?;
        self.call(tenant, name, "release", 0, 0, window)
            .await
            .map(drop)
    }
}
