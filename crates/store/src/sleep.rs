//! CBT-I sleep windows and each clinic's sleep-restriction parameters. Nights themselves are
//! derived from doses and diaries and never stored.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use speciosa_core::sleep_window::WindowSettings;
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbTime, Result, Store, StoreError, on_pool, reading};

/// An approved sleep window.
#[derive(Clone, Debug, PartialEq)]
pub struct SleepWindow {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub starts_on: Date,
    pub time_in_bed_min: i64,
    pub bedtime: Time,
    pub rise_time: Time,
    pub based_on: serde_json::Value,
    pub note: Option<String>,
    pub approved_by: UserId,
    pub approved_at: Timestamp,
}

/// A window about to be stored.
#[derive(Clone, Debug)]
pub struct NewSleepWindow {
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub starts_on: Date,
    pub time_in_bed_min: i64,
    pub bedtime: Time,
    pub rise_time: Time,
    pub based_on: serde_json::Value,
    pub note: Option<String>,
    pub approved_by: UserId,
}

#[derive(sqlx::FromRow)]
struct SleepWindowRow {
    id: Uuid,
    organization_id: Uuid,
    patient_id: Uuid,
    starts_on: String,
    time_in_bed_min: i32,
    bedtime: String,
    rise_time: String,
    based_on: Json<serde_json::Value>,
    note: Option<String>,
    approved_by: Uuid,
    approved_at: DbTime,
}

fn hh_mm(time: Time) -> String {
    time.strftime("%H:%M").to_string()
}

impl TryFrom<SleepWindowRow> for SleepWindow {
    type Error = StoreError;

    fn try_from(row: SleepWindowRow) -> Result<Self> {
        let corrupt = |column: &str, value: &str| {
            StoreError::Corrupt(format!("sleep_windows.{column} holds {value:?}"))
        };
        let time = |column: &str, value: &str| {
            Time::strptime("%H:%M", value).map_err(|_| corrupt(column, value))
        };
        Ok(SleepWindow {
            id: row.id,
            organization_id: OrganizationId::from_uuid(row.organization_id),
            patient_id: PatientId::from_uuid(row.patient_id),
            starts_on: row
                .starts_on
                .parse()
                .map_err(|_| corrupt("starts_on", &row.starts_on))?,
            time_in_bed_min: i64::from(row.time_in_bed_min),
            bedtime: time("bedtime", &row.bedtime)?,
            rise_time: time("rise_time", &row.rise_time)?,
            based_on: row.based_on.0,
            note: row.note,
            approved_by: UserId::from_uuid(row.approved_by),
            approved_at: row.approved_at.0,
        })
    }
}

const WINDOW_COLUMNS: &str = "id, organization_id, patient_id, starts_on, time_in_bed_min, bedtime, \
    rise_time, based_on, note, approved_by, approved_at";

/// The most windows one read returns (a year of weekly windows, with room).
pub const SLEEP_WINDOW_READ_LIMIT: i64 = 60;

impl Store {
    /// Stores an approved window with its audit event.
    pub async fn insert_sleep_window(
        &self,
        window: &NewSleepWindow,
        audit: AuditEntry,
    ) -> Result<SleepWindow> {
        let id = Uuid::now_v7();
        let approved_at = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO sleep_windows (id, organization_id, patient_id, starts_on, time_in_bed_min, \
                 bedtime, rise_time, based_on, note, approved_by, approved_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(id)
            .bind(window.organization_id.as_uuid())
            .bind(window.patient_id.as_uuid())
            .bind(window.starts_on.to_string())
            .bind(i32::try_from(window.time_in_bed_min).unwrap_or(i32::MAX))
            .bind(hh_mm(window.bedtime))
            .bind(hh_mm(window.rise_time))
            .bind(Json(&window.based_on))
            .bind(&window.note)
            .bind(window.approved_by.as_uuid())
            .bind(approved_at)
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(SleepWindow {
            id,
            organization_id: window.organization_id,
            patient_id: window.patient_id,
            starts_on: window.starts_on,
            time_in_bed_min: window.time_in_bed_min,
            bedtime: window.bedtime,
            rise_time: window.rise_time,
            based_on: window.based_on.clone(),
            note: window.note.clone(),
            approved_by: window.approved_by,
            approved_at: approved_at.0,
        })
    }

    /// The patient's windows starting on or before `until`, newest first (latest approval
    /// first for one start date), at most [`SLEEP_WINDOW_READ_LIMIT`].
    pub async fn sleep_windows(&self, patient: PatientId, until: Date) -> Result<Vec<SleepWindow>> {
        on_pool!(self, pool => {
            let rows: Vec<SleepWindowRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {WINDOW_COLUMNS} FROM sleep_windows WHERE patient_id = $1 AND starts_on <= $2 \
                 ORDER BY starts_on DESC, approved_at DESC LIMIT $3"
            )))
            .bind(patient.as_uuid())
            .bind(until.to_string())
            .bind(SLEEP_WINDOW_READ_LIMIT)
            .fetch_all(pool)
            .await
            .map_err(reading("sleep_windows"))?;
            rows.into_iter().map(SleepWindow::try_from).collect()
        })
    }

    /// The clinic's sleep-restriction parameters, or the defaults.
    pub async fn sleep_window_settings(
        &self,
        organization: OrganizationId,
    ) -> Result<WindowSettings> {
        on_pool!(self, pool => {
            let row: Option<(i32, f64, f64, i32, i32)> = sqlx::query_as(
                "SELECT floor_min, extend_at_pct, shrink_below_pct, step_min, goal_min \
                 FROM organization_sleep_window_settings WHERE organization_id = $1",
            )
            .bind(organization.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("organization_sleep_window_settings"))?;
            Ok(row.map_or_else(WindowSettings::default, |(floor, extend, shrink, step, goal)| {
                WindowSettings {
                    floor_min: i64::from(floor),
                    extend_at_pct: extend,
                    shrink_below_pct: shrink,
                    step_min: i64::from(step),
                    goal_min: i64::from(goal),
                }
            }))
        })
    }

    pub async fn set_sleep_window_settings(
        &self,
        organization: OrganizationId,
        settings: &WindowSettings,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<()> {
        let small = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM organization_sleep_window_settings WHERE organization_id = $1")
                .bind(organization.as_uuid())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO organization_sleep_window_settings (organization_id, floor_min, extend_at_pct, \
                 shrink_below_pct, step_min, goal_min, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(organization.as_uuid())
            .bind(small(settings.floor_min))
            .bind(settings.extend_at_pct)
            .bind(settings.shrink_below_pct)
            .bind(small(settings.step_min))
            .bind(small(settings.goal_min))
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
