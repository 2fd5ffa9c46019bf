//! Step 3: the request body: media type, size (done while reading, in `proxy`), and that it is
//! one JSON object of bounded nesting. Checked before anything goes upstream.

use crate::scim::error::ScimError;
use crate::scim::resource::Resource;
use http::Method;

/// Deepest accepted nesting of JSON arrays and objects in a request body.
pub const MAX_JSON_DEPTH: usize = 64;

/// The methods SCIM uses (RFC 7644 §3); anything else (TRACE, CONNECT, WebDAV verbs, …) is
/// answered 405 here rather than forwarded.
pub fn check_method(method: &Method) -> Result<(), ScimError> {
    const ALLOWED: [Method; 6] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    if ALLOWED.contains(method) {
        return Ok(());
    }
    let mut e = ScimError::new(405, None, format!("method {method} is not a SCIM method"));
    e.headers
        .push(("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE".to_string()));
    Err(e)
}

/// What the gateway does with a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyUse {
    /// POST/PUT/PATCH on a resource endpoint: must be a JSON object; forwarded.
    Json,
    /// POST/PUT/PATCH on a read-only discovery endpoint: forwarded unchecked, so the target
    /// answers with its own 405.
    Opaque,
    /// GET, DELETE and the rest: read (and bounded) but not forwarded.
    Dropped,
}

pub fn body_use(method: &Method, resource: Resource) -> BodyUse {
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        return BodyUse::Dropped;
    }
    match resource {
        Resource::Schemas | Resource::ResourceTypes | Resource::ServiceProviderConfig => {
            BodyUse::Opaque
        }
        _ => BodyUse::Json,
    }
}

/// `application/scim+json` or `application/json` (any parameters); absent is taken as SCIM JSON.
pub fn check_media_type(content_type: Option<&[u8]>) -> Result<(), ScimError> {
    let Some(ct) = content_type else {
        return Ok(());
    };
    let essence = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
    if essence.eq_ignore_ascii_case(b"application/scim+json")
        || essence.eq_ignore_ascii_case(b"application/json")
    {
        Ok(())
    } else {
        Err(ScimError::unsupported_media_type(
            "request bodies must be application/scim+json or application/json",
        ))
    }
}

/// The body is one JSON object, nested at most [`MAX_JSON_DEPTH`] deep.
pub fn check_json(body: &[u8]) -> Result<(), ScimError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => {
            return Err(ScimError::invalid_syntax(
                "the request body is empty; a JSON object is expected",
            ))
        }
        Some(b'{') => {}
        Some(_) => {
            return Err(ScimError::invalid_syntax(
                "the request body is not a JSON object",
            ))
        }
    }
    if nesting_depth(body) > MAX_JSON_DEPTH {
        return Err(ScimError::invalid_syntax(format!(
            "the request body nests deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map(|_| ())
        .map_err(|e| {
            ScimError::invalid_syntax(format!(
                "the request body is not valid JSON: {} at line {} column {}",
                category(&e),
                e.line(),
                e.column()
            ))
        })
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "invalid data",
        serde_json::error::Category::Io => "read error",
    }
}

/// Deepest nesting of `[`/`{` outside strings, stopping early past the limit.
fn nesting_depth(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in body {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
                if max > MAX_JSON_DEPTH {
                    return max;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_use_by_method_and_endpoint() {
        assert_eq!(body_use(&Method::POST, Resource::Users), BodyUse::Json);
        assert_eq!(body_use(&Method::PATCH, Resource::Groups), BodyUse::Json);
        assert_eq!(body_use(&Method::POST, Resource::Search), BodyUse::Json);
        assert_eq!(body_use(&Method::PUT, Resource::Schemas), BodyUse::Opaque);
        assert_eq!(body_use(&Method::GET, Resource::Users), BodyUse::Dropped);
        assert_eq!(body_use(&Method::DELETE, Resource::Users), BodyUse::Dropped);
    }

    #[test]
    fn media_types() {
        assert!(check_media_type(None).is_ok());
        assert!(check_media_type(Some(b"application/scim+json")).is_ok());
        assert!(check_media_type(Some(b"application/scim+json; charset=utf-8")).is_ok());
        assert!(check_media_type(Some(b"Application/JSON")).is_ok());
        for ct in [
            &b"text/plain"[..],
            b"application/xml",
            b"",
            b"multipart/form-data; boundary=x",
        ] {
            assert_eq!(check_media_type(Some(ct)).unwrap_err().status, 415);
        }
    }

    #[test]
    fn json_objects_only() {
        assert!(check_json(br#" {"userName":"a","x":[1,{"y":"}]"}]} "#).is_ok());
        for body in [
            &b""[..],
            b"  ",
            b"[]",
            b"\"x\"",
            b"{",
            b"{\"a\":}",
            b"not json",
            b"{} {}",
        ] {
            let e = check_json(body).unwrap_err();
            assert_eq!(e.status, 400, "{body:?}");
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidSyntax)
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{{\"a\":{}1{}}}", "[".repeat(63), "]".repeat(63));
        assert!(check_json(ok.as_bytes()).is_ok());
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(64), "]".repeat(64));
        assert!(check_json(deep.as_bytes())
            .unwrap_err()
            .detail
            .contains("nests deeper"));
        let hostile = "{\"a\":".to_string() + &"[".repeat(1_000_000);
        assert_eq!(check_json(hostile.as_bytes()).unwrap_err().status, 400);
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let s = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(100), "{".repeat(100));
        assert!(check_json(s.as_bytes()).is_ok());
    }
}
