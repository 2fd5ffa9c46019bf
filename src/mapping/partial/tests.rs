use super::*;
use crate::mapping::translate;
use crate::policy::compile::compile_file;
use serde_json::json;
use std::path::Path;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const WX: &str = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User";

fn tenant() -> crate::policy::Tenant {
    tenant_with(&format!(
        r#"[[map]]
from = "{ENT}:department"
to = "{WX}:extensionAttribute1"
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to = 'phoneNumbers[type eq "work"].value'
[[map]]
from = "title"
to = "{WX}:extensionAttribute3"
[[map]]
from = "nickName"
to = "userType"
[[map]]
resource = "Group"
from = "displayName"
to = "externalId"
"#
    ))
}

/// A tenant with these rules.
fn tenant_with(rules: &str) -> crate::policy::Tenant {
    let text = format!(
        r#"tenant = "t"
route = "/t"
{rules}[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#
    );
    compile_file(Path::new("t.toml"), &text).unwrap()
}

/// The whole-tree path's answer: `None` when it would relay the target's bytes.
fn whole(rules: &Rules, rest: &str, body: &[u8]) -> (Option<String>, u32) {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    let mut stats = Stats::default();
    translate::response(rules, rest, &mut v, &mut stats);
    let out = (stats.total() > 0).then(|| serde_json::to_string(&v).unwrap());
    (out, stats.total())
}

fn partial(rules: &Rules, rest: &str, body: &[u8]) -> (Partial, u32) {
    let mut stats = Stats::default();
    let p = response(rules, rest, body, &mut stats);
    (p, stats.total())
}

/// The partial answer, reparsed and written compactly, equals the whole-tree path's.
fn same(rules: &Rules, rest: &str, body: &Value) {
    let bytes = serde_json::to_vec_pretty(body).unwrap();
    let (want, n_want) = whole(rules, rest, &bytes);
    let (got, n_got) = partial(rules, rest, &bytes);
    let got = match got {
        Partial::Unchanged => None,
        Partial::Mapped(b) => {
            let v: Value = serde_json::from_slice(&b).unwrap();
            Some(serde_json::to_string(&v).unwrap())
        }
        Partial::Whole => panic!("whole-tree fallback for {body}"),
    };
    assert_eq!(got, want, "{body}");
    assert_eq!(n_got, n_want);
}

fn webex_user(i: usize) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", WX],
        "id": format!("id-{i}"), "userName": format!("user{i}@example.com"),
        "name": {"givenName": "Test", "familyName": format!("User{i}")}, "active": true,
        "emails": [{"type": "work", "value": format!("user{i}@example.com"), "primary": true}],
        "phoneNumbers": [{"type": "work", "value": "+1 555 0100"}, {"type": "fax", "value": "1"}],
        WX: {"extensionAttribute1": "Sales", "extensionAttribute3": "Boss"},
        "userType": "Employee",
        "meta": {"resourceType": "User", "location": format!("http://127.0.0.1:8081/v2/Users/id-{i}")}})
}

#[test]
fn a_list_maps_as_the_whole_tree_does() {
    let users: Vec<Value> = (0..5).map(webex_user).collect();
    let list = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 5, "Resources": users});
    same(&tenant().rules, "/Users", &list);
    let (p, n) = partial(&tenant().rules, "/Users", list.to_string().as_bytes());
    assert_eq!(n, 5 * 4);
    let Partial::Mapped(b) = p else {
        panic!("{p:?}")
    };
    let v: Value = serde_json::from_slice(&b).unwrap();
    let first = &v["Resources"][0];
    assert_eq!(first[ENT]["department"], "Sales");
    assert_eq!(first["title"], "Boss");
    assert_eq!(first["nickName"], "Employee");
    assert!(first.get(WX).is_none() && first.get("userType").is_none());
    assert_eq!(first["phoneNumbers"][1]["type"], "mobile");
    assert_eq!(
        first["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT])
    );
}

#[test]
fn one_resource_and_groups_map_as_the_whole_tree_does() {
    same(&tenant().rules, "/Users/id-1", &webex_user(1));
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g",
        "externalId": "Admins", "members": [{"value": "id-1"}], "meta": {"resourceType": "Group"}});
    same(&tenant().rules, "/Groups/g", &group);
    // The kind comes from meta.resourceType before the path.
    same(&tenant().rules, "/Users", &group);
    // Case variants of the members the maps name.
    let odd = json!({"SCHEMAS": [WX], "USERTYPE": "x", "urn:scim:schemas:extension:CISCO:webexidentity:2.0:User": {"EXTENSIONATTRIBUTE1": "y"}});
    same(&tenant().rules, "/Users/1", &odd);
}

#[test]
fn a_list_resource_s_kind_comes_from_its_meta_as_the_whole_tree_reads_it() {
    // The scan notes `meta.resourceType` as it reads a list's resources; the whole tree reads
    // the kind from the resource. A Group in a `/Users` list, a `meta` that is not an object,
    // one without a resourceType (the kind then comes from `schemas`), one not a string.
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g",
        "externalId": "Admins", "meta": {"resourceType": "Group"}});
    let mut not_object = webex_user(4);
    not_object["meta"] = json!(["resourceType", "Group"]);
    let mut none = webex_user(5);
    none["meta"] = json!({"location": "x"});
    let mut unknown = group.clone();
    unknown["meta"] = json!({"resourceType": 7});
    for resources in [
        vec![webex_user(1), group.clone()],
        vec![not_object, none],
        vec![unknown, webex_user(6)],
    ] {
        let list = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "Resources": resources});
        same(&tenant().rules, "/Users", &list);
        same(&tenant().rules, "/Groups", &list);
    }
    // Text a `Value` cannot hold: a resourceType given twice (the last counts), and one
    // written with an escape (`Gr\u006fup`, decoded before it is judged).
    let list = json!({"Resources": [webex_user(2), group]}).to_string();
    for (from, to) in [
        (
            r#""resourceType":"User""#,
            r#""resourceType":"Group","resourceType":"User""#,
        ),
        (
            r#""resourceType":"User""#,
            r#""resourceType":"User","resourceType":"Group""#,
        ),
        (
            r#""resourceType":"Group""#,
            r#""resourceType":"Gr\u006fup""#,
        ),
    ] {
        let list = list.replacen(from, to, 1);
        assert!(list.contains(to));
        let (want, n_want) = whole(&tenant().rules, "/Users", list.as_bytes());
        let (Partial::Mapped(got), n_got) = partial(&tenant().rules, "/Users", list.as_bytes())
        else {
            panic!("not mapped: {list}")
        };
        let got: Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(Some(got.to_string()), want, "{list}");
        assert_eq!(n_got, n_want);
    }
}

#[test]
fn members_no_map_reads_are_copied_byte_for_byte() {
    let body = br#"{"id" : "a",  "n": 1.50e2, "esc\u0041pe": "\u00e9\/", "userType": "x"}"#;
    let (p, _) = partial(&tenant().rules, "/Users/a", body);
    let Partial::Mapped(b) = p else {
        panic!("{p:?}")
    };
    let text = String::from_utf8(b).unwrap();
    assert_eq!(
        text,
        r#"{"id":"a","n":1.50e2,"escApe":"\u00e9\/","nickName":"x"}"#
    );
}

#[test]
fn nothing_to_undo_leaves_the_bytes_alone() {
    let plain = json!({"Resources": [{"id": "1", "userName": "a", "title": "t"}, "odd", 3]});
    let (p, n) = partial(&tenant().rules, "/Users", plain.to_string().as_bytes());
    assert_eq!((p, n), (Partial::Unchanged, 0));
    same(&tenant().rules, "/Users", &plain);
    let empty = json!({"Resources": []});
    assert_eq!(
        partial(&tenant().rules, "/Users", empty.to_string().as_bytes()).0,
        Partial::Unchanged
    );
}

#[test]
fn what_is_not_plain_goes_to_the_whole_tree() {
    let t = tenant();
    let r = &t.rules;
    for body in [
        r#"{"userType": "a", "usertype": "b"}"#,
        r#"{"Resources": [{"userType": "a", "userType": "b"}]}"#,
        r#"{"Resources": [], "resources": []}"#,
        r#"{"Operations": [{"method": "POST", "response": {"userType": "a"}}]}"#,
        r#"[{"userType": "a"}]"#,
        r#"{"userType": "a""#,
        "not json",
    ] {
        assert_eq!(
            partial(r, "/Users", body.as_bytes()).0,
            Partial::Whole,
            "{body}"
        );
    }
}

/// Users whose applying maps all move whole attributes take the byte path: moved values keep
/// their JSON text (a `Value` would rewrite `1.50e2` as `150.0`).
#[test]
fn whole_attribute_maps_move_json_text() {
    let t = tenant();
    let body = format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","{WX}"],"id":"1","{WX}":{{"extensionAttribute1":1.50e2,"extensionAttribute3":"Boss"}},"userType":"\u0045mployee","meta":{{"resourceType":"User"}}}}"#
    );
    let (p, n) = partial(&t.rules, "/Users/1", body.as_bytes());
    assert_eq!(n, 3);
    let Partial::Mapped(b) = p else {
        panic!("{p:?}")
    };
    let text = String::from_utf8(b).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","{ENT}"],"id":"1","meta":{{"resourceType":"User"}},"{ENT}":{{"department":1.50e2}},"title":"Boss","nickName":"\u0045mployee"}}"#
        )
    );
}

/// The byte path against the whole tree on the shapes its steps branch on.
#[test]
fn whole_attribute_maps_match_the_whole_tree() {
    let t = tenant();
    let cases = [
        // The enterprise object there already, with the key in another case: overwritten in place.
        json!({"schemas": [WX, ENT], "userName": "a", ENT: {"DEPARTMENT": "old", "manager": {"value": "m"}}, WX: {"extensionAttribute1": "new"}}),
        // The enterprise object null: replaced in place; schemas missing: made.
        json!({ENT: null, WX: {"extensionAttribute1": "x", "other": 1}, "id": "2"}),
        // The enterprise member is not an object: that put fails and the value is dropped.
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], ENT: "odd", WX: {"extensionAttribute1": "x"}}),
        // Schemas null or not an array, an empty extension left behind, a core-qualified key.
        json!({"schemas": null, WX: {"extensionAttribute3": "t"}, "urn:x:empty": {}}),
        json!({"schemas": "nope", WX: {"extensionAttribute3": "t"}}),
        json!({"schemas": [1, WX, "urn:x:gone"], "urn:x:gone": null, WX: {"extensionAttribute3": "t"}, "title": "kept?"}),
        // The source extension is not an object: nothing taken.
        json!({"schemas": [WX], WX: ["extensionAttribute1"], "userType": null}),
        // Only the source's container there, without the attribute.
        json!({"schemas": [WX], WX: {"unrelated": true}}),
        // A Group: displayName back from externalId.
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": "Admins", "displayName": "old", "meta": {"resourceType": "Group"}}),
    ];
    for c in &cases {
        same(&t.rules, "/Users/x", c);
    }
    let list = json!({"Resources": cases});
    same(&t.rules, "/Users", &list);
}

/// An extension object with two names equal in any case goes to the `Value` path.
#[test]
fn duplicate_names_inside_an_extension_leave_the_byte_path() {
    let t = tenant();
    let body = format!(r#"{{"{WX}":{{"extensionAttribute1":"a","EXTENSIONATTRIBUTE1":"b"}}}}"#);
    let mut v: Value = serde_json::from_str(&body).unwrap();
    let mut ws = Stats::default();
    translate::response(&t.rules, "/Users/1", &mut v, &mut ws);
    let (p, n) = partial(&t.rules, "/Users/1", body.as_bytes());
    assert_eq!(n, ws.total());
    let Partial::Mapped(b) = p else {
        panic!("{p:?}")
    };
    let got: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(got.to_string(), v.to_string());
}

/// On the `Value` path, an extension object a take empties and a put makes again goes last, as
/// on the whole tree, not back to its old place among the members no map touches.
#[test]
fn an_extension_emptied_and_made_again_goes_last_as_on_the_whole_tree() {
    let t = tenant_with(&format!(
        r#"[[map]]
from = "{ENT}:department"
to = "{WX}:extensionAttribute1"
[[map]]
from = "displayName"
to = "{ENT}:costCenter"
"#
    ));
    // The duplicate names send it to the `Value` path.
    let body = format!(
        r#"{{"{WX}":{{"extensionAttribute1":"a","EXTENSIONATTRIBUTE1":"b"}},"{ENT}":{{"costCenter":"c"}},"meta":{{"resourceType":"User"}}}}"#
    );
    let (want, n_want) = whole(&t.rules, "/Users/1", body.as_bytes());
    let (p, n) = partial(&t.rules, "/Users/1", body.as_bytes());
    let Partial::Mapped(b) = p else {
        panic!("{p:?}")
    };
    let got: Value = serde_json::from_slice(&b).unwrap();
    let keys: Vec<&str> = got
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, [WX, "meta", ENT, "displayName", "schemas"]);
    assert_eq!(Some(got.to_string()), want);
    assert_eq!(n, n_want);
}

#[test]
fn a_value_moved_onto_a_member_the_target_wrote_replaces_its_value() {
    // `userType` goes back to `nickName`, which the answer has too: the member keeps its name
    // and place, its value is the moved one, whichever side of it the value was.
    let rules = &tenant().rules;
    for body in [
        json!({"id": "a", "nickName": "old", "userName": "u", "userType": "new", "active": true}),
        json!({"id": "a", "userType": "new", "userName": "u", "nickName": "old", "active": true}),
        json!({"nickName": "old", "userType": "new"}),
        json!({"userType": "new", "nickName": "old"}),
    ] {
        same(rules, "/Users/a", &body);
        let (p, _) = partial(rules, "/Users/a", body.to_string().as_bytes());
        let Partial::Mapped(b) = p else {
            panic!("{p:?}")
        };
        let got: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(got["nickName"], "new", "{body}");
        assert!(got.get("userType").is_none(), "{body}");
    }
}

/// The answer for a list, each resource mapped on its own: `{"Resources":[…]}` around each
/// resource's text as mapped alone (or as it came, when nothing changed).
fn each_alone(rules: &Rules, resources: &[&str]) -> String {
    let one: Vec<String> = resources
        .iter()
        .map(|r| {
            let body = format!(r#"{{"Resources":[{r}]}}"#);
            match partial(rules, "/Users", body.as_bytes()).0 {
                Partial::Mapped(b) => {
                    let text = String::from_utf8(b).unwrap();
                    let inner = text
                        .strip_prefix(r#"{"Resources":["#)
                        .and_then(|t| t.strip_suffix("]}"))
                        .unwrap();
                    inner.to_string()
                }
                Partial::Unchanged => r.to_string(),
                Partial::Whole => panic!("whole-tree fallback for {r}"),
            }
        })
        .collect();
    format!(r#"{{"Resources":[{}]}}"#, one.join(","))
}

/// A list's resources of one shape are written by the plan made of one of them: the answer is,
/// byte for byte, each resource as mapped on its own; and the resources whose shape differs
/// (a name escaped, an object null or empty, another member in an extension, another
/// `schemas`, another kind) are mapped by the steps themselves. Each list is also held to the
/// whole tree.
#[test]
fn resources_of_one_shape_replay_the_first_ones_plan_and_the_others_do_not() {
    let t = tenant();
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let user = |schemas: &str, title: &str, wx: &str, kind: &str, ent: &str| {
        format!(
            r#"{{"schemas":{schemas},"id":"1","{title}":"T","{WX}":{wx},"userType":"E","meta":{{"resourceType":"{kind}"}},"{ENT}":{ent}}}"#
        )
    };
    let schemas = format!(r#"["{core}","{WX}"]"#);
    let wx = r#"{"extensionAttribute1":"x"}"#;
    let first = user(
        &schemas,
        "title",
        r#"{"extensionAttribute1":"Sales"}"#,
        "User",
        "null",
    );
    let others = [
        // The same shape: other values, other whitespace inside them.
        user(
            &schemas,
            "title",
            r#"{"extensionAttribute1": [1, 2] }"#,
            "User",
            "null",
        ),
        user(
            &schemas,
            "title",
            r#"{"extensionAttribute1":{"a":null}}"#,
            "User",
            "null",
        ),
        // Another shape each.
        user(&schemas, r"\u0074itle", wx, "User", "null"),
        user(&schemas, "title", "null", "User", "null"),
        user(&schemas, "title", "{}", "User", "null"),
        user(&schemas, "title", "{ }", "User", "null"),
        user(
            &schemas,
            "title",
            r#"{"extensionAttribute3":"x"}"#,
            "User",
            "null",
        ),
        user(
            &schemas,
            "title",
            r#"{"extensionAttribute1":"x","other":1}"#,
            "User",
            "null",
        ),
        user(&format!(r#"["{core}"]"#), "title", wx, "User", "null"),
        user(
            &format!(r#"["{WX}","{core}"]"#),
            "title",
            wx,
            "User",
            "null",
        ),
        user(
            &format!(r#"["{}","{WX}"]"#, core.to_uppercase()),
            "title",
            wx,
            "User",
            "null",
        ),
        user(&schemas, "title", wx, "Group", "null"),
        // The enterprise object null (made again), not an object (the put fails), empty, or not.
        user(&schemas, "title", wx, "User", r#""odd""#),
        user(&schemas, "title", wx, "User", "{}"),
        user(&schemas, "title", wx, "User", r#"{"manager":"m"}"#),
    ];
    for other in &others {
        for pair in [
            [first.as_str(), other.as_str()],
            [other.as_str(), first.as_str()],
        ] {
            // A plan is made of the second of a shape in a row, and tried on the next ones.
            let five = [pair[0], pair[0], pair[1], pair[1], pair[1]];
            let body = format!(r#"{{"Resources":[{}]}}"#, five.join(","));
            let Partial::Mapped(got) = partial(&t.rules, "/Users", body.as_bytes()).0 else {
                panic!("{body}")
            };
            assert_eq!(String::from_utf8(got).unwrap(), each_alone(&t.rules, &five));
            let list: Value = serde_json::from_str(&body).unwrap();
            same(&t.rules, "/Users", &list);
        }
    }
}

/// The plan is made and replayed: a plan is made of the second resource in a row of one shape,
/// and replayed on the next ones of that shape only.
#[test]
fn a_plan_is_made_of_a_mapped_resource_and_replayed_on_its_shape_only() {
    let t = tenant();
    let maps = &t.rules.for_kind(Kind::User).maps;
    let text = format!(
        r#"[{{"{WX}":{{"extensionAttribute1":"a"}},"id":"1"}},{{"{WX}":{{"extensionAttribute1":"b"}},"id":"2"}},{{"{WX}":{{"extensionAttribute1":"c"}},"id":"3"}},{{"{WX}":null,"id":"4"}},{{"{WX}":null,"id":"5"}}]"#
    );
    let mut scan = Scan::new(&text);
    let mut resources = Vec::new();
    scan.array(|s| {
        resources.push(Members::scan(s)?);
        Ok(())
    })
    .unwrap();
    let [r1, r2, r3, r4, r5] = &resources[..] else {
        panic!("five resources")
    };
    fn apply<'a>(
        maps: &'a [crate::mapping::rules::MapRule],
        r: &Members<'a>,
        scratch: &mut simple::Scratch<'a>,
        out: &mut Vec<u8>,
    ) -> Option<bool> {
        simple::apply(maps, Kind::User, r, scratch, &mut Stats::default(), out)
    }
    let mut scratch = simple::Scratch::default();
    let mut out = Vec::new();
    assert_eq!(apply(maps, r1, &mut scratch, &mut out), Some(true));
    // One resource of a shape makes no plan; the second in a row does.
    assert!(!scratch.replays(r2));
    assert_eq!(apply(maps, r2, &mut scratch, &mut out), Some(true));
    assert!(scratch.replays(r3));
    assert!(!scratch.replays(r4));
    out.clear();
    assert_eq!(apply(maps, r3, &mut scratch, &mut out), Some(true));
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        format!(
            r#"{{"id":"3","{ENT}":{{"department":"c"}},"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","{ENT}"]}}"#
        )
    );
    // The fourth is not of the plan's shape (its extension is null): nothing taken, and the
    // plan stays; the fifth, of the fourth's shape, makes a plan that says nothing changes.
    out.clear();
    assert_eq!(apply(maps, r4, &mut scratch, &mut out), Some(false));
    assert!(out.is_empty());
    assert!(scratch.replays(r1));
    assert!(!scratch.replays(r5));
    assert_eq!(apply(maps, r5, &mut scratch, &mut out), Some(false));
    assert!(out.is_empty());
    assert!(scratch.replays(r4));
    assert!(!scratch.replays(r1));
}
