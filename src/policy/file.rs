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
    /// `[guard]`: the deletion guard against accidental mass deprovisioning. Default: off.
    #[serde(default)]
    pub guard: Option<Spanned<GuardFile>>,
}

/// `[guard]`: DELETEs and deactivations (`active` set false by PUT, PATCH or inside a Bulk, in
/// any IdP's spelling) counted per tenant in a sliding window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardFile {
    /// Deletions and deactivations allowed per `window_s`; past it each further one is refused
    /// with 503 + `Retry-After` and nothing is sent upstream. 0 = off. Default 0.
    #[serde(default)]
    pub max_deletes: Option<Spanned<i64>>,
    /// Length of the sliding window, seconds, from 1 to 604800 (a week). Default 3600.
    #[serde(default)]
    pub window_s: Option<Spanned<i64>>,
    /// `"enforce"` (default): refuse past `max_deletes`. `"observe"`: count and raise
    /// `scimgate_guard_tripped` only, refuse nothing.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    /// Show personal data: the request's `userName` in access log lines, and personal values
    /// in the console's exchanges. Default `false`: logs carry ids, statuses and timings only,
    /// and the console shows `"‹redacted›"` in place of personal values.
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
    /// `scimgate hash-token` prints one. At least one when given; required unless
    /// `[[auth.clients]]` is given.
    #[serde(default)]
    pub bearer_sha256: Option<Spanned<Vec<Spanned<String>>>>,
    /// Lifetime of the access tokens the gateway issues to `clients`, seconds, from 300 to
    /// 21600 (6 h). Default 3600.
    #[serde(default)]
    pub token_ttl_s: Option<Spanned<i64>>,
    /// `[[auth.clients]]`: OAuth 2.0 client-credentials clients (RFC 6749 §4.4) of this tenant,
    /// which get access tokens from `POST {route}/oauth/token`. Default: none.
    #[serde(default)]
    pub clients: Vec<Spanned<AuthClientFile>>,
}

/// `[[auth.clients]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthClientFile {
    /// The client's id (`client_id`), unique in the tenant; visible characters, 1 to 128.
    pub client_id: Spanned<String>,
    /// SHA-256 hex digests of the client's secrets (several allow rotation); at least one.
    /// `scimgate hash-token` prints one.
    pub secret_sha256: Spanned<Vec<Spanned<String>>>,
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
    /// `[upstream.oauth]`: access tokens fetched from the target's token endpoint and refreshed
    /// before they expire, instead of a static `bearer_env`/`bearer_file` (not both). Default:
    /// none.
    #[serde(default)]
    pub oauth: Option<Spanned<UpstreamOAuthFile>>,
    /// `[upstream.retry]`: idempotent requests sent again after a 429, 502, 503, 504, a failed
    /// connect or a timeout. Default: `attempts = 2`, `base_ms = 100`, `max_wait_ms = 5000`.
    #[serde(default)]
    pub retry: Option<Spanned<RetryFile>>,
}

/// `[upstream.retry]`: GET, PUT and DELETE go again on 429, 502, 503, 504, a failed connect or a
/// timeout; POST and PATCH only when the connect failed (nothing left the gateway). All
/// attempts and waits end within `timeout_ms`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    /// Extra attempts after the first, from 0 (no retries) to 10. Default 2.
    #[serde(default)]
    pub attempts: Option<Spanned<i64>>,
    /// Full-jitter exponential backoff: the n-th retry waits a random time in
    /// `[0, base_ms · 2^(n-1)]` (at most `max_wait_ms`), milliseconds, from 1 to 60000.
    /// Default 100.
    #[serde(default)]
    pub base_ms: Option<Spanned<i64>>,
    /// The longest wait before a retry, milliseconds, from 1 to 600000; a target's
    /// `Retry-After` longer than this is not waited out (the IdP gets the answer). Default 5000.
    #[serde(default)]
    pub max_wait_ms: Option<Spanned<i64>>,
}

/// `[upstream.oauth]`: where the target's access tokens come from (RFC 6749 §4.4
/// client credentials, or Zoom's server-to-server OAuth).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamOAuthFile {
    /// `"client_credentials"` (RFC 6749 §4.4) or `"account_credentials"` (Zoom
    /// server-to-server OAuth: `POST token_url?grant_type=account_credentials&account_id=…`).
    /// Required.
    pub grant: Spanned<String>,
    /// The token endpoint, `https://` (or `http://` to loopback, or with `allow_insecure`); no
    /// credentials, query or fragment. Verified like `url` (`ca_file` applies). Required.
    pub token_url: Spanned<String>,
    /// The OAuth client id. Required.
    pub client_id: Spanned<String>,
    /// Environment variable holding the client secret. One of `client_secret_env` /
    /// `client_secret_file` is required.
    #[serde(default)]
    pub client_secret_env: Option<Spanned<String>>,
    /// File holding the client secret (trailing newline trimmed); relative to the policy file,
    /// inside `--secrets-dir` when given.
    #[serde(default)]
    pub client_secret_file: Option<Spanned<String>>,
    /// The Zoom account id (`account_credentials` only, and required there).
    #[serde(default)]
    pub account_id: Option<Spanned<String>>,
    /// Space-separated scopes asked for (`client_credentials` only). Default: none (the
    /// client's default scopes).
    #[serde(default)]
    pub scope: Option<Spanned<String>>,
    /// `audience` parameter some token servers (Auth0, Okta custom servers) need
    /// (`client_credentials` only). Default: none.
    #[serde(default)]
    pub audience: Option<Spanned<String>>,
    /// How the client authenticates (`client_credentials` only; `account_credentials` is always
    /// Basic): `"basic"` (default; RFC 6749 §2.3.1 `client_secret_basic`) or `"post"`
    /// (`client_id`/`client_secret` in the form body, `client_secret_post`).
    #[serde(default)]
    pub auth_method: Option<Spanned<String>>,
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
    /// Over quota: `"reject"` (default) answers 429 at once; `"delay"` waits for the request's
    /// turn (first come, first served) up to `max_delay_ms`, and also waits out a target's hold
    /// that ends within it.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// `mode = "delay"`: the longest a request waits for its turn, milliseconds, from 1 to
    /// 60000; a turn further away is 429 at once. Default 2000.
    #[serde(default)]
    pub max_delay_ms: Option<Spanned<i64>>,
    /// `mode = "delay"`: requests waiting at once per tenant (per replica), from 1 to 100000;
    /// past it 429 at once. Default 100.
    #[serde(default)]
    pub max_queued: Option<Spanned<i64>>,
}
