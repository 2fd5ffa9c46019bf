//! scimgate: a SCIM 2.0 gateway between identity providers (Entra ID, Okta, …) and SCIM
//! targets (Webex, Zoom, any RFC 7643/7644 service), on Cloudflare's Pingora.
//!
//! # How a request flows
//!
//! [`flow::serve`] is the whole life of a request, one phase after another, with no Pingora in
//! sight; [`proxy`] is the only module that imports Pingora and only adapts a session to it.
//!
//! 1. [`flow::route`]: the longest `route` prefix picks the tenant (404 otherwise); the rest of
//!    the path, the query and the forwarded headers get their one canonical form, and every
//!    spelling that could mean something else to the target is refused (400).
//! 2. [`flow::auth`]: the IdP's bearer secret, hashed and compared in constant time with the
//!    tenant's digests, or an access token the gateway issued ([`oauth`]; `POST
//!    {route}/oauth/token` is [`flow::token`]). Missing or wrong: 401 with
//!    `WWW-Authenticate: Bearer`.
//! 3. [`flow::police`]: the target's back-pressure and the tenant's quota ([`ratelimit`], 429
//!    with `Retry-After`), RFC 7644 Bulk caps (413, or a split in [`flow::bulk`]).
//! 4. [`flow::body`]: media type (415), size while reading (413), one strict parse
//!    ([`scim::json`], 400 invalidSyntax) into the message every later step works on.
//! 5. [`flow::translate`]: the IdP's [`dialect`], the message's shape, the tenant's [`mapping`]
//!    rules and the target's profile, on the body, PATCH operations, Bulk data and the query;
//!    then [`flow::request`]: base path + canonical rest + query, one of each allowlisted
//!    header, the target's own secret, a `Content-Length`.
//! 6. [`flow::exchange`]: one exchange through the adapter's [`flow::exchange::Exchange`]
//!    (Pingora's pooled client in [`proxy::upstream`]: 502 on connect failure, 504 past the
//!    timeout); what the target's 429 teaches is kept.
//! 7. [`flow::translate::respond`]: the answer mapped back to the IdP's names and target URLs
//!    rebased on the tenant's public URL ([`flow::response`]).
//! 8. [`flow::observe`]: one count, one duration, one log line (no tokens or bodies).
//!
//! `scimgate translate`, `scimgate test` and the golden tests run the same phases with a canned
//! exchange ([`flow::dry_run`]).
//!
//! The [`console`] on the admin listener shows every tenant and its last exchanges (both legs,
//! redacted), a playground over the dry run, and a live tail; the request path only hands it
//! one bounded record per request ([`console::Ring`]).
//!
//! Policies ([`policy`]) are compiled once, checked with file:line:col diagnostics, and held
//! in an [`arc_swap`]-backed store so a request always sees one consistent snapshot.

pub mod console;
pub mod dialect;
pub mod flow;
pub mod guard;
pub mod mapping;
pub mod oauth;
pub mod policy;
pub mod proxy;
pub mod ratelimit;
pub mod scim;
pub mod telemetry;
pub mod tools;
