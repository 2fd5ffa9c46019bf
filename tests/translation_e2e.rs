//! The translation engine through the running gateway in front of the real scim2-server: the
//! IdP always sees `department`, the server only ever stores `division`; a null PATCH clears it.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::json;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const TOKEN: &str = "translation-token";

fn rules() -> String {
    format!("[nulls]\ndefault = \"clear\"\n[[map]]\nfrom = \"{ENT}:department\"\nto = \"{ENT}:division\"\n")
}

#[test]
fn department_round_trips_as_division() {
    let server = ScimServer::start();
    let gw = Gateway::start(
        &[(
            "t.toml",
            policy("t", "/t/scim/v2", TOKEN, &server.url(), "", &rules()),
        )],
        &[],
    );
    let base = gw.url("/t/scim/v2");
    let direct =
        |path: &str| call("GET", &format!("{}{path}", server.url()), None, &[], None).json();

    // Create with the IdP's name.
    let body = json!({"schemas": [SCIM_USER, ENT], "userName": "bjensen", "title": "Guide", ENT: {"department": "Sales", "employeeNumber": "42"}});
    let created = call(
        "POST",
        &format!("{base}/Users"),
        Some(TOKEN),
        &[],
        Some(&body.to_string()),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let user = created.json();
    assert_eq!(
        user[ENT]["department"], "Sales",
        "the IdP sees its own name: {user}"
    );
    assert!(user[ENT].get("division").is_none(), "{user}");
    let id = user["id"].as_str().unwrap().to_string();

    // The server only ever stored the mapped name.
    let stored = direct(&format!("/Users/{id}"));
    assert_eq!(stored[ENT]["division"], "Sales", "{stored}");
    assert!(stored[ENT].get("department").is_none(), "{stored}");
    assert_eq!(stored[ENT]["employeeNumber"], "42");

    // Filter by the IdP's name.
    let filter = format!("{ENT}:department eq \"Sales\"");
    let q = percent_encode(&filter);
    let found = call(
        "GET",
        &format!("{base}/Users?filter={q}"),
        Some(TOKEN),
        &[],
        None,
    );
    assert_eq!(found.status, 200, "{}", found.body);
    let found = found.json();
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0][ENT]["department"], "Sales");
    let none = call(
        "GET",
        &format!(
            "{base}/Users?filter={}",
            percent_encode(&format!("{ENT}:department eq \"Ops\""))
        ),
        Some(TOKEN),
        &[],
        None,
    )
    .json();
    assert_eq!(none["totalResults"], 0, "{none}");

    // PATCH to null: cleared on the server.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": format!("{ENT}:department"), "value": null}]});
    let patched = call(
        "PATCH",
        &format!("{base}/Users/{id}"),
        Some(TOKEN),
        &[],
        Some(&patch.to_string()),
    );
    assert!(
        patched.status == 204 || patched.status == 200,
        "{}",
        patched.body
    );
    let stored = direct(&format!("/Users/{id}"));
    assert!(
        stored.get(ENT).and_then(|e| e.get("division")).is_none(),
        "division cleared: {stored}"
    );
    assert_eq!(
        stored[ENT]["employeeNumber"], "42",
        "the rest of the extension stays: {stored}"
    );

    // Read back through the gateway: no department, nothing of the server's name.
    let back = call("GET", &format!("{base}/Users/{id}"), Some(TOKEN), &[], None).json();
    assert!(
        back[ENT].get("department").is_none() && back[ENT].get("division").is_none(),
        "{back}"
    );
    assert_eq!(back["title"], "Guide");

    // Set it again with a path-less PATCH, read it back as department.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "value": {ENT: {"department": "Ops"}}}]});
    let patched = call(
        "PATCH",
        &format!("{base}/Users/{id}"),
        Some(TOKEN),
        &[],
        Some(&patch.to_string()),
    );
    assert!(
        patched.status == 204 || patched.status == 200,
        "{}",
        patched.body
    );
    assert_eq!(direct(&format!("/Users/{id}"))[ENT]["division"], "Ops");
    let list = call("GET", &format!("{base}/Users"), Some(TOKEN), &[], None).json();
    assert_eq!(list["Resources"][0][ENT]["department"], "Ops", "{list}");

    let m = gw.metrics();
    assert!(
        m.contains(r#"scimgate_rules_applied_total{kind="null",tenant="t"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"scimgate_rules_applied_total{kind="map",tenant="t"}"#),
        "{m}"
    );
}

#[test]
fn malformed_filters_and_paths_are_400_and_reach_nothing() {
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[(
            "t.toml",
            policy("t", "/t/scim/v2", TOKEN, &rec.url(), "", &rules()),
        )],
        &[],
    );
    let base = gw.url("/t/scim/v2");
    for f in [
        "userName%20eq",
        "%28userName%20eq%20%22a%22",
        "userName%20xx%20%22a%22",
        "%22a%22",
        &"%28".repeat(40),
    ] {
        call(
            "GET",
            &format!("{base}/Users?filter={f}"),
            Some(TOKEN),
            &[],
            None,
        )
        .assert_scim_error(400, Some("invalidFilter"));
    }
    let bad = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]});
    call(
        "PATCH",
        &format!("{base}/Users/1"),
        Some(TOKEN),
        &[],
        Some(&bad.to_string()),
    )
    .assert_scim_error(400, Some("invalidPath"));
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "name.givenName eq"});
    call(
        "POST",
        &format!("{base}/Users/.search"),
        Some(TOKEN),
        &[],
        Some(&search.to_string()),
    )
    .assert_scim_error(400, Some("invalidFilter"));
    assert!(rec.requests().is_empty());
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
