//! The checked model the gateway runs on. Only [`super::compile`] builds it, so every value
//! here is already valid: handlers never re-check a policy.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Every tenant of one load of the policies directory.
#[derive(Debug, Default)]
pub struct Policies {
    /// Sorted by route length, longest first, so the first match is the longest prefix.
    pub tenants: Vec<Arc<Tenant>>,
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
    /// The file it came from, for logs and diagnostics.
    pub source: PathBuf,
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
}

#[derive(Debug)]
pub struct Upstream {
    /// The base URL with `{vars}` filled and no trailing `/`.
    pub url: String,
    pub tls: bool,
    /// Host name or IP literal (without brackets), also the TLS SNI.
    pub host: String,
    pub port: u16,
    /// `Host` header value: host, plus `:port` when not the scheme's default.
    pub authority: String,
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
}

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

impl Policies {
    /// The tenant whose route is the longest prefix of `path` at a segment boundary, and the
    /// rest of the path after the route (empty or starting with `/`).
    pub fn route<'a>(&'a self, path: &'a str) -> Option<(&'a Arc<Tenant>, &'a str)> {
        self.tenants.iter().find_map(|t| {
            let rest = path.strip_prefix(t.route.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((t, rest))
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
