//! Per-patient summaries, kept in step with the records inside the same write
//! transaction: totals per patient-local day (and per batch), the latest results of
//! each instrument, the last check-in and the open alerts. The rules and the roster
//! read these few rows instead of a patient's whole history; [`Store::rebuild_summaries`]
//! recomputes them all from the records.
//!
//! Amounts are kept in whole micrograms, each dose rounded once, so adding a dose and
//! later subtracting it is exact and a rebuild agrees with incremental upkeep exactly.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use speciosa_core::ids::{AssessmentId, BatchId, OrganizationId, PatientId, UserId};
use sqlx::{Postgres, Sqlite};
use uuid::Uuid;

use sqlx::{FromRow, Row};

use crate::patients::{PATIENT_COLUMNS, PATIENT_FROM, PatientRow};
use crate::{
    BeginWrite, DbDate, DbTime, Patient, ReadConnection, Result, Store, StoreError,
    UnreadablePatient, WriteTx, on_pool, reading,
};

/// Micrograms in a milligram and in a gram; microlitres in a millilitre.
const UG_PER_MG: f64 = 1_000.0;
const UG_PER_G: f64 = 1_000_000.0;
const UL_PER_ML: f64 = 1_000.0;

fn micrograms(value: Option<f64>, per_unit: f64) -> i64 {
    value.map_or(0, |v| (v * per_unit).round() as i64)
}

/// The patient-local day of a dose: the date in the zone it was logged in (UTC if that
/// zone is unknown), as everywhere else daily totals are computed.
pub(crate) fn dose_day(taken_at: Timestamp, time_zone: &str) -> Date {
    let zone = jiff::tz::db()
        .get(time_zone)
        .unwrap_or(jiff::tz::TimeZone::UTC);
    speciosa_core::dose::local_date(DbTime::from(taken_at).0, &zone)
}

/// What one current dose adds to (or, with `sign` -1, takes from) the day totals.
#[derive(Clone, Debug)]
pub(crate) struct DoseContribution {
    pub patient: PatientId,
    pub batch: BatchId,
    pub day: Date,
    pub mitragynine_ug: i64,
    pub hydroxymitragynine_ug: i64,
    pub grams_ug: i64,
    pub millilitres_ul: i64,
    pub without_mitragynine: i64,
    pub bedtime: i64,
}

impl DoseContribution {
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        patient: PatientId,
        batch: BatchId,
        taken_at: Timestamp,
        time_zone: &str,
        mitragynine_mg: Option<f64>,
        hydroxymitragynine_mg: Option<f64>,
        grams: Option<f64>,
        millilitres: Option<f64>,
        bedtime: bool,
    ) -> Self {
        DoseContribution {
            patient,
            batch,
            day: dose_day(taken_at, time_zone),
            mitragynine_ug: micrograms(mitragynine_mg, UG_PER_MG),
            hydroxymitragynine_ug: micrograms(hydroxymitragynine_mg, UG_PER_MG),
            grams_ug: micrograms(grams, UG_PER_G),
            millilitres_ul: micrograms(millilitres, UL_PER_ML),
            without_mitragynine: i64::from(mitragynine_mg.is_none()),
            bedtime: i64::from(bedtime),
        }
    }
}

/// The columns a removed dose is read back with (`RETURNING`), to subtract it.
pub(crate) const CONTRIBUTION_COLUMNS: &str = "patient_id, batch_id, taken_at, time_zone, mitragynine_mg, hydroxymitragynine_mg, grams, millilitres, bedtime";

pub(crate) type ContributionRow = (
    Uuid,
    Uuid,
    DbTime,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    bool,
);

pub(crate) fn contribution_of(row: ContributionRow) -> DoseContribution {
    let (patient, batch, taken_at, zone, mg, hydroxy, grams, millilitres, bedtime) = row;
    DoseContribution::of(
        PatientId::from_uuid(patient),
        BatchId::from_uuid(batch),
        taken_at.0,
        &zone,
        mg,
        hydroxy,
        grams,
        millilitres,
        bedtime,
    )
}

/// Changes to the summaries, made inside the caller's write transaction.
pub(crate) trait MaintainSummaries {
    /// Adds (`sign` 1) or subtracts (`sign` -1) one current dose.
    async fn count_dose(&mut self, dose: &DoseContribution, sign: i64) -> Result<()>;
    /// Records a new assessment as the latest (or previous) result and as a check-in.
    async fn count_assessment(
        &mut self,
        patient: PatientId,
        instrument: &str,
        id: AssessmentId,
        total: Option<f64>,
        band: Option<&str>,
        completed_at: Timestamp,
    ) -> Result<()>;
    /// Adds to the patient's alert counts (negative to take away).
    async fn count_alerts(&mut self, patient: PatientId, change: AlertCounts) -> Result<()>;
}

/// Open alerts by severity, and acknowledged ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertCounts {
    pub open_urgent: i64,
    pub open_warning: i64,
    pub open_info: i64,
    pub acknowledged: i64,
}

impl AlertCounts {
    /// One alert of `severity` in `status` (`open`, `acknowledged`; anything else counts nothing).
    pub(crate) fn one(severity: &str, status: &str) -> Self {
        let mut counts = AlertCounts::default();
        match (status, severity) {
            ("open", "urgent") => counts.open_urgent = 1,
            ("open", "warning") => counts.open_warning = 1,
            ("open", _) => counts.open_info = 1,
            ("acknowledged", _) => counts.acknowledged = 1,
            _ => {}
        }
        counts
    }

    pub(crate) fn plus(self, other: AlertCounts) -> Self {
        AlertCounts {
            open_urgent: self.open_urgent + other.open_urgent,
            open_warning: self.open_warning + other.open_warning,
            open_info: self.open_info + other.open_info,
            acknowledged: self.acknowledged + other.acknowledged,
        }
    }

    pub(crate) fn minus(self, other: AlertCounts) -> Self {
        AlertCounts {
            open_urgent: self.open_urgent - other.open_urgent,
            open_warning: self.open_warning - other.open_warning,
            open_info: self.open_info - other.open_info,
            acknowledged: self.acknowledged - other.acknowledged,
        }
    }
}

const UPSERT_DAY: &str = "INSERT INTO patient_day_totals (patient_id, day, mitragynine_ug, hydroxymitragynine_ug, \
    doses, doses_without_mitragynine, bedtime_doses) VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (patient_id, day) DO UPDATE SET \
    mitragynine_ug = patient_day_totals.mitragynine_ug + excluded.mitragynine_ug, \
    hydroxymitragynine_ug = patient_day_totals.hydroxymitragynine_ug + excluded.hydroxymitragynine_ug, \
    doses = patient_day_totals.doses + excluded.doses, \
    doses_without_mitragynine = patient_day_totals.doses_without_mitragynine + excluded.doses_without_mitragynine, \
    bedtime_doses = patient_day_totals.bedtime_doses + excluded.bedtime_doses";
const UPSERT_BATCH_DAY: &str = "INSERT INTO patient_day_batch_grams (patient_id, day, batch_id, grams_ug, millilitres_ul, doses) \
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (patient_id, day, batch_id) DO UPDATE SET \
    grams_ug = patient_day_batch_grams.grams_ug + excluded.grams_ug, \
    millilitres_ul = patient_day_batch_grams.millilitres_ul + excluded.millilitres_ul, \
    doses = patient_day_batch_grams.doses + excluded.doses";
const UPSERT_SUMMARY: &str = "INSERT INTO patient_summary (patient_id, last_check_in_at, open_urgent, open_warning, \
    open_info, acknowledged) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (patient_id) DO UPDATE SET \
    last_check_in_at = CASE WHEN patient_summary.last_check_in_at IS NULL \
        OR patient_summary.last_check_in_at < excluded.last_check_in_at \
        THEN excluded.last_check_in_at ELSE patient_summary.last_check_in_at END, \
    open_urgent = patient_summary.open_urgent + excluded.open_urgent, \
    open_warning = patient_summary.open_warning + excluded.open_warning, \
    open_info = patient_summary.open_info + excluded.open_info, \
    acknowledged = patient_summary.acknowledged + excluded.acknowledged";

macro_rules! impl_maintain_summaries {
    ($($db:ty),+) => {$(
        impl MaintainSummaries for WriteTx<$db> {
            async fn count_dose(&mut self, dose: &DoseContribution, sign: i64) -> Result<()> {
                let day = DbDate(dose.day);
                sqlx::query(UPSERT_DAY)
                    .bind(dose.patient.as_uuid())
                    .bind(day)
                    .bind(sign * dose.mitragynine_ug)
                    .bind(sign * dose.hydroxymitragynine_ug)
                    .bind(sign)
                    .bind(sign * dose.without_mitragynine)
                    .bind(sign * dose.bedtime)
                    .execute(&mut **self)
                    .await?;
                sqlx::query(UPSERT_BATCH_DAY)
                    .bind(dose.patient.as_uuid())
                    .bind(day)
                    .bind(dose.batch.as_uuid())
                    .bind(sign * dose.grams_ug)
                    .bind(sign * dose.millilitres_ul)
                    .bind(sign)
                    .execute(&mut **self)
                    .await?;
                if sign < 0 {
                    // A day with no current doses left has no row, as after a rebuild.
                    sqlx::query("DELETE FROM patient_day_totals WHERE patient_id = $1 AND day = $2 AND doses = 0")
                        .bind(dose.patient.as_uuid())
                        .bind(day)
                        .execute(&mut **self)
                        .await?;
                    sqlx::query(
                        "DELETE FROM patient_day_batch_grams WHERE patient_id = $1 AND day = $2 \
                         AND batch_id = $3 AND doses = 0",
                    )
                    .bind(dose.patient.as_uuid())
                    .bind(day)
                    .bind(dose.batch.as_uuid())
                    .execute(&mut **self)
                    .await?;
                }
                Ok(())
            }

            async fn count_assessment(
                &mut self,
                patient: PatientId,
                instrument: &str,
                id: AssessmentId,
                total: Option<f64>,
                band: Option<&str>,
                completed_at: Timestamp,
            ) -> Result<()> {
                let completed_at = DbTime::from(completed_at);
                let standing: Option<(Uuid, Option<f64>, DbTime, Option<DbTime>)> = sqlx::query_as(
                    "SELECT assessment_id, total, completed_at, previous_completed_at FROM patient_latest_results \
                     WHERE patient_id = $1 AND instrument = $2",
                )
                .bind(patient.as_uuid())
                .bind(instrument)
                .fetch_optional(&mut **self)
                .await?;
                match standing {
                    // The newest entry wins a tie: results are ordered by completion, then entry.
                    Some((latest_id, latest_total, latest_at, _)) if completed_at >= latest_at => {
                        sqlx::query(
                            "UPDATE patient_latest_results SET assessment_id = $1, total = $2, band = $3, \
                             completed_at = $4, previous_assessment_id = $5, previous_total = $6, \
                             previous_completed_at = $7 WHERE patient_id = $8 AND instrument = $9",
                        )
                        .bind(id.as_uuid())
                        .bind(total)
                        .bind(band)
                        .bind(completed_at)
                        .bind(latest_id)
                        .bind(latest_total)
                        .bind(latest_at)
                        .bind(patient.as_uuid())
                        .bind(instrument)
                        .execute(&mut **self)
                        .await?;
                    }
                    Some((_, _, _, previous_at)) => {
                        if previous_at.is_none_or(|at| completed_at >= at) {
                            sqlx::query(
                                "UPDATE patient_latest_results SET previous_assessment_id = $1, previous_total = $2, \
                                 previous_completed_at = $3 WHERE patient_id = $4 AND instrument = $5",
                            )
                            .bind(id.as_uuid())
                            .bind(total)
                            .bind(completed_at)
                            .bind(patient.as_uuid())
                            .bind(instrument)
                            .execute(&mut **self)
                            .await?;
                        }
                    }
                    None => {
                        sqlx::query(
                            "INSERT INTO patient_latest_results (patient_id, instrument, assessment_id, total, band, \
                             completed_at) VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(patient.as_uuid())
                        .bind(instrument)
                        .bind(id.as_uuid())
                        .bind(total)
                        .bind(band)
                        .bind(completed_at)
                        .execute(&mut **self)
                        .await?;
                    }
                }
                sqlx::query(UPSERT_SUMMARY)
                    .bind(patient.as_uuid())
                    .bind(Some(completed_at))
                    .bind(0_i64)
                    .bind(0_i64)
                    .bind(0_i64)
                    .bind(0_i64)
                    .execute(&mut **self)
                    .await?;
                Ok(())
            }

            async fn count_alerts(&mut self, patient: PatientId, change: AlertCounts) -> Result<()> {
                if change == AlertCounts::default() {
                    return Ok(());
                }
                sqlx::query(UPSERT_SUMMARY)
                    .bind(patient.as_uuid())
                    .bind(None::<DbTime>)
                    .bind(change.open_urgent)
                    .bind(change.open_warning)
                    .bind(change.open_info)
                    .bind(change.acknowledged)
                    .execute(&mut **self)
                    .await?;
                Ok(())
            }
        }
    )+};
}
impl_maintain_summaries!(Sqlite, Postgres);

/// A patient's current doses on one local day.
#[derive(Clone, Debug, PartialEq)]
pub struct DayTotal {
    pub patient_id: PatientId,
    pub day: Date,
    pub mitragynine_mg: f64,
    pub hydroxymitragynine_mg: f64,
    pub doses: i64,
    pub doses_without_mitragynine: i64,
    pub bedtime_doses: i64,
}

/// A patient's current doses of one batch on one local day.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchDay {
    pub batch_id: BatchId,
    pub day: Date,
    pub grams: f64,
    /// Liquids are dosed in mL and carry no grams.
    pub millilitres: f64,
    pub doses: i64,
}

/// The latest result of one instrument, and the one before it.
#[derive(Clone, Debug, PartialEq)]
pub struct LatestResult {
    pub patient_id: PatientId,
    pub instrument: String,
    pub assessment_id: AssessmentId,
    pub total: Option<f64>,
    pub band: Option<String>,
    pub completed_at: Timestamp,
    pub previous_assessment_id: Option<AssessmentId>,
    pub previous_total: Option<f64>,
    pub previous_completed_at: Option<Timestamp>,
}

/// The last check-in and the alert counts of one patient.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatientSummaryRow {
    pub last_check_in_at: Option<Timestamp>,
    pub alerts: AlertCounts,
}

/// Every summary row, in key order: what a rebuild is compared against.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SummarySnapshot {
    /// (patient, day, mitragynine µg, 7-OH µg, doses, doses without mitragynine, bedtime doses)
    pub day_totals: Vec<(Uuid, DbDate, i64, i64, i64, i64, i64)>,
    /// (patient, day, batch, grams µg, doses, millilitres µL)
    pub batch_days: Vec<(Uuid, DbDate, Uuid, i64, i64, i64)>,
    pub latest_results: Vec<LatestResult>,
    /// (patient, last check-in, open urgent, open warning, open info, acknowledged)
    pub patients: Vec<(Uuid, Option<DbTime>, i64, i64, i64, i64)>,
}

/// What a rebuild wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub day_totals: usize,
    pub batch_days: usize,
    pub latest_results: usize,
    pub patients: usize,
    /// Whether the rebuilt summaries differ from those kept as data arrived.
    pub changed: bool,
}

type LatestRow = (
    Uuid,
    String,
    Uuid,
    Option<f64>,
    Option<String>,
    DbTime,
    Option<Uuid>,
    Option<f64>,
    Option<DbTime>,
);

fn latest_from_row(row: LatestRow) -> LatestResult {
    let (patient, instrument, id, total, band, at, previous, previous_total, previous_at) = row;
    LatestResult {
        patient_id: PatientId::from_uuid(patient),
        instrument,
        assessment_id: AssessmentId::from_uuid(id),
        total,
        band,
        completed_at: at.0,
        previous_assessment_id: previous.map(AssessmentId::from_uuid),
        previous_total,
        previous_completed_at: previous_at.map(|t| t.0),
    }
}

const LATEST_COLUMNS: &str = "patient_id, instrument, assessment_id, total, band, completed_at, \
    previous_assessment_id, previous_total, previous_completed_at";

type DayRow = (Uuid, DbDate, i64, i64, i64, i64, i64);

fn day_from_row(row: DayRow) -> DayTotal {
    let (patient, day, mg, hydroxy, doses, without, bedtime) = row;
    DayTotal {
        patient_id: PatientId::from_uuid(patient),
        day: day.0,
        mitragynine_mg: mg as f64 / UG_PER_MG,
        hydroxymitragynine_mg: hydroxy as f64 / UG_PER_MG,
        doses,
        doses_without_mitragynine: without,
        bedtime_doses: bedtime,
    }
}

const DAY_COLUMNS: &str = "patient_id, day, mitragynine_ug, hydroxymitragynine_ug, doses, \
    doses_without_mitragynine, bedtime_doses";

/// Reads every summary table in key order, through `$executor`.
macro_rules! snapshot {
    ($executor:expr) => {{
        let day_totals = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DAY_COLUMNS} FROM patient_day_totals ORDER BY patient_id, day"
        )))
        .fetch_all(&mut *$executor)
        .await
        .map_err(reading("patient_day_totals"))?;
        let batch_days = sqlx::query_as(
            "SELECT patient_id, day, batch_id, grams_ug, doses, millilitres_ul FROM patient_day_batch_grams \
             ORDER BY patient_id, day, batch_id",
        )
        .fetch_all(&mut *$executor)
        .await
        .map_err(reading("patient_day_batch_grams"))?;
        let latest: Vec<LatestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LATEST_COLUMNS} FROM patient_latest_results ORDER BY patient_id, instrument"
        )))
        .fetch_all(&mut *$executor)
        .await
        .map_err(reading("patient_latest_results"))?;
        let patients = sqlx::query_as(
            "SELECT patient_id, last_check_in_at, open_urgent, open_warning, open_info, acknowledged \
             FROM patient_summary ORDER BY patient_id",
        )
        .fetch_all(&mut *$executor)
        .await
        .map_err(reading("patient_summary"))?;
        SummarySnapshot {
            day_totals,
            batch_days,
            latest_results: latest.into_iter().map(latest_from_row).collect(),
            patients,
        }
    }};
}

impl Store {
    /// Every summary row as it stands.
    pub async fn summary_snapshot(&self) -> Result<SummarySnapshot> {
        on_pool!(self, pool => {
            let mut connection = pool.read_connection().await?;
            Ok(snapshot!(connection))
        })
    }

    /// Recomputes every summary from the records, in one write transaction, and says
    /// whether the result differs from what was kept as data arrived.
    pub async fn rebuild_summaries(&self) -> Result<RebuildReport> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let before = snapshot!(tx);
            for table in ["patient_day_totals", "patient_day_batch_grams", "patient_latest_results", "patient_summary"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut *tx).await?;
            }
            let doses: Vec<ContributionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CONTRIBUTION_COLUMNS} FROM doses WHERE superseded_at IS NULL AND deleted_at IS NULL"
            )))
            .fetch_all(&mut *tx)
            .await
            .map_err(reading("doses"))?;
            let mut days: BTreeMap<(Uuid, Date), [i64; 5]> = BTreeMap::new();
            let mut batch_days: BTreeMap<(Uuid, Date, Uuid), [i64; 3]> = BTreeMap::new();
            for row in doses {
                let dose = contribution_of(row);
                let day = days.entry((dose.patient.as_uuid(), dose.day)).or_default();
                day[0] += dose.mitragynine_ug;
                day[1] += dose.hydroxymitragynine_ug;
                day[2] += 1;
                day[3] += dose.without_mitragynine;
                day[4] += dose.bedtime;
                let batch = batch_days
                    .entry((dose.patient.as_uuid(), dose.day, dose.batch.as_uuid()))
                    .or_default();
                batch[0] += dose.grams_ug;
                batch[1] += dose.millilitres_ul;
                batch[2] += 1;
            }
            for ((patient, day), [mg, hydroxy, count, without, bedtime]) in &days {
                sqlx::query(UPSERT_DAY)
                    .bind(patient).bind(DbDate(*day)).bind(mg).bind(hydroxy).bind(count).bind(without).bind(bedtime)
                    .execute(&mut *tx).await?;
            }
            for ((patient, day, batch), [grams, millilitres, count]) in &batch_days {
                sqlx::query(UPSERT_BATCH_DAY)
                    .bind(patient).bind(DbDate(*day)).bind(batch).bind(grams).bind(millilitres).bind(count)
                    .execute(&mut *tx).await?;
            }
            let assessments: Vec<(Uuid, String, Uuid, Option<f64>, Option<String>, DbTime)> = sqlx::query_as(
                "SELECT patient_id, instrument, id, total, band, completed_at FROM assessments \
                 ORDER BY patient_id, instrument, completed_at DESC, entered_at DESC",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(reading("assessments"))?;
            let mut latest: BTreeMap<(Uuid, String), LatestResult> = BTreeMap::new();
            let mut summaries: BTreeMap<Uuid, PatientSummaryRow> = BTreeMap::new();
            for (patient, instrument, id, total, band, at) in assessments {
                let summary = summaries.entry(patient).or_default();
                summary.last_check_in_at = summary.last_check_in_at.max(Some(at.0));
                match latest.get_mut(&(patient, instrument.clone())) {
                    None => {
                        latest.insert((patient, instrument.clone()), LatestResult {
                            patient_id: PatientId::from_uuid(patient),
                            instrument,
                            assessment_id: AssessmentId::from_uuid(id),
                            total,
                            band,
                            completed_at: at.0,
                            previous_assessment_id: None,
                            previous_total: None,
                            previous_completed_at: None,
                        });
                    }
                    Some(result) if result.previous_assessment_id.is_none() => {
                        result.previous_assessment_id = Some(AssessmentId::from_uuid(id));
                        result.previous_total = total;
                        result.previous_completed_at = Some(at.0);
                    }
                    Some(_) => {}
                }
            }
            for result in latest.values() {
                sqlx::query(
                    "INSERT INTO patient_latest_results (patient_id, instrument, assessment_id, total, band, \
                     completed_at, previous_assessment_id, previous_total, previous_completed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(result.patient_id.as_uuid())
                .bind(&result.instrument)
                .bind(result.assessment_id.as_uuid())
                .bind(result.total)
                .bind(&result.band)
                .bind(DbTime(result.completed_at))
                .bind(result.previous_assessment_id.map(|id| id.as_uuid()))
                .bind(result.previous_total)
                .bind(result.previous_completed_at.map(DbTime))
                .execute(&mut *tx)
                .await?;
            }
            let alerts: Vec<(Uuid, String, String)> =
                sqlx::query_as("SELECT patient_id, severity, status FROM alerts")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(reading("alerts"))?;
            for (patient, severity, status) in alerts {
                let summary = summaries.entry(patient).or_default();
                let one = AlertCounts::one(&severity, &status);
                summary.alerts = summary.alerts.plus(one);
            }
            for (patient, summary) in &summaries {
                sqlx::query(UPSERT_SUMMARY)
                    .bind(patient)
                    .bind(summary.last_check_in_at.map(DbTime))
                    .bind(summary.alerts.open_urgent)
                    .bind(summary.alerts.open_warning)
                    .bind(summary.alerts.open_info)
                    .bind(summary.alerts.acknowledged)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE summary_state SET rebuilt_at = $1 WHERE id = 1")
                .bind(DbTime::now())
                .execute(&mut *tx)
                .await?;
            let after = snapshot!(tx);
            tx.commit().await?;
            Ok(RebuildReport {
                day_totals: days.len(),
                batch_days: batch_days.len(),
                latest_results: latest.len(),
                patients: summaries.len(),
                changed: before != after,
            })
        })
    }

    /// Rebuilds the summaries if they were never computed (a database from before they
    /// existed): run when the store is opened.
    pub(crate) async fn rebuild_summaries_if_never_built(&self) -> Result<()> {
        let never: Option<(Option<DbTime>,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT rebuilt_at FROM summary_state WHERE id = 1")
                .fetch_optional(pool)
                .await?
        });
        if matches!(never, Some((None,)) | None) {
            self.rebuild_summaries().await?;
        }
        Ok(())
    }

    /// A patient's day totals for local days in `from..=to`, oldest first.
    pub async fn day_totals(
        &self,
        patient: PatientId,
        from: Date,
        to: Date,
    ) -> Result<Vec<DayTotal>> {
        on_pool!(self, pool => {
            let rows: Vec<DayRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DAY_COLUMNS} FROM patient_day_totals WHERE patient_id = $1 AND day >= $2 AND day <= $3 \
                 ORDER BY day"
            )))
            .bind(patient.as_uuid())
            .bind(DbDate(from))
            .bind(DbDate(to))
            .fetch_all(pool)
            .await
            .map_err(reading("patient_day_totals"))?;
            Ok(rows.into_iter().map(day_from_row).collect())
        })
    }

    /// Day totals for local days in `from..=to` of every patient on the clinician's care
    /// teams in the organization, by patient then day.
    pub async fn care_team_day_totals(
        &self,
        organization: OrganizationId,
        clinician: UserId,
        from: Date,
        to: Date,
    ) -> Result<Vec<DayTotal>> {
        on_pool!(self, pool => {
            let rows: Vec<DayRow> = sqlx::query_as(
                "SELECT t.patient_id, t.day, t.mitragynine_ug, t.hydroxymitragynine_ug, t.doses, \
                 t.doses_without_mitragynine, t.bedtime_doses FROM patient_day_totals t \
                 JOIN care_team_members c ON c.patient_id = t.patient_id AND c.clinician_id = $2 \
                 WHERE c.organization_id = $1 AND t.day >= $3 AND t.day <= $4 ORDER BY t.patient_id, t.day",
            )
            .bind(organization.as_uuid())
            .bind(clinician.as_uuid())
            .bind(DbDate(from))
            .bind(DbDate(to))
            .fetch_all(pool)
            .await
            .map_err(reading("patient_day_totals"))?;
            Ok(rows.into_iter().map(day_from_row).collect())
        })
    }

    /// The batches a patient used on local days in `from..=to`, with grams, millilitres
    /// and doses per day.
    pub async fn batch_days(
        &self,
        patient: PatientId,
        from: Date,
        to: Date,
    ) -> Result<Vec<BatchDay>> {
        on_pool!(self, pool => {
            let rows: Vec<(Uuid, DbDate, i64, i64, i64)> = sqlx::query_as(
                "SELECT batch_id, day, grams_ug, millilitres_ul, doses FROM patient_day_batch_grams \
                 WHERE patient_id = $1 AND day >= $2 AND day <= $3 ORDER BY batch_id, day",
            )
            .bind(patient.as_uuid())
            .bind(DbDate(from))
            .bind(DbDate(to))
            .fetch_all(pool)
            .await
            .map_err(reading("patient_day_batch_grams"))?;
            Ok(rows
                .into_iter()
                .map(|(batch, day, grams, millilitres, doses)| BatchDay {
                    batch_id: BatchId::from_uuid(batch),
                    day: day.0,
                    grams: grams as f64 / UG_PER_G,
                    millilitres: millilitres as f64 / UL_PER_ML,
                    doses,
                })
                .collect())
        })
    }

    /// The latest result (and the one before) of each instrument the patient completed.
    pub async fn latest_results(&self, patient: PatientId) -> Result<Vec<LatestResult>> {
        on_pool!(self, pool => {
            let rows: Vec<LatestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {LATEST_COLUMNS} FROM patient_latest_results WHERE patient_id = $1 ORDER BY instrument"
            )))
            .bind(patient.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("patient_latest_results"))?;
            Ok(rows.into_iter().map(latest_from_row).collect())
        })
    }

    /// The patient's last check-in and alert counts (all empty if they have neither).
    pub async fn patient_summary(&self, patient: PatientId) -> Result<PatientSummaryRow> {
        on_pool!(self, pool => {
            let row: Option<(Option<DbTime>, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT last_check_in_at, open_urgent, open_warning, open_info, acknowledged \
                 FROM patient_summary WHERE patient_id = $1",
            )
            .bind(patient.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("patient_summary"))?;
            Ok(row.map_or_else(PatientSummaryRow::default, |(at, urgent, warning, info, acknowledged)| {
                PatientSummaryRow {
                    last_check_in_at: at.map(|t| t.0),
                    alerts: AlertCounts {
                        open_urgent: urgent,
                        open_warning: warning,
                        open_info: info,
                        acknowledged,
                    },
                }
            }))
        })
    }
}

/// One patient's row of the clinician's roster, from the summaries.
#[derive(Clone, Debug)]
pub struct RosterEntry {
    pub patient: Patient,
    pub summary: PatientSummaryRow,
    /// Latest results, read from the assessments they point at.
    pub latest: Vec<LatestResult>,
    pub day_totals: Vec<DayTotal>,
    /// Sleep diaries in the window asked for: when, and their computed metrics.
    pub sleep_diaries: Vec<(Timestamp, Option<serde_json::Value>)>,
}

/// What the roster reads for a clinician's patients, and over which bounded windows.
#[derive(Clone, Copy, Debug)]
pub struct RosterWindow {
    pub first_day: Date,
    pub last_day: Date,
    pub sleep_since: Timestamp,
    pub sleep_until: Timestamp,
}

impl Store {
    /// The clinician's patients with their summaries, in four queries whatever their
    /// number or history: patients joined with their summary, the latest results (read
    /// from the assessment records they point at, so a damaged record shows), day totals
    /// and sleep diaries in `window`. A patient whose rows cannot be read is returned as
    /// [`UnreadablePatient`], alone.
    pub async fn care_team_roster(
        &self,
        organization: OrganizationId,
        clinician: UserId,
        window: RosterWindow,
    ) -> Result<Vec<std::result::Result<RosterEntry, UnreadablePatient>>> {
        let mut broken: BTreeMap<Uuid, StoreError> = BTreeMap::new();
        let (patients, latest, sleep) = on_pool!(self, pool => {
            let patients = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PATIENT_COLUMNS}, s.last_check_in_at, COALESCE(s.open_urgent, 0) AS open_urgent, \
                 COALESCE(s.open_warning, 0) AS open_warning, COALESCE(s.open_info, 0) AS open_info, \
                 COALESCE(s.acknowledged, 0) AS acknowledged FROM {PATIENT_FROM} \
                 JOIN care_team_members c ON c.patient_id = p.id AND c.clinician_id = $2 \
                 LEFT JOIN patient_summary s ON s.patient_id = p.id \
                 WHERE p.organization_id = $1 ORDER BY p.display_name, p.id"
            )))
            .bind(organization.as_uuid())
            .bind(clinician.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("patients"))?;
            let patients: Vec<_> = patients
                .iter()
                .map(|row| {
                    let id: Uuid = row.try_get("id").unwrap_or_default();
                    let name: Option<String> = row.try_get("display_name").ok();
                    let entry = PatientRow::from_row(row)
                        .map_err(reading("patients"))
                        .and_then(Patient::try_from)
                        .and_then(|patient| {
                            let at: Option<DbTime> = row.try_get("last_check_in_at").map_err(reading("patient_summary"))?;
                            let count = |column: &str| -> Result<i64> {
                                row.try_get(column).map_err(reading("patient_summary"))
                            };
                            Ok((patient, PatientSummaryRow {
                                last_check_in_at: at.map(|t| t.0),
                                alerts: AlertCounts {
                                    open_urgent: count("open_urgent")?,
                                    open_warning: count("open_warning")?,
                                    open_info: count("open_info")?,
                                    acknowledged: count("acknowledged")?,
                                },
                            }))
                        });
                    (id, name, entry)
                })
                .collect();
            let latest: Vec<(Uuid, Result<LatestResult>)> = sqlx::query(
                "SELECT r.patient_id, r.instrument, a.id AS assessment_id, a.total, a.band, a.completed_at, \
                 r.previous_assessment_id, b.total AS previous_total, b.completed_at AS previous_completed_at \
                 FROM patient_latest_results r \
                 JOIN care_team_members c ON c.patient_id = r.patient_id AND c.clinician_id = $2 \
                 AND c.organization_id = $1 \
                 JOIN assessments a ON a.id = r.assessment_id \
                 LEFT JOIN assessments b ON b.id = r.previous_assessment_id ORDER BY r.patient_id, r.instrument",
            )
            .bind(organization.as_uuid())
            .bind(clinician.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("assessments"))?
            .iter()
            .map(|row| {
                let patient: Uuid = row.try_get("patient_id").unwrap_or_default();
                let result = <LatestRow as FromRow<_>>::from_row(row)
                    .map(latest_from_row)
                    .map_err(reading("assessments"));
                (patient, result)
            })
            .collect();
            let sleep: Vec<(Uuid, Result<(Timestamp, Option<serde_json::Value>)>)> = sqlx::query(
                "SELECT a.patient_id, a.completed_at, a.metrics FROM assessments a \
                 JOIN care_team_members c ON c.patient_id = a.patient_id AND c.clinician_id = $2 \
                 AND c.organization_id = $1 \
                 WHERE a.instrument = 'sleep_diary' AND a.completed_at > $3 AND a.completed_at <= $4 \
                 ORDER BY a.patient_id, a.completed_at",
            )
            .bind(organization.as_uuid())
            .bind(clinician.as_uuid())
            .bind(DbTime::from(window.sleep_since))
            .bind(DbTime::from(window.sleep_until))
            .fetch_all(pool)
            .await
            .map_err(reading("assessments"))?
            .iter()
            .map(|row| {
                let patient: Uuid = row.try_get("patient_id").unwrap_or_default();
                let read = <(Uuid, DbTime, Option<sqlx::types::Json<serde_json::Value>>) as FromRow<_>>::from_row(row)
                    .map(|(_, at, metrics)| (at.0, metrics.map(|m| m.0)))
                    .map_err(reading("assessments"));
                (patient, read)
            })
            .collect();
            (patients, latest, sleep)
        });
        let days = self
            .care_team_day_totals(organization, clinician, window.first_day, window.last_day)
            .await?;
        let mut latest_by: BTreeMap<Uuid, Vec<LatestResult>> = BTreeMap::new();
        for (patient, result) in latest {
            match result {
                Ok(result) => latest_by.entry(patient).or_default().push(result),
                Err(error) => {
                    broken.entry(patient).or_insert(error);
                }
            }
        }
        let mut sleep_by: BTreeMap<Uuid, Vec<(Timestamp, Option<serde_json::Value>)>> =
            BTreeMap::new();
        for (patient, read) in sleep {
            match read {
                Ok(night) => sleep_by.entry(patient).or_default().push(night),
                Err(error) => {
                    broken.entry(patient).or_insert(error);
                }
            }
        }
        let mut days_by: BTreeMap<Uuid, Vec<DayTotal>> = BTreeMap::new();
        for day in days {
            days_by
                .entry(day.patient_id.as_uuid())
                .or_default()
                .push(day);
        }
        Ok(patients
            .into_iter()
            .map(|(id, display_name, entry)| {
                let unreadable = |error| UnreadablePatient {
                    id: PatientId::from_uuid(id),
                    display_name: display_name.clone(),
                    error,
                };
                let (patient, summary) = entry.map_err(unreadable)?;
                if let Some(error) = broken.remove(&id) {
                    return Err(unreadable(error));
                }
                Ok(RosterEntry {
                    patient,
                    summary,
                    latest: latest_by.remove(&id).unwrap_or_default(),
                    day_totals: days_by.remove(&id).unwrap_or_default(),
                    sleep_diaries: sleep_by.remove(&id).unwrap_or_default(),
                })
            })
            .collect())
    }
}
