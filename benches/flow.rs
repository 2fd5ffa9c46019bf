//! Per-request CPU cost of the gateway's own steps (no sockets): auth (a bearer secret, and an
//! access token the gateway issued: first sight and verified before), body checks, routing,
//! building the upstream request, and rebasing target URLs in a ListResponse.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use scimgate::flow;
use scimgate::oauth::keys::{KeySet, SigningKey};
use scimgate::oauth::{unix_now, Tokens};
use scimgate::policy::compile::compile_file;
use scimgate::policy::Policies;
use std::path::Path;

// The same allocator as the scimgate binary, so the figures are the gateway's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POLICY: &str = r#"
tenant = "bench"
route = "/acme/scim/v2"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "7c43ef5ae21d43ce2743f770c68e24def1a43ee2f416d2438410c8af7af2ff2c"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#;

/// A tenant with a bearer digest and an OAuth client, as the token endpoint serves it.
const CLIENTS_POLICY: &str = r#"
tenant = "bench"
route = "/acme/scim/v2"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[[auth.clients]]
client_id = "entra-bench"
secret_sha256 = ["7c43ef5ae21d43ce2743f770c68e24def1a43ee2f416d2438410c8af7af2ff2c"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#;

fn user() -> String {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com",
        "active": true, "displayName": "Test User",
        "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
        "emails": [{"primary": true, "type": "work", "value": "Test_User_11bb6a1a@contoso.com"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "employeeNumber": "123"}
    })
    .to_string()
}

fn list_response(n: usize) -> Vec<u8> {
    let resources: Vec<_> = (0..n)
        .map(|i| serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": format!("id-{i}"), "userName": format!("user{i}@example.com"),
            "meta": {"resourceType": "User", "location": format!("http://127.0.0.1:8081/v2/Users/id-{i}"), "version": "W/\"1\""}
        }))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": n, "Resources": resources
    }))
    .unwrap()
}

fn benches(c: &mut Criterion) {
    let tenant = compile_file(Path::new("bench.toml"), POLICY).unwrap();
    c.bench_function("auth: bearer check against 2 digests", |b| {
        b.iter(|| flow::auth::check(&tenant.auth, Some(black_box(b"Bearer demo-token"))))
    });
    let clients = compile_file(Path::new("bench.toml"), CLIENTS_POLICY).unwrap();
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let tokens = || {
        let key = SigningKey::from_pkcs8_der(pkcs8.as_ref()).unwrap();
        Tokens::new(KeySet::from_keys(vec![key]))
    };
    let issuer = tokens();
    let issued = issuer
        .issue(
            "https://gw.example.com/acme/scim/v2",
            "bench",
            "entra-bench",
            3600,
            unix_now(),
        )
        .unwrap();
    let header = format!("Bearer {}", issued.token);
    assert!(flow::auth::admit(&clients, &issuer, Some(header.as_bytes())).is_ok());
    c.bench_function(
        "auth: issued JWT, verified before (SHA-256 + lookup)",
        |b| b.iter(|| flow::auth::admit(&clients, &issuer, Some(black_box(header.as_bytes())))),
    );
    c.bench_function(
        "auth: issued JWT, first sight (EdDSA verify + claims)",
        |b| {
            b.iter_batched_ref(
                tokens,
                |fresh| flow::auth::admit(&clients, fresh, Some(black_box(header.as_bytes()))),
                BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("auth: bearer secret of a tenant with clients", |b| {
        b.iter(|| flow::auth::admit(&clients, &issuer, Some(black_box(b"Bearer password"))))
    });
    let body = user();
    c.bench_function("body: strict parse of a 0.6 KiB user create", |b| {
        b.iter(|| flow::body::parse(black_box(body.as_bytes())))
    });
    let big = format!(r#"{{"userName":"{}"}}"#, "x".repeat(900 * 1024));
    c.bench_function("body: strict parse of a 900 KiB body", |b| {
        b.iter(|| flow::body::parse(black_box(big.as_bytes())))
    });

    let policies = Policies::new(vec![compile_file(Path::new("bench.toml"), POLICY).unwrap()]);
    c.bench_function("route: match and sanitise /Users/{id}", |b| {
        b.iter(|| {
            flow::route::route(
                &policies,
                black_box("/acme/scim/v2/Users/2819c223-7f76-453a-919d-413861904646"),
            )
        })
    });
    // A gateway serving many companies: the route is found among 1,000 (the last one sorted).
    let many = Policies::new(
        (0..1000)
            .map(|i| {
                let toml = POLICY
                    .replace("\"bench\"", &format!("\"t{i:04}\""))
                    .replace("/acme/", &format!("/t{i:04}/"));
                compile_file(Path::new("bench.toml"), &toml).unwrap()
            })
            .collect(),
    );
    c.bench_function("route: match and sanitise among 1,000 tenants", |b| {
        b.iter(|| {
            flow::route::route(
                &many,
                black_box("/t0999/scim/v2/Users/2819c223-7f76-453a-919d-413861904646"),
            )
        })
    });
    let headers = http::HeaderMap::new();
    c.bench_function("request: build the upstream request", |b| {
        b.iter(|| {
            flow::request::build(
                &tenant,
                &http::Method::GET,
                black_box("/Users"),
                Some("filter=userName%20eq%20%22x%22"),
                &headers,
                None,
            )
        })
    });
    let list = list_response(10);
    let rebase = flow::response::Rebase {
        upstream: &tenant.upstream,
        public_base: "https://gw.example.com/acme/scim/v2",
    };
    c.bench_function(
        &format!(
            "response: rebase a {}-byte ListResponse of 10 users",
            list.len()
        ),
        |b| b.iter(|| rebase.body(black_box(&list))),
    );
    c.bench_function("response: skip a body that names no target URL", |b| {
        b.iter(|| rebase.body(black_box(body.as_bytes())))
    });
    // The console's copy of every answer a watched gateway relays (4 KiB kept, secrets
    // searched for in the whole answer).
    for n in [25, 250] {
        let answer = list_response(n);
        c.bench_function(
            &format!("console: keep a {}-byte answer", answer.len()),
            |b| b.iter(|| scimgate::console::record::keep(black_box(&answer), 4096)),
        );
    }
}

criterion_group!(flow_benches, benches);
criterion_main!(flow_benches);
