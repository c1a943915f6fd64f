//! The patient's medication list. Entries are corrected in place (with an audit
//! event) and removed softly, so the record keeps what was once believed.

use jiff::Timestamp;
use jiff::civil::Date;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{MedicationId, OrganizationId, PatientId, UserId};
use speciosa_core::medication::{MedicationClass, MedicationEntry};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbDate, DbTime, Result, Store, StoreError, on_pool, reading};

#[derive(Clone, Debug, PartialEq)]
pub struct Medication {
    pub id: MedicationId,
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub name: String,
    pub class: MedicationClass,
    /// The lexicon's ingredient, when the name was recognised.
    pub ingredient: Option<String>,
    /// Whether the name was recognised by the lexicon.
    pub recognised: bool,
    /// The strength typed in the name ("0.5 mg").
    pub strength: Option<String>,
    pub dose_text: Option<String>,
    pub started_on: Option<Date>,
    pub stopped_on: Option<Date>,
    pub entered_by: UserId,
    pub entered_at: Timestamp,
    pub updated_by: UserId,
    pub updated_at: Timestamp,
    pub removed_at: Option<Timestamp>,
    pub removed_reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct MedicationRow {
    id: Uuid,
    organization_id: Uuid,
    patient_id: Uuid,
    name: String,
    class: String,
    ingredient: Option<String>,
    recognised: Option<bool>,
    strength_text: Option<String>,
    dose_text: Option<String>,
    started_on: Option<DbDate>,
    stopped_on: Option<DbDate>,
    entered_by: Uuid,
    entered_at: DbTime,
    updated_by: Uuid,
    updated_at: DbTime,
    removed_at: Option<DbTime>,
    removed_reason: Option<String>,
}

impl TryFrom<MedicationRow> for Medication {
    type Error = StoreError;

    fn try_from(row: MedicationRow) -> Result<Self> {
        let class = MedicationClass::parse(&row.class).ok_or_else(|| {
            StoreError::Corrupt(format!("medications.class holds {:?}", row.class))
        })?;
        Ok(Medication {
            id: MedicationId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            patient_id: PatientId::from_uuid(row.patient_id),
            name: row.name,
            class,
            ingredient: row.ingredient,
            recognised: row.recognised.unwrap_or(false),
            strength: row.strength_text,
            dose_text: row.dose_text,
            started_on: row.started_on.map(|d| d.0),
            stopped_on: row.stopped_on.map(|d| d.0),
            entered_by: UserId::from_uuid(row.entered_by),
            entered_at: row.entered_at.0,
            updated_by: UserId::from_uuid(row.updated_by),
            updated_at: row.updated_at.0,
            removed_at: row.removed_at.map(|t| t.0),
            removed_reason: row.removed_reason,
        })
    }
}

const MEDICATION_COLUMNS: &str = "id, organization_id, patient_id, name, class, ingredient, recognised, strength_text, dose_text, started_on, \
    stopped_on, entered_by, entered_at, updated_by, updated_at, removed_at, removed_reason";

impl Store {
    pub async fn insert_medication(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        entry: &MedicationEntry,
        by: UserId,
        audit: impl FnOnce(MedicationId) -> AuditEntry,
    ) -> Result<Medication> {
        let id = MedicationId::new();
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO medications (id, organization_id, patient_id, name, class, dose_text, started_on, \
                 stopped_on, entered_by, entered_at, updated_by, updated_at, ingredient, recognised, strength_text) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $10, $11, $12, $13)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(patient.as_uuid())
            .bind(&entry.name)
            .bind(entry.class.as_str())
            .bind(&entry.dose_text)
            .bind(entry.started_on.map(DbDate))
            .bind(entry.stopped_on.map(DbDate))
            .bind(by.as_uuid())
            .bind(now)
            .bind(&entry.ingredient)
            .bind(entry.recognised)
            .bind(&entry.strength)
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        self.get_medication(id)
            .await?
            .ok_or(StoreError::NotFound("medication"))
    }

    /// Replaces an entry's fields (a correction, or a stop date).
    pub async fn update_medication(
        &self,
        id: MedicationId,
        entry: &MedicationEntry,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<Medication> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE medications SET name = $1, class = $2, dose_text = $3, started_on = $4, stopped_on = $5, \
                 updated_by = $6, updated_at = $7, ingredient = $9, recognised = $10, strength_text = $11 \
                 WHERE id = $8 AND removed_at IS NULL",
            )
            .bind(&entry.name)
            .bind(entry.class.as_str())
            .bind(&entry.dose_text)
            .bind(entry.started_on.map(DbDate))
            .bind(entry.stopped_on.map(DbDate))
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .bind(id.as_uuid())
            .bind(&entry.ingredient)
            .bind(entry.recognised)
            .bind(&entry.strength)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("medication"));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_medication(id)
            .await?
            .ok_or(StoreError::NotFound("medication"))
    }

    /// Entries made before the lexicon, not yet resolved: `(id, name)`, at most `limit`.
    pub async fn unresolved_medications(
        &self,
        limit: i64,
    ) -> Result<Vec<(MedicationId, OrganizationId, String)>> {
        on_pool!(self, pool => {
            let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
                "SELECT id, organization_id, name FROM medications WHERE recognised IS NULL ORDER BY id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(reading("medications"))?;
            Ok(rows
                .into_iter()
                .map(|(id, org, name)| (MedicationId::from_uuid(id), OrganizationId::from_uuid(org), name))
                .collect())
        })
    }

    /// Records what the lexicon made of an older entry's name (its class, chosen when it
    /// was entered, is kept). A data correction, not a clinical change: not audited.
    pub async fn set_medication_resolution(
        &self,
        id: MedicationId,
        ingredient: Option<&str>,
        recognised: bool,
        strength: Option<&str>,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE medications SET ingredient = $1, recognised = $2, strength_text = $3 \
                 WHERE id = $4 AND recognised IS NULL",
            )
            .bind(ingredient)
            .bind(recognised)
            .bind(strength)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Marks an entry as entered in error; it stays on record but off the list.
    pub async fn remove_medication(
        &self,
        id: MedicationId,
        reason: &str,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<Medication> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE medications SET removed_at = $1, removed_reason = $2, updated_by = $3, updated_at = $1 \
                 WHERE id = $4 AND removed_at IS NULL",
            )
            .bind(now)
            .bind(reason)
            .bind(by.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("medication"));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_medication(id)
            .await?
            .ok_or(StoreError::NotFound("medication"))
    }

    pub async fn get_medication(&self, id: MedicationId) -> Result<Option<Medication>> {
        on_pool!(self, pool => {
            let row: Option<MedicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MEDICATION_COLUMNS} FROM medications WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("medications"))?;
            row.map(Medication::try_from).transpose()
        })
    }

    /// The patient's medication list (without removed entries), current first.
    pub async fn list_medications(&self, patient: PatientId) -> Result<Vec<Medication>> {
        on_pool!(self, pool => {
            let rows: Vec<MedicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MEDICATION_COLUMNS} FROM medications WHERE patient_id = $1 AND removed_at IS NULL \
                 ORDER BY CASE WHEN stopped_on IS NULL THEN 0 ELSE 1 END, name, id"
            )))
            .bind(patient.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("medications"))?;
            rows.into_iter().map(Medication::try_from).collect()
        })
    }

    /// Patients with a current dose of `batch` taken since `since`: whom a change to
    /// the batch (a recall, a new certificate) concerns.
    pub async fn patients_dosing_batch_since(
        &self,
        batch: speciosa_core::ids::BatchId,
        since: Timestamp,
    ) -> Result<Vec<PatientId>> {
        on_pool!(self, pool => {
            let rows: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT DISTINCT patient_id FROM doses WHERE batch_id = $1 AND taken_at > $2 \
                 AND superseded_at IS NULL AND deleted_at IS NULL",
            )
            .bind(batch.as_uuid())
            .bind(DbTime::from(since))
            .fetch_all(pool)
            .await
            .map_err(reading("doses"))?;
            Ok(rows.into_iter().map(|(id,)| PatientId::from_uuid(id)).collect())
        })
    }

    /// Every patient, for the scheduled re-check of time-based rules.
    pub async fn all_patient_ids(&self) -> Result<Vec<(OrganizationId, PatientId)>> {
        on_pool!(self, pool => {
            let rows: Vec<(Uuid, Uuid)> =
                sqlx::query_as("SELECT organization_id, id FROM patients ORDER BY id")
                    .fetch_all(pool)
                    .await
                    .map_err(reading("patients"))?;
            Ok(rows
                .into_iter()
                .map(|(org, id)| (OrganizationId::from_uuid(org), PatientId::from_uuid(id)))
                .collect())
        })
    }
}
