//! The admin listener: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers),
//! `GET /readyz` (policies are loaded, at least one tenant is served, and the IdP listeners
//! accept connections; then one line per policy file the last reload could not load, e.g.
//! `stale: acme (policies/acme.toml:12:5: error[E001]: …)`, which does not make it unready).
//! These three are always open. Every other path is the console ([`crate::console`]): this
//! file reads the request (a body only where the console wants one, bounded) and writes what
//! the console answers, or streams a live tail (Server-Sent Events). Pingora's `ServeHttp`
//! answers whole responses only, so the listener is its own `HttpServerApp`.

use crate::console::routes::{self, Answer, Request};
use crate::console::{sse, Console};
use crate::policy::store::PolicyStore;
use crate::scim::error::ScimError;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::{HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;

/// How long a request body may take to arrive on the admin listener.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write to an admin client may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds an admin keep-alive connection may idle.
const KEEPALIVE_S: u64 = 60;

pub struct Admin {
    pub store: Arc<PolicyStore>,
    /// The IdP listeners: ready means they accept connections too (Pingora starts its services
    /// side by side, so the admin listener can be up first).
    pub listeners: Vec<std::net::SocketAddr>,
    /// The console and its API.
    pub console: Arc<Console>,
    /// The deletion guard, for `POST /admin/tenants/{tenant}/guard/release`.
    pub guard: Arc<crate::guard::Guard>,
}

/// A whole answer.
struct Whole {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Admin {
    async fn listeners_up(&self) -> bool {
        for addr in &self.listeners {
            let mut target = *addr;
            if target.ip().is_unspecified() {
                target.set_ip(match target {
                    std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let connect = tokio::net::TcpStream::connect(target);
            match tokio::time::timeout(Duration::from_millis(500), connect).await {
                Ok(Ok(_)) => {}
                _ => return false,
            }
        }
        true
    }

    /// `/metrics`, `/healthz`, `/readyz`, or `None` for the console.
    async fn open_route(&self, method: &http::Method, path: &str) -> Option<Whole> {
        let get = method == http::Method::GET || method == http::Method::HEAD;
        Some(match (get, path) {
            (true, "/metrics") => reply(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                crate::telemetry::metrics::render(),
            ),
            (true, "/healthz") => reply(200, "text/plain; charset=utf-8", b"ok\n".to_vec()),
            (true, "/readyz") => {
                let tenants = self.store.load().tenants.len();
                let (status, mut body) = if tenants > 0 && !self.listeners_up().await {
                    (503, "not ready: listeners starting\n".to_string())
                } else if tenants > 0 {
                    (200, format!("ready: {tenants} tenants\n"))
                } else {
                    (503, "not ready: no tenants\n".to_string())
                };
                // What the last reload could not load: it serves on without it.
                for problem in self.store.problems().iter() {
                    body.push_str(&format!("{problem}\n"));
                }
                reply(status, "text/plain; charset=utf-8", body.into_bytes())
            }
            (false, "/metrics" | "/healthz" | "/readyz") => {
                let e = ScimError::new(405, None, "only GET is served here");
                reply(405, "application/scim+json", e.body())
            }
            _ => return None,
        })
    }

    /// Stream a live tail until the client leaves, the ring closes or the server stops.
    async fn tail(&self, http: &mut ServerSession, tail: sse::Tail, shutdown: &ShutdownWatch) {
        let Some(ring) = self.console.ring.clone() else {
            return;
        };
        // Subscribe first, so nothing falls between the replay and the live events.
        let mut events = ring.subscribe();
        http.set_keepalive(None);
        let mut head = match ResponseHeader::build(200, Some(6)) {
            Ok(h) => h,
            Err(_) => return,
        };
        for (k, v) in [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("x-accel-buffering", "no"),
            ("transfer-encoding", "chunked"),
        ] {
            if head.insert_header(k, v).is_err() {
                return;
            }
        }
        if http.write_response_header(Box::new(head)).await.is_err() {
            return;
        }
        let mut last = 0;
        let mut out = String::from(sse::preamble());
        if let Some(after) = tail.after {
            for r in ring.after(after, tail.tenant.as_deref()) {
                out.push_str(&sse::event(&r));
                last = r.seq;
            }
        }
        if send(http, out).await.is_err() {
            return;
        }
        let mut stop = shutdown.clone();
        loop {
            let chunk = tokio::select! {
                got = events.recv() => match got {
                    Ok(r) if tail.wants(&r) && r.seq > last => {
                        last = r.seq;
                        sse::event(&r)
                    }
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => sse::lagged(n),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                () = tokio::time::sleep(sse::HEARTBEAT) => sse::heartbeat().to_string(),
                _ = stop.changed() => break,
            };
            if send(http, chunk).await.is_err() {
                return;
            }
        }
        let _ = http.write_response_body(Bytes::new(), true).await;
    }
}

async fn send(http: &mut ServerSession, text: String) -> pingora::Result<()> {
    http.write_response_body(Bytes::from(text), false).await
}

/// The request body, whole, up to `limit` bytes within [`BODY_TIMEOUT`]; `None` when it is
/// larger, too slow or broken.
async fn read_body(http: &mut ServerSession, limit: usize) -> Option<Vec<u8>> {
    let read = async {
        let mut buf = Vec::new();
        loop {
            match http.read_request_body().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > limit {
                        return None;
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => return Some(buf),
                Err(_) => return None,
            }
        }
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .ok()
        .flatten()
}

#[async_trait]
impl HttpServerApp for Admin {
    async fn process_new_http(
        self: &Arc<Self>,
        mut http: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match http.read_request().await {
            Ok(true) => {}
            _ => return None,
        }
        http.set_keepalive(if *shutdown.borrow() {
            None
        } else {
            Some(KEEPALIVE_S)
        });
        http.set_write_timeout(Some(WRITE_TIMEOUT));
        let head = http.req_header().clone();
        let (method, path, query) = (&head.method, head.uri.path(), head.uri.query());
        let whole = match self.open_route(method, path).await {
            Some(w) => w,
            None if crate::guard::admin::is_route(path) => self.guard_release(&http).await,
            None => {
                let body = if routes::wants_body(method, path) {
                    match read_body(&mut http, crate::console::api::MAX_QUESTION_BYTES).await {
                        Some(b) => b,
                        None => {
                            http.set_keepalive(None);
                            let w = reply(
                                413,
                                "application/json",
                                br#"{"error": "the request body is too large, too slow or broken"}"#
                                    .to_vec(),
                            );
                            return finish(http, w, method).await;
                        }
                    }
                } else {
                    Vec::new()
                };
                let peer_loopback = http
                    .client_addr()
                    .is_none_or(|a| a.as_inet().is_none_or(|a| a.ip().is_loopback()));
                let req = Request {
                    method,
                    path,
                    query,
                    headers: &head.headers,
                    peer_loopback,
                    body: &body,
                };
                match self.console.handle(&req) {
                    Answer::Whole {
                        status,
                        headers,
                        body,
                    } => Whole {
                        status,
                        headers,
                        body,
                    },
                    Answer::Stream(tail) => {
                        self.tail(&mut http, tail, shutdown).await;
                        return None;
                    }
                }
            }
        };
        // A body nobody read leaves the connection unusable.
        if !http.is_body_done() {
            http.set_keepalive(None);
        }
        finish(http, whole, method).await
    }
}

/// Write a whole answer and hand the connection back for the next request.
async fn finish(
    mut http: ServerSession,
    w: Whole,
    method: &http::Method,
) -> Option<ReusedHttpStream> {
    let mut head = ResponseHeader::build(w.status, Some(w.headers.len() + 1)).ok()?;
    for (k, v) in w.headers {
        head.append_header(k, v).ok()?;
    }
    head.insert_header("content-length", w.body.len().to_string())
        .ok()?;
    http.write_response_header(Box::new(head)).await.ok()?;
    if method != http::Method::HEAD && !w.body.is_empty() {
        http.write_response_body(Bytes::from(w.body), true)
            .await
            .ok()?;
    }
    super::reuse(http).await
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Whole {
    Whole {
        status,
        headers: vec![("content-type", content_type.to_string())],
        body,
    }
}

// ---- The deletion guard's release (crate::guard::admin answers; this only adapts). ----
impl Admin {
    /// `POST /admin/tenants/{tenant}/guard/release`: the admin token when
    /// `--admin-token-env` is set, else a loopback peer naming the listener by IP/localhost.
    async fn guard_release(&self, http: &ServerSession) -> Whole {
        let head = http.req_header();
        let header = |name: &str| head.headers.get(name).map(|v| v.as_bytes());
        let caller = crate::guard::admin::Caller {
            token: self
                .console
                .token
                .as_ref()
                .map(|t| t.admits(header("authorization"), None)),
            peer_loopback: http
                .client_addr()
                .is_none_or(|a| a.as_inet().is_none_or(|a| a.ip().is_loopback())),
            host: head.headers.get("host").and_then(|h| h.to_str().ok()),
        };
        let policies = self.store.load();
        let path = head.uri.path();
        match crate::guard::admin::handle(&self.guard, &policies, &head.method, path, caller).await
        {
            Some((status, headers, body)) => Whole {
                status,
                headers,
                body,
            },
            None => reply(
                404,
                "application/json",
                br#"{"error": "no such route"}"#.to_vec(),
            ),
        }
    }
}
