//! A tenant's policy (drops, maps, sets, Bulk caps, base path) cannot be walked around (issue 10):
//! the path after the route is canonicalised once (`%55sers` is `Users`) and every other
//! spelling that could mean something else to the target is refused; query control parameters
//! are matched decoded and case-insensitively; one Content-Type; every JSON body is parsed once,
//! strictly; PATCH and Bulk messages have the shape RFC 7644 gives them. Every refusal is a SCIM
//! error from the gateway and the target receives nothing. All requests go over raw sockets so
//! that no HTTP client normalises the path, the headers or the body bytes.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const TOKEN: &str = "walkaround-token";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The policed tenant of the security review: password dropped, title → userType, active forced
/// to false, at most 2 Bulk operations.
const RULES: &str = "[limits]\nbulk_max_operations = 2\n\n[[drop]]\npath = \"password\"\n\n[[map]]\nfrom = \"title\"\nto = \"userType\"\n\n[[set]]\npath = \"active\"\nvalue = false\n";

/// The body of the security review.
const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","password":"x","title":"boss","active":true}"#;

/// One gateway with four tenants, each in front of its own recording upstream.
struct Env {
    gw: Gateway,
    /// `/p`: the rules above.
    policed: Recorder,
    /// `/n`: no rules, no dialect.
    plain: Recorder,
    /// `/z`: `profile = "zoom"` (count clamped to 300).
    zoom: Recorder,
    /// `/g`: `profile = "gluu"` (count clamped to 200).
    gluu: Recorder,
}

impl Env {
    fn start() -> Self {
        let (policed, plain, zoom, gluu) = (
            Recorder::start(),
            Recorder::start(),
            Recorder::start(),
            Recorder::start(),
        );
        let gw = Gateway::start(
            &[
                (
                    "p.toml",
                    policy("policed", "/p", TOKEN, &policed.url(), "", RULES),
                ),
                ("n.toml", policy("plain", "/n", TOKEN, &plain.url(), "", "")),
                (
                    "z.toml",
                    policy("zoom", "/z", TOKEN, &zoom.url(), "profile = \"zoom\"", ""),
                ),
                (
                    "g.toml",
                    policy("gluu", "/g", TOKEN, &gluu.url(), "profile = \"gluu\"", ""),
                ),
            ],
            &[],
        );
        Env {
            gw,
            policed,
            plain,
            zoom,
            gluu,
        }
    }

    /// The policed and the plain tenant, with their routes.
    fn both(&self) -> [(&'static str, &Recorder); 2] {
        [("/p", &self.policed), ("/n", &self.plain)]
    }

    fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        send(self.gw.port, method, target, headers, body)
    }
}

/// One request over a raw socket, exactly as written: `target` is the request-target byte for
/// byte. `Content-Type: application/scim+json` is added to a body unless `headers` has one.
fn send(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n"
    )
    .into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if let Some(b) = body {
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req.extend_from_slice(b"Content-Type: application/scim+json\r\n");
        }
        req.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        req.extend_from_slice(b);
    }
    parse_response(&raw(port, &req))
}

fn parse_response(out: &str) -> Resp {
    let (head, body) = out
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {out:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {out:?}"));
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        let (Some(chunk), Some(after)) = (rest.get(..n), rest.get(n..)) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.push_str(chunk);
        s = after.strip_prefix("\r\n").unwrap_or(after);
    }
    out
}

/// What a refusal's `scimType` must be.
#[derive(Clone, Copy)]
enum Kind {
    /// Exactly this one.
    Is(&'static str),
    /// One of RFC 7644's, whichever fits.
    Present,
    /// Not checked.
    Any,
}

/// A SCIM error made by the gateway with one of `statuses`.
fn assert_refused(r: &Resp, statuses: &[u16], kind: Kind, what: &str) {
    assert!(
        statuses.contains(&r.status),
        "{what}: want one of {statuses:?}, got {} {}",
        r.status,
        r.body
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/scim+json"),
        "{what}: {r:?}"
    );
    let v: Value = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("{what}: error body is not JSON ({e}): {}", r.body));
    assert_eq!(v["schemas"], json!([ERROR_SCHEMA]), "{what}: {v}");
    assert_eq!(v["status"], r.status.to_string(), "{what}: {v}");
    match kind {
        Kind::Is(t) => assert_eq!(v["scimType"], t, "{what}: {v}"),
        Kind::Present => assert!(
            v["scimType"].as_str().is_some_and(|t| !t.is_empty()),
            "{what}: a scimType is expected: {v}"
        ),
        Kind::Any => {}
    }
}

fn assert_nothing_sent(rec: &Recorder, what: &str) {
    let seen = rec.requests();
    assert!(
        seen.is_empty(),
        "{what}: the target received {} request(s): {:?}",
        seen.len(),
        seen.iter()
            .map(|r| format!(
                "{} {} {}",
                r.method,
                r.target,
                String::from_utf8_lossy(&r.body)
            ))
            .collect::<Vec<_>>()
    );
}

/// Whether any object key anywhere in `v` equals `name` ignoring ASCII case.
fn has_key(v: &Value, name: &str) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(name) || has_key(v, name)),
        Value::Array(a) => a.iter().any(|v| has_key(v, name)),
        _ => false,
    }
}

/// The user of the security review as the policed tenant must send it: no password, no title,
/// userType "boss", active false.
fn assert_policed_user(user: &Value, what: &str) {
    assert!(
        !has_key(user, "password"),
        "{what}: password leaked: {user}"
    );
    assert!(!has_key(user, "title"), "{what}: title not mapped: {user}");
    assert_eq!(user["userType"], "boss", "{what}: {user}");
    assert_eq!(user["active"], false, "{what}: {user}");
    assert_eq!(user["userName"], "a", "{what}: {user}");
}

fn recorded_json(r: &Recorded) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "the target got a body that is not JSON ({e}): {}",
            String::from_utf8_lossy(&r.body)
        )
    })
}

/// Refused with 400 (scimType not checked), nothing sent, for GET and for a POST of the review's
/// body, on the policed and on the plain tenant.
fn assert_paths_refused(env: &Env, rests: &[&str]) {
    for (route, rec) in env.both() {
        for rest in rests {
            let target = format!("{route}{rest}");
            let r = env.send("GET", &target, &[], None);
            assert_refused(&r, &[400], Kind::Any, &format!("GET {target}"));
            let r = env.send("POST", &target, &[], Some(USER.as_bytes()));
            assert_refused(&r, &[400], Kind::Any, &format!("POST {target}"));
        }
        assert_nothing_sent(rec, route);
    }
}

// ---------------------------------------------------------------------------------------------
// The path after the route
// ---------------------------------------------------------------------------------------------

#[test]
fn percent_encoded_users_is_policed_like_users() {
    let env = Env::start();
    let r = env.send("POST", "/p/%55sers", &[], Some(USER.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env.send("POST", "/p/Users", &[], Some(USER.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = env.policed.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].target, "/base/v2/Users", "the canonical path");
    assert_policed_user(&recorded_json(&seen[0]), "POST /p/%55sers");
    assert_eq!(
        (&seen[0].target, &seen[0].body),
        (&seen[1].target, &seen[1].body),
        "exactly what /p/Users sends"
    );
    // A tenant without rules gets the canonical path too.
    let r = env.send("GET", "/n/%55sers/abc", &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(env.plain.requests()[0].target, "/base/v2/Users/abc");
}

#[test]
fn semicolon_parameters_in_the_path_are_refused() {
    let env = Env::start();
    assert_paths_refused(&env, &["/Users;x=1", "/Users;/abc", "/Users/abc;v=2"]);
}

#[test]
fn double_percent_encoding_is_refused() {
    let env = Env::start();
    assert_paths_refused(
        &env,
        &[
            "/%252e%252e/%252e%252e/admin",
            "/Users/%252fetc",
            "/%2555sers",
        ],
    );
}

#[test]
fn encoded_slash_or_backslash_is_refused() {
    let env = Env::start();
    assert_paths_refused(
        &env,
        &[
            "/Users%2fabc",
            "/Users/a%2Fb",
            "/Users/a%5cb",
            "/Users%5C..%5Cadmin",
        ],
    );
}

#[test]
fn raw_backslash_is_refused() {
    let env = Env::start();
    assert_paths_refused(&env, &["/Users\\abc", "/Users\\..\\..\\admin"]);
}

#[test]
fn empty_segments_are_refused() {
    let env = Env::start();
    assert_paths_refused(&env, &["//Users", "/Users//abc", "/%55sers//abc"]);
}

#[test]
fn dot_segments_are_refused_in_every_encoding() {
    let env = Env::start();
    assert_paths_refused(
        &env,
        &[
            "/./Users",
            "/Users/.",
            "/Users/%2e",
            "/Users/%2E%2e/x",
            "/Users/.%2e/x",
            "/Users/../Groups",
        ],
    );
}

#[test]
fn dot_dot_semicolon_segments_are_refused() {
    let env = Env::start();
    assert_paths_refused(
        &env,
        &[
            "/Users/..;/..;/admin",
            "/..;/admin",
            "/Users/.;/abc",
            "/Users/%2e%2e;/x",
        ],
    );
}

#[test]
fn overlong_utf8_dots_are_refused() {
    let env = Env::start();
    assert_paths_refused(
        &env,
        &[
            "/Users/%c0%ae%c0%ae/x",
            "/Users/%e0%80%ae%e0%80%ae/x",
            "/Users/%c0%af",
        ],
    );
}

#[test]
fn invalid_utf8_in_the_path_is_refused() {
    let env = Env::start();
    assert_paths_refused(&env, &["/Users/%ff", "/Users/ab%c3", "/Users/%ed%a0%80"]);
}

#[test]
fn control_characters_in_the_path_are_refused() {
    let env = Env::start();
    assert_paths_refused(
        &env,
        &[
            "/Users/%00",
            "/Users/a%0d%0aX-Injected:%201",
            "/Users/%1b",
            "/Users/%7f",
            "/Users/%09",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// The query
// ---------------------------------------------------------------------------------------------

/// The decoded values of every parameter of `target`'s query whose decoded name is `name`
/// ignoring case.
fn query_values(target: &str, name: &str) -> Vec<String> {
    let Some((_, q)) = target.split_once('?') else {
        return vec![];
    };
    let decode =
        |s: &str| String::from_utf8(percent_decode(s)).unwrap_or_else(|_| panic!("not UTF-8: {s}"));
    q.split('&')
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            decode(k).eq_ignore_ascii_case(name).then(|| decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    out
}

fn assert_count_clamped(rec: &Recorder, max: &str, what: &str) {
    let seen = rec.requests();
    assert_eq!(seen.len(), 1, "{what}: {seen:?}");
    assert_eq!(
        query_values(&seen[0].target, "count"),
        vec![max.to_string()],
        "{what}: the target got {}",
        seen[0].target
    );
    assert!(
        seen[0].target.starts_with("/base/v2/Users?"),
        "{}",
        seen[0].target
    );
}

#[test]
fn an_encoded_count_is_clamped_for_zoom() {
    let env = Env::start();
    let r = env.send("GET", "/z/Users?co%75nt=100000", &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_count_clamped(&env.zoom, "300", "zoom co%75nt=100000");
}

#[test]
fn an_encoded_count_is_clamped_for_gluu() {
    let env = Env::start();
    let r = env.send("GET", "/g/Users?startIndex=1&%43%4FUNT=100000", &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_count_clamped(&env.gluu, "200", "gluu %43%4FUNT=100000");
}

#[test]
fn a_control_parameter_given_twice_is_refused() {
    let env = Env::start();
    let params = [
        ("filter", "userName%20eq%20%22a%22"),
        ("count", "1"),
        ("startIndex", "1"),
        ("attributes", "userName"),
        ("excludedAttributes", "title"),
        ("sortBy", "userName"),
        ("sortOrder", "ascending"),
    ];
    for (route, rec) in env.both() {
        for (name, value) in params {
            let target = format!("{route}/Users?{name}={value}&{name}={value}");
            let r = env.send("GET", &target, &[], None);
            assert_refused(&r, &[400], Kind::Any, &target);
        }
        assert_nothing_sent(rec, route);
    }
}

#[test]
fn a_control_parameter_given_twice_in_another_case_or_encoding_is_refused() {
    let env = Env::start();
    let queries = [
        "count=1&COUNT=2",
        "count=1&co%75nt=2",
        "filter=userName%20eq%20%22a%22&Filter=userName%20eq%20%22b%22",
        "%66ilter=userName%20eq%20%22a%22&filter=userName%20eq%20%22b%22",
        "startIndex=1&startindex=2",
        "attributes=userName&ATTRIBUTES=password",
        "excludedAttributes=title&excludedattributes=userType",
        "sortBy=userName&SORTBY=title",
        "sortOrder=ascending&%73ortOrder=descending",
    ];
    for (route, rec) in env.both() {
        for q in queries {
            let target = format!("{route}/Users?{q}");
            let r = env.send("GET", &target, &[], None);
            assert_refused(&r, &[400], Kind::Any, &target);
        }
        assert_nothing_sent(rec, route);
    }
    // The zoom tenant too: a second, unclamped count does not slip past the clamp.
    let r = env.send("GET", "/z/Users?count=10&co%75nt=100000", &[], None);
    assert_refused(&r, &[400], Kind::Any, "zoom count twice");
    assert_nothing_sent(&env.zoom, "/z");
}

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

#[test]
fn two_content_type_headers_are_refused() {
    let env = Env::start();
    for (route, rec) in env.both() {
        for pair in [
            ["application/scim+json", "application/scim+json"],
            ["application/scim+json", "text/plain"],
            ["text/plain", "application/scim+json"],
        ] {
            let r = env.send(
                "POST",
                &format!("{route}/Users"),
                &[("Content-Type", pair[0]), ("Content-Type", pair[1])],
                Some(USER.as_bytes()),
            );
            assert_refused(&r, &[400, 415], Kind::Any, &format!("{route} {pair:?}"));
        }
        assert_nothing_sent(rec, route);
    }
}

// ---------------------------------------------------------------------------------------------
// JSON bodies: parsed once, strictly, for every tenant
// ---------------------------------------------------------------------------------------------

/// Each body is refused with 400 invalidSyntax on both tenants and nothing is sent.
fn assert_bodies_refused(env: &Env, method: &str, rest: &str, bodies: &[&[u8]]) {
    for (route, rec) in env.both() {
        for body in bodies {
            let target = format!("{route}{rest}");
            let r = env.send(method, &target, &[], Some(body));
            assert_refused(
                &r,
                &[400],
                Kind::Is("invalidSyntax"),
                &format!("{method} {target} {}", String::from_utf8_lossy(body)),
            );
        }
        assert_nothing_sent(rec, route);
    }
}

#[test]
fn invalid_utf8_inside_a_json_string_is_refused() {
    let env = Env::start();
    assert_bodies_refused(
        &env,
        "POST",
        "/Users",
        &[
            b"{\"userName\":\"a\xffb\",\"password\":\"x\"}",
            b"{\"userName\":\"a\",\"pass\xc0\xafword\":\"x\"}",
        ],
    );
}

#[test]
fn lone_surrogates_are_refused() {
    let env = Env::start();
    assert_bodies_refused(
        &env,
        "POST",
        "/Users",
        &[
            br#"{"userName":"\ud800","password":"x"}"#,
            br#"{"userName":"a\udc00b"}"#,
            br#"{"userName":"a","pass\ud800word":"x"}"#,
        ],
    );
}

#[test]
fn numbers_out_of_range_are_refused() {
    let env = Env::start();
    assert_bodies_refused(
        &env,
        "POST",
        "/Users",
        &[
            br#"{"userName":"a","x":1e400}"#,
            br#"{"userName":"a","x":-1e400}"#,
            br#"{"userName":"a","name":{"x":[1e400]}}"#,
        ],
    );
}

#[test]
fn exact_duplicate_keys_are_refused() {
    let env = Env::start();
    assert_bodies_refused(
        &env,
        "POST",
        "/Users",
        &[
            br#"{"userName":"a","userName":"b"}"#,
            br#"{"userName":"a","name":{"givenName":"x","givenName":"y"}}"#,
        ],
    );
}

#[test]
fn keys_equal_ignoring_case_are_refused() {
    let env = Env::start();
    assert_bodies_refused(
        &env,
        "POST",
        "/Users",
        &[
            br#"{"userName":"a","password":"x","PASSWORD":"y"}"#,
            br#"{"userName":"a","title":"x","Title":"y"}"#,
            br#"{"userName":"a","name":{"givenName":"x","GIVENNAME":"y"}}"#,
        ],
    );
}

#[test]
fn a_bulk_with_operations_and_operations_is_refused() {
    let env = Env::start();
    let body = format!(
        r#"{{"schemas":["{BULK}"],"operations":[{{"method":"POST","path":"/Users","bulkId":"a","data":{{"userName":"a"}}}}],"Operations":[{{"method":"POST","path":"/Users","bulkId":"b","data":{{"userName":"b","password":"x"}}}}]}}"#
    );
    assert_bodies_refused(&env, "POST", "/Bulk", &[body.as_bytes()]);
}

#[test]
fn a_bulk_operation_with_path_and_path_upper_is_refused() {
    let env = Env::start();
    let body = format!(
        r#"{{"schemas":["{BULK}"],"Operations":[{{"method":"POST","path":"/Users","PATH":"/../../admin/x","bulkId":"a","data":{{"userName":"a","password":"x"}}}}]}}"#
    );
    assert_bodies_refused(&env, "POST", "/Bulk", &[body.as_bytes()]);
}

#[test]
fn a_patch_operation_with_path_and_path_upper_is_refused() {
    let env = Env::start();
    let body = format!(
        r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace","path":"nickName","PATH":"password","value":"x"}}]}}"#
    );
    assert_bodies_refused(&env, "PATCH", "/Users/abc", &[body.as_bytes()]);
}

#[test]
fn a_patch_value_with_password_and_password_capitalised_is_refused() {
    let env = Env::start();
    let body = format!(
        r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add","value":{{"password":"x","Password":"y"}}}}]}}"#
    );
    assert_bodies_refused(&env, "PATCH", "/Users/abc", &[body.as_bytes()]);
}

// ---------------------------------------------------------------------------------------------
// PATCH and Bulk message shapes, for a tenant that translates
// ---------------------------------------------------------------------------------------------

fn assert_policed_refuses(env: &Env, method: &str, rest: &str, bodies: &[Value], kind: Kind) {
    for body in bodies {
        let target = format!("/p{rest}");
        let r = env.send(method, &target, &[], Some(body.to_string().as_bytes()));
        assert_refused(&r, &[400], kind, &format!("{method} {target} {body}"));
    }
    assert_nothing_sent(&env.policed, "/p");
}

#[test]
fn patch_operations_that_are_not_an_array_are_refused() {
    let env = Env::start();
    assert_policed_refuses(
        &env,
        "PATCH",
        "/Users/abc",
        &[
            json!({"schemas": [PATCH_OP], "Operations": {"op": "add", "path": "password", "value": "x"}}),
            json!({"schemas": [PATCH_OP], "Operations": "add password"}),
            json!({"schemas": [PATCH_OP], "Operations": null}),
        ],
        Kind::Is("invalidSyntax"),
    );
}

#[test]
fn unknown_patch_ops_are_refused() {
    let env = Env::start();
    let bodies: Vec<Value> = [json!("replace "), json!(["add"]), json!("upsert"), json!(null), json!(1)]
        .into_iter()
        .map(|op| json!({"schemas": [PATCH_OP], "Operations": [{"op": op, "path": "password", "value": "x"}]}))
        .collect();
    assert_policed_refuses(&env, "PATCH", "/Users/abc", &bodies, Kind::Present);
}

#[test]
fn remove_without_path_is_refused() {
    let env = Env::start();
    assert_policed_refuses(
        &env,
        "PATCH",
        "/Users/abc",
        &[
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove"}]}),
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "value": {"password": "x"}}]}),
        ],
        // RFC 7644 §3.5.2.2: "If "path" is unspecified, … "scimType" error code of "noTarget"".
        Kind::Is("noTarget"),
    );
}

#[test]
fn bulk_operations_that_are_not_an_array_are_refused() {
    let env = Env::start();
    assert_policed_refuses(
        &env,
        "POST",
        "/Bulk",
        &[
            json!({"schemas": [BULK], "Operations": {"method": "POST", "path": "/Users", "data": {"userName": "a", "password": "x"}}}),
            json!({"schemas": [BULK], "Operations": "POST /Users"}),
        ],
        Kind::Is("invalidSyntax"),
    );
}

#[test]
fn bulk_operations_without_method_or_path_are_refused() {
    let env = Env::start();
    assert_policed_refuses(
        &env,
        "POST",
        "/Bulk",
        &[
            json!({"schemas": [BULK], "Operations": [{"path": "/Users", "bulkId": "a", "data": {"userName": "a", "password": "x"}}]}),
            json!({"schemas": [BULK], "Operations": [{"method": "POST", "bulkId": "a", "data": {"userName": "a", "password": "x"}}]}),
            json!({"schemas": [BULK], "Operations": [{"method": ["POST"], "path": "/Users", "bulkId": "a", "data": {"userName": "a"}}]}),
        ],
        Kind::Present,
    );
}

// ---------------------------------------------------------------------------------------------
// Bulk paths and the Bulk endpoint
// ---------------------------------------------------------------------------------------------

fn user_data() -> Value {
    serde_json::from_str(USER).unwrap()
}

#[test]
fn a_bulk_operation_on_percent_encoded_users_is_policed() {
    let env = Env::start();
    let bulk = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/%55sers", "bulkId": "a", "data": user_data()}
    ]});
    let r = env.send("POST", "/p/Bulk", &[], Some(bulk.to_string().as_bytes()));
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = env.policed.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/base/v2/Bulk");
    let sent = recorded_json(&seen[0]);
    let op = &sent["Operations"][0];
    let path = op["path"].as_str().unwrap_or_else(|| panic!("{sent}"));
    assert_eq!(
        String::from_utf8(percent_decode(path)).unwrap(),
        "/Users",
        "{sent}"
    );
    assert_policed_user(&op["data"], "bulk op /%55sers");
}

#[test]
fn a_bulk_operation_path_with_dot_dot_semicolon_is_refused() {
    let env = Env::start();
    for (route, rec) in env.both() {
        for path in ["/Users/..;/x", "/Users/..;/..;/admin", "/%55sers;x=1"] {
            let bulk = json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": path, "bulkId": "a", "data": user_data()}
            ]});
            let r = env.send(
                "POST",
                &format!("{route}/Bulk"),
                &[],
                Some(bulk.to_string().as_bytes()),
            );
            assert_refused(
                &r,
                &[400],
                Kind::Is("invalidPath"),
                &format!("{route} {path}"),
            );
        }
        assert_nothing_sent(rec, route);
    }
}

#[test]
fn a_percent_encoded_bulk_endpoint_is_policed_like_bulk() {
    let env = Env::start();
    let ops: Vec<Value> = (0..3)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": user_data()}))
        .chain([json!({"method": "DELETE", "path": "/../../admin/x"})])
        .collect();
    let over = json!({"schemas": [BULK], "Operations": ops}).to_string();
    let r = env.send("POST", "/p/%42ulk", &[], Some(over.as_bytes()));
    match r.status {
        413 => assert_refused(
            &r,
            &[413],
            Kind::Any,
            "POST /p/%42ulk, 4 ops over a cap of 2",
        ),
        _ => assert_refused(
            &r,
            &[400],
            Kind::Is("invalidPath"),
            "POST /p/%42ulk with /../../admin/x",
        ),
    }
    let canonical = env.send("POST", "/p/Bulk", &[], Some(over.as_bytes()));
    assert_eq!(
        r.status, canonical.status,
        "the same answer as /p/Bulk: {}",
        canonical.body
    );
    assert_nothing_sent(&env.policed, "4 ops to /p/%42ulk");

    // Under the cap it is forwarded to the canonical path, policed.
    let one = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user_data()}
    ]});
    let r = env.send("POST", "/p/%42ulk", &[], Some(one.to_string().as_bytes()));
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = env.policed.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/base/v2/Bulk");
    assert_policed_user(
        &recorded_json(&seen[0])["Operations"][0]["data"],
        "POST /p/%42ulk",
    );
}

#[test]
fn urn_qualified_keys_are_policed_like_plain_ones() {
    // RFC 7644 §3.10: a name may be written qualified by its schema URN. Every such spelling of
    // password and title meets the drop and the map.
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let env = Env::start();
    let bodies = [
        json!({"schemas": [core], "userName": "a", format!("{core}:password"): "x",
            format!("{core}:title"): "boss", "active": true}),
        json!({"schemas": [core], "userName": "a", "active": true,
            core: {"PASSWORD": "x", "title": "boss"}}),
        json!({"schemas": [core], "userName": "a", "active": true,
            core: {format!("{core}:password"): "x", core: {"Title": "boss"}}}),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let r = env.send("POST", "/p/Users", &[], Some(body.to_string().as_bytes()));
        assert_eq!(r.status, 200, "{i}: {}", r.body);
        let seen = env.policed.requests();
        let sent = recorded_json(seen.last().unwrap());
        let keys = sent.as_object().unwrap().keys();
        assert!(
            !keys.into_iter().any(|k| k.starts_with(core)),
            "{i}: {sent}"
        );
        assert_policed_user(&sent, &format!("body {i}"));
    }
    // A path-less PATCH value too: every operation dropped, nothing left to send.
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "value": {format!("{core}:password"): "x"}}]});
    let before = env.policed.requests().len();
    let r = env.send(
        "PATCH",
        "/p/Users/1",
        &[],
        Some(patch.to_string().as_bytes()),
    );
    assert!(
        r.status == 204 || r.status == 200,
        "{} {}",
        r.status,
        r.body
    );
    for seen in env.policed.requests().iter().skip(before) {
        assert!(!has_key(&recorded_json(seen), &format!("{core}:password")));
    }
}

#[test]
fn one_attribute_in_two_spellings_is_refused() {
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let env = Env::start();
    for body in [
        json!({"userName": "a", "password": "x", format!("{core}:PASSWORD"): "y"}),
        json!({"userName": "a", "title": "a", core: {"Title": "b"}}),
    ] {
        let r = env.send("POST", "/p/Users", &[], Some(body.to_string().as_bytes()));
        assert_refused(&r, &[400], Kind::Is("invalidSyntax"), &body.to_string());
    }
    assert_nothing_sent(&env.policed, "two spellings of one attribute");
}

#[test]
fn dotted_and_odd_keys_are_read_as_paths_or_refused() {
    // A key that is an attribute path is policed as that path; one that is no attribute name
    // at all (`"password "`, or a dotted key that is no path, found by fuzzing) is refused:
    // a lenient target could read it as the dropped attribute.
    let env = Env::start();
    let patch = |value: Value| {
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": value}]})
            .to_string()
    };
    let r = env.send(
        "PATCH",
        "/p/Users/1",
        &[],
        Some(patch(json!({"name.givenName": "A", "title": "boss"})).as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = recorded_json(env.policed.requests().last().unwrap());
    let text = sent.to_string();
    assert!(text.contains(r#""name":{"givenName":"A"}"#), "{text}");
    assert!(
        !has_key(&sent, "title") && text.contains("userType"),
        "{text}"
    );
    let before = env.policed.requests().len();
    for value in [
        json!({"password ": "x"}),
        json!({"password.0:User%2-0and%2": {"manager": ""}}),
        json!({"pass word": "x"}),
    ] {
        let r = env.send(
            "PATCH",
            "/p/Users/1",
            &[],
            Some(patch(value.clone()).as_bytes()),
        );
        assert_refused(&r, &[400], Kind::Is("invalidPath"), &value.to_string());
        let r = env.send(
            "POST",
            "/p/Users",
            &[],
            Some(
                json!({"userName": "a"})
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.extend(value.as_object().unwrap().clone());
                        Value::Object(o).to_string()
                    })
                    .unwrap()
                    .as_bytes(),
            ),
        );
        assert_refused(&r, &[400], Kind::Is("invalidPath"), &value.to_string());
    }
    assert_eq!(env.policed.requests().len(), before, "nothing sent");
}
