//! Encryption at rest for tenant secrets (model API keys; later bot tokens).
//!
//! ChaCha20-Poly1305 with a 256-bit service key: `secret_key` from the settings (64 hex
//! digits), or `<data_dir>/secret.key`, created with mode 0600 on first start. Stored form:
//! hex(nonce ‖ ciphertext). Losing the key makes stored secrets unreadable, never readable by
//! someone else.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::Rng;

use crate::settings::Secret;

/// Encrypts and decrypts tenant secrets.
pub struct Cipher {
    aead: ChaCha20Poly1305,
    key: [u8; 32],
}

impl Cipher {
    /// The configured key, else the key file in `data_dir` (created if missing).
    pub fn load_or_create(configured: Option<&Secret>, data_dir: &Path) -> anyhow::Result<Cipher> {
        let hex = match configured {
            Some(k) => k.expose().trim().to_owned(),
            None => {
                let path = data_dir.join("secret.key");
                if !path.exists() {
                    let key: [u8; 32] = rand::rng().random();
                    std::fs::write(&path, to_hex(&key))?;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                std::fs::read_to_string(&path)?.trim().to_owned()
            }
        };
        let bytes: [u8; 32] = from_hex(&hex)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("secret_key must be 64 hex digits (32 bytes)"))?;
        Ok(Cipher::from_key(bytes))
    }

    fn from_key(key: [u8; 32]) -> Cipher {
        Cipher {
            aead: ChaCha20Poly1305::new(&Key::from(key)),
            key,
        }
    }

    /// A cipher with a key of its own for `purpose`, derived from this one, so what one
    /// purpose seals can never be opened as another's (a sealed token is not a stored secret).
    pub fn derive(&self, purpose: &str) -> Cipher {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"ocaas key derivation v1\0");
        h.update(purpose.as_bytes());
        h.update([0]);
        h.update(self.key);
        Cipher::from_key(h.finalize().into())
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        self.seal(plaintext.as_bytes())
    }

    pub fn decrypt(&self, stored: &str) -> anyhow::Result<Secret> {
        let pt = self.open(stored)?;
        Ok(Secret::new(String::from_utf8(pt)?))
    }

    /// hex(nonce ‖ ciphertext ‖ tag) of `plaintext`.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let nonce: [u8; 12] = rand::rng().random();
        let ct = self
            .aead
            .encrypt(&Nonce::from(nonce), plaintext)
            .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        to_hex(&out)
    }

    /// The plaintext of what [`Cipher::seal`] made with this key; an error for anything else.
    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let raw = from_hex(sealed).ok_or_else(|| anyhow::anyhow!("sealed value is not hex"))?;
        if raw.len() < 12 + 16 {
            anyhow::bail!("sealed value is too short");
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("split at 12");
        self.aead
            .decrypt(&Nonce::from(nonce), ct)
            .map_err(|_| anyhow::anyhow!("sealed value does not open with this key"))
    }
}

/// Lower-case hex of `b`.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// 32 random bytes as 64 hex digits: a fresh sandbox token.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    to_hex(&bytes)
}

/// The bytes of a hex string; `None` unless it is whole hex digit pairs.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cipher::load_or_create(None, dir.path()).unwrap();
        let stored = c.encrypt("sk-live-abc");
        assert!(!stored.contains("sk-live"));
        assert_ne!(stored, c.encrypt("sk-live-abc"), "fresh nonce each time");
        assert_eq!(c.decrypt(&stored).unwrap().expose(), "sk-live-abc");
        // The key file persists: a second load decrypts the same value.
        let again = Cipher::load_or_create(None, dir.path()).unwrap();
        assert_eq!(again.decrypt(&stored).unwrap().expose(), "sk-live-abc");
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn tampering_and_wrong_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cipher::load_or_create(None, dir.path()).unwrap();
        let mut stored = c.encrypt("x").into_bytes();
        let last = stored.len() - 1;
        stored[last] = if stored[last] == b'0' { b'1' } else { b'0' };
        assert!(c.decrypt(std::str::from_utf8(&stored).unwrap()).is_err());
        let other =
            Cipher::load_or_create(Some(&Secret::new("11".repeat(32))), dir.path()).unwrap();
        assert!(other.decrypt(&c.encrypt("x")).is_err());
        assert!(Cipher::load_or_create(Some(&Secret::new("zz")), dir.path()).is_err());
    }
}
