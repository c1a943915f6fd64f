//! Completed instruments and the safety alerts they raise, written together so a
//! signal can never be recorded without its evidence or lost without a trace.

use std::collections::BTreeMap;

use jiff::Timestamp;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{AssessmentId, OrganizationId, PatientId, UserId};
use speciosa_core::instrument::Answer;
use sqlx::types::Json;
use uuid::Uuid;

use crate::alerts::RecordFindings;
use crate::audit::AppendAudit;
use crate::summaries::MaintainSummaries;
use crate::{Alert, NewAlert, reading};
use crate::{BeginWrite, DbTime, Result, Store, StoreError, on_pool};

#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    pub id: AssessmentId,
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub instrument: String,
    pub answers: BTreeMap<String, Answer>,
    pub total: Option<f64>,
    pub band: Option<String>,
    pub metrics: Option<serde_json::Value>,
    pub completed_at: Timestamp,
    pub entered_by: UserId,
    pub entered_at: Timestamp,
}

/// An assessment about to be stored.
#[derive(Clone, Debug)]
pub struct NewAssessment {
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub instrument: String,
    pub answers: BTreeMap<String, Answer>,
    pub total: Option<f64>,
    pub band: Option<String>,
    pub metrics: Option<serde_json::Value>,
    pub completed_at: Timestamp,
    pub entered_by: UserId,
}

#[derive(sqlx::FromRow)]
struct AssessmentRow {
    id: Uuid,
    organization_id: Uuid,
    patient_id: Uuid,
    instrument: String,
    answers: Json<BTreeMap<String, Answer>>,
    total: Option<f64>,
    band: Option<String>,
    metrics: Option<Json<serde_json::Value>>,
    completed_at: DbTime,
    entered_by: Uuid,
    entered_at: DbTime,
}

impl From<AssessmentRow> for Assessment {
    fn from(row: AssessmentRow) -> Self {
        Assessment {
            id: AssessmentId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            patient_id: PatientId::from_uuid(row.patient_id),
            instrument: row.instrument,
            answers: row.answers.0,
            total: row.total,
            band: row.band,
            metrics: row.metrics.map(|m| m.0),
            completed_at: row.completed_at.0,
            entered_by: UserId::from_uuid(row.entered_by),
            entered_at: row.entered_at.0,
        }
    }
}

const ASSESSMENT_COLUMNS: &str = "id, organization_id, patient_id, instrument, answers, total, band, metrics, \
    completed_at, entered_by, entered_at";
/// The outcome of storing an assessment that may carry a client's idempotency key.
#[derive(Clone, Debug, PartialEq)]
pub enum AssessmentInsert {
    /// Stored, with the alerts its answers raised.
    Created(Assessment, Vec<Alert>),
    /// A retry: the key was seen with the same request, and this is the original.
    Replayed(Assessment),
    /// The key was seen with a different request.
    KeyReused,
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Store {
    /// Stores an assessment and records every rule its answers fired, in one
    /// transaction with its audit event, so a signal can never be lost between the
    /// two. Returns the assessment and the alerts that now stand for those findings.
    pub async fn insert_assessment(
        &self,
        new: &NewAssessment,
        findings: impl FnOnce(AssessmentId) -> Vec<NewAlert>,
        audit: impl FnOnce(AssessmentId) -> AuditEntry,
    ) -> Result<(Assessment, Vec<Alert>)> {
        match self
            .insert_assessment_once(new, None, findings, audit)
            .await?
        {
            AssessmentInsert::Created(assessment, raised) => Ok((assessment, raised)),
            AssessmentInsert::Replayed(_) | AssessmentInsert::KeyReused => {
                Err(StoreError::NotFound("assessment"))
            }
        }
    }

    /// As [`Store::insert_assessment`], with an optional idempotency key and the hash of
    /// the request it came with: a retry (even one racing the original) returns the
    /// original instead of storing a second assessment.
    pub async fn insert_assessment_once(
        &self,
        new: &NewAssessment,
        idempotency: Option<(String, String)>,
        findings: impl FnOnce(AssessmentId) -> Vec<NewAlert>,
        audit: impl FnOnce(AssessmentId) -> AuditEntry,
    ) -> Result<AssessmentInsert> {
        let id = AssessmentId::new();
        let now = DbTime::now();
        let findings = findings(id);
        let audit = audit(id);
        let changes = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO assessments (id, organization_id, patient_id, instrument, answers, total, band, metrics, \
                 completed_at, entered_by, entered_at, idempotency_key, request_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(id.as_uuid())
            .bind(new.organization_id.as_uuid())
            .bind(new.patient_id.as_uuid())
            .bind(&new.instrument)
            .bind(Json(&new.answers))
            .bind(new.total)
            .bind(&new.band)
            .bind(new.metrics.as_ref().map(Json))
            .bind(DbTime::from(new.completed_at))
            .bind(new.entered_by.as_uuid())
            .bind(now)
            .bind(idempotency.as_ref().map(|(key, _)| key.clone()))
            .bind(idempotency.as_ref().map(|(_, hash)| hash.clone()))
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {
                    let changes = tx.record_findings(new.organization_id, new.patient_id, &findings, &audit, self.paging_interval).await?;
                    // After the findings, which lock the patient first: the order every rule run takes.
                    tx.count_assessment(
                        new.patient_id,
                        &new.instrument,
                        id,
                        new.total,
                        new.band.as_deref(),
                        new.completed_at,
                    )
                    .await?;
                    tx.append_audit(audit).await?;
                    tx.commit().await?;
                    Some(changes)
                }
                // The original holds the key (see `insert_dose` on why the rollback waits).
                Err(error) if is_unique_violation(&error) && idempotency.is_some() => {
                    tx.rollback().await?;
                    None
                }
                Err(error) => return Err(error.into()),
            }
        });
        let Some(changes) = changes else {
            return self.original_assessment(new.patient_id, idempotency).await;
        };
        self.signal_outbox(&changes);
        let assessment = self
            .get_assessment(id)
            .await?
            .ok_or(StoreError::NotFound("assessment"))?;
        let mut raised = Vec::new();
        for change in changes {
            raised.push(
                self.get_alert(change.alert_id())
                    .await?
                    .ok_or(StoreError::NotFound("alert"))?,
            );
        }
        Ok(AssessmentInsert::Created(assessment, raised))
    }

    /// The assessment that already holds `idempotency`'s key, if its request matches.
    async fn original_assessment(
        &self,
        patient: PatientId,
        idempotency: Option<(String, String)>,
    ) -> Result<AssessmentInsert> {
        let Some((key, hash)) = idempotency else {
            return Err(StoreError::NotFound("assessment"));
        };
        let original = on_pool!(self, pool => {
            let row: Option<(Uuid, Option<String>)> = sqlx::query_as(
                "SELECT id, request_hash FROM assessments WHERE patient_id = $1 AND idempotency_key = $2",
            )
            .bind(patient.as_uuid())
            .bind(&key)
            .fetch_optional(pool)
            .await
            .map_err(reading("assessments"))?;
            row
        });
        match original {
            Some((id, Some(stored))) if stored == hash => {
                let assessment = self
                    .get_assessment(AssessmentId::from_uuid(id))
                    .await?
                    .ok_or(StoreError::NotFound("assessment"))?;
                Ok(AssessmentInsert::Replayed(assessment))
            }
            Some(_) => Ok(AssessmentInsert::KeyReused),
            None => Err(StoreError::NotFound("assessment")),
        }
    }

    pub async fn get_assessment(&self, id: AssessmentId) -> Result<Option<Assessment>> {
        on_pool!(self, pool => {
            let row: Option<AssessmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("assessments"))?;
            Ok(row.map(Assessment::from))
        })
    }

    /// The patient's latest assessments of `instrument` completed by `until`, newest
    /// first, at most `limit` of them.
    pub async fn latest_assessments(
        &self,
        patient: PatientId,
        instrument: &str,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Assessment>> {
        on_pool!(self, pool => {
            let rows: Vec<AssessmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE patient_id = $1 AND instrument = $2 \
                 AND completed_at <= $3 ORDER BY completed_at DESC, entered_at DESC LIMIT $4"
            )))
            .bind(patient.as_uuid())
            .bind(instrument)
            .bind(DbTime::from(until))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(reading("assessments"))?;
            Ok(rows.into_iter().map(Assessment::from).collect())
        })
    }

    /// The patient's assessments of `instrument` completed in `[from, until]`, newest
    /// first, at most `limit` of them (`assessments_by_patient` serves the range).
    pub async fn assessments_between(
        &self,
        patient: PatientId,
        instrument: &str,
        from: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Assessment>> {
        on_pool!(self, pool => {
            let rows: Vec<AssessmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE patient_id = $1 AND instrument = $2 \
                 AND completed_at >= $3 AND completed_at <= $4 \
                 ORDER BY completed_at DESC, entered_at DESC LIMIT $5"
            )))
            .bind(patient.as_uuid())
            .bind(instrument)
            .bind(DbTime::from(from))
            .bind(DbTime::from(until))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(reading("assessments"))?;
            Ok(rows.into_iter().map(Assessment::from).collect())
        })
    }

    /// A patient's assessments, oldest first, optionally of one instrument.
    pub async fn list_assessments(
        &self,
        patient: PatientId,
        instrument: Option<&str>,
    ) -> Result<Vec<Assessment>> {
        on_pool!(self, pool => {
            let rows: Vec<AssessmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE patient_id = $1 \
                 AND ($2 IS NULL OR instrument = $2) ORDER BY completed_at, entered_at"
            )))
            .bind(patient.as_uuid())
            .bind(instrument)
            .fetch_all(pool)
            .await
            .map_err(reading("assessments"))?;
            Ok(rows.into_iter().map(Assessment::from).collect())
        })
    }
}

impl Store {
    /// The patient's schedule overrides: instrument → frequency.
    pub async fn schedule_overrides(&self, patient: PatientId) -> Result<BTreeMap<String, String>> {
        on_pool!(self, pool => {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT instrument, frequency FROM patient_schedules WHERE patient_id = $1")
                    .bind(patient.as_uuid())
                    .fetch_all(pool)
                    .await
                    .map_err(reading("patient_schedules"))?;
            Ok(rows.into_iter().collect())
        })
    }

    /// Replaces the patient's schedule overrides with `frequencies`.
    pub async fn set_schedule(
        &self,
        patient: PatientId,
        frequencies: &BTreeMap<String, String>,
        changed_by: UserId,
        audit: AuditEntry,
    ) -> Result<()> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM patient_schedules WHERE patient_id = $1").bind(patient.as_uuid()).execute(&mut *tx).await?;
            for (instrument, frequency) in frequencies {
                sqlx::query(
                    "INSERT INTO patient_schedules (patient_id, instrument, frequency, updated_by, updated_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(patient.as_uuid())
                .bind(instrument)
                .bind(frequency)
                .bind(changed_by.as_uuid())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// When the patient last completed each instrument.
    pub async fn last_completions(
        &self,
        patient: PatientId,
    ) -> Result<BTreeMap<String, Timestamp>> {
        on_pool!(self, pool => {
            let rows: Vec<(String, DbTime)> = sqlx::query_as(
                "SELECT instrument, MAX(completed_at) FROM assessments WHERE patient_id = $1 GROUP BY instrument",
            )
            .bind(patient.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("assessments"))?;
            Ok(rows.into_iter().map(|(instrument, at)| (instrument, at.0)).collect())
        })
    }
}

impl Store {
    /// The organization's own bands for `instrument`, as stored JSON, if it set any.
    pub async fn organization_bands(
        &self,
        organization: OrganizationId,
        instrument: &str,
    ) -> Result<Option<serde_json::Value>> {
        on_pool!(self, pool => {
            let row: Option<(Json<serde_json::Value>,)> = sqlx::query_as(
                "SELECT bands FROM organization_instrument_bands WHERE organization_id = $1 AND instrument = $2",
            )
            .bind(organization.as_uuid())
            .bind(instrument)
            .fetch_optional(pool)
            .await
            .map_err(reading("organization_instrument_bands"))?;
            Ok(row.map(|(bands,)| bands.0))
        })
    }

    pub async fn set_organization_bands(
        &self,
        organization: OrganizationId,
        instrument: &str,
        bands: &serde_json::Value,
        changed_by: UserId,
        audit: AuditEntry,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM organization_instrument_bands WHERE organization_id = $1 AND instrument = $2")
                .bind(organization.as_uuid())
                .bind(instrument)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO organization_instrument_bands (organization_id, instrument, bands, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(organization.as_uuid())
            .bind(instrument)
            .bind(Json(bands))
            .bind(changed_by.as_uuid())
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
