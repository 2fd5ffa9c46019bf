//! IdP dialects and target profiles through the running gateway: an Entra provisioning session
//! replayed into the real scim2-server leaves the state the IdP intended; Entra's 404-on-query,
//! Zoom's Accept header and error bodies, and a fully dropped PATCH, against a recording upstream.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const TOKEN: &str = "entra-secret";

fn entra_policy(upstream: &str) -> String {
    format!(
        "idp = \"entra\"\n{}",
        policy("entra", "/entra/scim/v2", TOKEN, upstream, "", "")
    )
}

#[test]
fn an_entra_session_leaves_the_state_entra_intended() {
    let server = ScimServer::start();
    let gw = Gateway::start(&[("entra.toml", entra_policy(&server.url()))], &[]);
    let base = gw.url("/entra/scim/v2");
    let send = |method: &str, path: &str, body: Option<Value>| {
        let b = body.map(|v| v.to_string());
        call(
            method,
            &format!("{base}{path}"),
            Some(TOKEN),
            &[],
            b.as_deref(),
        )
    };
    let direct =
        |path: &str| call("GET", &format!("{}{path}", server.url()), None, &[], None).json();

    // Entra first asks whether the user exists, then creates it.
    let probe = send(
        "GET",
        "/Users?filter=userName+eq+%22AdeleV%40contoso.com%22",
        None,
    );
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert_eq!(probe.json()["totalResults"], 0);
    let created = send(
        "POST",
        "/Users",
        Some(json!({
            "schemas": [SCIM_USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
            "externalId": "adelev", "userName": "AdeleV@contoso.com", "active": "True",
            "displayName": "Adele Vance", "meta": {"resourceType": "User"},
            "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
            "emails": [{"primary": "true", "type": "work", "value": "AdeleV@contoso.com"}],
            "department": "Retail"
        })),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_string();

    // Update attributes: default-flag pathed ops and aadOptscim062020 path-less dotted keys.
    let updated = send(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "displayName", "value": "Adele V."},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "adele@contoso.com"},
            {"op": "replace", "value": {"name.givenName": "Adèle", format!("{ENT}:employeeNumber"): "7"}}
        ]})),
    );
    assert_eq!(updated.status, 204, "{}", updated.body);

    // Disable.
    let disabled = send(
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"}
        ]})),
    );
    assert_eq!(disabled.status, 204, "{}", disabled.body);

    // A group, with Microsoft's schema; add the user; remove the user.
    let group = send(
        "POST",
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "sales", "displayName": "Sales", "meta": {"resourceType": "Group"}
        })),
    );
    assert_eq!(group.status, 201, "{}", group.body);
    let gid = group.json()["id"].as_str().unwrap().to_string();
    let add = send(
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}
        ]})),
    );
    assert_eq!(add.status, 204, "{}", add.body);
    assert_eq!(
        direct(&format!("/Groups/{gid}"))["members"][0]["value"],
        id.as_str()
    );
    let other = send(
        "POST",
        "/Users",
        Some(json!({"schemas": [SCIM_USER], "userName": "other@contoso.com", "active": true})),
    );
    let other_id = other.json()["id"].as_str().unwrap().to_string();
    send(
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": other_id}]}
        ]})),
    );
    let removed = send(
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": id}]}
        ]})),
    );
    assert_eq!(removed.status, 204, "{}", removed.body);

    // Query by externalId, the older unquoted way.
    let found = send("GET", "/Users?filter=externalId%20eq%20adelev", None);
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.json()["totalResults"], 1, "{}", found.body);

    // The server holds what Entra meant.
    let user = direct(&format!("/Users/{id}"));
    assert_eq!(user["active"], false, "{user}");
    assert_eq!(user["displayName"], "Adele V.");
    assert_eq!(user["name"]["givenName"], "Adèle");
    assert_eq!(
        user["name"]["familyName"], "Vance",
        "a path-less replace of name.givenName keeps familyName: {user}"
    );
    assert_eq!(user["emails"][0]["value"], "adele@contoso.com");
    assert_eq!(user["emails"][0]["primary"], true);
    assert_eq!(user[ENT]["department"], "Retail", "{user}");
    assert_eq!(user[ENT]["employeeNumber"], "7", "{user}");
    let schemas = user["schemas"].to_string();
    assert!(!schemas.contains("2.0User"), "{schemas}");
    let g = direct(&format!("/Groups/{gid}"));
    let members: Vec<&str> = g["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        members,
        vec![other_id.as_str()],
        "only the removed member is gone: {g}"
    );
    assert!(!g["schemas"].to_string().contains("microsoft"), "{g}");

    let m = gw.metrics();
    assert!(
        m.contains(r#"scimgate_rules_applied_total{kind="dialect",tenant="entra"}"#),
        "{m}"
    );
}

#[test]
fn entra_queries_answered_404_become_empty_lists() {
    let rec = Recorder::start();
    rec.set(Answer::Json(404, vec![], r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"no"}"#.into()));
    let gw = Gateway::start(&[("entra.toml", entra_policy(&rec.url()))], &[]);
    let r = call(
        "GET",
        &gw.url("/entra/scim/v2/Users?filter=externalId%20eq%20%22x%22"),
        Some(TOKEN),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["totalResults"], 0);
    assert_eq!(r.json()["Resources"], json!([]));
    let by_id = call(
        "GET",
        &gw.url("/entra/scim/v2/Users/x"),
        Some(TOKEN),
        &[],
        None,
    );
    assert_eq!(by_id.status, 404, "a 404 by id stays a 404");
}

#[test]
fn a_patch_with_nothing_left_is_answered_without_the_target() {
    let rec = Recorder::start();
    let gw = Gateway::start(&[("entra.toml", entra_policy(&rec.url()))], &[]);
    let body = json!({"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": []}]}).to_string();
    let r = call(
        "PATCH",
        &gw.url("/entra/scim/v2/Groups/g1"),
        Some(TOKEN),
        &[],
        Some(&body),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(rec.requests().is_empty());
}

#[test]
fn zoom_gets_its_accept_header_and_its_errors_become_scim() {
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[(
            "zoom.toml",
            policy("zoom", "/zoom", "t", &rec.url(), "profile = \"zoom\"", ""),
        )],
        &[],
    );
    rec.set(Answer::Json(
        404,
        vec![],
        r#"{"code":1001,"message":"User does not exist: x"}"#.into(),
    ));
    let r = call(
        "GET",
        &gw.url("/zoom/Users/x"),
        Some("t"),
        &[("Accept", "application/json")],
        None,
    );
    assert_eq!(r.status, 404);
    let v = r.json();
    assert_eq!(v["schemas"][0], ERROR_SCHEMA, "{v}");
    assert_eq!(v["status"], "404");
    assert_eq!(v["detail"], "User does not exist: x (Zoom code 1001)");
    assert_eq!(
        rec.requests()[0].header("accept"),
        Some("application/scim+json")
    );
}

#[test]
fn webex_refuses_what_webex_cannot_take_before_it_is_sent() {
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[(
            "webex.toml",
            policy(
                "webex",
                "/webex",
                "t",
                &rec.url(),
                "profile = \"webex\"",
                "",
            ),
        )],
        &[],
    );
    call(
        "GET",
        &gw.url("/webex/Users?filter=userName%20co%20%22a%22"),
        Some("t"),
        &[],
        None,
    )
    .assert_scim_error(400, Some("invalidFilter"));
    let ops: Vec<Value> = (0..101).map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {"schemas": [SCIM_USER], "userName": format!("u{i}")}})).collect();
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}).to_string();
    call("POST", &gw.url("/webex/Bulk"), Some("t"), &[], Some(&bulk)).assert_scim_error(413, None);
    assert!(rec.requests().is_empty());
}
