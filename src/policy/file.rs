//! The policy file format, exactly as platform teams write it (one TOML file per tenant).
//! Unknown keys are errors; values keep their spans so [`super::compile`] can point at them.
//!
//! This is the reference for every key: unit and default are on each field.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// One tenant: one IdP connection to one SCIM target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// `[a-z0-9-]{1,63}`, unique across the directory; the `tenant` label in metrics and logs.
    pub tenant: Spanned<String>,
    /// Path prefix the IdP calls, e.g. `/acme/scim/v2`; the rest of the path goes to `upstream.url`.
    pub route: Spanned<String>,
    /// Dialect of the sender: `"entra" | "okta" | "generic"`. Default `"generic"` (no normalisation).
    #[serde(default)]
    pub idp: Option<Spanned<String>>,
    /// What `Location` and `meta.location` say to the IdP, e.g.
    /// `https://scim-gw.example.com/acme/scim/v2`. Default: scheme + `Host` of the request + route.
    #[serde(default)]
    pub public_url: Option<Spanned<String>>,
    /// How the IdP proves who it is.
    pub auth: Spanned<AuthFile>,
    /// Where requests go.
    pub upstream: Spanned<UpstreamFile>,
    /// Bounds on what one request may cost.
    #[serde(default)]
    pub limits: Option<Spanned<LimitsFile>>,
}

/// `[auth]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// SHA-256 hex digests of the bearer secrets the IdP may send (several allow rotation).
    /// `scimgate hash-token` prints one. Required, at least one.
    pub bearer_sha256: Spanned<Vec<Spanned<String>>>,
}

/// `[upstream]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    /// Base URL of the SCIM target, `http://` or `https://`; `{name}` is filled from `vars`.
    pub url: Spanned<String>,
    /// Values for `{name}` placeholders in `url`; each `[A-Za-z0-9._~-]+`. Default: none.
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<String>>,
    /// Target quirks: `"webex" | "zoom" | "gluu" | "generic"`. Default `"generic"`.
    #[serde(default)]
    pub profile: Option<Spanned<String>>,
    /// Environment variable holding the secret sent upstream as `Authorization: Bearer …`.
    #[serde(default)]
    pub bearer_env: Option<Spanned<String>>,
    /// File holding that secret (trailing newline trimmed). At most one of `bearer_env`/`bearer_file`;
    /// with neither, no `Authorization` header goes upstream.
    #[serde(default)]
    pub bearer_file: Option<Spanned<String>>,
    /// Whole upstream exchange, milliseconds; past it the IdP gets 504. Default 30000.
    #[serde(default)]
    pub timeout_ms: Option<Spanned<i64>>,
    /// TCP (and TLS) connect, milliseconds; past it the IdP gets 502. Default 2000.
    #[serde(default)]
    pub connect_timeout_ms: Option<Spanned<i64>>,
    /// PEM file of CA certificates for a target behind a private CA (https only). Default: the
    /// system's trust store. Certificates are always verified.
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
}

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Any larger request body gets 413, bytes. Default 1048576 (1 MiB), at most 64 MiB.
    #[serde(default)]
    pub max_body_bytes: Option<Spanned<i64>>,
}
