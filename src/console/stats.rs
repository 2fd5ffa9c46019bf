//! Live figures per tenant for the tenants page, from the request counter every request already
//! increments (`scimgate_requests_total`): sampled once a second by the ring's thread, so the
//! request path does nothing more for them. Requests per second over the last 10 s; 4xx, 5xx
//! and 429 answers over the last minute.

use crate::telemetry::metrics;
use prometheus::core::Collector;
use std::collections::{HashMap, VecDeque};

/// Samples kept per tenant: one a second, a minute and one.
const SAMPLES: usize = 61;
/// The window of the request rate, seconds.
const RATE_WINDOW: usize = 10;

/// Cumulative answers of one tenant at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    all: u64,
    c4xx: u64,
    c5xx: u64,
    c429: u64,
}

/// What the tenants page shows of a tenant's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct TenantRates {
    /// Requests per second over the last 10 s.
    pub requests_per_second: f64,
    /// Answers in the last minute, by class (429 counted in 4xx too).
    pub last_minute_4xx: u64,
    pub last_minute_5xx: u64,
    pub last_minute_429: u64,
    /// Requests since the gateway started.
    pub total: u64,
}

/// One sample history per tenant label seen.
#[derive(Debug, Default)]
pub struct Rates {
    tenants: HashMap<String, VecDeque<Totals>>,
}

impl Rates {
    /// Read the counter once and append a sample per tenant.
    pub fn sample(&mut self) {
        let mut now: HashMap<String, Totals> = HashMap::new();
        for family in metrics::REQUESTS.collect() {
            for m in family.get_metric() {
                let (mut tenant, mut status) = (None, None);
                for l in m.get_label() {
                    match l.name() {
                        "tenant" => tenant = Some(l.value()),
                        "status" => status = Some(l.value()),
                        _ => {}
                    }
                }
                let (Some(tenant), Some(status)) = (tenant, status) else {
                    continue;
                };
                // Counters are integers kept as f64.
                let n = m.get_counter().value() as u64;
                let t = now.entry(tenant.to_string()).or_default();
                t.all += n;
                match status.as_bytes().first() {
                    Some(b'4') => t.c4xx += n,
                    Some(b'5') => t.c5xx += n,
                    _ => {}
                }
                if status == "429" {
                    t.c429 += n;
                }
            }
        }
        self.push(now);
    }

    fn push(&mut self, now: HashMap<String, Totals>) {
        for (tenant, totals) in now {
            let history = self.tenants.entry(tenant).or_default();
            history.push_back(totals);
            while history.len() > SAMPLES {
                history.pop_front();
            }
        }
    }

    pub fn of(&self, tenant: &str) -> TenantRates {
        let Some(history) = self.tenants.get(tenant) else {
            return TenantRates::default();
        };
        let Some(last) = history.back() else {
            return TenantRates::default();
        };
        let back = |n: usize| history.get(history.len().saturating_sub(n + 1));
        let rate_from = back(RATE_WINDOW).copied().unwrap_or(*last);
        let seconds = (history.len() - 1).min(RATE_WINDOW);
        let minute = history.front().copied().unwrap_or(*last);
        TenantRates {
            requests_per_second: if seconds == 0 {
                0.0
            } else {
                last.all.saturating_sub(rate_from.all) as f64 / seconds as f64
            },
            last_minute_4xx: last.c4xx.saturating_sub(minute.c4xx),
            last_minute_5xx: last.c5xx.saturating_sub(minute.c5xx),
            last_minute_429: last.c429.saturating_sub(minute.c429),
            total: last.all,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(all: u64, c4xx: u64, c5xx: u64, c429: u64) -> Totals {
        Totals {
            all,
            c4xx,
            c5xx,
            c429,
        }
    }

    #[test]
    fn rates_over_the_windows() {
        let mut r = Rates::default();
        assert_eq!(r.of("t"), TenantRates::default());
        for s in 0..=70u64 {
            r.push(HashMap::from([(
                "t".to_string(),
                totals(s * 5, s, s / 10, s / 2),
            )]));
        }
        let t = r.of("t");
        assert!((t.requests_per_second - 5.0).abs() < 1e-9, "{t:?}");
        assert_eq!(t.last_minute_4xx, 60);
        assert_eq!(t.last_minute_5xx, 6);
        assert_eq!(t.last_minute_429, 30);
        assert_eq!(t.total, 350);
    }

    #[test]
    fn a_single_sample_has_no_rate_yet() {
        let mut r = Rates::default();
        r.push(HashMap::from([("t".to_string(), totals(9, 0, 0, 0))]));
        assert_eq!(r.of("t").requests_per_second, 0.0);
        assert_eq!(r.of("t").total, 9);
    }
}
