//! The shared store's interface, apart from any engine: what `serve --store` configures
//! ([`StoreOptions`]), the one call the request path makes ([`QuotaStore::take`]), its
//! failures ([`StoreError`]), and the shape the guard's counters will take ([`WindowCounter`]).
//! [`super::shared::SharedLimiter`] runs leases, the breaker and the fallback over any
//! [`QuotaStore`]; [`super::redis`] is the Redis one.

use async_trait::async_trait;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What `serve --store URL --store-on-error … --store-timeout-ms … --store-lease-ms …` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// `redis://host:port[/db]` or `rediss://…` (TLS, rustls on the ring provider).
    pub url: String,
    /// What a request gets when the store does not answer in time (default `local`).
    pub on_error: OnError,
    /// Budget of the store on one request's path, waiting for a concurrent call included
    /// (default 25 ms).
    pub timeout: Duration,
    /// Units taken ahead per store call, as time at the quota's rate; zero is exact: one
    /// call per request (default 100 ms).
    pub lease: Duration,
}

impl StoreOptions {
    /// The defaults of the command line for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            on_error: OnError::Local,
            timeout: Duration::from_millis(25),
            lease: Duration::from_millis(100),
        }
    }
}

/// `--store-on-error`: what a request gets while the store does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// The local limiter takes over, each replica enforcing its share of the quota (the
    /// quota divided by the replicas last seen alive in the store).
    #[default]
    Local,
    /// Admit: quotas are not enforced until the store answers again.
    Open,
    /// Refuse: 503 with `Retry-After` until the store answers again.
    Closed,
}

impl OnError {
    pub fn label(self) -> &'static str {
        match self {
            OnError::Local => "local",
            OnError::Open => "open",
            OnError::Closed => "closed",
        }
    }
}

impl FromStr for OnError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(OnError::Local),
            "open" => Ok(OnError::Open),
            "closed" => Ok(OnError::Closed),
            _ => Err(format!("{s:?} is not one of local, open, closed")),
        }
    }
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One store call of the request path: take units of a tenant's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    /// The quota (GCRA: one unit every `1/per_second` s, `burst` at once); never unlimited.
    pub per_second: u32,
    pub burst: u32,
    /// Units wanted (the lease), at least `min`.
    pub want: u32,
    /// Units the request itself costs: fewer is a denial.
    pub min: u32,
    /// How far ahead a lease may start when the bucket is empty now (a reservation; the
    /// units conform only then). Zero: now or never.
    pub ahead: Duration,
    /// Units of an expired lease this replica did not spend, given back first.
    pub refund: u32,
    /// A tenant the store has no state for starts with an empty bucket instead of a full one
    /// (it was at its limit a moment ago: the store restarted under it).
    pub start_empty: bool,
}

/// The store's answer to an [`Ask`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `tokens` (between `min` and `want`) units, conforming `start_in` from now.
    Granted { tokens: u32, start_in: Duration },
    /// Not even `min`: the request may retry after `retry_after`; asking again before
    /// `ask_again_in` cannot succeed (a lease could not start within `ahead`).
    Denied {
        retry_after: Duration,
        ask_again_in: Duration,
    },
    /// The tenant is held (a target's Retry-After, set by any replica) for `hold`.
    Held { hold: Duration },
}

/// Why a store call failed: the `kind` label of `scimgate_store_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// No answer within `--store-timeout-ms` (or the probe's budget).
    Timeout,
    /// No connection: refused, dropped, TLS, a server loading or read-only.
    Connection,
    /// The server answered with an error or something the script does not return.
    Script,
}

impl StoreErrorKind {
    pub const ALL: [StoreErrorKind; 3] = [
        StoreErrorKind::Timeout,
        StoreErrorKind::Connection,
        StoreErrorKind::Script,
    ];

    pub fn label(self) -> &'static str {
        match self {
            StoreErrorKind::Timeout => "timeout",
            StoreErrorKind::Connection => "connection",
            StoreErrorKind::Script => "script",
        }
    }
}

/// A failed store call; `detail` is for the log (never a secret: no URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    pub detail: String,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, detail: impl Into<String>) -> Self {
        StoreError {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.detail)
    }
}

/// A shared quota store: one atomic GCRA step per call, on the store's own clock.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Take units of `tenant`'s quota (or learn that it is held).
    async fn take(&self, tenant: &str, ask: &Ask) -> Result<Grant, StoreError>;
    /// Say this replica is alive and learn how many are (the fallback's share). The
    /// breaker's background probe: while the breaker is open, its success closes it.
    async fn heartbeat(&self) -> Result<u32, StoreError>;
    /// The breaker just closed after an outage: start the request path's connection afresh.
    fn after_outage(&self) {}
}

/// What [`WindowCounter::take_in_window`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowTake {
    /// The events were added; `count` fell within the window, these included.
    Taken { count: u64 },
    /// Adding them would pass the limit: nothing was added. `retry_after`: until enough of the
    /// oldest events leave the window for them to fit (the whole window when they never can).
    Full { count: u64, retry_after: Duration },
    /// The counter is released (an operator's release) for `left` more: nothing is counted.
    Released { left: Duration },
}

/// The deprovisioning guard's counters (`[guard] max_deletes` per `window_s`): a sliding
/// window of events per tenant and counter name. [`super::window::LocalWindow`] is the
/// embedded one (this process only).
///
/// [`super::redis_window::SharedWindow`] is the shared one, beside the quota keys so a tenant
/// stays on one Cluster slot: `{scimgate:<tenant>}:guard:<name>` a sorted set of `(server TIME µs, unique member)`,
/// one script that drops members older than the window, compares, adds `n` and returns the
/// count (a sliding window, exact, on the server's clock), and
/// `{scimgate:<tenant>}:guard:<name>:released` with a `PX` of the window for a release.
#[async_trait]
pub trait WindowCounter: Send + Sync {
    /// Add `n` events to `tenant`'s counter `name` and return how many fell within the last
    /// `window`, this call's included (observing: never refuses, counts while released too).
    async fn add_in_window(
        &self,
        tenant: &str,
        name: &str,
        n: u32,
        window: Duration,
    ) -> Result<u64, StoreError>;

    /// Add `n` events only if the window then holds at most `limit` (enforcing).
    async fn take_in_window(
        &self,
        tenant: &str,
        name: &str,
        n: u32,
        limit: u64,
        window: Duration,
    ) -> Result<WindowTake, StoreError>;

    /// Forget the counter's events and count nothing for the next `window` (an operator's
    /// release; the counter re-arms, empty, when it ends).
    async fn release(&self, tenant: &str, name: &str, window: Duration) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_error_parses_its_three_names_only() {
        for m in [OnError::Local, OnError::Open, OnError::Closed] {
            assert_eq!(m.label().parse::<OnError>(), Ok(m));
            assert_eq!(m.to_string(), m.label());
        }
        assert!("LOCAL".parse::<OnError>().is_err());
        assert_eq!(OnError::default(), OnError::Local);
    }

    #[test]
    fn defaults_are_the_contract() {
        let o = StoreOptions::new("redis://127.0.0.1:6379");
        assert_eq!(o.on_error, OnError::Local);
        assert_eq!(o.timeout, Duration::from_millis(25));
        assert_eq!(o.lease, Duration::from_millis(100));
        let labels: Vec<_> = StoreErrorKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels, ["timeout", "connection", "script"]);
    }
}
