//! The `scimgate` command line: thin, it parses arguments and calls the library.

use clap::{Parser, Subcommand};
use scimgate::policy::compile::CompileOptions;
use scimgate::policy::diagnostics::{Diagnostics, Warning};
use scimgate::policy::{load, secrets, Policies};
use scimgate::proxy::server::{serve, ServeOptions};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

// mimalloc: per-request JSON work is allocation-heavy and glibc malloc/free showed as ~25 % of
// a translation profile (benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "scimgate",
    version,
    about = "A SCIM 2.0 gateway between identity providers and SCIM targets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of the `serve` variant's flags costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve every tenant of a policies directory.
    Serve {
        /// Directory of tenant policies (*.toml, one tenant each).
        #[arg(long)]
        policies: PathBuf,
        /// When given, every secret file a policy names (bearer_file) must lie inside this
        /// directory, symlinks resolved; it must exist.
        #[arg(long)]
        secrets_dir: Option<PathBuf>,
        /// Ed25519 private key (PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes) that
        /// signs the access tokens of the tenants' `POST {route}/oauth/token`; repeat to rotate:
        /// the first signs, all verify. Needed by any tenant with [[auth.clients]].
        #[arg(long = "token-key-file", value_name = "PATH")]
        token_key_file: Vec<PathBuf>,
        /// Plain HTTP listener for IdPs, e.g. 0.0.0.0:8080.
        #[arg(long)]
        listen: String,
        /// Admin listener: /metrics, /healthz, /readyz and the console (keep it off the public
        /// network).
        #[arg(long)]
        admin: Option<String>,
        /// Environment variable holding the admin token (16 characters or more): the console
        /// and /api/… then need `Authorization: Bearer <token>` (or the console's sign-in);
        /// /metrics, /healthz and /readyz stay open. Without it the console answers only
        /// loopback clients.
        #[arg(long, value_name = "NAME", requires = "admin")]
        admin_token_env: Option<String>,
        /// HTTPS listener for IdPs (with --tls-cert and --tls-key).
        #[arg(long)]
        tls_listen: Option<String>,
        /// PEM certificate chain for --tls-listen.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// PEM private key for --tls-listen.
        #[arg(long)]
        tls_key: Option<PathBuf>,
        /// Worker threads (default: the number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
        /// Let an idle worker thread take queued work from a busy one (tokio's work-stealing
        /// scheduler). Off by default: each thread serves the connections it accepted from start
        /// to end, with its own idle connections to the targets, which costs less per request.
        /// Turn it on when a few requests are far heavier than the rest (large Bulk bodies).
        #[arg(long)]
        work_stealing: bool,
        /// Seconds a keep-alive IdP connection may stay idle between requests before it is
        /// closed (1..=3600).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        idle_timeout_s: u64,
        /// Milliseconds the whole request body may take to arrive; past it 408 and the
        /// connection is closed (100..=600000).
        #[arg(long, default_value_t = 30000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
        body_timeout_ms: u64,
        /// Milliseconds the whole request head may take to arrive (from accept for a new
        /// connection, from its first byte on a kept-alive one); past it 408 and the connection
        /// is closed, or a silent new connection is closed (100..=600000).
        #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
        header_timeout_ms: u64,
        /// Bytes a request head may have (request line and headers); past it 431 and the
        /// connection is closed (4096..=1048575).
        #[arg(long, default_value_t = 32768, value_parser = clap::value_parser!(u64).range(4096..=1_048_575))]
        max_header_bytes: u64,
        /// Open IdP connections at once, both listeners together; at the cap an idle
        /// keep-alive connection is closed to make room, and a new one is refused (503) only
        /// when none is idle (1..=1000000).
        #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        max_connections: u64,
        /// Share quotas and holds with every replica pointing at the same store:
        /// redis://host:port[/db] or rediss://… (TLS). Without it everything stays local.
        #[arg(long)]
        store: Option<String>,
        /// What a request gets while the store does not answer in time: local (this replica's
        /// share of the quota), open (admit) or closed (503 + Retry-After).
        #[arg(long, default_value = "local", requires = "store")]
        store_on_error: scimgate::ratelimit::OnError,
        /// Budget of the store on one request's path, in milliseconds (1..=10000).
        #[arg(long, default_value_t = 25, requires = "store", value_parser = clap::value_parser!(u64).range(1..=10_000))]
        store_timeout_ms: u64,
        /// Quota taken ahead per store call, as milliseconds at the quota's rate; 0 = exact,
        /// one store call per request (0..=10000).
        #[arg(long, default_value_t = 100, requires = "store", value_parser = clap::value_parser!(u64).range(0..=10_000))]
        store_lease_ms: u64,
        /// Where the access log (one JSON line per request) goes: stderr, stdout, off, or a file
        /// path (appended). Independent of RUST_LOG.
        #[arg(long, default_value = "stderr")]
        access_log: scimgate::telemetry::logs::AccessLog,
        /// How often gathered access-log lines are written, in one write (0: each line at once,
        /// by the request that made it). A stop writes what has gathered first (0..=10000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=10_000))]
        access_log_flush_ms: u64,
        /// Log as JSON lines instead of text.
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        log_format: String,
    },
    /// Validate every policy of a directory; print file:line:col diagnostics; exit 1 on any error.
    Check {
        /// Directory of tenant policies.
        dir: PathBuf,
        /// As for `serve`: secret files must lie inside this directory (same verdict as serve).
        #[arg(long)]
        secrets_dir: Option<PathBuf>,
    },
    /// Print what the gateway would send the target (request) or the IdP (response), no network.
    Translate {
        /// One tenant policy file.
        #[arg(long)]
        policy: PathBuf,
        /// HTTP method of the request (also for --direction response: the request it answers).
        #[arg(long)]
        method: String,
        /// Request path, with or without the tenant's route, query included: /Users?filter=...
        #[arg(long)]
        path: String,
        /// request: IdP -> target; response: target -> IdP.
        #[arg(long, value_parser = ["request", "response"], default_value = "request")]
        direction: String,
        /// With --direction response: the target's HTTP status.
        #[arg(long, default_value_t = 200)]
        status: u16,
    },
    /// Run the policy tests (`*.test.toml`) of a directory; exit 1 on any failure.
    Test {
        /// Directory holding `*.test.toml` files (usually the policies directory).
        dir: PathBuf,
    },
    /// Print the JSON Schema of the policy format (as in policies/policy.schema.json).
    Schema,
    /// Read a secret on stdin and print its SHA-256 hex digest for `auth.bearer_sha256`.
    HashToken,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::HashToken => {
            let mut secret = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut secret) {
                eprintln!("error: cannot read stdin: {e}");
                return ExitCode::FAILURE;
            }
            if secret.trim_ascii().is_empty() {
                eprintln!("error: no secret on stdin");
                return ExitCode::FAILURE;
            }
            println!("{}", scimgate::flow::auth::hash_token(&secret));
            ExitCode::SUCCESS
        }
        Command::Translate {
            policy,
            method,
            path,
            direction,
            status,
        } => translate(&policy, &method, &path, &direction, status),
        Command::Schema => {
            print!("{}", scimgate::policy::schema::render());
            ExitCode::SUCCESS
        }
        Command::Test { dir } => match scimgate::tools::policy_tests::run_dir(&dir) {
            Ok(report) => {
                for f in &report.failed {
                    println!("FAIL {f}\n");
                }
                println!("{} passed, {} failed", report.passed, report.failed.len());
                if report.failed.is_empty() && report.passed > 0 {
                    ExitCode::SUCCESS
                } else {
                    if report.passed + report.failed.len() == 0 {
                        eprintln!("error: no [[test]] in any *.test.toml of {}", dir.display());
                    }
                    ExitCode::FAILURE
                }
            }
            Err(errors) => {
                eprintln!("{}", Diagnostics(errors));
                ExitCode::FAILURE
            }
        },
        Command::Check { dir, secrets_dir } => check(&dir, secrets_dir.as_deref()),
        Command::Serve {
            policies,
            secrets_dir,
            token_key_file,
            listen,
            admin,
            admin_token_env,
            tls_listen,
            tls_cert,
            tls_key,
            threads,
            work_stealing,
            idle_timeout_s,
            body_timeout_ms,
            header_timeout_ms,
            max_header_bytes,
            max_connections,
            store,
            store_on_error,
            store_timeout_ms,
            store_lease_ms,
            access_log,
            access_log_flush_ms,
            log_format,
        } => {
            let flush_every = std::time::Duration::from_millis(access_log_flush_ms);
            if let Err(e) =
                scimgate::telemetry::logs::init(log_format == "json", &access_log, flush_every)
            {
                eprintln!("error: scimgate did not start: {e}");
                return ExitCode::FAILURE;
            }
            let compile_opts = match CompileOptions::new(secrets_dir.as_deref()) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: scimgate did not start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let keys = match scimgate::oauth::keys::KeySet::load(&token_key_file) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("error: scimgate did not start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if !keys.is_empty() {
                tracing::info!(kids = ?keys.kids(), "token keys loaded: the first signs, all verify");
            }
            let compile_opts = CompileOptions {
                token_keys: Some(keys.kids().len()),
                ..compile_opts
            };
            let loaded = load::load_dir_with(&policies, &compile_opts).and_then(|mut tenants| {
                secrets::resolve(&mut tenants, |k| std::env::var(k).ok())?;
                Ok(tenants)
            });
            let tenants = match loaded {
                Ok(t) => t,
                Err(errors) => {
                    eprintln!("{}", Diagnostics(errors));
                    eprintln!("error: scimgate did not start: fix the policies above");
                    return ExitCode::FAILURE;
                }
            };
            for w in tenants.iter().flat_map(|t| &t.warnings) {
                tracing::warn!(target: "scimgate::policy", "{}", Warning(w));
            }
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let admin_token = match admin_token_env
                .as_deref()
                .map(scimgate::console::auth::AdminToken::from_env)
                .transpose()
            {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: scimgate did not start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let opts = ServeOptions {
                policies,
                listen,
                admin,
                tls_listen,
                tls_cert,
                tls_key,
                threads,
                work_stealing,
                idle_timeout_s,
                body_timeout: std::time::Duration::from_millis(body_timeout_ms),
                header_timeout: std::time::Duration::from_millis(header_timeout_ms),
                max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
                max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
                compile: compile_opts,
                tokens: std::sync::Arc::new(scimgate::oauth::Tokens::new(keys)),
                admin_token,
                store: store.map(|url| scimgate::ratelimit::StoreOptions {
                    url,
                    on_error: store_on_error,
                    timeout: std::time::Duration::from_millis(store_timeout_ms),
                    lease: std::time::Duration::from_millis(store_lease_ms),
                }),
            };
            match serve(opts, Policies::new(tenants)) {
                Err(e) => {
                    eprintln!("error: scimgate did not start: {e}");
                    ExitCode::FAILURE
                }
                Ok(never) => match never {},
            }
        }
    }
}

/// `scimgate check DIR [--secrets-dir S]`: an `ok:` line per tenant on stdout; warnings and
/// errors (file:line:col) on stderr; exit 1 on any error.
fn check(dir: &std::path::Path, secrets_dir: Option<&std::path::Path>) -> ExitCode {
    let opts = match CompileOptions::new(secrets_dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match load::load_dir_with(dir, &opts) {
        Ok(tenants) => {
            for t in &tenants {
                println!(
                    "ok: {} ({}) route {} -> {}",
                    t.name,
                    t.source.display(),
                    t.route,
                    t.upstream.url
                );
                for w in &t.warnings {
                    eprintln!("{}", Warning(w));
                }
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}", Diagnostics(errors));
            ExitCode::FAILURE
        }
    }
}

fn translate(
    policy: &std::path::Path,
    method: &str,
    path: &str,
    direction: &str,
    status: u16,
) -> ExitCode {
    use scimgate::flow::dry_run::{preview, Direction};
    let source = match std::fs::read_to_string(policy) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", policy.display());
            return ExitCode::FAILURE;
        }
    };
    let tenant = match scimgate::policy::compile::compile_file(policy, &source) {
        Ok(t) => std::sync::Arc::new(t),
        Err(errors) => {
            eprintln!("{}", Diagnostics(errors));
            return ExitCode::FAILURE;
        }
    };
    let Ok(method) = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
        eprintln!("error: {method:?} is not an HTTP method");
        return ExitCode::FAILURE;
    };
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("error: cannot read stdin: {e}");
        return ExitCode::FAILURE;
    }
    let direction = if direction == "response" {
        Direction::Response
    } else {
        Direction::Request
    };
    let body = (!body.trim_ascii().is_empty()).then_some(body.as_slice());
    match preview(&tenant, direction, status, &method, path, body) {
        Ok(out) => {
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", String::from_utf8_lossy(&e.body()));
            eprintln!("error: the gateway would answer {}", e.status);
            ExitCode::FAILURE
        }
    }
}
