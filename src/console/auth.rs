//! `serve --admin-token-env NAME`: the console and `/api/…` answer only requests that carry
//! `Authorization: Bearer $NAME`, or the session cookie the console's login form sets for a
//! browser (a digest of the token, `HttpOnly`, `SameSite=Strict`). Both are compared in
//! constant time against digests computed once at start; the token itself is not kept.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "scimgate_console";

/// The shortest admin token accepted (bytes).
const MIN_LEN: usize = 16;

/// The digests of the admin token.
#[derive(Clone)]
pub struct AdminToken {
    bearer: [u8; 32],
    session: String,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// The token from the environment variable `name` (start-up: a clear error if it is not
    /// there or too short).
    pub fn from_env(name: &str) -> Result<Self, String> {
        match std::env::var(name) {
            Ok(v) if v.trim().len() >= MIN_LEN => Ok(Self::new(v.trim().as_bytes())),
            Ok(v) if v.trim().is_empty() => Err(format!(
                "--admin-token-env {name}: the variable is empty"
            )),
            Ok(_) => Err(format!(
                "--admin-token-env {name}: the token is shorter than {MIN_LEN} characters; use a long random one (openssl rand -hex 32)"
            )),
            Err(_) => Err(format!("--admin-token-env {name}: the variable is not set")),
        }
    }

    pub fn new(token: &[u8]) -> Self {
        AdminToken {
            bearer: Sha256::digest(token).into(),
            session: session_of(token),
        }
    }

    /// Does the request carry the token (bearer) or the session cookie?
    pub fn admits(&self, authorization: Option<&[u8]>, cookie: Option<&[u8]>) -> bool {
        let by_bearer = authorization.and_then(bearer).is_some_and(|t| {
            let digest: [u8; 32] = Sha256::digest(t).into();
            bool::from(digest.ct_eq(&self.bearer))
        });
        let by_cookie = cookie.and_then(session_cookie).is_some_and(|c| {
            c.len() == self.session.len() && bool::from(c.ct_eq(self.session.as_bytes()))
        });
        by_bearer || by_cookie
    }

    /// Is `presented` (what the login form sent) the token?
    pub fn is_token(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.trim_ascii()).into();
        bool::from(digest.ct_eq(&self.bearer))
    }

    /// The `Set-Cookie` value that logs a browser in.
    pub fn set_cookie(&self) -> String {
        format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            self.session
        )
    }
}

/// The `Set-Cookie` value that logs a browser out.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session value: a digest of the token under its own label, so the cookie is not the
/// token and cannot be used as a bearer.
fn session_of(token: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"scimgate console session\0");
    h.update(token);
    hex::encode(h.finalize())
}

fn bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
        .filter(|t| !t.is_empty())
}

/// The value of the session cookie in a `Cookie` header.
fn session_cookie(header: &[u8]) -> Option<&[u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let (name, value) = pair.split_at_checked(COOKIE.len() + 1)?;
        (name.get(..COOKIE.len()) == Some(COOKIE.as_bytes()) && name.last() == Some(&b'='))
            .then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_cookie_are_admitted_others_not() {
        let t = AdminToken::new(b"0123456789abcdef-admin");
        assert!(t.admits(Some(b"Bearer 0123456789abcdef-admin"), None));
        assert!(t.admits(Some(b"bearer   0123456789abcdef-admin "), None));
        assert!(!t.admits(Some(b"Bearer 0123456789abcdef-admiN"), None));
        assert!(!t.admits(Some(b"Basic 0123456789abcdef-admin"), None));
        assert!(!t.admits(None, None));
        let cookie = t.set_cookie();
        let value = cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("scimgate_console=");
        let header = format!("theme=dark; {COOKIE}={value}; other=1");
        assert!(t.admits(None, Some(header.as_bytes())));
        assert!(!t.admits(None, Some(b"scimgate_console=00")));
        // The cookie is not the token, and the token is not a cookie.
        assert!(!t.admits(Some(format!("Bearer {value}").as_bytes()), None));
        assert!(!t.admits(None, Some(b"scimgate_console=0123456789abcdef-admin")));
        assert!(t.is_token(b"0123456789abcdef-admin\n"));
        assert!(!format!("{t:?}").contains("0123"));
    }

    #[test]
    fn a_short_or_missing_token_stops_start_up() {
        let e = AdminToken::from_env("SCIMGATE_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert!(e.contains("not set"), "{e}");
    }
}
