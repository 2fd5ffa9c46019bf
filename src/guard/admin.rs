//! `POST /admin/tenants/{tenant}/guard/release` on the admin listener: an operator lets a
//! tripped guard's deletions through for one window. Pingora-free: `proxy::admin` hands the
//! request here ([`handle`]) and writes the answer. Who may call it is decided by the caller
//! ([`Caller`]): the admin token when `--admin-token-env` is set, else a loopback peer that
//! names the listener by IP or `localhost` (as the console).

use super::Guard;
use crate::policy::Policies;
use http::Method;
use serde_json::json;

/// The route's prefix and suffix around the tenant name.
const PREFIX: &str = "/admin/tenants/";
const SUFFIX: &str = "/guard/release";

/// Who is calling, as far as the admin listener knows.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// `Some(admitted)` with `--admin-token-env`: did the request carry the token?
    pub token: Option<bool>,
    /// Is the peer on a loopback address?
    pub peer_loopback: bool,
    /// The request's `Host`.
    pub host: Option<&'a str>,
}

impl Caller<'_> {
    fn admitted(&self) -> Result<(), (u16, &'static str)> {
        match self.token {
            Some(true) => Ok(()),
            Some(false) => Err((401, "the admin token is missing or wrong")),
            None if self.peer_loopback && self.host.is_some_and(local_host) => Ok(()),
            None => Err((
                403,
                "without serve --admin-token-env the guard is released only from loopback, by IP or localhost",
            )),
        }
    }
}

/// `localhost` or an IP literal, with or without a port.
fn local_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok()
}

/// Whether `path` is this route (so the admin listener hands it here, not to the console).
pub fn is_route(path: &str) -> bool {
    tenant_of(path).is_some()
}

fn tenant_of(path: &str) -> Option<&str> {
    path.strip_prefix(PREFIX)?
        .strip_suffix(SUFFIX)
        .filter(|t| !t.is_empty() && !t.contains('/'))
}

/// A whole JSON answer: status, headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

fn answer(status: u16, v: &serde_json::Value) -> Answer {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if status == 401 {
        headers.push((
            "www-authenticate",
            "Bearer realm=\"scimgate admin\"".to_string(),
        ));
    }
    (status, headers, v.to_string().into_bytes())
}

/// Answer the route, or `None` when `path` is not it.
pub async fn handle(
    guard: &Guard,
    policies: &Policies,
    method: &Method,
    path: &str,
    caller: Caller<'_>,
) -> Option<Answer> {
    let name = tenant_of(path)?;
    if let Err((status, why)) = caller.admitted() {
        return Some(answer(status, &json!({"error": why})));
    }
    if method != Method::POST {
        return Some(answer(405, &json!({"error": "POST releases the guard"})));
    }
    let Some(tenant) = policies.tenants.iter().find(|t| t.name == name) else {
        return Some(answer(404, &json!({"error": "no such tenant"})));
    };
    if !tenant.guard.is_on() {
        return Some(answer(
            409,
            &json!({"error": "the tenant has no deletion guard ([guard] max_deletes is 0)"}),
        ));
    }
    Some(match guard.release(tenant).await {
        Ok(()) => answer(
            200,
            &json!({
                "tenant": tenant.name,
                "released": true,
                "window_s": tenant.guard.window.as_secs(),
                "detail": "deletions and deactivations pass uncounted for one window; then the guard re-arms, empty",
            }),
        ),
        Err(e) => answer(
            503,
            &json!({"error": format!("the guard's counter did not answer: {e}")}),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_names_one_tenant() {
        assert_eq!(tenant_of("/admin/tenants/acme/guard/release"), Some("acme"));
        assert_eq!(tenant_of("/admin/tenants//guard/release"), None);
        assert_eq!(tenant_of("/admin/tenants/a/b/guard/release"), None);
        assert_eq!(tenant_of("/admin/tenants/acme/guard"), None);
    }

    #[test]
    fn callers_need_the_token_or_a_local_name() {
        let c = |token, peer_loopback, host| Caller {
            token,
            peer_loopback,
            host,
        };
        assert!(c(Some(true), false, None).admitted().is_ok());
        assert_eq!(
            c(Some(false), true, Some("127.0.0.1"))
                .admitted()
                .unwrap_err()
                .0,
            401
        );
        assert!(c(None, true, Some("127.0.0.1:9090")).admitted().is_ok());
        assert!(c(None, true, Some("localhost:9090")).admitted().is_ok());
        assert!(c(None, true, Some("[::1]:9090")).admitted().is_ok());
        assert_eq!(
            c(None, true, Some("evil.example:9090"))
                .admitted()
                .unwrap_err()
                .0,
            403
        );
        assert_eq!(
            c(None, false, Some("127.0.0.1")).admitted().unwrap_err().0,
            403
        );
    }
}
