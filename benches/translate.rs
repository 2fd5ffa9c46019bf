//! The translation engine on typical traffic, through the same steps the gateway runs (the one
//! strict parse, the Bulk caps, `flow::translate::request`, the upstream bytes): an Entra user create, a 6-op
//! PATCH, a 100-op Bulk, a filter rewrite, and a request on a tenant that translates nothing.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::Method;
use scimgate::flow::body::{Body, Message};
use scimgate::flow::translate::{self, Asked};
use scimgate::mapping::Stats;
use scimgate::policy::compile::compile_file;
use scimgate::policy::Tenant;
use serde_json::json;
use std::path::Path;

// The same allocator as the scimgate binary, so the figures are the gateway's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The load benchmark's case (its policy and its upstream's list), shared with
// examples/answer_count.rs.
#[path = "common/load_case.rs"]
mod load_case;
use load_case::{load_bench_full, policy, webex_list, ENT};

/// Parse, translate and serialise one request as the gateway does; the bytes the target gets.
fn run(
    tenant: &Tenant,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    body: Option<&[u8]>,
) -> Option<Bytes> {
    let headers = http::HeaderMap::new();
    let asked = Asked {
        method,
        rest,
        query,
        headers: &headers,
    };
    let mut b = match body {
        Some(raw) => Body::Json(Message::parse(Bytes::copy_from_slice(raw)).unwrap()),
        None => Body::None,
    };
    if let (true, Body::Json(m)) = (rest == "/Bulk", &mut b) {
        scimgate::flow::police::bulk(tenant, m).unwrap();
    }
    translate::request(tenant, &asked, &mut b, &mut Stats::default()).unwrap();
    match &b {
        Body::Json(m) => Some(m.to_upstream(tenant.translates()).unwrap()),
        _ => None,
    }
}

fn webex_rules() -> String {
    format!(
        r#"[nulls]
default = "clear"
empty_string_is_null = true
[[map]]
from = "{ENT}:department"
to = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User:extensionAttribute1"
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to = 'phoneNumbers[type eq "work"].value'
[[drop]]
path = "x509Certificates"
[[set]]
path = "preferredLanguage"
value = "en_US"
only_if_absent = true
[[transform]]
path = "emails.value"
fn = "lowercase"
"#
    )
}

fn entra_user(i: usize) -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "externalId": format!("0a21f0f2-8d2a-4f8e-bf98-7363c4ae{i:04}"),
        "userName": format!("Test_User_{i}@contoso.com"), "active": true, "displayName": "Test User",
        "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
        "emails": [{"primary": true, "type": "work", "value": format!("Test_User_{i}@Contoso.com")}],
        "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
        "title": "", ENT: {"department": "Sales", "employeeNumber": "123"}
    })
}

fn benches(c: &mut Criterion) {
    let tenant = policy(&webex_rules());

    let create = serde_json::to_vec(&entra_user(1)).unwrap();
    c.bench_function(
        "translate: Entra user create (POST /Users, 5 rule kinds)",
        |b| {
            b.iter(|| {
                run(
                    &tenant,
                    &Method::POST,
                    "/Users",
                    None,
                    Some(black_box(&create)),
                )
            })
        },
    );

    let patch = serde_json::to_vec(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "New Name"},
            {"op": "Replace", "path": format!("{ENT}:department"), "value": "Ops"},
            {"op": "Replace", "path": "title", "value": ""},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "New@Contoso.com"},
            {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0111"},
            {"op": "Replace", "value": {"name.givenName": "New", "active": false}}
        ]
    }))
    .unwrap();
    c.bench_function("translate: 6-op PATCH", |b| {
        b.iter(|| {
            run(
                &tenant,
                &Method::PATCH,
                "/Users/1",
                None,
                Some(black_box(&patch)),
            )
        })
    });

    let ops: Vec<_> = (0..100)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": entra_user(i)}))
        .collect();
    let bulk = serde_json::to_vec(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})).unwrap();
    c.bench_function(
        &format!(
            "translate: 100-op Bulk of user creates ({} KiB)",
            bulk.len() / 1024
        ),
        |b| {
            b.iter(|| {
                run(
                    &tenant,
                    &Method::POST,
                    "/Bulk",
                    None,
                    Some(black_box(&bulk)),
                )
            })
        },
    );

    let query = "filter=urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Aextension%3Aenterprise%3A2.0%3AUser%3Adepartment%20eq%20%22Sales%22%20and%20userName%20sw%20%22Test%22&count=100";
    c.bench_function(
        "translate: filter rewrite (GET /Users?filter=department eq … and userName sw …)",
        |b| {
            b.iter(|| {
                run(
                    &tenant,
                    &Method::GET,
                    "/Users",
                    Some(black_box(query)),
                    None,
                )
            })
        },
    );

    let passthrough = compile_file(
        Path::new("bench.toml"),
        "tenant = \"bench\"\nroute = \"/t\"\n[auth]\nbearer_sha256 = [\"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"]\n[upstream]\nurl = \"http://127.0.0.1:8081/v2\"\n",
    )
    .unwrap();
    c.bench_function(
        "translate: user create on a tenant that translates nothing (strict parse, own bytes up)",
        |b| {
            b.iter(|| {
                run(
                    &passthrough,
                    &Method::POST,
                    "/Users",
                    None,
                    Some(black_box(&create)),
                )
            })
        },
    );
}

fn answers(c: &mut Criterion) {
    let tenant = load_bench_full();
    let list = webex_list();
    let headers = http::HeaderMap::new();
    let asked = Asked {
        method: &Method::GET,
        rest: "/Users",
        query: Some("count=10"),
        headers: &headers,
    };
    let rebase = scimgate::flow::response::Rebase {
        upstream: &tenant.upstream,
        public_base: "http://127.0.0.1:18292/full/scim/v2",
    };
    c.bench_function(
        &format!(
            "answer: a {}-byte Webex list of 10 users through the Entra -> Webex policy",
            list.len()
        ),
        |b| {
            b.iter(|| {
                translate::answer(
                    &tenant,
                    &asked,
                    200,
                    black_box(&list),
                    &rebase,
                    &mut Stats::default(),
                )
                .unwrap()
            })
        },
    );
    c.bench_function("answer: partial::response only", |b| {
        b.iter(|| {
            scimgate::mapping::partial::response(
                &tenant.rules,
                "/Users",
                black_box(&list),
                &mut Stats::default(),
            )
        })
    });
    c.bench_function("answer: rebase only", |b| {
        b.iter(|| rebase.body(black_box(&list)))
    });
    c.bench_function(
        "answer: parse the same list into a Value (serde_json)",
        |b| b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&list)).unwrap()),
    );
    let v = serde_json::from_slice::<serde_json::Value>(&list).unwrap();
    c.bench_function(
        "answer: serialise the same list from a Value (serde_json)",
        |b| b.iter(|| serde_json::to_vec(black_box(&v)).unwrap()),
    );
}

criterion_group!(translate_benches, benches, answers);
criterion_main!(translate_benches);
