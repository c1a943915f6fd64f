//! The hash-chained audit log. Appends serialize on the chain head row, which both
//! hands out the next id and holds the previous hash.

use jiff::Timestamp;
use speciosa_core::audit::{AuditEntry, AuditEvent, ChainBreak, ChainVerifier};
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use sqlx::{Postgres, QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::{BeginWrite, DbTime, Result, Store, StoreError, WriteTx, on_pool};

const COLUMNS: &str = "id, occurred_at, actor_user_id, actor_role, organization_id, action, resource_type, \
                       resource_id, patient_id, outcome, client_addr, detail, prev_hash, hash";

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    occurred_at: DbTime,
    actor_user_id: Option<Uuid>,
    actor_role: Option<String>,
    organization_id: Option<Uuid>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    patient_id: Option<Uuid>,
    outcome: String,
    client_addr: Option<String>,
    detail: Option<String>,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        AuditEvent {
            id: row.id,
            occurred_at: row.occurred_at.0,
            actor_user_id: row.actor_user_id.map(UserId::from_uuid),
            actor_role: row.actor_role,
            organization_id: row.organization_id.map(OrganizationId::from_uuid),
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            patient_id: row.patient_id.map(PatientId::from_uuid),
            outcome: row.outcome,
            client_addr: row.client_addr,
            detail: row.detail,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// Appending inside a caller's transaction, so a write and its audit event commit
/// or roll back together.
pub(crate) trait AppendAudit {
    async fn append_audit(&mut self, entry: AuditEntry) -> Result<AuditEvent>;
}

macro_rules! impl_append_audit {
    ($($db:ty),+) => {$(
        impl AppendAudit for WriteTx<$db> {
            async fn append_audit(&mut self, entry: AuditEntry) -> Result<AuditEvent> {
                // Taking the next id locks the head row until commit: appends serialize here.
                let (id, prev_hash): (i64, String) = sqlx::query_as(
                    "UPDATE audit_chain_head SET last_id = last_id + 1 WHERE singleton = 1 \
                     RETURNING last_id, last_hash",
                )
                .fetch_one(&mut **self)
                .await?;
                let event = AuditEvent::seal(entry, id, Timestamp::now(), prev_hash);
                sqlx::query(
                    "INSERT INTO audit_events (id, occurred_at, actor_user_id, actor_role, organization_id, \
                     action, resource_type, resource_id, patient_id, outcome, client_addr, detail, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(event.id)
                .bind(DbTime(event.occurred_at))
                .bind(event.actor_user_id.map(|id| id.as_uuid()))
                .bind(&event.actor_role)
                .bind(event.organization_id.map(|id| id.as_uuid()))
                .bind(&event.action)
                .bind(&event.resource_type)
                .bind(&event.resource_id)
                .bind(event.patient_id.map(|id| id.as_uuid()))
                .bind(&event.outcome)
                .bind(&event.client_addr)
                .bind(&event.detail)
                .bind(&event.prev_hash)
                .bind(&event.hash)
                .execute(&mut **self)
                .await?;
                sqlx::query("UPDATE audit_chain_head SET last_hash = $1 WHERE singleton = 1")
                    .bind(&event.hash)
                    .execute(&mut **self)
                    .await?;
                Ok(event)
            }
        }
    )+};
}
impl_append_audit!(Sqlite, Postgres);

/// Which events an admin is browsing. Results come newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub organization_id: Option<OrganizationId>,
    /// Exact action (`patient.read`) or a prefix ending in `.` (`patient.`).
    pub action: Option<String>,
    pub actor_user_id: Option<UserId>,
    pub patient_id: Option<PatientId>,
    pub outcome: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Keyset pagination: only events older than this id.
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// The result of checking the whole chain.
#[derive(Debug)]
pub enum AuditVerification {
    Intact { events: u64 },
    Broken(ChainBreak),
}

impl Store {
    /// Records an event on its own (for reads, sign-ins and refusals).
    pub async fn append_audit(&self, entry: AuditEntry) -> Result<AuditEvent> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let event = tx.append_audit(entry).await?;
            tx.commit().await?;
            Ok(event)
        })
    }

    pub async fn list_audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        on_pool!(self, pool => {
            let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1"));
            if let Some(org) = filter.organization_id {
                query.push(" AND organization_id = ").push_bind(org.as_uuid());
            }
            match filter.action.as_deref() {
                Some(prefix) if prefix.ends_with('.') => {
                    // length() is int4 in PostgreSQL, as substr() wants; a bound i64 would not be.
                    query.push(" AND substr(action, 1, length(").push_bind(prefix.to_owned())
                        .push(")) = ").push_bind(prefix.to_owned());
                }
                Some(action) => {
                    query.push(" AND action = ").push_bind(action.to_owned());
                }
                None => {}
            }
            if let Some(actor) = filter.actor_user_id {
                query.push(" AND actor_user_id = ").push_bind(actor.as_uuid());
            }
            if let Some(patient) = filter.patient_id {
                query.push(" AND patient_id = ").push_bind(patient.as_uuid());
            }
            if let Some(outcome) = &filter.outcome {
                query.push(" AND outcome = ").push_bind(outcome.clone());
            }
            if let Some(since) = filter.since {
                query.push(" AND occurred_at >= ").push_bind(DbTime::from(since));
            }
            if let Some(until) = filter.until {
                query.push(" AND occurred_at < ").push_bind(DbTime::from(until));
            }
            if let Some(before) = filter.before_id {
                query.push(" AND id < ").push_bind(before);
            }
            query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit.clamp(1, 1000)));
            let rows: Vec<AuditRow> = query.build_query_as().fetch_all(pool).await?;
            Ok(rows.into_iter().map(AuditEvent::from).collect())
        })
    }

    /// Walks the whole chain in id order, a page at a time.
    pub async fn verify_audit_chain(&self) -> Result<AuditVerification> {
        const PAGE: i64 = 2000;
        on_pool!(self, pool => {
            // The head is read first; events appended meanwhile lie beyond it and are left for next time.
            let (head_id, head_hash): (i64, String) =
                sqlx::query_as("SELECT last_id, last_hash FROM audit_chain_head WHERE singleton = 1")
                    .fetch_optional(pool)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("the audit chain head row is missing".into()))?;
            let mut verifier = ChainVerifier::new();
            let mut after = 0_i64;
            loop {
                let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM audit_events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"
                )))
                .bind(after)
                .bind(head_id)
                .bind(PAGE)
                .fetch_all(pool)
                .await?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for row in rows {
                    if let Err(broken) = verifier.check(&AuditEvent::from(row)) {
                        return Ok(AuditVerification::Broken(broken));
                    }
                }
            }
            Ok(match verifier.finish(head_id, &head_hash) {
                Ok(events) => AuditVerification::Intact { events },
                Err(broken) => AuditVerification::Broken(broken),
            })
        })
    }
}
