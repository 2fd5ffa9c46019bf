//! Step 4: the request the target receives: method, the tenant's base path plus the sanitised
//! rest and the raw query, an allowlist of headers, the target's own secret, a Content-Length.

use crate::policy::model::Profile;
use crate::policy::Tenant;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

/// Headers from the IdP that reach the target; everything else (the IdP's `Authorization`,
/// cookies, `Accept-Encoding`, hop-by-hop headers) stays at the gateway.
const FORWARDED: [&str; 5] = [
    "accept",
    "content-type",
    "if-match",
    "if-none-match",
    "accept-language",
];

const USER_AGENT: &str = concat!("scimgate/", env!("CARGO_PKG_VERSION"));

/// What goes to the target, independent of the HTTP client that sends it.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: Method,
    pub path_and_query: String,
    pub headers: Vec<(&'static str, HeaderValue)>,
    pub body: Option<Bytes>,
    /// When the whole IdP request must be answered by (a split Bulk's chunks share one); the
    /// exchange ends at the earlier of this and the tenant's `timeout_ms`.
    pub deadline: Option<std::time::Instant>,
}

/// Build the upstream request; `body` is `Some` for methods that carry one.
pub fn build(
    tenant: &Tenant,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    incoming: &HeaderMap,
    body: Option<Bytes>,
) -> UpstreamRequest {
    let up = &tenant.upstream;
    let mut path_and_query =
        String::with_capacity(up.base_path.len() + rest.len() + 1 + query.map_or(0, str::len));
    path_and_query.push_str(&up.base_path);
    path_and_query.push_str(rest);
    if path_and_query.is_empty() {
        path_and_query.push('/');
    }
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let mut headers = Vec::with_capacity(8);
    if let Some(h) = &up.host_header {
        headers.push(("host", h.clone()));
    }
    let zoom = up.profile == Profile::Zoom;
    for name in FORWARDED {
        if zoom && name == "accept" {
            continue;
        }
        for v in incoming.get_all(name) {
            headers.push((name, v.clone()));
        }
    }
    if zoom {
        // Zoom's SCIM API wants this Accept on every call.
        headers.push(("accept", HeaderValue::from_static("application/scim+json")));
    }
    if let Some(auth) = &up.authorization {
        if let Ok(mut v) = HeaderValue::from_str(auth.expose()) {
            v.set_sensitive(true);
            headers.push(("authorization", v));
        }
    }
    headers.push(("user-agent", HeaderValue::from_static(USER_AGENT)));
    if let Some(b) = &body {
        if !incoming.contains_key("content-type") {
            headers.push((
                "content-type",
                HeaderValue::from_static("application/scim+json"),
            ));
        }
        headers.push(("content-length", HeaderValue::from(b.len())));
    }
    UpstreamRequest {
        method: method.clone(),
        path_and_query,
        headers,
        body,
        deadline: None,
    }
}
