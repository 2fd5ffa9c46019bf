//! One exchange as the console keeps it ([`Record`]), gathered while the request runs
//! ([`Draft`], a field of `flow::observe::Seen`) and handed to the [`super::Ring`] whole.
//!
//! What a record holds, and what it never does:
//! - the IdP's method, path, query and body; the first request sent to the target (method,
//!   path and query, body); statuses, latencies, the rules applied; the answer's body;
//! - never a header: not the IdP's `Authorization`, not the target's secret, no cookie;
//! - never a secret value: a body or query naming a password, secret or token has those values
//!   replaced before it is kept ([`keep`], [`scrub_query`]); a body that names one and is not
//!   JSON is not kept at all;
//! - at most [`BODY_CAP`] bytes of each request body and [`ANSWER_CAP`] of the answer, copied
//!   (never a slice that would keep the request's buffer alive).
//!
//! Personal values are kept as sent and redacted when shown ([`super::redact`]) unless the
//! tenant's policy says `[log] pii = true`. This is the only work the request path does for the
//! console: while the request runs, reference counts on its bodies and a copy of the target's
//! path; for a record the ring takes, a few copies bounded by the caps, and one `try_send`.

use bytes::Bytes;
use http::Method;
use serde_json::Value;
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

/// The most bytes kept of a request body (the IdP's, and the target's).
pub const BODY_CAP: usize = 16 * 1024;
/// The most bytes kept of the answer the IdP got.
pub const ANSWER_CAP: usize = 4 * 1024;
/// The most bytes kept of a path or a query.
pub const PATH_CAP: usize = 2048;
/// What stands in for a secret or personal value.
pub const REDACTED: &str = "‹redacted›";

/// A body as kept: its first bytes, secrets already replaced.
#[derive(Debug, Clone)]
pub struct Kept {
    pub bytes: Box<[u8]>,
    /// The length of the whole body (after secrets were replaced).
    pub len: usize,
    /// Why the body is not here, when it is not.
    pub withheld: Option<&'static str>,
}

impl Kept {
    pub fn truncated(&self) -> bool {
        self.bytes.len() < self.len
    }
}

/// One leg sent to the target: what it got.
#[derive(Debug, Clone)]
pub struct Leg {
    pub method: Method,
    /// Path and query as sent (the target's base path included), secrets in the query replaced.
    pub path: String,
    pub body: Option<Kept>,
}

/// One finished exchange.
#[derive(Debug, Clone)]
pub struct Record {
    /// Set by the ring: increasing, the SSE event id.
    pub seq: u64,
    /// When the request arrived.
    pub at: SystemTime,
    pub tenant: String,
    /// The tenant's `[log] pii` when the request ran: personal values shown as sent.
    pub pii: bool,
    /// The endpoint family (`Users`, `Groups`, `Bulk`, …).
    pub resource: &'static str,
    pub method: Method,
    /// The path the IdP called (route included).
    pub path: String,
    pub query: Option<String>,
    pub body: Option<Kept>,
    /// The first request sent to the target (a split Bulk sends several: `upstream_calls`).
    pub upstream: Option<Leg>,
    pub upstream_calls: u16,
    pub upstream_status: Option<u16>,
    pub upstream_ms: Option<f64>,
    /// What the IdP got.
    pub status: u16,
    pub answer: Option<Kept>,
    pub duration_ms: f64,
    /// Rules applied, request and response.
    pub rules: u32,
    /// Request rules by kind (`map`, `drop`, `set`, `transform`, `null`, `dialect`), non-zero.
    pub rule_kinds: Vec<(&'static str, u32)>,
    /// What the dialect and profile changed, one short note per kind of change.
    pub notes: Vec<&'static str>,
}

impl Record {
    /// About how many bytes this record holds (the ring's budget counts this).
    pub fn bytes(&self) -> usize {
        let kept = |k: &Option<Kept>| k.as_ref().map_or(0, |k| k.bytes.len());
        std::mem::size_of::<Record>()
            + self.tenant.len()
            + self.path.len()
            + self.query.as_ref().map_or(0, String::len)
            + kept(&self.body)
            + kept(&self.answer)
            + self.upstream.as_ref().map_or(0, |l| {
                std::mem::size_of::<Leg>() + l.path.len() + kept(&l.body)
            })
            + self.rule_kinds.len() * 24
            + self.notes.len() * 16
            // allocator overhead of the few allocations above
            + 64
    }
}

/// The part of an exchange learned so far. Empty (and free) unless [`Draft::start`] was called,
/// which the flow does only when a ring is there to take the record.
#[derive(Debug, Default)]
pub struct Draft(Option<Box<Parts>>);

/// What the draft holds is shared with the flow (a body is a reference count, not a copy): the
/// copies, caps and scrubbing happen in [`Draft::finish`], only for a record the ring takes. Past
/// the ring's budget most successes are not taken, so they cost no copy at all.
#[derive(Debug)]
struct Parts {
    at: SystemTime,
    /// The IdP's body as read.
    body: Option<Bytes>,
    upstream: Option<Sent>,
    calls: u16,
    kinds: [(&'static str, u32); 6],
    notes: Vec<&'static str>,
}

/// The most distinct dialect notes kept per record.
const MAX_NOTES: usize = 16;

/// The first request sent to the target, as sent.
#[derive(Debug)]
struct Sent {
    method: Method,
    path_and_query: String,
    body: Option<Bytes>,
}

/// What the flow knows when the exchange ends (the IdP's request, and `flow::observe::Seen`).
pub struct Outcome<'a> {
    pub method: &'a Method,
    /// The path the IdP called (route included) and its query, as received.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub tenant: &'a str,
    pub pii: bool,
    pub resource: &'static str,
    pub upstream_status: Option<u16>,
    pub upstream_ms: Option<f64>,
    pub rules: u32,
    pub status: u16,
    pub answer: &'a [u8],
    pub elapsed: Duration,
}

impl Draft {
    /// Begin recording this request (its method, path and query come with [`Outcome`]).
    pub fn start(&mut self) {
        self.0 = Some(Box::new(Parts {
            at: SystemTime::now(),
            body: None,
            upstream: None,
            calls: 0,
            kinds: [
                ("map", 0),
                ("drop", 0),
                ("set", 0),
                ("transform", 0),
                ("null", 0),
                ("dialect", 0),
            ],
            notes: Vec::new(),
        }));
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The body the IdP sent, as read.
    pub fn idp_body(&mut self, raw: &Bytes) {
        if let Some(p) = self.0.as_mut() {
            p.body = Some(raw.clone());
        }
    }

    /// One request sent to the target; the first is kept, the others counted.
    pub fn upstream(&mut self, method: &Method, path_and_query: &str, body: Option<&Bytes>) {
        let Some(p) = self.0.as_mut() else { return };
        p.calls = p.calls.saturating_add(1);
        if p.upstream.is_none() {
            p.upstream = Some(Sent {
                method: method.clone(),
                path_and_query: cut_str(path_and_query, PATH_CAP).to_owned(),
                body: body.cloned(),
            });
        }
    }

    /// Rules applied to a request, by kind, and the dialect's notes.
    pub fn rules(&mut self, by_kind: [(&'static str, u32); 6], notes: &[&'static str]) {
        let Some(p) = self.0.as_mut() else { return };
        for (slot, (_, n)) in p.kinds.iter_mut().zip(by_kind) {
            slot.1 = slot.1.saturating_add(n);
        }
        for n in notes {
            if p.notes.len() < MAX_NOTES && !p.notes.contains(n) {
                p.notes.push(n);
            }
        }
    }

    /// The finished record, if this request was recorded.
    pub fn finish(self, o: Outcome<'_>) -> Option<Record> {
        let p = *self.0?;
        Some(Record {
            seq: 0,
            at: p.at,
            tenant: o.tenant.to_string(),
            pii: o.pii,
            resource: o.resource,
            method: o.method.clone(),
            path: cut_str(o.path, PATH_CAP).to_string(),
            query: o
                .query
                .map(|q| scrub_query(cut_str(q, PATH_CAP)).into_owned()),
            body: p.body.and_then(|b| keep(&b, BODY_CAP)),
            upstream: p.upstream.map(|s| Leg {
                method: s.method,
                path: scrub_path_and_query(&s.path_and_query).into_owned(),
                body: s.body.and_then(|b| keep(&b, BODY_CAP)),
            }),
            upstream_calls: p.calls,
            upstream_status: o.upstream_status,
            upstream_ms: o.upstream_ms,
            status: o.status,
            answer: keep(o.answer, ANSWER_CAP),
            duration_ms: o.elapsed.as_secs_f64() * 1000.0,
            rules: o.rules,
            rule_kinds: p.kinds.into_iter().filter(|(_, n)| *n > 0).collect(),
            notes: p.notes,
        })
    }
}

/// Keys whose values are secrets wherever they appear (compared lowercased, after the last
/// `:` of a URN-qualified key).
const SECRET_KEYS: [&str; 7] = [
    "password",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
];

/// Words whose presence in a body makes it worth scrubbing (case-insensitive). The fourth is
/// a JSON escape as the fold spells it (`\u` folds to `|u`): a name written with escapes
/// (`"pass\u0077ord"`) holds none of the words as bytes, so any escape sends the body through
/// the parse, which decodes names before [`is_secret_key`] reads them.
const SECRET_WORDS: [&[u8]; 4] = [b"password", b"secret", b"token", b"|u"];

/// The body case-folded into a reused buffer, then one SIMD substring search per word
/// (memchr's memmem). Every answer a console-watched gateway relays goes through this, so it is
/// on the request path: issue 15 measured a search stepping through the first letters at ~4 %
/// of a passthrough's CPU on a 6 KiB list full of `t`s, and aho-corasick with ASCII case folding
/// (no prefilter then) at 11 %; this is ~0.3 µs for that list.
///
/// The fold is `b | 0x20`, not `to_ascii_lowercase` (a compare per byte): it lowercases ASCII
/// letters exactly and never turns a byte that is not a letter into one, so it finds the
/// (lowercase) words in every spelling; what else it changes cannot make a match.
fn names_secret(body: &[u8]) -> bool {
    static FINDERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 4]> =
        std::sync::LazyLock::new(|| SECRET_WORDS.map(memchr::memmem::Finder::new));
    thread_local! {
        static LOWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let search = |lower: &[u8]| FINDERS.iter().any(|f| f.find(lower).is_some());
    LOWER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut lower) => {
            lower.clear();
            lower.extend(body.iter().map(fold));
            let found = search(&lower);
            if lower.capacity() > 1 << 20 {
                *lower = Vec::new();
            }
            found
        }
        Err(_) => search(&body.iter().map(fold).collect::<Vec<u8>>()),
    })
}

fn fold(b: &u8) -> u8 {
    b | 0x20
}

/// Is `key` (an attribute name, maybe URN-qualified, maybe a PATCH path) a secret's name?
pub fn is_secret_key(key: &str) -> bool {
    let attr = key.split('[').next().unwrap_or(key);
    let attr = attr.rsplit(':').next().unwrap_or(attr);
    let attr = attr.rsplit('.').next().unwrap_or(attr);
    SECRET_KEYS.iter().any(|s| attr.eq_ignore_ascii_case(s))
}

/// A body as the console may keep it: its first `cap` bytes, with the values of secrets
/// replaced first (a body naming a secret that is not JSON is withheld). `None` when empty.
pub fn keep(body: &[u8], cap: usize) -> Option<Kept> {
    if body.is_empty() {
        return None;
    }
    if !names_secret(body) {
        return Some(cut(body, cap, body.len()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            scrub(&mut v);
            let text = serde_json::to_vec(&v).unwrap_or_default();
            Some(cut(&text, cap, text.len()))
        }
        Err(_) => Some(Kept {
            bytes: Box::default(),
            len: body.len(),
            withheld: Some("not kept: it names a secret and is not JSON"),
        }),
    }
}

/// Replace every secret value in a JSON message: values of secret keys, and the `value` of a
/// PATCH operation whose `path` names a secret.
pub fn scrub(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let secret_path = map.iter().any(|(k, p)| {
                k.eq_ignore_ascii_case("path") && p.as_str().is_some_and(is_secret_key)
            });
            for (k, child) in map.iter_mut() {
                let secret = is_secret_key(k) || (secret_path && k.eq_ignore_ascii_case("value"));
                if secret && !child.is_null() {
                    *child = Value::String(REDACTED.to_string());
                } else {
                    scrub(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// A query with the values of secret-named parameters replaced (`access_token=…`).
pub fn scrub_query(query: &str) -> Cow<'_, str> {
    // Looked for in the decoded query: `access%5Ftoken=` names a token too.
    let decoded: Cow<'_, [u8]> = percent_encoding::percent_decode_str(query).into();
    if !names_secret(&decoded) {
        return Cow::Borrowed(query);
    }
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => {
                let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
                if is_secret_key(&decoded) {
                    format!("{name}=%E2%80%B9redacted%E2%80%BA")
                } else {
                    pair.to_string()
                }
            }
            None => pair.to_string(),
        })
        .collect();
    Cow::Owned(parts.join("&"))
}

fn scrub_path_and_query(pq: &str) -> Cow<'_, str> {
    match pq.split_once('?') {
        Some((path, q)) => match scrub_query(q) {
            Cow::Borrowed(_) => Cow::Borrowed(pq),
            Cow::Owned(q) => Cow::Owned(format!("{path}?{q}")),
        },
        None => Cow::Borrowed(pq),
    }
}

/// The first `cap` bytes (backing off to the start of a character cut in two), copied.
fn cut(body: &[u8], cap: usize, len: usize) -> Kept {
    let end = char_start(body, body.len().min(cap));
    Kept {
        bytes: body.get(..end).unwrap_or_default().into(),
        len,
        withheld: None,
    }
}

/// `end`, or the start of the UTF-8 character `end` falls inside. Only the bytes next to the
/// cut are looked at (a character is at most 4 bytes), not the whole kept text: a continuation
/// byte at `end` goes back to its lead byte; text that is not UTF-8 there is cut at `end`.
fn char_start(body: &[u8], end: usize) -> usize {
    let continuation = |i: usize| body.get(i).is_some_and(|b| b & 0xC0 == 0x80);
    if !continuation(end) {
        return end;
    }
    (end.saturating_sub(3)..end)
        .rev()
        .find(|&i| !continuation(i))
        .filter(|&i| body.get(i).is_some_and(|&b| b >= 0xC0))
        .unwrap_or(end)
}

fn cut_str(s: &str, cap: usize) -> &str {
    if s.len() <= cap {
        return s;
    }
    let mut end = cap;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
#[path = "record/tests.rs"]
mod tests;
