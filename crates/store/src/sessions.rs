//! Server-side sessions and sign-in throttling. Both live in the database so that
//! several app servers can share them and a restart signs nobody out.

use jiff::{SignedDuration, Timestamp};
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{PatientId, UserId};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::users::{USER_COLUMNS, UserRow};
use crate::{Backend, BeginWrite, DbTime, Result, Store, User, on_pool};

/// A live session with the user it belongs to.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub token_hash: String,
    pub user: User,
    pub own_patient_id: Option<PatientId>,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub idle_timeout: SignedDuration,
    /// The session ends at this instant however busy it is.
    pub absolute_expires_at: Timestamp,
}

/// How long a session lasts: `idle` after its last request, and `lifetime` after
/// sign-in at most, whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle: SignedDuration,
    pub lifetime: SignedDuration,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: String,
    csrf_token: String,
    session_created_at: DbTime,
    last_seen_at: DbTime,
    idle_timeout_seconds: i64,
    absolute_expires_at: DbTime,
    patient_id: Option<Uuid>,
    #[sqlx(flatten)]
    user: UserRow,
}

/// A throttling slot taken for one sign-in attempt (a row in `login_failures`
/// that counts as a failure until the attempt succeeds or gives it back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInAttempt(i64);

/// Idle expiry counts from the last request to within this much. Touching the session
/// on every request would turn every read into a write; a few seconds' slack costs
/// nothing, and short timeouts (tests) get a tenth of themselves so busy sessions live.
fn touch_interval(idle_timeout: SignedDuration) -> SignedDuration {
    (idle_timeout / 10).min(SignedDuration::from_secs(5))
}

impl Store {
    /// Starts a session and records the sign-in in the same transaction.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: UserId,
        csrf_token: &str,
        limits: SessionLimits,
        client_addr: Option<&str>,
        audit: AuditEntry,
    ) -> Result<()> {
        let now = DbTime::now();
        let absolute = DbTime::from(now.0 + limits.lifetime);
        let expires = DbTime::from(now.0 + limits.idle).min(absolute);
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, \
                 idle_timeout_seconds, expires_at, absolute_expires_at, client_addr) \
                 VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)",
            )
            .bind(token_hash)
            .bind(user_id.as_uuid())
            .bind(csrf_token)
            .bind(now)
            .bind(limits.idle.as_secs())
            .bind(expires)
            .bind(absolute)
            .bind(client_addr)
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The session for `token_hash` if it exists, has neither idled out nor reached its
    /// absolute deadline, and its user is still active; extends its idle deadline (never
    /// past the absolute one) when the last recorded request is a few seconds old.
    pub async fn load_session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT s.token_hash, s.csrf_token, s.created_at AS session_created_at, s.last_seen_at, \
                 s.idle_timeout_seconds, s.absolute_expires_at, p.id AS patient_id, {USER_COLUMNS} \
                 FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN patients p ON p.user_id = u.id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.absolute_expires_at > $2 AND u.active"
            )))
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let idle_timeout = SignedDuration::from_secs(row.idle_timeout_seconds);
            let touch_before = DbTime::from(now.0 - touch_interval(idle_timeout));
            if row.last_seen_at < touch_before {
                // The guard keeps concurrent requests of one session from all writing.
                let expires = DbTime::from(now.0 + idle_timeout).min(row.absolute_expires_at);
                let mut tx = pool.begin_write().await?;
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $1, expires_at = $2 \
                     WHERE token_hash = $3 AND last_seen_at < $4",
                )
                .bind(now)
                .bind(expires)
                .bind(token_hash)
                .bind(touch_before)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Ok(Some(SessionRecord {
                token_hash: row.token_hash,
                user: User::try_from(row.user)?,
                own_patient_id: row.patient_id.map(PatientId::from_uuid),
                csrf_token: row.csrf_token,
                created_at: row.session_created_at.0,
                last_seen_at: row.last_seen_at.0,
                idle_timeout,
                absolute_expires_at: row.absolute_expires_at.0,
            }))
        })
    }

    /// Ends a session server-side (the cookie alone is then worthless) and records it.
    pub async fn delete_session(&self, token_hash: &str, audit: AuditEntry) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes ended sessions (idle or absolute deadline passed) and sign-in failures older than `keep_failures`.
    pub async fn sweep_expired(&self, keep_failures: SignedDuration) -> Result<u64> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
                .bind(DbTime::from(now.0 - keep_failures))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(sessions.rows_affected())
        })
    }

    /// Takes a throttling slot for one sign-in attempt before anything is checked,
    /// or `None` when `email` already has `max_for_account` attempts (or the address
    /// `max_from_address`) within `window`. Counting and taking happen atomically, so
    /// however many attempts arrive at once, no more than the limit are let through.
    /// The slot stays as a failure unless the attempt succeeds (see
    /// [`Store::clear_sign_in_failures`]) or is given back ([`Store::release_sign_in_attempt`]).
    pub async fn reserve_sign_in_attempt(
        &self,
        email: &str,
        client_addr: &str,
        window: SignedDuration,
        max_for_account: i64,
        max_from_address: i64,
    ) -> Result<Option<SignInAttempt>> {
        let now = DbTime::now();
        let since = DbTime::from(now.0 - window);
        // One statement counts and inserts; what makes it atomic differs per backend.
        const RESERVE: &str = "INSERT INTO login_failures (email, client_addr, failed_at) \
             SELECT $1, $2, $3 \
             WHERE (SELECT COUNT(*) FROM login_failures WHERE email = $1 AND failed_at > $4) < $5 \
               AND (SELECT COUNT(*) FROM login_failures WHERE client_addr = $2 AND failed_at > $4) < $6 \
             RETURNING id";
        let id: Option<i64> = match &self.backend {
            // BEGIN IMMEDIATE: one writer at a time, so nobody inserts between count and insert.
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let id = sqlx::query_scalar(RESERVE)
                    .bind(email)
                    .bind(client_addr)
                    .bind(now)
                    .bind(since)
                    .bind(max_for_account)
                    .bind(max_from_address)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                id
            }
            // Under READ COMMITTED two transactions could both count four; transaction-scoped
            // advisory locks on the account and the address (always in that order, in two
            // key spaces, so no two attempts wait on each other in a cycle) serialize them,
            // and the insert's statement snapshot sees every earlier holder's committed row.
            Backend::Postgres(pool) => {
                let mut tx = pool.begin_write().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))")
                    .bind(email)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("SELECT pg_advisory_xact_lock(2, hashtext($1))")
                    .bind(client_addr)
                    .execute(&mut *tx)
                    .await?;
                let id = sqlx::query_scalar(RESERVE)
                    .bind(email)
                    .bind(client_addr)
                    .bind(now)
                    .bind(since)
                    .bind(max_for_account)
                    .bind(max_from_address)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                id
            }
        };
        Ok(id.map(SignInAttempt))
    }

    /// Gives a slot back: the attempt neither failed nor signed anyone in (the password
    /// was right and the second factor is still to come).
    pub async fn release_sign_in_attempt(&self, attempt: SignInAttempt) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(attempt.0).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// A successful sign-in forgives the account's earlier failures, and its own slot.
    pub async fn clear_sign_in_failures(&self, email: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM login_failures WHERE email = $1").bind(email).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
