//! What operators see: every metric name and label set ([`metrics`]) and the log setup ([`logs`]).

pub mod logs;
pub mod metrics;
