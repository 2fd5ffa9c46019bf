//! The only place that knows Pingora. Every request is answered in `request_filter`: read the
//! body whole, run the `flow` steps, do the upstream exchange with the pooled client, write the
//! answer. (Pingora's own proxy loop sends headers before the body and loses bodies over its
//! 64 KiB replay buffer; see docs/ARCHITECTURE.md.)

pub mod admin;
mod bulk;
pub mod server;
pub mod upstream;

use crate::flow;
use crate::flow::body::BodyUse;
use crate::mapping::{self, Stats};
use crate::policy::store::PolicyStore;
use crate::policy::Tenant;
use crate::scim::error::ScimError;
use crate::scim::resource::Resource;
use crate::telemetry::metrics::{self, UpstreamErrorKind, NO_TENANT};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};
use upstream::UpstreamClient;

/// How long the gateway waits for the next piece of a request body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The gateway's Pingora service.
pub struct Gateway {
    pub store: Arc<PolicyStore>,
    pub client: Arc<UpstreamClient>,
    /// Per-tenant quotas (shared by the plain and TLS listeners).
    pub limiter: Arc<dyn crate::ratelimit::Limiter>,
    /// Tenants the target asked to hold back.
    pub backoff: Arc<crate::ratelimit::Backoff>,
    /// True on the TLS listener's service (for the default public URL's scheme).
    pub tls: bool,
}

/// What the gateway writes back, whoever made it.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    /// False when the request body was not read to its end (the connection must close).
    keepalive: bool,
}

impl From<ScimError> for Reply {
    fn from(e: ScimError) -> Self {
        let mut headers = e.headers.clone();
        headers.push(("content-type", "application/scim+json".to_string()));
        Reply {
            status: e.status,
            headers,
            body: Bytes::from(e.body()),
            keepalive: true,
        }
    }
}

/// Bounded labels of one request, filled as the flow learns them.
#[derive(Default)]
struct Labels {
    tenant: Option<Arc<crate::policy::Tenant>>,
    resource: Resource,
    /// The id in `/Users/{id}` or `/Groups/{id}` (an opaque identifier, not PII).
    resource_id: Option<String>,
    upstream_status: Option<u16>,
    upstream_ms: Option<f64>,
    /// Translation rules applied, request and response.
    rules: u32,
    /// Only for tenants with `[log] pii = true`: the `userName` the request carried.
    user_name: Option<String>,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        let started = Instant::now();
        let mut labels = Labels::default();
        let reply = match self.handle(session, &mut labels).await {
            Ok(r) => r,
            Err(e) => {
                let keepalive = session.as_downstream_mut().is_body_done();
                Reply {
                    keepalive,
                    ..Reply::from(e)
                }
            }
        };
        let status = reply.status;
        let method = metrics::method_label(&session.req_header().method);
        let tenant = labels
            .tenant
            .as_ref()
            .map_or(NO_TENANT, |t| t.name.as_str());
        let resource = labels.resource.label();
        // Counted before the answer is written, so a client that scrapes right after its
        // answer sees its own request.
        let elapsed = started.elapsed();
        metrics::REQUESTS
            .with_label_values(&[tenant, resource, method, status_label(status)])
            .inc();
        metrics::REQUEST_DURATION
            .with_label_values(&[tenant, resource, method])
            .observe(elapsed.as_secs_f64());
        write(session, reply).await?;
        tracing::info!(
            target: "scimgate::access",
            tenant,
            resource,
            resource_id = labels.resource_id.as_deref(),
            method,
            status,
            upstream_status = labels.upstream_status,
            upstream_ms = labels.upstream_ms,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            rules = labels.rules,
            user_name = labels.user_name.as_deref(),
            "request"
        );
        Ok(true)
    }

    /// What Pingora's own error log says about a request: method and path, never the query
    /// (filters carry user names) or headers.
    fn request_summary(&self, session: &Session, _ctx: &()) -> String {
        let req = session.req_header();
        format!("{} {}", req.method, req.uri.path())
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        // Never reached: request_filter answers every request.
        Error::e_explain(
            ErrorType::InternalError,
            "scimgate answers in request_filter",
        )
    }
}

impl Gateway {
    async fn handle(&self, session: &mut Session, labels: &mut Labels) -> Result<Reply, ScimError> {
        let policies = self.store.load();
        let req = session.req_header();
        let routed = flow::route::route(&policies, req.uri.path())?;
        labels.resource = Resource::classify(&routed.rest);
        labels.tenant = Some(Arc::clone(&routed.tenant));
        labels.resource_id = resource_id(labels.resource, &routed.rest);
        let tenant = &routed.tenant;
        flow::auth::check(
            &tenant.auth,
            req.headers.get("authorization").map(|v| v.as_bytes()),
        )?;

        let method = req.method.clone();
        flow::body::check_method(&method)?;
        let is_bulk = labels.resource == Resource::Bulk && method == http::Method::POST;
        if !is_bulk {
            // One unit, before the body is read: a flood costs us as little as possible.
            flow::police::throttle(self.limiter.as_ref(), &self.backoff, tenant, 1)?;
        }
        let body_use = flow::body::body_use(&method, labels.resource);
        if body_use == BodyUse::Json {
            flow::body::check_media_type(req.headers.get("content-type").map(|v| v.as_bytes()))?;
        }
        let body = read_body(session, tenant.limits.max_body_bytes).await?;
        let mut body = match body_use {
            BodyUse::Json => {
                flow::body::check_json(&body)?;
                Some(body)
            }
            BodyUse::Opaque => Some(body),
            BodyUse::Dropped => None,
        };
        if tenant.log.pii {
            labels.user_name = body.as_deref().and_then(user_name);
        }
        let mut split = None;
        if is_bulk {
            let raw = body.as_deref().unwrap_or_default();
            let operations = match flow::police::bulk(tenant, raw)? {
                flow::police::BulkCheck::Pass {
                    operations,
                    body: clamped,
                } => {
                    if let Some(b) = clamped {
                        body = Some(Bytes::from(b));
                    }
                    operations
                }
                flow::police::BulkCheck::Split { operations, body } => {
                    split = Some(body);
                    operations
                }
            };
            let cost = u32::try_from(operations).unwrap_or(u32::MAX);
            flow::police::throttle(self.limiter.as_ref(), &self.backoff, tenant, cost)?;
        }

        let req = session.req_header();
        let host = req
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri.authority().map(|a| a.as_str()));
        let public_base = flow::response::public_base(tenant, host, self.tls);
        let rules_applied = std::sync::atomic::AtomicU32::new(0);
        let asked = Asked {
            method: &method,
            rest: &routed.rest,
            query: req.uri.query(),
            headers: &req.headers,
            rules: &rules_applied,
        };
        let up_started = Instant::now();
        let resp = match split {
            Some(bulk_request) => bulk::split(self, tenant, &asked, bulk_request).await?,
            None => match self.send(tenant, &asked, body).await? {
                Sent::Answered(resp) => resp,
                Sent::NothingToSend => {
                    // Every operation was dropped by policy: the target has nothing to do.
                    return Ok(Reply {
                        status: 204,
                        headers: Vec::new(),
                        body: Bytes::new(),
                        keepalive: true,
                    });
                }
            },
        };

        labels.upstream_status = Some(resp.status);
        labels.upstream_ms = Some(up_started.elapsed().as_secs_f64() * 1000.0);
        let rebase = flow::response::Rebase {
            upstream: &tenant.upstream,
            public_base: &public_base,
        };
        let headers = flow::response::pass_headers(&rebase, &resp.headers);
        let mut stats = Stats::default();
        let translated = mapping::translate::Asked {
            method: &method,
            rest: &routed.rest,
            query: asked.query,
        };
        let (status, body) = mapping::translate::answer(
            tenant,
            translated,
            resp.status,
            &resp.body,
            &rebase,
            &mut stats,
        );
        record(tenant, &stats, "response rewritten");
        labels.rules = stats.total() + asked.rules.load(std::sync::atomic::Ordering::Relaxed);
        let (headers, body) = match body {
            Some(b) if status != resp.status => (
                vec![("content-type", "application/scim+json".to_string())],
                Bytes::from(b),
            ),
            Some(b) => (headers, Bytes::from(b)),
            None => (headers, resp.body),
        };
        Ok(Reply {
            status,
            headers,
            body,
            keepalive: true,
        })
    }

    /// Translate one request, send it, and learn from the target's back-pressure.
    async fn send(
        &self,
        tenant: &Tenant,
        asked: &Asked<'_>,
        body: Option<Bytes>,
    ) -> Result<Sent, ScimError> {
        let mut stats = Stats::default();
        let changes = mapping::translate::request(
            tenant,
            asked.method,
            asked.rest,
            asked.query,
            body.as_deref(),
            &mut stats,
        );
        record(tenant, &stats, "request rewritten");
        asked
            .rules
            .fetch_add(stats.total(), std::sync::atomic::Ordering::Relaxed);
        let changes = changes?;
        if changes.nothing_to_send {
            return Ok(Sent::NothingToSend);
        }
        let body = changes.body.map(Bytes::from).or(body);
        let query = changes.query.as_deref().or(asked.query);
        let rest = changes.rest.as_deref().unwrap_or(asked.rest);
        let upstream_req =
            flow::request::build(tenant, asked.method, rest, query, asked.headers, body);

        let up_started = Instant::now();
        let result = self.client.exchange(&tenant.upstream, &upstream_req).await;
        metrics::UPSTREAM_DURATION
            .with_label_values(&[&tenant.name])
            .observe(up_started.elapsed().as_secs_f64());
        let resp = result.map_err(|e| {
            metrics::UPSTREAM_ERRORS
                .with_label_values(&[&tenant.name, e.kind.label()])
                .inc();
            tracing::warn!(tenant = %tenant.name, kind = e.kind.label(), detail = %e.detail, "upstream exchange failed");
            match e.kind {
                UpstreamErrorKind::Timeout => ScimError::gateway_timeout(e.detail),
                _ => ScimError::bad_gateway(e.detail),
            }
        })?;
        if resp.status >= 500 {
            metrics::UPSTREAM_ERRORS
                .with_label_values(&[&tenant.name, UpstreamErrorKind::Status5xx.label()])
                .inc();
        }
        if resp.status == 429 || resp.status == 423 {
            // The target is throttling this tenant: hold its further requests here.
            let wait = resp
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(crate::ratelimit::parse_retry_after)
                .unwrap_or(DEFAULT_BACKOFF);
            self.backoff.hold(&tenant.name, wait);
            metrics::UPSTREAM_ERRORS
                .with_label_values(&[&tenant.name, UpstreamErrorKind::Throttled.label()])
                .inc();
            tracing::warn!(tenant = %tenant.name, status = resp.status, wait_ms = wait.as_millis() as u64, "SCIM target is throttling");
        }
        Ok(Sent::Answered(resp))
    }
}

/// A request as the IdP sent it, for the exchange.
pub(crate) struct Asked<'a> {
    method: &'a http::Method,
    /// The path after the tenant route.
    rest: &'a str,
    query: Option<&'a str>,
    headers: &'a http::HeaderMap,
    /// Translation rules applied on the way up (summed over Bulk chunks).
    rules: &'a std::sync::atomic::AtomicU32,
}

/// The outcome of [`Gateway::send`].
pub(crate) enum Sent {
    Answered(upstream::UpstreamResponse),
    NothingToSend,
}

/// How long a tenant is held after a 429/423 without a usable `Retry-After`.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

/// The id of `/Users/{id}` or `/Groups/{id}`, for the access log.
fn resource_id(resource: Resource, rest: &str) -> Option<String> {
    if !matches!(resource, Resource::Users | Resource::Groups) {
        return None;
    }
    let id = rest.split('/').filter(|s| !s.is_empty()).nth(1)?;
    Some(id.chars().take(128).collect())
}

/// The `userName` of a request body (only looked at for tenants that log PII).
fn user_name(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("userName")?
        .as_str()
        .map(|s| s.chars().take(256).collect())
}

/// Count what translation did, and name the dialect changes in a debug line.
fn record(tenant: &crate::policy::Tenant, stats: &Stats, what: &'static str) {
    metrics::record_rules(&tenant.name, stats);
    if !stats.notes.is_empty() {
        tracing::debug!(tenant = %tenant.name, changes = ?stats.notes, "{what}");
    }
}

/// Read the whole request body, refusing it past `limit` bytes (413) as early as possible.
async fn read_body(session: &mut Session, limit: usize) -> Result<Bytes, ScimError> {
    let too_large = || {
        ScimError::payload_too_large(format!(
            "the request body is larger than the limit of {limit} bytes"
        ))
    };
    let declared = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let downstream = session.as_downstream_mut();
    downstream.set_read_timeout(Some(BODY_READ_TIMEOUT));
    let mut buf = BytesMut::with_capacity(declared.map_or(0, |n| n as usize));
    loop {
        match downstream.read_request_body().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(_) => {
                return Err(ScimError::invalid_syntax(
                    "the request body could not be read",
                ))
            }
        }
    }
}

async fn write(session: &mut Session, reply: Reply) -> Result<()> {
    let mut header = ResponseHeader::build(reply.status, Some(reply.headers.len() + 2))?;
    for (name, value) in reply.headers {
        header.append_header(name, value)?;
    }
    header.insert_header("content-length", reply.body.len().to_string())?;
    if !reply.keepalive {
        header.insert_header("connection", "close")?;
        session.set_keepalive(None);
    }
    let empty = reply.body.is_empty();
    session
        .write_response_header(Box::new(header), empty)
        .await?;
    if !empty {
        session.write_response_body(Some(reply.body), true).await?;
    }
    Ok(())
}

fn status_label(status: u16) -> &'static str {
    // Pre-rendered labels for the statuses SCIM uses; anything else by its class.
    const KNOWN: [(u16, &str); 18] = [
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (409, "409"),
        (412, "412"),
        (413, "413"),
        (415, "415"),
        (429, "429"),
        (500, "500"),
        (501, "501"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    if let Some((_, label)) = KNOWN.iter().find(|(s, _)| *s == status) {
        return label;
    }
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}
