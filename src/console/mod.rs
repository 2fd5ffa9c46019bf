//! The console on the admin listener: every tenant and its last exchanges at a glance, a
//! playground over the gateway's own phases, and a live tail — server-rendered HTML, the same
//! data as JSON under `/api/…`. Pingora-free: `proxy::admin` reads the request and writes what
//! [`Console::handle`] answers (or streams a live tail).
//!
//! - [`record`], [`ring`]: what the request path hands over (one bounded record, one
//!   `try_send`) and the bounded in-memory ring that keeps it. These two are what `flow` knows
//!   of the console; the rest sits beside `proxy`, above `flow`.
//! - [`redact`], [`view`]: personal values out unless `[log] pii = true`; the views the pages
//!   and the API share. [`stats`]: live rates from the request counter.
//! - [`html`], [`api`] (the playground's `POST /api/translate`), [`sse`] (the live tail),
//!   [`auth`] (`--admin-token-env`), [`routes`] (which path answers what).
//!
//! Safe by default: without `--admin-token-env` the console and `/api/…` answer only loopback
//! peers that name the listener by IP or `localhost` (no DNS rebinding); with it, only requests
//! with the token (or the login form's cookie). No header is ever kept, secrets are replaced
//! before a record is kept, memory is bounded ([`ring::Limits`]).

pub mod api;
pub mod auth;
pub mod html;
pub mod record;
pub mod redact;
pub mod ring;
pub mod routes;
pub mod sse;
pub mod stats;
pub mod view;

pub use ring::Ring;

use crate::policy::store::PolicyStore;
use crate::ratelimit::Backoff;
use std::sync::Arc;

/// Everything the console reads.
pub struct Console {
    pub store: Arc<PolicyStore>,
    /// The exchanges; `None` keeps none (the pages say so).
    pub ring: Option<Arc<Ring>>,
    /// Tenants held after their target's back-pressure.
    pub backoff: Arc<Backoff>,
    /// `--admin-token-env`.
    pub token: Option<auth::AdminToken>,
    /// Open live tails.
    pub tails: sse::Slots,
}

impl Console {
    pub fn new(
        store: Arc<PolicyStore>,
        ring: Option<Arc<Ring>>,
        backoff: Arc<Backoff>,
        token: Option<auth::AdminToken>,
    ) -> Self {
        Console {
            store,
            ring,
            backoff,
            token,
            tails: sse::Slots::default(),
        }
    }

    /// Every served tenant's row, and the files the last reload could not load.
    pub fn tenants(&self) -> (Vec<view::TenantView>, Vec<String>) {
        let policies = self.store.load();
        let problems = self.store.problems();
        let mut rows: Vec<view::TenantView> = policies
            .tenants
            .iter()
            .map(|t| {
                let mut row = view::tenant_row(t);
                if let Some(ring) = &self.ring {
                    let r = ring.rates(&t.name);
                    row.requests_per_second = r.requests_per_second;
                    row.last_minute_4xx = r.last_minute_4xx;
                    row.last_minute_5xx = r.last_minute_5xx;
                    row.last_minute_429 = r.last_minute_429;
                    row.requests_total = r.total;
                    row.exchanges = ring.count(&t.name);
                }
                row.held_for_s = self.backoff.held(&t.name).map(|d| d.as_secs_f64());
                row.last_reload_error = problems
                    .iter()
                    .find(|p| p.stale.as_deref() == Some(t.name.as_str()))
                    .map(ToString::to_string);
                row
            })
            .collect();
        rows.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        let not_loaded = problems
            .iter()
            .filter(|p| p.stale.is_none())
            .map(ToString::to_string)
            .collect();
        (rows, not_loaded)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
