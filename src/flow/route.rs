//! Step 1: pick the tenant (longest route prefix) and make the rest of the path safe to append
//! to the tenant's upstream base path: no `.`/`..` segment, raw or percent-encoded, ever leaves it.

use crate::policy::{Policies, Tenant};
use crate::scim::error::ScimError;
use std::sync::Arc;

/// The tenant and the upstream-relative path (`""` or `/Users/123`) of a request.
#[derive(Debug)]
pub struct Routed {
    pub tenant: Arc<Tenant>,
    pub rest: String,
}

/// Match `path` (the request path without query) to a tenant and sanitise the rest.
pub fn route(policies: &Policies, path: &str) -> Result<Routed, ScimError> {
    let (tenant, rest) = policies
        .route(path)
        .ok_or_else(|| ScimError::not_found("no SCIM tenant is served at this path"))?;
    let rest = sanitize(rest)?;
    Ok(Routed {
        tenant: Arc::clone(tenant),
        rest,
    })
}

/// Longest accepted path after the route, bytes.
const MAX_REST_LEN: usize = 2048;

/// Collapse empty segments and refuse any segment that could climb out of the base path or
/// mean something else to the upstream once decoded: `.`/`..` (in any percent-encoding), an
/// encoded `/` or `\`, a raw `\`, NUL or control characters.
pub fn sanitize(rest: &str) -> Result<String, ScimError> {
    if rest.len() > MAX_REST_LEN {
        return Err(ScimError::not_found("request path is too long"));
    }
    let mut out = String::with_capacity(rest.len());
    for seg in rest.split('/').filter(|s| !s.is_empty()) {
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(seg).collect();
        let bad = decoded == b"."
            || decoded == b".."
            || decoded
                .iter()
                .any(|&b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f);
        if bad {
            return Err(ScimError::bad_request(
                None,
                "request path has a forbidden segment",
            ));
        }
        out.push('/');
        out.push_str(seg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_normal_paths_and_collapses_slashes() {
        assert_eq!(sanitize("").unwrap(), "");
        assert_eq!(sanitize("/").unwrap(), "");
        assert_eq!(sanitize("/Users/2819c223").unwrap(), "/Users/2819c223");
        assert_eq!(sanitize("//Users///x/").unwrap(), "/Users/x");
        assert_eq!(
            sanitize("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").unwrap(),
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"
        );
        assert_eq!(sanitize("/Users/a%20b").unwrap(), "/Users/a%20b");
        assert_eq!(sanitize("/Users/...").unwrap(), "/Users/...");
    }

    #[test]
    fn refuses_traversal_in_every_spelling() {
        for p in [
            "/..",
            "/../x",
            "/Users/../../admin",
            "/.",
            "/%2e%2e/x",
            "/%2E%2E",
            "/.%2e/x",
            "/%2e./x",
            "/%2e",
            "/Users/%2fetc",
            "/Users/%2F..",
            "/Users/%5c..",
            "/a\\..",
            "/x%00",
            "/x%0a",
        ] {
            let e = sanitize(p).unwrap_err();
            assert_eq!(e.status, 400, "{p}");
        }
    }

    #[test]
    fn refuses_overlong_paths() {
        assert_eq!(sanitize(&"/a".repeat(2000)).unwrap_err().status, 404);
    }
}
