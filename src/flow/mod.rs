//! One request's life, one step per file, as plain functions over plain types (no sockets):
//! route -> auth -> body -> upstream request -> (exchange, in `proxy`) -> response.
//! `crate::proxy` calls these in order; each is unit-tested on its own.

pub mod auth;
pub mod body;
pub mod police;
pub mod request;
pub mod response;
pub mod route;
