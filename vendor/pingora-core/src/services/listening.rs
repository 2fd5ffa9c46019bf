// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//! The listening service
//!
//! A [Service] (listening service) responds to incoming requests on its endpoints.
//! Each [Service] can be configured with custom application logic (e.g. an `HTTPProxy`) and one or
//! more endpoints to listen to.

use crate::apps::ServerApp;
use crate::listeners::tls::TlsSettings;
#[cfg(feature = "connection_filter")]
use crate::listeners::AcceptAllFilter;
use crate::listeners::{
    ConnectionFilter, ListenerConfig, Listeners, ServerAddress, TcpSocketOptions, TransportStack,
};
use crate::protocols::Stream;
#[cfg(unix)]
use crate::server::ListenFds;
use crate::server::{RuntimeOpts, ShutdownWatch};
use crate::services::Service as ServiceTrait;

use async_trait::async_trait;
use futures::FutureExt;
use log::{debug, error, info};
use pingora_error::Result;
use pingora_runtime::current_handles;
use pingora_timeout::timeout;
use std::fs::Permissions;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Override the runtime options used to run a listening service.
pub type RuntimeOptsOverride = Arc<dyn Fn(&RuntimeOpts) -> Option<RuntimeOpts> + Send + Sync>;

/// The type of service that is associated with a list of listening endpoints and a particular application
pub struct Service<A> {
    name: String,
    listeners: Listeners,
    app_logic: Option<A>,
    /// The number of preferred threads. `None` to follow global setting.
    pub threads: Option<usize>,
    runtime_opts_override: Option<RuntimeOptsOverride>,
    #[cfg(feature = "connection_filter")]
    connection_filter: Arc<dyn ConnectionFilter>,
}

impl<A> Service<A> {
    /// Create a new [`Service`] with the given application (see [`crate::apps`]).
    pub fn new(name: String, app_logic: A) -> Self {
        Service {
            name,
            listeners: Listeners::new(),
            app_logic: Some(app_logic),
            threads: None,
            runtime_opts_override: None,
            #[cfg(feature = "connection_filter")]
            connection_filter: Arc::new(AcceptAllFilter),
        }
    }

    /// Create a new [`Service`] with the given application (see [`crate::apps`]) and the given
    /// [`Listeners`].
    pub fn with_listeners(name: String, listeners: Listeners, app_logic: A) -> Self {
        Service {
            name,
            listeners,
            app_logic: Some(app_logic),
            threads: None,
            runtime_opts_override: None,
            #[cfg(feature = "connection_filter")]
            connection_filter: Arc::new(AcceptAllFilter),
        }
    }

    /// Set a runtime options override for this service.
    ///
    /// Returning [`None`] from the override uses the global runtime options.
    pub fn set_runtime_opts_override(&mut self, override_fn: RuntimeOptsOverride) {
        self.runtime_opts_override = Some(override_fn);
    }

    /// Set a custom connection filter for this service.
    ///
    /// The connection filter will be applied to all incoming connections
    /// on all endpoints of this service. Connections that don't pass the
    /// filter will be dropped immediately at the TCP level, before TLS
    /// handshake or any HTTP processing.
    ///
    /// # Feature Flag
    ///
    /// This method requires the `connection_filter` feature to be enabled.
    /// When the feature is disabled, this method is a no-op.
    ///
    /// # Example
    ///
    /// ```rust,no_run
    /// # use std::sync::Arc;
    /// # use pingora_core::listeners::{ConnectionFilter, AcceptAllFilter};
    /// # struct MyService;
    /// # impl MyService {
    /// #   fn new() -> Self { MyService }
    /// # }
    /// let mut service = MyService::new();
    /// let filter = Arc::new(AcceptAllFilter);
    /// service.set_connection_filter(filter);
    /// ```
    #[cfg(feature = "connection_filter")]
    pub fn set_connection_filter(&mut self, filter: Arc<dyn ConnectionFilter>) {
        self.connection_filter = filter.clone();
        self.listeners.set_connection_filter(filter);
    }

    #[cfg(not(feature = "connection_filter"))]
    pub fn set_connection_filter(&mut self, _filter: Arc<dyn ConnectionFilter>) {}

    /// Get the [`Listeners`], mostly to add more endpoints.
    pub fn endpoints(&mut self) -> &mut Listeners {
        &mut self.listeners
    }

    // the follow add* function has no effect if the server is already started

    /// Add a TCP listening endpoint with the given address (e.g., `127.0.0.1:8000`).
    pub fn add_tcp(&mut self, addr: &str) {
        self.listeners.add_tcp(addr);
    }

    /// Add a listening endpoint configured by a [`ListenerConfig`].
    pub fn add_listener(&mut self, endpoint: ListenerConfig) {
        self.listeners.add_listener(endpoint);
    }

    /// Add a TCP listening endpoint with the given [`TcpSocketOptions`].
    pub fn add_tcp_with_settings(&mut self, addr: &str, sock_opt: TcpSocketOptions) {
        self.listeners.add_tcp_with_settings(addr, sock_opt);
    }

    /// Add a Unix domain socket listening endpoint with the given path.
    ///
    /// Optionally take a permission of the socket file. The default is read and write access for
    /// everyone (0o666).
    #[cfg(unix)]
    pub fn add_uds(&mut self, addr: &str, perm: Option<Permissions>) {
        self.listeners.add_uds(addr, perm);
    }

    /// Add a TLS listening endpoint with the given certificate and key paths.
    pub fn add_tls(&mut self, addr: &str, cert_path: &str, key_path: &str) -> Result<()> {
        self.listeners.add_tls(addr, cert_path, key_path)
    }

    /// Add a TLS listening endpoint with the given [`TlsSettings`] and [`TcpSocketOptions`].
    pub fn add_tls_with_settings(
        &mut self,
        addr: &str,
        sock_opt: Option<TcpSocketOptions>,
        settings: TlsSettings,
    ) {
        self.listeners
            .add_tls_with_settings(addr, sock_opt, settings)
    }

    /// Add an endpoint according to the given [`ServerAddress`]
    pub fn add_address(&mut self, addr: ServerAddress) {
        self.listeners.add_address(addr);
    }

    /// Get a reference to the application inside this service
    pub fn app_logic(&self) -> Option<&A> {
        self.app_logic.as_ref()
    }

    /// Get a mutable reference to the application inside this service
    pub fn app_logic_mut(&mut self) -> Option<&mut A> {
        self.app_logic.as_mut()
    }
}

/// scimgate's patch: how long a connection may wait for the least loaded accept loop before a
/// busier loop takes it (that thread may be busy or descheduled); doubled, up to
/// [`ACCEPT_HOLD_MAX`], each time the busier loop looks and finds no connection waiting.
const ACCEPT_HOLD: std::time::Duration = std::time::Duration::from_millis(10);
const ACCEPT_HOLD_MAX: std::time::Duration = std::time::Duration::from_millis(640);

/// scimgate's patch: the connections each accept loop of one endpoint is serving, so the loops
/// (one per thread of a no-steal runtime) take turns. All of them are woken by a new connection,
/// and the first to run used to accept a whole burst: wrk's 32 connections split 24/8 or 20/12
/// over two threads, one thread saturated while the other idled. A loop serving more than the
/// least loaded one now waits, for that loop to take the next connection (a change of the
/// counts), or takes a connection that has waited [`ACCEPT_HOLD`]. With one loop (work stealing
/// on) nothing changes.
struct Balance {
    live: Box<[AtomicUsize]>,
    changed: tokio::sync::Notify,
}

impl Balance {
    fn new(loops: usize) -> Self {
        Balance {
            live: (0..loops.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn above_least(&self, me: usize) -> bool {
        let Some(mine) = self.live.get(me).map(|n| n.load(Ordering::Relaxed)) else {
            return false;
        };
        self.live.iter().any(|n| n.load(Ordering::Relaxed) < mine)
    }
}

/// One connection counted for its loop, from its accept to the end of its task.
struct Live {
    balance: Arc<Balance>,
    me: usize,
}

impl Live {
    fn new(balance: &Arc<Balance>, me: usize) -> Self {
        if let Some(n) = balance.live.get(me) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        balance.changed.notify_waiters();
        Live {
            balance: balance.clone(),
            me,
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(n) = self.balance.live.get(self.me) {
            n.fetch_sub(1, Ordering::Relaxed);
        }
        self.balance.changed.notify_waiters();
    }
}

impl<A: ServerApp + Send + Sync + 'static> Service<A> {
    pub async fn handle_event(event: Stream, app_logic: Arc<A>, shutdown: ShutdownWatch) {
        debug!("new event!");
        let mut reuse_event = app_logic.process_new(event, &shutdown).await;
        while let Some(event) = reuse_event {
            // TODO: with no steal runtime, consider spawn() the next event on
            // another thread for more evenly load balancing
            debug!("new reusable event!");
            reuse_event = app_logic.process_new(event, &shutdown).await;
        }
    }

    async fn run_endpoint(
        app_logic: Arc<A>,
        mut stack: TransportStack,
        mut shutdown: ShutdownWatch,
        balance: Arc<Balance>,
        me: usize,
    ) {
        // scimgate's patch: how long this loop holds back now (see `Balance`).
        let mut hold = ACCEPT_HOLD;
        // the accept loop, until the system is shutting down
        loop {
            // scimgate's patch: take turns with the other threads' loops. A loop serving more
            // connections than the least loaded one does not accept; it waits for a change of
            // the counts, or takes a connection that has waited `hold` (the least loaded
            // thread is busy), and holds back longer each time it finds none.
            let changed = balance.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let held = balance.above_least(me);
            let new_io = tokio::select! { // TODO: consider biased for perf reason?
                new_io = stack.accept(), if !held => new_io,
                _ = &mut changed, if held => {
                    hold = ACCEPT_HOLD;
                    continue;
                }
                _ = tokio::time::sleep(hold), if held => {
                    match stack.accept().now_or_never() {
                        Some(new_io) => {
                            hold = ACCEPT_HOLD;
                            new_io
                        }
                        None => {
                            hold = (hold * 2).min(ACCEPT_HOLD_MAX);
                            continue;
                        }
                    }
                }
                shutdown_signal = shutdown.changed() => {
                    match shutdown_signal {
                        Ok(()) => {
                            if !*shutdown.borrow() {
                                // happen in the initial read
                                continue;
                            }
                            info!("Shutting down {}", stack.as_str());
                            break;
                        }
                        Err(e) => {
                            error!("shutdown_signal error {e}");
                            break;
                        }
                    }
                }
            };
            match new_io {
                Ok(io) => {
                    let app = app_logic.clone();
                    let shutdown = shutdown.clone();
                    let live = Live::new(&balance, me);
                    // scimgate's patch: the connection is served on this thread, whose reactor
                    // the accepted socket is registered with. Each thread of a no-steal runtime
                    // runs its own accept loop (start_service), so connections still spread.
                    tokio::spawn(async move {
                        let _live = live;
                        let peer_addr = io.peer_addr();
                        match timeout(Duration::from_secs(60), io.handshake()).await {
                            Ok(handshake) => {
                                match handshake {
                                    Ok(io) => Self::handle_event(io, app, shutdown).await,
                                    Err(e) => {
                                        // TODO: Maybe IOApp trait needs a fn to handle/filter out this error
                                        if let Some(addr) = peer_addr {
                                            error!("Downstream handshake error from {}: {e}", addr);
                                        } else {
                                            error!("Downstream handshake error: {e}");
                                        }
                                    }
                                }
                            }
                            Err(_) => {
                                error!("Downstream handshake timeout");
                            }
                        }
                    });
                }
                Err(e) => {
                    error!("Accept() failed {e}");
                    if let Some(io_error) = e
                        .root_cause()
                        .downcast_ref::<std::io::Error>()
                        .and_then(|e| e.raw_os_error())
                    {
                        // 24: too many open files. In this case accept() will continue return this
                        // error without blocking, which could use up all the resources
                        if io_error == 24 {
                            // call sleep to calm the thread down and wait for others to release
                            // some resources
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        }

        stack.cleanup();
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServiceTrait for Service<A> {
    async fn start_service(
        &mut self,
        #[cfg(unix)] fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        // scimgate's patch: every thread of the runtime, not one picked at random.
        let runtimes = current_handles();
        // scimgate's patch: a listener that cannot be built (its address taken since the
        // process checked it) ends the process. Stock 0.9.1 panics in this task, and the
        // process goes on serving its other services without it.
        let endpoints = match self
            .listeners
            .build(
                #[cfg(unix)]
                fds,
            )
            .await
        {
            Ok(endpoints) => endpoints,
            Err(e) => {
                error!("{}: failed to build listeners: {e}", self.name);
                std::process::exit(1);
            }
        };

        let app_logic = self
            .app_logic
            .take()
            .expect("can only start_service() once");
        let app_logic = Arc::new(app_logic);

        let mut handlers = Vec::new();

        endpoints.into_iter().for_each(|endpoint| {
            // scimgate's patch: the loops of one endpoint share a count of their connections.
            let balance = Arc::new(Balance::new(runtimes.len() * listeners_per_fd));
            let mut me = 0;
            for runtime in &runtimes {
                for _ in 0..listeners_per_fd {
                    let shutdown = shutdown.clone();
                    let my_app_logic = app_logic.clone();
                    let endpoint = endpoint.clone();
                    let balance = balance.clone();
                    let index = me;
                    me += 1;

                    let jh = runtime.spawn(async move {
                        Self::run_endpoint(my_app_logic, endpoint, shutdown, balance, index)
                            .await;
                    });

                    handlers.push(jh);
                }
            }
        });

        futures::future::join_all(handlers).await;
        self.listeners.cleanup();
        app_logic.cleanup().await;
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn threads(&self) -> Option<usize> {
        self.threads
    }

    fn runtime_opts_override(&self, global: &RuntimeOpts) -> Option<RuntimeOpts> {
        self.runtime_opts_override
            .as_ref()
            .and_then(|override_fn| override_fn(global))
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        Some(self.listeners.addresses())
    }
}
