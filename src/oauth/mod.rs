//! The gateway as an OAuth 2.0 authorization server for its tenants' `[[auth.clients]]`
//! (client credentials, RFC 6749 §4.4): the keys of `--token-key-file` ([`keys`]), the tokens
//! ([`jwt`]: EdDSA JWTs), what was verified ([`cache`]) and failed client authentications
//! ([`slowdown`]). Nothing here knows the policy or the request; the token endpoint is the
//! flow step `flow::token` and the check of a presented token is `flow::auth`.
//!
//! Nothing is stored per token: any replica holding the same key files accepts any replica's
//! token, and removing a client from a policy refuses its tokens at once.

pub mod cache;
pub mod jwt;
pub mod keys;
pub mod slowdown;

use cache::{Cache, Verified};
use jwt::{Claims, Refusal};
use keys::KeySet;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;

/// Everything the process knows about its own tokens; one per process, shared by listeners.
pub struct Tokens {
    keys: KeySet,
    verified: Cache,
    /// Failed client authentications (the token endpoint sleeps what it says).
    pub failures: slowdown::Failures,
    random: SystemRandom,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("kids", &self.keys.kids())
            .field("verified", &self.verified.len())
            .finish()
    }
}

/// A token just issued.
#[derive(Debug)]
pub struct Issued {
    pub token: String,
    pub claims: Claims,
}

impl Default for Tokens {
    /// No key: nothing is issued or accepted.
    fn default() -> Self {
        Tokens::new(KeySet::default())
    }
}

impl Tokens {
    pub fn new(keys: KeySet) -> Self {
        Tokens {
            keys,
            verified: Cache::default(),
            failures: slowdown::Failures::default(),
            random: SystemRandom::new(),
        }
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// A token for `client` of tenant `audience`, valid `ttl_s` seconds from `now` (Unix
    /// seconds). `None` without a signing key or randomness for the `jti`.
    pub fn issue(
        &self,
        issuer: &str,
        audience: &str,
        client: &str,
        ttl_s: u32,
        now: i64,
    ) -> Option<Issued> {
        let key = self.keys.signer()?;
        let mut jti = [0u8; 16];
        self.random.fill(&mut jti).ok()?;
        let claims = Claims {
            iss: issuer.to_string(),
            aud: audience.to_string(),
            sub: client.to_string(),
            iat: now,
            exp: now.saturating_add(i64::from(ttl_s)),
            jti: hex::encode(jti),
        };
        Some(Issued {
            token: jwt::sign(key, &claims),
            claims,
        })
    }

    /// Accept `token` (whose SHA-256 is `digest`) for tenant `audience` at `now` when the
    /// gateway issued it for that tenant, it has not expired, and `is_client` still knows its
    /// subject. A token seen before costs a lookup; a new one a signature check, then it is
    /// remembered.
    pub fn verify(
        &self,
        token: &[u8],
        digest: &[u8; 32],
        audience: &str,
        now: i64,
        is_client: impl Fn(&str) -> bool,
    ) -> Result<(), Refusal> {
        let known = self.verified.with(digest, |v| {
            if now > v.expires.saturating_add(jwt::LEEWAY_S) {
                Err(Refusal::Expired)
            } else if v.audience != audience {
                Err(Refusal::Audience)
            } else if !is_client(&v.subject) {
                Err(Refusal::Revoked)
            } else {
                Ok(())
            }
        });
        if let Some(verdict) = known {
            return verdict;
        }
        if self.keys.is_empty() {
            return Err(Refusal::UnknownKey);
        }
        let claims = jwt::verify(&self.keys, token)?;
        jwt::check(&claims, audience, now)?;
        if !is_client(&claims.sub) {
            return Err(Refusal::Revoked);
        }
        self.verified.insert(
            *digest,
            Verified {
                audience: claims.aud,
                subject: claims.sub,
                expires: claims.exp,
            },
            |v| now > v.expires.saturating_add(jwt::LEEWAY_S),
        );
        Ok(())
    }

    /// Tokens remembered as verified.
    pub fn remembered(&self) -> usize {
        self.verified.len()
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::Ed25519KeyPair;
    use sha2::{Digest, Sha256};

    fn tokens() -> Tokens {
        let der = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let key = keys::SigningKey::from_pkcs8_der(der.as_ref()).unwrap();
        Tokens::new(KeySet::from_keys(vec![key]))
    }

    fn digest(t: &str) -> [u8; 32] {
        Sha256::digest(t.as_bytes()).into()
    }

    #[test]
    fn issued_tokens_verify_once_then_from_memory() {
        let t = tokens();
        let now = 1_700_000_000;
        let issued = t.issue("https://gw/acme", "acme", "c1", 3600, now).unwrap();
        assert_eq!(issued.claims.exp, now + 3600);
        assert_eq!(issued.claims.jti.len(), 32);
        let d = digest(&issued.token);
        let yes = |s: &str| s == "c1";
        assert_eq!(
            t.verify(issued.token.as_bytes(), &d, "acme", now, yes),
            Ok(())
        );
        assert_eq!(t.remembered(), 1);
        // From memory: the same verdicts as a fresh check.
        assert_eq!(t.verify(b"", &d, "acme", now + 10, yes), Ok(()));
        assert_eq!(
            t.verify(b"", &d, "globex", now, yes),
            Err(Refusal::Audience)
        );
        assert_eq!(
            t.verify(b"", &d, "acme", now, |_| false),
            Err(Refusal::Revoked)
        );
        assert_eq!(
            t.verify(b"", &d, "acme", now + 3600 + jwt::LEEWAY_S + 1, yes),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn refused_tokens_are_not_remembered() {
        let t = tokens();
        let now = 1_700_000_000;
        let issued = t.issue("https://gw/acme", "acme", "c1", 300, now).unwrap();
        let d = digest(&issued.token);
        let r = t.verify(issued.token.as_bytes(), &d, "globex", now, |_| true);
        assert_eq!(r, Err(Refusal::Audience));
        let r = t.verify(issued.token.as_bytes(), &d, "acme", now, |_| false);
        assert_eq!(r, Err(Refusal::Revoked));
        assert_eq!(t.remembered(), 0);
        assert!(Tokens::default()
            .issue("i", "acme", "c1", 300, now)
            .is_none());
    }
}
