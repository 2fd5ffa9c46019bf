//! The only place that knows Pingora: the glue between a Pingora session and [`flow::serve`].
//! Every request is answered in [`Gateway::serve`]: the flow reads the body through
//! `SessionBody`, talks to the target through the pooled client ([`upstream`]), and the
//! answer is written here. (Pingora's own proxy loop sends headers before the body and loses
//! bodies over its 64 KiB replay buffer; see docs/ARCHITECTURE.md.)

pub mod admin;
pub mod edge;
pub mod pool;
pub mod server;
pub mod upstream;

use crate::flow::{self, BodySource, Incoming, Reply};
use crate::policy::store::PolicyStore;
use crate::scim::error::ScimError;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::apps::{HttpPersistentSettings, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
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
    /// The gateway's own access tokens (`--token-key-file`), shared by the listeners.
    pub tokens: Arc<crate::oauth::Tokens>,
    /// The targets' access tokens (`[upstream.oauth]`), shared by the listeners.
    pub upstream_tokens: Arc<crate::flow::upstream_token::UpstreamTokens>,
    /// True on the TLS listener's service (for the default public URL's scheme).
    pub tls: bool,
    /// Seconds a keep-alive connection may stay idle before the next request (`--idle-timeout-s`).
    pub idle_timeout_s: u64,
    /// How long the whole request body may take to arrive (`--body-timeout-ms`).
    pub body_timeout: Duration,
    /// The console's ring of exchanges (only with an admin listener).
    pub exchanges: Option<Arc<crate::console::Ring>>,
    /// `[limits] mode = "delay"`: the tenants' waiting lines (shared by the listeners).
    pub shaper: Arc<crate::flow::shaping::Shaper>,
    /// `[guard]`: the deletion guard's counters (shared by the listeners and the admin one).
    pub guard: Arc<crate::guard::Guard>,
}

impl Gateway {
    /// One request of an HTTP/1 connection ([`edge::Edge`] runs the connection's loop): read
    /// the head, serve it, hand the connection back for the next one. This is Pingora's own
    /// `HttpProxy::process_new_http` without what a gateway that answers every request itself
    /// never uses (its proxy phases, cache, subrequests and response modules), which cost ~3 %
    /// of a passthrough request's CPU (issue 15).
    ///
    /// Not Pingora's `HttpServerApp` trait: its `async_trait` boxes this future (~6.6 KB, the
    /// whole request's state) once a request, and copies it whole into the box. The edge
    /// awaits it in place instead (issue 15).
    pub(crate) async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        // A connection waiting for its next request closes when the server begins to stop.
        let mut stopping = shutdown.clone();
        let read = tokio::select! {
            biased;
            read = session.read_request() => read,
            _ = stopping.changed() => return None,
        };
        match read {
            Ok(true) => {}
            // The client closed between requests.
            Ok(false) => return None,
            Err(e) => {
                if matches!(e.etype, ErrorType::InvalidHTTPHeader) {
                    // Written as a SCIM error by the edge (`edge::Guarded`).
                    let _ = session.respond_error(400).await;
                }
                tracing::debug!(error = e.etype.as_str(), "request head not read");
                session.shutdown().await;
                return None;
            }
        }
        if session.req_header().method == http::Method::CONNECT {
            // Tunnels are not served (and CONNECT frames its message differently).
            let _ = session.respond_error(405).await;
            session.shutdown().await;
            return None;
        }
        if *shutdown.borrow() {
            session.set_keepalive(None);
        }
        match self.serve(&mut session).await {
            Ok(()) => reuse(session).await,
            // The answer could not be written: the client is gone or stopped reading.
            Err(e) => {
                tracing::debug!(error = e.etype.as_str(), "answer not written");
                None
            }
        }
    }
}

impl Gateway {
    /// Serve one request whose head has been read, and write its answer.
    async fn serve(&self, session: &mut ServerSession) -> Result<()> {
        edge::request_started();
        // A client that does not read its answer holds the connection no longer than one
        // that does not send its body.
        session.set_write_timeout(Some(self.body_timeout));
        session.set_total_drain_timeout(Some(self.body_timeout));
        if let Some(refusal) = ambiguous_framing(session) {
            let started = std::time::Instant::now();
            let reply = Reply::from(refusal);
            let method = session.req_header().method.clone();
            flow::observe::record(
                &method,
                &flow::observe::Seen::default(),
                &reply,
                started.elapsed(),
            );
            return write(session, reply, None).await;
        }
        let policies = self.store.load();
        let gw = flow::Gateway {
            policies: &policies,
            limiter: self.limiter.as_ref(),
            backoff: &self.backoff,
            upstream: self.client.as_ref(),
            tokens: &self.tokens,
            upstream_tokens: &self.upstream_tokens,
            tls: self.tls,
            exchanges: self.exchanges.as_deref(),
            shaper: Some(&self.shaper),
            guard: Some(&self.guard),
        };
        // What the flow reads of the request head is copied once, so it can read it while the
        // body source borrows the session: not Pingora's map of the headers' spelling, which
        // the flow never reads.
        let head = session.req_header();
        let (method, uri, headers) = (head.method.clone(), head.uri.clone(), head.headers.clone());
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        let req = Incoming {
            method: &method,
            path: uri.path(),
            query: uri.query(),
            headers: &headers,
            host,
        };
        let mut body = SessionBody {
            session,
            timeout: self.body_timeout,
        };
        let reply = flow::serve(&gw, &req, &mut body).await;
        // A body not read to its end leaves the connection unusable: close it.
        let keepalive = session.is_body_done().then_some(self.idle_timeout_s.max(1));
        write(session, reply, keepalive).await
    }
}

/// The request body of a Pingora session, whole within `timeout`.
struct SessionBody<'a> {
    session: &'a mut ServerSession,
    timeout: Duration,
}

/// The most a body buffer reserves ahead of the bytes that arrived, whatever Content-Length says.
const MAX_RESERVE: usize = 64 * 1024;

#[async_trait]
impl BodySource for SessionBody<'_> {
    async fn read(&mut self, limit: usize) -> Result<Bytes, ScimError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.read_all(limit)).await {
            Ok(r) => r,
            // The body is not done, so the connection closes after the answer.
            Err(_) => Err(ScimError::new(
                408,
                None,
                format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            )),
        }
    }

    fn declared_empty(&mut self) -> bool {
        // Pingora frames the body from the head alone (a request body needs Content-Length or
        // Transfer-Encoding): empty means a zero length, read to its end already.
        self.session.is_body_empty()
    }
}

impl SessionBody<'_> {
    async fn read_all(&mut self, limit: usize) -> Result<Bytes, ScimError> {
        let too_large = || {
            ScimError::payload_too_large(format!(
                "the request body is larger than the limit of {limit} bytes"
            ))
        };
        let declared = self
            .session
            .req_header()
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let downstream = &mut *self.session;
        downstream.set_read_timeout(Some(BODY_READ_TIMEOUT.min(self.timeout)));
        // Memory follows the bytes that arrive, not the length a client declares.
        let reserve = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut buf = BytesMut::with_capacity(reserve.min(MAX_RESERVE));
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
}

/// Write the answer; `keepalive` is how long the connection may then idle (Pingora's default
/// after a request is forever), `None` closes it.
async fn write(session: &mut ServerSession, reply: Reply, keepalive: Option<u64>) -> Result<()> {
    let Reply {
        status,
        headers,
        body,
    } = reply;
    let (header, body) = match head(status, headers, body.len(), keepalive) {
        Ok(header) => (header, body),
        // A header value the flow took from the target that HTTP cannot carry: a SCIM error
        // instead, whose head is the gateway's own.
        Err(_) => {
            let reply = Reply::from(ScimError::new(
                502,
                None,
                "the target's answer carries a header that cannot be relayed",
            ));
            let header = head(reply.status, reply.headers, reply.body.len(), keepalive)?;
            (header, reply.body)
        }
    };
    match keepalive {
        // Only where keep-alive is on at all (not for `Connection: close` or a plain HTTP/1.0).
        Some(idle) if session.get_keepalive().is_some() => session.set_keepalive(Some(idle)),
        Some(_) => {}
        None => {
            session.set_keepalive(None);
            // Request bytes may be left unread: the client must still read this answer.
            edge::linger_on_close();
        }
    }
    session.write_response_header(Box::new(header)).await?;
    if !body.is_empty() {
        session.write_response_body(body, true).await?;
    }
    Ok(())
}

/// The answer's head, without Pingora's map of the names' spelling: Pingora writes the common
/// names in title case (`Content-Type`) and the rest in lowercase (names are case-insensitive,
/// RFC 9110 §5.1).
/// A session whose answer is written, finished: its connection back for the next request, or
/// `None` when it is not to be kept (closed, not keep-alive, or the finish failed).
pub(crate) async fn reuse(session: ServerSession) -> Option<ReusedHttpStream> {
    let settings = HttpPersistentSettings::for_session(&session);
    session
        .finish()
        .await
        .ok()
        .flatten()
        .map(|s| ReusedHttpStream::from_reusable_stream(s, settings))
}

fn head(
    status: u16,
    headers: Vec<(&'static str, http::HeaderValue)>,
    body_len: usize,
    keepalive: Option<u64>,
) -> Result<ResponseHeader> {
    // The map is filled directly: Pingora's `append_header` turns every name into bytes and
    // parses it back, and these names are the gateway's own. `From<Parts>` gives the same
    // head as `build_no_case` (no map of the names' spelling, no reason phrase).
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status =
        http::StatusCode::from_u16(status).or_err(InvalidHTTPHeader, "invalid status")?;
    parts.headers.reserve(headers.len() + 2);
    let full = || Error::explain(InvalidHTTPHeader, "too many response headers");
    for (name, value) in headers {
        let name = header_name(name).or_err(InvalidHTTPHeader, "invalid header name")?;
        parts.headers.try_append(name, value).map_err(|_| full())?;
    }
    parts
        .headers
        .try_insert(http::header::CONTENT_LENGTH, body_len.into())
        .map_err(|_| full())?;
    if keepalive.is_none() {
        parts
            .headers
            .try_insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            )
            .map_err(|_| full())?;
    }
    Ok(ResponseHeader::from(parts))
}

/// The name of a header the gateway writes (a reply's or a request's to a target): the ones
/// it sends every day without parsing, any other parsed (`Retry-After` as spelt in a reply).
pub(crate) fn header_name(
    name: &'static str,
) -> std::result::Result<http::HeaderName, http::header::InvalidHeaderName> {
    use http::header;
    Ok(match name {
        "content-type" => header::CONTENT_TYPE,
        "content-length" => header::CONTENT_LENGTH,
        "etag" => header::ETAG,
        "location" => header::LOCATION,
        "last-modified" => header::LAST_MODIFIED,
        "retry-after" => header::RETRY_AFTER,
        "cache-control" => header::CACHE_CONTROL,
        "host" => header::HOST,
        "accept" => header::ACCEPT,
        "authorization" => header::AUTHORIZATION,
        "user-agent" => header::USER_AGENT,
        "if-match" => header::IF_MATCH,
        "if-none-match" => header::IF_NONE_MATCH,
        "accept-language" => header::ACCEPT_LANGUAGE,
        other => http::HeaderName::from_bytes(other.as_bytes())?,
    })
}

/// Framing a server behind another could read differently (request smuggling): two
/// Content-Lengths (even equal ones, which Pingora would merge), or Content-Length beside
/// Transfer-Encoding (Pingora drops the Content-Length; the raw head still has it). Refused
/// with 400, and the connection closes.
fn ambiguous_framing(session: &ServerSession) -> Option<ScimError> {
    let headers = &session.req_header().headers;
    let mut lengths = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let first = lengths.next();
    if lengths.next().is_some() || first.is_some_and(|v| v.as_bytes().contains(&b',')) {
        return Some(ScimError::invalid_syntax(
            "the request has more than one Content-Length",
        ));
    }
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        let raw = session.to_h1_raw();
        let has_length = raw.split(|&b| b == b'\n').any(|line| {
            line.get(..15)
                .is_some_and(|name| name.eq_ignore_ascii_case(b"content-length:"))
        });
        if has_length {
            return Some(ScimError::invalid_syntax(
                "the request has both Transfer-Encoding and Content-Length",
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(h: &ResponseHeader, name: &str) -> Vec<String> {
        h.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<bytes>").to_owned())
            .collect()
    }

    #[test]
    fn a_replys_head_keeps_every_header_and_frames_the_body() {
        let headers = vec![
            (
                "content-type",
                http::HeaderValue::from_static("application/scim+json"),
            ),
            ("etag", http::HeaderValue::from_static("W/\"1\"")),
            ("cache-control", http::HeaderValue::from_static("no-store")),
            ("cache-control", http::HeaderValue::from_static("private")),
            // Spelt as some replies spell it, and a name outside the known ones.
            ("Retry-After", http::HeaderValue::from_static("3")),
            ("www-authenticate", http::HeaderValue::from_static("Bearer")),
            // A length that is not the body's is replaced by the body's.
            ("content-length", http::HeaderValue::from_static("999")),
        ];
        let h = head(201, headers.clone(), 42, Some(60)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.status.as_u16(), 201);
        assert_eq!(h.version, http::Version::HTTP_11);
        assert_eq!(values(&h, "content-type"), ["application/scim+json"]);
        assert_eq!(values(&h, "etag"), ["W/\"1\""]);
        assert_eq!(values(&h, "cache-control"), ["no-store", "private"]);
        assert_eq!(values(&h, "retry-after"), ["3"]);
        assert_eq!(values(&h, "www-authenticate"), ["Bearer"]);
        assert_eq!(values(&h, "content-length"), ["42"]);
        assert!(values(&h, "connection").is_empty());
        assert_eq!(h.headers.len(), 7);
        // Without keep-alive the connection closes after it.
        let h = head(400, headers, 0, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(values(&h, "connection"), ["close"]);
        assert_eq!(values(&h, "content-length"), ["0"]);
        // What cannot be a status or a name is an error, not a panic.
        assert!(head(1000, vec![], 0, None).is_err());
        assert!(head(
            200,
            vec![("bad name", http::HeaderValue::from_static("x"))],
            0,
            None
        )
        .is_err());
    }
}
