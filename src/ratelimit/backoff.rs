//! Upstream back-pressure: per-tenant holds set when a target answers 429/423 (or 503) with
//! Retry-After. While a tenant is held the gateway answers for the target instead of
//! forwarding. With a shared store a hold is also told to every replica ([`ShareHolds`]); it
//! always holds here.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where a hold set here is told to the other replicas (the shared store). It must not block:
/// it is called on the request path, after the target's answer.
pub trait ShareHolds: Send + Sync {
    /// Tell every replica that `tenant` is held for `hold` from now (best effort).
    fn share(&self, tenant: &str, hold: Duration);
}

/// The longest hold [`Backoff::hold`] sets; longer requests are cut to this.
pub const MAX_HOLD: Duration = Duration::from_secs(60 * 60);

/// Upstream back-pressure: after a target answers 429/423 (or 503) with Retry-After, hold the
/// tenant.
///
/// Holds only lengthen: a shorter hold never cuts an existing longer one. Expired holds are
/// dropped when read and swept whenever a new hold is set.
#[derive(Default)]
pub struct Backoff {
    until: Mutex<HashMap<String, Instant>>,
    share: Option<Arc<dyn ShareHolds>>,
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("held", &self.len())
            .field("shared", &self.share.is_some())
            .finish()
    }
}

impl Backoff {
    /// No tenant held; holds stay in this process.
    pub fn new() -> Self {
        Self::default()
    }

    /// No tenant held; every hold set with [`Backoff::hold`] is also told to `share`.
    pub fn sharing(share: Arc<dyn ShareHolds>) -> Self {
        Backoff {
            until: Mutex::default(),
            share: Some(share),
        }
    }

    /// Hold `tenant` for `d` (capped at [`MAX_HOLD`]), here and, when shared, on every
    /// replica; a zero `d` does nothing.
    pub fn hold(&self, tenant: &str, d: Duration) {
        if d.is_zero() {
            return;
        }
        self.hold_at(tenant, d, Instant::now());
        if let Some(share) = &self.share {
            share.share(tenant, d.min(MAX_HOLD));
        }
    }

    /// Hold `tenant` for `d` here only: a hold another replica told us about.
    pub fn hold_here(&self, tenant: &str, d: Duration) {
        self.hold_at(tenant, d, Instant::now());
    }

    /// How much longer `tenant` is held, or `None` if it is not.
    pub fn held(&self, tenant: &str) -> Option<Duration> {
        self.held_at(tenant, Instant::now())
    }

    /// Forget holds of tenants not in `live` (after a policy reload).
    pub fn retain(&self, live: &dyn Fn(&str) -> bool) {
        self.lock().retain(|tenant, _| live(tenant));
    }

    /// How many tenants have a hold recorded (expired ones may still count until swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no hold is recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.until.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hold_at(&self, tenant: &str, d: Duration, now: Instant) {
        if d.is_zero() {
            return;
        }
        let Some(until) = now.checked_add(d.min(MAX_HOLD)) else {
            return;
        };
        let mut map = self.lock();
        map.retain(|_, u| *u > now);
        match map.get_mut(tenant) {
            Some(existing) => *existing = (*existing).max(until),
            None => {
                map.insert(tenant.to_owned(), until);
            }
        }
    }

    fn held_at(&self, tenant: &str, now: Instant) -> Option<Duration> {
        let mut map = self.lock();
        let until = *map.get(tenant)?;
        match until.checked_duration_since(now) {
            Some(left) if !left.is_zero() => Some(left),
            _ => {
                map.remove(tenant);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn hold_then_release() {
        let b = Backoff::new();
        let t0 = Instant::now();
        b.hold_at("t", 10 * S, t0);
        assert_eq!(b.held_at("t", t0), Some(10 * S));
        assert_eq!(b.held_at("t", t0 + 4 * S), Some(6 * S));
        assert_eq!(b.held_at("other", t0), None);
        assert_eq!(b.held_at("t", t0 + 10 * S), None);
        assert!(b.is_empty(), "expired hold is dropped when read");
    }

    #[test]
    fn holds_only_lengthen() {
        let b = Backoff::new();
        let t0 = Instant::now();
        b.hold_at("t", 30 * S, t0);
        b.hold_at("t", 5 * S, t0);
        assert_eq!(b.held_at("t", t0), Some(30 * S));
        b.hold_at("t", 60 * S, t0);
        assert_eq!(b.held_at("t", t0), Some(60 * S));
    }

    #[test]
    fn zero_hold_is_ignored_and_long_hold_capped() {
        let b = Backoff::new();
        let t0 = Instant::now();
        b.hold_at("t", Duration::ZERO, t0);
        assert!(b.is_empty());
        b.hold_at("t", Duration::MAX, t0);
        assert_eq!(b.held_at("t", t0), Some(MAX_HOLD));
    }

    #[test]
    fn expired_holds_are_swept_on_hold() {
        let b = Backoff::new();
        let t0 = Instant::now();
        b.hold_at("a", S, t0);
        b.hold_at("b", S, t0);
        assert_eq!(b.len(), 2);
        b.hold_at("c", S, t0 + 2 * S);
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn a_shared_hold_is_told_once_and_a_told_hold_is_not_told_again() {
        #[derive(Default)]
        struct Told(Mutex<Vec<(String, Duration)>>);
        impl ShareHolds for Told {
            fn share(&self, tenant: &str, hold: Duration) {
                self.0.lock().unwrap().push((tenant.to_owned(), hold));
            }
        }
        let told = Arc::new(Told::default());
        let b = Backoff::sharing(told.clone());
        b.hold("t", 5 * S);
        b.hold("t", Duration::ZERO);
        b.hold("u", Duration::MAX);
        b.hold_here("v", 7 * S);
        assert!(b.held("t").is_some() && b.held("v").is_some());
        assert_eq!(
            *told.0.lock().unwrap(),
            vec![("t".to_owned(), 5 * S), ("u".to_owned(), MAX_HOLD)]
        );
        assert!(format!("{b:?}").contains("shared: true"));
    }

    #[test]
    fn retain_forgets_dead_tenants() {
        let b = Backoff::new();
        b.hold("a", 60 * S);
        b.hold("b", 60 * S);
        b.retain(&|t| t == "a");
        assert!(b.held("a").is_some_and(|d| d <= 60 * S && d > 59 * S));
        assert_eq!(b.held("b"), None);
        assert_eq!(b.len(), 1);
    }
}
