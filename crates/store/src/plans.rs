//! Plan versions. A draft is edited in place; signing freezes a version (its content and
//! the SHA-256 the clinician affirmed) and marks the version it replaces superseded, in
//! one transaction with its audit event. A patient has at most one signed version (a
//! partial unique index); drafts and older versions stay readable.

use jiff::Timestamp;
use jiff::civil::Date;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{OrganizationId, PatientId, PlanId, UserId};
use speciosa_core::plan::{PlanContent, PlanStatus};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbDate, DbTime, Result, Store, StoreError, on_pool, reading};

/// One stored version of a patient's plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanRecord {
    pub id: PlanId,
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub version: i64,
    pub status: PlanStatus,
    pub content: PlanContent,
    /// The canonical text exactly as stored (what the signature's digest covers).
    pub content_json: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_by: UserId,
    pub updated_at: Timestamp,
    pub signature: Option<PlanSignature>,
    pub start_gate_note: Option<String>,
    /// The signed version this one replaced when it was signed.
    pub supersedes: Option<PlanId>,
    pub superseded_at: Option<Timestamp>,
}

/// An electronic signature: who, when, what they affirmed, over which content.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSignature {
    pub signed_by: UserId,
    pub signed_at: Timestamp,
    pub statement: String,
    pub content_sha256: String,
}

/// What signing writes.
pub struct SignPlan<'a> {
    pub id: PlanId,
    pub by: UserId,
    pub statement: &'a str,
    pub content_sha256: &'a str,
    pub start_gate_note: Option<&'a str>,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    id: Uuid,
    organization_id: Uuid,
    patient_id: Uuid,
    version: i64,
    status: String,
    content: String,
    created_by: Uuid,
    created_at: DbTime,
    updated_by: Uuid,
    updated_at: DbTime,
    signed_by: Option<Uuid>,
    signed_at: Option<DbTime>,
    statement: Option<String>,
    content_sha256: Option<String>,
    start_gate_note: Option<String>,
    supersedes: Option<Uuid>,
    superseded_at: Option<DbTime>,
}

impl TryFrom<PlanRow> for PlanRecord {
    type Error = StoreError;

    fn try_from(row: PlanRow) -> Result<Self> {
        let status = PlanStatus::parse(&row.status).ok_or_else(|| {
            StoreError::Corrupt(format!("plan_versions.status holds {:?}", row.status))
        })?;
        let content: PlanContent = serde_json::from_str(&row.content)
            .map_err(|_| StoreError::Corrupt("plan_versions.content".into()))?;
        let signature = match (
            row.signed_by,
            row.signed_at,
            row.statement,
            row.content_sha256,
        ) {
            (Some(by), Some(at), Some(statement), Some(digest)) => Some(PlanSignature {
                signed_by: UserId::from_uuid(by),
                signed_at: at.0,
                statement,
                content_sha256: digest,
            }),
            _ => None,
        };
        Ok(PlanRecord {
            id: PlanId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            patient_id: PatientId::from_uuid(row.patient_id),
            version: row.version,
            status,
            content,
            content_json: row.content,
            created_by: UserId::from_uuid(row.created_by),
            created_at: row.created_at.0,
            updated_by: UserId::from_uuid(row.updated_by),
            updated_at: row.updated_at.0,
            signature,
            start_gate_note: row.start_gate_note,
            supersedes: row.supersedes.map(PlanId::from_uuid),
            superseded_at: row.superseded_at.map(|t| t.0),
        })
    }
}

const PLAN_COLUMNS: &str = "id, organization_id, patient_id, version, status, content, created_by, created_at, \
    updated_by, updated_at, signed_by, signed_at, statement, content_sha256, start_gate_note, supersedes, \
    superseded_at";

/// The most versions a history page lists (newest first).
pub const PLAN_HISTORY_LIMIT: i64 = 100;

fn start_date(content: &PlanContent) -> Date {
    content.schedule.generator.start_date
}

impl Store {
    /// Stores a new draft as the patient's next version number.
    pub async fn insert_plan_draft(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        content: &PlanContent,
        by: UserId,
        audit: impl FnOnce(PlanId, i64) -> AuditEntry,
    ) -> Result<PlanRecord> {
        let id = PlanId::new();
        let now = DbTime::now();
        let text = content.canonical_json();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (next,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM plan_versions WHERE patient_id = $1",
            )
            .bind(patient.as_uuid())
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO plan_versions (id, organization_id, patient_id, version, status, kind, start_date, \
                 content, created_by, created_at, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $8, $9)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(patient.as_uuid())
            .bind(next)
            .bind(content.kind.as_str())
            .bind(DbDate(start_date(content)))
            .bind(&text)
            .bind(by.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit(id, next)).await?;
            tx.commit().await?;
        });
        self.get_plan(id).await?.ok_or(StoreError::NotFound("plan"))
    }

    /// Replaces a draft's content. Refuses (Conflict) once it is no longer a draft.
    pub async fn update_plan_draft(
        &self,
        id: PlanId,
        content: &PlanContent,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<PlanRecord> {
        let text = content.canonical_json();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE plan_versions SET content = $1, kind = $2, start_date = $3, updated_by = $4, \
                 updated_at = $5 WHERE id = $6 AND status = 'draft'",
            )
            .bind(&text)
            .bind(content.kind.as_str())
            .bind(DbDate(start_date(content)))
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::Conflict("only a draft can be changed".into()));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_plan(id).await?.ok_or(StoreError::NotFound("plan"))
    }

    /// Throws a draft away (it stays on record as discarded).
    pub async fn discard_plan_draft(
        &self,
        id: PlanId,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<PlanRecord> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE plan_versions SET status = 'discarded', updated_by = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'draft'",
            )
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::Conflict("only a draft can be discarded".into()));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_plan(id).await?.ok_or(StoreError::NotFound("plan"))
    }

    /// Signs a draft whose stored content still has the digest the clinician affirmed,
    /// and supersedes the patient's active version, atomically. Conflict when the draft
    /// changed or was signed meanwhile.
    pub async fn sign_plan(&self, sign: SignPlan<'_>, audit: AuditEntry) -> Result<PlanRecord> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let row: Option<(Uuid, String, String)> = sqlx::query_as(
                "SELECT patient_id, status, content FROM plan_versions WHERE id = $1",
            )
            .bind(sign.id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
            let Some((patient, status, content)) = row else {
                return Err(StoreError::NotFound("plan"));
            };
            if status != "draft" {
                return Err(StoreError::Conflict("this version is not a draft".into()));
            }
            if speciosa_core::plan::content_digest(&content) != sign.content_sha256 {
                return Err(StoreError::Conflict(
                    "the draft changed while it was being signed: review it again".into(),
                ));
            }
            let active: Option<(Uuid,)> = sqlx::query_as(
                "SELECT id FROM plan_versions WHERE patient_id = $1 AND status = 'signed'",
            )
            .bind(patient)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((active,)) = active {
                sqlx::query(
                    "UPDATE plan_versions SET status = 'superseded', superseded_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(active)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE plan_versions SET status = 'signed', signed_by = $1, signed_at = $2, statement = $3, \
                 content_sha256 = $4, start_gate_note = $5, supersedes = $6, updated_by = $1, updated_at = $2 \
                 WHERE id = $7",
            )
            .bind(sign.by.as_uuid())
            .bind(now)
            .bind(sign.statement)
            .bind(sign.content_sha256)
            .bind(sign.start_gate_note)
            .bind(active.map(|(id,)| id))
            .bind(sign.id.as_uuid())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_plan(sign.id)
            .await?
            .ok_or(StoreError::NotFound("plan"))
    }

    pub async fn get_plan(&self, id: PlanId) -> Result<Option<PlanRecord>> {
        on_pool!(self, pool => {
            let row: Option<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PLAN_COLUMNS} FROM plan_versions WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("plan_versions"))?;
            row.map(PlanRecord::try_from).transpose()
        })
    }

    /// The patient's signed, active version.
    pub async fn active_plan(&self, patient: PatientId) -> Result<Option<PlanRecord>> {
        on_pool!(self, pool => {
            let row: Option<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PLAN_COLUMNS} FROM plan_versions WHERE patient_id = $1 AND status = 'signed'"
            )))
            .bind(patient.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("plan_versions"))?;
            row.map(PlanRecord::try_from).transpose()
        })
    }

    /// The patient's versions, newest first (at most [`PLAN_HISTORY_LIMIT`]); drafts and
    /// discarded ones only when `with_drafts`.
    pub async fn list_plans(
        &self,
        patient: PatientId,
        with_drafts: bool,
    ) -> Result<Vec<PlanRecord>> {
        let filter = if with_drafts {
            ""
        } else {
            " AND status IN ('signed', 'superseded')"
        };
        on_pool!(self, pool => {
            let rows: Vec<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PLAN_COLUMNS} FROM plan_versions WHERE patient_id = $1{filter} \
                 ORDER BY version DESC LIMIT {PLAN_HISTORY_LIMIT}"
            )))
            .bind(patient.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("plan_versions"))?;
            rows.into_iter().map(PlanRecord::try_from).collect()
        })
    }

    /// The versions that were ever signed and could be in force on a day in
    /// `from..=to`: those starting by `to`, newest signature first (bounded).
    pub async fn signed_plans_starting_by(
        &self,
        patient: PatientId,
        to: Date,
    ) -> Result<Vec<PlanRecord>> {
        on_pool!(self, pool => {
            let rows: Vec<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PLAN_COLUMNS} FROM plan_versions WHERE patient_id = $1 \
                 AND status IN ('signed', 'superseded') AND start_date <= $2 \
                 ORDER BY signed_at DESC LIMIT {PLAN_HISTORY_LIMIT}"
            )))
            .bind(patient.as_uuid())
            .bind(DbDate(to))
            .fetch_all(pool)
            .await
            .map_err(reading("plan_versions"))?;
            rows.into_iter().map(PlanRecord::try_from).collect()
        })
    }
}
