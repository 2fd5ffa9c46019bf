//! The JSON Schema of the policy format (`scimgate schema`, kept in `policies/policy.schema.json`
//! for editors: Taplo / Even Better TOML complete and validate keys with it). Written out by hand
//! beside [`super::file`]; tests keep the two, the committed file and policies/README.md in step.

use serde_json::{json, Value};

const PATH_HINT: &str = "SCIM attribute path (RFC 7644 §3.10): name.givenName, urn:…:enterprise:2.0:User:department, emails[type eq \"work\"].value";

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn integer(description: &str, min: i64, max: i64, default: Option<i64>) -> Value {
    let mut v =
        json!({"type": "integer", "description": description, "minimum": min, "maximum": max});
    if let (Some(d), Some(o)) = (default, v.as_object_mut()) {
        o.insert("default".into(), Value::from(d));
    }
    v
}

fn one_of(description: &str, values: &[&str], default: &str) -> Value {
    json!({"type": "string", "description": description, "enum": values, "default": default})
}

fn resource() -> Value {
    one_of(
        "Resource type the rule applies to.",
        &["User", "Group"],
        "User",
    )
}

fn table(description: &str, properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "description": description, "additionalProperties": false, "properties": properties, "required": required})
}

fn rules(description: &str, item: Value) -> Value {
    json!({"type": "array", "description": description, "items": item})
}

/// `[auth]`: bearer digests and/or `[[auth.clients]]` (at least one of the two).
fn auth() -> Value {
    let digests = |description: &str| {
        json!({"type": "array", "minItems": 1, "description": description,
        "items": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}})
    };
    let mut t = table("How the IdP proves who it is: a bearer secret, or an access token from POST {route}/oauth/token for [[auth.clients]].", json!({
        "bearer_sha256": digests("SHA-256 hex digests of the bearer secrets the IdP may send; several allow rotation. `scimgate hash-token` prints one. Required unless clients are given."),
        "token_ttl_s": integer("Lifetime of the access tokens issued to clients, seconds.", 300, 21_600, Some(3600)),
        "clients": rules("OAuth 2.0 client-credentials clients (RFC 6749 §4.4) that get access tokens from POST {route}/oauth/token (serve needs --token-key-file).", table("", json!({
            "client_id": {"type": "string", "pattern": "^[!-~]{1,128}$", "description": "The client's id, unique in the tenant."},
            "secret_sha256": digests("SHA-256 hex digests of the client's secrets; several allow rotation. `scimgate hash-token` prints one.")
        }), &["client_id", "secret_sha256"]))
    }), &[]);
    if let Some(o) = t.as_object_mut() {
        o.insert(
            "anyOf".into(),
            json!([{"required": ["bearer_sha256"]}, {"required": ["clients"]}]),
        );
    }
    t
}

/// `[upstream.oauth]`: the target's token source, instead of bearer_env/bearer_file.
fn upstream_oauth() -> Value {
    table("Access tokens fetched from the target's token endpoint and refreshed before they expire, instead of bearer_env/bearer_file (not both).", json!({
        "grant": one_of("client_credentials (RFC 6749 §4.4) or account_credentials (Zoom server-to-server OAuth).", &["client_credentials", "account_credentials"], "client_credentials"),
        "token_url": {"type": "string", "format": "uri", "description": "The token endpoint, https:// (http:// only to loopback or with allow_insecure); no credentials, query or fragment. ca_file applies."},
        "client_id": string("The OAuth client id."),
        "client_secret_env": string("Environment variable holding the client secret. One of client_secret_env/client_secret_file."),
        "client_secret_file": string("File holding the client secret; relative to the policy file. With serve --secrets-dir it must lie inside that directory."),
        "account_id": string("The Zoom account id (account_credentials only, required there)."),
        "scope": string("Space-separated scopes to ask for (client_credentials only)."),
        "audience": string("audience parameter some token servers need (client_credentials only)."),
        "auth_method": one_of("Client authentication: basic (client_secret_basic) or post (client_secret_post; client_credentials only).", &["basic", "post"], "basic")
    }), &["grant", "token_url", "client_id"])
}

/// `[upstream.retry]`: when an exchange goes again.
fn upstream_retry() -> Value {
    table("GET, PUT and DELETE go again after a 429, 502, 503, 504, a failed connect or a timeout; POST and PATCH only when the connect failed (nothing left). All within timeout_ms.", json!({
        "attempts": integer("Extra attempts after the first; 0 = no retries.", 0, 10, Some(2)),
        "base_ms": integer("Full-jitter exponential backoff: the n-th retry waits a random time up to base_ms · 2^(n-1) (at most max_wait_ms), milliseconds.", 1, 60_000, Some(100)),
        "max_wait_ms": integer("Longest wait before a retry, milliseconds; a target's Retry-After longer than this is not waited out.", 1, 600_000, Some(5_000))
    }), &[])
}

/// `[guard]`: the deletion guard.
fn guard() -> Value {
    table("The deletion guard: DELETEs and deactivations (active set false by PUT, PATCH or inside a Bulk, any IdP spelling) counted per tenant in a sliding window; past max_deletes: 503 + Retry-After, nothing sent upstream. Release: POST /admin/tenants/{tenant}/guard/release.", json!({
        "max_deletes": integer("Deletions and deactivations allowed per window; 0 = off.", 0, 1_000_000, Some(0)),
        "window_s": integer("Length of the sliding window, seconds.", 1, 604_800, Some(3600)),
        "mode": one_of("enforce: refuse past max_deletes; observe: count and raise scimgate_guard_tripped only.", &["enforce", "observe"], "enforce")
    }), &[])
}

/// The schema, as written to `policies/policy.schema.json`.
pub fn schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://scimgate.dev/policy.schema.json",
        "title": "scimgate tenant policy",
        "description": "One tenant: one IdP connection to one SCIM target. Reference: policies/README.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["tenant", "route", "auth", "upstream"],
        "properties": {
            "tenant": {"type": "string", "pattern": "^[a-z0-9-]{1,63}$", "description": "Unique tenant name; the `tenant` label in metrics and logs."},
            "route": {"type": "string", "pattern": "^/[A-Za-z0-9._~/-]*$", "description": "Path prefix the IdP calls, e.g. /acme/scim/v2; the rest of the path goes to upstream.url."},
            "idp": one_of("Dialect of the sender.", &["entra", "okta", "generic"], "generic"),
            "public_url": {"type": "string", "format": "uri", "description": "What Location and meta.location say to the IdP. Default: scheme + Host of the request + route."},
            "auth": auth(),
            "upstream": table("Where requests go.", json!({
                "url": string("Base URL of the SCIM target, http:// or https://; {name} is filled from vars."),
                "vars": {"type": "object", "description": "Values for {name} placeholders in url.", "additionalProperties": {"type": "string", "pattern": "^[A-Za-z0-9._~-]+$"}},
                "profile": one_of("Target quirks.", &["webex", "zoom", "gluu", "generic"], "generic"),
                "bearer_env": string("Environment variable whose value goes upstream as Authorization: Bearer …"),
                "bearer_file": string("File holding that value; relative to the policy file. At most one of bearer_env/bearer_file. With serve --secrets-dir it must lie inside that directory."),
                "allow_insecure": {"type": "boolean", "default": false, "description": "Let the upstream secret go over plain http:// to a host that is not loopback (clear text). Default false: such a policy is refused."},
                "timeout_ms": integer("Whole upstream exchange, milliseconds; past it the IdP gets 504.", 1, 3_600_000, Some(30_000)),
                "connect_timeout_ms": integer("TCP and TLS connect, milliseconds; past it the IdP gets 502.", 1, 3_600_000, Some(2_000)),
                "ca_file": string("PEM CA certificates for a target behind a private CA (https only); relative to the policy file."),
                "max_response_bytes": integer("Largest answer read from the target, bytes; a larger one: 502 (invalid_response).", 1024, 67_108_864, Some(8_388_608)),
                "oauth": upstream_oauth(),
                "retry": upstream_retry()
            }), &["url"]),
            "limits": table("Bounds on what a tenant and one request may cost.", json!({
                "requests_per_second": integer("Sustained requests per second; 0 = unlimited. A Bulk costs one per operation.", 0, 1_000_000, Some(0)),
                "burst": integer("Requests allowed at once above the sustained rate. Default: requests_per_second.", 1, 1_000_000, None),
                "bulk_max_operations": integer("RFC 7644 §3.7.4 maxOperations. Default 1000 (100 for profile webex).", 1, 100_000, None),
                "bulk_max_payload_bytes": integer("RFC 7644 §3.7.4 maxPayloadSize, bytes.", 1, 67_108_864, Some(1_048_576)),
                "bulk_oversize": one_of("A Bulk over bulk_max_operations: 413, or split into chunks with one merged BulkResponse.", &["reject", "split"], "reject"),
                "max_body_bytes": integer("Any larger request body gets 413, bytes.", 1, 67_108_864, Some(1_048_576)),
                "mode": one_of("Over quota: reject (429 at once) or delay (wait for the request's turn, first come first served, up to max_delay_ms; a target's hold ending within it is waited out too).", &["reject", "delay"], "reject"),
                "max_delay_ms": integer("mode = delay: the longest wait for a turn, milliseconds; a turn further away is 429 at once.", 1, 60_000, Some(2_000)),
                "max_queued": integer("mode = delay: requests waiting at once per tenant (per replica); past it 429 at once.", 1, 100_000, Some(100))
            }), &[]),
            "guard": guard(),
            "nulls": table("What an explicit null (or \"\") from the IdP becomes upstream.", json!({
                "default": one_of("keep: forward as sent; drop: leave it out / drop the PATCH op; clear: leave it out / PATCH remove.", &["keep", "drop", "clear"], "keep"),
                "empty_string_is_null": {"type": "boolean", "default": false, "description": "\"\" counts as null (Entra cannot send null)."},
                "attributes": {"type": "object", "description": "Per-attribute mode, keyed by attribute path as the IdP names it.", "additionalProperties": {"type": "string", "enum": ["keep", "drop", "clear"]}}
            }), &[]),
            "map": rules("Rename or move attributes: requests from -> to; responses and filters back.", table("", json!({
                "resource": resource(),
                "from": string(&format!("Attribute as the IdP names it. {PATH_HINT}")),
                "to": string(&format!("Attribute as the target names it. {PATH_HINT}"))
            }), &["from", "to"])),
            "drop": rules("Attributes never sent upstream.", table("", json!({
                "resource": resource(),
                "path": string(&format!("Attribute as the IdP names it. {PATH_HINT}"))
            }), &["path"])),
            "set": rules("Values the target needs.", table("", json!({
                "resource": resource(),
                "path": string(&format!("Attribute as the target names it. {PATH_HINT}")),
                "value": {"description": "Any TOML value."},
                "only_if_absent": {"type": "boolean", "default": false, "description": "Only when the resource has no value there."},
                "when": string("RFC 9535 JSONPath run against [resource]; the rule applies when it matches anything, e.g. $[?(@.userType == 'Employee')].")
            }), &["path", "value"])),
            "log": table("What this tenant's access log lines may carry.", json!({
                "pii": {"type": "boolean", "default": false, "description": "Show personal data: the request's userName in access log lines, and personal values in the console's exchanges. Default: logs carry ids, statuses and timings only, and the console redacts personal values."}
            }), &[]),
            "transform": rules("Values normalised on the way up.", table("", json!({
                "resource": resource(),
                "path": string(&format!("Attribute as the IdP names it. {PATH_HINT}")),
                "fn": one_of("The function.", &["lowercase", "uppercase", "trim", "boolean"], "lowercase")
            }), &["path", "fn"]))
        }
    })
}

/// Pretty JSON with a trailing newline, as committed.
pub fn render() -> String {
    serde_json::to_string_pretty(&schema()).unwrap_or_default() + "\n"
}
