//! The admin listener: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers),
//! `GET /readyz` (policies are loaded, at least one tenant is served, and the IdP listeners
//! accept connections; then one line per policy file the last reload could not load, e.g.
//! `stale: acme (policies/acme.toml:12:5: error[E001]: …)`, which does not make it unready).

use crate::policy::store::PolicyStore;
use crate::scim::error::ScimError;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

pub struct Admin {
    pub store: Arc<PolicyStore>,
    /// The IdP listeners: ready means they accept connections too (Pingora starts its services
    /// side by side, so the admin listener can be up first).
    pub listeners: Vec<std::net::SocketAddr>,
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
            match tokio::time::timeout(std::time::Duration::from_millis(500), connect).await {
                Ok(Ok(_)) => {}
                _ => return false,
            }
        }
        true
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let get = req.method == http::Method::GET || req.method == http::Method::HEAD;
        match (get, req.uri.path()) {
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
            _ => {
                let e = ScimError::not_found(
                    "the admin listener serves /metrics, /healthz and /readyz",
                );
                reply(404, "application/scim+json", e.body())
            }
        }
    }
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let len = r.body().len();
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    r
}
