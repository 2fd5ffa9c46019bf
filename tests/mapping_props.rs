//! No input a request can carry panics the translation engine: arbitrary JSON bodies (shaped
//! like SCIM and not), arbitrary PATCH paths and filters, through every rule kind, both ways.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

use http::Method;
use proptest::prelude::*;
use scimgate::flow::dry_run::{preview, Direction};
use scimgate::mapping::partial::{self, Partial};
use scimgate::mapping::{translate, Stats};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const WX: &str = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User";

/// A request through the whole dry-run flow (the gateway's phases with a canned target).
fn request(
    t: &Arc<scimgate::policy::Tenant>,
    m: &Method,
    rest: &str,
    query: Option<&str>,
    body: Option<&[u8]>,
) {
    let path = match query {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let _ = preview(t, Direction::Request, 200, m, &path, body);
}

fn tenant() -> scimgate::policy::Tenant {
    let text = format!(
        r#"tenant = "props"
route = "/t"
[nulls]
default = "clear"
empty_string_is_null = true
[nulls.attributes]
"title" = "drop"
[[map]]
from = "{ENT}:department"
to = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User:extensionAttribute1"
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to = 'phoneNumbers[type eq "work"].value'
[[map]]
from = "name.middleName"
to = "nickName"
[[map]]
resource = "Group"
from = "displayName"
to = "externalId"
[[drop]]
path = "x509Certificates"
[[drop]]
path = "name.honorificPrefix"
[[set]]
path = "preferredLanguage"
value = "en_US"
only_if_absent = true
when = "$[?(@.active == true)]"
[[set]]
path = 'emails[type eq "work"].primary'
value = true
[[transform]]
path = "emails.value"
fn = "lowercase"
[[transform]]
path = "active"
fn = "boolean"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#
    );
    scimgate::policy::compile::compile_file(Path::new("props.toml"), &text).unwrap()
}

/// Keys a SCIM body might have, so generated objects hit the rules often.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("schemas".to_string()),
        Just("userName".to_string()),
        Just("name".to_string()),
        Just("middleName".to_string()),
        Just("emails".to_string()),
        Just("value".to_string()),
        Just("type".to_string()),
        Just("phoneNumbers".to_string()),
        Just("active".to_string()),
        Just("title".to_string()),
        Just(ENT.to_string()),
        Just("department".to_string()),
        Just("Operations".to_string()),
        Just("op".to_string()),
        Just("path".to_string()),
        Just("data".to_string()),
        Just("method".to_string()),
        Just("Resources".to_string()),
        Just("response".to_string()),
        Just("nickName".to_string()),
        Just("NICKNAME".to_string()),
        Just("externalId".to_string()),
        Just("displayName".to_string()),
        Just("meta".to_string()),
        Just("resourceType".to_string()),
        Just(WX.to_string()),
        Just("extensionAttribute1".to_string()),
        "[a-zA-Z$:.]{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("mobile".to_string()),
            Just("work".to_string()),
            Just("".to_string()),
            Just("True".to_string()),
            Just("replace".to_string()),
            Just("remove".to_string()),
            Just("add".to_string()),
            Just("/Users".to_string()),
            Just("/Groups/1".to_string()),
            Just("PATCH".to_string()),
            Just("POST".to_string()),
            Just("emails[type eq \"work\"].value".to_string()),
            Just(format!("{ENT}:department")),
            Just(ENT.to_string()),
            Just(WX.to_string()),
            Just("User".to_string()),
            Just("Group".to_string()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE)
    ]
}

fn rest() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("/Users"),
        Just("/Users/1"),
        Just("/Groups/1"),
        Just("/Bulk"),
        Just("/.search"),
        Just("/Users/.search"),
        Just("/Me"),
        Just("")
    ]
}

/// A tenant whose maps all move whole attributes (the byte path of mapping::partial).
fn simple_maps_tenant() -> scimgate::policy::Tenant {
    let text = format!(
        r#"tenant = "simple"
route = "/t"
[[map]]
from = "{ENT}:department"
to = "{WX}:extensionAttribute1"
[[map]]
from = "{ENT}:employeeNumber"
to = "{WX}:extensionAttribute2"
[[map]]
from = "title"
to = "{WX}:extensionAttribute3"
[[map]]
from = "nickName"
to = "userType"
[[map]]
from = "urn:ietf:params:scim:schemas:core:2.0:User:displayName"
to = "{ENT}:costCenter"
[[map]]
resource = "Group"
from = "displayName"
to = "externalId"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#
    );
    scimgate::policy::compile::compile_file(Path::new("simple.toml"), &text).unwrap()
}

/// Resources built from the members those maps read and write, in shapes that matter.
fn simple_resource() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        Just(json!("v")),
        Just(json!(1.5)),
        Just(json!({})),
        Just(json!([])),
        Just(json!(true))
    ];
    let ext_key = prop_oneof![
        Just("extensionAttribute1"),
        Just("EXTENSIONATTRIBUTE1"),
        Just("extensionAttribute2"),
        Just("extensionAttribute3"),
        Just("department"),
        Just("costCenter"),
        Just("other")
    ];
    let ext = prop_oneof![
        prop::collection::vec((ext_key, leaf.clone()), 0..4).prop_map(|kv| Value::Object(
            kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
        )),
        leaf.clone(),
    ];
    let schema = prop_oneof![
        Just(json!("urn:ietf:params:scim:schemas:core:2.0:User")),
        Just(json!(WX)),
        Just(json!(ENT)),
        Just(json!("urn:x:other")),
        Just(json!(7)),
    ];
    let schemas = prop_oneof![
        prop::collection::vec(schema, 0..4).prop_map(Value::Array),
        leaf.clone(),
    ];
    let top_key = prop_oneof![
        Just("title"),
        Just("Title"),
        Just("nickName"),
        Just("userType"),
        Just("USERTYPE"),
        Just("displayName"),
        Just("externalId"),
        Just("id"),
        Just("urn:x:other"),
    ];
    let meta = prop_oneof![
        Just(json!({"resourceType": "User"})),
        Just(json!({"resourceType": "Group"})),
        Just(json!({"location": "x"})),
    ];
    (
        prop::option::of(schemas),
        prop::option::of(ext.clone()),
        prop::option::of(ext),
        prop::collection::vec((top_key, leaf), 0..5),
        prop::option::of(meta),
    )
        .prop_map(|(schemas, wx, ent, rest, meta)| {
            let mut m = serde_json::Map::new();
            if let Some(s) = schemas {
                m.insert("schemas".into(), s);
            }
            for (k, v) in rest {
                m.insert(k.to_string(), v);
            }
            if let Some(v) = wx {
                m.insert(WX.into(), v);
            }
            if let Some(v) = ent {
                m.insert(ENT.into(), v);
            }
            if let Some(v) = meta {
                m.insert("meta".into(), v);
            }
            Value::Object(m)
        })
}

/// `base` with what `seeds` says changed: each member's value (and each member's of an object
/// member) kept, or replaced by another value of the same kind or not. Lists of these are lists
/// of one shape but where a replacement changed it, which the byte path's plans must tell apart.
fn reshaped(base: &Value, seeds: &[u8]) -> Value {
    let others = [
        Value::Null,
        json!("w"),
        json!(2),
        json!({}),
        json!([]),
        json!(false),
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"]),
        json!([WX, "urn:ietf:params:scim:schemas:core:2.0:User"]),
        json!({"extensionAttribute1": "z"}),
        json!({"resourceType": "Group"}),
    ];
    let mut n = 0usize;
    let mut pick = |v: &Value| -> Value {
        let seed = seeds.get(n % seeds.len().max(1)).copied().unwrap_or(0);
        n += 1;
        match seed % 4 {
            // Kept, or its members changed one by one.
            0 | 1 => match v {
                Value::Object(m) if seed % 4 == 1 => Value::Object(
                    m.iter()
                        .map(|(k, v)| {
                            let s = u8::try_from(k.len() % 256).unwrap_or(0) ^ seed;
                            let v = if s & 8 == 0 {
                                v.clone()
                            } else {
                                others[usize::from(s >> 4) % others.len()].clone()
                            };
                            (k.clone(), v)
                        })
                        .collect(),
                ),
                v => v.clone(),
            },
            _ => others[usize::from(seed >> 2) % others.len()].clone(),
        }
    };
    match base {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), pick(v))).collect()),
        other => other.clone(),
    }
}

/// The partial answer (reparsed, written compactly) against the whole-tree path's, for the body
/// written compactly and pretty-printed (whitespace everywhere the scan must step over); `true`
/// when the partial path mapped it.
fn compare_partial(
    t: &scimgate::policy::Tenant,
    r: &str,
    body: &Value,
) -> Result<bool, TestCaseError> {
    let mut whole = body.clone();
    let mut ws = Stats::default();
    translate::response(&t.rules, r, &mut whole, &mut ws);
    let mut mapped = None;
    for bytes in [
        serde_json::to_vec(body).unwrap(),
        serde_json::to_vec_pretty(body).unwrap(),
    ] {
        let mut ps = Stats::default();
        let this = match partial::response(&t.rules, r, &bytes, &mut ps) {
            Partial::Whole => false,
            Partial::Unchanged => {
                prop_assert_eq!(ws.total(), 0, "{}", body);
                prop_assert_eq!(ps.total(), 0);
                false
            }
            Partial::Mapped(b) => {
                let got: Value = serde_json::from_slice(&b).unwrap();
                prop_assert!(ws.total() > 0);
                prop_assert_eq!(ps.total(), ws.total());
                prop_assert_eq!(
                    serde_json::to_string(&got).unwrap(),
                    serde_json::to_string(&whole).unwrap(),
                    "{}",
                    body
                );
                true
            }
        };
        // Whitespace changes nothing about which path a body takes.
        prop_assert_eq!(*mapped.get_or_insert(this), this, "{}", body);
    }
    Ok(mapped.unwrap_or(false))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The byte path for whole-attribute maps gives the whole-tree path's JSON.
    #[test]
    fn whole_attribute_maps_equal_the_whole_tree(res in prop::collection::vec(simple_resource(), 1..4), listed in any::<bool>(), r in rest()) {
        let t = simple_maps_tenant();
        let body = if listed {
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": res})
        } else {
            res.into_iter().next().unwrap_or(json!({}))
        };
        compare_partial(&t, r, &body)?;
    }

    /// Lists whose resources share a shape, but where a value changed it: the byte path's plan
    /// made of one resource is replayed only on those of its shape, and the answer is the whole
    /// tree's.
    #[test]
    fn one_shape_lists_equal_the_whole_tree(base in simple_resource(), variants in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..8), 1..5), r in rest()) {
        let t = simple_maps_tenant();
        let mut res = vec![base.clone()];
        // Each variant twice, the second time with its seeds turned: two in a row, often of
        // one shape with other values, so that a plan is made of one and replayed on the next.
        for seeds in &variants {
            let mut turned = seeds.clone();
            turned.rotate_left(1);
            res.push(reshaped(&base, seeds));
            res.push(reshaped(&base, &turned));
        }
        res.push(base);
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": res});
        compare_partial(&t, r, &body)?;
    }

    #[test]
    fn requests_never_panic(m in method(), r in rest(), body in json_value(), q in ".{0,40}") {
        let t = Arc::new(tenant());
        let bytes = serde_json::to_vec(&body).unwrap();
        request(&t, &m, r, Some(&q), Some(&bytes));
    }

    #[test]
    fn patch_operations_never_panic(ops in prop::collection::vec((json_value(), ".{0,30}", json_value()), 0..6)) {
        let t = Arc::new(tenant());
        let ops: Vec<Value> = ops.into_iter().enumerate().map(|(i, (v, p, _))| {
            let op = ["add", "replace", "remove", "Replace"][i % 4];
            json!({"op": op, "path": p, "value": v})
        }).collect();
        let body = serde_json::to_vec(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})).unwrap();
        request(&t, &Method::PATCH, "/Users/1", None, Some(&body));
    }

    #[test]
    fn filters_never_panic(f in ".{0,80}") {
        let t = Arc::new(tenant());
        let q = format!("filter={}", f.replace('&', "%26"));
        request(&t, &Method::GET, "/Users", Some(&q), None);
    }

    /// The answer path that parses only what the maps touch (mapping::partial) gives the same
    /// JSON as the whole-tree path, for resources and for ListResponses of them.
    #[test]
    fn partial_response_mapping_equals_the_whole_tree(r in rest(), res in prop::collection::vec(json_value(), 0..4), listed in any::<bool>()) {
        let t = tenant();
        let body = if listed {
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": res})
        } else {
            res.into_iter().next().unwrap_or(json!({}))
        };
        compare_partial(&t, r, &body)?;
    }

    #[test]
    fn responses_never_panic(r in rest(), mut body in json_value()) {
        let t = tenant();
        translate::response(&t.rules, r, &mut body, &mut Stats::default());
    }
}
