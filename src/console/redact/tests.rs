use super::*;
use serde_json::{json, Value};

fn redacted(v: &Value) -> Value {
    serde_json::from_str(&body(&v.to_string())).unwrap()
}

const R: &str = REDACTED;

#[test]
fn a_user_keeps_its_shape_and_loses_its_values() {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223", "externalId": "bjensen", "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs", "active": true, "title": null,
        "emails": [{"type": "work", "primary": true, "value": "bjensen@example.com"}],
        "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "employeeNumber": 42},
        "meta": {"resourceType": "User", "location": "https://gw/Users/2819c223"},
        "x": {"custom": "anything"}
    });
    let r = redacted(&user);
    assert_eq!(r["schemas"], user["schemas"]);
    assert_eq!(r["id"], "2819c223");
    assert_eq!(r["active"], true);
    assert_eq!(r["title"], Value::Null);
    assert_eq!(r["emails"][0]["type"], "work");
    assert_eq!(r["emails"][0]["primary"], true);
    assert_eq!(r["meta"], user["meta"]);
    for personal in [
        &r["externalId"],
        &r["userName"],
        &r["name"]["givenName"],
        &r["name"]["familyName"],
        &r["displayName"],
        &r["emails"][0]["value"],
        &r["phoneNumbers"][0]["value"],
        &r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        &r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        &r["x"]["custom"],
    ] {
        assert_eq!(personal, R, "{r}");
    }
}

#[test]
fn patch_values_follow_their_path() {
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@b.c"},
        {"op": "Remove", "path": "emails[value eq \"a@b.c\"]"},
        {"op": "Add", "path": "members", "value": [{"value": "u-1"}]},
        {"op": "Replace", "value": {"name.givenName": "Barbara", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales"}}
    ]});
    let r = redacted(&patch);
    let ops = &r["Operations"];
    assert_eq!(ops[0]["value"], "False");
    assert_eq!(ops[0]["op"], "Replace");
    assert_eq!(ops[1]["path"], "emails[type eq \"work\"].value");
    assert_eq!(ops[1]["value"], R);
    assert_eq!(ops[2]["path"], format!("emails[value eq \"{R}\"]"));
    assert_eq!(ops[3]["value"][0]["value"], "u-1");
    assert_eq!(ops[4]["value"]["name.givenName"], R);
    assert_eq!(
        ops[4]["value"]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"],
        R
    );
}

#[test]
fn group_members_keep_their_ids() {
    let g = json!({"displayName": "Sales", "members": [{"value": "u-1", "display": "Babs", "$ref": "https://x/Users/u-1"}]});
    let r = redacted(&g);
    assert_eq!(r["members"][0]["value"], "u-1");
    assert_eq!(r["members"][0]["$ref"], "https://x/Users/u-1");
    assert_eq!(r["members"][0]["display"], R);
    assert_eq!(r["displayName"], R);
}

#[test]
fn a_body_cut_short_is_redacted_too() {
    let full = json!({"userName": "bjensen@example.com", "emails": [{"type": "work", "value": "bjensen@example.com"}]}).to_string();
    for cut in 1..full.len() {
        let out = body(full.get(..cut).unwrap());
        assert!(!out.contains("bjensen"), "cut at {cut}: {out}");
        assert!(!out.contains("example"), "cut at {cut}: {out}");
    }
}

#[test]
fn odd_text_never_leaks() {
    for text in [
        r#"{"userName": bjensen}"#,
        r#"["bjensen", 42, true]"#,
        r#"{"userName": "a\"b bjensen"}"#,
        "{\"userName\": \"bj\u{e9}nsen\"}",
    ] {
        let out = body(text);
        assert!(!out.contains("bj"), "{text} -> {out}");
    }
    // Markup is data here: escaping is the page's job.
    let out = body(r#"{"id": "<script>alert(1)</script>"}"#);
    assert!(out.contains("<script>"));
}

#[test]
fn filters_lose_compared_personal_values() {
    assert_eq!(
        filter("userName eq \"bjensen\""),
        format!("userName eq \"{R}\"")
    );
    assert_eq!(
        filter("externalId eq adelev"),
        format!("externalId eq \"{R}\"")
    );
    assert_eq!(
        filter("emails[type eq \"work\" and value co \"@example.com\"]"),
        format!("emails[type eq \"work\" and value co \"{R}\"]")
    );
    assert_eq!(
        filter("members[value eq \"u-1\"]"),
        "members[value eq \"u-1\"]"
    );
    assert_eq!(filter("active eq true"), "active eq true");
    assert_eq!(filter("title pr"), "title pr");
    assert_eq!(
        filter(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Sales\""
        ),
        format!("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"{R}\"")
    );
}

#[test]
fn queries_are_decoded_and_redacted() {
    let q = "filter=userName+eq+%22bjensen%40example.com%22&count=10&startIndex=1&foo=bar";
    assert_eq!(
        query(q, false),
        format!("filter=userName eq \"{R}\"&count=10&startIndex=1&foo={R}")
    );
    assert_eq!(
        query(q, true),
        "filter=userName eq \"bjensen@example.com\"&count=10&startIndex=1&foo=bar"
    );
}
