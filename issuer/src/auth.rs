//! API tokens: the roles a token can have, and making a token (`hrt_<id>.<secret>`, shown once, stored as the
//! SHA-256 of its secret).

use sha2::{Digest, Sha256};

use crate::storage::{Database, StoredToken};

pub use crate::role::{Role, UnknownRole, ROLES};

/// Create an API token for `province` with `role`, audited as made by the CLI; returns the token to hand over
/// (shown once: only the SHA-256 of its secret is stored).
pub async fn create_token(db: &Database, role: Role, province: &str, now: i64) -> Result<String, crate::Error> {
    use ring::rand::SecureRandom;
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    let rng = ring::rand::SystemRandom::new();
    rng.fill(&mut id).and_then(|()| rng.fill(&mut secret)).map_err(|_| crate::Error::Random)?;
    let (id, secret) = (huren_keys::hex(&id), huren_keys::hex(&secret));
    let token = StoredToken {
        id: id.clone(),
        secret_hash: secret_hash(&secret),
        role,
        province: province.into(),
        created_at: now,
        revoked_at: None,
    };
    db.insert_token(&token, "cli").await?;
    Ok(format!("hrt_{id}.{secret}"))
}

/// What is stored of a token's secret.
pub(crate) fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}
