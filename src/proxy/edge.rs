//! The IdP listeners' connection edge: what a connection may cost before a request is read.
//!
//! Pingora's HTTP/1 loop bounds only each read of a request head (its keep-alive timeout,
//! applied per read: a client sending one byte every few seconds keeps a connection forever),
//! accepts heads up to 1 MiB and accepts connections until the descriptors run out. [`Edge`]
//! is a [`ServerApp`] around the gateway's HTTP app that runs Pingora's HTTP/1 loop over a
//! [`Guarded`] stream and adds, per connection:
//!
//! - **a whole-head deadline** (`--header-timeout-ms`): from accept for the first request and
//!   from its first byte for the next ones; past it, a head begun is answered `408` and the
//!   connection closes, a connection that sent nothing closes quietly;
//! - **a head size cap** (`--max-header-bytes`): past it, `431`;
//! - **a connection cap** (`--max-connections`, shared by both IdP listeners): at the cap, an
//!   idle connection (between requests, or accepted and silent) is closed to make room; only
//!   when none is idle is the new one refused with `503` + `Retry-After`;
//! - **lingering close**: when a connection closes with request bytes possibly unread (an
//!   answer before the body was read: 401, 413, 415, 429, …; a refused head), it half-closes
//!   and drains what the client still sends for up to [`LINGER`], so the client reads the
//!   answer instead of a reset (nginx's `lingering_close`);
//! - **SCIM errors for Pingora's own refusals**: a head Pingora's parser refuses (obs-fold,
//!   conflicting Content-Lengths, a bad Transfer-Encoding) is answered with a SCIM error body
//!   and `Connection: close` instead of Pingora's empty one.
//!
//! The request path pays one atomic load per read or write. The phase of a connection is
//! shared with the proxy through a task-local ([`request_started`], [`linger_on_close`]):
//! Pingora runs an HTTP/1 connection's requests on the task that accepted it.

use super::Gateway;
use crate::scim::error::ScimError;
use crate::telemetry::metrics;
use async_trait::async_trait;
use atomic_waker::AtomicWaker;
use pingora::apps::ServerApp;
use pingora::protocols::http::ServerSession;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use pingora::server::ShutdownWatch;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a closing connection drains what the client still sends (nginx: 5 s per read,
/// 30 s in all; one bound here).
pub const LINGER: Duration = Duration::from_secs(5);
/// How long a refusal (`408`, `431`, `503` at the cap) may take to be written.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);
/// Read size while draining.
const DRAIN_CHUNK: usize = 8192;

/// Between requests, or accepted and silent: may be closed to make room.
const IDLE: u8 = 0;
/// A request head is arriving.
const HEAD: u8 = 1;
/// A request is being served (head parsed; body, upstream, answer).
const BUSY: u8 = 2;
/// Chosen to make room; reads end.
const EVICTED: u8 = 3;

/// Per-connection bounds of the IdP listeners.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// Keep-alive idle time between requests (`--idle-timeout-s`).
    pub idle_timeout_s: u64,
    /// Whole request head (`--header-timeout-ms`).
    pub header_timeout: Duration,
    /// Request head bytes (`--max-header-bytes`).
    pub max_header_bytes: usize,
}

/// The open IdP connections of the process (both listeners), for the cap and the gauge.
pub struct Connections {
    max: usize,
    open: AtomicUsize,
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<Conn>>>,
}

/// One connection's shared state.
pub struct Conn {
    id: u64,
    listener: &'static str,
    phase: AtomicU8,
    /// Counted in `open` (an evicted connection's place passes to the one that evicted it).
    counted: AtomicBool,
    /// Requests served so far: a new number starts a new head.
    requests: AtomicU32,
    /// Close by half-closing and draining (request bytes may be unread).
    linger: AtomicBool,
    /// The task reading this connection, woken on eviction.
    waker: AtomicWaker,
    /// `scimgate_worker_connections` of the thread that took the connection.
    worker: prometheus::IntGauge,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Connections {
            max: max.max(1),
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// Connections counted against the cap now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is used as is.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection: a free one, or an idle connection's; `None` at the cap.
    fn admit(self: &Arc<Self>, listener: &'static str) -> Option<Slot> {
        let free = self.open.fetch_add(1, Ordering::AcqRel) < self.max;
        if !free {
            self.open.fetch_sub(1, Ordering::AcqRel);
            if !self.evict_idle() {
                return None;
            }
        }
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            listener,
            phase: AtomicU8::new(IDLE),
            counted: AtomicBool::new(true),
            requests: AtomicU32::new(0),
            linger: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            worker: metrics::WORKER_CONNECTIONS.with_label_values(&[worker()]),
        });
        self.live().insert(conn.id, conn.clone());
        metrics::CONNECTIONS.with_label_values(&[listener]).inc();
        conn.worker.inc();
        Some(Slot {
            conns: self.clone(),
            conn,
        })
    }

    /// Close one idle connection and take its place.
    fn evict_idle(&self) -> bool {
        let live = self.live();
        for conn in live.values() {
            if conn
                .phase
                .compare_exchange(IDLE, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                conn.counted.store(false, Ordering::Release);
                conn.waker.wake();
                return true;
            }
        }
        false
    }
}

/// A connection's place, given back when the connection ends.
struct Slot {
    conns: Arc<Connections>,
    conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conns.live().remove(&self.conn.id);
        if self.conn.counted.swap(false, Ordering::AcqRel) {
            self.conns.open.fetch_sub(1, Ordering::AcqRel);
        }
        metrics::CONNECTIONS
            .with_label_values(&[self.conn.listener])
            .dec();
        self.conn.worker.dec();
    }
}

/// This thread's number among the threads that serve IdP connections ("0", "1", …, in the
/// order they took their first one), the `worker` label of `scimgate_worker_connections`.
/// With thread per core a connection is served where it was accepted (the carried Pingora
/// patch), and the accept loops take turns, so the gauge shows how even the threads' share is.
fn worker() -> &'static str {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static ME: &'static str = Box::leak(NEXT.fetch_add(1, Ordering::Relaxed).to_string().into_boxed_str());
    }
    ME.with(|me| *me)
}

tokio::task_local! {
    static CURRENT: Arc<Conn>;
}

/// The proxy read a request head: the connection is serving, not idle, from here on.
pub fn request_started() {
    let _ = CURRENT.try_with(|c| {
        let _ = c
            .phase
            .compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire);
        let _ = c
            .phase
            .compare_exchange(HEAD, BUSY, Ordering::AcqRel, Ordering::Acquire);
    });
}

/// The connection closes with request bytes possibly unread: linger.
pub fn linger_on_close() {
    let _ = CURRENT.try_with(|c| c.linger.store(true, Ordering::Release));
}

/// The gateway's HTTP app behind the edge.
pub struct Edge {
    app: Arc<Gateway>,
    conns: Arc<Connections>,
    limits: EdgeLimits,
    listener: &'static str,
}

impl Edge {
    pub fn new(
        app: Gateway,
        conns: Arc<Connections>,
        limits: EdgeLimits,
        listener: &'static str,
    ) -> Self {
        Edge {
            app: Arc::new(app),
            conns,
            limits,
            listener,
        }
    }
}

#[async_trait]
impl ServerApp for Edge {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Some(slot) = self.conns.admit(self.listener) else {
            metrics::CONNECTIONS_REFUSED
                .with_label_values(&[self.listener])
                .inc();
            refuse_at_cap(stream).await;
            return None;
        };
        let conn = slot.conn.clone();
        let guarded: Stream = Box::new(Guarded::new(stream, conn.clone(), self.limits));
        // The HTTP/1 loop of Pingora's `ServerApp for HttpServerApp` (the IdP listeners offer
        // no HTTP/2: no h2c, and TLS negotiates no ALPN).
        let mut session = ServerSession::new_http1(guarded);
        // Requests sent before the previous answer are served in order (RFC 9112 §9.3.2)
        // rather than dropped with the connection (Pingora's default).
        session.set_pipelining_enabled(true);
        if *shutdown.borrow() {
            session.set_keepalive(None);
        } else {
            session.set_keepalive(Some(self.limits.idle_timeout_s.max(1)));
        }
        loop {
            // The request's future (its whole state, ~6.6 KB) is pinned where it is made and
            // the task-local scope holds a reference, not a copy of it.
            let request = std::pin::pin!(self.app.process_new_http(session, shutdown));
            let Some((stream, settings)) = CURRENT
                .scope(conn.clone(), request)
                .await
                .map(|r| r.consume())
            else {
                break;
            };
            let _ = conn
                .phase
                .compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire);
            conn.requests.fetch_add(1, Ordering::AcqRel);
            session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
        }
        drop(slot);
        None
    }
}

/// An HTTP/1.1 answer the edge writes itself: a SCIM error, and the connection closes.
fn canned(status: u16, detail: &str, extra: &str) -> Vec<u8> {
    let body = ScimError::new(status, None, detail).body();
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// At the cap with no idle connection: `503` + `Retry-After`, then close, all bounded.
async fn refuse_at_cap(mut stream: Stream) {
    let answer = canned(
        503,
        "the gateway is at its connection limit (--max-connections); retry shortly",
        "retry-after: 1\r\n",
    );
    let written = tokio::time::timeout(REFUSAL_WRITE, async {
        stream.write_all(&answer).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
    if matches!(written, Ok(Ok(()))) {
        // What the client sent meanwhile, so the close is not a reset over the answer.
        let _ = tokio::time::timeout(REFUSAL_WRITE, async {
            let mut scratch = vec![0u8; DRAIN_CHUNK];
            while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

/// The deadline and size of the request head being read.
struct Head {
    /// Which request (`Conn::requests`) the head belongs to.
    request: u32,
    bytes: usize,
    deadline: Option<Pin<Box<Sleep>>>,
}

/// An answer the edge writes in place of Pingora or before closing.
struct Pending {
    bytes: Vec<u8>,
    written: usize,
}

impl Pending {
    fn new(bytes: Vec<u8>) -> Self {
        Pending { bytes, written: 0 }
    }

    /// Write the rest; `Ready(Ok)` once all is written and flushed.
    fn poll_write_all(&mut self, inner: &mut Stream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = self.bytes.get(self.written..).filter(|r| !r.is_empty()) {
            match Pin::new(&mut *inner).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut *inner).poll_flush(cx)
    }
}

/// A refusal of the head being read (`408`, `431`): written, then the read fails.
struct Refusal {
    answer: Pending,
    deadline: Pin<Box<Sleep>>,
    reason: String,
}

/// Lingering close: half-closed, draining until the client closes or the deadline.
struct Linger {
    shut: bool,
    deadline: Pin<Box<Sleep>>,
    scratch: Box<[u8]>,
}

/// The IdP stream under the edge's bounds (see the module docs).
pub struct Guarded {
    inner: Stream,
    conn: Arc<Conn>,
    limits: EdgeLimits,
    head: Head,
    refusal: Option<Refusal>,
    /// Pingora's own refusal of a head, rewritten as a SCIM error.
    rewritten: Option<Pending>,
    linger: Option<Linger>,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .field("conn", &self.conn.id)
            .finish()
    }
}

impl Guarded {
    fn new(inner: Stream, conn: Arc<Conn>, limits: EdgeLimits) -> Self {
        Guarded {
            inner,
            conn,
            limits,
            // The first head's deadline runs from accept.
            head: Head {
                request: 0,
                bytes: 0,
                deadline: Some(Box::pin(tokio::time::sleep(limits.header_timeout))),
            },
            refusal: None,
            rewritten: None,
            linger: None,
        }
    }

    fn refuse(&mut self, status: u16, reason: String) {
        let label = if status == 408 {
            "header_timeout"
        } else {
            "header_too_large"
        };
        metrics::EDGE_REFUSALS
            .with_label_values(&[self.conn.listener, label])
            .inc();
        self.conn.linger.store(true, Ordering::Release);
        self.refusal = Some(Refusal {
            answer: Pending::new(canned(status, &reason, "")),
            deadline: Box::pin(tokio::time::sleep(REFUSAL_WRITE)),
            reason,
        });
    }

    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(refusal) = self.refusal.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let done = match refusal.answer.poll_write_all(&mut self.inner, cx) {
            Poll::Ready(_) => true,
            Poll::Pending => refusal.deadline.as_mut().poll(cx).is_ready(),
        };
        if done {
            Poll::Ready(Err(io::Error::other(refusal.reason.clone())))
        } else {
            Poll::Pending
        }
    }

    /// Reading a request head: deadline, size, eviction.
    fn poll_read_head(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        phase: u8,
    ) -> Poll<io::Result<()>> {
        let request = self.conn.requests.load(Ordering::Acquire);
        if self.head.request != request {
            // A new request on a kept-alive connection: its deadline starts at its first byte
            // (until then Pingora's keep-alive timeout applies).
            self.head = Head {
                request,
                bytes: 0,
                deadline: None,
            };
        }
        if let Some(deadline) = self.head.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                if self.head.bytes == 0 {
                    // Accepted and silent: close quietly.
                    return Poll::Ready(Ok(()));
                }
                self.refuse(
                    408,
                    format!(
                        "the request head did not arrive within {} ms",
                        self.limits.header_timeout.as_millis()
                    ),
                );
                return self.poll_refusal(cx);
            }
        }
        if self.head.bytes >= self.limits.max_header_bytes {
            self.refuse(
                431,
                format!(
                    "the request head is larger than {} bytes",
                    self.limits.max_header_bytes
                ),
            );
            return self.poll_refusal(cx);
        }
        // Register, then look again: an eviction between the first look and the registration
        // would otherwise wake no one.
        self.conn.waker.register(cx.waker());
        if self.conn.phase.load(Ordering::Acquire) == EVICTED {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            let n = buf.filled().len() - before;
            if n > 0 {
                if phase == IDLE
                    && self
                        .conn
                        .phase
                        .compare_exchange(IDLE, HEAD, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                {
                    // Evicted as the bytes arrived: the connection closes.
                    buf.set_filled(before);
                    return Poll::Ready(Ok(()));
                }
                if self.head.deadline.is_none() {
                    self.head.deadline = Some(Box::pin(tokio::time::sleep_until(
                        Instant::now() + self.limits.header_timeout,
                    )));
                }
                self.head.bytes += n;
            }
        }
        read
    }

    /// Pingora answering before the proxy saw a request is its own refusal of the head.
    fn rewrite(status_line: &[u8]) -> Pending {
        let status = status_line
            .get(9..12)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (400..600).contains(s))
            .unwrap_or(400);
        let detail = match status {
            400 => "the request head is malformed or its framing is ambiguous (obs-fold, conflicting Content-Length, Transfer-Encoding)",
            405 => "the method is not served",
            _ => "the request was refused before it was read",
        };
        Pending::new(canned(status, detail, ""))
    }

    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let linger = self.linger.get_or_insert_with(|| Linger {
            shut: false,
            deadline: Box::pin(tokio::time::sleep(LINGER)),
            scratch: vec![0u8; DRAIN_CHUNK].into_boxed_slice(),
        });
        if linger.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        if !linger.shut {
            match Pin::new(&mut self.inner).poll_shutdown(cx) {
                Poll::Ready(Ok(())) => linger.shut = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        loop {
            let mut scratch = ReadBuf::new(&mut linger.scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut scratch) {
                Poll::Ready(Ok(())) if !scratch.filled().is_empty() => continue,
                // The client closed (or the connection broke): done.
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return this.poll_refusal(cx);
        }
        match this.conn.phase.load(Ordering::Acquire) {
            BUSY => Pin::new(&mut this.inner).poll_read(cx, buf),
            EVICTED => Poll::Ready(Ok(())),
            phase => this.poll_read_head(cx, buf, phase),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewritten.is_none() && this.conn.phase.load(Ordering::Acquire) != BUSY {
            this.conn.linger.store(true, Ordering::Release);
            metrics::EDGE_REFUSALS
                .with_label_values(&[this.conn.listener, "malformed"])
                .inc();
            this.rewritten = Some(Self::rewrite(buf));
        }
        match this.rewritten.as_mut() {
            // Pingora's bytes are taken whole; ours go out instead.
            Some(answer) => match answer.poll_write_all(&mut this.inner, cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewritten.is_none() && this.conn.phase.load(Ordering::Acquire) == BUSY {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        Pin::new(this).poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.rewritten.as_mut() {
            Some(answer) => answer.poll_write_all(&mut this.inner, cx),
            None => Pin::new(&mut this.inner).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(answer) = this.rewritten.as_mut() {
            if answer.poll_write_all(&mut this.inner, cx).is_pending() {
                return Poll::Pending;
            }
        }
        if this.conn.linger.load(Ordering::Acquire) {
            this.poll_linger(cx)
        } else {
            Pin::new(&mut this.inner).poll_shutdown(cx)
        }
    }
}

#[async_trait]
impl Shutdown for Guarded {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(self.inner.as_mut()).await;
    }
}

impl UniqueID for Guarded {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Guarded {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Guarded {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Guarded {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for Guarded {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for Guarded {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}
