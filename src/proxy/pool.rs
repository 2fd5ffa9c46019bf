//! Idle connections to the targets, kept here rather than in Pingora's pool.
//!
//! Pingora 0.9.1's pool (`TransportConnector::release_stream`) spawns a task per released
//! connection to watch it while idle, wakes that task again on every reuse, and asks the kernel
//! for the socket's peer address (`getpeername`) on each reuse because its key is a 64-bit hash.
//! On a 6 KB list passed through that is a task, two wake-ups, a timer, a syscall and a
//! handful of allocations per request. This pool is a list of idle streams per target:
//!
//! - the key is the whole target (address, TLS, SNI, CA file), compared in full, so no two
//!   targets can share a connection, hash collision or not;
//! - a connection is taken newest first and is checked before use: one that the target closed
//!   (or that has bytes waiting nobody asked for) is dropped, and the next one is tried;
//! - one shard per worker thread (by first use), so threads do not contend and, with
//!   thread-per-core runtimes, a connection stays on the reactor that registered it;
//! - bounded: at most [`MAX_IDLE_PER_TARGET`] per target per shard, and none older than the
//!   idle timeout: expired ones are dropped when the shard is next used and by a sweeper thread
//!   every few seconds, so a target that goes quiet does not keep sockets open.

use hashbrown::{Equivalent, HashMap};
use pingora::protocols::Stream;
use std::cell::Cell;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Idle connections kept per target and shard; more are closed.
pub const MAX_IDLE_PER_TARGET: usize = 256;
const SHARDS: usize = 16;
/// How often the sweeper drops connections idle longer than the timeout.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// A target, as the pool tells connections apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    addr: SocketAddr,
    tls: bool,
    sni: String,
    ca: Option<PathBuf>,
}

/// A target without owning its names, for lookups.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub addr: SocketAddr,
    pub tls: bool,
    pub sni: &'a str,
    pub ca: Option<&'a Path>,
}

// `Key` and `Target` must hash alike: the same fields in the same order, `String` as `str`
// and `PathBuf` as `Path`.
impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.addr, self.tls, self.sni.as_str(), self.ca.as_deref()).hash(h)
    }
}

impl Hash for Target<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.addr, self.tls, self.sni, self.ca).hash(h)
    }
}

impl Equivalent<Key> for Target<'_> {
    fn equivalent(&self, k: &Key) -> bool {
        self.addr == k.addr && self.tls == k.tls && self.sni == k.sni && self.ca == k.ca.as_deref()
    }
}

impl Target<'_> {
    fn to_key(self) -> Key {
        Key {
            addr: self.addr,
            tls: self.tls,
            sni: self.sni.to_string(),
            ca: self.ca.map(Path::to_path_buf),
        }
    }
}

struct Idle {
    stream: Stream,
    since: Instant,
}

#[derive(Default)]
struct Shard {
    idle: HashMap<Key, VecDeque<Idle>>,
}

/// Idle connections to every target.
pub struct Pool {
    shards: Arc<[Mutex<Shard>]>,
    idle_timeout: Duration,
}

impl Pool {
    /// A pool whose connections live at most `idle_timeout` unused; a sweeper thread drops the
    /// expired ones until the pool is dropped.
    pub fn new(idle_timeout: Duration) -> Self {
        let shards: Arc<[Mutex<Shard>]> = (0..SHARDS).map(|_| Mutex::default()).collect();
        let weak = Arc::downgrade(&shards);
        let _ = std::thread::Builder::new()
            .name("scimgate-pool".into())
            .spawn(move || sweep(weak, idle_timeout));
        Pool {
            shards,
            idle_timeout,
        }
    }

    /// The newest idle connection to `target` that is still open, if any.
    pub fn take(&self, target: Target<'_>) -> Option<Stream> {
        let mut dropped = Vec::new();
        let found = {
            let Some(Ok(mut shard)) = self.shard().map(Mutex::lock) else {
                return None;
            };
            let queue = shard.idle.get_mut(&target)?;
            let mut found = None;
            while let Some(mut idle) = queue.pop_back() {
                if idle.since.elapsed() >= self.idle_timeout {
                    // Everything older is expired too.
                    dropped.push(idle.stream);
                    dropped.extend(queue.drain(..).map(|i| i.stream));
                    break;
                }
                if usable(&mut idle.stream) {
                    found = Some(idle.stream);
                    break;
                }
                dropped.push(idle.stream);
            }
            found
        };
        // Closing sockets happens outside the lock.
        drop(dropped);
        found
    }

    /// Keep `stream`, whose exchange is complete, for the next request to `target`.
    pub fn put(&self, target: Target<'_>, mut stream: Stream) {
        if !usable(&mut stream) {
            return;
        }
        let mut dropped = Vec::new();
        {
            let Some(Ok(mut shard)) = self.shard().map(Mutex::lock) else {
                return;
            };
            let idle = Idle {
                stream,
                since: Instant::now(),
            };
            match shard.idle.get_mut(&target) {
                Some(queue) => {
                    while queue
                        .front()
                        .is_some_and(|i| i.since.elapsed() >= self.idle_timeout)
                        || queue.len() >= MAX_IDLE_PER_TARGET
                    {
                        dropped.extend(queue.pop_front().map(|i| i.stream));
                    }
                    queue.push_back(idle);
                }
                None => {
                    shard.idle.insert(target.to_key(), VecDeque::from([idle]));
                }
            }
        }
        drop(dropped);
    }

    /// Idle connections held, over every shard and target.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok())
            .map(|s| s.idle.values().map(VecDeque::len).sum::<usize>())
            .sum()
    }

    fn shard(&self) -> Option<&Mutex<Shard>> {
        self.shards.get(shard_index())
    }
}

/// This thread's shard, given out round robin at the thread's first use.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        if i.get() == usize::MAX {
            i.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
        }
        i.get()
    })
}

/// An idle connection can be reused when reading from it would wait: the target has neither
/// closed it nor sent anything unasked. Reads only what the reactor already knows; no syscall
/// when the socket is known to be drained.
fn usable(stream: &mut Stream) -> bool {
    use futures_util::FutureExt;
    use tokio::io::AsyncReadExt;
    let mut byte = [0u8; 1];
    tokio::task::unconstrained(stream.read(&mut byte))
        .now_or_never()
        .is_none()
}

fn sweep(shards: Weak<[Mutex<Shard>]>, idle_timeout: Duration) {
    loop {
        std::thread::sleep(SWEEP_EVERY.min(idle_timeout));
        let Some(shards) = shards.upgrade() else {
            return;
        };
        for shard in shards.iter() {
            let mut dropped = Vec::new();
            if let Ok(mut shard) = shard.lock() {
                shard.idle.retain(|_, queue| {
                    while queue
                        .front()
                        .is_some_and(|i| i.since.elapsed() >= idle_timeout)
                    {
                        dropped.extend(queue.pop_front().map(|i| i.stream));
                    }
                    !queue.is_empty()
                });
            }
            drop(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn pair(listener: &TcpListener) -> (Stream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, server) = tokio::join!(client, listener.accept());
        (
            Box::new(pingora::protocols::l4::stream::Stream::from(
                client.unwrap(),
            )),
            server.unwrap().0,
        )
    }

    fn target(addr: SocketAddr, sni: &str) -> Target<'_> {
        Target {
            addr,
            tls: false,
            sni,
            ca: None,
        }
    }

    #[tokio::test]
    async fn a_connection_goes_back_only_to_its_own_target() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = Pool::new(Duration::from_secs(60));
        let (stream, _server) = pair(&listener).await;
        pool.put(target(addr, "a.example"), stream);
        assert_eq!(pool.idle(), 1);
        assert!(pool.take(target(addr, "b.example")).is_none());
        let other_ca = Target {
            ca: Some(Path::new("/etc/ca.pem")),
            ..target(addr, "a.example")
        };
        assert!(pool.take(other_ca).is_none());
        let tls = Target {
            tls: true,
            ..target(addr, "a.example")
        };
        assert!(pool.take(tls).is_none());
        assert!(pool.take(target(addr, "a.example")).is_some());
        assert_eq!(pool.idle(), 0);
    }

    #[tokio::test]
    async fn a_connection_the_target_closed_or_wrote_on_is_not_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = Pool::new(Duration::from_secs(60));
        let (closed, server_closed) = pair(&listener).await;
        let (chatty, mut server_chatty) = pair(&listener).await;
        let (good, mut server_good) = pair(&listener).await;
        pool.put(target(addr, "t"), good);
        pool.put(target(addr, "t"), closed);
        pool.put(target(addr, "t"), chatty);
        drop(server_closed);
        server_chatty
            .write_all(b"HTTP/1.1 200 OK\r\n")
            .await
            .unwrap();
        // Let the reactor see both.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut got = pool.take(target(addr, "t")).expect("the open connection");
        got.write_all(b"ping").await.unwrap();
        got.flush().await.unwrap();
        let mut four = [0u8; 4];
        server_good.read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"ping");
        assert!(pool.take(target(addr, "t")).is_none());
        assert_eq!(pool.idle(), 0);
    }

    #[tokio::test]
    async fn connections_idle_past_the_timeout_are_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = Pool::new(Duration::from_millis(100));
        let (a, _sa) = pair(&listener).await;
        let (b, _sb) = pair(&listener).await;
        pool.put(target(addr, "t"), a);
        pool.put(target(addr, "t"), b);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(pool.take(target(addr, "t")).is_none());
        assert_eq!(pool.idle(), 0);
        // The sweeper empties a target nobody asks for again.
        let (c, _sc) = pair(&listener).await;
        pool.put(target(addr, "u"), c);
        assert_eq!(pool.idle(), 1);
        // It sweeps every 100 ms here; allow for a slow machine.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.idle() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(pool.idle(), 0);
    }

    #[tokio::test]
    async fn at_most_the_cap_is_kept_per_target() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = Pool::new(Duration::from_secs(60));
        let mut servers = Vec::new();
        for _ in 0..MAX_IDLE_PER_TARGET + 3 {
            let (s, server) = pair(&listener).await;
            servers.push(server);
            pool.put(target(addr, "t"), s);
        }
        assert_eq!(pool.idle(), MAX_IDLE_PER_TARGET);
    }
}
