//! Step 5: one exchange with the target over Pingora's pooled client, the whole of it inside
//! the tenant's timeout. Bodies go with a Content-Length (never chunked); answers are read whole,
//! up to the tenant's `max_response_bytes`, past any 1xx; only idempotent requests are re-sent.

use super::pool::{Pool, Target};
use crate::flow::exchange::{
    Exchange, ExchangeError, UpstreamRequest, UpstreamResponse, MAX_TOKEN_ANSWER_BYTES,
};
use crate::policy::model::{Endpoint, Upstream};
use crate::policy::Tenant;
use crate::telemetry::metrics::UpstreamErrorKind;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};
use pingora::connectors::{ConnectorOptions, TransportConnector};
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::protocols::http::v1::client::HttpSession as Http1Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{ErrorType, OrErr};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an idle pooled connection to a target is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a resolved address is used before resolving again.
const DNS_TTL: Duration = Duration::from_secs(30);

/// Pooled connections to every target: new ones through one connector for targets verified
/// with the system's trust store and one per private CA file; idle ones in [`Pool`].
pub struct UpstreamClient {
    default: TransportConnector,
    /// Grows when a reloaded policy names a new CA file.
    by_ca: std::sync::RwLock<HashMap<PathBuf, Arc<TransportConnector>>>,
    pool: Pool,
    dns: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

#[async_trait::async_trait]
impl Exchange for UpstreamClient {
    async fn exchange(
        &self,
        tenant: &Tenant,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        UpstreamClient::exchange(self, &tenant.upstream, req).await
    }

    async fn exchange_at(
        &self,
        tenant: &Tenant,
        endpoint: &Endpoint,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        let dest = Dest {
            host: &endpoint.host,
            port: endpoint.port,
            tls: endpoint.tls,
            max_response_bytes: MAX_TOKEN_ANSWER_BYTES,
            // A token request sent twice costs a second token, nothing more.
            resend: true,
        };
        self.exchange_to(&tenant.upstream, &dest, req).await
    }
}

/// Where one exchange goes: the target's base URL, or another endpoint of the tenant (its
/// token endpoint) under the same timeouts and trust.
struct Dest<'a> {
    host: &'a str,
    port: u16,
    tls: bool,
    max_response_bytes: usize,
    /// Any method may go again after a stale pooled connection failed (else only idempotent
    /// ones, [`may_resend`]).
    resend: bool,
}

impl<'a> Dest<'a> {
    fn target(up: &'a Upstream) -> Self {
        Dest {
            host: &up.host,
            port: up.port,
            tls: up.tls,
            max_response_bytes: up.max_response_bytes,
            resend: false,
        }
    }
}

impl UpstreamClient {
    /// `ca_files` must already be checked (policy compile does).
    pub fn new<'a>(ca_files: impl IntoIterator<Item = &'a PathBuf>) -> Self {
        let client = UpstreamClient {
            default: TransportConnector::new(connector_options(None)),
            by_ca: std::sync::RwLock::new(HashMap::new()),
            pool: Pool::new(IDLE_TIMEOUT),
            dns: Mutex::new(HashMap::new()),
        };
        for p in ca_files {
            client.ensure_ca(p);
        }
        client
    }

    /// Have a pool for targets behind the private CA in `path` (already checked by the policy
    /// compiler).
    pub fn ensure_ca(&self, path: &PathBuf) {
        let known = self
            .by_ca
            .read()
            .map(|m| m.contains_key(path))
            .unwrap_or(true);
        if !known {
            if let Ok(mut m) = self.by_ca.write() {
                m.entry(path.clone()).or_insert_with(|| {
                    Arc::new(TransportConnector::new(connector_options(Some(path))))
                });
            }
        }
    }

    /// Send `req` to `up` and read the whole answer within `up.timeout` (and by the request's
    /// deadline, when it has one).
    pub async fn exchange(
        &self,
        up: &Upstream,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        self.exchange_to(up, &Dest::target(up), req).await
    }

    /// [`UpstreamClient::exchange`] to `dest` under `up`'s timeouts and trust.
    async fn exchange_to(
        &self,
        up: &Upstream,
        dest: &Dest<'_>,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        let budget = req.deadline.map_or(up.timeout, |d| {
            d.saturating_duration_since(Instant::now()).min(up.timeout)
        });
        // Pingora's timer wheel (10 ms ticks, one thread): a tokio timer per request woke the
        // reactor with an eventfd write when it became the earliest.
        // The exchange's future (~4 KB: the session and Pingora's read and write states) is
        // pinned where it is made and the timeout holds a reference: moved into the timeout by
        // value, it was copied whole once a request (~3 % of the gateway's CPU by `perf`).
        let exchange = std::pin::pin!(self.exchange_with_retry(up, dest, req));
        match pingora::time::timeout(budget, exchange).await {
            Ok(r) => r,
            Err(_) => Err(ExchangeError::new(
                UpstreamErrorKind::Timeout,
                format!(
                    "the SCIM target did not answer within {} ms",
                    up.timeout.as_millis()
                ),
            )),
        }
    }

    async fn exchange_with_retry(
        &self,
        up: &Upstream,
        dest: &Dest<'_>,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        let addr = self.resolve(dest.host, dest.port).await?;
        let mut peer = HttpPeer::new(addr, dest.tls, dest.host.to_string());
        peer.options.connection_timeout = Some(up.connect_timeout);
        peer.options.total_connection_timeout = Some(up.connect_timeout);
        let private = up
            .ca_file
            .as_ref()
            .and_then(|p| self.by_ca.read().ok().and_then(|m| m.get(p).cloned()));
        let via = Via {
            connector: private.as_deref().unwrap_or(&self.default),
            pool: &self.pool,
            peer: &peer,
            target: Target {
                addr,
                tls: dest.tls,
                sni: dest.host,
                ca: up.ca_file.as_deref(),
            },
        };
        // A stale pooled connection: once more, on a fresh one (see `once` for which methods).
        let limit = dest.max_response_bytes;
        let resend = dest.resend || may_resend(&req.method);
        match once(&via, req, limit, resend, false).await {
            Err(Attempt::StaleReused) => match once(&via, req, limit, resend, true).await {
                Err(Attempt::StaleReused) => Err(ExchangeError::new(
                    UpstreamErrorKind::Connect,
                    "the SCIM target closed the connection",
                )),
                Err(Attempt::Failed(e)) => Err(e),
                Ok(r) => Ok(r),
            },
            Err(Attempt::Failed(e)) => Err(e),
            Ok(r) => Ok(r),
        }
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, ExchangeError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let key = (host.to_string(), port);
        if let Ok(cache) = self.dns.lock() {
            if let Some((addr, at)) = cache.get(&key) {
                if at.elapsed() < DNS_TTL {
                    return Ok(*addr);
                }
            }
        }
        let found = tokio::net::lookup_host((host, port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                ExchangeError::unsent(
                    UpstreamErrorKind::Connect,
                    format!("the SCIM target's host {host} does not resolve"),
                )
            })?;
        if let Ok(mut cache) = self.dns.lock() {
            cache.insert(key, (found, Instant::now()));
        }
        Ok(found)
    }
}

fn connector_options(ca: Option<&PathBuf>) -> Option<ConnectorOptions> {
    let mut o = ConnectorOptions::new(256);
    o.ca_file = ca.map(|p| p.to_string_lossy().into_owned());
    Some(o)
}

enum Attempt {
    /// A pooled connection failed with nothing read, and the request may be sent again.
    StaleReused,
    Failed(ExchangeError),
}

/// How many informational (1xx) answers are skipped before the final one; more is a 502.
const MAX_INFORMATIONAL: usize = 8;

/// Methods whose request may be sent a second time (RFC 9110 §9.2.2, idempotent). A POST or a
/// PATCH that may have reached the target is never re-sent: Pingora cannot tell whether a
/// failed write left the socket in part, so "nothing left" cannot be proven for them.
fn may_resend(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE
    )
}

fn invalid(detail: impl Into<String>) -> Attempt {
    Attempt::Failed(ExchangeError::new(
        UpstreamErrorKind::InvalidResponse,
        detail,
    ))
}

/// How one exchange reaches its target.
struct Via<'a> {
    /// Makes new connections (TCP, TLS with the tenant's trust).
    connector: &'a TransportConnector,
    /// Holds idle ones.
    pool: &'a Pool,
    peer: &'a HttpPeer,
    target: Target<'a>,
}

impl Via<'_> {
    /// An idle connection to the target, else a new one (`true`: reused). `fresh`: a new one
    /// in any case (the retry after a pooled one turned out dead: the others may be too).
    async fn session(&self, fresh: bool) -> pingora::Result<(HttpSession, bool)> {
        let idle = if fresh {
            None
        } else {
            self.pool.take(self.target)
        };
        let (stream, reused) = match idle {
            Some(s) => (s, true),
            // Boxed: the connect (TCP, TLS handshake) is the largest state of this exchange's
            // future, and every exchange's future is moved whole (into its timeout, into the
            // `Exchange` trait's box): ~10 KB copied three times a request, for a state a
            // pooled request never enters.
            None => (Box::pin(self.connector.new_stream(self.peer)).await?, false),
        };
        let h1 = Http1Session::new_with_options(stream, self.peer);
        Ok((HttpSession::H1(h1), reused))
    }

    /// Keep the connection of a complete exchange when HTTP allows it (keep-alive, the whole
    /// answer read, nothing read past it). Returns the answer's headers, moved out of the
    /// session once its keep-alive is decided (which reads them), not copied.
    async fn release(&self, session: HttpSession) -> Option<HeaderMap> {
        match session {
            HttpSession::H1(mut h1) => {
                h1.respect_keepalive();
                let headers = h1
                    .take_resp_header()
                    .map(|h| http::response::Parts::from(*h).headers);
                if let Some(stream) = h1.reuse().await {
                    self.pool.put(self.target, stream);
                }
                headers
            }
            other => other.response_header().map(|h| h.headers.clone()),
        }
    }
}

/// The largest body sent in the same write as its head.
const ONE_WRITE: usize = 64 * 1024;

/// `resend`: the request may go again on a fresh connection after a stale pooled one failed.
/// `fresh`: on a new connection, not an idle one.
async fn once(
    via: &Via<'_>,
    req: &UpstreamRequest,
    limit: usize,
    resend: bool,
    fresh: bool,
) -> Result<UpstreamResponse, Attempt> {
    // Until the head is written nothing has left: these failures are `unsent` (a POST or a
    // PATCH may then go again, `flow::retry`).
    let (mut session, reused) = via
        .session(fresh)
        .await
        .map_err(|e| Attempt::Failed(unsent(classify(&e, "connecting to"))))?;
    if !reused {
        crate::telemetry::metrics::UPSTREAM_CONNECTIONS_OPENED.inc();
    }
    let header = request_head(req)
        .map_err(|e| Attempt::Failed(unsent(classify(&e, "building the request for"))))?;
    let sent = async {
        match (&mut session, req.body.as_ref().filter(|b| !b.is_empty())) {
            // Head and body in one write (the carried patch): one segment, one wake-up of the
            // target, where two writes cost a second `sendto` per POST, PUT or PATCH. Up to
            // ONE_WRITE bytes of body: past that the copy into one buffer costs more than the
            // second `sendto` saves.
            (HttpSession::H1(h1), Some(body)) if body.len() <= ONE_WRITE => {
                h1.write_request_header_and_body(Box::new(header), body)
                    .await?;
            }
            (session, body) => {
                session.write_request_header(Box::new(header)).await?;
                if let Some(body) = body {
                    session.write_request_body(body.clone(), true).await?;
                }
            }
        }
        session.finish_request_body().await?;
        session.read_response_header().await
    }
    .await;
    if let Err(e) = sent {
        // A pooled connection the target closed meanwhile fails before any answer. The request
        // may still have reached the target, so only an idempotent one goes again.
        return Err(if reused && is_stale(&e) && resend {
            Attempt::StaleReused
        } else {
            Attempt::Failed(classify(&e, "talking to"))
        });
    }
    let status = final_status(&mut session).await?;
    // A HEAD, a 204 or a 304 declares a length it does not send.
    let has_body = req.method != Method::HEAD && !matches!(status, 204 | 304);
    let declared = session
        .response_header()
        .and_then(|h| h.headers.get(http::header::CONTENT_LENGTH))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = read_body(&mut session, declared, has_body, limit).await?;
    let Some(headers) = via.release(session).await else {
        return Err(invalid("the SCIM target sent no response header"));
    };
    Ok(UpstreamResponse {
        status,
        headers,
        body,
    })
}

/// The head of `req` for the target. No map of the names' spelling: Pingora writes the common
/// names in title case (`Host`, `Content-Type`), the rest lowercase (names are
/// case-insensitive, RFC 9110 §5.1).
///
/// Built as `http` parts, the same head as `RequestHeader::build_no_case` and `append_header`
/// give (`From<Parts>`: the target written from the `Uri`, no spelling map), without their
/// copies: the path is parsed once from its own string, and the names are the gateway's own,
/// not written out as bytes and parsed back. A path with a `#` (never built by the flow) goes
/// through Pingora's own parse, which drops the fragment.
fn request_head(req: &UpstreamRequest) -> pingora::Result<RequestHeader> {
    if req.path_and_query.contains('#') {
        return pingoras_request_head(req);
    }
    let path = http::uri::PathAndQuery::try_from(req.path_and_query.clone())
        .or_err(ErrorType::InvalidHTTPHeader, "invalid request target")?;
    let mut parts = http::Request::new(()).into_parts().0;
    parts.method = req.method.clone();
    parts.uri = http::Uri::from(path);
    parts.headers.reserve(req.headers.len());
    for (name, value) in &req.headers {
        let name =
            super::header_name(name).or_err(ErrorType::InvalidHTTPHeader, "invalid header name")?;
        parts
            .headers
            .try_append(name, value.clone())
            .or_err(ErrorType::InvalidHTTPHeader, "too many request headers")?;
    }
    Ok(RequestHeader::from(parts))
}

/// The head of `req` as Pingora's own builder makes it (the reference [`request_head`] is
/// held to).
fn pingoras_request_head(req: &UpstreamRequest) -> pingora::Result<RequestHeader> {
    let mut header = RequestHeader::build_no_case(
        req.method.clone(),
        req.path_and_query.as_bytes(),
        Some(req.headers.len()),
    )?;
    for (name, value) in &req.headers {
        header.append_header(*name, value.clone())?;
    }
    Ok(header)
}

/// The final answer's status, past any 1xx (100 Continue, 102 Processing, 103
/// Early Hints; Pingora's body reader panics if called after one). A 101, or more than
/// [`MAX_INFORMATIONAL`] of them, is an invalid response.
async fn final_status(session: &mut HttpSession) -> Result<u16, Attempt> {
    let mut informational = 0;
    loop {
        let Some(h) = session.response_header() else {
            return Err(invalid("the SCIM target sent no response header"));
        };
        let status = h.status.as_u16();
        if status == 101 {
            return Err(invalid(
                "the SCIM target answered 101 Switching Protocols to a SCIM request",
            ));
        }
        if !(100..200).contains(&status) {
            return Ok(status);
        }
        informational += 1;
        if informational > MAX_INFORMATIONAL {
            return Err(invalid(format!(
                "the SCIM target sent more than {MAX_INFORMATIONAL} informational (1xx) answers"
            )));
        }
        session
            .read_response_header()
            .await
            .map_err(|e| Attempt::Failed(classify(&e, "reading the answer of")))?;
    }
}

/// The answer's body, at most `limit` bytes: a larger declared length is refused before a byte
/// of it is read, any other answer as soon as what arrived passes the limit.
async fn read_body(
    session: &mut HttpSession,
    declared: Option<u64>,
    has_body: bool,
    limit: usize,
) -> Result<Bytes, Attempt> {
    let too_large = || {
        invalid(format!(
            "the SCIM target's answer is larger than {limit} bytes (upstream.max_response_bytes)"
        ))
    };
    if has_body && declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // An answer that came in one piece (most do: the first read takes 16 KiB) is kept as it
    // came, without a copy.
    let mut first: Option<Bytes> = None;
    let mut body = BytesMut::new();
    loop {
        match session.read_response_body().await {
            Ok(Some(chunk)) => {
                let so_far = first.as_ref().map_or(body.len(), Bytes::len);
                if so_far.saturating_add(chunk.len()) > limit {
                    return Err(too_large());
                }
                if body.is_empty() && first.is_none() {
                    first = Some(chunk);
                } else {
                    if let Some(f) = first.take() {
                        body.extend_from_slice(&f);
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(None) => return Ok(first.unwrap_or_else(|| body.freeze())),
            Err(e) => return Err(Attempt::Failed(classify(&e, "reading the answer of"))),
        }
    }
}

/// `e`, known to have happened before any byte of the request was written.
fn unsent(e: ExchangeError) -> ExchangeError {
    ExchangeError { unsent: true, ..e }
}

fn is_stale(e: &pingora::Error) -> bool {
    matches!(
        e.etype(),
        ErrorType::ConnectionClosed | ErrorType::WriteError | ErrorType::ReadError
    )
}

/// Map a Pingora error to a metric kind and a message without internal addresses.
fn classify(e: &pingora::Error, doing: &str) -> ExchangeError {
    use UpstreamErrorKind::*;
    let kind = match e.etype() {
        ErrorType::ConnectTimedout
        | ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::BindError
        | ErrorType::SocketError
        | ErrorType::TLSHandshakeFailure
        | ErrorType::TLSHandshakeTimedout
        | ErrorType::InvalidCert
        | ErrorType::HandshakeError
        | ErrorType::ConnectProxyFailure => Connect,
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => Timeout,
        _ => InvalidResponse,
    };
    let what = match kind {
        Connect => "could not connect",
        Timeout => "timed out",
        _ => "failed",
    };
    ExchangeError::new(
        kind,
        format!("{doing} the SCIM target {what}: {}", e.etype().as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn wire(h: &RequestHeader) -> (String, Vec<u8>) {
        let mut buf = Vec::new();
        h.header_to_h1_wire(&mut buf);
        (String::from_utf8_lossy(h.raw_path()).into_owned(), buf)
    }

    #[test]
    fn a_requests_head_is_the_one_pingoras_builder_makes() {
        let headers = vec![
            ("host", HeaderValue::from_static("127.0.0.1:8081")),
            ("accept", HeaderValue::from_static("application/scim+json")),
            ("if-match", HeaderValue::from_static("W/\"3\"")),
            ("accept-language", HeaderValue::from_static("fr")),
            ("authorization", HeaderValue::from_static("Bearer x")),
            ("user-agent", HeaderValue::from_static("scimgate/0")),
            (
                "content-type",
                HeaderValue::from_static("application/scim+json"),
            ),
            ("content-length", HeaderValue::from_static("12")),
            ("x-other", HeaderValue::from_static("1")),
            ("x-other", HeaderValue::from_static("2")),
        ];
        let paths = [
            "/",
            "/base/v2/Users",
            "/base/v2/Users?filter=userName%20eq%20%22a%22&count=10",
            "//evil.example/v2/Users",
            "/v2/Users/%2e%2e/x?",
            "/v2/Users#frag",
            "/v2/Users?x=1#frag",
            "/v2/Us ers",
        ];
        for path in paths {
            for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
                let req = UpstreamRequest {
                    method: method.clone(),
                    path_and_query: path.to_owned(),
                    headers: headers.clone(),
                    body: None,
                    deadline: None,
                };
                let ours = request_head(&req);
                let theirs = pingoras_request_head(&req).ok();
                match (ours, theirs) {
                    (Ok(ours), Some(theirs)) => {
                        assert_eq!(ours.method, theirs.method, "{path}");
                        assert_eq!(ours.uri, theirs.uri, "{path}");
                        assert_eq!(ours.version, theirs.version, "{path}");
                        assert_eq!(ours.headers, theirs.headers, "{path}");
                        assert_eq!(wire(&ours), wire(&theirs), "{path}");
                    }
                    (Err(_), None) => {}
                    (ours, theirs) => panic!(
                        "{path}: ours {:?}, Pingora's {:?}",
                        ours.map(|h| h.uri.clone()),
                        theirs.map(|h| h.uri.clone())
                    ),
                }
            }
        }
    }
}
