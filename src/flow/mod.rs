//! One request's life, as one phase list over plain types ([`serve`]):
//!
//! route → auth → police → body → translate request → exchange → translate response → observe
//!
//! (A tenant with `[[auth.clients]]` answers `{route}/oauth/token` itself right after route:
//! [`token`], the OAuth token endpoint, never upstream.)
//!
//! One step per file, each a plain function testable without sockets. The flow knows nothing of
//! Pingora: it reads the body through a [`BodySource`] and talks to the target through an
//! [`Exchange`], the two interfaces `crate::proxy` implements (and the dry run, [`dry_run`],
//! implements with a canned answer, so `scimgate translate`, `scimgate test` and the golden
//! tests run this same code).

pub mod auth;
pub mod body;
pub mod bulk;
pub mod dry_run;
pub mod exchange;
pub mod observe;
pub mod police;
pub mod request;
pub mod response;
pub mod retry;
pub mod route;
pub mod shaping;
pub mod token;
pub mod translate;
pub mod upstream_token;

use crate::policy::Policies;
use crate::ratelimit::{Backoff, Limiter};
use crate::scim::error::ScimError;
use crate::scim::resource::Resource;
use async_trait::async_trait;
use body::{Body, BodyUse};
use bytes::Bytes;
use exchange::{Exchange, Sent};
use http::{HeaderMap, HeaderValue, Method};
use observe::Seen;
use police::BulkCheck;
use std::time::Instant;
use translate::Asked;

/// Reads the request body whole, refusing it past `limit` bytes (413) as early as it can and
/// never holding more than it has received.
#[async_trait]
pub trait BodySource: Send {
    async fn read(&mut self, limit: usize) -> Result<Bytes, ScimError>;
    /// The request declared no body (no `Transfer-Encoding`, no or a zero `Content-Length`):
    /// [`Self::read`] would return nothing at once. Most requests (every GET and DELETE) skip
    /// the read, its timer and its boxed future then. `false` when it is not known.
    fn declared_empty(&mut self) -> bool {
        false
    }
}

/// What the flow needs from the process: the policies of this request, the tenants' quotas
/// and holds, and the way to the targets.
pub struct Gateway<'a> {
    pub policies: &'a Policies,
    pub limiter: &'a dyn Limiter,
    pub backoff: &'a Backoff,
    pub upstream: &'a dyn Exchange,
    /// The gateway's own access tokens (`--token-key-file`): issued by [`token`], accepted by
    /// [`auth`].
    pub tokens: &'a crate::oauth::Tokens,
    /// The targets' access tokens (`[upstream.oauth]`), fetched and refreshed by
    /// [`upstream_token`].
    pub upstream_tokens: &'a upstream_token::UpstreamTokens,
    /// True for the TLS listener (the scheme of the default public URL).
    pub tls: bool,
    /// The console's ring of exchanges (`--admin`): each request hands it one record
    /// ([`observe::keep`]). `None` (dry runs, no admin listener) records nothing.
    pub exchanges: Option<&'a crate::console::Ring>,
    /// `[limits] mode = "delay"`: every tenant's waiting line ([`shaping`]). `None` (dry
    /// runs): nothing waits, an over-quota request is refused at once.
    pub shaper: Option<&'a shaping::Shaper>,
    /// `[guard]`: the deletion guard's counters ([`crate::guard`]). `None` (dry runs):
    /// nothing is counted or refused.
    pub guard: Option<&'a crate::guard::Guard>,
}

/// A request as it arrived, before anything read it.
pub struct Incoming<'a> {
    pub method: &'a Method,
    /// The path, still percent-encoded, without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The `Host` the IdP addressed (header or absolute-form authority), for the default public URL.
    pub host: Option<&'a str>,
}

/// What the gateway answers the IdP, whoever made it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Values as the target sent them (a shared reference, not a copy) or the gateway's own.
    pub headers: Vec<(&'static str, HeaderValue)>,
    pub body: Bytes,
}

impl Reply {
    /// The value of the first header called `name` (any case), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.to_str().ok())
    }
}

/// Headers the gateway writes itself, as values; one whose text HTTP cannot carry (it never
/// makes one) is left out rather than sent broken.
pub fn own_headers(
    headers: impl IntoIterator<Item = (&'static str, String)>,
) -> Vec<(&'static str, HeaderValue)> {
    headers
        .into_iter()
        .filter_map(|(name, value)| Some((name, HeaderValue::try_from(value).ok()?)))
        .collect()
}

impl From<ScimError> for Reply {
    fn from(mut e: ScimError) -> Self {
        let body = Bytes::from(e.body());
        let mut headers = own_headers(std::mem::take(&mut e.headers));
        headers.push((
            "content-type",
            HeaderValue::from_static("application/scim+json"),
        ));
        Reply {
            status: e.status,
            headers,
            body,
        }
    }
}

/// Serve one request: every phase, then one count and one log line.
pub async fn serve(gw: &Gateway<'_>, req: &Incoming<'_>, body: &mut dyn BodySource) -> Reply {
    let started = Instant::now();
    let mut seen = Seen::default();
    if gw.exchanges.is_some() {
        seen.exchange.start();
    }
    let reply = match phases(gw, req, body, &mut seen, Auth::Check).await {
        Ok(r) => r,
        Err(e) => Reply::from(e),
    };
    let elapsed = started.elapsed();
    observe::record(req.method, &seen, &reply, elapsed);
    if let Some(ring) = gw.exchanges {
        observe::keep(ring, req, &mut seen, &reply, started, elapsed);
    }
    reply
}

/// Whether the auth phase runs (a dry run has no IdP secret to show).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Check,
    Skip,
}

/// The phase list. Every refusal is a [`ScimError`]; nothing reaches the target before the
/// request is routed, authenticated, policed, parsed and translated whole.
pub async fn phases<'p>(
    gw: &Gateway<'p>,
    req: &Incoming<'_>,
    source: &mut dyn BodySource,
    seen: &mut Seen<'p>,
    auth: Auth,
) -> Result<Reply, ScimError> {
    // 1. route: the tenant, and the one canonical path, query and headers.
    let routed = route::route(gw.policies, req.path)?;
    let (tenant, rest) = (&routed.tenant, routed.rest.as_str());
    seen.routed(tenant, rest);
    // The token endpoint of a tenant with [[auth.clients]]: OAuth, not SCIM; never upstream.
    if rest == token::PATH && !tenant.auth.clients.is_empty() {
        let public_base = response::public_base(tenant, req.host, gw.tls);
        return Ok(token::serve(gw, tenant, req, source, &public_base).await);
    }
    route::check_query(req.query)?;
    route::check_headers(req.headers)?;
    // 2. auth
    if auth == Auth::Check {
        let header = req.headers.get("authorization").map(|v| v.as_bytes());
        auth::admit(tenant, gw.tokens, header)?;
    }
    body::check_method(req.method)?;
    // 3. police: one unit before the body is read (a flood costs little); a Bulk pays per op.
    let is_bulk = seen.resource == Resource::Bulk && req.method == Method::POST;
    if !is_bulk {
        shaping::admit(gw, tenant, 1).await?;
    }
    // 4. body: media type, size, one strict parse.
    let use_ = body::body_use(req.method, seen.resource);
    if use_ == BodyUse::Json {
        body::check_media_type(req.headers.get("content-type").map(|v| v.as_bytes()))?;
    }
    let raw = if source.declared_empty() {
        Bytes::new()
    } else {
        source.read(tenant.limits.max_body_bytes).await?
    };
    seen.exchange.idp_body(&raw);
    let mut body = Body::from_raw(raw, use_)?;
    seen.body(tenant, body.json());
    // The deletion guard reads the parsed message (every IdP's spelling), before any split.
    let deletions = crate::guard::detect::count(req.method, is_bulk, body.json());
    let mut split = None;
    if let (true, Body::Json(message)) = (is_bulk, &mut body) {
        let (operations, in_chunks) = match police::bulk(tenant, message)? {
            BulkCheck::Pass { operations } => (operations, false),
            BulkCheck::Split { operations } => (operations, true),
        };
        let cost = u32::try_from(operations).unwrap_or(u32::MAX);
        shaping::admit(gw, tenant, cost).await?;
        if in_chunks {
            split = Some(std::mem::take(&mut message.value));
        }
    }
    // guard: past [guard] max_deletes a deletion or deactivation is refused (503), nothing sent.
    if let Some(guard) = gw.guard {
        guard.check(tenant, deletions).await?;
    }
    // 5-6. translate the request and exchange it (a split Bulk: chunk by chunk).
    let asked = Asked {
        method: req.method,
        rest,
        query: req.query,
        headers: req.headers,
    };
    let resp = match split {
        Some(whole) => bulk::split(gw, tenant, &asked, whole, seen).await?,
        None => match exchange::send(gw, tenant, &asked, body, None, seen).await? {
            Sent::Answered(resp) => resp,
            Sent::NothingToSend => {
                return Ok(Reply {
                    status: 204,
                    headers: Vec::new(),
                    body: Bytes::new(),
                })
            }
        },
    };
    seen.upstream_status = Some(resp.status);
    // 7. translate the answer back.
    let public_base = response::public_base(tenant, req.host, gw.tls);
    translate::respond(tenant, &asked, resp, &public_base, &mut seen.rules)
        .map_err(|e| exchange::failed(tenant, e))
}
