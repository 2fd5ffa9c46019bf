//! The console's routes without sockets: what each page and API answers, who may see it, and
//! that nothing from a request can become markup.

use super::record::{Draft, Outcome};
use super::routes::{Answer, Request};
use super::*;
use crate::policy::Policies;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn tenant(name: &str, pii: bool) -> crate::policy::Tenant {
    let src = format!(
        "tenant = \"{name}\"\nroute = \"/{name}/scim/v2\"\nidp = \"entra\"\n[auth]\nbearer_sha256 = [\"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"]\n[upstream]\nurl = \"http://127.0.0.1:9/v2\"\n[log]\npii = {pii}\n"
    );
    crate::policy::compile::compile_file(Path::new(&format!("{name}.toml")), &src).unwrap()
}

fn console(token: Option<&str>) -> Console {
    let store = Arc::new(PolicyStore::new(Policies::new(vec![
        tenant("plain", false),
        tenant("open", true),
    ])));
    let ring = Ring::new(ring::Limits::default());
    for (t, pii) in [("plain", false), ("open", true)] {
        let mut d = Draft::default();
        let path = format!("/{t}/scim/v2/Users");
        d.start();
        d.idp_body(&bytes::Bytes::copy_from_slice(
            br#"{"userName":"<script>alert('x')</script>@example.com","active":"True"}"#,
        ));
        d.upstream(
            &Method::POST,
            "/v2/Users",
            Some(&bytes::Bytes::from_static(
                br#"{"userName":"<script>alert('x')</script>@example.com","active":true}"#,
            )),
        );
        ring.insert_now(
            d.finish(Outcome {
                method: &Method::POST,
                path: &path,
                query: None,
                tenant: t,
                pii,
                resource: "Users",
                upstream_status: Some(201),
                upstream_ms: Some(2.0),
                rules: 1,
                status: 201,
                answer: br#"{"id":"42"}"#,
                elapsed: Duration::from_millis(3),
            })
            .unwrap(),
        );
    }
    Console::new(
        store,
        Some(ring),
        Arc::new(crate::ratelimit::Backoff::new()),
        token.map(|t| auth::AdminToken::new(t.as_bytes())),
    )
}

struct Got {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

fn ask(c: &Console, method: Method, target: &str, headers: &[(&str, &str)], body: &str) -> Got {
    ask_from(c, true, method, target, headers, body)
}

fn ask_from(
    c: &Console,
    loopback: bool,
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Got {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("127.0.0.1:9090"));
    for (k, v) in headers {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let req = Request {
        method: &method,
        path,
        query,
        headers: &h,
        peer_loopback: loopback,
        body: body.as_bytes(),
    };
    match c.handle(&req) {
        Answer::Whole {
            status,
            headers,
            body,
        } => Got {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        },
        Answer::Stream(_) => Got {
            status: 0,
            headers: Vec::new(),
            body: "stream".into(),
        },
    }
}

#[test]
fn the_tenants_page_lists_every_tenant() {
    let c = console(None);
    let g = ask(&c, Method::GET, "/", &[], "");
    assert_eq!(g.status, 200);
    assert!(g
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    for t in ["plain", "open", "/plain/scim/v2", "entra", "plain.toml"] {
        assert!(g.body.contains(t), "{t} missing");
    }
    let api = ask(&c, Method::GET, "/api/tenants", &[], "").json();
    let rows = api["tenants"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["tenant"], "open");
    assert_eq!(rows[0]["content_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(rows[0]["guard"], Value::Null);
    assert_eq!(rows[1]["exchanges"], 1);
    assert_eq!(api["exchanges"]["records"], 2);
}

#[test]
fn markup_from_a_request_is_text_on_every_page() {
    let c = console(None);
    let g = ask(&c, Method::GET, "/tenants/open", &[], "");
    assert_eq!(g.status, 200);
    assert!(!g.body.contains("<script>alert"), "{}", g.body);
    assert!(g
        .body
        .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;@example.com"));
    // The same exchange of a tenant without pii: redacted.
    let g = ask(&c, Method::GET, "/tenants/plain", &[], "");
    assert!(!g.body.contains("alert"), "{}", g.body);
    assert!(g.body.contains(record::REDACTED));
    // Both legs are there.
    assert!(g.body.contains("IdP sent") && g.body.contains("Target got"));
    let x = ask(&c, Method::GET, "/api/tenants/plain/exchanges", &[], "").json();
    assert_eq!(x["exchanges"][0]["upstream"]["body"]["active"], true);
    assert_eq!(x["exchanges"][0]["idp"]["body"]["active"], "True");
    assert_eq!(ask(&c, Method::GET, "/tenants/nope", &[], "").status, 404);
    assert_eq!(
        ask(&c, Method::GET, "/api/tenants/nope/exchanges", &[], "").status,
        404
    );
    // A tenant name in the URL is escaped where it is echoed.
    let g = ask(&c, Method::GET, "/tail?tenant=%3Cb%3E", &[], "");
    assert!(!g.body.contains("<b>") && g.body.contains("&lt;b&gt;"));
}

#[test]
fn without_a_token_only_loopback_by_ip_or_localhost() {
    let c = console(None);
    assert_eq!(ask_from(&c, false, Method::GET, "/", &[], "").status, 403);
    assert_eq!(
        ask_from(&c, false, Method::GET, "/api/tenants", &[], "").status,
        403
    );
    let rebinding = ask(&c, Method::GET, "/", &[("host", "evil.example:9090")], "");
    assert_eq!(rebinding.status, 403);
    for host in ["localhost:9090", "[::1]:9090", "127.0.0.1"] {
        assert_eq!(
            ask(&c, Method::GET, "/", &[("host", host)], "").status,
            200,
            "{host}"
        );
    }
}

#[test]
fn with_a_token_the_console_needs_it() {
    let token = "an-admin-token-of-some-length";
    let c = console(Some(token));
    for path in [
        "/",
        "/tenants/plain",
        "/api/tenants",
        "/api/exchanges/stream",
    ] {
        let g = ask_from(&c, false, Method::GET, path, &[], "");
        assert_eq!(g.status, 401, "{path}");
        assert!(g.header("www-authenticate").unwrap().starts_with("Bearer"));
    }
    let g = ask(&c, Method::POST, "/api/translate", &[], "{}");
    assert_eq!(g.status, 401);
    let bearer = format!("Bearer {token}");
    let g = ask_from(
        &c,
        false,
        Method::GET,
        "/api/tenants",
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(g.status, 200);
    // Assets and the sign-in stay open; a wrong token is refused, the right one sets a cookie.
    assert_eq!(
        ask(&c, Method::GET, "/assets/console.js", &[], "").status,
        200
    );
    assert_eq!(
        ask(&c, Method::POST, "/login", &[], "token=wrong").status,
        401
    );
    let g = ask(&c, Method::POST, "/login", &[], &format!("token={token}"));
    assert_eq!(g.status, 303);
    let cookie = g.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains(token));
    let pair = cookie.split(';').next().unwrap().to_string();
    let g = ask_from(&c, false, Method::GET, "/", &[("cookie", &pair)], "");
    assert_eq!(g.status, 200);
    assert!(!g.body.contains(token));
}

#[test]
fn the_playground_and_the_tail() {
    let c = console(None);
    let g = ask(&c, Method::GET, "/playground", &[], "");
    assert_eq!(g.status, 200);
    assert!(g.body.contains("pg-policy"));
    let q = serde_json::json!({"policy": "tenant = \"x\"", "request": {"method": "GET", "path": "/Users"}});
    let g = ask(&c, Method::POST, "/api/translate", &[], &q.to_string());
    assert_eq!(g.status, 400);
    assert!(g.json()["policy_errors"].is_array());
    // Live tails are bounded.
    let tails: Vec<Answer> = (0..sse::MAX_CLIENTS)
        .map(|_| {
            let h = HeaderMap::new();
            c.handle(&Request {
                method: &Method::GET,
                path: "/api/exchanges/stream",
                query: Some("tenant=plain"),
                headers: &h,
                peer_loopback: true,
                body: b"",
            })
        })
        .collect();
    assert!(tails.iter().all(|t| matches!(t, Answer::Stream(_))));
    let g = ask(&c, Method::GET, "/api/exchanges/stream", &[], "");
    assert_eq!(g.status, 503);
    drop(tails);
    assert_eq!(
        ask(&c, Method::GET, "/api/exchanges/stream", &[], "").status,
        0
    );
    assert_eq!(ask(&c, Method::DELETE, "/", &[], "").status, 405);
    assert_eq!(ask(&c, Method::GET, "/api/nothing", &[], "").status, 404);
}

#[test]
fn a_live_tail_event_carries_the_escaped_fragment() {
    let c = console(None);
    let ring = c.ring.as_ref().unwrap();
    let r = ring.tenant("open").into_iter().next().unwrap();
    let e = sse::event(&r);
    assert!(e.starts_with(&format!("id: {}\nevent: exchange\ndata: {{", r.seq)));
    assert!(e.ends_with("\n\n") && e.matches('\n').count() == 4, "{e}");
    let data: Value =
        serde_json::from_str(e.lines().nth(2).unwrap().trim_start_matches("data: ")).unwrap();
    let html = data["html"].as_str().unwrap();
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
}

#[test]
fn the_guard_state_is_shown_armed_or_tripped() {
    let src = "tenant = \"guarded-console\"\nroute = \"/g/scim/v2\"\n[auth]\nbearer_sha256 = [\"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"]\n[upstream]\nurl = \"http://127.0.0.1:9/v2\"\n[guard]\nmax_deletes = 50\nwindow_s = 600\n";
    let t = crate::policy::compile::compile_file(Path::new("g.toml"), src).unwrap();
    assert_eq!(
        view::tenant_row(&t).guard.as_deref(),
        Some("armed (enforce, 50 per 600 s)")
    );
    crate::telemetry::metrics::GUARD_TRIPPED
        .with_label_values(&["guarded-console"])
        .set(1);
    assert_eq!(
        view::tenant_row(&t).guard.as_deref(),
        Some("tripped (enforce, 50 per 600 s)")
    );
    assert_eq!(view::tenant_row(&tenant("plain", false)).guard, None);
}
