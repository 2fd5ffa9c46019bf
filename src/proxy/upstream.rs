//! Step 5: one exchange with the target over Pingora's pooled client, the whole of it inside
//! the tenant's timeout. Bodies go with a Content-Length (never chunked); answers are read whole.

use crate::flow::exchange::{Exchange, ExchangeError, UpstreamRequest, UpstreamResponse};
use crate::policy::model::Upstream;
use crate::policy::Tenant;
use crate::telemetry::metrics::UpstreamErrorKind;
use bytes::BytesMut;
use pingora::connectors::http::Connector;
use pingora::connectors::ConnectorOptions;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use pingora::ErrorType;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest target answer the gateway reads, bytes; larger is an invalid response (502).
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
/// How long an idle pooled connection to a target is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a resolved address is used before resolving again.
const DNS_TTL: Duration = Duration::from_secs(30);

/// Pooled connections to every target: one pool for targets verified with the system's trust
/// store, one per private CA file.
pub struct UpstreamClient {
    default: Connector,
    /// Grows when a reloaded policy names a new CA file.
    by_ca: std::sync::RwLock<HashMap<PathBuf, Arc<Connector>>>,
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
}

impl UpstreamClient {
    /// `ca_files` must already be checked (policy compile does).
    pub fn new<'a>(ca_files: impl IntoIterator<Item = &'a PathBuf>) -> Self {
        let client = UpstreamClient {
            default: Connector::new(connector_options(None)),
            by_ca: std::sync::RwLock::new(HashMap::new()),
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
                m.entry(path.clone())
                    .or_insert_with(|| Arc::new(Connector::new(connector_options(Some(path)))));
            }
        }
    }

    /// Send `req` to `up` and read the whole answer within `up.timeout`.
    pub async fn exchange(
        &self,
        up: &Upstream,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        match tokio::time::timeout(up.timeout, self.exchange_with_retry(up, req)).await {
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
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        let addr = self.resolve(up).await?;
        let mut peer = HttpPeer::new(addr, up.tls, up.host.clone());
        peer.options.connection_timeout = Some(up.connect_timeout);
        peer.options.total_connection_timeout = Some(up.connect_timeout);
        peer.options.idle_timeout = Some(IDLE_TIMEOUT);
        let private = up
            .ca_file
            .as_ref()
            .and_then(|p| self.by_ca.read().ok().and_then(|m| m.get(p).cloned()));
        let connector = private.as_deref().unwrap_or(&self.default);
        // A pooled connection the target has closed meanwhile fails before any answer: try
        // once more on a fresh one. Nothing was processed, so this is safe for every method.
        match once(connector, &peer, req).await {
            Err(Attempt::StaleReused) => match once(connector, &peer, req).await {
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

    async fn resolve(&self, up: &Upstream) -> Result<SocketAddr, ExchangeError> {
        if let Ok(ip) = up.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, up.port));
        }
        let key = (up.host.clone(), up.port);
        if let Ok(cache) = self.dns.lock() {
            if let Some((addr, at)) = cache.get(&key) {
                if at.elapsed() < DNS_TTL {
                    return Ok(*addr);
                }
            }
        }
        let found = tokio::net::lookup_host((up.host.as_str(), up.port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                ExchangeError::new(
                    UpstreamErrorKind::Connect,
                    format!("the SCIM target's host {} does not resolve", up.host),
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
    StaleReused,
    Failed(ExchangeError),
}

async fn once(
    connector: &Connector,
    peer: &HttpPeer,
    req: &UpstreamRequest,
) -> Result<UpstreamResponse, Attempt> {
    let (mut session, reused) = connector
        .get_http_session(peer)
        .await
        .map_err(|e| Attempt::Failed(classify(&e, "connecting to")))?;
    let mut header = RequestHeader::build(
        req.method.clone(),
        req.path_and_query.as_bytes(),
        Some(req.headers.len()),
    )
    .map_err(|e| Attempt::Failed(classify(&e, "building the request for")))?;
    for (name, value) in &req.headers {
        header
            .append_header(*name, value.clone())
            .map_err(|e| Attempt::Failed(classify(&e, "building the request for")))?;
    }
    let sent = async {
        session.write_request_header(Box::new(header)).await?;
        if let Some(body) = req.body.as_ref().filter(|b| !b.is_empty()) {
            session.write_request_body(body.clone(), true).await?;
        }
        session.finish_request_body().await?;
        session.read_response_header().await
    }
    .await;
    if let Err(e) = sent {
        return Err(if reused && is_stale(&e) {
            Attempt::StaleReused
        } else {
            Attempt::Failed(classify(&e, "talking to"))
        });
    }
    let (status, headers) = match session.response_header() {
        Some(h) => (h.status.as_u16(), h.headers.clone()),
        None => {
            return Err(Attempt::Failed(ExchangeError::new(
                UpstreamErrorKind::InvalidResponse,
                "the SCIM target sent no response header",
            )))
        }
    };
    let mut body = BytesMut::new();
    loop {
        match session.read_response_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(Attempt::Failed(ExchangeError::new(
                        UpstreamErrorKind::InvalidResponse,
                        format!(
                            "the SCIM target's answer is larger than {MAX_RESPONSE_BYTES} bytes"
                        ),
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(Attempt::Failed(classify(&e, "reading the answer of"))),
        }
    }
    connector
        .release_http_session(session, peer, Some(IDLE_TIMEOUT))
        .await;
    Ok(UpstreamResponse {
        status,
        headers,
        body: body.freeze(),
    })
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
