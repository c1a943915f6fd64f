//! Web Push: the browsers each user turned notifications on in, and the deployment's
//! VAPID key pair (one row, shared by every server on the database).

use jiff::Timestamp;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{OrganizationId, UserId};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbTime, Result, Store, StoreError, on_pool, reading};

/// How many browsers one user may have subscribed; subscribing another drops the oldest,
/// so a send reads a bounded list.
pub const PUSH_SUBSCRIPTIONS_PER_USER: i64 = 10;

/// One browser's push subscription (RFC 8030 push resource plus RFC 8291 keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: Uuid,
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    pub auth: String,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub last_success_at: Option<Timestamp>,
}

/// A subscription to save for `user_id` (replacing whatever held the same endpoint).
#[derive(Clone, Debug)]
pub struct NewPushSubscription {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub user_agent: Option<String>,
}

/// The VAPID key pair, both halves base64url (the private key as its 32-byte scalar,
/// the public key as the 65-byte uncompressed point).
#[derive(Clone, PartialEq, Eq)]
pub struct VapidKeys {
    pub private_key: String,
    pub public_key: String,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys")
            .field("private_key", &"<redacted>")
            .field("public_key", &self.public_key)
            .finish()
    }
}

#[derive(sqlx::FromRow)]
struct PushSubscriptionRow {
    id: Uuid,
    user_id: Uuid,
    organization_id: Uuid,
    endpoint: String,
    p256dh: String,
    auth: String,
    user_agent: Option<String>,
    created_at: DbTime,
    last_success_at: Option<DbTime>,
}

impl From<PushSubscriptionRow> for PushSubscription {
    fn from(row: PushSubscriptionRow) -> Self {
        PushSubscription {
            id: row.id,
            user_id: UserId::from_uuid(row.user_id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            endpoint: row.endpoint,
            p256dh: row.p256dh,
            auth: row.auth,
            user_agent: row.user_agent,
            created_at: row.created_at.0,
            last_success_at: row.last_success_at.map(|at| at.0),
        }
    }
}

impl Store {
    /// Saves a subscription with its audit event. The same endpoint again keeps its id and
    /// takes the new keys and owner. Returns the id and whether it is new.
    pub async fn save_push_subscription(
        &self,
        subscription: &NewPushSubscription,
        audit: impl FnOnce(Uuid) -> AuditEntry,
    ) -> Result<(Uuid, bool)> {
        let candidate = Uuid::now_v7();
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id: Uuid = sqlx::query_scalar(
                "INSERT INTO push_subscriptions \
                 (id, user_id, organization_id, endpoint, p256dh, auth, user_agent, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, \
                 organization_id = excluded.organization_id, p256dh = excluded.p256dh, \
                 auth = excluded.auth, user_agent = excluded.user_agent \
                 RETURNING id",
            )
            .bind(candidate)
            .bind(subscription.user_id.as_uuid())
            .bind(subscription.organization_id.as_uuid())
            .bind(&subscription.endpoint)
            .bind(&subscription.p256dh)
            .bind(&subscription.auth)
            .bind(&subscription.user_agent)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            // Keep the newest few per user.
            sqlx::query(
                "DELETE FROM push_subscriptions WHERE user_id = $1 AND id NOT IN \
                 (SELECT id FROM push_subscriptions WHERE user_id = $1 \
                  ORDER BY created_at DESC, id DESC LIMIT $2)",
            )
            .bind(subscription.user_id.as_uuid())
            .bind(PUSH_SUBSCRIPTIONS_PER_USER)
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
            Ok((id, id == candidate))
        })
    }

    /// Deletes `user`'s subscription at `endpoint`, with its audit event; `NotFound` when
    /// the user has none there.
    pub async fn delete_push_subscription(
        &self,
        user: UserId,
        endpoint: &str,
        audit: impl FnOnce(Uuid) -> AuditEntry,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id: Option<Uuid> = sqlx::query_scalar(
                "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2 RETURNING id",
            )
            .bind(endpoint)
            .bind(user.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else {
                return Err(StoreError::NotFound("push subscription"));
            };
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user's subscriptions, newest first (at most [`PUSH_SUBSCRIPTIONS_PER_USER`]).
    pub async fn push_subscriptions_for_user(&self, user: UserId) -> Result<Vec<PushSubscription>> {
        on_pool!(self, pool => {
            let rows: Vec<PushSubscriptionRow> = sqlx::query_as(
                "SELECT id, user_id, organization_id, endpoint, p256dh, auth, user_agent, \
                 created_at, last_success_at FROM push_subscriptions WHERE user_id = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT $2",
            )
            .bind(user.as_uuid())
            .bind(PUSH_SUBSCRIPTIONS_PER_USER)
            .fetch_all(pool)
            .await
            .map_err(reading("push_subscriptions"))?;
            Ok(rows.into_iter().map(PushSubscription::from).collect())
        })
    }

    /// Forgets a subscription the push service says is gone (404/410).
    pub async fn remove_gone_push_subscription(&self, id: Uuid) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records that the push service accepted a message for this subscription.
    pub async fn mark_push_delivered(&self, id: Uuid) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE push_subscriptions SET last_success_at = $1 WHERE id = $2")
                .bind(DbTime::now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The deployment's VAPID keys, if generated yet.
    pub async fn vapid_keys(&self) -> Result<Option<VapidKeys>> {
        on_pool!(self, pool => {
            let row: Option<(String, String)> =
                sqlx::query_as("SELECT private_key, public_key FROM vapid_keys WHERE id = 1")
                    .fetch_optional(pool)
                    .await
                    .map_err(reading("vapid_keys"))?;
            Ok(row.map(|(private_key, public_key)| VapidKeys { private_key, public_key }))
        })
    }

    /// Stores `candidate` unless another server stored its own first, and returns the
    /// pair that is stored: every server then signs with the same key.
    pub async fn vapid_keys_or_insert(&self, candidate: &VapidKeys) -> Result<VapidKeys> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO vapid_keys (id, private_key, public_key, created_at) \
                 VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&candidate.private_key)
            .bind(&candidate.public_key)
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.vapid_keys()
            .await?
            .ok_or(StoreError::NotFound("VAPID key pair"))
    }
}
