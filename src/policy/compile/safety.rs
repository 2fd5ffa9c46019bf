//! The provisioning-safety keys: `[upstream.retry]`, `[limits] mode / max_delay_ms /
//! max_queued` and `[guard]`. E050 for a number out of range (as every `[limits]` key), E052
//! for an unknown `limits.mode`, E053 for an unknown `guard.mode`.

use super::Cx;
use crate::policy::file::{GuardFile, LimitsFile, RetryFile};
use crate::policy::model::{GuardMode, GuardSettings, LimitMode, Limits, Retry};
use std::ops::RangeInclusive;
use std::time::Duration;
use toml::Spanned;

impl Cx<'_> {
    /// An integer key of `section` within `range` (`unit` names it in the hint); `None` when
    /// absent or out of range (then an E050 is pushed).
    fn ranged(
        &mut self,
        v: &Option<Spanned<i64>>,
        key: &str,
        range: RangeInclusive<i64>,
        unit: &str,
    ) -> Option<u64> {
        let v = v.as_ref()?;
        let n = *v.get_ref();
        if range.contains(&n) {
            return u64::try_from(n).ok();
        }
        self.err(
            v,
            "E050",
            format!("{key} = {n} is out of range"),
            Some(&format!(
                "{unit}, from {} to {}",
                range.start(),
                range.end()
            )),
        );
        None
    }

    /// `[upstream.retry]`, or the defaults when it is absent.
    pub(super) fn retry(&mut self, r: Option<&Spanned<RetryFile>>) -> Retry {
        let mut retry = Retry::default();
        let Some(r) = r.map(Spanned::get_ref) else {
            return retry;
        };
        if let Some(n) = self.ranged(&r.attempts, "upstream.retry.attempts", 0..=10, "attempts") {
            retry.attempts = u32::try_from(n).unwrap_or(retry.attempts);
        }
        if let Some(n) = self.ranged(
            &r.base_ms,
            "upstream.retry.base_ms",
            1..=60_000,
            "milliseconds",
        ) {
            retry.base = Duration::from_millis(n);
        }
        if let Some(n) = self.ranged(
            &r.max_wait_ms,
            "upstream.retry.max_wait_ms",
            1..=600_000,
            "milliseconds",
        ) {
            retry.max_wait = Duration::from_millis(n);
        }
        retry
    }

    /// `[limits] mode`, `max_delay_ms`, `max_queued` into `limits`.
    pub(super) fn shaping(&mut self, l: &LimitsFile, limits: &mut Limits) {
        if let Some(m) = &l.mode {
            match m.get_ref().as_str() {
                "reject" => limits.mode = LimitMode::Reject,
                "delay" => limits.mode = LimitMode::Delay,
                other => self.err(
                    m,
                    "E052",
                    format!("unknown limits.mode {other:?}"),
                    Some("expected \"reject\" or \"delay\""),
                ),
            }
        }
        if let Some(n) = self.ranged(
            &l.max_delay_ms,
            "limits.max_delay_ms",
            1..=60_000,
            "milliseconds",
        ) {
            limits.max_delay = Duration::from_millis(n);
        }
        if let Some(n) = self.ranged(&l.max_queued, "limits.max_queued", 1..=100_000, "requests") {
            limits.max_queued = usize::try_from(n).unwrap_or(limits.max_queued);
        }
    }

    /// `[guard]`, or off when it is absent.
    pub(super) fn guard(&mut self, g: Option<&Spanned<GuardFile>>) -> GuardSettings {
        let mut guard = GuardSettings::default();
        let Some(g) = g.map(Spanned::get_ref) else {
            return guard;
        };
        if let Some(n) = self.ranged(
            &g.max_deletes,
            "guard.max_deletes",
            0..=1_000_000,
            "deletions and deactivations per window (0 = off)",
        ) {
            guard.max_deletes = u32::try_from(n).unwrap_or(0);
        }
        let max_window = i64::try_from(crate::policy::model::MAX_GUARD_WINDOW_S).unwrap_or(0);
        if let Some(n) = self.ranged(&g.window_s, "guard.window_s", 1..=max_window, "seconds") {
            guard.window = Duration::from_secs(n);
        }
        if let Some(m) = &g.mode {
            match m.get_ref().as_str() {
                "enforce" => guard.mode = GuardMode::Enforce,
                "observe" => guard.mode = GuardMode::Observe,
                other => self.err(
                    m,
                    "E053",
                    format!("unknown guard.mode {other:?}"),
                    Some("expected \"enforce\" or \"observe\""),
                ),
            }
        }
        guard
    }
}
