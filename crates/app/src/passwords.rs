//! Password hashing with argon2id (OWASP's first recommendation), off the async runtime.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use speciosa_core::account::NewPassword;

/// A PHC-format argon2id hash with a random salt.
pub fn hash_password(password: &NewPassword) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)?
        .to_string())
}

pub async fn hash_password_blocking(
    password: NewPassword,
) -> Result<String, argon2::password_hash::Error> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .unwrap_or(Err(argon2::password_hash::Error::Crypto))
}

/// Checks `password` against `stored`. With no stored hash (unknown email) it
/// still does the same work, so response time does not reveal which emails exist.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let target = stored.as_deref().unwrap_or(DUMMY_HASH.as_str());
        let Ok(parsed) = PasswordHash::new(target) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        matches && stored.is_some()
    })
    .await
    .unwrap_or(false)
}

/// argon2id of a random password nobody knows, made once, with the same parameters.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    NewPassword::parse(SaltString::generate(&mut OsRng).as_str())
        .ok()
        .and_then(|unknowable| hash_password(&unknowable).ok())
        .unwrap_or_default()
});
