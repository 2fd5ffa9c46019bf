//! Step 1: pick the tenant (longest route prefix) and make the one canonical form of the rest of
//! the path and of the query, before anything reads them. Resource kind, rule selection and the
//! upstream URL see only that form; a spelling that could mean something else to the target
//! (`;` parameters, double encoding, dot segments in any encoding, encoded separators, invalid
//! UTF-8, controls, a control parameter given twice) is refused here.

use crate::mapping::query::decode_param;
use crate::policy::{Policies, Tenant};
use crate::scim::error::ScimError;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::borrow::Cow;
use std::sync::Arc;

/// The tenant and the canonical upstream-relative path (`""` or `/Users/123`) of a request.
#[derive(Debug)]
pub struct Routed<'p> {
    /// Borrowed from the request's policy snapshot (see `observe::Seen`).
    pub tenant: &'p Arc<Tenant>,
    pub rest: String,
}

/// Match `path` (the request path without query) to a tenant and canonicalise the rest.
pub fn route<'p>(policies: &'p Policies, path: &str) -> Result<Routed<'p>, ScimError> {
    let (tenant, rest) = policies
        .route(path)
        .ok_or_else(|| ScimError::not_found("no SCIM tenant is served at this path"))?;
    let rest = canonical_rest(rest)?;
    Ok(Routed { tenant, rest })
}

/// Longest accepted path after the route, bytes.
const MAX_REST_LEN: usize = 2048;

/// What stays literal in a canonical path segment: RFC 3986 unreserved characters, the
/// sub-delimiters but `;`, and `:` `@` (ids such as e-mail addresses and schema URNs). Anything
/// else is written as `%XX`, upper-case.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// Characters some stacks fold to `.` (full-width and small full stops, leaders).
const DOT_LOOKALIKES: [char; 4] = ['\u{FF0E}', '\u{FE52}', '\u{2024}', '\u{2025}'];

fn refused(what: &str) -> ScimError {
    ScimError::bad_request(None, format!("request path refused: {what}"))
}

/// The canonical form of the path after the route: every segment percent-decoded once and
/// re-encoded one way, so `/%55sers` is `/Users`. Refused (400): `;` parameters, `%25` (double
/// encoding), an encoded `/` `\` or `;`, a raw `\`, an invalid escape, empty segments, `.`/`..`
/// and every spelling a target may fold into them (`..;`, trailing dots or spaces, look-alike
/// dots), bytes that are not UTF-8 (overlong forms included), control characters. `""` and `"/"`
/// are the root, `""`.
pub fn canonical_rest(rest: &str) -> Result<String, ScimError> {
    if rest.len() > MAX_REST_LEN {
        return Err(ScimError::not_found("request path is too long"));
    }
    if rest.is_empty() || rest == "/" {
        return Ok(String::new());
    }
    let Some(path) = rest.strip_prefix('/') else {
        return Err(refused("it does not start with '/'"));
    };
    let mut out = String::with_capacity(rest.len());
    for seg in path.split('/') {
        let decoded = decode_segment(seg)?;
        out.push('/');
        out.extend(utf8_percent_encode(&decoded, SEGMENT));
    }
    // Re-encoding can lengthen a path (`"` is `%22`): the bound holds for what goes upstream.
    if out.len() > MAX_REST_LEN {
        return Err(ScimError::not_found("request path is too long"));
    }
    Ok(out)
}

/// One segment, decoded and checked.
fn decode_segment(seg: &str) -> Result<Cow<'_, str>, ScimError> {
    if seg.is_empty() {
        return Err(refused("empty segment"));
    }
    if seg.contains(['\\', ';']) {
        return Err(refused("a ';' parameter or '\\' in a segment"));
    }
    let raw = seg.as_bytes();
    for (i, &b) in raw.iter().enumerate() {
        if b != b'%' {
            continue;
        }
        let hex = raw.get(i + 1..i + 3).unwrap_or_default();
        if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(refused("an invalid percent escape"));
        }
        if hex.eq_ignore_ascii_case(b"25") {
            return Err(refused("an encoded '%' (double encoding)"));
        }
    }
    // Borrowed when nothing was escaped (the common case: no copy).
    let text = percent_decode_str(seg)
        .decode_utf8()
        .map_err(|_| refused("bytes that are not UTF-8 (overlong forms)"))?;
    if text.contains(['/', '\\', ';']) {
        return Err(refused("an encoded '/', '\\' or ';'"));
    }
    if text.chars().any(char::is_control) {
        return Err(refused("a control character"));
    }
    let dots_only = text
        .chars()
        .all(|c| c == '.' || c == ' ' || DOT_LOOKALIKES.contains(&c));
    if dots_only {
        return Err(refused("a '.' or '..' segment"));
    }
    Ok(text)
}

/// Query parameters that steer what the target does; each may be given once.
const CONTROL_PARAMS: [&str; 8] = [
    "filter",
    "count",
    "startindex",
    "attributes",
    "excludedattributes",
    "sortby",
    "sortorder",
    "cursor",
];

/// Check the query once: every parameter name and value decodes (percent-escapes, `+` as space)
/// to UTF-8 without control characters, and no control parameter (names decoded, any case) is
/// given twice. The query goes upstream as sent; every step that reads a parameter reads it
/// decoded ([`decode_param`]), by its lower-cased name ([`crate::mapping::query::map_params`]).
pub fn check_query(query: Option<&str>) -> Result<(), ScimError> {
    let Some(query) = query else { return Ok(()) };
    let mut seen: [bool; CONTROL_PARAMS.len()] = [false; CONTROL_PARAMS.len()];
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_param(name)?;
        decode_param(value)?;
        // The names are lowercase: equal to the name lowercased.
        if let Some(i) = CONTROL_PARAMS
            .iter()
            .position(|p| p.eq_ignore_ascii_case(&name))
        {
            if let Some(s) = seen.get_mut(i) {
                if *s {
                    let name = name.to_ascii_lowercase();
                    return Err(ScimError::bad_request(
                        None,
                        format!("query parameter {name:?} is given more than once"),
                    ));
                }
                *s = true;
            }
        }
    }
    Ok(())
}

/// Headers the target receives from the IdP, each of which must come at most once: a second
/// `Content-Type` the gateway did not judge could make the target read the body another way.
pub const SINGLE_HEADERS: [&str; 5] = [
    "accept",
    "content-type",
    "if-match",
    "if-none-match",
    "accept-language",
];

/// Every header in [`SINGLE_HEADERS`] at most once (400 otherwise).
pub fn check_headers(headers: &http::HeaderMap) -> Result<(), ScimError> {
    for name in SINGLE_HEADERS {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(ScimError::bad_request(
                None,
                format!("the request has more than one {name} header"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
