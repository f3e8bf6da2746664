//! Provider API keys at rest (DESIGN §8): AES-256-GCM under `AX_MASTER_KEY`.
//!
//! Sealed form: `0x01` (format version) ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte
//! tag. The provider name is the associated data, so a ciphertext copied to another
//! provider's row does not open. A wrong master key fails the tag check and is
//! reported as such — never as a garbled key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Version byte of the sealed format.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Why a provider key could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// `AX_MASTER_KEY` is not set.
    #[error(
        "AX_MASTER_KEY is not set: it is needed to encrypt and decrypt provider API keys (generate one with `openssl rand -hex 32`)"
    )]
    MissingMasterKey,
    /// `AX_MASTER_KEY` is not 32 bytes in hex or base64.
    #[error(
        "AX_MASTER_KEY must be 32 bytes written as 64 hex characters or base64 (generate one with `openssl rand -hex 32`)"
    )]
    BadMasterKey,
    /// The tag did not verify: another master key sealed it (or it was altered).
    #[error(
        "cannot decrypt the stored API key of `{0}`: AX_MASTER_KEY is not the key it was encrypted with (or the row was altered)"
    )]
    WrongMasterKey(String),
    /// Encryption itself failed (an absurdly long key).
    #[error("cannot encrypt the API key of `{0}`")]
    Encrypt(String),
    /// Not in the sealed format.
    #[error("the stored API key of `{0}` is not in ax's encrypted format")]
    Malformed(String),
}

/// The master key. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(<redacted>, id {})", self.fingerprint())
    }
}

impl MasterKey {
    /// Parses `AX_MASTER_KEY` (64 hex characters, or base64 of 32 bytes).
    pub fn parse(value: Option<&str>) -> Result<Self, SecretError> {
        let v = value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(SecretError::MissingMasterKey)?;
        let bytes = if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SecretError::BadMasterKey)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| SecretError::BadMasterKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadMasterKey)?;
        Ok(Self(key))
    }

    /// A short, non-secret identifier of the key (first 8 hex digits of its SHA-256),
    /// to tell operators which key is in use.
    pub fn fingerprint(&self) -> String {
        let d = Sha256::digest(self.0);
        d[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Encrypts `api_key` for `provider`'s row.
    pub fn seal(&self, provider: &str, api_key: &str) -> Result<Vec<u8>, SecretError> {
        let cipher = Aes256Gcm::new((&self.0).into());
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: api_key.as_bytes(),
                    aad: provider.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Encrypt(provider.to_owned()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts `provider`'s stored key.
    pub fn open(&self, provider: &str, sealed: &[u8]) -> Result<String, SecretError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(SecretError::Malformed(provider.to_owned()));
        }
        let cipher = Aes256Gcm::new((&self.0).into());
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&sealed[1..1 + NONCE_LEN]),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: provider.as_bytes(),
                },
            )
            .map_err(|_| SecretError::WrongMasterKey(provider.to_owned()))?;
        String::from_utf8(plain).map_err(|_| SecretError::Malformed(provider.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trip_and_wrong_key() {
        let k = MasterKey::parse(Some(HEX)).unwrap();
        let sealed = k.seal("openai", "sk-secret-123").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.open("openai", &sealed).unwrap(), "sk-secret-123");
        // Fresh nonce each time.
        assert_ne!(sealed, k.seal("openai", "sk-secret-123").unwrap());
        // Another provider's row: refused.
        assert_eq!(
            k.open("claude", &sealed),
            Err(SecretError::WrongMasterKey("claude".into()))
        );
        let other = MasterKey::parse(Some(&"ab".repeat(32))).unwrap();
        let e = other.open("openai", &sealed).unwrap_err();
        assert_eq!(e, SecretError::WrongMasterKey("openai".into()));
        assert!(e.to_string().contains("AX_MASTER_KEY"));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(k.open("openai", &tampered).is_err());
        assert_eq!(
            k.open("openai", b"plain"),
            Err(SecretError::Malformed("openai".into()))
        );
    }

    #[test]
    fn master_key_forms() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(MasterKey::parse(Some(&b64)).is_ok());
        assert_eq!(
            MasterKey::parse(None).unwrap_err(),
            SecretError::MissingMasterKey
        );
        assert_eq!(
            MasterKey::parse(Some("  ")).unwrap_err(),
            SecretError::MissingMasterKey
        );
        assert_eq!(
            MasterKey::parse(Some("short")).unwrap_err(),
            SecretError::BadMasterKey
        );
        let k = MasterKey::parse(Some(HEX)).unwrap();
        assert!(!format!("{k:?}").contains(HEX));
        assert_eq!(k.fingerprint().len(), 8);
    }
}
