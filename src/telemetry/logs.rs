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

/// Install the global subscriber. `RUST_LOG` sets the level of everything but the access log
/// (default `info`); the access log goes to `access` on its own. Fails only when the access-log
/// file cannot be opened.
pub fn init(json: bool, access: &AccessLog) -> Result<(), String> {
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
        AccessLog::Stderr => Some(BoxMakeWriter::new(std::io::stderr)),
        AccessLog::Stdout => Some(BoxMakeWriter::new(std::io::stdout)),
        AccessLog::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--access-log {}: {e}", path.display()))?;
            Some(BoxMakeWriter::new(Mutex::new(file)))
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
