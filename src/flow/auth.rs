//! Step 2: who calls. The IdP's `Authorization: Bearer` secret, hashed with SHA-256 and
//! compared in constant time against every digest of the tenant; or, for a tenant with
//! `[[auth.clients]]`, an access token the gateway issued to one of them ([`crate::oauth`]:
//! EdDSA signature by a known key, expiry, audience = this tenant, a client still listed;
//! checked once, then found by that same SHA-256). The IdP's token never goes upstream.

use crate::oauth::Tokens;
use crate::policy::model::Auth;
use crate::policy::Tenant;
use crate::scim::error::ScimError;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Accept or refuse a request by its `Authorization` header value: a bearer secret of the
/// tenant, or an access token the gateway issued to one of its clients.
pub fn admit(tenant: &Tenant, tokens: &Tokens, header: Option<&[u8]>) -> Result<(), ScimError> {
    let token = token_of(header)?;
    let digest: [u8; 32] = Sha256::digest(token).into();
    if is_listed(&tenant.auth.digests, &digest) {
        return Ok(());
    }
    if tenant.auth.clients.is_empty() || token.iter().filter(|&&b| b == b'.').count() != 2 {
        return Err(not_valid());
    }
    let is_client = |sub: &str| tenant.auth.client(sub).is_some();
    tokens
        .verify(
            token,
            &digest,
            &tenant.name,
            crate::oauth::unix_now(),
            is_client,
        )
        .map_err(|refusal| {
            let mut e = ScimError::new(401, None, refusal.describe());
            e.headers.push((
                "WWW-Authenticate",
                "Bearer error=\"invalid_token\"".to_string(),
            ));
            e
        })
}

/// Accept or refuse a request by its bearer secret alone.
pub fn check(auth: &Auth, header: Option<&[u8]>) -> Result<(), ScimError> {
    let token = token_of(header)?;
    let digest: [u8; 32] = Sha256::digest(token).into();
    if is_listed(&auth.digests, &digest) {
        Ok(())
    } else {
        Err(not_valid())
    }
}

fn token_of(header: Option<&[u8]>) -> Result<&[u8], ScimError> {
    let header = header.ok_or_else(|| ScimError::unauthorized("a bearer token is required"))?;
    bearer_token(header)
        .ok_or_else(|| ScimError::unauthorized("the Authorization header must be 'Bearer <token>'"))
}

/// Is `digest` one of `digests`? Compared against every one without stopping early.
pub(crate) fn is_listed(digests: &[[u8; 32]], digest: &[u8; 32]) -> bool {
    let mut matched = subtle::Choice::from(0u8);
    for d in digests {
        matched |= d.ct_eq(digest);
    }
    bool::from(matched)
}

fn not_valid() -> ScimError {
    ScimError::unauthorized("the bearer token is not valid for this tenant")
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1).
fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// `scimgate hash-token`: the lowercase hex SHA-256 of a secret (trailing newline trimmed).
pub fn hash_token(secret: &[u8]) -> String {
    let secret = secret.strip_suffix(b"\n").unwrap_or(secret);
    let secret = secret.strip_suffix(b"\r").unwrap_or(secret);
    hex::encode(Sha256::digest(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(secrets: &[&str]) -> Auth {
        Auth::bearer(
            secrets
                .iter()
                .map(|s| Sha256::digest(s.as_bytes()).into())
                .collect(),
        )
    }

    #[test]
    fn accepts_any_listed_secret() {
        let a = auth(&["old", "new"]);
        assert!(check(&a, Some(b"Bearer old")).is_ok());
        assert!(check(&a, Some(b"bearer new")).is_ok());
        assert!(check(&a, Some(b"BEARER  new ")).is_ok());
    }

    #[test]
    fn refuses_missing_malformed_and_wrong() {
        let a = auth(&["s3cret"]);
        for h in [
            None,
            Some(&b"Basic czNjcmV0"[..]),
            Some(b"Bearer"),
            Some(b"Bearer "),
            Some(b"Bearer s3cret2"),
            Some(b"s3cret"),
        ] {
            let e = check(&a, h).unwrap_err();
            assert_eq!(e.status, 401);
            assert_eq!(e.headers, vec![("WWW-Authenticate", "Bearer".to_string())]);
        }
    }

    #[test]
    fn hash_token_matches_the_contract_example() {
        assert_eq!(
            hash_token(b"password\n"),
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
        );
    }
}
