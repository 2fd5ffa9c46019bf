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
            "auth": table("How the IdP proves who it is.", json!({
                "bearer_sha256": {"type": "array", "minItems": 1, "description": "SHA-256 hex digests of the bearer secrets the IdP may send; several allow rotation. `scimgate hash-token` prints one.",
                    "items": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}
            }), &["bearer_sha256"]),
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
                "max_response_bytes": integer("Largest answer read from the target, bytes; a larger one: 502 (invalid_response).", 1024, 67_108_864, Some(8_388_608))
            }), &["url"]),
            "limits": table("Bounds on what a tenant and one request may cost.", json!({
                "requests_per_second": integer("Sustained requests per second; 0 = unlimited. A Bulk costs one per operation.", 0, 1_000_000, Some(0)),
                "burst": integer("Requests allowed at once above the sustained rate. Default: requests_per_second.", 1, 1_000_000, None),
                "bulk_max_operations": integer("RFC 7644 §3.7.4 maxOperations. Default 1000 (100 for profile webex).", 1, 100_000, None),
                "bulk_max_payload_bytes": integer("RFC 7644 §3.7.4 maxPayloadSize, bytes.", 1, 67_108_864, Some(1_048_576)),
                "bulk_oversize": one_of("A Bulk over bulk_max_operations: 413, or split into chunks with one merged BulkResponse.", &["reject", "split"], "reject"),
                "max_body_bytes": integer("Any larger request body gets 413, bytes.", 1, 67_108_864, Some(1_048_576))
            }), &[]),
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
                "pii": {"type": "boolean", "default": false, "description": "Put personal data (the request's userName) into access log lines. Default: ids, statuses and timings only."}
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
