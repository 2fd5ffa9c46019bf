//! RFC 7643/7644 knowledge only: error bodies, resource kinds, attribute paths and filters.
//! Nothing here knows about tenants, policies or Pingora.

pub mod bulk_split;
pub mod error;
pub mod expr;
pub mod json;
pub mod keys;
pub mod message;
pub mod resource;
pub mod value;
