//! One token request and its answer: RFC 6749 §4.4 client credentials (`client_secret_basic`
//! with the id and secret form-urlencoded first, §2.3.1, or `client_secret_post`), Zoom's
//! `account_credentials` (parameters in the query, Basic client auth), and the §5.1 answer or
//! §5.2 error read strictly. No secret or token is ever part of a message made here.

use crate::flow::exchange::{UpstreamRequest, UpstreamResponse};
use crate::policy::model::{ClientAuth, Grant, OAuth, Secret};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::time::Duration;

/// `application/x-www-form-urlencoded` (what is left alone: ALPHA DIGIT `*-._`).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// The lifetime assumed when a token answer has no `expires_in` (RFC 6749 §5.1 makes it
/// optional): short, so an unknown lifetime costs a refresh now and then, never an outage.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// The longest lifetime believed: a token is refreshed at least daily.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The longest access token accepted, bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

const USER_AGENT: &str = concat!("scimgate/", env!("CARGO_PKG_VERSION"));

fn form(s: &str) -> String {
    utf8_percent_encode(s, FORM).to_string()
}

/// The token request for `oauth`, with its client secret `secret`.
pub fn request(oauth: &OAuth, secret: &Secret) -> UpstreamRequest {
    let url = &oauth.token_url;
    let mut path_and_query = url.path.clone();
    let mut body: Vec<String> = Vec::new();
    match &oauth.grant {
        Grant::ClientCredentials => {
            body.push("grant_type=client_credentials".into());
            if let Some(scope) = &oauth.scope {
                body.push(format!("scope={}", form(scope)));
            }
            if let Some(audience) = &oauth.audience {
                body.push(format!("audience={}", form(audience)));
            }
        }
        Grant::AccountCredentials { account_id } => {
            path_and_query.push_str("?grant_type=account_credentials&account_id=");
            path_and_query.push_str(&form(account_id));
        }
    }
    let mut headers = Vec::with_capacity(6);
    if let Ok(h) = HeaderValue::from_str(&url.authority) {
        headers.push(("host", h));
    }
    headers.push(("accept", HeaderValue::from_static("application/json")));
    headers.push((
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    ));
    match oauth.auth_method {
        ClientAuth::Basic => {
            let pair = format!("{}:{}", form(&oauth.client_id), form(secret.expose()));
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            if let Ok(mut v) = HeaderValue::from_str(&format!("Basic {basic}")) {
                v.set_sensitive(true);
                headers.push(("authorization", v));
            }
        }
        ClientAuth::Post => {
            body.push(format!("client_id={}", form(&oauth.client_id)));
            body.push(format!("client_secret={}", form(secret.expose())));
        }
    }
    headers.push(("user-agent", HeaderValue::from_static(USER_AGENT)));
    let body = Bytes::from(body.join("&"));
    headers.push(("content-length", HeaderValue::from(body.len())));
    UpstreamRequest {
        method: Method::POST,
        path_and_query,
        headers,
        body: Some(body),
        deadline: None,
    }
}

/// A token the token endpoint issued.
pub struct Issued {
    /// The access token, visible ASCII.
    pub token: Secret,
    /// From `expires_in` (or [`DEFAULT_LIFETIME`]), at most [`MAX_LIFETIME`], at least 1 s.
    pub lifetime: Duration,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// Read the token endpoint's answer. `Err` says why in words safe to log and to show the IdP
/// (`secret` is scrubbed from anything the endpoint wrote).
pub fn answer(resp: &UpstreamResponse, secret: &Secret) -> Result<Issued, String> {
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    if !(200..300).contains(&resp.status) {
        // RFC 6749 §5.2: {"error": "invalid_client", "error_description": "…"}.
        let text = |key: &str| {
            json.as_ref()
                .and_then(|j| j.get(key))
                .and_then(|v| v.as_str())
                .map(|s| printable(s, secret))
                .filter(|s| !s.is_empty())
        };
        let mut out = format!("HTTP {}", resp.status);
        if let Some(e) = text("error") {
            out.push(' ');
            out.push_str(&e);
        }
        if let Some(d) = text("error_description").or_else(|| text("reason")) {
            out.push_str(&format!(" ({d})"));
        }
        return Err(out);
    }
    let Some(serde_json::Value::Object(obj)) = json else {
        return Err(format!(
            "HTTP {} with an answer that is not a JSON object",
            resp.status
        ));
    };
    let token = obj
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no access_token")?;
    if token.len() > MAX_TOKEN_BYTES || !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(
            "the access_token is not a token that fits an Authorization header (visible ASCII, at most 16 KiB)"
                .into(),
        );
    }
    // RFC 6749 §7.1: a client must not use a token type it does not understand.
    match obj.get("token_type").map(|v| v.as_str()) {
        None => {}
        Some(Some(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(t) => {
            return Err(format!(
                "the token_type is {}, not Bearer",
                t.map_or("not a string".to_string(), |t| format!(
                    "{:?}",
                    printable(t, secret)
                ))
            ))
        }
    }
    let lifetime = match obj.get("expires_in") {
        None | Some(serde_json::Value::Null) => DEFAULT_LIFETIME,
        Some(v) => {
            // Some servers send the number as a string ("3599").
            let secs = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
                .filter(|s| s.is_finite())
                .ok_or("expires_in is not a number")?;
            Duration::from_secs_f64(secs.clamp(1.0, MAX_LIFETIME.as_secs_f64()))
        }
    };
    Ok(Issued {
        token: Secret::new(token.to_string()),
        lifetime,
    })
}

/// At most 200 printable ASCII characters of what a token endpoint wrote, the client secret
/// (should it echo it) replaced.
fn printable(s: &str, secret: &Secret) -> String {
    let s = if secret.expose().len() >= 4 {
        s.replace(secret.expose(), "<redacted>")
    } else {
        s.to_string()
    };
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::Endpoint;
    use http::HeaderMap;

    fn oauth(grant: Grant, auth_method: ClientAuth) -> OAuth {
        OAuth {
            grant,
            token_url: Endpoint {
                url: "https://idp.example.com/oauth2/token".into(),
                tls: true,
                host: "idp.example.com".into(),
                port: 443,
                authority: "idp.example.com".into(),
                path: "/oauth2/token".into(),
            },
            client_id: "scim gw:1".into(),
            auth_method,
            scope: Some("scim:write users".into()),
            audience: Some("https://api.example.com/".into()),
            client_secret: None,
        }
    }

    fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a HeaderValue> {
        r.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    #[test]
    fn client_credentials_basic_form_encodes_before_base64() {
        let secret = Secret::new("p:ss+w/rd%".into());
        let r = request(&oauth(Grant::ClientCredentials, ClientAuth::Basic), &secret);
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path_and_query, "/oauth2/token");
        assert_eq!(
            r.body.as_deref(),
            Some(&b"grant_type=client_credentials&scope=scim%3Awrite%20users&audience=https%3A%2F%2Fapi.example.com%2F"[..])
        );
        let auth = header(&r, "authorization").unwrap();
        assert!(auth.is_sensitive());
        let b64 = auth.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let pair = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        // RFC 6749 §2.3.1: id and secret form-urlencoded, then joined by ':'.
        assert_eq!(pair, b"scim%20gw%3A1:p%3Ass%2Bw%2Frd%25");
        assert_eq!(
            header(&r, "content-type").unwrap(),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(header(&r, "host").unwrap(), "idp.example.com");
    }

    #[test]
    fn client_credentials_post_puts_the_client_in_the_body() {
        let secret = Secret::new("s3cret".into());
        let r = request(&oauth(Grant::ClientCredentials, ClientAuth::Post), &secret);
        assert!(header(&r, "authorization").is_none());
        let body = String::from_utf8(r.body.clone().unwrap().to_vec()).unwrap();
        assert!(
            body.ends_with("&client_id=scim%20gw%3A1&client_secret=s3cret"),
            "{body}"
        );
        assert_eq!(
            header(&r, "content-length").unwrap(),
            &body.len().to_string()
        );
    }

    #[test]
    fn account_credentials_go_in_the_query_with_basic_auth() {
        let mut o = oauth(
            Grant::AccountCredentials {
                account_id: "Ab C/1".into(),
            },
            ClientAuth::Basic,
        );
        o.scope = None;
        o.audience = None;
        let r = request(&o, &Secret::new("x".into()));
        assert_eq!(
            r.path_and_query,
            "/oauth2/token?grant_type=account_credentials&account_id=Ab%20C%2F1"
        );
        assert_eq!(r.body.as_deref(), Some(&b""[..]));
        assert!(header(&r, "authorization").is_some());
    }

    fn resp(status: u16, body: &str) -> UpstreamResponse {
        UpstreamResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn reads_token_answers() {
        let s = Secret::new("the-secret".into());
        let ok = answer(
            &resp(
                200,
                r#"{"access_token":"abc.def","token_type":"bearer","expires_in":3599}"#,
            ),
            &s,
        )
        .unwrap();
        assert_eq!(ok.token.expose(), "abc.def");
        assert_eq!(ok.lifetime, Duration::from_secs(3599));
        let as_string =
            answer(&resp(200, r#"{"access_token":"t","expires_in":"60"}"#), &s).unwrap();
        assert_eq!(as_string.lifetime, Duration::from_secs(60));
        let none = answer(&resp(200, r#"{"access_token":"t"}"#), &s).unwrap();
        assert_eq!(none.lifetime, DEFAULT_LIFETIME);
        let huge = answer(&resp(200, r#"{"access_token":"t","expires_in":1e12}"#), &s).unwrap();
        assert_eq!(huge.lifetime, MAX_LIFETIME);
        assert!(format!("{ok:?}").contains("lifetime") && !format!("{ok:?}").contains("abc"));
    }

    #[test]
    fn refuses_bad_answers_in_safe_words() {
        let s = Secret::new("the-secret".into());
        let e = answer(
            &resp(
                401,
                r#"{"error":"invalid_client","error_description":"bad secret the-secret"}"#,
            ),
            &s,
        )
        .unwrap_err();
        assert_eq!(e, "HTTP 401 invalid_client (bad secret <redacted>)");
        assert_eq!(answer(&resp(503, "<html>"), &s).unwrap_err(), "HTTP 503");
        for (body, why) in [
            ("[]", "not a JSON object"),
            (r#"{"token_type":"bearer"}"#, "no access_token"),
            (r#"{"access_token":"a b"}"#, "fits an Authorization header"),
            (
                r#"{"access_token":"t","token_type":"mac"}"#,
                "the token_type is \"mac\", not Bearer",
            ),
            (
                r#"{"access_token":"t","expires_in":"soon"}"#,
                "not a number",
            ),
        ] {
            let e = answer(&resp(200, body), &s).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
    }
}
