//! Logged doses, with the milligrams computed when they were logged.

use jiff::Timestamp;
use speciosa_core::audit::AuditEntry;
use speciosa_core::dose::{DoseContext, ExposureBasis};
use speciosa_core::ids::{BatchId, DoseId, OrganizationId, PatientId, UserId};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::summaries::{
    CONTRIBUTION_COLUMNS, ContributionRow, DoseContribution, MaintainSummaries, contribution_of,
};
use crate::{BeginWrite, DbTime, Result, Store, StoreError, on_pool, parse_column, reading};

/// A dose as stored. Superseded and deleted doses are kept, marked, for the record.
#[derive(Clone, Debug, PartialEq)]
pub struct Dose {
    pub id: DoseId,
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub batch_id: BatchId,
    pub taken_at: Timestamp,
    pub time_zone: String,
    pub amount: f64,
    pub unit: String,
    pub grams: Option<f64>,
    pub millilitres: Option<f64>,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    pub exposure_basis: ExposureBasis,
    pub mitragynine_mg_low: Option<f64>,
    pub mitragynine_mg_high: Option<f64>,
    pub hydroxymitragynine_mg_low: Option<f64>,
    pub hydroxymitragynine_mg_high: Option<f64>,
    pub contexts: Vec<DoseContext>,
    pub bedtime: bool,
    pub note: Option<String>,
    pub entered_by: UserId,
    pub entered_at: Timestamp,
    pub corrects_dose_id: Option<DoseId>,
    pub superseded_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub change_reason: Option<String>,
}

impl Dose {
    pub fn is_current(&self) -> bool {
        self.superseded_at.is_none() && self.deleted_at.is_none()
    }
}

/// A dose about to be stored: everything but the bookkeeping the store adds.
#[derive(Clone, Debug)]
pub struct NewDose {
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub batch_id: BatchId,
    pub taken_at: Timestamp,
    pub time_zone: String,
    pub amount: f64,
    pub unit: String,
    pub grams: Option<f64>,
    pub millilitres: Option<f64>,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    pub exposure_basis: ExposureBasis,
    pub mitragynine_mg_low: Option<f64>,
    pub mitragynine_mg_high: Option<f64>,
    pub hydroxymitragynine_mg_low: Option<f64>,
    pub hydroxymitragynine_mg_high: Option<f64>,
    pub contexts: Vec<DoseContext>,
    pub bedtime: bool,
    pub note: Option<String>,
    pub entered_by: UserId,
    /// The client's `Idempotency-Key`, with a hash of the request it came with.
    pub idempotency: Option<(String, String)>,
}

/// The outcome of logging a dose.
#[derive(Clone, Debug, PartialEq)]
pub enum DoseInsert {
    Created(Dose),
    /// A retry: the key was seen with the same request, and this is the original dose.
    Replayed(Dose),
    /// The key was seen with a different request.
    KeyReused,
}

const DOSE_COLUMNS: &str = "id, organization_id, patient_id, batch_id, taken_at, time_zone, amount, unit, grams, \
    millilitres, mitragynine_mg, hydroxymitragynine_mg, exposure_basis, mitragynine_mg_low, mitragynine_mg_high, \
    hydroxymitragynine_mg_low, hydroxymitragynine_mg_high, contexts, bedtime, note, entered_by, entered_at, \
    corrects_dose_id, superseded_at, deleted_at, change_reason";

#[derive(sqlx::FromRow)]
struct DoseRow {
    id: Uuid,
    organization_id: Uuid,
    patient_id: Uuid,
    batch_id: Uuid,
    taken_at: DbTime,
    time_zone: String,
    amount: f64,
    unit: String,
    grams: Option<f64>,
    millilitres: Option<f64>,
    mitragynine_mg: Option<f64>,
    hydroxymitragynine_mg: Option<f64>,
    exposure_basis: String,
    mitragynine_mg_low: Option<f64>,
    mitragynine_mg_high: Option<f64>,
    hydroxymitragynine_mg_low: Option<f64>,
    hydroxymitragynine_mg_high: Option<f64>,
    contexts: Json<Vec<DoseContext>>,
    bedtime: bool,
    note: Option<String>,
    entered_by: Uuid,
    entered_at: DbTime,
    corrects_dose_id: Option<Uuid>,
    superseded_at: Option<DbTime>,
    deleted_at: Option<DbTime>,
    change_reason: Option<String>,
}

impl TryFrom<DoseRow> for Dose {
    type Error = StoreError;

    fn try_from(row: DoseRow) -> Result<Self> {
        Ok(Dose {
            id: DoseId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            patient_id: PatientId::from_uuid(row.patient_id),
            batch_id: BatchId::from_uuid(row.batch_id),
            taken_at: row.taken_at.0,
            time_zone: row.time_zone,
            amount: row.amount,
            unit: row.unit,
            grams: row.grams,
            millilitres: row.millilitres,
            mitragynine_mg: row.mitragynine_mg,
            hydroxymitragynine_mg: row.hydroxymitragynine_mg,
            exposure_basis: parse_column("doses.exposure_basis", &row.exposure_basis)?,
            mitragynine_mg_low: row.mitragynine_mg_low,
            mitragynine_mg_high: row.mitragynine_mg_high,
            hydroxymitragynine_mg_low: row.hydroxymitragynine_mg_low,
            hydroxymitragynine_mg_high: row.hydroxymitragynine_mg_high,
            contexts: row.contexts.0,
            bedtime: row.bedtime,
            note: row.note,
            entered_by: UserId::from_uuid(row.entered_by),
            entered_at: row.entered_at.0,
            corrects_dose_id: row.corrects_dose_id.map(DoseId::from_uuid),
            superseded_at: row.superseded_at.map(|t| t.0),
            deleted_at: row.deleted_at.map(|t| t.0),
            change_reason: row.change_reason,
        })
    }
}

/// Inserts a dose inside a caller's transaction.
macro_rules! insert_dose {
    ($tx:expr, $id:expr, $new:expr, $corrects:expr) => {
        sqlx::query(
            "INSERT INTO doses (id, organization_id, patient_id, batch_id, taken_at, time_zone, amount, unit, grams, \
             millilitres, mitragynine_mg, hydroxymitragynine_mg, exposure_basis, mitragynine_mg_low, mitragynine_mg_high, \
             hydroxymitragynine_mg_low, hydroxymitragynine_mg_high, contexts, bedtime, note, entered_by, entered_at, \
             idempotency_key, request_hash, corrects_dose_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
        )
        .bind($id.as_uuid())
        .bind($new.organization_id.as_uuid())
        .bind($new.patient_id.as_uuid())
        .bind($new.batch_id.as_uuid())
        .bind(DbTime::from($new.taken_at))
        .bind(&$new.time_zone)
        .bind($new.amount)
        .bind(&$new.unit)
        .bind($new.grams)
        .bind($new.millilitres)
        .bind($new.mitragynine_mg)
        .bind($new.hydroxymitragynine_mg)
        .bind($new.exposure_basis.as_str())
        .bind($new.mitragynine_mg_low)
        .bind($new.mitragynine_mg_high)
        .bind($new.hydroxymitragynine_mg_low)
        .bind($new.hydroxymitragynine_mg_high)
        .bind(Json(&$new.contexts))
        .bind($new.bedtime)
        .bind(&$new.note)
        .bind($new.entered_by.as_uuid())
        .bind(DbTime::now())
        .bind($new.idempotency.as_ref().map(|(key, _)| key.clone()))
        .bind($new.idempotency.as_ref().map(|(_, hash)| hash.clone()))
        .bind($corrects.map(|id: DoseId| id.as_uuid()))
        .execute(&mut *$tx)
        .await
    };
}

fn contribution_of_new(new: &NewDose) -> DoseContribution {
    DoseContribution::of(
        new.patient_id,
        new.batch_id,
        new.taken_at,
        &new.time_zone,
        new.mitragynine_mg,
        new.hydroxymitragynine_mg,
        new.grams,
        new.millilitres,
        new.bedtime,
    )
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Store {
    /// Logs a dose. With an idempotency key, a retry (even one racing the original)
    /// returns the original dose instead of a duplicate.
    pub async fn insert_dose(
        &self,
        new: &NewDose,
        audit: impl FnOnce(DoseId) -> AuditEntry,
    ) -> Result<DoseInsert> {
        let id = DoseId::new();
        let inserted = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            match insert_dose!(tx, id, new, None::<DoseId>) {
                Ok(_) => {
                    tx.count_dose(&contribution_of_new(new), 1).await?;
                    tx.append_audit(audit(id)).await?;
                    tx.commit().await?;
                    true
                }
                // The original holds the key. PostgreSQL made this insert wait for it to
                // commit; on SQLite it may sit in this very batch, so the rollback waits
                // until the batch is durable and the original can be read back.
                Err(error) if is_unique_violation(&error) && new.idempotency.is_some() => {
                    tx.rollback().await?;
                    false
                }
                Err(error) => return Err(error.into()),
            }
        });
        if inserted {
            return Ok(DoseInsert::Created(
                self.get_dose(id)
                    .await?
                    .ok_or(StoreError::NotFound("dose"))?,
            ));
        }
        let Some((key, hash)) = &new.idempotency else {
            return Err(StoreError::NotFound("dose"));
        };
        let original = on_pool!(self, pool => {
            let row: Option<(Uuid, Option<String>)> = sqlx::query_as(
                "SELECT id, request_hash FROM doses WHERE patient_id = $1 AND idempotency_key = $2",
            )
            .bind(new.patient_id.as_uuid())
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(reading("doses"))?;
            row
        });
        match original {
            Some((id, Some(stored_hash))) if stored_hash == *hash => {
                let dose = self
                    .get_dose(DoseId::from_uuid(id))
                    .await?
                    .ok_or(StoreError::NotFound("dose"))?;
                Ok(DoseInsert::Replayed(dose))
            }
            Some(_) => Ok(DoseInsert::KeyReused),
            None => Err(StoreError::NotFound("dose")),
        }
    }

    /// Replaces a current dose with a corrected one, keeping the original marked superseded.
    pub async fn correct_dose(
        &self,
        original: DoseId,
        corrected: &NewDose,
        reason: &str,
        audit: AuditEntry,
    ) -> Result<Dose> {
        let id = DoseId::new();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let superseded: Option<ContributionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE doses SET superseded_at = $1, change_reason = $2 \
                 WHERE id = $3 AND superseded_at IS NULL AND deleted_at IS NULL RETURNING {CONTRIBUTION_COLUMNS}"
            )))
            .bind(DbTime::now())
            .bind(reason)
            .bind(original.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(superseded) = superseded else {
                return Err(StoreError::Conflict("this dose was already corrected or deleted".into()));
            };
            insert_dose!(tx, id, corrected, Some(original))?;
            // Earlier day first, so two corrections between the same days lock in one order.
            let (old, new) = (contribution_of(superseded), contribution_of_new(corrected));
            if old.day <= new.day {
                tx.count_dose(&old, -1).await?;
                tx.count_dose(&new, 1).await?;
            } else {
                tx.count_dose(&new, 1).await?;
                tx.count_dose(&old, -1).await?;
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_dose(id).await?.ok_or(StoreError::NotFound("dose"))
    }

    /// Marks a current dose deleted, with the reason; the row stays for the record.
    pub async fn delete_dose(&self, id: DoseId, reason: &str, audit: AuditEntry) -> Result<Dose> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let deleted: Option<ContributionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE doses SET deleted_at = $1, change_reason = $2 \
                 WHERE id = $3 AND superseded_at IS NULL AND deleted_at IS NULL RETURNING {CONTRIBUTION_COLUMNS}"
            )))
            .bind(DbTime::now())
            .bind(reason)
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(deleted) = deleted else {
                return Err(StoreError::Conflict("this dose was already corrected or deleted".into()));
            };
            tx.count_dose(&contribution_of(deleted), -1).await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_dose(id).await?.ok_or(StoreError::NotFound("dose"))
    }

    pub async fn get_dose(&self, id: DoseId) -> Result<Option<Dose>> {
        on_pool!(self, pool => {
            let row: Option<DoseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOSE_COLUMNS} FROM doses WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("doses"))?;
            row.map(Dose::try_from).transpose()
        })
    }

    /// A patient's doses taken in `[from, to)`, oldest first; current ones only unless
    /// `include_history`.
    pub async fn list_doses(
        &self,
        patient: PatientId,
        from: Timestamp,
        to: Timestamp,
        include_history: bool,
    ) -> Result<Vec<Dose>> {
        on_pool!(self, pool => {
            let rows: Vec<DoseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOSE_COLUMNS} FROM doses WHERE patient_id = $1 AND taken_at >= $2 AND taken_at < $3 \
                 AND ($4 OR (superseded_at IS NULL AND deleted_at IS NULL)) ORDER BY taken_at, entered_at"
            )))
            .bind(patient.as_uuid())
            .bind(DbTime::from(from))
            .bind(DbTime::from(to))
            .bind(include_history)
            .fetch_all(pool)
            .await
            .map_err(reading("doses"))?;
            rows.into_iter().map(Dose::try_from).collect()
        })
    }

    /// The patient's most recent current doses taken in `(since, until]`, newest first,
    /// at most `limit` of them: the bounded slice the safety rules read one by one.
    pub async fn recent_doses(
        &self,
        patient: PatientId,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Dose>> {
        on_pool!(self, pool => {
            let rows: Vec<DoseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOSE_COLUMNS} FROM doses WHERE patient_id = $1 AND taken_at > $2 AND taken_at <= $3 \
                 AND superseded_at IS NULL AND deleted_at IS NULL ORDER BY taken_at DESC, entered_at DESC LIMIT $4"
            )))
            .bind(patient.as_uuid())
            .bind(DbTime::from(since))
            .bind(DbTime::from(until))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(reading("doses"))?;
            rows.into_iter().map(Dose::try_from).collect()
        })
    }

    /// The patient's latest current dose of `batch` taken in `(since, until]`.
    pub async fn latest_dose_of_batch(
        &self,
        patient: PatientId,
        batch: BatchId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Option<Dose>> {
        on_pool!(self, pool => {
            let row: Option<DoseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOSE_COLUMNS} FROM doses WHERE patient_id = $1 AND batch_id = $2 AND taken_at > $3 \
                 AND taken_at <= $4 AND superseded_at IS NULL AND deleted_at IS NULL \
                 ORDER BY taken_at DESC, entered_at DESC LIMIT 1"
            )))
            .bind(patient.as_uuid())
            .bind(batch.as_uuid())
            .bind(DbTime::from(since))
            .bind(DbTime::from(until))
            .fetch_optional(pool)
            .await
            .map_err(reading("doses"))?;
            row.map(Dose::try_from).transpose()
        })
    }

    /// The mitragynine mg of the patient's current doses taken since `since`, newest
    /// first, leaving out `except` (a dose being corrected) and doses of unknown mg: the
    /// bounded window a usual single dose is judged from.
    pub async fn recent_single_dose_mitragynine(
        &self,
        patient: PatientId,
        since: Timestamp,
        except: Option<DoseId>,
    ) -> Result<Vec<f64>> {
        // A usual dose is judged from the most recent 50 within the window: enough for a
        // stable median, and the cost of a write does not grow with the patient's history.
        const CAP: i64 = 50;
        let rows: Vec<(Uuid, f64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, mitragynine_mg FROM doses WHERE patient_id = $1 AND taken_at >= $2 \
                 AND superseded_at IS NULL AND deleted_at IS NULL AND mitragynine_mg IS NOT NULL \
                 ORDER BY taken_at DESC LIMIT $3",
            )
            .bind(patient.as_uuid())
            .bind(DbTime::from(since))
            .bind(CAP + 1)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter(|(id, _)| except.is_none_or(|e| e.as_uuid() != *id))
            .map(|(_, mg)| mg)
            .take(CAP as usize)
            .collect())
    }

    /// The patient's most recent current dose, for "repeat last dose".
    pub async fn last_dose(&self, patient: PatientId) -> Result<Option<Dose>> {
        on_pool!(self, pool => {
            let row: Option<DoseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOSE_COLUMNS} FROM doses WHERE patient_id = $1 AND superseded_at IS NULL \
                 AND deleted_at IS NULL ORDER BY taken_at DESC, entered_at DESC LIMIT 1"
            )))
            .bind(patient.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("doses"))?;
            row.map(Dose::try_from).transpose()
        })
    }
}
