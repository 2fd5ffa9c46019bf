//! SCIM flows through the gateway in front of the real scim2-server: users and groups from
//! create to delete, filters, bulk, search, discovery, ETags, big bodies, and the metrics.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "idp-secret-for-flows";

fn setup() -> (ScimServer, Gateway) {
    let server = ScimServer::start();
    let gw = Gateway::start(
        &[(
            "local.toml",
            policy("local", "/local/scim/v2", TOKEN, &server.url(), "", ""),
        )],
        &[],
    );
    (server, gw)
}

fn base(gw: &Gateway) -> String {
    gw.url("/local/scim/v2")
}

fn send(gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> Resp {
    let b = body.map(|v| v.to_string());
    call(
        method,
        &format!("{}{path}", base(gw)),
        Some(TOKEN),
        &[],
        b.as_deref(),
    )
}

#[test]
fn users_from_create_to_delete() {
    let (_server, gw) = setup();
    let created = send(
        &gw,
        "POST",
        "/Users",
        Some(json!({
            "schemas": [SCIM_USER], "userName": "bjensen@example.com", "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}], "active": true
        })),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let user = created.json();
    let id = user["id"].as_str().unwrap().to_string();
    let location = format!("{}/Users/{id}", base(&gw));
    assert_eq!(
        created.header("location"),
        Some(location.as_str()),
        "Location points at the gateway"
    );
    assert_eq!(user["meta"]["location"], location.as_str());
    assert!(created.header("etag").is_some());

    let got = send(&gw, "GET", &format!("/Users/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["userName"], "bjensen@example.com");
    assert_eq!(got.json()["meta"]["location"], location.as_str());

    send(
        &gw,
        "POST",
        "/Users",
        Some(json!({"schemas": [SCIM_USER], "userName": "other@example.com"})),
    );
    let list = send(&gw, "GET", "/Users", None).json();
    assert_eq!(list["totalResults"], 2);
    for r in list["Resources"].as_array().unwrap() {
        assert!(
            r["meta"]["location"]
                .as_str()
                .unwrap()
                .starts_with(&base(&gw)),
            "{r}"
        );
    }
    let filtered = send(
        &gw,
        "GET",
        "/Users?filter=userName%20eq%20%22bjensen%40example.com%22",
        None,
    )
    .json();
    assert_eq!(filtered["totalResults"], 1);
    assert_eq!(filtered["Resources"][0]["id"], id.as_str());

    let patched = send(
        &gw,
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}, {"op": "add", "path": "title", "value": "Tour Guide"}]
        })),
    );
    assert_eq!(patched.status, 204, "{}", patched.body);
    let after = send(&gw, "GET", &format!("/Users/{id}"), None).json();
    assert_eq!(after["active"], false);
    assert_eq!(after["title"], "Tour Guide");

    let put = send(
        &gw,
        "PUT",
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": [SCIM_USER], "id": id, "userName": "bjensen@example.com", "displayName": "Babs"
        })),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["displayName"], "Babs");
    assert!(
        put.json().get("title").is_none(),
        "PUT replaced the resource"
    );

    assert_eq!(
        send(&gw, "DELETE", &format!("/Users/{id}"), None).status,
        204
    );
    let gone = send(&gw, "GET", &format!("/Users/{id}"), None);
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.json()["schemas"][0],
        ERROR_SCHEMA,
        "the target's own error body passes through"
    );
}

#[test]
fn groups_with_members() {
    let (_server, gw) = setup();
    let u = send(
        &gw,
        "POST",
        "/Users",
        Some(json!({"schemas": [SCIM_USER], "userName": "member1"})),
    )
    .json();
    let uid = u["id"].as_str().unwrap();
    let g = send(
        &gw,
        "POST",
        "/Groups",
        Some(json!({"schemas": [SCIM_GROUP], "displayName": "Tour Guides"})),
    );
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.json()["id"].as_str().unwrap().to_string();
    let add = send(
        &gw,
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]
        })),
    );
    assert_eq!(add.status, 204, "{}", add.body);
    let got = send(&gw, "GET", &format!("/Groups/{gid}"), None).json();
    assert_eq!(got["members"][0]["value"], uid);
    if let Some(r) = got["members"][0].get("$ref") {
        assert!(
            r.as_str().unwrap().starts_with(&base(&gw)),
            "member $ref points at the gateway: {r}"
        );
    }
    let by_name = send(
        &gw,
        "GET",
        "/Groups?filter=displayName%20eq%20%22Tour%20Guides%22",
        None,
    )
    .json();
    assert_eq!(by_name["totalResults"], 1);
    let put = send(
        &gw,
        "PUT",
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [SCIM_GROUP], "displayName": "Guides"})),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        send(&gw, "DELETE", &format!("/Groups/{gid}"), None).status,
        204
    );
    assert_eq!(
        send(&gw, "GET", &format!("/Groups/{gid}"), None).status,
        404
    );
}

#[test]
fn bulk_and_search() {
    let (_server, gw) = setup();
    let bulk = send(
        &gw,
        "POST",
        "/Bulk",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"schemas": [SCIM_USER], "userName": "bulk-a"}},
                {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"schemas": [SCIM_USER], "userName": "bulk-b"}}
            ]
        })),
    );
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    let ops = bulk.json()["Operations"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 2);
    for op in &ops {
        assert_eq!(op["status"], "201");
        assert!(
            op["location"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/Users/", base(&gw))),
            "{op}"
        );
    }
    let search = send(
        &gw,
        "POST",
        "/Users/.search",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"bulk-\""
        })),
    );
    assert_eq!(search.status, 200, "{}", search.body);
    assert_eq!(search.json()["totalResults"], 2);
}

#[test]
fn discovery_endpoints_pass_through() {
    let (server, gw) = setup();
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/Schemas",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
    ] {
        let via = send(&gw, "GET", path, None);
        let direct = call("GET", &format!("{}{path}", server.url()), None, &[], None);
        assert_eq!(via.status, direct.status, "{path}");
        assert_eq!(via.status, 200, "{path}: {}", via.body);
        assert!(
            !via.body.contains(&format!("127.0.0.1:{}", server.port)),
            "{path} leaks the target URL: {}",
            via.body
        );
    }
    // Read-only endpoints: the target's own 405, not a gateway 400.
    let post = call(
        "POST",
        &format!("{}/ServiceProviderConfig", base(&gw)),
        Some(TOKEN),
        &[],
        Some(""),
    );
    assert_eq!(post.status, 405, "{}", post.body);
}

#[test]
fn etags_and_preconditions_pass_through() {
    let (_server, gw) = setup();
    let created = send(
        &gw,
        "POST",
        "/Users",
        Some(json!({"schemas": [SCIM_USER], "userName": "etag"})),
    );
    let id = created.json()["id"].as_str().unwrap().to_string();
    let etag = created.header("etag").unwrap().to_string();
    let url = format!("{}/Users/{id}", base(&gw));
    let body = json!({"schemas": [SCIM_USER], "userName": "etag", "title": "x"}).to_string();
    let stale = call(
        "PUT",
        &url,
        Some(TOKEN),
        &[("If-Match", "W/\"999\"")],
        Some(&body),
    );
    assert_eq!(
        stale.status, 412,
        "If-Match reached the target: {}",
        stale.body
    );
    let fresh = call(
        "PUT",
        &url,
        Some(TOKEN),
        &[("If-Match", &etag)],
        Some(&body),
    );
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_ne!(
        fresh.header("etag"),
        Some(etag.as_str()),
        "a new version has a new ETag"
    );
}

#[test]
fn a_900_kib_body_reaches_the_target_intact() {
    let (_server, gw) = setup();
    let big = "x".repeat(900 * 1024);
    let created = send(
        &gw,
        "POST",
        "/Users",
        Some(json!({"schemas": [SCIM_USER], "userName": "big", "displayName": big})),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        created.body.chars().take(300).collect::<String>()
    );
    let id = created.json()["id"].as_str().unwrap().to_string();
    let got = send(&gw, "GET", &format!("/Users/{id}"), None).json();
    assert_eq!(got["displayName"].as_str().map(str::len), Some(big.len()));
    assert!(got["displayName"] == big.as_str());
}

#[test]
fn metrics_count_requests_with_bounded_labels() {
    let (_server, gw) = setup();
    let u = send(
        &gw,
        "POST",
        "/Users",
        Some(json!({"schemas": [SCIM_USER], "userName": "m"})),
    )
    .json();
    send(
        &gw,
        "GET",
        &format!("/Users/{}", u["id"].as_str().unwrap()),
        None,
    );
    call("GET", &gw.url("/nowhere/Users"), None, &[], None);
    let m = gw.metrics();
    for line in [
        r#"scimgate_requests_total{method="POST",resource="Users",status="201",tenant="local"} 1"#,
        r#"scimgate_requests_total{method="GET",resource="Users",status="200",tenant="local"} 1"#,
        r#"scimgate_requests_total{method="GET",resource="other",status="404",tenant="none"} 1"#,
        r#"scimgate_request_duration_seconds_count{method="GET",resource="Users",tenant="local"} 1"#,
        r#"scimgate_upstream_duration_seconds_count{tenant="local"} 2"#,
        "scimgate_policy_tenants 1",
    ] {
        assert!(m.contains(line), "missing {line}\n{m}");
    }
    let id = u["id"].as_str().unwrap();
    assert!(!m.contains(id), "ids never become labels");
}
