//! SCIM error responses (RFC 7644 §3.12) that the gateway answers itself.
//! Every answer the gateway makes on its own goes through [`ScimError`], so the shape is one.

use serde::Serialize;

/// The SCIM error schema URN.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// `scimType` values defined by RFC 7644 §3.12 that the gateway uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    InvalidSyntax,
    InvalidFilter,
    InvalidPath,
    InvalidValue,
    NoTarget,
    TooMany,
}

/// An error the gateway answers itself, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Serialize)]
struct Body<'a> {
    schemas: [&'static str; 1],
    status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    scim_type: Option<ScimType>,
    detail: &'a str,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(401, None, detail);
        e.headers.push(("WWW-Authenticate", "Bearer".to_string()));
        e
    }

    pub fn bad_request(scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self::new(400, scim_type, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidSyntax), detail)
    }

    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(413, None, detail)
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(415, None, detail)
    }

    /// 429 with `Retry-After` in whole seconds.
    pub fn too_many_requests(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        let mut e = Self::new(429, None, detail);
        e.headers
            .push(("Retry-After", retry_after_secs.to_string()));
        e
    }

    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(502, None, detail)
    }

    pub fn gateway_timeout(detail: impl Into<String>) -> Self {
        Self::new(504, None, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, None, detail)
    }

    /// The JSON body, `Content-Type: application/scim+json`.
    pub fn body(&self) -> Vec<u8> {
        let body = Body {
            schemas: [ERROR_SCHEMA],
            status: self.status.to_string(),
            scim_type: self.scim_type,
            detail: &self.detail,
        };
        // Serialising a struct of strings cannot fail; fall back to a fixed body all the same.
        serde_json::to_vec(&body).unwrap_or_else(|_| {
            format!(
                r#"{{"schemas":["{ERROR_SCHEMA}"],"status":"{}"}}"#,
                self.status
            )
            .into_bytes()
        })
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl std::error::Error for ScimError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_contract_shape() {
        let e = ScimError::payload_too_large("bulk request has 101 operations; the limit is 100");
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "schemas": [ERROR_SCHEMA],
                "status": "413",
                "detail": "bulk request has 101 operations; the limit is 100"
            })
        );
    }

    #[test]
    fn scim_type_is_camel_case_and_401_asks_for_bearer() {
        let v: serde_json::Value =
            serde_json::from_slice(&ScimError::invalid_syntax("x").body()).unwrap();
        assert_eq!(v["scimType"], "invalidSyntax");
        let e = ScimError::unauthorized("no token");
        assert_eq!(e.headers, vec![("WWW-Authenticate", "Bearer".to_string())]);
    }

    #[test]
    fn detail_is_escaped() {
        let e = ScimError::not_found("a \"quoted\"\n detail");
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["detail"], "a \"quoted\"\n detail");
    }
}
