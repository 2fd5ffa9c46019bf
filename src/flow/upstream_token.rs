//! The target's access tokens (`[upstream.oauth]`): fetched from the tenant's token endpoint
//! through the flow's [`Exchange`] (never Pingora here), cached per tenant, refreshed before
//! they expire, and dropped when the target answers 401 ([`exchange`]: one refresh, one replay).
//!
//! - Fresh: a token is used until `expires_in` minus a margin (10 % of its lifetime, at least
//!   1 s for the whole-second clocks of token servers, at most 30 s and half the lifetime).
//!   Past that, the first request refreshes it; requests meanwhile keep the old one while it
//!   lives (until 1 s before its announced expiry, [`slack`]), or wait for the one fetch in
//!   flight (one `tokio::sync::Mutex` per tenant: one fetch serves every concurrent request).
//! - Failing: each failure of the token endpoint holds the tenant's next attempt back by a full
//!   jitter exponential backoff ([`BACKOFF_BASE`] doubling, at most [`BACKOFF_CAP`]); while held,
//!   a request with no live token gets a 502 at once naming the token source. A fetch runs by
//!   the request's deadline (the tenant's `timeout_ms`), so nothing waits longer.
//! - Keyed: a tenant's slot is keyed by a digest of its whole `[upstream.oauth]` and client
//!   secret, so a reload that changes either fetches a new token.
//!
//! Neither the client secret nor a token reaches a log line, a metric or an error: tokens are
//! kept as sensitive header values, failures are described by status and OAuth error code.

pub mod grant;

use super::exchange::{Exchange, ExchangeError, UpstreamRequest, UpstreamResponse};
use super::Gateway;
use crate::policy::model::{ClientAuth, Grant, OAuth, Secret};
use crate::policy::Tenant;
use crate::scim::error::ScimError;
use crate::telemetry::metrics;
use http::HeaderValue;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The first backoff after a failure is up to this long; it doubles with each failure after.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The longest a failing token source is left alone.
pub const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// A slot of a tenant that no request asked for in this long is forgotten.
const IDLE_SLOT: Duration = Duration::from_secs(3600);

/// Every tenant's token, one process-wide set shared by the listeners.
pub struct UpstreamTokens {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// For `Slot::used` (milliseconds since this).
    epoch: Instant,
}

impl Default for UpstreamTokens {
    fn default() -> Self {
        UpstreamTokens {
            slots: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("tenants", &lock(&self.slots).len())
            .finish()
    }
}

/// One tenant's token source.
struct Slot {
    /// Digest of the `[upstream.oauth]` and client secret this slot serves.
    key: [u8; 32],
    state: Mutex<State>,
    /// Held by the one request that fetches.
    fetch: tokio::sync::Mutex<()>,
    /// When a request last asked, ms since [`UpstreamTokens::epoch`].
    used: AtomicU64,
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    /// Failures in a row, and when the next attempt may go.
    failures: u32,
    retry_at: Option<Instant>,
    /// Why the last attempt failed (safe words).
    error: Option<String>,
    generation: u64,
}

struct Token {
    header: HeaderValue,
    generation: u64,
    refresh_at: Instant,
    expires_at: Instant,
}

impl Token {
    fn bearer(&self) -> Bearer {
        Bearer {
            header: self.header.clone(),
            generation: self.generation,
        }
    }
}

/// The `Authorization` value one request carries (a sensitive header value).
#[derive(Debug, Clone)]
pub struct Bearer {
    pub header: HeaderValue,
    generation: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Send `req` with a token of the tenant's token source, by `req.deadline` (set to the
/// tenant's `timeout_ms` from now when the request has none, so the token fetch and the
/// exchange share one budget). A 401 from the target drops the token, and the request goes
/// once more with a new one (401: the target did not act on it, so a POST may go again too).
/// `Err`: the token source failed (a 502 naming it); `Ok` holds the exchange's own outcome.
pub async fn exchange(
    gw: &Gateway<'_>,
    tenant: &Tenant,
    oauth: &OAuth,
    req: &mut UpstreamRequest,
) -> Result<Result<UpstreamResponse, ExchangeError>, ScimError> {
    let deadline = *req
        .deadline
        .get_or_insert_with(|| Instant::now() + tenant.upstream.timeout);
    let tokens = gw.upstream_tokens;
    let bearer = tokens.bearer(gw.upstream, tenant, oauth, deadline).await?;
    authorize(req, &bearer);
    let first = gw.upstream.exchange(tenant, req).await;
    match first {
        Ok(resp) if resp.status == 401 => {
            tokens.reject(tenant, oauth, &bearer);
            tracing::info!(tenant = %tenant.name, "the SCIM target answered 401: the request goes once more with a new access token");
            let bearer = tokens.bearer(gw.upstream, tenant, oauth, deadline).await?;
            authorize(req, &bearer);
            Ok(gw.upstream.exchange(tenant, req).await)
        }
        other => Ok(other),
    }
}

/// Put `bearer` in `req` as its one `Authorization` header.
fn authorize(req: &mut UpstreamRequest, bearer: &Bearer) {
    req.headers.retain(|(name, _)| *name != "authorization");
    req.headers.push(("authorization", bearer.header.clone()));
}

impl UpstreamTokens {
    /// A live token of `tenant`'s source: the cached one, or one fetched now (by `deadline`).
    pub async fn bearer(
        &self,
        upstream: &dyn Exchange,
        tenant: &Tenant,
        oauth: &OAuth,
        deadline: Instant,
    ) -> Result<Bearer, ScimError> {
        // No secret loaded: a dry run, which never reads secrets (`serve` always has it); its
        // canned token endpoint takes an empty one.
        let unread = Secret::new(String::new());
        let secret = oauth.client_secret.as_ref().unwrap_or(&unread);
        let slot = self.slot(&tenant.name, fingerprint(oauth, secret));
        // A fresh token, or whether to wait for a fetch: decided under the state lock only.
        let usable = match slot.ready(tenant, oauth, Instant::now())? {
            Ready::Fresh(b) => return Ok(b),
            Ready::Refresh(usable) => usable,
        };
        let _fetching = match &usable {
            // A live token: refresh it here unless another request already does.
            Some(b) => match slot.fetch.try_lock() {
                Ok(g) => g,
                Err(_) => return Ok(b.clone()),
            },
            None => slot.fetch.lock().await,
        };
        // Another request may have fetched (or failed) while this one waited.
        let usable = match slot.ready(tenant, oauth, Instant::now()) {
            Ok(Ready::Fresh(b)) => return Ok(b),
            Ok(Ready::Refresh(u)) => u.or(usable),
            Err(e) => return usable.ok_or(e),
        };
        let sent_at = Instant::now();
        let fetched = fetch(upstream, tenant, oauth, secret, deadline).await;
        let mut st = lock(&slot.state);
        match fetched {
            Ok(issued) => {
                let header = HeaderValue::from_str(&format!("Bearer {}", issued.token.expose()))
                    .map(|mut h| {
                        h.set_sensitive(true);
                        h
                    })
                    .map_err(|_| {
                        source_failed(tenant, oauth, "its access token is not a header value")
                    })?;
                st.generation += 1;
                let token = Token {
                    header,
                    generation: st.generation,
                    refresh_at: sent_at + issued.lifetime - margin(issued.lifetime),
                    expires_at: sent_at + issued.lifetime - slack(issued.lifetime),
                };
                let bearer = token.bearer();
                st.token = Some(token);
                st.failures = 0;
                st.retry_at = None;
                st.error = None;
                metrics::UPSTREAM_TOKEN_REFRESHES
                    .with_label_values(&[&tenant.name, "success"])
                    .inc();
                tracing::info!(
                    tenant = %tenant.name,
                    grant = oauth.grant.name(),
                    token_url = %oauth.token_url.url,
                    expires_in_s = issued.lifetime.as_secs(),
                    "upstream access token fetched"
                );
                Ok(bearer)
            }
            Err(why) => {
                st.failures = st.failures.saturating_add(1);
                let wait = full_jitter(st.failures);
                st.retry_at = Some(Instant::now() + wait);
                metrics::UPSTREAM_TOKEN_REFRESHES
                    .with_label_values(&[&tenant.name, "failure"])
                    .inc();
                tracing::warn!(
                    tenant = %tenant.name,
                    grant = oauth.grant.name(),
                    token_url = %oauth.token_url.url,
                    failures = st.failures,
                    next_attempt_ms = wait.as_millis() as u64,
                    "the upstream token source failed: {why}"
                );
                let e = source_failed(tenant, oauth, &why);
                st.error = Some(why);
                usable.ok_or(e)
            }
        }
    }

    /// The target answered 401 to `bearer`: forget that token (unless a newer one replaced it).
    pub fn reject(&self, tenant: &Tenant, oauth: &OAuth, bearer: &Bearer) {
        let unread = Secret::new(String::new());
        let secret = oauth.client_secret.as_ref().unwrap_or(&unread);
        let slot = self.slot(&tenant.name, fingerprint(oauth, secret));
        let mut st = lock(&slot.state);
        if st
            .token
            .as_ref()
            .is_some_and(|t| t.generation == bearer.generation)
        {
            st.token = None;
        }
    }

    /// The slot of `tenant` for `key`: a new one when the tenant's source changed.
    fn slot(&self, tenant: &str, key: [u8; 32]) -> Arc<Slot> {
        let now = self.ms(Instant::now());
        let mut slots = lock(&self.slots);
        if let Some(s) = slots.get(tenant).filter(|s| s.key == key) {
            s.used.store(now, Ordering::Relaxed);
            return Arc::clone(s);
        }
        let idle = IDLE_SLOT.as_millis() as u64;
        slots.retain(|_, s| now.saturating_sub(s.used.load(Ordering::Relaxed)) < idle);
        let slot = Arc::new(Slot {
            key,
            state: Mutex::new(State::default()),
            fetch: tokio::sync::Mutex::new(()),
            used: AtomicU64::new(now),
        });
        slots.insert(tenant.to_string(), Arc::clone(&slot));
        slot
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

/// What a slot has for a request now.
enum Ready {
    Fresh(Bearer),
    /// Time to fetch; the token that still lives meanwhile, if any.
    Refresh(Option<Bearer>),
}

impl Slot {
    /// A fresh token; or a fetch is due (with the live token, if any); or `Err` while the
    /// source is held back after a failure and no token lives.
    fn ready(&self, tenant: &Tenant, oauth: &OAuth, now: Instant) -> Result<Ready, ScimError> {
        let st = lock(&self.state);
        let live = st.token.as_ref().filter(|t| now < t.expires_at);
        if let Some(t) = live.filter(|t| now < t.refresh_at) {
            return Ok(Ready::Fresh(t.bearer()));
        }
        let live = live.map(Token::bearer);
        if st.retry_at.is_some_and(|r| now < r) {
            return match live {
                Some(b) => Ok(Ready::Fresh(b)),
                None => Err(source_failed(
                    tenant,
                    oauth,
                    st.error.as_deref().unwrap_or("it failed"),
                )),
            };
        }
        Ok(Ready::Refresh(live))
    }
}

/// One token request, by `deadline`.
async fn fetch(
    upstream: &dyn Exchange,
    tenant: &Tenant,
    oauth: &OAuth,
    secret: &Secret,
    deadline: Instant,
) -> Result<grant::Issued, String> {
    let mut req = grant::request(oauth, secret);
    req.deadline = Some(deadline);
    let resp = upstream
        .exchange_at(tenant, &oauth.token_url, &req)
        .await
        .map_err(|e| e.detail.replace("the SCIM target", "the token endpoint"))?;
    grant::answer(&resp, secret)
}

/// How long before its announced expiry a token is no longer used at all: token servers count
/// `exp` in whole seconds, so a token may die up to 1 s before `expires_in` says.
pub fn slack(lifetime: Duration) -> Duration {
    Duration::from_secs(1).min(lifetime / 4)
}

/// How long before its announced expiry a token is refreshed (never less than [`slack`]: a
/// refresh is due before the token stops being used).
pub fn margin(lifetime: Duration) -> Duration {
    (lifetime / 10)
        .max(Duration::from_secs(1))
        .min(Duration::from_secs(30))
        .min(lifetime / 2)
}

/// A random wait in `[0, min(cap, base · 2^(failures-1))]` (full jitter).
fn full_jitter(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    let ceiling = BACKOFF_BASE.saturating_mul(1 << shift).min(BACKOFF_CAP);
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(random % millis.saturating_add(1))
}

/// A digest of everything that makes a token: a change of any of it is another source.
fn fingerprint(oauth: &OAuth, secret: &Secret) -> [u8; 32] {
    let mut h = Sha256::new();
    let account = match &oauth.grant {
        Grant::ClientCredentials => "",
        Grant::AccountCredentials { account_id } => account_id,
    };
    let method = match oauth.auth_method {
        ClientAuth::Basic => "basic",
        ClientAuth::Post => "post",
    };
    for part in [
        oauth.grant.name(),
        account,
        &oauth.token_url.url,
        &oauth.client_id,
        method,
        oauth.scope.as_deref().unwrap_or(""),
        oauth.audience.as_deref().unwrap_or(""),
        secret.expose(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// The 502 a request gets when the tenant's token source failed: it names the source, never
/// the secret or a token.
fn source_failed(tenant: &Tenant, oauth: &OAuth, why: &str) -> ScimError {
    ScimError::bad_gateway(format!(
        "the token source of tenant {} ({} at {}) failed: {why}",
        tenant.name,
        oauth.grant.name(),
        oauth.token_url.url
    ))
}

#[cfg(test)]
mod tests;
