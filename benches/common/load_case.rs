//! The load benchmark's full-policy case (`benches/load/run.sh`): its tenant and its upstream's
//! 10-user list. Shared by `benches/translate.rs` and `examples/answer_count.rs`.
// Bench code may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use scimgate::policy::compile::compile_file;
use scimgate::policy::Tenant;
use serde_json::json;
use std::path::Path;

pub const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A tenant on `rules` (an Entra IdP, a Webex-like upstream).
pub fn policy(rules: &str) -> Tenant {
    let text = format!(
        "tenant = \"bench\"\nroute = \"/t\"\nidp = \"entra\"\n{rules}\n[auth]\nbearer_sha256 = [\"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"]\n[upstream]\nurl = \"http://127.0.0.1:8081/v2\"\n"
    );
    compile_file(Path::new("bench.toml"), &text).unwrap()
}

/// The load benchmark's full tenant (benches/load/run.sh): six maps, nulls, a transform.
pub fn load_bench_full() -> Tenant {
    policy(&format!(
        r#"
[nulls]
default = "clear"
empty_string_is_null = true
[[map]]
from = "{ENT}:department"
to = "{WX}:extensionAttribute1"
[[map]]
from = "{ENT}:employeeNumber"
to = "{WX}:extensionAttribute2"
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to = 'phoneNumbers[type eq "work"].value'
[[map]]
from = "title"
to = "{WX}:extensionAttribute3"
[[map]]
from = "nickName"
to = "{WX}:extensionAttribute4"
[[map]]
from = "userType"
to = "{WX}:extensionAttribute5"
[[transform]]
path = "emails.value"
fn = "lowercase"
"#
    ))
}

pub const WX: &str = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User";

/// The load benchmark's upstream answer to `GET /Users?count=10` (benches/load/run.sh).
pub fn webex_list() -> Vec<u8> {
    list_of(|_, user| user)
}

/// [`webex_list`] with every other user given a `title`: no two resources in a row share a
/// shape, so the answer mapping makes a plan for each and replays none (its worst case).
pub fn webex_list_mixed() -> Vec<u8> {
    list_of(|i, mut user| {
        if let (1, Some(m)) = (i % 2, user.as_object_mut()) {
            m.insert("title".into(), json!("Engineer"));
        }
        user
    })
}

/// The load list, each user as `edit` leaves it.
fn list_of(edit: impl Fn(usize, serde_json::Value) -> serde_json::Value) -> Vec<u8> {
    let base = "http://127.0.0.1:8081/v2";
    let users: Vec<_> = (0..10)
        .map(|i| {
            let id = format!("2819c223-7f76-453a-919d-41386190{i:04}");
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", WX],
                "id": id, "userName": format!("user{i}@example.com"), "name": {"givenName": "Test", "familyName": format!("User{i}")}, "active": true,
                "emails": [{"type": "work", "value": format!("user{i}@example.com"), "primary": true}],
                WX: {"extensionAttribute1": "Sales"},
                "meta": {"resourceType": "User", "version": "W/\"1\"", "location": format!("{base}/Users/{id}")}})
        })
        .enumerate()
        .map(|(i, user)| edit(i, user))
        .collect();
    serde_json::to_vec(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 10,
        "startIndex": 1, "itemsPerPage": 10, "Resources": users}))
    .unwrap()
}

/// The load benchmark's Entra PATCH (`benches/load/mix.lua`, mode "patch"): six operations,
/// "Replace"/"Add" capitalised, "False" as a string, an extension path, a value-filtered path,
/// an empty string and a path-less value with dotted keys.
pub const ENTRA_PATCH6: &str = concat!(
    r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":["#,
    r#"{"op":"Replace","path":"displayName","value":"New Name"},"#,
    r#"{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Ops"},"#,
    r#"{"op":"Replace","path":"active","value":"False"},"#,
    r#"{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0101"},"#,
    r#"{"op":"Replace","path":"title","value":""},"#,
    r#"{"op":"Replace","value":{"name.givenName":"New","name.familyName":"Name"}}]}"#
);
