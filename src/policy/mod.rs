//! Tenant policies: the TOML files platform teams write ([`file`]), the checked model the
//! gateway runs on ([`model`]), and the only bridge between them ([`compile`]).
//!
//! Loading a directory ([`load`]) collects every error of every file, each as a
//! [`diagnostics::Diagnostic`] with file:line:col, before anything is served. A reload
//! ([`watch`]) takes each file on its own ([`reconcile`]): a broken file keeps its own
//! tenant's last good version serving, every other change applies.

pub mod compile;
pub mod diagnostics;
pub mod file;
pub mod load;
pub mod model;
pub mod reconcile;
pub mod schema;
pub mod secrets;
pub mod store;
pub mod watch;

pub use diagnostics::Diagnostic;
pub use model::{Policies, Tenant};
