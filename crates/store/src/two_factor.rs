//! Two-factor sign-in state: each user's TOTP secret (pending until confirmed with a
//! code), the last time step accepted, one-time recovery codes (hashed), and the
//! short-lived challenges that carry a page sign-in from its password to its code.

use jiff::SignedDuration;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::UserId;
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbTime, Result, Store, StoreError, on_pool};

impl Store {
    /// Keeps `secret` as the user's enrolment in progress; refused (`Conflict`) when
    /// two-factor sign-in is already on.
    pub async fn set_pending_totp_secret(&self, user: UserId, secret: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE users SET totp_pending_secret = $1 WHERE id = $2 AND totp_secret IS NULL",
            )
            .bind(secret)
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::Conflict("two-factor sign-in is already on".into()));
            }
        });
        Ok(())
    }

    pub async fn pending_totp_secret(&self, user: UserId) -> Result<Option<String>> {
        on_pool!(self, pool => {
            let secret: Option<Option<String>> = sqlx::query_scalar(
                "SELECT totp_pending_secret FROM users WHERE id = $1 AND totp_secret IS NULL",
            )
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?;
            Ok(secret.flatten())
        })
    }

    /// Turns two-factor sign-in on with the pending `secret` (as confirmed by a code of
    /// `step`), replaces the recovery codes, and records it, together. `Conflict` when
    /// the pending secret changed or two-factor sign-in is already on.
    pub async fn activate_totp(
        &self,
        user: UserId,
        secret: &str,
        step: i64,
        recovery_code_hashes: &[String],
        audit: AuditEntry,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, totp_last_step = $1 \
                 WHERE id = $2 AND totp_secret IS NULL AND totp_pending_secret = $3",
            )
            .bind(step)
            .bind(user.as_uuid())
            .bind(secret)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::Conflict(
                    "this enrolment is no longer current; start again".into(),
                ));
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.as_uuid()).execute(&mut *tx).await?;
            for hash in recovery_code_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user.as_uuid())
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Turns two-factor sign-in off and discards the secret and recovery codes, together
    /// with the audit record.
    pub async fn disable_totp(&self, user: UserId, audit: AuditEntry) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = NULL WHERE id = $1",
            )
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.as_uuid()).execute(&mut *tx).await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Marks TOTP step `step` as used; `false` when it (or a later one) already was,
    /// so of two requests with the same code only one succeeds.
    pub async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE users SET totp_last_step = $1 \
                 WHERE id = $2 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $1)",
            )
            .bind(step)
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(updated.rows_affected() == 1)
        })
    }

    /// Uses up the recovery code with `code_hash`; `false` when there is none unused.
    pub async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            )
            .bind(DbTime::now())
            .bind(user.as_uuid())
            .bind(code_hash)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(updated.rows_affected() == 1)
        })
    }

    pub async fn unused_recovery_codes(&self, user: UserId) -> Result<i64> {
        on_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                .bind(user.as_uuid())
                .fetch_one(pool)
                .await?)
        })
    }

    /// Remembers that `user`'s password was right, for `lifetime`, under `token_hash`;
    /// sweeps challenges that have run out.
    pub async fn create_sign_in_challenge(
        &self,
        token_hash: &str,
        user: UserId,
        lifetime: SignedDuration,
    ) -> Result<()> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM sign_in_challenges WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO sign_in_challenges (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(user.as_uuid())
            .bind(now)
            .bind(DbTime::from(now.0 + lifetime))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user a live challenge belongs to.
    pub async fn sign_in_challenge(&self, token_hash: &str) -> Result<Option<UserId>> {
        on_pool!(self, pool => {
            let user: Option<Uuid> = sqlx::query_scalar(
                "SELECT user_id FROM sign_in_challenges WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(DbTime::now())
            .fetch_optional(pool)
            .await?;
            Ok(user.map(UserId::from_uuid))
        })
    }

    pub async fn delete_sign_in_challenge(&self, token_hash: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM sign_in_challenges WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
