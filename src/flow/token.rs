//! The tenant's own OAuth 2.0 token endpoint, `POST {route}/oauth/token`, for tenants with
//! `[[auth.clients]]` (RFC 6749 §4.4, client credentials). The request is read strictly: one
//! form body (`application/x-www-form-urlencoded`, at most [`MAX_BODY_BYTES`]), no parameter
//! twice (§3.2), no parameter in the URL, one client authentication (HTTP Basic, §2.3.1, or
//! `client_id` + `client_secret` in the body), `grant_type=client_credentials`, no `scope`
//! (the gateway's tokens grant the tenant's route whole). It spends one unit of the tenant's
//! quota like any request; a failed client authentication is counted and, past a few a
//! minute, answered late ([`crate::oauth::slowdown`]). Answers are OAuth JSON (§5.1, §5.2),
//! never SCIM bodies, and nothing goes upstream.

use super::{BodySource, Gateway, Incoming, Reply};
use crate::mapping::query::decode_param;
use crate::policy::Tenant;
use crate::ratelimit::{retry_after_secs, Decision};
use crate::telemetry::metrics;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::Method;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The endpoint, after the tenant's route.
pub const PATH: &str = "/oauth/token";

/// Largest token request body, bytes.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// The `client` label of failures by a `client_id` the tenant does not have (a space: never
/// a client id).
pub const UNKNOWN_CLIENT: &str = "unknown client";

/// An OAuth error answer (RFC 6749 §5.2).
#[derive(Debug)]
struct Refused {
    status: u16,
    error: &'static str,
    description: String,
    headers: Vec<(&'static str, String)>,
}

fn refused(status: u16, error: &'static str, description: impl Into<String>) -> Refused {
    Refused {
        status,
        error,
        description: description.into(),
        headers: Vec::new(),
    }
}

fn invalid_request(description: impl Into<String>) -> Refused {
    refused(400, "invalid_request", description)
}

/// 401 `invalid_client`, with the `WWW-Authenticate` of the one scheme the endpoint takes.
fn invalid_client(tenant: &Tenant, description: impl Into<String>) -> Refused {
    let mut r = refused(401, "invalid_client", description);
    r.headers.push((
        "WWW-Authenticate",
        format!("Basic realm=\"{}\"", tenant.name),
    ));
    r
}

/// Headers of every token endpoint answer (§5.1).
fn json_reply(
    status: u16,
    body: serde_json::Value,
    mut headers: Vec<(&'static str, String)>,
) -> Reply {
    headers.push(("content-type", "application/json".to_string()));
    headers.push(("cache-control", "no-store".to_string()));
    headers.push(("pragma", "no-cache".to_string()));
    Reply {
        status,
        headers: super::own_headers(headers),
        body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    }
}

impl From<Refused> for Reply {
    fn from(r: Refused) -> Self {
        // §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
        let description: String = r
            .description
            .chars()
            .map(|c| match c {
                ' '..='~' if c != '"' && c != '\\' => c,
                _ => '?',
            })
            .collect();
        json_reply(
            r.status,
            serde_json::json!({"error": r.error, "error_description": description}),
            r.headers,
        )
    }
}

/// Answer one request to the token endpoint of `tenant`; `public_base` is the tenant's URL as
/// the client knows it (the tokens' `iss`).
pub async fn serve(
    gw: &Gateway<'_>,
    tenant: &Tenant,
    req: &Incoming<'_>,
    source: &mut dyn BodySource,
    public_base: &str,
) -> Reply {
    match issue(gw, tenant, req, source, public_base).await {
        Ok(reply) => reply,
        Err(r) => r.into(),
    }
}

async fn issue(
    gw: &Gateway<'_>,
    tenant: &Tenant,
    req: &Incoming<'_>,
    source: &mut dyn BodySource,
    public_base: &str,
) -> Result<Reply, Refused> {
    if req.method != Method::POST {
        let mut r = refused(405, "invalid_request", "the token endpoint takes POST only");
        r.headers.push(("Allow", "POST".to_string()));
        return Err(r);
    }
    if req.query.is_some_and(|q| !q.is_empty()) {
        return Err(invalid_request(
            "token request parameters go in the request body, never in the URL",
        ));
    }
    // One unit of the tenant's quota before the body is read, as for every request (the
    // target's back-pressure does not hold tokens back: nothing goes to the target).
    let (status, why, retry_after) =
        match crate::ratelimit::spend(gw.limiter, &tenant.name, tenant.limits.rate, 1).await {
            Decision::Allow => (None, "", Duration::ZERO),
            Decision::Deny { retry_after } => {
                metrics::RATE_LIMITED
                    .with_label_values(&[&tenant.name])
                    .inc();
                (Some(429), "is over its quota", retry_after)
            }
            Decision::Unavailable { retry_after } => (
                Some(503),
                "cannot be checked against its quota now",
                retry_after,
            ),
        };
    if let Some(status) = status {
        let mut r = refused(
            status,
            "temporarily_unavailable",
            format!("tenant {} {why}; retry later", tenant.name),
        );
        r.headers
            .push(("Retry-After", retry_after_secs(retry_after).to_string()));
        return Err(r);
    }
    check_content_type(req.headers)?;
    let authorizations: Vec<&http::HeaderValue> =
        req.headers.get_all("authorization").iter().collect();
    let basic = match authorizations.as_slice() {
        [] => None,
        [one] => Some(basic_credentials(tenant, one.as_bytes())?),
        _ => {
            return Err(invalid_request(
                "the request has more than one Authorization header",
            ))
        }
    };
    let body = source.read(MAX_BODY_BYTES).await.map_err(|e| Refused {
        status: e.status,
        error: "invalid_request",
        description: e.detail,
        headers: Vec::new(),
    })?;
    let form = parse_form(&body)?;
    match form.get("grant_type").map(String::as_str) {
        None => return Err(invalid_request("grant_type is missing")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(refused(
                400,
                "unsupported_grant_type",
                "this endpoint issues tokens for grant_type=client_credentials only",
            ))
        }
    }
    let (client_id, secret) = credentials(tenant, basic, &form)?;
    let client = authenticate(gw, tenant, &client_id, &secret).await?;
    if form.contains_key("scope") {
        return Err(refused(
            400,
            "invalid_scope",
            "the gateway's tokens carry no scope (they grant the tenant's SCIM route): leave scope out",
        ));
    }
    let issued = gw
        .tokens
        .issue(
            public_base,
            &tenant.name,
            client,
            tenant.auth.token_ttl_s,
            crate::oauth::unix_now(),
        )
        .ok_or_else(|| {
            refused(
                500,
                "server_error",
                "the gateway cannot sign tokens (serve has no --token-key-file)",
            )
        })?;
    metrics::TOKENS_ISSUED
        .with_label_values(&[&tenant.name])
        .inc();
    tracing::info!(
        target: "scimgate::oauth",
        tenant = %tenant.name,
        client,
        jti = %issued.claims.jti,
        exp = issued.claims.exp,
        "access token issued"
    );
    Ok(json_reply(
        200,
        serde_json::json!({
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": tenant.auth.token_ttl_s,
        }),
        Vec::new(),
    ))
}

/// `application/x-www-form-urlencoded` (parameters such as `charset` allowed), given once.
fn check_content_type(headers: &http::HeaderMap) -> Result<(), Refused> {
    let mut all = headers.get_all("content-type").iter();
    let (Some(ct), None) = (all.next(), all.next()) else {
        return Err(invalid_request(
            "a token request has one Content-Type: application/x-www-form-urlencoded",
        ));
    };
    let essence = ct
        .as_bytes()
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if essence.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        Ok(())
    } else {
        Err(invalid_request(
            "a token request body is application/x-www-form-urlencoded",
        ))
    }
}

/// The parameters of a form body, decoded strictly ([`decode_param`]). A parameter given
/// twice is refused (RFC 6749 §3.2); one without a value counts as absent (§3.1).
fn parse_form(body: &[u8]) -> Result<BTreeMap<String, String>, Refused> {
    let text = std::str::from_utf8(body)
        .map_err(|_| invalid_request("the request body is not UTF-8 text"))?;
    let mut out = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |_| invalid_request("the request body is not percent-encoded UTF-8 text");
        let (name, value) = (
            decode_param(name).map_err(bad)?.into_owned(),
            decode_param(value).map_err(bad)?.into_owned(),
        );
        if name.is_empty() {
            return Err(invalid_request(
                "a parameter of the request body has no name",
            ));
        }
        if out.contains_key(&name) {
            let shown: String = name.chars().take(64).collect();
            return Err(invalid_request(format!(
                "parameter '{shown}' is given more than once"
            )));
        }
        out.insert(name, value);
    }
    out.retain(|_, v| !v.is_empty());
    Ok(out)
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
fn basic_credentials(tenant: &Tenant, header: &[u8]) -> Result<(String, String), Refused> {
    let encoded = header
        .split_at_checked(6)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"basic "))
        .map(|(_, rest)| rest.trim_ascii())
        .ok_or_else(|| {
            invalid_client(
                tenant,
                "the token endpoint takes HTTP Basic client authentication (client_secret_basic) or client_id and client_secret in the body (client_secret_post)",
            )
        })?;
    let malformed = || invalid_request("the HTTP Basic credentials are malformed");
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let id = decode_param(id).map_err(|_| malformed())?.into_owned();
    let secret = decode_param(secret).map_err(|_| malformed())?.into_owned();
    Ok((id, secret))
}

/// The client id and secret of the one authentication method the client used.
fn credentials(
    tenant: &Tenant,
    basic: Option<(String, String)>,
    form: &BTreeMap<String, String>,
) -> Result<(String, String), Refused> {
    let body_id = form.get("client_id");
    match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => Err(invalid_request(
            "the client authenticated twice (HTTP Basic and client_secret in the body): use one method",
        )),
        (Some((id, secret)), None) => match body_id {
            Some(other) if *other != id => Err(invalid_request(
                "client_id in the body is not the HTTP Basic client id",
            )),
            _ => Ok((id, secret)),
        },
        (None, Some(secret)) => match body_id {
            Some(id) => Ok((id.clone(), secret.clone())),
            None => Err(invalid_client(tenant, "client_secret without client_id")),
        },
        (None, None) => Err(invalid_client(
            tenant,
            "the client did not authenticate: use HTTP Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post)",
        )),
    }
}

/// The tenant's client with this id and secret (SHA-256, compared in constant time with each
/// of its digests). A failure is counted per client (ids the tenant does not have share one
/// counter) and answered after the slow-down's delay.
async fn authenticate<'t>(
    gw: &Gateway<'_>,
    tenant: &'t Tenant,
    client_id: &str,
    secret: &str,
) -> Result<&'t str, Refused> {
    let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let client = tenant.auth.client(client_id);
    // An unknown id costs the same comparison as a known one.
    let none: [[u8; 32]; 1] = [[0; 32]];
    let digests = client.map_or(&none[..], |c| &c.secret_digests[..]);
    let matched = super::auth::is_listed(digests, &digest);
    match client {
        Some(c) if matched => Ok(c.id.as_str()),
        _ => {
            let known = client.map(|c| c.id.as_str());
            let delay = gw
                .tokens
                .failures
                .failed(&tenant.name, known, Instant::now());
            let label = known.unwrap_or(UNKNOWN_CLIENT);
            metrics::TOKEN_FAILURES
                .with_label_values(&[&tenant.name, label])
                .inc();
            tracing::warn!(
                target: "scimgate::oauth",
                tenant = %tenant.name,
                client = label,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "token request refused: client authentication failed"
            );
            pause(delay).await;
            Err(invalid_client(tenant, "client authentication failed"))
        }
    }
}

/// Sleep without holding a thread (only inside a Tokio runtime: the dry run has none and
/// never reaches a delay).
async fn pause(delay: Duration) {
    if !delay.is_zero() && tokio::runtime::Handle::try_current().is_ok() {
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests;
