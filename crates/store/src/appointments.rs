//! Visits and therapy sessions, and the secret calendar-feed addresses that publish them.
//! Reads are bounded: a window and a limit.

use jiff::Timestamp;
use speciosa_core::appointment::{AppointmentKind, AppointmentStatus, NewAppointment};
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{AppointmentId, OrganizationId, PatientId, UserId};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbTime, Result, Store, StoreError, on_pool, reading};

#[derive(Clone, Debug, PartialEq)]
pub struct Appointment {
    pub id: AppointmentId,
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub clinician_id: UserId,
    pub kind: AppointmentKind,
    pub starts_at: Timestamp,
    pub duration_minutes: u16,
    pub location: Option<String>,
    pub status: AppointmentStatus,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub cancelled_at: Option<Timestamp>,
    /// The clinician's display name and the patient's, for the pages and feeds.
    pub clinician_name: String,
    pub patient_name: String,
}

#[derive(sqlx::FromRow)]
struct AppointmentRow {
    id: Uuid,
    organization_id: Uuid,
    patient_id: Uuid,
    clinician_id: Uuid,
    kind: String,
    starts_at: DbTime,
    duration_minutes: i32,
    location: Option<String>,
    status: String,
    created_by: Uuid,
    created_at: DbTime,
    cancelled_at: Option<DbTime>,
    clinician_name: String,
    patient_name: String,
}

impl TryFrom<AppointmentRow> for Appointment {
    type Error = StoreError;

    fn try_from(row: AppointmentRow) -> Result<Self> {
        let kind = AppointmentKind::parse(&row.kind).ok_or_else(|| {
            StoreError::Corrupt(format!("appointments.kind holds {:?}", row.kind))
        })?;
        let status = AppointmentStatus::parse(&row.status).ok_or_else(|| {
            StoreError::Corrupt(format!("appointments.status holds {:?}", row.status))
        })?;
        let duration_minutes = u16::try_from(row.duration_minutes).map_err(|_| {
            StoreError::Corrupt(format!(
                "appointments.duration_minutes holds {}",
                row.duration_minutes
            ))
        })?;
        Ok(Appointment {
            id: AppointmentId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            patient_id: PatientId::from_uuid(row.patient_id),
            clinician_id: UserId::from_uuid(row.clinician_id),
            kind,
            starts_at: row.starts_at.0,
            duration_minutes,
            location: row.location,
            status,
            created_by: UserId::from_uuid(row.created_by),
            created_at: row.created_at.0,
            cancelled_at: row.cancelled_at.map(|t| t.0),
            clinician_name: row.clinician_name,
            patient_name: row.patient_name,
        })
    }
}

const APPOINTMENT_SELECT: &str = "SELECT a.id, a.organization_id, a.patient_id, a.clinician_id, \
    a.kind, a.starts_at, a.duration_minutes, a.location, a.status, a.created_by, a.created_at, \
    a.cancelled_at, u.display_name AS clinician_name, p.display_name AS patient_name \
    FROM appointments a JOIN users u ON u.id = a.clinician_id JOIN patients p ON p.id = a.patient_id";

/// The most rows any one read returns.
pub const APPOINTMENT_READ_LIMIT: usize = 500;

fn limit(n: usize) -> i64 {
    i64::try_from(n.min(APPOINTMENT_READ_LIMIT)).unwrap_or(0)
}

impl Store {
    pub async fn insert_appointment(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        clinician: UserId,
        booking: &NewAppointment,
        by: UserId,
        audit: impl FnOnce(AppointmentId) -> AuditEntry,
    ) -> Result<Appointment> {
        let id = AppointmentId::new();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO appointments (id, organization_id, patient_id, clinician_id, kind, starts_at, \
                 duration_minutes, location, status, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', $9, $10)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(patient.as_uuid())
            .bind(clinician.as_uuid())
            .bind(booking.kind.as_str())
            .bind(DbTime::from(booking.starts_at))
            .bind(i32::from(booking.duration_minutes))
            .bind(&booking.location)
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        self.get_appointment(id)
            .await?
            .ok_or(StoreError::NotFound("appointment"))
    }

    pub async fn get_appointment(&self, id: AppointmentId) -> Result<Option<Appointment>> {
        on_pool!(self, pool => {
            let row: Option<AppointmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{APPOINTMENT_SELECT} WHERE a.id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("appointments"))?;
            row.map(Appointment::try_from).transpose()
        })
    }

    /// Cancels a scheduled appointment; `false` when it was not scheduled (already
    /// cancelled), in which case nothing is written.
    pub async fn cancel_appointment(
        &self,
        id: AppointmentId,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE appointments SET status = 'cancelled', cancelled_by = $1, cancelled_at = $2 \
                 WHERE id = $3 AND status = 'scheduled'",
            )
            .bind(by.as_uuid())
            .bind(DbTime::now())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(false);
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// A patient's scheduled appointments starting in `[from, to)`, earliest first.
    pub async fn patient_appointments_between(
        &self,
        patient: PatientId,
        from: Timestamp,
        to: Timestamp,
        max: usize,
    ) -> Result<Vec<Appointment>> {
        on_pool!(self, pool => {
            let rows: Vec<AppointmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{APPOINTMENT_SELECT} WHERE a.patient_id = $1 AND a.status = 'scheduled' \
                 AND a.starts_at >= $2 AND a.starts_at < $3 ORDER BY a.starts_at, a.id LIMIT $4"
            )))
            .bind(patient.as_uuid())
            .bind(DbTime::from(from))
            .bind(DbTime::from(to))
            .bind(limit(max))
            .fetch_all(pool)
            .await
            .map_err(reading("appointments"))?;
            rows.into_iter().map(Appointment::try_from).collect()
        })
    }

    /// A patient's next scheduled appointments from `from`, at most `max`.
    pub async fn upcoming_appointments(
        &self,
        patient: PatientId,
        from: Timestamp,
        max: usize,
    ) -> Result<Vec<Appointment>> {
        let end = jiff::civil::date(2101, 1, 1)
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map_or(from, |z| z.timestamp());
        self.patient_appointments_between(patient, from, end, max)
            .await
    }

    /// A clinician's scheduled appointments starting in `[from, to)`, earliest first.
    pub async fn clinician_appointments_between(
        &self,
        clinician: UserId,
        from: Timestamp,
        to: Timestamp,
        max: usize,
    ) -> Result<Vec<Appointment>> {
        on_pool!(self, pool => {
            let rows: Vec<AppointmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{APPOINTMENT_SELECT} WHERE a.clinician_id = $1 AND a.status = 'scheduled' \
                 AND a.starts_at >= $2 AND a.starts_at < $3 ORDER BY a.starts_at, a.id LIMIT $4"
            )))
            .bind(clinician.as_uuid())
            .bind(DbTime::from(from))
            .bind(DbTime::from(to))
            .bind(limit(max))
            .fetch_all(pool)
            .await
            .map_err(reading("appointments"))?;
            rows.into_iter().map(Appointment::try_from).collect()
        })
    }

    /// Every scheduled appointment starting in `[from, to)`, earliest first, at most
    /// `max`: what a reminder worker sends about.
    pub async fn appointments_starting_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        max: usize,
    ) -> Result<Vec<Appointment>> {
        on_pool!(self, pool => {
            let rows: Vec<AppointmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{APPOINTMENT_SELECT} WHERE a.status = 'scheduled' \
                 AND a.starts_at >= $1 AND a.starts_at < $2 ORDER BY a.starts_at, a.id LIMIT $3"
            )))
            .bind(DbTime::from(from))
            .bind(DbTime::from(to))
            .bind(limit(max))
            .fetch_all(pool)
            .await
            .map_err(reading("appointments"))?;
            rows.into_iter().map(Appointment::try_from).collect()
        })
    }

    /// Creates or replaces `user`'s calendar feed: the previous token stops working in
    /// the same transaction.
    pub async fn replace_calendar_feed(
        &self,
        user: UserId,
        token_sha256: &str,
        audit: AuditEntry,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO calendar_feeds (user_id, token_sha256, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user.as_uuid())
            .bind(token_sha256)
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Revokes `user`'s calendar feed; `false` when there was none (nothing written).
    pub async fn delete_calendar_feed(&self, user: UserId, audit: AuditEntry) -> Result<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await?;
            if deleted.rows_affected() == 0 {
                return Ok(false);
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// The user a feed token belongs to and when the feed was made, if it is current.
    pub async fn calendar_feed_owner(
        &self,
        token_sha256: &str,
    ) -> Result<Option<(UserId, Timestamp)>> {
        on_pool!(self, pool => {
            let row: Option<(Uuid, DbTime)> = sqlx::query_as(
                "SELECT user_id, created_at FROM calendar_feeds WHERE token_sha256 = $1",
            )
            .bind(token_sha256)
            .fetch_optional(pool)
            .await
            .map_err(reading("calendar_feeds"))?;
            Ok(row.map(|(id, at)| (UserId::from_uuid(id), at.0)))
        })
    }

    /// When `user`'s current feed was made, if they have one.
    pub async fn calendar_feed_created(&self, user: UserId) -> Result<Option<Timestamp>> {
        on_pool!(self, pool => {
            let row: Option<(DbTime,)> =
                sqlx::query_as("SELECT created_at FROM calendar_feeds WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .fetch_optional(pool)
                    .await
                    .map_err(reading("calendar_feeds"))?;
            Ok(row.map(|(at,)| at.0))
        })
    }
}
