//! The dry run behind `scimgate translate`, `scimgate test` and the golden tests: the same
//! phase list as the gateway ([`super::phases`]) with a canned [`Exchange`] that records what
//! the target would receive, so a dry run cannot disagree with the gateway (Bulk policing and
//! splitting included). Only the auth phase is skipped: there is no IdP secret to show.

use super::exchange::{Exchange, ExchangeError, UpstreamRequest, UpstreamResponse};
use super::observe::Seen;
use super::translate::Asked;
use super::BodySource;
use super::{phases, Auth, Gateway, Incoming};
use crate::policy::model::Endpoint;
use crate::policy::{Policies, Tenant};
use crate::ratelimit::{Backoff, LocalLimiter};
use crate::scim::error::ScimError;
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Which way `scimgate translate` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// What the gateway would do with one request or answer of `tenant`, without the network:
/// for a request `{"method", "path", "body"}` as the target would receive them (path relative
/// to `upstream.url`; a split Bulk gives `{"split": [...]}`, one per chunk); for a response (to
/// a request with `method` and `path`, answered with `status`) `{"status", "body"}` as the IdP
/// would receive them. Errors are the SCIM error the gateway would answer.
pub fn preview(
    tenant: &Arc<Tenant>,
    direction: Direction,
    status: u16,
    method: &Method,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Value, ScimError> {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let full = if path.starts_with(tenant.route.as_str()) {
        path.to_string()
    } else {
        format!("{}{path}", tenant.route)
    };
    match direction {
        Direction::Request => request(tenant, method, &full, query, body),
        Direction::Response => response(tenant, status, method, &full, query, body),
    }
}

fn request(
    tenant: &Arc<Tenant>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Option<&[u8]>,
) -> Result<Value, ScimError> {
    let policies = Policies::from_shared(vec![Arc::clone(tenant)]);
    let canned = Canned::default();
    let gw = Gateway {
        policies: &policies,
        limiter: &LocalLimiter::new(),
        backoff: &Backoff::default(),
        upstream: &canned,
        tokens: &crate::oauth::Tokens::default(),
        upstream_tokens: &super::upstream_token::UpstreamTokens::default(),
        tls: true,
        exchanges: None,
        shaper: None,
        guard: None,
    };
    let headers = json_headers();
    let req = Incoming {
        method,
        path,
        query,
        headers: &headers,
        host: Some("gateway.invalid"),
    };
    let mut source = Given(Bytes::copy_from_slice(body.unwrap_or_default()));
    let mut seen = Seen::default();
    let reply = block_on(phases(&gw, &req, &mut source, &mut seen, Auth::Skip))??;
    let sent = canned.sent.lock().map(|s| s.clone()).unwrap_or_default();
    let base = &tenant.upstream.base_path;
    let shown: Vec<Value> = sent
        .iter()
        .map(|r| {
            let path = r
                .path_and_query
                .strip_prefix(base.as_str())
                .unwrap_or(&r.path_and_query);
            let body = r
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            json!({"method": r.method.as_str(), "path": path, "body": body})
        })
        .collect();
    Ok(match <[Value; 1]>::try_from(shown) {
        Ok([one]) => one,
        Err(shown) if shown.is_empty() => {
            json!({"gateway_answers": reply.status, "upstream": null})
        }
        Err(shown) => json!({"split": shown}),
    })
}

fn response(
    tenant: &Tenant,
    status: u16,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Option<&[u8]>,
) -> Result<Value, ScimError> {
    let body = body.unwrap_or(b"");
    if !body.trim_ascii().is_empty() {
        serde_json::from_slice::<Value>(body).map_err(|e| {
            ScimError::invalid_syntax(format!("the response body is not JSON: {e}"))
        })?;
    }
    let rest = path.strip_prefix(tenant.route.as_str()).unwrap_or(path);
    let rest = super::route::canonical_rest(rest)?;
    let headers = json_headers();
    let asked = Asked {
        method,
        rest: &rest,
        query,
        headers: &headers,
    };
    let resp = UpstreamResponse {
        status,
        headers: json_headers(),
        body: Bytes::copy_from_slice(body),
    };
    let public = super::response::public_base(tenant, Some("gateway.invalid"), true);
    let reply = super::translate::respond(tenant, &asked, resp, &public, &mut 0)
        .map_err(|e| ScimError::bad_gateway(e.detail))?;
    let out: Value = if reply.body.trim_ascii().is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
    };
    Ok(json!({"status": reply.status, "body": out}))
}

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/scim+json"),
    );
    h
}

/// The body the dry run was given.
struct Given(Bytes);

#[async_trait]
impl BodySource for Given {
    async fn read(&mut self, limit: usize) -> Result<Bytes, ScimError> {
        if self.0.len() > limit {
            return Err(ScimError::payload_too_large(format!(
                "the request body is larger than the limit of {limit} bytes"
            )));
        }
        Ok(std::mem::take(&mut self.0))
    }
}

/// Records every request and answers as a target that accepted it: 200 with an empty
/// BulkResponse for a Bulk, 200 `{}` otherwise.
#[derive(Default)]
struct Canned {
    sent: Arc<Mutex<Vec<UpstreamRequest>>>,
}

#[async_trait]
impl Exchange for Canned {
    async fn exchange(
        &self,
        _tenant: &Tenant,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(req.clone());
        }
        let body = if req.path_and_query.ends_with("/Bulk") {
            json!({"schemas": [crate::scim::bulk_split::BULK_RESPONSE_SCHEMA], "Operations": []})
        } else {
            json!({})
        };
        Ok(UpstreamResponse {
            status: 200,
            headers: json_headers(),
            body: Bytes::from(body.to_string()),
        })
    }

    /// A token endpoint (`[upstream.oauth]`) answering a placeholder token: a dry run fetches
    /// nothing and reads no secret.
    async fn exchange_at(
        &self,
        _tenant: &Tenant,
        _endpoint: &Endpoint,
        _req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        let body = json!({"access_token": "dry-run", "token_type": "Bearer", "expires_in": 3600});
        Ok(UpstreamResponse {
            status: 200,
            headers: json_headers(),
            body: Bytes::from(body.to_string()),
        })
    }
}

/// Drive a future that never waits on anything outside itself (the canned exchange answers at
/// once, the limiter and holds are synchronous) to completion on this thread.
fn block_on<F: Future>(fut: F) -> Result<F::Output, ScimError> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1024 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Ok(v);
        }
    }
    Err(ScimError::internal("the dry run did not complete"))
}
