//! Step 4: the request body: method, media type, size (while reading, by the body source), and
//! one strict parse into the message every later step works on. Checked before anything goes
//! upstream.

use crate::scim::error::ScimError;
use crate::scim::json;
use crate::scim::resource::Resource;
use bytes::Bytes;
use http::Method;
use serde_json::Value;

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

/// The body, parsed once and strictly ([`crate::scim::json`]): one JSON object, no duplicate
/// or case-duplicate keys, no number or string a target could read another way, bounded
/// nesting. 400 invalidSyntax naming what and where.
pub fn parse(body: &[u8]) -> Result<Value, ScimError> {
    if body.trim_ascii().is_empty() {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; a JSON object is expected",
        ));
    }
    json::parse_object(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

/// A JSON request body: the one parsed value every later step works on, and the IdP's bytes
/// while they still say exactly that (`raw` is dropped as soon as a step changes `value`).
#[derive(Debug, Clone)]
pub struct Message {
    pub value: Value,
    pub raw: Option<Bytes>,
}

impl Message {
    pub fn parse(raw: Bytes) -> Result<Message, ScimError> {
        Ok(Message {
            value: parse(&raw)?,
            raw: Some(raw),
        })
    }

    /// A message the gateway made itself (a Bulk chunk).
    pub fn made(value: Value) -> Message {
        Message { value, raw: None }
    }

    /// What goes upstream: the IdP's own bytes when nothing may have changed them and the
    /// tenant translates nothing, otherwise `value` serialised (compact, as serde_json writes
    /// it: [`json::to_vec`]).
    pub fn to_upstream(&self, translated: bool) -> Result<Bytes, ScimError> {
        match &self.raw {
            Some(raw) if !translated => Ok(raw.clone()),
            // A translated body is about as long as the IdP's; 1 KiB holds most single writes.
            _ => json::to_vec(
                &self.value,
                self.raw.as_ref().map_or(1024, |r| r.len() + 64),
            )
            .map(Bytes::from)
            .map_err(|e| ScimError::internal(e.to_string())),
        }
    }
}

/// A request body after the body step.
#[derive(Debug, Clone)]
pub enum Body {
    /// Nothing is forwarded (GET, DELETE, …).
    None,
    /// Forwarded unchecked (writes to read-only discovery endpoints, for the target's 405).
    Opaque(Bytes),
    Json(Message),
}

impl Body {
    /// Read the body step's way: `raw` as `use_` says.
    pub fn from_raw(raw: Bytes, use_: BodyUse) -> Result<Body, ScimError> {
        Ok(match use_ {
            BodyUse::Json => Body::Json(Message::parse(raw)?),
            BodyUse::Opaque => Body::Opaque(raw),
            BodyUse::Dropped => Body::None,
        })
    }

    pub fn json(&self) -> Option<&Value> {
        match self {
            Body::Json(m) => Some(&m.value),
            _ => None,
        }
    }
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
    fn every_refusal_is_invalid_syntax_naming_what() {
        // What is refused is scim::json's to say (its tests); here: the status, the scimType,
        // and that an empty body says so.
        assert!(parse(br#" {"userName":"a"} "#).is_ok());
        let empty = parse(b"  ").unwrap_err();
        assert!(empty.detail.contains("empty"), "{}", empty.detail);
        for body in [&b""[..], b"[]", br#"{"a":1,"A":2}"#] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.status, 400, "{body:?}");
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidSyntax)
            );
        }
        let dup = parse(br#"{"a":1,"A":2}"#).unwrap_err();
        assert!(dup
            .detail
            .starts_with("the request body is not valid JSON: keys"));
    }

    #[test]
    fn raw_bytes_go_up_only_while_untranslated() {
        let raw = Bytes::from_static(br#"{ "userName" : "a" }"#);
        let m = Message::parse(raw.clone()).unwrap();
        assert_eq!(m.to_upstream(false).unwrap(), raw);
        assert_eq!(&m.to_upstream(true).unwrap()[..], br#"{"userName":"a"}"#);
        let made = Message::made(serde_json::json!({"a": 1}));
        assert_eq!(&made.to_upstream(false).unwrap()[..], br#"{"a":1}"#);
    }
}
