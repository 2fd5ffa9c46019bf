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
    /// What an explicit null (or `""`) from the IdP becomes upstream. Default: forwarded as sent.
    #[serde(default)]
    pub nulls: Option<Spanned<NullsFile>>,
    /// `[[map]]`: rename or move an attribute (requests from -> to; responses and filters back).
    #[serde(default, rename = "map")]
    pub maps: Vec<Spanned<MapFile>>,
    /// `[[drop]]`: attributes never sent upstream.
    #[serde(default, rename = "drop")]
    pub drops: Vec<Spanned<DropFile>>,
    /// `[[set]]`: values the target needs.
    #[serde(default, rename = "set")]
    pub sets: Vec<Spanned<SetFile>>,
    /// `[[transform]]`: values normalised on the way up.
    #[serde(default, rename = "transform")]
    pub transforms: Vec<Spanned<TransformFile>>,
    /// What this tenant's access log lines may carry.
    #[serde(default)]
    pub log: Option<LogFile>,
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    /// Put personal data (the request's `userName`) into access log lines. Default `false`:
    /// logs carry ids, statuses and timings only.
    #[serde(default)]
    pub pii: bool,
}

/// `[nulls]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NullsFile {
    /// `"keep" | "drop" | "clear"`. Default `"keep"` (forward as sent).
    #[serde(default)]
    pub default: Option<Spanned<String>>,
    /// `""` counts as null (Entra cannot send null). Default `false`.
    #[serde(default)]
    pub empty_string_is_null: Option<Spanned<bool>>,
    /// Per-attribute override, keyed by SCIM attribute path as the IdP names it.
    #[serde(default)]
    pub attributes: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// `[[map]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapFile {
    /// `"User"` (default) or `"Group"`.
    #[serde(default)]
    pub resource: Option<Spanned<String>>,
    /// Attribute path as the IdP names it, e.g. `urn:...:enterprise:2.0:User:department`.
    pub from: Spanned<String>,
    /// Attribute path as the target names it.
    pub to: Spanned<String>,
}

/// `[[drop]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropFile {
    /// `"User"` (default) or `"Group"`.
    #[serde(default)]
    pub resource: Option<Spanned<String>>,
    /// Attribute path as the IdP names it.
    pub path: Spanned<String>,
}

/// `[[set]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetFile {
    /// `"User"` (default) or `"Group"`.
    #[serde(default)]
    pub resource: Option<Spanned<String>>,
    /// Attribute path as the target names it.
    pub path: Spanned<String>,
    /// The value (any TOML value: string, number, boolean, array, table).
    pub value: Spanned<toml::Value>,
    /// Only when the resource has no value there. Default `false` (always overwrite).
    #[serde(default)]
    pub only_if_absent: Option<bool>,
    /// JSONPath (RFC 9535, jsonpath-rust) run against `[resource]`; the rule applies when it
    /// matches anything. Default: always.
    #[serde(default)]
    pub when: Option<Spanned<String>>,
}

/// `[[transform]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformFile {
    /// `"User"` (default) or `"Group"`.
    #[serde(default)]
    pub resource: Option<Spanned<String>>,
    /// Attribute path as the IdP names it, e.g. `emails.value`.
    pub path: Spanned<String>,
    /// `"lowercase" | "uppercase" | "trim" | "boolean"`.
    #[serde(rename = "fn")]
    pub func: Spanned<String>,
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
    /// Send the upstream secret (`bearer_env`/`bearer_file`) over plain `http://` to a host
    /// that is not loopback (127.0.0.0/8, ::1, `localhost`), i.e. in clear text. Default
    /// `false`: such a policy is refused; `true` loads it and `scimgate check` warns.
    #[serde(default)]
    pub allow_insecure: Option<Spanned<bool>>,
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
    /// Largest answer read from the target, bytes (its body; counted while reading, a larger
    /// `Content-Length` refused before). A larger answer: 502, `invalid_response`. Default
    /// 8388608 (8 MiB), from 1024 to 67108864.
    #[serde(default)]
    pub max_response_bytes: Option<Spanned<i64>>,
}

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Sustained requests per second for this tenant; 0 = unlimited. Default 0. A Bulk request
    /// costs one unit per operation (more operations than `burst`: 413). Over quota: 429 with
    /// `Retry-After`.
    #[serde(default)]
    pub requests_per_second: Option<Spanned<i64>>,
    /// Requests allowed at once above the sustained rate. Default: `requests_per_second`.
    #[serde(default)]
    pub burst: Option<Spanned<i64>>,
    /// RFC 7644 §3.7.4 maxOperations of one Bulk request. Default 1000 (100 for `profile = "webex"`).
    #[serde(default)]
    pub bulk_max_operations: Option<Spanned<i64>>,
    /// RFC 7644 §3.7.4 maxPayloadSize of one Bulk request, bytes. Default 1048576.
    #[serde(default)]
    pub bulk_max_payload_bytes: Option<Spanned<i64>>,
    /// `"reject"` (default): 413 naming the limit. `"split"`: chunks of `bulk_max_operations`,
    /// one merged BulkResponse.
    #[serde(default)]
    pub bulk_oversize: Option<Spanned<String>>,
    /// Any larger request body gets 413, bytes. Default 1048576 (1 MiB), at most 64 MiB.
    #[serde(default)]
    pub max_body_bytes: Option<Spanned<i64>>,
}
