//! `scimgate serve`: check everything that could fail (policies, secrets, listen addresses,
//! TLS files) with a clear message first, then build the Pingora server and run it.

use super::admin::Admin;
use super::edge::{Connections, Edge, EdgeLimits};
use super::upstream::UpstreamClient;
use super::Gateway;
use crate::policy::store::PolicyStore;
use crate::policy::Policies;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::listening::Service;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything `serve` needs, already parsed from the command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub policies: PathBuf,
    pub listen: String,
    pub admin: Option<String>,
    pub tls_listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub threads: usize,
    /// tokio's work-stealing scheduler, instead of one single-threaded runtime per thread.
    pub work_stealing: bool,
    /// Seconds an IdP keep-alive connection may stay idle between requests.
    pub idle_timeout_s: u64,
    /// How long a whole request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// How long a whole request head may take to arrive.
    pub header_timeout: std::time::Duration,
    /// The most request head bytes read.
    pub max_header_bytes: usize,
    /// Open IdP connections at once (both listeners).
    pub max_connections: usize,
    /// How policies compile (`--secrets-dir`), at start and on every reload.
    pub compile: crate::policy::compile::CompileOptions,
    /// `--store` and its flags: quotas and holds shared by replicas; `None` keeps them local.
    pub store: Option<crate::ratelimit::StoreOptions>,
    /// The keys of `--token-key-file` and what they verified.
    pub tokens: Arc<crate::oauth::Tokens>,
    /// `--admin-token-env`: the console and `/api/…` need it (`None`: loopback only).
    pub admin_token: Option<crate::console::auth::AdminToken>,
}

/// Start-up failures, each a message for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Policies(crate::policy::diagnostics::Diagnostics),
    #[error("{0}")]
    Config(String),
}

/// Validate, build and run; returns only on a start-up error.
pub fn serve(
    opts: ServeOptions,
    policies: Policies,
) -> Result<std::convert::Infallible, ServeError> {
    pingora::tls::install_default_crypto_provider();
    check_listen(&opts.listen, "--listen")?;
    if let Some(a) = &opts.admin {
        check_listen(a, "--admin")?;
    }
    let tls = match (&opts.tls_listen, &opts.tls_cert, &opts.tls_key) {
        (None, None, None) => None,
        (Some(addr), Some(cert), Some(key)) => {
            check_listen(addr, "--tls-listen")?;
            check_tls_files(cert, key)?;
            Some((
                addr.clone(),
                cert.to_string_lossy().into_owned(),
                key.to_string_lossy().into_owned(),
            ))
        }
        _ => {
            return Err(ServeError::Config(
                "--tls-listen, --tls-cert and --tls-key go together".into(),
            ))
        }
    };

    distinct_listeners(&[
        ("--listen", Some(&opts.listen)),
        ("--admin", opts.admin.as_ref()),
        ("--tls-listen", opts.tls_listen.as_ref()),
    ])?;

    let ca_files: Vec<PathBuf> = policies
        .tenants
        .iter()
        .filter_map(|t| t.upstream.ca_file.clone())
        .collect();
    let store = Arc::new(PolicyStore::new(policies));
    crate::telemetry::metrics::init();

    let conf = ServerConf {
        threads: opts.threads.max(1),
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        work_stealing: opts.work_stealing,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let client = Arc::new(UpstreamClient::new(ca_files.iter()));
    // Local quotas, holds and guard counters, or shared by every replica through `--store`.
    let (limiter, backoff, window) =
        crate::ratelimit::build(opts.store.as_ref()).map_err(ServeError::Config)?;
    let upstream_tokens = Arc::new(crate::flow::upstream_token::UpstreamTokens::default());
    let (client_for_reload, limiter_for_reload, backoff_for_reload) =
        (client.clone(), limiter.clone(), backoff.clone());
    // The console's exchanges, kept only when there is an admin listener to show them.
    let exchanges = opts
        .admin
        .as_ref()
        .map(|_| crate::console::Ring::new(crate::console::ring::Limits::default()));
    let backoff_for_console = backoff.clone();
    // Waiting lines of [limits] mode = "delay", and the deletion guard (its counters where the
    // quotas are: here, or in the shared store).
    let shaper = Arc::new(crate::flow::shaping::Shaper::new());
    let guard = Arc::new(crate::guard::Guard::new(window));

    descriptors_for(opts.max_connections);
    let conns = Connections::new(opts.max_connections);
    let limits = EdgeLimits {
        idle_timeout_s: opts.idle_timeout_s,
        header_timeout: opts.header_timeout,
        max_header_bytes: opts.max_header_bytes,
    };
    let app = Gateway {
        store: store.clone(),
        client: client.clone(),
        limiter: limiter.clone(),
        backoff: backoff.clone(),
        tokens: opts.tokens.clone(),
        upstream_tokens: upstream_tokens.clone(),
        tls: false,
        idle_timeout_s: opts.idle_timeout_s,
        body_timeout: opts.body_timeout,
        exchanges: exchanges.clone(),
        shaper: shaper.clone(),
        guard: guard.clone(),
    };
    let mut plain = Service::new(
        "scimgate".to_string(),
        Edge::new(app, conns.clone(), limits, "idp"),
    );
    plain.add_listener(idp_listener(&opts.listen));
    server.add_service(plain);

    if let Some((addr, cert, key)) = tls {
        let app = Gateway {
            store: store.clone(),
            client,
            limiter,
            backoff,
            tokens: opts.tokens.clone(),
            upstream_tokens,
            tls: true,
            idle_timeout_s: opts.idle_timeout_s,
            body_timeout: opts.body_timeout,
            exchanges: exchanges.clone(),
            shaper,
            guard: guard.clone(),
        };
        let mut secure = Service::new(
            "scimgate-tls".to_string(),
            Edge::new(app, conns, limits, "idp-tls"),
        );
        let settings = pingora::listeners::tls::TlsSettings::intermediate(&cert, &key)
            .map_err(|e| ServeError::Config(format!("--tls-cert/--tls-key cannot be used: {e}")))?;
        secure.add_listener(idp_listener(&addr).tls(settings));
        server.add_service(secure);
    }

    let reloader = Arc::new(crate::policy::watch::Reloader {
        dir: opts.policies.clone(),
        store: store.clone(),
        load_ca: Arc::new(move |ca: &std::path::Path| {
            client_for_reload.ensure_ca(&ca.to_path_buf())
        }),
        limiter: limiter_for_reload,
        backoff: backoff_for_reload,
        compile: opts.compile.clone(),
    });
    reloader.spawn().map_err(ServeError::Config)?;

    if let Some(addr) = &opts.admin {
        let mut listeners: Vec<SocketAddr> = opts.listen.parse().into_iter().collect();
        if let Some(t) = &opts.tls_listen {
            listeners.extend(t.parse::<SocketAddr>());
        }
        let console = Arc::new(crate::console::Console::new(
            store.clone(),
            exchanges,
            backoff_for_console,
            opts.admin_token.clone(),
        ));
        let app = Admin {
            store,
            listeners,
            console,
            guard,
        };
        let mut admin = Service::new("scimgate-admin".to_string(), app);
        admin.add_tcp(addr);
        server.add_service(admin);
    }
    tracing::info!(listen = %opts.listen, admin = ?opts.admin, tls = ?opts.tls_listen, "scimgate serving");
    server.run(pingora::server::RunArgs::default());
    // Stopped (SIGTERM, or SIGQUIT for an upgrade): the access log's queued lines go out first.
    crate::telemetry::logs::flush();
    std::process::exit(0)
}

/// An IdP listener. Its write buffer holds a whole typical answer (head and a 10-user list, ~6 KiB)
/// so it leaves in one `sendto` instead of Pingora's default 1,460-byte buffer's two or more
/// (benches/README.md, issue 15). The read buffer keeps Pingora's default.
fn idp_listener(addr: &str) -> pingora::listeners::ListenerConfig {
    pingora::listeners::ListenerConfig::tcp(addr)
        .l4_buffer(pingora::listeners::L4BufferSettings::default().write(IDP_WRITE_BUFFER))
}

/// Bytes of an IdP connection's write buffer.
const IDP_WRITE_BUFFER: usize = 16 * 1024;

/// The address parses and is free now (Pingora would only fail later, less clearly).
/// No two listeners on one address. Each was checked alone by [`check_listen`], and Pingora
/// hands a second listener on an address it already listens on the same socket, so the IdP
/// listener and the console would take turns answering each other's connections. A port
/// given as 0 is any free one and never clashes.
fn distinct_listeners(listeners: &[(&str, Option<&String>)]) -> Result<(), ServeError> {
    let parsed: Vec<(&str, SocketAddr)> = listeners
        .iter()
        .filter_map(|(flag, addr)| Some((*flag, (*addr)?.parse().ok()?)))
        .collect();
    for (i, (flag_a, a)) in parsed.iter().enumerate() {
        for (flag_b, b) in parsed.iter().skip(i + 1) {
            let overlap = a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified();
            if a.port() != 0 && a.port() == b.port() && overlap {
                return Err(ServeError::Config(format!(
                    "{flag_a} {a} and {flag_b} {b} share a port: each listener needs its own address"
                )));
            }
        }
    }
    Ok(())
}

fn check_listen(addr: &str, flag: &str) -> Result<(), ServeError> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|_| ServeError::Config(format!("{flag} {addr:?} is not an IP:port address")))?;
    std::net::TcpListener::bind(parsed)
        .map(drop)
        .map_err(|e| ServeError::Config(format!("cannot listen on {addr} ({flag}): {e}")))
}

fn check_tls_files(cert: &std::path::Path, key: &std::path::Path) -> Result<(), ServeError> {
    let c = cert.to_string_lossy().into_owned();
    let k = key.to_string_lossy().into_owned();
    match pingora::tls::load_certs_and_key_files(&c, &k) {
        Ok(Some((certs, _))) if !certs.is_empty() => Ok(()),
        Ok(_) => Err(ServeError::Config(format!(
            "--tls-cert {c} holds no certificate or --tls-key {k} no key"
        ))),
        Err(e) => Err(ServeError::Config(format!(
            "--tls-cert {c} / --tls-key {k} cannot be used: {e}"
        ))),
    }
}

/// Descriptors kept beside the IdP connections: upstream pools, listeners, files, logs.
const DESCRIPTOR_HEADROOM: u64 = 256;

/// `--max-connections` IdP connections need as many descriptors and some headroom: raise the
/// soft limit toward the hard one if it is lower (as Go's runtime does), and say so when even
/// the hard limit is short: past it `accept` fails and Pingora pauses its listener for a
/// second each time, so new clients wait in the backlog instead of being answered.
fn descriptors_for(max_connections: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let want = (max_connections as u64).saturating_add(DESCRIPTOR_HEADROOM);
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let mut limit = soft;
    if soft < want {
        let raised = want.min(hard);
        if raised > soft && setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_ok() {
            limit = raised;
        }
    }
    if limit < want {
        tracing::warn!(
            descriptor_limit = limit,
            max_connections,
            "the descriptor limit leaves room for about {} IdP connections, fewer than \
             --max-connections: raise it (ulimit -n, LimitNOFILE=) or lower --max-connections",
            limit.saturating_sub(DESCRIPTOR_HEADROOM)
        );
    }
}
