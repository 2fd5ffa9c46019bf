//! The embedded [`WindowCounter`]: sliding windows of events in this process's memory, for the
//! deletion guard. Exact to within 1/1024 of the window, on the conservative side: events that
//! arrive within that span of each other share one entry stamped with the latest of them, so a
//! counter keeps about 1024 entries at most, whatever the traffic, and an event never leaves
//! the window early.

use super::store::{StoreError, WindowCounter, WindowTake};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Events of one counter, oldest first.
#[derive(Debug, Default)]
struct Slot {
    events: VecDeque<(Instant, u64)>,
    total: u64,
    released_until: Option<Instant>,
}

impl Slot {
    /// Drop what left the window by `now`, and an ended release.
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, n)) = self.events.front() {
            if now.saturating_duration_since(at) < window {
                break;
            }
            self.events.pop_front();
            self.total = self.total.saturating_sub(n);
        }
        if self.released_until.is_some_and(|u| u <= now) {
            self.released_until = None;
        }
    }

    fn add(&mut self, now: Instant, n: u64, window: Duration) {
        let merge = window / 1024;
        match self.events.back_mut() {
            Some((at, m)) if now.saturating_duration_since(*at) <= merge => {
                *at = now;
                *m = m.saturating_add(n);
            }
            _ => self.events.push_back((now, n)),
        }
        self.total = self.total.saturating_add(n);
    }

    /// How long until `n` more fit under `limit` (the whole window when they never can).
    fn until_room(&self, now: Instant, n: u64, limit: u64, window: Duration) -> Duration {
        if n > limit {
            return window;
        }
        let mut left = self.total;
        for &(at, m) in &self.events {
            left = left.saturating_sub(m);
            if left.saturating_add(n) <= limit {
                return (at + window).saturating_duration_since(now);
            }
        }
        Duration::ZERO
    }
}

/// Sliding windows in this process only (the embedded default; replicas count apart).
#[derive(Debug, Default)]
pub struct LocalWindow {
    slots: Mutex<HashMap<(String, String), Slot>>,
}

impl LocalWindow {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_slot<T>(&self, tenant: &str, name: &str, f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (tenant.to_owned(), name.to_owned());
        let out = f(slots.entry(key.clone()).or_default());
        if slots
            .get(&key)
            .is_some_and(|s| s.events.is_empty() && s.released_until.is_none())
        {
            slots.remove(&key);
        }
        out
    }

    /// [`WindowCounter::add_in_window`] at `now`.
    pub fn add_at(&self, now: Instant, tenant: &str, name: &str, n: u32, window: Duration) -> u64 {
        self.with_slot(tenant, name, |s| {
            s.expire(now, window);
            s.add(now, u64::from(n), window);
            s.total
        })
    }

    /// [`WindowCounter::take_in_window`] at `now`.
    pub fn take_at(
        &self,
        now: Instant,
        tenant: &str,
        name: &str,
        n: u32,
        limit: u64,
        window: Duration,
    ) -> WindowTake {
        self.with_slot(tenant, name, |s| {
            s.expire(now, window);
            if let Some(until) = s.released_until {
                return WindowTake::Released {
                    left: until.saturating_duration_since(now),
                };
            }
            let n = u64::from(n);
            if s.total.saturating_add(n) > limit {
                return WindowTake::Full {
                    count: s.total,
                    retry_after: s.until_room(now, n, limit, window),
                };
            }
            s.add(now, n, window);
            WindowTake::Taken { count: s.total }
        })
    }

    /// [`WindowCounter::release`] at `now`.
    pub fn release_at(&self, now: Instant, tenant: &str, name: &str, window: Duration) {
        self.with_slot(tenant, name, |s| {
            s.events.clear();
            s.total = 0;
            s.released_until = Some(now + window);
        });
    }
}

#[async_trait]
impl WindowCounter for LocalWindow {
    async fn add_in_window(
        &self,
        tenant: &str,
        name: &str,
        n: u32,
        window: Duration,
    ) -> Result<u64, StoreError> {
        Ok(self.add_at(Instant::now(), tenant, name, n, window))
    }

    async fn take_in_window(
        &self,
        tenant: &str,
        name: &str,
        n: u32,
        limit: u64,
        window: Duration,
    ) -> Result<WindowTake, StoreError> {
        Ok(self.take_at(Instant::now(), tenant, name, n, limit, window))
    }

    async fn release(&self, tenant: &str, name: &str, window: Duration) -> Result<(), StoreError> {
        self.release_at(Instant::now(), tenant, name, window);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn takes_up_to_the_limit_then_says_when_one_more_fits() {
        let w = LocalWindow::new();
        let t0 = Instant::now();
        for i in 0..5u64 {
            let at = t0 + Duration::from_secs(i * 10);
            assert_eq!(
                w.take_at(at, "t", "deletes", 1, 5, W),
                WindowTake::Taken { count: i + 1 }
            );
        }
        // At 45 s the oldest (0 s) leaves at 60 s: 15 s to wait.
        let at = t0 + Duration::from_secs(45);
        assert_eq!(
            w.take_at(at, "t", "deletes", 1, 5, W),
            WindowTake::Full {
                count: 5,
                retry_after: Duration::from_secs(15)
            }
        );
        // Three more need the three oldest gone: the one at 20 s leaves at 80 s.
        assert_eq!(
            w.take_at(at, "t", "deletes", 3, 5, W),
            WindowTake::Full {
                count: 5,
                retry_after: Duration::from_secs(35)
            }
        );
        // More than the limit never fits: the whole window.
        assert_eq!(
            w.take_at(at, "t", "deletes", 6, 5, W),
            WindowTake::Full {
                count: 5,
                retry_after: W
            }
        );
        let later = t0 + Duration::from_secs(60);
        assert_eq!(
            w.take_at(later, "t", "deletes", 1, 5, W),
            WindowTake::Taken { count: 5 }
        );
        // Other tenants and names are apart.
        assert_eq!(
            w.take_at(later, "u", "deletes", 1, 5, W),
            WindowTake::Taken { count: 1 }
        );
    }

    #[test]
    fn a_release_counts_nothing_for_a_window_then_re_arms_empty() {
        let w = LocalWindow::new();
        let t0 = Instant::now();
        assert_eq!(
            w.take_at(t0, "t", "d", 2, 2, W),
            WindowTake::Taken { count: 2 }
        );
        assert!(matches!(
            w.take_at(t0, "t", "d", 1, 2, W),
            WindowTake::Full { .. }
        ));
        w.release_at(t0, "t", "d", W);
        let mid = t0 + Duration::from_secs(30);
        for _ in 0..100 {
            assert_eq!(
                w.take_at(mid, "t", "d", 1, 2, W),
                WindowTake::Released {
                    left: Duration::from_secs(30)
                }
            );
        }
        let after = t0 + W;
        assert_eq!(
            w.take_at(after, "t", "d", 1, 2, W),
            WindowTake::Taken { count: 1 }
        );
    }

    #[test]
    fn observing_counts_everything_and_memory_stays_bounded() {
        let w = LocalWindow::new();
        let t0 = Instant::now();
        let mut last = 0;
        for i in 0..100_000u64 {
            last = w.add_at(t0 + Duration::from_millis(i / 2), "t", "d", 1, W);
        }
        assert_eq!(last, 100_000);
        let slots = w.slots.lock().unwrap();
        let s = slots.get(&("t".into(), "d".into())).unwrap();
        assert!(s.events.len() <= 1100, "{}", s.events.len());
        drop(slots);
        // All of them left 60 s after the last one.
        assert_eq!(
            w.add_at(t0 + Duration::from_secs(50) + W, "t", "d", 1, W),
            1
        );
    }
}
