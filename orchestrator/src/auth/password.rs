//! Passwords: argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane — OWASP's
//! recommended minimum), a random 16-byte salt, stored as a PHC string. Hashing runs on the
//! blocking pool. A sign-in for an unknown email still verifies against a dummy hash, so its
//! timing does not tell whether the email exists; the comparison inside `argon2` is
//! constant-time.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

use crate::error::{ApiError, ApiResult};

/// Shortest password accepted.
pub const MIN_LEN: usize = 10;
/// Longest password accepted (hashing cost grows with it).
pub const MAX_LEN: usize = 256;

/// `422` unless the password is `MIN_LEN` to `MAX_LEN` characters.
pub fn check_strength(password: &str) -> ApiResult<()> {
    let n = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&n) {
        return Err(ApiError::validation(format!(
            "password must be {MIN_LEN} to {MAX_LEN} characters"
        )));
    }
    Ok(())
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// Hash a password for storage.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

/// What unknown emails are checked against, so they take as long as known ones.
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash_now("not a password anyone has").expect("argon2 works"));

/// Whether `password` matches `stored` (`None`: no password set, or no such account — still
/// costs one verification).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY.clone());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let t = std::time::Instant::now();
        let a = hash("correct horse battery".into()).await.unwrap();
        println!("argon2id hash: {:?}", t.elapsed());
        let b = hash("correct horse battery".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(!a.contains("correct horse"));
        assert!(verify("correct horse battery".into(), Some(a.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(a)).await);
        assert!(!verify("not a password anyone has".into(), None).await);
    }

    #[test]
    fn length_is_checked() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough!").is_ok());
        assert!(check_strength(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}
