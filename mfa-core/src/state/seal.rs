//! Secrets kept in the database are sealed (XChaCha20-Poly1305, from the
//! RustCrypto `chacha20poly1305` crate) under a key file on each host, so
//! a dump of the database alone reveals no secret.
//!
//! Key file: 64 hex digits (32 bytes) and a newline, root-owned, 0600 (or
//! 0640 group `mfa`, for mfa-login). Every host of the fleet holds the
//! same key; losing it loses every secret in the database (docs/fleet.md:
//! back it up offline). A sealed value is `1 || nonce(24) || ciphertext`;
//! the user name is bound in as associated data, so a sealed secret moved
//! to another user's row does not open.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::config::{read_secret_file, ConfigError};

const VERSION: u8 = 1;
const NONCE: usize = 24;
const KEY: usize = 32;
const AAD_PREFIX: &[u8] = b"mfa-state-v1\0";

/// A sealing key; its bytes never reach Debug or a message.
pub struct SealKey(Zeroizing<[u8; KEY]>);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("cannot unseal the secret (wrong key_file, or the row was altered)")]
    Open,
    #[error("cannot seal the secret")]
    Seal,
    #[error("cannot draw a nonce from the OS random source")]
    Random,
}

impl SealKey {
    /// Read a key file (root-owned, closed to others).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_secret_file(path)?;
        Self::from_hex(text.trim())
            .ok_or_else(|| ConfigError::file(path, "not a key file: expected 64 hex digits"))
    }

    fn from_hex(text: &str) -> Option<Self> {
        let bytes = Zeroizing::new(
            data_encoding::HEXLOWER_PERMISSIVE
                .decode(text.as_bytes())
                .ok()?,
        );
        let mut key = Zeroizing::new([0u8; KEY]);
        if bytes.len() != KEY {
            return None;
        }
        key.copy_from_slice(&bytes);
        Some(Self(key))
    }

    /// A new random key and its key-file text.
    pub fn generate() -> Result<(Self, Zeroizing<String>), SealError> {
        let mut key = Zeroizing::new([0u8; KEY]);
        getrandom::getrandom(&mut key[..]).map_err(|_| SealError::Random)?;
        let text = Zeroizing::new(format!("{}\n", data_encoding::HEXLOWER.encode(&key[..])));
        Ok((Self(key), text))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.0[..]))
    }

    /// Seal `plain` for `user`.
    pub fn seal(&self, user: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE];
        getrandom::getrandom(&mut nonce).map_err(|_| SealError::Random)?;
        let aad = aad(user);
        let sealed = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Open what [`SealKey::seal`] made for `user`.
    pub fn open(&self, user: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if version != VERSION || rest.len() < NONCE {
            return Err(SealError::Open);
        }
        let (nonce, ct) = rest.split_at(NONCE);
        let aad = aad(user);
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

fn aad(user: &str) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(user.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_with_the_same_key_and_user() {
        let (key, text) = SealKey::generate().unwrap();
        assert_eq!(text.len(), 65);
        let again = SealKey::from_hex(text.trim()).unwrap();
        let sealed = key.seal("alice", b"JBSWY3DPEHPK3PXP\n").unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"JBSWY3DP"));
        assert_eq!(
            &again.open("alice", &sealed).unwrap()[..],
            b"JBSWY3DPEHPK3PXP\n"
        );
        assert_eq!(again.open("bob", &sealed), Err(SealError::Open));
        let (other, _) = SealKey::generate().unwrap();
        assert_eq!(other.open("alice", &sealed), Err(SealError::Open));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open("alice", &altered), Err(SealError::Open));
        assert_eq!(key.open("alice", &[]), Err(SealError::Open));
        // A fresh nonce every time.
        assert_ne!(
            key.seal("alice", b"x").unwrap(),
            key.seal("alice", b"x").unwrap()
        );
        assert_eq!(format!("{key:?}"), "SealKey(..)");
    }

    #[test]
    fn key_files_are_checked() {
        assert!(SealKey::from_hex("00").is_none());
        assert!(SealKey::from_hex(&"g".repeat(64)).is_none());
        assert!(SealKey::from_hex(&"AB".repeat(32)).is_some());
    }
}
