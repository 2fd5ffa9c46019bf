//! Which path of the admin listener answers what (besides `/metrics`, `/healthz`, `/readyz`,
//! which `proxy::admin` answers itself and which stay open):
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the tenants page |
//! | `GET /tenants/{tenant}` | a tenant and its last exchanges, live |
//! | `GET /tail[?tenant=]` | the live tail of every tenant, or one |
//! | `GET /playground[?tenant=]` | the playground (a served tenant's policy file pre-filled) |
//! | `GET /api/tenants` | the tenants as JSON |
//! | `GET /api/tenants/{tenant}/exchanges` | its last exchanges, newest first, redacted |
//! | `POST /api/translate` | the playground's question ([`super::api`]) |
//! | `GET /api/exchanges/stream[?tenant=]` | the live tail, Server-Sent Events ([`super::sse`]) |
//! | `GET /login`, `POST /login`, `POST /logout` | the browser's session (`--admin-token-env`) |
//! | `GET /assets/console.css`, `/assets/console.js` | the page's style and script |

use super::sse::Tail;
use super::{api, auth, html, view, Console};
use http::{HeaderMap, Method};
use serde_json::{json, Value};

/// The page's style and script, compiled in (no build chain).
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The largest policy file the playground pre-fills.
const MAX_POLICY_PREFILL: u64 = 256 * 1024;

/// One request to the console, read whole (the admin listener reads a body only where
/// [`wants_body`] says so, up to [`api::MAX_QUESTION_BYTES`]).
pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The peer is on this host (127.0.0.0/8, ::1).
    pub peer_loopback: bool,
    pub body: &'a [u8],
}

/// What the console answers.
pub enum Answer {
    Whole {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// A live tail: the admin listener streams it.
    Stream(Tail),
}

/// Does this request have a body the console reads?
pub fn wants_body(method: &Method, path: &str) -> bool {
    method == Method::POST && matches!(path, "/api/translate" | "/login")
}

/// Headers of every HTML page: no inline script, no framing, no caching, no referrer.
fn html_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "text/html; charset=utf-8".into()),
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
                .into(),
        ),
        ("x-content-type-options", "nosniff".into()),
        ("referrer-policy", "no-referrer".into()),
        ("cache-control", "no-store".into()),
        ("x-frame-options", "DENY".into()),
    ]
}

fn page(status: u16, title: &str, body: &str, console: &Console) -> Answer {
    let footer = html::footer(console.ring.as_ref().map(|r| r.usage()));
    Answer::Whole {
        status,
        headers: html_headers(),
        body: html::page(title, body, &footer).into_bytes(),
    }
}

fn json_answer(status: u16, v: &Value) -> Answer {
    Answer::Whole {
        status,
        headers: vec![
            ("content-type", "application/json".into()),
            ("cache-control", "no-store".into()),
            ("x-content-type-options", "nosniff".into()),
        ],
        body: serde_json::to_vec_pretty(v).unwrap_or_default(),
    }
}

fn asset(content_type: &str, body: &str) -> Answer {
    Answer::Whole {
        status: 200,
        headers: vec![
            ("content-type", content_type.into()),
            ("x-content-type-options", "nosniff".into()),
            ("cache-control", "no-cache".into()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

fn redirect(to: &str, cookie: Option<String>) -> Answer {
    let mut headers = vec![
        ("location", to.to_string()),
        ("cache-control", "no-store".into()),
    ];
    if let Some(c) = cookie {
        headers.push(("set-cookie", c));
    }
    Answer::Whole {
        status: 303,
        headers,
        body: Vec::new(),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    h.get(name).map(|v| v.as_bytes())
}

/// Without a token: a loopback peer naming the listener by an IP or `localhost` (a page of
/// another site that rebinds its name to 127.0.0.1 names its own host, and is refused).
fn local_and_by_ip(req: &Request<'_>) -> bool {
    if !req.peer_loopback {
        return false;
    }
    let Some(host) = req.headers.get("host").and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// A query parameter, decoded.
fn param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| {
                percent_encoding::percent_decode_str(&v.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
        .filter(|v| !v.is_empty())
}

impl Console {
    /// Answer one console request.
    pub fn handle(&self, req: &Request<'_>) -> Answer {
        let get = req.method == Method::GET || req.method == Method::HEAD;
        // Open: what the login page itself needs.
        match (get, req.path) {
            (true, "/assets/console.css") => return asset("text/css; charset=utf-8", CSS),
            (true, "/assets/console.js") => return asset("text/javascript; charset=utf-8", JS),
            (true, "/login") => return page(200, "sign in", &html::login(false), self),
            _ => {}
        }
        if req.method == Method::POST && req.path == "/login" {
            return self.login(req.body);
        }
        if req.method == Method::POST && req.path == "/logout" {
            return redirect("/login", Some(auth::clear_cookie()));
        }
        let api = req.path.starts_with("/api/");
        match &self.token {
            Some(token) => {
                let admitted = token.admits(
                    header(req.headers, "authorization"),
                    header(req.headers, "cookie"),
                );
                if !admitted {
                    return unauthorized(api, self);
                }
            }
            None if !local_and_by_ip(req) => {
                let why = "the console answers other hosts, or a host name other than localhost, \
                           only with serve --admin-token-env";
                return if api {
                    json_answer(403, &json!({"error": why}))
                } else {
                    page(403, "forbidden", &html::not_found(why), self)
                };
            }
            None => {}
        }
        if req.method == Method::POST && req.path == "/api/translate" {
            let (status, v) = api::translate(req.body);
            return json_answer(status, &v);
        }
        if !get {
            return if api {
                json_answer(405, &json!({"error": "method not allowed"}))
            } else {
                page(
                    405,
                    "method not allowed",
                    &html::not_found("method not allowed"),
                    self,
                )
            };
        }
        let segments: Vec<&str> = req.path.split('/').skip(1).collect();
        match segments.as_slice() {
            [""] => {
                let (rows, not_loaded) = self.tenants();
                page(200, "tenants", &html::tenants(&rows, &not_loaded), self)
            }
            ["tenants", name] => match self.tenant_view(name) {
                Some((row, xs)) => page(200, name, &html::tenant(&row, &xs), self),
                None => page(404, "not found", &html::not_found("no such tenant"), self),
            },
            ["tail"] => {
                let names = self.names();
                let selected = param(req.query, "tenant");
                page(
                    200,
                    "live tail",
                    &html::tail(&names, selected.as_deref()),
                    self,
                )
            }
            ["playground"] => {
                let names = self.names();
                let selected = param(req.query, "tenant");
                let policy = selected
                    .as_deref()
                    .and_then(|t| self.policy_text(t))
                    .unwrap_or_default();
                page(
                    200,
                    "playground",
                    &html::playground(&names, selected.as_deref(), &policy),
                    self,
                )
            }
            ["api", "tenants"] => {
                let (rows, not_loaded) = self.tenants();
                json_answer(
                    200,
                    &json!({
                        "tenants": rows,
                        "files_not_loaded": not_loaded,
                        "exchanges": self.ring.as_ref().map(|r| r.usage()),
                    }),
                )
            }
            ["api", "tenants", name, "exchanges"] => match self.tenant_view(name) {
                Some((_, xs)) => json_answer(200, &json!({"tenant": name, "exchanges": xs})),
                None => json_answer(404, &json!({"error": "no such tenant"})),
            },
            ["api", "exchanges", "stream"] => self.stream(req),
            _ if api => json_answer(404, &json!({"error": "no such route"})),
            _ => page(404, "not found", &html::not_found("no such page"), self),
        }
    }

    fn login(&self, body: &[u8]) -> Answer {
        let Some(token) = &self.token else {
            return redirect("/", None);
        };
        let presented = body.split(|&b| b == b'&').find_map(|pair| {
            let text = String::from_utf8_lossy(pair);
            let (k, v) = text.split_once('=')?;
            (k == "token").then(|| {
                percent_encoding::percent_decode_str(&v.replace('+', " ")).collect::<Vec<u8>>()
            })
        });
        match presented {
            Some(p) if token.is_token(&p) => redirect("/", Some(token.set_cookie())),
            _ => {
                let mut a = page(401, "sign in", &html::login(true), self);
                if let Answer::Whole { headers, .. } = &mut a {
                    headers.push((
                        "www-authenticate",
                        "Bearer realm=\"scimgate console\"".into(),
                    ));
                }
                a
            }
        }
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .store
            .load()
            .tenants
            .iter()
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        names
    }

    /// A served tenant's row and its exchanges as shown.
    fn tenant_view(&self, name: &str) -> Option<(view::TenantView, Vec<Value>)> {
        let (rows, _) = self.tenants();
        let row = rows.into_iter().find(|r| r.tenant == name)?;
        let xs = self
            .ring
            .as_ref()
            .map(|r| r.tenant(name).iter().map(|x| view::exchange(x)).collect())
            .unwrap_or_default();
        Some((row, xs))
    }

    /// The text of a served tenant's policy file (it holds digests and variable names, never
    /// a secret), for the playground.
    fn policy_text(&self, name: &str) -> Option<String> {
        let policies = self.store.load();
        let t = policies.tenants.iter().find(|t| t.name == name)?;
        let meta = std::fs::metadata(&t.source).ok()?;
        if meta.len() > MAX_POLICY_PREFILL {
            return None;
        }
        std::fs::read_to_string(&t.source).ok()
    }

    fn stream(&self, req: &Request<'_>) -> Answer {
        if self.ring.is_none() {
            return json_answer(404, &json!({"error": "no exchanges are kept"}));
        }
        let Some(slot) = self.tails.take() else {
            let mut a = json_answer(
                503,
                &json!({"error": format!("{} live tails are open already", super::sse::MAX_CLIENTS)}),
            );
            if let Answer::Whole { headers, .. } = &mut a {
                headers.push(("retry-after", "5".into()));
            }
            return a;
        };
        let after = req
            .headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Answer::Stream(Tail {
            tenant: param(req.query, "tenant"),
            after,
            slot,
        })
    }
}

fn unauthorized(api: bool, console: &Console) -> Answer {
    let mut a = if api {
        json_answer(
            401,
            &json!({"error": "the admin token is required: Authorization: Bearer <token>"}),
        )
    } else {
        page(401, "sign in", &html::login(false), console)
    };
    if let Answer::Whole { headers, .. } = &mut a {
        headers.push((
            "www-authenticate",
            "Bearer realm=\"scimgate console\"".into(),
        ));
    }
    a
}
