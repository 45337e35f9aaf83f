//! Room passwords: Argon2id hashing and verification.
//!
//! Hashing is deliberately slow, so both operations run on the blocking pool, at most a
//! few at a time (an unauthenticated caller must not be able to pin every core), and a
//! room remembers the last password that verified so that inference requests presenting
//! it as their API key do not pay for Argon2 each time.

use std::sync::{Mutex, PoisonError};

use argon2::password_hash::SaltString;
use argon2::password_hash::rand_core::OsRng;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// Most password hashes computed at once, hub-wide.
pub(crate) const MAX_CONCURRENT_HASHES: usize = 2;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Argon2 refused the input or its parameters.
    #[error("Argon2 failed: {0}")]
    Argon2(String),
    /// The hashing task panicked or was cancelled.
    #[error("the hashing task failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// The pool is closed (the hub is shutting down).
    #[error("the hashing pool is closed")]
    PoolClosed,
}

/// Hashes and verifies passwords without blocking the async threads.
#[derive(Debug)]
pub(crate) struct PasswordHasherPool {
    permits: Semaphore,
}

impl Default for PasswordHasherPool {
    fn default() -> Self {
        Self {
            permits: Semaphore::new(MAX_CONCURRENT_HASHES),
        }
    }
}

impl PasswordHasherPool {
    /// The Argon2id PHC string of `password`.
    pub(crate) async fn hash(&self, password: String) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::PoolClosed)?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|error| HashError::Argon2(error.to_string()))
        })
        .await?
    }

    /// Whether `password` matches the PHC string `hash`.
    pub(crate) async fn verify(&self, password: String, hash: String) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false)
    }
}

/// The last password that verified for one room, kept to skip Argon2 on repeat.
#[derive(Default)]
pub(crate) struct VerifiedPassword {
    last: Mutex<Option<String>>,
}

impl std::fmt::Debug for VerifiedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifiedPassword([redacted])")
    }
}

impl VerifiedPassword {
    /// Whether `password` is the one that verified last.
    pub(crate) fn matches(&self, password: &str) -> bool {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_deref()
            .is_some_and(|known| constant_time_eq(known.as_bytes(), password.as_bytes()))
    }

    /// Remembers a password that just verified.
    pub(crate) fn remember(&self, password: &str) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(password.to_owned());
    }
}

/// Compares without an early exit, so timing does not reveal the matching prefix.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let pool = PasswordHasherPool::default();
        let hash = pool.hash("hunter2".into()).await.expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(pool.verify("hunter2".into(), hash.clone()).await);
        assert!(!pool.verify("hunter3".into(), hash).await);
        assert!(!pool.verify("x".into(), "not a hash".into()).await);
    }

    #[test]
    fn verified_cache_and_constant_time_eq() {
        let cache = VerifiedPassword::default();
        assert!(!cache.matches("a"));
        cache.remember("secret");
        assert!(cache.matches("secret"));
        assert!(!cache.matches("secreT"));
        assert!(!format!("{cache:?}").contains("secret"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
