//! What was verified: a bounded map from the SHA-256 of a token (which the auth step computes
//! anyway) to its audience, subject and expiry, so a request that carries a known token costs
//! a hash and a lookup instead of a signature check. Only tokens that passed every check are
//! kept, so the map grows only with tokens the gateway issued.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Most tokens remembered; past it the expired ones go, and if none has expired, all of them.
pub const MAX_ENTRIES: usize = 16_384;

/// The facts of one verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub audience: String,
    pub subject: String,
    /// `exp`, Unix seconds.
    pub expires: i64,
}

#[derive(Debug, Default)]
pub struct Cache {
    map: RwLock<HashMap<[u8; 32], Verified>>,
}

impl Cache {
    /// `f` of what is known of the token with this digest.
    pub fn with<R>(&self, digest: &[u8; 32], f: impl FnOnce(&Verified) -> R) -> Option<R> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(digest).map(f)
    }

    /// Remember a verified token; `expired` says which entries may go to make room.
    pub fn insert(&self, digest: [u8; 32], v: Verified, expired: impl Fn(&Verified) -> bool) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES && !map.contains_key(&digest) {
            map.retain(|_, v| !expired(v));
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(digest, v);
    }

    pub fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(expires: i64) -> Verified {
        Verified {
            audience: "acme".into(),
            subject: "c".into(),
            expires,
        }
    }

    #[test]
    fn remembers_and_stays_bounded() {
        let c = Cache::default();
        c.insert([1; 32], v(10), |_| false);
        assert_eq!(c.with(&[1; 32], |v| v.expires), Some(10));
        assert_eq!(c.with(&[2; 32], |v| v.expires), None);
        for i in 0..MAX_ENTRIES as u32 + 10 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_be_bytes());
            d[31] = 7;
            c.insert(d, v(i64::from(i % 2)), |v| v.expires == 0);
        }
        assert!(c.len() <= MAX_ENTRIES);
        assert!(!c.is_empty());
    }
}
