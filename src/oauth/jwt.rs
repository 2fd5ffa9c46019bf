//! The gateway's access tokens: JWTs (RFC 7519) in the compact JWS form (RFC 7515), EdDSA
//! (RFC 8037) over Ed25519 only. Written here on `ring` rather than with the `jsonwebtoken`
//! crate: its releases past CVE-2026-25537 (type confusion in claim checks, fixed in 10.3) sign
//! only through aws-lc-rs or RustCrypto, a second crypto provider beside the ring that
//! Pingora's rustls builds, and 9.x carries the advisory. One algorithm is three base64url
//! segments and one signature, below; verification accepts only what the gateway issues.

use super::keys::{KeySet, SigningKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

/// Longest token looked at, bytes (the gateway's are about 350).
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Seconds of clock difference tolerated on `exp` and `iat` (replicas' clocks, the IdP's).
pub const LEEWAY_S: i64 = 30;

/// The claims of a gateway token. Typed: a claim of the wrong JSON type (a string `exp`)
/// refuses the token instead of being skipped. Unknown claims are ignored, so a newer
/// replica may add some during a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The public base URL of the tenant's route.
    pub iss: String,
    /// The tenant's name.
    pub aud: String,
    /// The `client_id` of `[[auth.clients]]`.
    pub sub: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds: `iat + token_ttl_s`.
    pub exp: i64,
    /// 128 random bits, hex.
    pub jti: String,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(Deserialize)]
struct HeaderIn {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    /// Extensions the verifier must understand (RFC 7515 §4.1.11): the gateway knows none.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not three base64url segments of JSON, too long, or an unknown `crit`/`typ`.
    Malformed,
    /// `alg` other than `EdDSA` (`none`, `HS256`, `RS256`, …).
    Algorithm,
    /// No `kid`, or one no `--token-key-file` has.
    UnknownKey,
    /// The signature does not verify (a tampered header, payload or signature).
    Signature,
    /// Past `exp` (plus the leeway).
    Expired,
    /// `iat` in the future (beyond the leeway).
    NotYetValid,
    /// Issued for another tenant.
    Audience,
    /// Its `sub` is no longer a client of the tenant.
    Revoked,
}

impl Refusal {
    /// What the 401 says (no secret, no token).
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Malformed => "the access token is malformed",
            Refusal::Algorithm => "the access token is not signed with EdDSA",
            Refusal::UnknownKey => "the access token is signed by a key this gateway does not have",
            Refusal::Signature => "the access token's signature is not valid",
            Refusal::Expired => "the access token has expired",
            Refusal::NotYetValid => "the access token is issued in the future",
            Refusal::Audience => "the access token was issued for another tenant",
            Refusal::Revoked => "the access token's client is not a client of this tenant",
        }
    }
}

/// The compact JWS of `claims`, signed by `key`.
pub fn sign(key: &SigningKey, claims: &Claims) -> String {
    let header = HeaderOut {
        alg: "EdDSA",
        typ: "JWT",
        kid: key.kid(),
    };
    // Serialising structs of strings and integers cannot fail.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = String::with_capacity(400);
    B64.encode_string(header, &mut token);
    token.push('.');
    B64.encode_string(payload, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    B64.encode_string(signature, &mut token);
    token
}

/// The claims of `token` if one of `keys` signed it with EdDSA. Time and audience are
/// checked by [`check`].
pub fn verify(keys: &KeySet, token: &[u8]) -> Result<Claims, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed);
    }
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let header: HeaderIn = decode_json(header)?;
    if header.alg != "EdDSA" {
        return Err(Refusal::Algorithm);
    }
    let typ_ok = header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("JWT"));
    if header.crit.is_some() || !typ_ok {
        return Err(Refusal::Malformed);
    }
    let public = header
        .kid
        .as_deref()
        .and_then(|kid| keys.verifier(kid))
        .ok_or(Refusal::UnknownKey)?;
    let signature = B64.decode(signature).map_err(|_| Refusal::Malformed)?;
    let signed = token.get(..header_len(token)).ok_or(Refusal::Malformed)?;
    UnparsedPublicKey::new(&ED25519, public)
        .verify(signed, &signature)
        .map_err(|_| Refusal::Signature)?;
    decode_json(payload)
}

/// The claims say this token is for `audience` now.
pub fn check(claims: &Claims, audience: &str, now: i64) -> Result<(), Refusal> {
    if now > claims.exp.saturating_add(LEEWAY_S) {
        return Err(Refusal::Expired);
    }
    if claims.iat > now.saturating_add(LEEWAY_S) {
        return Err(Refusal::NotYetValid);
    }
    if claims.aud != audience {
        return Err(Refusal::Audience);
    }
    Ok(())
}

/// Length of `header.payload`, the signing input.
fn header_len(token: &[u8]) -> usize {
    token
        .iter()
        .rposition(|&b| b == b'.')
        .unwrap_or(token.len())
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &[u8]) -> Result<T, Refusal> {
    // Strict base64url: no padding, no non-canonical trailing bits (a changed last character
    // is a changed token).
    let bytes = B64.decode(segment).map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

#[cfg(test)]
mod tests;
