//! The keys behind `serve --token-key-file`: Ed25519 private keys in PKCS#8 PEM (what
//! `openssl genpkey -algorithm ed25519` writes). The first file signs, every file verifies, so
//! a key rotates by adding the new one first and dropping the old one a token lifetime later.

use ring::signature::{Ed25519KeyPair, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// Length of a `kid`: the first 16 hex characters of the SHA-256 of the raw public key.
pub const KID_LEN: usize = 16;

/// A private key that signs tokens.
pub struct SigningKey {
    kid: String,
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// A key from PKCS#8 DER (v1, as OpenSSL writes it, or v2).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| format!("it is not an Ed25519 private key ({e})"))?;
        Ok(SigningKey {
            kid: kid(pair.public_key().as_ref()),
            pair,
        })
    }

    /// A key from a PEM file holding a `PRIVATE KEY` block.
    pub fn from_pem_file(path: &Path) -> Result<Self, String> {
        let text = crate::policy::secrets::read_secret_file(path)?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes())
            .map_err(|_| "it holds no PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)")?;
        Self::from_pkcs8_der(der.secret_pkcs8_der())
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(kid {}, <redacted>)", self.kid)
    }
}

/// The `kid` of a raw Ed25519 public key.
pub fn kid(public_key: &[u8]) -> String {
    let mut hex = hex::encode(Sha256::digest(public_key));
    hex.truncate(KID_LEN);
    hex
}

/// Every key of the process: the first signs, all verify.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// The keys of `--token-key-file` flags, in order. A file that cannot be read or holds no
    /// Ed25519 key is an error naming it. The same key twice is kept once.
    pub fn load(paths: &[PathBuf]) -> Result<Self, String> {
        let mut keys: Vec<SigningKey> = Vec::with_capacity(paths.len());
        for path in paths {
            let key = SigningKey::from_pem_file(path).map_err(|why| {
                format!(
                    "--token-key-file {} cannot be used: {why} (make one with `openssl genpkey -algorithm ed25519 -out {}`)",
                    path.display(),
                    path.display()
                )
            })?;
            if keys.iter().all(|k| k.kid != key.kid) {
                keys.push(key);
            }
        }
        Ok(KeySet { keys })
    }

    /// A set of keys already made (tests, benches).
    pub fn from_keys(keys: Vec<SigningKey>) -> Self {
        KeySet { keys }
    }

    /// The key that signs new tokens.
    pub fn signer(&self) -> Option<&SigningKey> {
        self.keys.first()
    }

    /// The public key that verifies tokens with this `kid`.
    pub fn verifier(&self, kid: &str) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|k| k.kid == kid)
            .map(SigningKey::public_key)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s, signer first (for the start-up log line).
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `openssl genpkey -algorithm ed25519` (PKCS#8 v1), and the kid `openssl pkey -pubout
    // -outform DER | tail -c 32 | sha256sum | cut -c1-16` gives for it.
    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPU3IY5lJDsPjyXbmSlY6H5BwKhxdh14Qk4B/iHCr3Jh\n-----END PRIVATE KEY-----\n";

    #[test]
    fn an_openssl_key_loads_with_its_kid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, PEM).unwrap();
        let set = KeySet::load(&[path.clone(), path]).unwrap();
        assert_eq!(set.kids().len(), 1);
        let key = set.signer().unwrap();
        assert_eq!(key.kid(), "73b2120a43e67c4c");
        assert_eq!(key.kid(), kid(key.public_key()));
        assert_eq!(set.verifier(key.kid()), Some(key.public_key()));
        assert!(format!("{key:?}").contains("redacted"));
    }

    #[test]
    fn a_bad_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = KeySet::load(std::slice::from_ref(&missing)).unwrap_err();
        assert!(
            e.contains("--token-key-file") && e.contains("missing.pem"),
            "{e}"
        );
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a key").unwrap();
        let e = KeySet::load(std::slice::from_ref(&garbage)).unwrap_err();
        assert!(e.contains("garbage.pem") && e.contains("PKCS#8"), "{e}");
    }
}
