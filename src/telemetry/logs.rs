//! Structured logs through `tracing`: text for people, `--log-format json` for collectors; and
//! the access log, one JSON line per request (`"target":"scimgate::access"`, written by
//! [`access`] itself rather than through a `tracing` event), written where
//! `--access-log` says whatever `RUST_LOG` is, because it is the audit trail. Request logs carry
//! tenant, endpoint family, method, status and timings: never tokens, secrets, query strings or
//! bodies.

use std::path::PathBuf;
use std::sync::Mutex;
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

/// One request's access-log line: what [`crate::flow::observe::record`] knows.
pub struct AccessLine<'a> {
    pub tenant: &'a str,
    pub resource: &'a str,
    pub resource_id: Option<&'a str>,
    pub method: &'a str,
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub upstream_ms: Option<f64>,
    pub duration_ms: f64,
    pub rules: u32,
    pub user_name: Option<&'a str>,
}

/// `fmt::Write` into the gathered bytes.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A JSON number (written by serde_json).
fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, value: &T) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    // Writing a number into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// A JSON string, escaped as serde_json escapes it ([`crate::scim::json::write_str`], which
/// skips serde's serializer and escapes eight bytes at a time).
fn json_str(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    crate::scim::json::write_str(value, out);
}

/// Write one access-log line (nothing with `--access-log off`). The line is the one
/// `tracing-subscriber`'s flattened JSON format wrote before (same keys, same order, the same
/// timestamp format), written straight into the gathered bytes: going through a `tracing`
/// event cost ~3 µs a request (field visitors, a map of `Value`s per event), a tenth of a
/// passthrough request's CPU (issue 15).
pub fn access(line: &AccessLine<'_>) {
    let Some(b) = ACCESS_OUT.get() else {
        return;
    };
    let full = match b.lines.lock() {
        Ok(mut lines) => {
            write_line(&mut lines, line);
            lines.len() >= FLUSH_AT || b.every.is_zero()
        }
        Err(_) => false,
    };
    if full {
        b.flush_now();
    }
}

/// Append `line` and its newline to `out`.
fn write_line(out: &mut Vec<u8>, line: &AccessLine<'_>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out);
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\"");
    json_str(out, "tenant", line.tenant);
    json_str(out, "resource", line.resource);
    if let Some(id) = line.resource_id {
        json_str(out, "resource_id", id);
    }
    json_str(out, "method", line.method);
    json(out, "status", &line.status);
    if let Some(s) = line.upstream_status {
        json(out, "upstream_status", &s);
    }
    if let Some(ms) = line.upstream_ms {
        json(out, "upstream_ms", &ms);
    }
    json(out, "duration_ms", &line.duration_ms);
    json(out, "rules", &line.rules);
    if let Some(name) = line.user_name {
        json_str(out, "user_name", name);
    }
    json_str(out, "target", ACCESS);
    out.extend_from_slice(b"}\n");
}

thread_local! {
    /// [`timestamp`]'s second (since the epoch) and its text up to the `.`.
    static SECOND: std::cell::RefCell<(u64, String)> =
        const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// The time now as `tracing-subscriber`'s `SystemTime` writes it (RFC 3339, UTC, microseconds:
/// `2026-12-01T14:31:22.123456Z`). Its formatter computes the calendar date and pads six
/// numbers through `fmt` on every call, ~2.4k instructions, over half of an access line; here
/// each thread keeps the part up to the second, made by that formatter once a second, and
/// writes only the microseconds.
fn timestamp(out: &mut Vec<u8>) {
    use std::time::{SystemTime, UNIX_EPOCH};
    let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        formatted(out);
        return;
    };
    let (secs, micros) = (now.as_secs(), now.subsec_micros());
    let cached = SECOND.with(|cell| {
        let Ok(cell) = cell.try_borrow() else {
            return false;
        };
        if cell.0 != secs {
            return false;
        }
        out.extend_from_slice(cell.1.as_bytes());
        true
    });
    if cached {
        out.push(b'.');
        let mut digits = [b'0'; 6];
        let mut rest = micros;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.extend_from_slice(&digits);
        out.push(b'Z');
        return;
    }
    // Once a second a thread: the formatter's own text, whose second is kept when it is the
    // one read above (the formatter reads the clock again, maybe past a second's turn).
    let start = out.len();
    formatted(out);
    let same_second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() == secs);
    let Some(dot) = out
        .get(start..)
        .and_then(|t| t.iter().position(|&b| b == b'.'))
    else {
        return;
    };
    // The text's own second too, should the clock have stepped back meanwhile.
    let shown = out
        .get(start + dot.saturating_sub(2)..start + dot)
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.parse::<u64>().ok());
    if same_second && shown == Some(secs % 60) {
        if let Some(prefix) = out
            .get(start..start + dot)
            .and_then(|p| std::str::from_utf8(p).ok())
        {
            SECOND.with(|cell| {
                if let Ok(mut cell) = cell.try_borrow_mut() {
                    *cell = (secs, prefix.to_owned());
                }
            });
        }
    }
}

/// `tracing-subscriber`'s `SystemTime` text for now.
fn formatted(out: &mut Vec<u8>) {
    let _ = tracing_subscriber::fmt::time::FormatTime::format_time(
        &tracing_subscriber::fmt::time::SystemTime,
        &mut tracing_subscriber::fmt::format::Writer::new(&mut Bytes(out)),
    );
}

static ACCESS_OUT: std::sync::OnceLock<Batched> = std::sync::OnceLock::new();

fn batched<W: std::io::Write + Send + 'static>(out: W, every: std::time::Duration) {
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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
    match access {
        AccessLog::Off => {}
        AccessLog::Stderr => batched(std::io::stderr(), flush_every),
        AccessLog::Stdout => batched(std::io::stdout(), flush_every),
        AccessLog::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--access-log {}: {e}", path.display()))?;
            batched(file, flush_every);
        }
    }
    let _ = tracing_subscriber::registry()
        .with(main.with_filter(filter))
        .try_init();
    // Pingora logs through the `log` crate, and its debug and trace lines print raw request
    // heads (the IdP's bearer token among them). `log` records stop at info whatever RUST_LOG
    // asks for; scimgate's own events (`tracing`) still follow RUST_LOG. (A RUST_LOG directive
    // for Pingora's targets cannot do this: `log` records share one callsite per level, whose
    // interest the first directive decides.)
    log::set_max_level(log::LevelFilter::Info);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// The kept second's text is the formatter's: between two of its readings, the line's
    /// timestamp falls in order, and once a second was kept, a line in that second uses it.
    #[test]
    fn the_timestamp_is_the_formatters_text() {
        let text = |f: fn(&mut Vec<u8>)| {
            let mut v = Vec::new();
            f(&mut v);
            v
        };
        let mut checked = 0;
        for _ in 0..50 {
            timestamp(&mut Vec::new());
            let (a, b, c) = (text(formatted), text(timestamp), text(formatted));
            let show = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
            let (sa, sb, sc) = (show(&a), show(&b), show(&c));
            assert_eq!(b.len(), a.len(), "{sa} {sb}");
            let n = b.len();
            assert!(b[n - 1] == b'Z' && b[n - 8] == b'.', "{sb}");
            assert!(b[n - 7..n - 1].iter().all(u8::is_ascii_digit), "{sb}");
            // Same length, same layout: text order is time order.
            assert!(a <= b && b <= c, "{sa} {sb} {sc}");
            if a[..n - 8] == c[..n - 8] {
                let kept = SECOND.with(|s| s.borrow().1.clone());
                assert_eq!(kept.as_bytes(), &a[..n - 8], "the kept second: {kept} {sa}");
                checked += 1;
            }
        }
        assert!(checked > 40, "{checked}");
    }

    /// What a request controls (the id in its path, a `userName`) stays inside its JSON string:
    /// one line, one object, the values as sent.
    #[test]
    fn a_line_is_one_json_object_whatever_the_request_sent() {
        let id = "a\"b\\c\n{\"x\":1}\u{7}\u{2028}é";
        let name = "x\r\n{\"target\":\"forged\"}";
        let mut out = Vec::new();
        for _ in 0..2 {
            write_line(
                &mut out,
                &AccessLine {
                    tenant: "t",
                    resource: "Users",
                    resource_id: Some(id),
                    method: "GET",
                    status: 200,
                    upstream_status: None,
                    upstream_ms: Some(0.25),
                    duration_ms: 1.5,
                    rules: 3,
                    user_name: Some(name),
                },
            );
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        // Escaped as serde_json escapes them, byte for byte.
        for (key, value) in [("resource_id", id), ("user_name", name)] {
            let field = format!("\"{key}\":{}", serde_json::to_string(value).unwrap());
            assert!(lines[0].contains(&field), "{field} in {}", lines[0]);
        }
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["resource_id"], id);
        assert_eq!(v["user_name"], name);
        assert_eq!(v["target"], ACCESS);
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["upstream_ms"], 0.25);
        assert!(v.get("upstream_status").is_none());
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "level",
                "message",
                "tenant",
                "resource",
                "resource_id",
                "method",
                "status",
                "upstream_ms",
                "duration_ms",
                "rules",
                "user_name",
                "target"
            ]
        );
        // RFC 3339 in UTC with microseconds, as tracing-subscriber writes it.
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), 27, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    }
}
