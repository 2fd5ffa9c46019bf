//! The checked model the gateway runs on. Only [`super::compile`] builds it, so every value
//! here is already valid: handlers never re-check a policy.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Every tenant of one load of the policies directory. Built by `Policies::new` or
/// `Policies::from_shared`, which index the routes.
#[derive(Debug, Default)]
pub struct Policies {
    /// Sorted by route length, longest first.
    pub tenants: Vec<Arc<Tenant>>,
    /// Each route's place in `tenants`: a request's tenant is a few lookups whatever their
    /// number (a scan of 1,000 routes was 1.6 µs a request).
    pub(super) by_route: hashbrown::HashMap<Box<str>, usize>,
    /// The most segments a route has: only that many of a path's first ones are looked up.
    pub(super) max_segments: usize,
}

#[derive(Debug)]
pub struct Tenant {
    pub name: String,
    /// `/acme/scim/v2`: starts with `/`, no trailing `/`, no empty or dot segments.
    pub route: String,
    pub idp: Idp,
    /// Without a trailing `/`.
    pub public_url: Option<String>,
    pub auth: Auth,
    pub upstream: Upstream,
    pub limits: Limits,
    /// Translation rules (`[[map]]`, `[[drop]]`, `[[set]]`, `[[transform]]`, `[nulls]`).
    pub rules: crate::mapping::Rules,
    pub log: LogSettings,
    /// `[guard]`: the deletion guard (off when `max_deletes` is 0).
    pub guard: GuardSettings,
    /// The file it came from, for logs and diagnostics.
    pub source: PathBuf,
    /// SHA-256 (hex) of the file's text as compiled: which version of the file serves.
    pub digest: String,
    /// When this version compiled (the console's "loaded at").
    pub loaded_at: std::time::SystemTime,
    /// What compiled but deserves a look (`scimgate check` prints them, `serve` logs them),
    /// e.g. a secret sent in clear text under `allow_insecure = true`.
    pub warnings: Vec<super::diagnostics::Diagnostic>,
    /// Line and column of `tenant` and `route` in `source`, for cross-file diagnostics.
    pub name_pos: (usize, usize),
    pub route_pos: (usize, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idp {
    Generic,
    Entra,
    Okta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Generic,
    Webex,
    Zoom,
    Gluu,
}

#[derive(Debug)]
pub struct Auth {
    /// SHA-256 digests of the accepted bearer secrets.
    pub digests: Vec<[u8; 32]>,
    /// `[[auth.clients]]`: who may get access tokens from `POST {route}/oauth/token`.
    pub clients: Vec<Client>,
    /// Lifetime of the access tokens issued to `clients`, seconds.
    pub token_ttl_s: u32,
}

/// One OAuth 2.0 client-credentials client of a tenant.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    /// SHA-256 digests of its accepted secrets.
    pub secret_digests: Vec<[u8; 32]>,
}

impl Auth {
    /// Only bearer digests (tests and tools).
    pub fn bearer(digests: Vec<[u8; 32]>) -> Self {
        Auth {
            digests,
            clients: Vec::new(),
            token_ttl_s: DEFAULT_TOKEN_TTL_S,
        }
    }

    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }
}

pub const DEFAULT_TOKEN_TTL_S: u32 = 3600;
pub const MIN_TOKEN_TTL_S: u32 = 300;
pub const MAX_TOKEN_TTL_S: u32 = 21_600;

#[derive(Debug)]
pub struct Upstream {
    /// The base URL with `{vars}` filled and no trailing `/`.
    pub url: String,
    pub tls: bool,
    /// Host name or IP literal (without brackets), also the TLS SNI.
    pub host: String,
    /// A searcher for `host`, built once: every answer body is searched for it
    /// (`flow::response::Rebase::body`), and building one costs ~500 instructions.
    pub host_finder: memchr::memmem::Finder<'static>,
    pub port: u16,
    /// `Host` header value: host, plus `:port` when not the scheme's default.
    pub authority: String,
    /// `authority` as the `Host` header's value, built once (`None` if it could not be one).
    /// Each request sends a reference to it, not a copy.
    pub host_header: Option<http::HeaderValue>,
    /// Path of the base URL without a trailing `/` (may be empty).
    pub base_path: String,
    pub profile: Profile,
    pub secret: SecretSource,
    /// Line and column of `bearer_env`/`bearer_file`, for startup errors.
    pub secret_pos: (usize, usize),
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest answer body read from the target, bytes; larger is a 502.
    pub max_response_bytes: usize,
    pub ca_file: Option<PathBuf>,
    /// `allow_insecure = true`: the secret may go over plain http to a host that is not
    /// loopback (compile refuses that otherwise).
    pub allow_insecure: bool,
    /// `Authorization` value for upstream requests, filled by [`super::secrets::resolve`].
    pub authorization: Option<Secret>,
    /// `[upstream.oauth]`: tokens fetched and refreshed (`crate::flow::tokens`). Then `secret`
    /// is the client secret's source, and `authorization` stays `None`.
    pub oauth: Option<OAuth>,
    /// `[upstream.retry]`: when an exchange goes again.
    pub retry: Retry,
}

/// `[upstream.retry]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Extra attempts after the first; 0 = none.
    pub attempts: u32,
    /// Full-jitter backoff base: the n-th retry waits up to `base · 2^(n-1)`.
    pub base: Duration,
    /// The longest wait before a retry (a longer `Retry-After` is not waited out).
    pub max_wait: Duration,
}

pub const DEFAULT_RETRY_ATTEMPTS: u32 = 2;
pub const DEFAULT_RETRY_BASE_MS: u64 = 100;
pub const DEFAULT_RETRY_MAX_WAIT_MS: u64 = 5000;

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: DEFAULT_RETRY_ATTEMPTS,
            base: Duration::from_millis(DEFAULT_RETRY_BASE_MS),
            max_wait: Duration::from_millis(DEFAULT_RETRY_MAX_WAIT_MS),
        }
    }
}

/// `[guard]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    /// Deletions and deactivations per window; 0 = off.
    pub max_deletes: u32,
    pub window: Duration,
    pub mode: GuardMode,
}

/// What the guard does past `max_deletes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardMode {
    /// 503 + `Retry-After`, nothing sent upstream.
    Enforce,
    /// Count and raise `scimgate_guard_tripped` only.
    Observe,
}

pub const DEFAULT_GUARD_WINDOW_S: u64 = 3600;
pub const MAX_GUARD_WINDOW_S: u64 = 7 * 24 * 3600;

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            max_deletes: 0,
            window: Duration::from_secs(DEFAULT_GUARD_WINDOW_S),
            mode: GuardMode::Enforce,
        }
    }
}

impl GuardSettings {
    /// Whether the guard counts at all.
    pub fn is_on(&self) -> bool {
        self.max_deletes > 0
    }
}

/// `[upstream.oauth]`, checked: how the gateway gets the target's access tokens.
#[derive(Debug)]
pub struct OAuth {
    pub grant: Grant,
    /// The token endpoint (the tenant's `ca_file`, timeouts and `allow_insecure` apply).
    pub token_url: Endpoint,
    pub client_id: String,
    pub auth_method: ClientAuth,
    pub scope: Option<String>,
    pub audience: Option<String>,
    /// The client secret, filled by [`super::secrets::resolve`] from `Upstream::secret`.
    pub client_secret: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// Zoom server-to-server OAuth.
    AccountCredentials { account_id: String },
}

impl Grant {
    /// The `grant_type` value, as the policy names it.
    pub fn name(&self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::AccountCredentials { .. } => "account_credentials",
        }
    }
}

/// How the OAuth client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic of the form-urlencoded id and secret.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// An HTTP endpoint other than the target's base URL (a token endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// As written, normalised: scheme://authority/path.
    pub url: String,
    pub tls: bool,
    /// Host name or IP literal (without brackets), also the TLS SNI.
    pub host: String,
    pub port: u16,
    /// `Host` header value.
    pub authority: String,
    /// Path, `/` at least.
    pub path: String,
}

impl Upstream {
    /// The files this upstream's secrets are read from (watched so a rotation applies).
    pub fn secret_files(&self) -> Vec<&std::path::Path> {
        let mut files = Vec::new();
        if let SecretSource::File(p) = &self.secret {
            files.push(p.as_path());
        }
        files
    }
}

/// Where the upstream secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    None,
    Env(String),
    File(PathBuf),
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// Per-tenant quota; `per_second == 0` is unlimited.
    pub rate: crate::ratelimit::Quota,
    pub bulk_max_operations: usize,
    pub bulk_max_payload_bytes: usize,
    pub bulk_oversize: BulkOversize,
    /// Over quota: refuse at once, or wait for a turn.
    pub mode: LimitMode,
    /// `mode = Delay`: the longest wait for a turn.
    pub max_delay: Duration,
    /// `mode = Delay`: requests waiting at once per tenant.
    pub max_queued: usize,
}

/// `[limits] mode`: what a request over quota gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitMode {
    /// 429 with `Retry-After` at once.
    Reject,
    /// Wait for its turn (FIFO) up to `max_delay`, then 429.
    Delay,
}

pub const DEFAULT_MAX_DELAY_MS: u64 = 2000;
pub const DEFAULT_MAX_QUEUED: usize = 100;

/// What happens to a Bulk request over `bulk_max_operations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkOversize {
    /// 413 naming the limit.
    Reject,
    /// Consecutive chunks of at most `bulk_max_operations`, one merged BulkResponse.
    Split,
}

pub const DEFAULT_BULK_MAX_OPERATIONS: usize = 1000;
pub const DEFAULT_BULK_MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const MAX_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2_000;
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
pub const MIN_MAX_RESPONSE_BYTES: usize = 1024;
pub const MAX_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate: crate::ratelimit::Quota::UNLIMITED,
            bulk_max_operations: DEFAULT_BULK_MAX_OPERATIONS,
            bulk_max_payload_bytes: DEFAULT_BULK_MAX_PAYLOAD_BYTES,
            bulk_oversize: BulkOversize::Reject,
            mode: LimitMode::Reject,
            max_delay: Duration::from_millis(DEFAULT_MAX_DELAY_MS),
            max_queued: DEFAULT_MAX_QUEUED,
        }
    }
}

/// `[log]`: what the tenant's access log lines may carry.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSettings {
    /// The request's `userName` in the access log (opt-in; default off).
    pub pii: bool,
}

/// A secret value that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Tenant {
    /// Does anything rewrite this tenant's requests or answers (rules, an IdP dialect, a
    /// target profile)? A tenant that translates nothing forwards the IdP's own bytes (after
    /// the same strict checks); one that translates sends what it serialises.
    pub fn translates(&self) -> bool {
        !self.rules.is_empty()
            || self.idp != Idp::Generic
            || self.upstream.profile != Profile::Generic
    }
}

/// The most segments a route may have (`compile` refuses more).
pub const MAX_ROUTE_SEGMENTS: usize = 16;

impl Policies {
    /// The tenant whose route is the longest prefix of `path` at a segment boundary, and the
    /// rest of the path after the route (empty or starting with `/`).
    pub fn route<'a, 'b>(&'a self, path: &'b str) -> Option<(&'a Arc<Tenant>, &'b str)> {
        // Where each of the path's first segments ends, as many as the longest route has (a
        // route is `/a/b`: it starts with '/' and never ends with one).
        let ends: smallvec::SmallVec<[usize; MAX_ROUTE_SEGMENTS]> = path
            .strip_prefix('/')?
            .match_indices('/')
            .map(|(i, _)| i + 1)
            .chain(std::iter::once(path.len()))
            .take(self.max_segments.min(MAX_ROUTE_SEGMENTS))
            .collect();
        // Longest first.
        ends.iter().rev().find_map(|&end| {
            let (route, rest) = (path.get(..end)?, path.get(end..)?);
            let tenant = self.tenants.get(*self.by_route.get(route)?)?;
            Some((tenant, rest))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }
}
