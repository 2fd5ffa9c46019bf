//! Failed client authentications at the token endpoint, counted per tenant and client and
//! slowed down: past [`FREE_FAILURES`] in a [`WINDOW`], each further failure is answered after
//! a delay that doubles from [`FIRST_DELAY`] up to [`MAX_DELAY`] (the caller sleeps, async).
//! Client ids come from the policy, so the counters are bounded; every id the tenant does not
//! know shares one counter per tenant, and the map itself is capped.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures answered at once in a window.
pub const FREE_FAILURES: u32 = 3;
/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Delay of the first failure past the free ones; each next one doubles it.
pub const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// Counters kept at most; past it expired ones go, then everything shares one counter.
pub const MAX_COUNTERS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Counter {
    since: Instant,
    failures: u32,
}

#[derive(Debug, Default)]
pub struct Failures {
    counters: Mutex<HashMap<(String, String), Counter>>,
}

impl Failures {
    /// Count a failure of `client` (a client id the tenant knows, or `None`) at `now`; the
    /// delay to answer it after.
    pub fn failed(&self, tenant: &str, client: Option<&str>, now: Instant) -> Duration {
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key = (tenant.to_string(), client.unwrap_or_default().to_string());
        if map.len() >= MAX_COUNTERS && !map.contains_key(&key) {
            map.retain(|_, c| now.saturating_duration_since(c.since) < WINDOW);
            if map.len() >= MAX_COUNTERS {
                key = (String::new(), String::new());
            }
        }
        let c = map.entry(key).or_insert(Counter {
            since: now,
            failures: 0,
        });
        if now.saturating_duration_since(c.since) >= WINDOW {
            *c = Counter {
                since: now,
                failures: 0,
            };
        }
        c.failures = c.failures.saturating_add(1);
        delay(c.failures)
    }
}

/// The delay of the `n`th failure in a window.
pub fn delay(n: u32) -> Duration {
    match n.checked_sub(FREE_FAILURES + 1) {
        None => Duration::ZERO,
        Some(k) => FIRST_DELAY
            .saturating_mul(1u32.checked_shl(k.min(16)).unwrap_or(u32::MAX))
            .min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_failures() {
        let ms = |n| delay(n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3)], [0, 0, 0]);
        assert_eq!(
            [ms(4), ms(5), ms(6), ms(7), ms(50)],
            [250, 500, 1000, 2000, 2000]
        );
    }

    #[test]
    fn counted_per_client_in_a_window() {
        let f = Failures::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(f.failed("acme", Some("a"), t0), Duration::ZERO);
        }
        assert_eq!(f.failed("acme", Some("a"), t0), FIRST_DELAY);
        // Another client, another tenant, unknown ids: their own counters.
        assert_eq!(f.failed("acme", Some("b"), t0), Duration::ZERO);
        assert_eq!(f.failed("globex", Some("a"), t0), Duration::ZERO);
        for _ in 0..3 {
            f.failed("acme", None, t0);
        }
        assert_eq!(f.failed("acme", None, t0), FIRST_DELAY);
        // A new window starts afresh.
        assert_eq!(f.failed("acme", Some("a"), t0 + WINDOW), Duration::ZERO);
    }

    #[test]
    fn the_map_is_capped() {
        let f = Failures::default();
        let t0 = Instant::now();
        for i in 0..MAX_COUNTERS + 100 {
            f.failed(&format!("t{i}"), None, t0);
        }
        let n = f.counters.lock().unwrap().len();
        assert!(n <= MAX_COUNTERS + 1, "{n}");
    }
}
