//! Gateway key material: generation (`ax-` + base62 of 32 random bytes), hashing
//! (SHA-256, hex) and the visible prefix.

use sha2::{Digest, Sha256};

/// Every gateway key starts with this.
pub const KEY_PREFIX: &str = "ax-";

/// Characters of the raw key kept as its visible prefix (`ax-` and 8 more).
pub const PREFIX_LEN: usize = 11;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A fresh raw key and its prefix.
pub fn generate_key() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let key = format!("{KEY_PREFIX}{}", base62(&bytes));
    let prefix = key[..PREFIX_LEN].to_owned();
    (key, prefix)
}

/// The stored form of a raw key: SHA-256, lower-case hex.
pub fn hash_key(raw: &str) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

/// Whether `s` has the shape of a gateway key (cheap check before hashing).
pub fn looks_like_key(s: &str) -> bool {
    s.len() > PREFIX_LEN && s.len() <= 64 && s.starts_with(KEY_PREFIX)
}

/// Base62 of a big-endian number, fixed width (43 digits for 32 bytes) so every key
/// has the same length.
fn base62(bytes: &[u8; 32]) -> String {
    let mut num = bytes.to_vec();
    let mut digits = Vec::with_capacity(43);
    for _ in 0..43 {
        let mut rem: u32 = 0;
        for b in num.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = u8::try_from(cur / 62).unwrap_or(0);
            rem = cur % 62;
        }
        digits.push(BASE62[rem as usize]);
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let (a, pa) = generate_key();
        let (b, _) = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with("ax-"));
        assert_eq!(a.len(), 3 + 43);
        assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(pa, &a[..PREFIX_LEN]);
        assert!(looks_like_key(&a));
        assert!(!looks_like_key("sk-abc"));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn base62_is_exact() {
        assert_eq!(base62(&[0; 32]), "0".repeat(43));
        let mut one = [0u8; 32];
        one[31] = 61;
        assert!(base62(&one).ends_with('z'));
        one[31] = 62;
        assert!(base62(&one).ends_with("10"));
        // 2^256 - 1 fits in 43 base-62 digits (62^43 > 2^256).
        assert!(!base62(&[0xff; 32]).starts_with('0'));
    }
}
