//! The policy invariant of issue 10, as a property through the running gateway: whatever the
//! spelling of the path (`Users`, `%55sers`, `Users;x`, …), of the keys (`password`, `PASSWORD`,
//! `operations`, `Data`, …) and whatever the message (a resource, a PATCH with pathed or
//! path-less operations, a Bulk of those), either the gateway refuses it (4xx, nothing sent) or
//! what the target receives holds no attribute the tenant drops and no `from` of its maps — in no
//! object key and no PATCH `path`, compared ignoring case.
//!
//! One gateway serves eight tenants with random policies (tenant 0 is fixed: drop password, map
//! title → userType); every case picks a tenant and a request.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

const TOKEN: &str = "invariant-token";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CORE_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:user:";
const TENANTS: usize = 8;

/// Core User attributes, all strings, that rules are drawn from.
const POOL: [&str; 8] = [
    "title",
    "nickName",
    "password",
    "displayName",
    "userType",
    "profileUrl",
    "locale",
    "timezone",
];

/// How the IdP may spell `Users` after the route.
const USERS: [&str; 7] = [
    "Users",
    "users",
    "%55sers",
    "USERS",
    "U%73ers",
    "Users;x",
    "Users/..;/x",
];

/// How the IdP may spell `Bulk` after the route.
const BULKS: [&str; 6] = ["Bulk", "bulk", "%42ulk", "BULK", "B%75lk", "Bulk;x"];

/// The rules of one tenant: drop names, map `from` names and map `to` names are disjoint.
#[derive(Debug, Clone)]
struct Rules {
    drops: Vec<&'static str>,
    maps: Vec<(&'static str, &'static str)>,
}

impl Rules {
    fn toml(&self) -> String {
        let mut s = String::new();
        for d in &self.drops {
            s.push_str(&format!("[[drop]]\npath = \"{d}\"\n\n"));
        }
        for (from, to) in &self.maps {
            s.push_str(&format!("[[map]]\nfrom = \"{from}\"\nto = \"{to}\"\n\n"));
        }
        s
    }

    /// Lowercased names that must never reach the target.
    fn forbidden(&self) -> Vec<String> {
        self.drops
            .iter()
            .copied()
            .chain(self.maps.iter().map(|(from, _)| *from))
            .map(str::to_ascii_lowercase)
            .collect()
    }
}

fn rules() -> impl Strategy<Value = Rules> {
    (Just(POOL.to_vec()).prop_shuffle(), 0..=3usize, 0..=2usize)
        .prop_filter("at least one rule", |(_, d, m)| d + m > 0)
        .prop_map(|(names, d, m)| Rules {
            drops: names[..d].to_vec(),
            maps: (0..m)
                .map(|i| (names[d + 2 * i], names[d + 2 * i + 1]))
                .collect(),
        })
}

/// `name` as the IdP might spell it: as is, UPPER, lower, first letter's case flipped.
fn spelled(name: &'static str) -> impl Strategy<Value = String> {
    (0..4usize).prop_map(move |v| match v {
        0 => name.to_string(),
        1 => name.to_ascii_uppercase(),
        2 => name.to_ascii_lowercase(),
        _ => {
            let mut c = name.chars();
            let first = c.next().unwrap();
            let flipped = if first.is_ascii_lowercase() {
                first.to_ascii_uppercase()
            } else {
                first.to_ascii_lowercase()
            };
            std::iter::once(flipped).chain(c).collect()
        }
    })
}

/// A key spelling, or the name qualified with the core User schema URN (RFC 7644 §3.10).
fn attr_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(POOL.to_vec()).prop_flat_map(spelled),
        1 => select(POOL.to_vec())
            .prop_flat_map(spelled)
            .prop_map(|n| format!("urn:ietf:params:scim:schemas:core:2.0:User:{n}")),
    ]
}

/// A PATCH path: a key spelling, or the name qualified with the core User schema URN.
fn patch_path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => attr_key(),
        1 => select(POOL.to_vec())
            .prop_map(|n| format!("urn:ietf:params:scim:schemas:core:2.0:User:{n}")),
    ]
}

/// Pool attributes with string values, no two keys equal ignoring case.
fn attrs() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec((attr_key(), "[a-z]{1,6}"), 1..5).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            if !m.keys().any(|e| e.eq_ignore_ascii_case(&k)) {
                m.insert(k, Value::String(v));
            }
        }
        m
    })
}

/// A user, its pool attributes at the top level or inside a core-URN object.
fn user() -> impl Strategy<Value = Value> {
    (attrs(), any::<bool>()).prop_map(|(a, nested)| {
        let mut m = Map::new();
        m.insert("schemas".into(), json!([SCIM_USER]));
        m.insert("userName".into(), json!("u1"));
        if nested {
            m.insert(SCIM_USER.into(), Value::Object(a));
        } else {
            m.extend(a);
        }
        Value::Object(m)
    })
}

fn one_of(words: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    select(words.to_vec())
}

fn patch_op() -> impl Strategy<Value = Value> {
    let pathed = (
        one_of(&["add", "replace", "remove", "Add", "Replace", "Remove"]),
        one_of(&["op", "Op"]),
        one_of(&["path", "Path"]),
        one_of(&["value", "Value"]),
        patch_path(),
        "[a-z]{1,6}",
    )
        .prop_map(|(op, op_k, path_k, value_k, path, value)| {
            let mut m = Map::new();
            m.insert(op_k.into(), json!(op));
            m.insert(path_k.into(), json!(path));
            if !op.eq_ignore_ascii_case("remove") {
                m.insert(value_k.into(), json!(value));
            }
            Value::Object(m)
        });
    let pathless = (
        one_of(&["add", "replace", "Add", "Replace"]),
        one_of(&["value", "Value"]),
        attrs(),
    )
        .prop_map(|(op, value_k, a)| {
            let mut m = Map::new();
            m.insert("op".into(), json!(op));
            m.insert(value_k.into(), Value::Object(a));
            Value::Object(m)
        });
    prop_oneof![pathed, pathless]
}

fn operations_key() -> impl Strategy<Value = &'static str> {
    one_of(&["Operations", "operations", "OPERATIONS"])
}

fn patch_message() -> impl Strategy<Value = Value> {
    (
        operations_key(),
        proptest::collection::vec(patch_op(), 1..4),
    )
        .prop_map(|(k, ops)| {
            let mut m = Map::new();
            m.insert("schemas".into(), json!([PATCH_OP]));
            m.insert(k.into(), Value::Array(ops));
            Value::Object(m)
        })
}

fn bulk_op() -> impl Strategy<Value = Value> {
    let data = prop_oneof![
        user().prop_map(|u| ("POST", false, u)),
        user().prop_map(|u| ("PUT", true, u)),
        patch_message().prop_map(|p| ("PATCH", true, p)),
    ];
    (
        data,
        one_of(&USERS),
        one_of(&["method", "Method"]),
        one_of(&["path", "Path"]),
        one_of(&["data", "Data"]),
        any::<bool>(),
        0..100u32,
    )
        .prop_map(
            |((method, with_id, body), users, method_k, path_k, data_k, lower, n)| {
                let mut m = Map::new();
                let method = if lower {
                    method.to_ascii_lowercase()
                } else {
                    method.to_string()
                };
                m.insert(method_k.into(), json!(method));
                let path = if with_id {
                    format!("/{users}/id{n}")
                } else {
                    format!("/{users}")
                };
                m.insert(path_k.into(), json!(path));
                m.insert("bulkId".into(), json!(format!("b{n}")));
                m.insert(data_k.into(), body);
                Value::Object(m)
            },
        )
}

/// One request: method, path after the route, JSON body.
#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    bulk: bool,
    rest: String,
    body: Value,
}

fn request() -> impl Strategy<Value = Req> {
    let post = (one_of(&USERS), user()).prop_map(|(u, body)| Req {
        method: "POST",
        bulk: false,
        rest: format!("/{u}"),
        body,
    });
    let put = (one_of(&USERS), user()).prop_map(|(u, body)| Req {
        method: "PUT",
        bulk: false,
        rest: format!("/{u}/id1"),
        body,
    });
    let patch = (one_of(&USERS), patch_message()).prop_map(|(u, body)| Req {
        method: "PATCH",
        bulk: false,
        rest: format!("/{u}/id1"),
        body,
    });
    let bulk = (
        one_of(&BULKS),
        operations_key(),
        proptest::collection::vec(bulk_op(), 1..4),
    )
        .prop_map(|(b, k, ops)| {
            let mut m = Map::new();
            m.insert("schemas".into(), json!([BULK]));
            m.insert(k.into(), Value::Array(ops));
            Req {
                method: "POST",
                bulk: true,
                rest: format!("/{b}"),
                body: Value::Object(m),
            }
        });
    prop_oneof![2 => post, 1 => put, 3 => patch, 3 => bulk]
}

/// The attribute a key or a PATCH path names, lowercased: the core User URN stripped, up to the
/// first `.` or `[`.
fn attr_name(s: &str) -> String {
    let lower = s.trim().to_ascii_lowercase();
    let bare = lower.strip_prefix(CORE_PREFIX).unwrap_or(&lower);
    bare.split(['.', '['])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Every object key and every string under a `path` key (any case) that names a forbidden
/// attribute, with where it is.
fn leaks(v: &Value, forbidden: &[String], at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let here = format!("{at}/{k}");
                if forbidden.contains(&attr_name(k)) {
                    out.push(format!("key {here}"));
                }
                if k.eq_ignore_ascii_case("path") {
                    if let Some(p) = child.as_str() {
                        if forbidden.contains(&attr_name(p)) {
                            out.push(format!("path {here} = {p:?}"));
                        }
                    }
                }
                leaks(child, forbidden, &here, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                leaks(child, forbidden, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Send over a raw socket (nothing normalises the path); the status and the body.
fn send(port: u16, method: &str, target: &str, body: &[u8]) -> (u16, String) {
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    let out = raw(port, &req);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: no HTTP answer: {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn no_request_walks_around_drops_and_maps() {
    let mut runner = TestRunner::default();
    let mut tenants = vec![Rules {
        drops: vec!["password"],
        maps: vec![("title", "userType")],
    }];
    while tenants.len() < TENANTS {
        tenants.push(rules().new_tree(&mut runner).unwrap().current());
    }
    let rec = Recorder::start();
    let files: Vec<(String, String)> = tenants
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!("t{i}.toml"),
                policy(
                    &format!("t{i}"),
                    &format!("/t{i}"),
                    TOKEN,
                    &rec.url(),
                    "",
                    &r.toml(),
                ),
            )
        })
        .collect();
    let files: Vec<(&str, String)> = files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let gw = Gateway::start(&files, &[]);

    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(0..TENANTS, request()), |(t, req)| {
        let rules = &tenants[t];
        let target = format!("/t{t}{}", req.rest);
        let body = req.body.to_string();
        let before = rec.requests().len();
        let (status, answer) = send(gw.port, req.method, &target, body.as_bytes());
        let sent: Vec<Recorded> = rec.requests().split_off(before);
        let what = format!(
            "{} {target} {body}\npolicy of t{t}:\n{}\nanswer {status}: {answer}",
            req.method,
            rules.toml()
        );
        if sent.is_empty() {
            // A refusal, or (PATCH / Bulk whose every operation was dropped) an answer the
            // gateway may make without the target. Never a failure of the gateway itself.
            let self_answered = (200..300).contains(&status) && (req.method == "PATCH" || req.bulk);
            prop_assert!(
                (400..500).contains(&status) || self_answered,
                "nothing reached the target, yet this is not a refusal: {what}"
            );
            return Ok(());
        }
        prop_assert!(
            !(400..500).contains(&status),
            "refused, yet the target received {} request(s): {what}",
            sent.len()
        );
        let forbidden = rules.forbidden();
        for s in &sent {
            let got: Value = serde_json::from_slice(&s.body).map_err(|e| {
                TestCaseError::fail(format!(
                    "the target got a body that is not JSON ({e}): {}\n{what}",
                    String::from_utf8_lossy(&s.body)
                ))
            })?;
            let mut found = Vec::new();
            leaks(&got, &forbidden, "", &mut found);
            prop_assert!(
                found.is_empty(),
                "the target received {:?} at {}: {got}\nleaks: {found:?}\nrequest: {what}",
                forbidden,
                s.target
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
