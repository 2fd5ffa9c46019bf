//! The live tail (`GET /api/exchanges/stream?tenant=…`): Server-Sent Events, one `exchange`
//! event per record as the ring takes it (`id` = the record's sequence number, so a browser that
//! reconnects with `Last-Event-ID` gets what it missed from the ring), a comment every
//! [`HEARTBEAT`] to notice a client that left. At most [`MAX_CLIENTS`] at once ([`Slots`]).
//! `proxy::admin` writes these bytes; this module decides them.

use super::record::Record;
use super::{html, view};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Live tails open at once; one more gets 503.
pub const MAX_CLIENTS: usize = 16;
/// How often an idle tail gets a comment line.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// The count of open live tails.
#[derive(Debug, Default)]
pub struct Slots(Arc<AtomicUsize>);

/// One open live tail; its slot is freed when dropped.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Slots {
    /// A slot, unless [`MAX_CLIENTS`] are open.
    pub fn take(&self) -> Option<Slot> {
        let taken = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CLIENTS).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| Slot(Arc::clone(&self.0)))
    }

    pub fn open(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a live tail asked for.
#[derive(Debug)]
pub struct Tail {
    /// Only this tenant's exchanges (`?tenant=`), or every tenant's.
    pub tenant: Option<String>,
    /// Replay what the ring holds after this sequence number (`Last-Event-ID`).
    pub after: Option<u64>,
    pub slot: Slot,
}

impl Tail {
    pub fn wants(&self, r: &Record) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == r.tenant)
    }
}

/// The first bytes of a tail: the browser's reconnection delay, and a comment.
pub fn preamble() -> &'static str {
    "retry: 2000\n: scimgate live tail\n\n"
}

/// A heartbeat comment.
pub fn heartbeat() -> &'static str {
    ": ping\n\n"
}

/// The tail skipped records (it read too slowly).
pub fn lagged(n: u64) -> String {
    format!("event: lagged\ndata: {n}\n\n")
}

/// One exchange event: its JSON view and its HTML, rendered once for the page to insert.
pub fn event(r: &Record) -> String {
    let x = view::exchange(r);
    let html = html::exchange(&x, true);
    let data = json!({"exchange": x, "html": html});
    format!("id: {}\nevent: exchange\ndata: {data}\n\n", r.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_freed() {
        let slots = Slots::default();
        let held: Vec<Slot> = (0..MAX_CLIENTS).map(|_| slots.take().unwrap()).collect();
        assert!(slots.take().is_none());
        drop(held);
        assert_eq!(slots.open(), 0);
        assert!(slots.take().is_some());
    }
}
