//! scimgate: a SCIM 2.0 gateway between identity providers (Entra ID, Okta, …) and SCIM
//! targets (Webex, Zoom, any RFC 7643/7644 service), on Cloudflare's Pingora.
//!
//! # How a request flows
//!
//! 1. [`flow::route`]: the longest `route` prefix picks the tenant; the rest of the path is
//!    sanitised so nothing climbs out of the target's base path. Unknown route: 404.
//! 2. [`flow::auth`]: the IdP's bearer secret, hashed and compared in constant time with the
//!    tenant's digests. Missing or wrong: 401 with `WWW-Authenticate: Bearer`.
//!    [`flow::police`]: the target's back-pressure and the tenant's quota ([`ratelimit`], 429
//!    with `Retry-After`), RFC 7644 Bulk caps (413, or a split in `proxy`).
//! 3. [`flow::body`]: media type (415), size while reading (413), one JSON object of bounded
//!    depth (400 invalidSyntax).
//! 4. [`dialect`] then [`mapping`] then the target profile: the IdP's dialect normalised, the
//!    tenant's translation rules on the body, PATCH operations, Bulk data and
//!    the query (400 invalidFilter/invalidPath); a tenant without rules parses nothing. Then
//!    [`flow::request`]: base path + rest + query, an allowlist of headers, the target's own
//!    secret, a `Content-Length`.
//! 5. [`proxy::upstream`]: one exchange over Pingora's pooled client within the tenant's
//!    timeouts (502 on connect failure, 504 past the timeout).
//! 6. [`flow::response`]: status as the target sent it, the body mapped back to the IdP's
//!    names ([`mapping::translate::response`]) and target URLs rebased on the tenant's public URL.
//! 7. [`telemetry`]: one count, one duration, one log line (no ids, tokens or bodies).
//!
//! Policies ([`policy`]) are compiled once, checked with file:line:col diagnostics, and held
//! in an [`arc_swap`]-backed store so a request always sees one consistent snapshot.

pub mod dialect;
pub mod flow;
pub mod mapping;
pub mod policy;
pub mod proxy;
pub mod ratelimit;
pub mod scim;
pub mod telemetry;
pub mod tools;
