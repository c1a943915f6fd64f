//! The scheduler's queue: each patient's next due check of the time-based rules, and
//! leases so several app servers on one PostgreSQL share the work without doing it
//! twice (`FOR UPDATE SKIP LOCKED`; SQLite has one writer, so a plain update suffices).

use jiff::{SignedDuration, Timestamp};
use speciosa_core::ids::PatientId;
use uuid::Uuid;

use crate::{Backend, BeginWrite, DbTime, Result, Store, reading};

/// The oldest overdue check, for the scheduler-lag metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckQueue {
    /// Patients whose check is due now (leased or not).
    pub due: i64,
    /// When the longest-waiting due check fell due.
    pub oldest_due_at: Option<Timestamp>,
}

impl Store {
    /// Leases up to `limit` patients whose check is due at `now` and not held by a live
    /// lease, to `worker` until `now + lease`. Oldest due first.
    pub async fn claim_due_checks(
        &self,
        worker: Uuid,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<PatientId>> {
        let until = DbTime::from(now + lease);
        let now = DbTime::from(now);
        let limit = i64::from(limit.max(1));
        let ids: Vec<(Uuid,)> = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let ids = sqlx::query_as(
                    "UPDATE patient_checks SET lease_until = $1, leased_by = $2 \
                     WHERE patient_id IN (SELECT patient_id FROM patient_checks \
                       WHERE next_check_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                       ORDER BY next_check_at LIMIT $4) \
                     RETURNING patient_id",
                )
                .bind(until)
                .bind(worker)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await
                .map_err(reading("patient_checks"))?;
                tx.commit().await?;
                ids
            }
            Backend::Postgres(pool) => sqlx::query_as(
                "UPDATE patient_checks SET lease_until = $1, leased_by = $2 \
                     WHERE patient_id IN (SELECT patient_id FROM patient_checks \
                       WHERE next_check_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                       ORDER BY next_check_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
                     RETURNING patient_id",
            )
            .bind(until)
            .bind(worker)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(reading("patient_checks"))?,
        };
        Ok(ids
            .into_iter()
            .map(|(id,)| PatientId::from_uuid(id))
            .collect())
    }

    /// Releases `worker`'s lease on `patient` and sets the next check. A failed check
    /// counts a failure (for the log and metrics) and is retried at `next_at` like any other.
    pub async fn finish_check(
        &self,
        worker: Uuid,
        patient: PatientId,
        checked_at: Timestamp,
        next_at: Timestamp,
        failed: bool,
    ) -> Result<()> {
        // A failure keeps the last good check time; a success resets the failure count.
        crate::on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if failed {
                sqlx::query(
                    "UPDATE patient_checks SET next_check_at = $1, lease_until = NULL, \
                     leased_by = NULL, failures = failures + 1 \
                     WHERE patient_id = $2 AND leased_by = $3",
                )
                .bind(DbTime::from(next_at))
                .bind(patient.as_uuid())
                .bind(worker)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(
                    "UPDATE patient_checks SET next_check_at = $1, lease_until = NULL, \
                     leased_by = NULL, failures = 0, last_checked_at = $4 \
                     WHERE patient_id = $2 AND leased_by = $3",
                )
                .bind(DbTime::from(next_at))
                .bind(patient.as_uuid())
                .bind(worker)
                .bind(DbTime::from(checked_at))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// How many checks are due at `now` and since when the oldest has waited.
    pub async fn check_queue(&self, now: Timestamp) -> Result<CheckQueue> {
        crate::on_pool!(self, pool => {
            let (due, oldest): (i64, Option<DbTime>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(next_check_at) FROM patient_checks WHERE next_check_at <= $1",
            )
            .bind(DbTime::from(now))
            .fetch_one(pool)
            .await
            .map_err(reading("patient_checks"))?;
            Ok(CheckQueue {
                due,
                oldest_due_at: oldest.map(|t| t.0),
            })
        })
    }
}
