#![no_main]
//! A target's answer through `mapping::partial::response` (the path that scans the answer and
//! parses only what the maps touch) against the whole-tree path (`mapping::translate::response`
//! on the answer parsed into a `Value`), for two tenants: one whose maps all move whole
//! attributes (the byte path) and one with every map kind (the `Value` path). Whatever the
//! partial path maps or leaves unchanged, serde_json parses, and the whole-tree path gives the
//! same JSON and the same counts. No panic on any input.
//!
//! Input: first byte picks the tenant (bit 0) and the path the answer is for (bits 1-2:
//! /Users, /Groups, /Users/x, /Bulk); the rest is the answer's body.

use libfuzzer_sys::fuzz_target;
use scimgate::mapping::partial::{self, Partial};
use scimgate::mapping::{translate, Stats};
use scimgate::policy::Tenant;
use serde_json::Value;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;
use common::{short, value_eq};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const WX: &str = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User";

/// A tenant's policy: the maps both tenants share (the department back from Webex, a Group
/// attribute) and `rules` of its own.
fn policy(name: &str, rules: &str) -> String {
    format!(
        r#"tenant = "{name}"
route = "/t"
{rules}
[[map]]
from = "{ENT}:department"
to = "{WX}:extensionAttribute1"
[[map]]
resource = "Group"
from = "displayName"
to = "externalId"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#
    )
}

/// Maps that all move whole attributes: the byte path.
fn simple() -> String {
    policy(
        "simple",
        &format!(
            r#"[[map]]
from = "title"
to = "{WX}:extensionAttribute3"
[[map]]
from = "nickName"
to = "userType""#
        ),
    )
}

/// A value-filtered map, a sub-attribute map and a null policy: the `Value` path.
fn every_kind() -> String {
    policy(
        "every",
        r#"[nulls]
default = "clear"
empty_string_is_null = true
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to = 'phoneNumbers[type eq "work"].value'
[[map]]
from = "name.middleName"
to = "nickName""#,
    )
}

fn tenant(which: usize) -> &'static Tenant {
    static TENANTS: [OnceLock<Tenant>; 2] = [OnceLock::new(), OnceLock::new()];
    TENANTS[which].get_or_init(|| {
        let text = if which == 0 { simple() } else { every_kind() };
        match scimgate::policy::compile::compile_file(std::path::Path::new("fuzz.toml"), &text) {
            Ok(t) => t,
            Err(d) => panic!("the fuzz policy does not compile: {d:?}"),
        }
    })
}

const RESTS: [&str; 4] = ["/Users", "/Groups", "/Users/x", "/Bulk"];

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let t = tenant(usize::from(first & 1));
    let rest = RESTS[usize::from(first >> 1) % RESTS.len()];
    let mut ps = Stats::default();
    let got = partial::response(&t.rules, rest, body, &mut ps);
    if got == Partial::Whole {
        return;
    }
    let text = String::from_utf8_lossy(body);
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        panic!(
            "the partial path took an answer serde_json refuses: {}",
            short(&text)
        );
    };
    let mut whole = parsed;
    let mut ws = Stats::default();
    translate::response(&t.rules, rest, &mut whole, &mut ws);
    match got {
        Partial::Unchanged => assert!(
            ws.total() == 0,
            "unchanged by the partial path, mapped by the whole tree: {}",
            short(&text)
        ),
        Partial::Mapped(bytes) => {
            let Ok(mapped) = serde_json::from_slice::<Value>(&bytes) else {
                panic!(
                    "the partial path wrote JSON serde_json refuses: {}",
                    short(&text)
                );
            };
            assert!(
                value_eq(&mapped, &whole),
                "partial and whole differ for {}:\n partial {}\n whole   {}",
                short(&text),
                short(&mapped.to_string()),
                short(&whole.to_string())
            );
            assert_eq!(ps.total(), ws.total(), "counts differ: {}", short(&text));
        }
        Partial::Whole => {}
    }
});
