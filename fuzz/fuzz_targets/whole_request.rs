#![no_main]
//! Whole requests through the dry-run pipeline (`flow::dry_run::preview`) of one Entra tenant
//! with every rule kind: no panic on any method/path/body; and a translated User request never
//! carries the dropped `password` attribute (POST/PUT keys, PATCH paths and path-less values,
//! Bulk operations' data).
//!
//! Input: first byte picks the method (`% 5`: GET POST PUT PATCH DELETE), bit 6 the tenant's
//! `bulk_oversize` (clear: "reject", set: "split"), bit 7 previews the target's answer to that
//! request instead (no-panic only); then the path up to the first `\n`; the rest is the body
//! (none without a `\n`).

use http::Method;
use libfuzzer_sys::fuzz_target;
use scimgate::flow::dry_run::{preview, Direction};
use scimgate::policy::Tenant;
use scimgate::scim::expr::{parse_attr_path, parse_path_with, ParseOptions, PatchPath};
use scimgate::scim::message::field;
use scimgate::scim::resource::Resource;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

#[path = "common.rs"]
mod common;
use common::short;

const POLICY: &str = r#"
tenant = "fuzz"
route = "/t/scim/v2"
idp = "entra"

[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]

[upstream]
url = "http://127.0.0.1:8081/v2"

[limits]
bulk_max_operations = 3
bulk_oversize = "reject"

[nulls]
default = "clear"
empty_string_is_null = true
[nulls.attributes]
"title" = "drop"
"nickName" = "keep"

[[map]]
from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
to   = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User:extensionAttribute1"
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to   = 'phoneNumbers[type eq "work"].value'
[[map]]
from = "name.middleName"
to   = "nickName"
[[map]]
resource = "Group"
from = "displayName"
to   = "urn:example:params:scim:schemas:extension:acme:2.0:Group:label"

[[drop]]
path = "password"
[[drop]]
path = "x509Certificates"

[[set]]
path = "preferredLanguage"
value = "en_US"
only_if_absent = true
[[set]]
path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"
value = "4130"
when = "$[?(@.userType == 'Employee')]"
[[set]]
path = 'emails[type eq "work"].primary'
value = true
only_if_absent = true

[[transform]]
path = "emails.value"
fn = "lowercase"
[[transform]]
path = "displayName"
fn = "trim"
[[transform]]
path = "active"
fn = "boolean"
"#;

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The fuzz tenant, compiled once per `bulk_oversize` setting.
fn tenant(split: bool) -> &'static Arc<Tenant> {
    static TENANTS: [OnceLock<Arc<Tenant>>; 2] = [OnceLock::new(), OnceLock::new()];
    TENANTS[usize::from(split)].get_or_init(|| {
        let text = if split {
            POLICY.replace(r#"bulk_oversize = "reject""#, r#"bulk_oversize = "split""#)
        } else {
            POLICY.to_string()
        };
        match scimgate::policy::compile::compile_file(std::path::Path::new("fuzz.toml"), &text) {
            Ok(t) => Arc::new(t),
            Err(d) => panic!("the fuzz policy does not compile: {d:?}"),
        }
    })
}

/// `password`, any case, bare or under the core User URN (sub-attributes and value paths too).
fn is_password(urn: Option<&str>, name: &str) -> bool {
    name.eq_ignore_ascii_case("password") && urn.is_none_or(|u| u.eq_ignore_ascii_case(CORE_USER))
}

/// A User resource (or PATCH value) that still names `password` at its top level or inside the
/// core URN's object.
fn resource_leak(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    for (k, child) in obj {
        if k.eq_ignore_ascii_case(CORE_USER) {
            if let Some(found) = resource_leak(child) {
                return Some(format!("{k}.{found}"));
            }
            continue;
        }
        if k.bytes().any(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if let Ok(a) = parse_attr_path(k) {
            if is_password(a.urn.as_deref(), &a.name) {
                return Some(format!("key {k:?}"));
            }
        }
    }
    None
}

/// A PatchOp whose operations still touch `password`.
fn patch_leak(v: &Value) -> Option<String> {
    let ops = field(v, "Operations")?.as_array()?;
    for op in ops {
        let path = field(op, "path").and_then(Value::as_str).unwrap_or("");
        if path.trim().is_empty() || path.eq_ignore_ascii_case(CORE_USER) {
            if let Some(found) = field(op, "value").and_then(resource_leak) {
                return Some(format!("path-less value {found}"));
            }
            continue;
        }
        let hit = match parse_path_with(path, &ParseOptions::lenient()) {
            Ok(p) => {
                let a = match &p {
                    PatchPath::Attr(a) | PatchPath::ValuePath { attr: a, .. } => a,
                };
                is_password(a.urn.as_deref(), &a.name)
            }
            Err(_) => {
                let lower = path.trim_start().to_ascii_lowercase();
                let rest = lower
                    .strip_prefix(&format!("{}:", CORE_USER.to_ascii_lowercase()))
                    .unwrap_or(&lower);
                rest.strip_prefix("password")
                    .is_some_and(|r| r.is_empty() || r.starts_with(['.', '[', ' ']))
            }
        };
        if hit {
            return Some(format!("operation path {path:?}"));
        }
    }
    None
}

fn is_user(rest: &str) -> bool {
    matches!(Resource::classify(rest), Resource::Users | Resource::Me)
}

/// Where `password` survives in the body sent for `method rest`.
fn leak(method: &str, rest: &str, body: &Value) -> Option<String> {
    let m = method.to_ascii_uppercase();
    if is_user(rest) {
        return match m.as_str() {
            "POST" | "PUT" => resource_leak(body),
            "PATCH" => patch_leak(body),
            _ => None,
        };
    }
    if Resource::classify(rest) == Resource::Bulk && m == "POST" {
        for op in field(body, "Operations")?.as_array()? {
            let (Some(om), Some(op_path), Some(data)) = (
                field(op, "method").and_then(Value::as_str),
                field(op, "path").and_then(Value::as_str),
                field(op, "data"),
            ) else {
                continue;
            };
            if let Some(found) = leak(om, op_path, data) {
                return Some(format!("bulk operation {om} {op_path}: {found}"));
            }
        }
    }
    None
}

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(first) % METHODS.len()];
    let (path, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let tenant = tenant(first & 0x40 != 0);
    if first & 0x80 != 0 {
        let status = [200, 201, 400, 404][usize::from(first >> 3) % 4];
        let _ = preview(tenant, Direction::Response, status, method, path, body);
        return;
    }
    let Ok(out) = preview(tenant, Direction::Request, 200, method, path, body) else {
        return;
    };
    // One request to the target, or `{"split": [...]}` for a split Bulk.
    let sent: Vec<&Value> = match out.get("split").and_then(Value::as_array) {
        Some(chunks) => chunks.iter().collect(),
        None => vec![&out],
    };
    for req in sent {
        let Some(sent_body) = req.get("body") else {
            continue;
        };
        let sent_method = req.get("method").and_then(Value::as_str).unwrap_or("");
        let sent_path = req.get("path").and_then(Value::as_str).unwrap_or("");
        let sent_rest = sent_path.split('?').next().unwrap_or("");
        if let Some(found) = leak(sent_method, sent_rest, sent_body) {
            panic!(
                "password reaches the target: {found}\nrequest: {method} {} {}\nsent: {}",
                short(path),
                body.map_or("(no body)".into(), |b| short(&String::from_utf8_lossy(b))),
                short(&out.to_string())
            );
        }
    }
});
