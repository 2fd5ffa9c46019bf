//! The Redis (or Valkey) store behind `serve --store redis://…|rediss://…`: one Lua script per
//! quota call ([`GCRA`], atomic, on the server's `TIME`), shared holds ([`HOLD`]: stored with
//! their expiry and announced on [`CHANNEL`]), and a heartbeat that counts the live replicas.
//!
//! Keys of a tenant share the hash tag `{scimgate:<tenant>}` (`…:tat`, `…:hold`, and later
//! `…:guard:<name>`), so Redis Cluster keeps them on one slot, and all expire on their own.
//! The client is redis-rs: multiplexed connections behind `ConnectionManager`s, which
//! reconnect; TLS by rustls on the process's ring provider. The breaker's probe, the hold
//! subscriber and hold announcements run on a small runtime of their own; the request path's
//! connection is made by the first request that needs it, so it is driven on the runtime that
//! serves requests (a thread hop less per call, ~60 µs on loopback), and made afresh after
//! every outage.

use super::backoff::{Backoff, ShareHolds};
use super::shared::SharedLimiter;
use super::store::{
    Ask, Grant, QuotaStore, StoreError, StoreErrorKind, StoreOptions, WindowCounter,
};
use crate::telemetry::metrics;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ErrorKind, RedisError, Script, ServerErrorKind};
use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The GCRA step (see the script's header for its keys, arguments and answer).
pub const GCRA: &str = include_str!("lua/gcra.lua");
/// Store a hold (keeping the longer one) and announce it on [`CHANNEL`].
pub const HOLD: &str = include_str!("lua/hold.lua");
/// Register this replica and count the live ones.
pub const HEARTBEAT: &str = include_str!("lua/heartbeat.lua");

/// Pub/sub channel of hold announcements: `"<tenant> <milliseconds>"`.
pub const CHANNEL: &str = "scimgate:holds";
/// Sorted set of live replicas (id → last heartbeat, ms on the server's clock).
pub const REPLICAS_KEY: &str = "scimgate:replicas";
/// A replica not heard from for this long no longer counts.
const REPLICA_STALE_MS: u64 = 5_000;
/// How long a quota key outlives the moment its bucket is full again (longer than
/// `lease::CONGESTED_FOR`, so a missing key after congestion means a restarted store).
const KEEP_MS: u64 = 5_000;
/// Budget of storing and announcing one hold (off the request path).
const HOLD_TIMEOUT: Duration = Duration::from_secs(1);
/// One connection attempt; the connection manager retries once, 10 to 100 ms later.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// redis-rs's own bound on an answer (ours, `--store-timeout-ms`, is shorter on the request path).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause before subscribing again after the subscription's connection ended.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(250);

/// `{scimgate:<tenant>}:<what>`: every key of a tenant on one Cluster slot.
pub fn key(tenant: &str, what: &str) -> String {
    format!("{{scimgate:{tenant}}}:{what}")
}

/// The calls the gateway makes; cheap to clone (the connections are shared).
#[derive(Clone)]
pub struct RedisCalls {
    /// The store runtime's connection: the probe and hold announcements.
    background: ConnectionManager,
    /// The request path's connection, once a request made it.
    requests: Arc<ArcSwapOption<ConnectionManager>>,
    client: Client,
    config: ConnectionManagerConfig,
    gcra: Arc<Script>,
    hold: Arc<Script>,
    replica: Arc<str>,
}

impl RedisCalls {
    /// The request path's connection (for the guard's counters, beside the quota calls).
    pub fn connection(&self) -> Result<ConnectionManager, StoreError> {
        self.for_requests()
    }

    /// The request path's connection, made (lazily, on the calling runtime) if there is none.
    fn for_requests(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(m) = self.requests.load_full() {
            return Ok((*m).clone());
        }
        let made = Arc::new(
            ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
                .map_err(store_error)?,
        );
        // Two first requests at once: the first one stored wins, the other is dropped unused.
        let before = self
            .requests
            .compare_and_swap(&None::<Arc<ConnectionManager>>, Some(made.clone()));
        Ok(match &*before {
            Some(existing) => (**existing).clone(),
            None => (*made).clone(),
        })
    }
}

#[async_trait]
impl QuotaStore for RedisCalls {
    async fn take(&self, tenant: &str, ask: &Ask) -> Result<Grant, StoreError> {
        let interval_us = 1_000_000f64 / f64::from(ask.per_second.max(1));
        let mut call = self.gcra.prepare_invoke();
        call.key(key(tenant, "tat"))
            .key(key(tenant, "hold"))
            .arg(format!("{interval_us:.6}"))
            .arg(ask.burst)
            .arg(ask.want)
            .arg(ask.min)
            .arg(u64::try_from(ask.ahead.as_micros()).unwrap_or(u64::MAX))
            .arg(ask.refund)
            .arg(if ask.start_empty { "1" } else { "0" })
            .arg(KEEP_MS);
        let mut con = self.for_requests()?;
        let answer: Vec<i64> = call.invoke_async(&mut con).await.map_err(store_error)?;
        grant(&answer)
    }

    async fn heartbeat(&self) -> Result<u32, StoreError> {
        let mut con = self.background.clone();
        // EVAL, not EVALSHA: `INFO commandstats` then tells quota calls (evalsha) apart.
        let n: i64 = ::redis::cmd("EVAL")
            .arg(HEARTBEAT)
            .arg(1)
            .arg(REPLICAS_KEY)
            .arg(&*self.replica)
            .arg(REPLICA_STALE_MS)
            .query_async(&mut con)
            .await
            .map_err(store_error)?;
        Ok(u32::try_from(n).unwrap_or(1).max(1))
    }

    fn after_outage(&self) {
        self.requests.store(None);
    }
}

/// What gcra.lua answers: `{granted, start_in_us, hold_ms, retry_us, ask_again_us}`.
fn grant(answer: &[i64]) -> Result<Grant, StoreError> {
    let &[granted, start_us, hold_ms, retry_us, again_us] = answer else {
        return Err(StoreError::new(
            StoreErrorKind::Script,
            format!("gcra.lua answered {} values, not 5", answer.len()),
        ));
    };
    let us = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
    if hold_ms > 0 {
        return Ok(Grant::Held {
            hold: Duration::from_millis(u64::try_from(hold_ms).unwrap_or(0)),
        });
    }
    if granted > 0 {
        return Ok(Grant::Granted {
            tokens: u32::try_from(granted).unwrap_or(u32::MAX),
            start_in: us(start_us),
        });
    }
    Ok(Grant::Denied {
        retry_after: us(retry_us),
        ask_again_in: us(again_us),
    })
}

/// The kind label of a redis-rs error.
fn kind_of(e: &RedisError) -> StoreErrorKind {
    if e.is_timeout() {
        return StoreErrorKind::Timeout;
    }
    if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        return StoreErrorKind::Connection;
    }
    match e.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        )
        | ErrorKind::AuthenticationFailed
        | ErrorKind::InvalidClientConfig
        | ErrorKind::ClusterConnectionNotFound => StoreErrorKind::Connection,
        _ => StoreErrorKind::Script,
    }
}

pub fn store_error(e: RedisError) -> StoreError {
    StoreError::new(kind_of(&e), e.to_string())
}

/// The store as [`ShareHolds`]: a hold set here is stored and announced from the store's
/// runtime, so the request that saw the target's 429 does not wait for it.
pub struct RedisHolds {
    calls: RedisCalls,
    runtime: tokio::runtime::Handle,
}

impl ShareHolds for RedisHolds {
    fn share(&self, tenant: &str, hold: Duration) {
        let calls = self.calls.clone();
        let tenant = tenant.to_owned();
        let ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX).max(1);
        self.runtime.spawn(async move {
            let mut call = calls.hold.prepare_invoke();
            call.key(key(&tenant, "hold"))
                .arg(ms)
                .arg(CHANNEL)
                .arg(&tenant);
            let mut con = calls.background.clone();
            let result = match tokio::time::timeout(HOLD_TIMEOUT, call.invoke_async::<i64>(&mut con)).await {
                Ok(r) => r.map_err(store_error),
                Err(_) => Err(StoreError::new(
                    StoreErrorKind::Timeout,
                    format!("hold: no answer within {} ms", HOLD_TIMEOUT.as_millis()),
                )),
            };
            if let Err(e) = result {
                metrics::STORE_ERRORS.with_label_values(&[e.kind.label()]).inc();
                tracing::warn!(tenant = %tenant, error = %e, "could not share a hold: it holds on this replica only");
            }
        });
    }
}

/// Apply one announcement `"<tenant> <ms>"` (malformed ones are ignored).
pub fn apply_announcement(backoff: &Backoff, payload: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(payload) else {
        return false;
    };
    let Some((tenant, ms)) = text.rsplit_once(' ') else {
        return false;
    };
    let Ok(ms) = ms.parse::<u64>() else {
        return false;
    };
    if tenant.is_empty() || ms == 0 {
        return false;
    }
    backoff.hold_here(tenant, Duration::from_millis(ms));
    true
}

/// Listen to hold announcements forever, subscribing again whenever the connection ends.
async fn subscribe(client: Client, backoff: Arc<Backoff>) {
    loop {
        if let Ok(Ok(mut pubsub)) =
            tokio::time::timeout(CONNECT_TIMEOUT * 4, client.get_async_pubsub()).await
        {
            if pubsub.subscribe(CHANNEL).await.is_ok() {
                tracing::debug!("listening to shared holds");
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    apply_announcement(&backoff, msg.get_payload_bytes());
                }
                tracing::debug!("hold subscription ended; subscribing again");
            }
        }
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}

/// A name for this replica in the heartbeat set: process id and start time.
fn replica_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Connect the shared store (lazily: a store down at start only means the fallback until it
/// answers) and build the limiter and the holds over it. The caller has installed the rustls
/// crypto provider (Pingora's ring) that `rediss://` uses.
pub fn start(opts: &StoreOptions) -> Result<super::Built, String> {
    if !(opts.url.starts_with("redis://") || opts.url.starts_with("rediss://")) {
        return Err("--store must be a redis://host:port[/db] or rediss://… URL".into());
    }
    // The URL may carry a password: it is never printed.
    let client = Client::open(opts.url.as_str())
        .map_err(|e| format!("--store is not a usable Redis URL: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("scimgate-store")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the store's runtime: {e}"))?;
    // The store serves the whole process: its runtime lives as long.
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(100));
    let background = {
        let _in_runtime = runtime.enter();
        ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|e| format!("--store cannot be used: {e}"))?
    };
    let calls = RedisCalls {
        background,
        requests: Arc::new(ArcSwapOption::empty()),
        client: client.clone(),
        config,
        gcra: Arc::new(Script::new(GCRA)),
        hold: Arc::new(Script::new(HOLD)),
        replica: Arc::from(replica_id()),
    };
    let holds = Arc::new(RedisHolds {
        calls: calls.clone(),
        runtime: runtime.handle().clone(),
    });
    let backoff = Arc::new(Backoff::sharing(holds));
    let window: Arc<dyn WindowCounter> =
        Arc::new(super::redis_window::SharedWindow::new(calls.clone()));
    let limiter = Arc::new(SharedLimiter::new(calls, opts, backoff.clone()));
    let kinds: Vec<&str> = StoreErrorKind::ALL.iter().map(|k| k.label()).collect();
    metrics::init_store(&kinds);
    runtime.spawn(Arc::clone(&limiter).run_probe());
    runtime.spawn(subscribe(client, backoff.clone()));
    tracing::info!(
        on_error = opts.on_error.label(),
        timeout_ms = opts.timeout.as_millis() as u64,
        lease_ms = opts.lease.as_millis() as u64,
        "quotas and holds shared through the store (--store)"
    );
    Ok((limiter, backoff, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_tenant_hash_tag() {
        assert_eq!(key("acme-webex", "tat"), "{scimgate:acme-webex}:tat");
        assert_eq!(key("acme-webex", "hold"), "{scimgate:acme-webex}:hold");
    }

    #[test]
    fn script_answers_become_grants() {
        assert_eq!(
            grant(&[2, 0, 0, 0, 0]),
            Ok(Grant::Granted {
                tokens: 2,
                start_in: Duration::ZERO
            })
        );
        assert_eq!(
            grant(&[2, 150_000, 0, 0, 0]),
            Ok(Grant::Granted {
                tokens: 2,
                start_in: Duration::from_millis(150)
            })
        );
        assert_eq!(
            grant(&[0, 0, 0, 50_000, 1]),
            Ok(Grant::Denied {
                retry_after: Duration::from_millis(50),
                ask_again_in: Duration::from_micros(1)
            })
        );
        assert_eq!(
            grant(&[0, 0, 4_900, 0, 0]),
            Ok(Grant::Held {
                hold: Duration::from_millis(4_900)
            })
        );
        assert_eq!(
            grant(&[1, 2]).map_err(|e| e.kind),
            Err(StoreErrorKind::Script)
        );
    }

    #[test]
    fn announcements_hold_here_and_garbage_is_ignored() {
        let b = Backoff::new();
        assert!(apply_announcement(&b, b"acme 5000"));
        assert!(b
            .held("acme")
            .is_some_and(|d| d > Duration::from_millis(4_900)));
        for bad in [&b"acme"[..], b"acme x", b" 5", b"acme 0", b"\xff 5"] {
            assert!(!apply_announcement(&b, bad), "{bad:?}");
        }
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn only_redis_urls_start() {
        for url in [
            "http://127.0.0.1:6379",
            "127.0.0.1:6379",
            "unix:///tmp/r.sock",
        ] {
            let Err(e) = start(&StoreOptions::new(url)) else {
                panic!("{url} started");
            };
            assert!(e.contains("redis://"), "{e}");
        }
        let Err(e) = start(&StoreOptions::new("redis://:secret@[::1")) else {
            panic!("a broken URL started");
        };
        assert!(!e.contains("secret"), "{e}");
    }
}
