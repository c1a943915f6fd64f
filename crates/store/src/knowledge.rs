//! A clinic's own lexicon entries and interaction rows (`knowledge_overrides`), kept beside
//! the shipped files. Saving a key again reverts the current row and adds the new one;
//! reverting keeps the row, so the history stays.

use jiff::Timestamp;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{OrganizationId, UserId};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbTime, Result, Store, StoreError, on_pool, reading};

#[derive(Clone, Debug, PartialEq)]
pub struct KnowledgeOverride {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    /// `lexicon`, `interaction` or `legal`.
    pub kind: String,
    /// The ingredient or the row id it adds or replaces.
    pub key: String,
    /// The entry or row as JSON.
    pub body: String,
    pub reason: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub reverted_by: Option<UserId>,
    pub reverted_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct OverrideRow {
    id: Uuid,
    organization_id: Uuid,
    kind: String,
    key: String,
    body: String,
    reason: String,
    created_by: Uuid,
    created_at: DbTime,
    reverted_by: Option<Uuid>,
    reverted_at: Option<DbTime>,
}

impl From<OverrideRow> for KnowledgeOverride {
    fn from(row: OverrideRow) -> Self {
        KnowledgeOverride {
            id: row.id,
            organization_id: OrganizationId::from_uuid(row.organization_id),
            kind: row.kind,
            key: row.key,
            body: row.body,
            reason: row.reason,
            created_by: UserId::from_uuid(row.created_by),
            created_at: row.created_at.0,
            reverted_by: row.reverted_by.map(UserId::from_uuid),
            reverted_at: row.reverted_at.map(|t| t.0),
        }
    }
}

const COLUMNS: &str = "id, organization_id, kind, key, body, reason, created_by, created_at, reverted_by, reverted_at";

/// How many past overrides the admin page lists.
pub const OVERRIDE_HISTORY_LIMIT: i64 = 200;

impl Store {
    /// The organization's overrides in force, by kind and key.
    pub async fn current_knowledge_overrides(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<KnowledgeOverride>> {
        on_pool!(self, pool => {
            let rows: Vec<OverrideRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM knowledge_overrides WHERE organization_id = $1 \
                 AND reverted_at IS NULL ORDER BY kind, key"
            )))
            .bind(organization.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("knowledge_overrides"))?;
            Ok(rows.into_iter().map(KnowledgeOverride::from).collect())
        })
    }

    /// The organization's reverted overrides, newest first (at most [`OVERRIDE_HISTORY_LIMIT`]).
    pub async fn reverted_knowledge_overrides(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<KnowledgeOverride>> {
        on_pool!(self, pool => {
            let rows: Vec<OverrideRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM knowledge_overrides WHERE organization_id = $1 \
                 AND reverted_at IS NOT NULL ORDER BY reverted_at DESC, id LIMIT $2"
            )))
            .bind(organization.as_uuid())
            .bind(OVERRIDE_HISTORY_LIMIT)
            .fetch_all(pool)
            .await
            .map_err(reading("knowledge_overrides"))?;
            Ok(rows.into_iter().map(KnowledgeOverride::from).collect())
        })
    }

    /// Puts an override in force for `(kind, key)`, reverting the one it replaces.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_knowledge_override(
        &self,
        organization: OrganizationId,
        kind: &str,
        key: &str,
        body: &str,
        reason: &str,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<()> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE knowledge_overrides SET reverted_at = $1, reverted_by = $2 \
                 WHERE organization_id = $3 AND kind = $4 AND key = $5 AND reverted_at IS NULL",
            )
            .bind(now)
            .bind(by.as_uuid())
            .bind(organization.as_uuid())
            .bind(kind)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO knowledge_overrides (id, organization_id, kind, key, body, reason, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(Uuid::now_v7())
            .bind(organization.as_uuid())
            .bind(kind)
            .bind(key)
            .bind(body)
            .bind(reason)
            .bind(by.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Reverts the override in force for `(kind, key)`: the shipped version applies again.
    pub async fn revert_knowledge_override(
        &self,
        organization: OrganizationId,
        kind: &str,
        key: &str,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE knowledge_overrides SET reverted_at = $1, reverted_by = $2 \
                 WHERE organization_id = $3 AND kind = $4 AND key = $5 AND reverted_at IS NULL",
            )
            .bind(DbTime::now())
            .bind(by.as_uuid())
            .bind(organization.as_uuid())
            .bind(kind)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("knowledge override"));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
