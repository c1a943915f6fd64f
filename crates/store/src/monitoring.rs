//! Clinical monitoring records (issue 15): lab results, ECGs, naloxone on hand,
//! overdoses and non-prescribed opioid use. Every read is bounded by a window and a
//! limit; every write is one transaction with its audit event.

use jiff::Timestamp;
use jiff::civil::Date;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{
    EcgId, LabResultId, OpioidUseId, OrganizationId, OverdoseId, PatientId, UserId,
};
use speciosa_core::monitoring::{
    LabTest, NaloxoneForm, NaloxoneStatus, NewEcg, NewLabResult, NewOpioidUse, NewOverdose,
    OpioidUseSource, QtcFormula,
};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbDate, DbTime, Result, Store, StoreError, on_pool, reading};

/// The most rows any list read returns.
pub const MONITORING_READ_LIMIT: usize = 200;

fn limit(n: usize) -> i64 {
    i64::try_from(n.min(MONITORING_READ_LIMIT)).unwrap_or(0)
}

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{column} holds {value:?}"))
}

#[derive(Clone, Debug, PartialEq)]
pub struct LabResult {
    pub id: LabResultId,
    pub patient_id: PatientId,
    pub test: LabTest,
    pub loinc: String,
    pub value: f64,
    pub unit: String,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub observed_at: Timestamp,
    pub recorded_by: UserId,
    pub recorded_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct LabRow {
    id: Uuid,
    patient_id: Uuid,
    test: String,
    loinc: String,
    value: f64,
    unit: String,
    reference_low: Option<f64>,
    reference_high: Option<f64>,
    observed_at: DbTime,
    recorded_by: Uuid,
    recorded_at: DbTime,
}

impl TryFrom<LabRow> for LabResult {
    type Error = StoreError;

    fn try_from(row: LabRow) -> Result<Self> {
        let test = LabTest::ALL
            .into_iter()
            .find(|t| t.code() == row.test)
            .ok_or_else(|| corrupt("lab_results.test", &row.test))?;
        Ok(LabResult {
            id: LabResultId::from_uuid(row.id),
            patient_id: PatientId::from_uuid(row.patient_id),
            test,
            loinc: row.loinc,
            value: row.value,
            unit: row.unit,
            reference_low: row.reference_low,
            reference_high: row.reference_high,
            observed_at: row.observed_at.0,
            recorded_by: UserId::from_uuid(row.recorded_by),
            recorded_at: row.recorded_at.0,
        })
    }
}

const LAB_COLUMNS: &str = "id, patient_id, test, loinc, value, unit, reference_low, reference_high, \
    observed_at, recorded_by, recorded_at";

#[derive(Clone, Debug, PartialEq)]
pub struct Ecg {
    pub id: EcgId,
    pub patient_id: PatientId,
    pub qtc_ms: u32,
    pub heart_rate_bpm: Option<u32>,
    pub formula: Option<QtcFormula>,
    pub recorded_at: Timestamp,
    pub entered_by: UserId,
    pub entered_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct EcgRow {
    id: Uuid,
    patient_id: Uuid,
    qtc_ms: i32,
    heart_rate_bpm: Option<i32>,
    formula: Option<String>,
    recorded_at: DbTime,
    entered_by: Uuid,
    entered_at: DbTime,
}

impl TryFrom<EcgRow> for Ecg {
    type Error = StoreError;

    fn try_from(row: EcgRow) -> Result<Self> {
        let formula = row
            .formula
            .map(|f| QtcFormula::parse(&f).ok_or_else(|| corrupt("ecgs.formula", &f)))
            .transpose()?;
        Ok(Ecg {
            id: EcgId::from_uuid(row.id),
            patient_id: PatientId::from_uuid(row.patient_id),
            qtc_ms: u32::try_from(row.qtc_ms)
                .map_err(|_| corrupt("ecgs.qtc_ms", &row.qtc_ms.to_string()))?,
            heart_rate_bpm: row.heart_rate_bpm.and_then(|v| u32::try_from(v).ok()),
            formula,
            recorded_at: row.recorded_at.0,
            entered_by: UserId::from_uuid(row.entered_by),
            entered_at: row.entered_at.0,
        })
    }
}

const ECG_COLUMNS: &str =
    "id, patient_id, qtc_ms, heart_rate_bpm, formula, recorded_at, entered_by, entered_at";

#[derive(Clone, Debug, PartialEq)]
pub struct NaloxoneRecord {
    pub status: NaloxoneStatus,
    pub updated_by: UserId,
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct NaloxoneRow {
    on_hand: bool,
    form: Option<String>,
    obtained_on: Option<DbDate>,
    expires_on: Option<DbDate>,
    location: Option<String>,
    updated_by: Uuid,
    updated_at: DbTime,
}

impl TryFrom<NaloxoneRow> for NaloxoneRecord {
    type Error = StoreError;

    fn try_from(row: NaloxoneRow) -> Result<Self> {
        let form = row
            .form
            .map(|f| NaloxoneForm::parse(&f).ok_or_else(|| corrupt("naloxone.form", &f)))
            .transpose()?;
        Ok(NaloxoneRecord {
            status: NaloxoneStatus {
                on_hand: row.on_hand,
                form,
                obtained_on: row.obtained_on.map(|d| d.0),
                expires_on: row.expires_on.map(|d| d.0),
                location: row.location,
            },
            updated_by: UserId::from_uuid(row.updated_by),
            updated_at: row.updated_at.0,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Overdose {
    pub id: OverdoseId,
    pub patient_id: PatientId,
    pub occurred_at: Timestamp,
    pub substances: Vec<String>,
    pub naloxone_used: bool,
    pub emergency_care: Option<bool>,
    pub notes: Option<String>,
    pub reported_by: UserId,
    pub reported_by_patient: bool,
    pub recorded_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct OverdoseRow {
    id: Uuid,
    patient_id: Uuid,
    occurred_at: DbTime,
    substances: Json<Vec<String>>,
    naloxone_used: bool,
    emergency_care: Option<bool>,
    notes: Option<String>,
    reported_by: Uuid,
    reported_by_patient: bool,
    recorded_at: DbTime,
}

impl From<OverdoseRow> for Overdose {
    fn from(row: OverdoseRow) -> Self {
        Overdose {
            id: OverdoseId::from_uuid(row.id),
            patient_id: PatientId::from_uuid(row.patient_id),
            occurred_at: row.occurred_at.0,
            substances: row.substances.0,
            naloxone_used: row.naloxone_used,
            emergency_care: row.emergency_care,
            notes: row.notes,
            reported_by: UserId::from_uuid(row.reported_by),
            reported_by_patient: row.reported_by_patient,
            recorded_at: row.recorded_at.0,
        }
    }
}

const OVERDOSE_COLUMNS: &str = "id, patient_id, occurred_at, substances, naloxone_used, emergency_care, \
    notes, reported_by, reported_by_patient, recorded_at";

#[derive(Clone, Debug, PartialEq)]
pub struct OpioidUse {
    pub id: OpioidUseId,
    pub patient_id: PatientId,
    pub used_on: Date,
    pub substance: String,
    pub source: OpioidUseSource,
    pub notes: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct OpioidUseRow {
    id: Uuid,
    patient_id: Uuid,
    used_on: DbDate,
    substance: String,
    source: String,
    notes: Option<String>,
    recorded_by: Uuid,
    recorded_at: DbTime,
}

impl TryFrom<OpioidUseRow> for OpioidUse {
    type Error = StoreError;

    fn try_from(row: OpioidUseRow) -> Result<Self> {
        let source = OpioidUseSource::parse(&row.source)
            .ok_or_else(|| corrupt("opioid_use.source", &row.source))?;
        Ok(OpioidUse {
            id: OpioidUseId::from_uuid(row.id),
            patient_id: PatientId::from_uuid(row.patient_id),
            used_on: row.used_on.0,
            substance: row.substance,
            source,
            notes: row.notes,
            recorded_by: UserId::from_uuid(row.recorded_by),
            recorded_at: row.recorded_at.0,
        })
    }
}

const OPIOID_USE_COLUMNS: &str =
    "id, patient_id, used_on, substance, source, notes, recorded_by, recorded_at";

impl Store {
    pub async fn insert_lab_result(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        result: &NewLabResult,
        by: UserId,
        audit: impl FnOnce(LabResultId) -> AuditEntry,
    ) -> Result<LabResult> {
        let id = LabResultId::new();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO lab_results (id, organization_id, patient_id, test, loinc, value, unit, \
                 reference_low, reference_high, observed_at, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(patient.as_uuid())
            .bind(result.test.code())
            .bind(result.test.loinc())
            .bind(result.value)
            .bind(&result.unit)
            .bind(result.reference_low)
            .bind(result.reference_high)
            .bind(DbTime::from(result.observed_at))
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        self.get_lab_result(id)
            .await?
            .ok_or(StoreError::NotFound("lab result"))
    }

    pub async fn get_lab_result(&self, id: LabResultId) -> Result<Option<LabResult>> {
        on_pool!(self, pool => {
            let row: Option<LabRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {LAB_COLUMNS} FROM lab_results WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("lab_results"))?;
            row.map(LabResult::try_from).transpose()
        })
    }

    /// A patient's results observed in `[from, until]`, newest first, optionally of one
    /// test, at most `max`.
    pub async fn lab_results(
        &self,
        patient: PatientId,
        test: Option<LabTest>,
        from: Timestamp,
        until: Timestamp,
        max: usize,
    ) -> Result<Vec<LabResult>> {
        on_pool!(self, pool => {
            let rows: Vec<LabRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {LAB_COLUMNS} FROM lab_results WHERE patient_id = $1 \
                 AND ($2 IS NULL OR test = $2) AND observed_at >= $3 AND observed_at <= $4 \
                 ORDER BY observed_at DESC, recorded_at DESC LIMIT $5"
            )))
            .bind(patient.as_uuid())
            .bind(test.map(LabTest::code))
            .bind(DbTime::from(from))
            .bind(DbTime::from(until))
            .bind(limit(max))
            .fetch_all(pool)
            .await
            .map_err(reading("lab_results"))?;
            rows.into_iter().map(LabResult::try_from).collect()
        })
    }

    pub async fn insert_ecg(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        ecg: &NewEcg,
        by: UserId,
        audit: impl FnOnce(EcgId) -> AuditEntry,
    ) -> Result<Ecg> {
        let id = EcgId::new();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO ecgs (id, organization_id, patient_id, qtc_ms, heart_rate_bpm, formula, \
                 recorded_at, entered_by, entered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(patient.as_uuid())
            .bind(i32::try_from(ecg.qtc_ms).unwrap_or(i32::MAX))
            .bind(ecg.heart_rate_bpm.and_then(|v| i32::try_from(v).ok()))
            .bind(ecg.formula.map(QtcFormula::as_str))
            .bind(DbTime::from(ecg.recorded_at))
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        self.get_ecg(id).await?.ok_or(StoreError::NotFound("ECG"))
    }

    pub async fn get_ecg(&self, id: EcgId) -> Result<Option<Ecg>> {
        on_pool!(self, pool => {
            let row: Option<EcgRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ECG_COLUMNS} FROM ecgs WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("ecgs"))?;
            row.map(Ecg::try_from).transpose()
        })
    }

    /// A patient's ECGs recorded by `until`, newest first, at most `max`.
    pub async fn ecgs(&self, patient: PatientId, until: Timestamp, max: usize) -> Result<Vec<Ecg>> {
        on_pool!(self, pool => {
            let rows: Vec<EcgRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ECG_COLUMNS} FROM ecgs WHERE patient_id = $1 AND recorded_at <= $2 \
                 ORDER BY recorded_at DESC, entered_at DESC LIMIT $3"
            )))
            .bind(patient.as_uuid())
            .bind(DbTime::from(until))
            .bind(limit(max))
            .fetch_all(pool)
            .await
            .map_err(reading("ecgs"))?;
            rows.into_iter().map(Ecg::try_from).collect()
        })
    }

    /// Records the patient's current naloxone answer, replacing the previous one.
    pub async fn set_naloxone(
        &self,
        patient: PatientId,
        status: &NaloxoneStatus,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<NaloxoneRecord> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO naloxone (patient_id, on_hand, form, obtained_on, expires_on, location, \
                 updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (patient_id) DO UPDATE SET on_hand = excluded.on_hand, form = excluded.form, \
                 obtained_on = excluded.obtained_on, expires_on = excluded.expires_on, \
                 location = excluded.location, updated_by = excluded.updated_by, \
                 updated_at = excluded.updated_at",
            )
            .bind(patient.as_uuid())
            .bind(status.on_hand)
            .bind(status.form.map(NaloxoneForm::as_str))
            .bind(status.obtained_on.map(DbDate))
            .bind(status.expires_on.map(DbDate))
            .bind(&status.location)
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.naloxone(patient)
            .await?
            .ok_or(StoreError::NotFound("naloxone"))
    }

    pub async fn naloxone(&self, patient: PatientId) -> Result<Option<NaloxoneRecord>> {
        on_pool!(self, pool => {
            let row: Option<NaloxoneRow> = sqlx::query_as(
                "SELECT on_hand, form, obtained_on, expires_on, location, updated_by, updated_at \
                 FROM naloxone WHERE patient_id = $1",
            )
            .bind(patient.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("naloxone"))?;
            row.map(NaloxoneRecord::try_from).transpose()
        })
    }

    pub async fn insert_overdose(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        overdose: &NewOverdose,
        by: UserId,
        by_patient: bool,
        audit: impl FnOnce(OverdoseId) -> AuditEntry,
    ) -> Result<Overdose> {
        let id = OverdoseId::new();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO overdoses (id, organization_id, patient_id, occurred_at, substances, \
                 naloxone_used, emergency_care, notes, reported_by, reported_by_patient, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(patient.as_uuid())
            .bind(DbTime::from(overdose.occurred_at))
            .bind(Json(&overdose.substances))
            .bind(overdose.naloxone_used)
            .bind(overdose.emergency_care)
            .bind(&overdose.notes)
            .bind(by.as_uuid())
            .bind(by_patient)
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        self.get_overdose(id)
            .await?
            .ok_or(StoreError::NotFound("overdose"))
    }

    pub async fn get_overdose(&self, id: OverdoseId) -> Result<Option<Overdose>> {
        on_pool!(self, pool => {
            let row: Option<OverdoseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {OVERDOSE_COLUMNS} FROM overdoses WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("overdoses"))?;
            Ok(row.map(Overdose::from))
        })
    }

    /// Overdoses that occurred since `occurred_since` or were recorded since
    /// `recorded_since`, newest first, at most `max`.
    pub async fn recent_overdoses(
        &self,
        patient: PatientId,
        occurred_since: Timestamp,
        recorded_since: Timestamp,
        max: usize,
    ) -> Result<Vec<Overdose>> {
        on_pool!(self, pool => {
            let rows: Vec<OverdoseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {OVERDOSE_COLUMNS} FROM overdoses WHERE patient_id = $1 \
                 AND (occurred_at >= $2 OR recorded_at >= $3) \
                 ORDER BY occurred_at DESC, recorded_at DESC LIMIT $4"
            )))
            .bind(patient.as_uuid())
            .bind(DbTime::from(occurred_since))
            .bind(DbTime::from(recorded_since))
            .bind(limit(max))
            .fetch_all(pool)
            .await
            .map_err(reading("overdoses"))?;
            Ok(rows.into_iter().map(Overdose::from).collect())
        })
    }

    pub async fn insert_opioid_use(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        record: &NewOpioidUse,
        by: UserId,
        audit: impl FnOnce(OpioidUseId) -> AuditEntry,
    ) -> Result<OpioidUse> {
        let id = OpioidUseId::new();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO opioid_use (id, organization_id, patient_id, used_on, substance, source, \
                 notes, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(patient.as_uuid())
            .bind(DbDate(record.used_on))
            .bind(&record.substance)
            .bind(record.source.as_str())
            .bind(&record.notes)
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        on_pool!(self, pool => {
            let row: Option<OpioidUseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {OPIOID_USE_COLUMNS} FROM opioid_use WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("opioid_use"))?;
            row.map(OpioidUse::try_from)
                .transpose()?
                .ok_or(StoreError::NotFound("opioid use"))
        })
    }

    /// Non-prescribed opioid use on or after `since`, newest first, at most `max`.
    pub async fn opioid_use_since(
        &self,
        patient: PatientId,
        since: Date,
        max: usize,
    ) -> Result<Vec<OpioidUse>> {
        on_pool!(self, pool => {
            let rows: Vec<OpioidUseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {OPIOID_USE_COLUMNS} FROM opioid_use WHERE patient_id = $1 AND used_on >= $2 \
                 ORDER BY used_on DESC, recorded_at DESC LIMIT $3"
            )))
            .bind(patient.as_uuid())
            .bind(DbDate(since))
            .bind(limit(max))
            .fetch_all(pool)
            .await
            .map_err(reading("opioid_use"))?;
            rows.into_iter().map(OpioidUse::try_from).collect()
        })
    }

    /// The latest assessment of `instrument` completed in `[from, until]` whose total is
    /// above zero (a "yes" on a one-question check), if any.
    pub async fn latest_positive_assessment(
        &self,
        patient: PatientId,
        instrument: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Option<(speciosa_core::ids::AssessmentId, Timestamp)>> {
        on_pool!(self, pool => {
            let row: Option<(Uuid, DbTime)> = sqlx::query_as(
                "SELECT id, completed_at FROM assessments WHERE patient_id = $1 AND instrument = $2 \
                 AND completed_at >= $3 AND completed_at <= $4 AND total > 0 \
                 ORDER BY completed_at DESC LIMIT 1",
            )
            .bind(patient.as_uuid())
            .bind(instrument)
            .bind(DbTime::from(from))
            .bind(DbTime::from(until))
            .fetch_optional(pool)
            .await
            .map_err(reading("assessments"))?;
            Ok(row.map(|(id, at)| (speciosa_core::ids::AssessmentId::from_uuid(id), at.0)))
        })
    }
}
