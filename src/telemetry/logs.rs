//! Structured logs through `tracing`: text for people, `--log-format json` for collectors; and
//! the access log, one JSON line per request (target `scimgate::access`), written where
//! `--access-log` says whatever `RUST_LOG` is, because it is the audit trail. Request logs carry
//! tenant, endpoint family, method, status and timings: never tokens, secrets, query strings or
//! bodies.

use std::path::PathBuf;
use std::sync::Mutex;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// The `tracing` target of the access log.
pub const ACCESS: &str = "scimgate::access";

/// Where the access log goes (`--access-log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    Stderr,
    Stdout,
    Off,
    /// Appended to this file.
    File(PathBuf),
}

impl std::str::FromStr for AccessLog {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "stderr" => AccessLog::Stderr,
            "stdout" => AccessLog::Stdout,
            "off" => AccessLog::Off,
            path => AccessLog::File(PathBuf::from(path)),
        })
    }
}

/// The access log's writer. A request appends its line to a shared buffer, without a syscall
/// and without waking anything; one `scimgate-access-log` thread writes what has gathered every
/// `--access-log-flush-ms` (default 50) in one `write` (0: every line at once, by its request).
/// A buffer that reaches [`FLUSH_AT`] is written at once by the request that filled it, so a
/// writer that falls behind slows requests instead of losing lines.
/// Issue 15 measured the line-per-request `write` at ~6 µs of gateway CPU a request (of ~45);
/// a writer thread woken per line cost as much in wake-ups. What a `kill -9` can lose is the
/// last interval; a stop (SIGTERM, SIGQUIT) writes everything first ([`flush`]).
struct Batched {
    /// Zero: no gathering, each line written at once.
    every: std::time::Duration,
    lines: Mutex<Vec<u8>>,
    out: Mutex<Box<dyn std::io::Write + Send>>,
}

/// Gathered bytes that are written at once.
const FLUSH_AT: usize = 64 * 1024;

impl Batched {
    /// Write what has gathered. The `out` lock is taken first, so batches leave in order.
    fn flush_now(&self) {
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        let batch = match self.lines.lock() {
            Ok(mut lines) if !lines.is_empty() => std::mem::take(&mut *lines),
            _ => return,
        };
        // Nowhere to report a failed log write; the next batch tries again.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
    }
}

struct BatchedLine<'a>(&'a Batched);

impl std::io::Write for BatchedLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let full = match self.0.lines.lock() {
            Ok(mut lines) => {
                lines.extend_from_slice(buf);
                lines.len() >= FLUSH_AT || self.0.every.is_zero()
            }
            Err(_) => false,
        };
        if full {
            self.0.flush_now();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for &'static Batched {
    type Writer = BatchedLine<'a>;
    fn make_writer(&'a self) -> BatchedLine<'a> {
        BatchedLine(self)
    }
}

static ACCESS_OUT: std::sync::OnceLock<Batched> = std::sync::OnceLock::new();

fn batched<W: std::io::Write + Send + 'static>(
    out: W,
    every: std::time::Duration,
) -> BoxMakeWriter {
    let batched = ACCESS_OUT.get_or_init(|| Batched {
        every,
        lines: Mutex::new(Vec::with_capacity(FLUSH_AT)),
        out: Mutex::new(Box::new(out)),
    });
    if !every.is_zero() {
        let _ = std::thread::Builder::new()
            .name("scimgate-access-log".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                batched.flush_now();
            });
    }
    BoxMakeWriter::new(batched)
}

/// Write every access-log line gathered so far: before the process exits.
pub fn flush() {
    if let Some(b) = ACCESS_OUT.get() {
        b.flush_now();
    }
}

/// Install the global subscriber. `RUST_LOG` sets the level of everything but the access log
/// (default `info`); the access log goes to `access` on its own. Fails only when the access-log
/// file cannot be opened.
pub fn init(
    json: bool,
    access: &AccessLog,
    flush_every: std::time::Duration,
) -> Result<(), String> {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if let Ok(off) = format!("{ACCESS}=off").parse() {
        filter = filter.add_directive(off);
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let main = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .boxed()
    };
    let writer = match access {
        AccessLog::Off => None,
        AccessLog::Stderr => Some(batched(std::io::stderr(), flush_every)),
        AccessLog::Stdout => Some(batched(std::io::stdout(), flush_every)),
        AccessLog::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--access-log {}: {e}", path.display()))?;
            Some(batched(file, flush_every))
        }
    };
    let access_layer = writer.map(|w| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(w)
            .with_filter(Targets::new().with_target(ACCESS, Level::INFO))
    });
    let _ = tracing_subscriber::registry()
        .with(main.with_filter(filter))
        .with(access_layer)
        .try_init();
    // Pingora logs through the `log` crate, and its debug and trace lines print raw request
    // heads (the IdP's bearer token among them). `log` records stop at info whatever RUST_LOG
    // asks for; scimgate's own events (`tracing`) still follow RUST_LOG. (A RUST_LOG directive
    // for Pingora's targets cannot do this: `log` records share one callsite per level, whose
    // interest the first directive decides.)
    log::set_max_level(log::LevelFilter::Info);
    Ok(())
}
