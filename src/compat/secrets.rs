//! Secrets at rest (pure part): the AES-256-GCM key derived from the `SECRETS_KEY` platform
//! secret, the additional data that binds a ciphertext to its project and name, and the stored
//! text form `v1.<iv base64>.<ciphertext base64>`. The cipher itself is the runtime's WebCrypto
//! (`platform::secrets`).
//!
//! Why a separate secret and not one derived from JWT_SECRET: upload JWTs live an hour, so
//! rotating JWT_SECRET is harmless and operators should feel free to; a derived key would make
//! that rotation silently destroy every stored secret. Keeping them apart also means a leak of
//! one key does not expose the other's data.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

pub const MIN_SECRETS_KEY: usize = 16;

/// SHA-256 with a domain label, so the operator's secret is never used as a key directly.
pub fn derive_secrets_key(material: &str) -> Option<[u8; 32]> {
    if material.len() < MIN_SECRETS_KEY {
        return None;
    }
    let mut h = Sha256::new();
    h.update(b"flotilla/project-secrets/aes-256-gcm/v1\0");
    h.update(material.as_bytes());
    Some(h.finalize().into())
}

/// A ciphertext only decrypts for the project and name it was made for.
pub fn secret_aad(project_id: &str, name: &str) -> Vec<u8> {
    format!("{project_id}\0{name}").into_bytes()
}

pub fn encode_sealed(iv: &[u8], ct: &[u8]) -> String {
    format!("v1.{}.{}", STANDARD.encode(iv), STANDARD.encode(ct))
}

pub fn decode_sealed(s: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut it = s.split('.');
    if it.next()? != "v1" {
        return None;
    }
    let iv = STANDARD.decode(it.next()?).ok()?;
    let ct = STANDARD.decode(it.next()?).ok()?;
    if it.next().is_some() || iv.len() != 12 || ct.len() < 16 {
        return None;
    }
    Some((iv, ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_derivation() {
        assert!(derive_secrets_key("short").is_none());
        let a = derive_secrets_key("0123456789abcdef0123").unwrap();
        assert_eq!(a, derive_secrets_key("0123456789abcdef0123").unwrap());
        assert_ne!(a, derive_secrets_key("0123456789abcdef0124").unwrap());
        // Not the plain SHA-256 of the material.
        assert_ne!(a.to_vec(), Sha256::digest(b"0123456789abcdef0123").to_vec());
    }

    #[test]
    fn sealed_form_round_trips_and_rejects_junk() {
        let s = encode_sealed(&[1u8; 12], &[2u8; 20]);
        assert_eq!(decode_sealed(&s), Some((vec![1u8; 12], vec![2u8; 20])));
        for bad in ["", "v1", "v2.AAAA.AAAA", "v1.%%.AAAA", "v1.AQEBAQEBAQEBAQEB.AA", "v1.a.b.c"] {
            assert!(decode_sealed(bad).is_none(), "{bad}");
        }
        assert_ne!(secret_aad("p1", "A"), secret_aad("p2", "A"));
    }
}
