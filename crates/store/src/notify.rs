//! Reaching people: preferences, the transactional outbox, urgent-alert paging with
//! escalation, the on-call list, the organization's webhook, and reminder due times.
//!
//! Notifications are written in the transaction of the event that causes them (an urgent
//! alert's first page is written with the alert), and a delivery worker sends them under
//! leases (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer). A worker that
//! dies mid-send loses its lease and another sends the same row again: the row's id is the
//! message's identity, so receivers can deduplicate.

use jiff::civil::Time;
use jiff::{SignedDuration, Timestamp};
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{AlertId, OrganizationId, PatientId, UserId};
use speciosa_core::notify::{
    Channel, MessageKind, NotificationPreferences, QuietHours, format_clock, parse_clock,
};
use sqlx::{Postgres, Sqlite};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{Backend, BeginWrite, DbTime, Result, Store, StoreError, WriteTx, on_pool, reading};

/// A message about to be written to the outbox.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub organization: OrganizationId,
    pub recipient: UserId,
    pub channel: Channel,
    pub kind: MessageKind,
    /// What it is about (`alert`, `patient`, `appointment`), for the alert's page and the log.
    pub subject_type: &'static str,
    pub subject_id: String,
    /// A path in Speciosa (`/alerts/…`); the sender prefixes the public URL.
    pub link: String,
    /// The same intent written twice (a re-run, a second server) is one message.
    pub dedupe_key: String,
    pub not_before: Timestamp,
}

/// A message in the outbox, with its recipient's address.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub recipient_id: UserId,
    pub recipient_name: String,
    pub recipient_email: String,
    pub channel: String,
    pub kind: String,
    pub subject_type: String,
    pub subject_id: String,
    pub link: String,
    pub urgent: bool,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// What one delivery attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Try again at `retry_at`.
    Failed {
        error: String,
        retry_at: Timestamp,
    },
    /// Give up: permanent, or out of attempts (an admin can retry).
    Dead {
        error: String,
    },
}

/// Where an urgent alert's paging stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paging {
    pub alert_id: AlertId,
    pub opened_at: Timestamp,
    pub interval: SignedDuration,
    /// The next round (1 = the first escalation to the on-call list).
    pub next_round: i64,
    pub next_round_at: Timestamp,
    pub stopped_at: Option<Timestamp>,
    pub stop_reason: Option<String>,
}

/// A round of paging that was due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageRound {
    /// Messages were written to these people.
    Paged {
        round: i64,
        recipients: usize,
        to_on_call: bool,
    },
    /// The alert had been acknowledged or resolved: paging stopped.
    Stopped,
    /// Another server holds it, or it no longer exists.
    Skipped,
}

/// An organization's signed webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

/// A person who can be paged, with their channels.
#[derive(Clone, Debug)]
struct Pageable {
    user: UserId,
    channels: Vec<Channel>,
}

fn channels_from(raw: Option<&str>) -> Vec<Channel> {
    match raw {
        // Never chosen: e-mail (see `NotificationPreferences::default_for`).
        None => vec![Channel::Email],
        Some(raw) => raw
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect(),
    }
}

fn channels_to(channels: &[Channel]) -> String {
    channels
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The first page of an urgent alert, the escalation rounds and the reminders: each
/// recipient gets one message per channel.
fn messages_for(
    people: &[Pageable],
    organization: OrganizationId,
    kind: MessageKind,
    subject_type: &'static str,
    subject_id: &str,
    link: &str,
    key: &str,
    now: Timestamp,
) -> Vec<NewNotification> {
    people
        .iter()
        .flat_map(|person| {
            person.channels.iter().map(move |channel| NewNotification {
                organization,
                recipient: person.user,
                channel: *channel,
                kind,
                subject_type,
                subject_id: subject_id.to_owned(),
                link: link.to_owned(),
                dedupe_key: format!("{key}:{}:{}", person.user, channel.as_str()),
                not_before: now,
            })
        })
        .collect()
}

const CARE_TEAM_PAGEABLE: &str = "SELECT u.id, np.channels FROM care_team_members c \
    JOIN users u ON u.id = c.clinician_id LEFT JOIN notification_preferences np ON np.user_id = u.id \
    WHERE c.patient_id = $1 AND u.active AND u.role = 'clinician' ORDER BY u.display_name, u.id";
const ON_CALL_PAGEABLE: &str = "SELECT u.id, np.channels FROM on_call o \
    JOIN users u ON u.id = o.user_id LEFT JOIN notification_preferences np ON np.user_id = u.id \
    WHERE o.organization_id = $1 AND u.active ORDER BY o.position, u.id";

fn pageable(rows: Vec<(Uuid, Option<String>)>) -> Vec<Pageable> {
    rows.into_iter()
        .map(|(id, channels)| Pageable {
            user: UserId::from_uuid(id),
            channels: channels_from(channels.as_deref()),
        })
        .filter(|p| !p.channels.is_empty())
        .collect()
}

/// Writes within the caller's transaction, so a message commits with its cause.
pub(crate) trait Outbox {
    async fn enqueue(&mut self, messages: &[NewNotification]) -> Result<usize>;
    /// Pages the care team of `patient` about the urgent alert `alert` that this
    /// transaction opened, and schedules the escalation.
    async fn start_paging(
        &mut self,
        organization: OrganizationId,
        patient: PatientId,
        alert: AlertId,
        interval: SignedDuration,
        audit: &AuditEntry,
    ) -> Result<()>;
    /// Stops paging an alert someone acknowledged or resolved, and withdraws its pages
    /// not yet sent.
    async fn stop_paging(&mut self, alert: AlertId, reason: &str) -> Result<()>;
}

macro_rules! impl_outbox {
    ($($db:ty),+) => {$(
        impl Outbox for WriteTx<$db> {
            async fn enqueue(&mut self, messages: &[NewNotification]) -> Result<usize> {
                let now = DbTime::now();
                let mut written = 0;
                for message in messages {
                    written += sqlx::query(
                        "INSERT INTO notifications (id, organization_id, recipient_id, channel, kind, \
                         subject_type, subject_id, link, urgent, dedupe_key, status, attempts, \
                         next_attempt_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, $11, $12) \
                         ON CONFLICT (dedupe_key) DO NOTHING",
                    )
                    .bind(Uuid::now_v7())
                    .bind(message.organization.as_uuid())
                    .bind(message.recipient.as_uuid())
                    .bind(message.channel.as_str())
                    .bind(message.kind.as_str())
                    .bind(message.subject_type)
                    .bind(&message.subject_id)
                    .bind(&message.link)
                    .bind(message.kind.urgent())
                    .bind(&message.dedupe_key)
                    .bind(DbTime::from(message.not_before))
                    .bind(now)
                    .execute(&mut **self)
                    .await?
                    .rows_affected() as usize;
                }
                Ok(written)
            }

            async fn start_paging(
                &mut self,
                organization: OrganizationId,
                patient: PatientId,
                alert: AlertId,
                interval: SignedDuration,
                audit: &AuditEntry,
            ) -> Result<()> {
                let now = Timestamp::now();
                let rows: Vec<(Uuid, Option<String>)> = sqlx::query_as(CARE_TEAM_PAGEABLE)
                    .bind(patient.as_uuid())
                    .fetch_all(&mut **self)
                    .await
                    .map_err(reading("care_team_members"))?;
                let care_team = pageable(rows);
                let messages = messages_for(
                    &care_team,
                    organization,
                    MessageKind::UrgentAlert,
                    "alert",
                    &alert.to_string(),
                    &format!("/alerts/{alert}"),
                    &format!("alert:{alert}:r0"),
                    now,
                );
                self.enqueue(&messages).await?;
                // Nobody on the care team to page: go to the on-call list at once.
                let next_round_at = if care_team.is_empty() { now } else { now + interval };
                sqlx::query(
                    "INSERT INTO alert_paging (alert_id, organization_id, opened_at, interval_seconds, \
                     next_round, next_round_at) VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (alert_id) DO NOTHING",
                )
                .bind(alert.as_uuid())
                .bind(organization.as_uuid())
                .bind(DbTime::from(now))
                .bind(interval.as_secs())
                .bind(DbTime::from(next_round_at))
                .execute(&mut **self)
                .await?;
                let detail = if care_team.is_empty() {
                    "no clinician on the care team has a channel: the on-call list is paged at once".to_owned()
                } else {
                    format!(
                        "care team paged: {} clinician(s), {} message(s); on-call list after {} min",
                        care_team.len(),
                        messages.len(),
                        interval.as_secs() / 60
                    )
                };
                self.append_audit(AuditEntry {
                    action: "alert.page".to_owned(),
                    resource_type: "alert".to_owned(),
                    resource_id: Some(alert.to_string()),
                    detail: Some(detail),
                    ..audit.clone()
                })
                .await?;
                Ok(())
            }

            async fn stop_paging(&mut self, alert: AlertId, reason: &str) -> Result<()> {
                let now = DbTime::now();
                sqlx::query(
                    "UPDATE alert_paging SET stopped_at = $1, stop_reason = $2, lease_until = NULL, leased_by = NULL \
                     WHERE alert_id = $3 AND stopped_at IS NULL",
                )
                .bind(now)
                .bind(reason)
                .bind(alert.as_uuid())
                .execute(&mut **self)
                .await?;
                sqlx::query(
                    "UPDATE notifications SET status = 'dead', last_error = $1, lease_until = NULL, leased_by = NULL \
                     WHERE subject_type = 'alert' AND subject_id = $2 AND status IN ('queued', 'failed') \
                     AND kind IN ('urgent_alert', 'urgent_escalation')",
                )
                .bind(format!("withdrawn before it was sent: {reason}"))
                .bind(alert.to_string())
                .execute(&mut **self)
                .await?;
                Ok(())
            }
        }
    )+};
}
impl_outbox!(Sqlite, Postgres);

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: Uuid,
    organization_id: Uuid,
    recipient_id: Uuid,
    recipient_name: String,
    recipient_email: String,
    channel: String,
    kind: String,
    subject_type: String,
    subject_id: String,
    link: String,
    urgent: bool,
    status: String,
    attempts: i64,
    next_attempt_at: DbTime,
    last_error: Option<String>,
    created_at: DbTime,
    sent_at: Option<DbTime>,
}

impl From<NotificationRow> for Notification {
    fn from(row: NotificationRow) -> Self {
        Notification {
            id: row.id,
            organization_id: OrganizationId::from_uuid(row.organization_id),
            recipient_id: UserId::from_uuid(row.recipient_id),
            recipient_name: row.recipient_name,
            recipient_email: row.recipient_email,
            channel: row.channel,
            kind: row.kind,
            subject_type: row.subject_type,
            subject_id: row.subject_id,
            link: row.link,
            urgent: row.urgent,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.0,
            last_error: row.last_error,
            created_at: row.created_at.0,
            sent_at: row.sent_at.map(|t| t.0),
        }
    }
}

const NOTIFICATION_COLUMNS: &str = "n.id, n.organization_id, n.recipient_id, u.display_name AS recipient_name, \
    u.email AS recipient_email, n.channel, n.kind, n.subject_type, n.subject_id, n.link, n.urgent, n.status, \
    CAST(n.attempts AS BIGINT) AS attempts, n.next_attempt_at, n.last_error, n.created_at, n.sent_at";

/// The most a log page or an alert's paging history shows.
pub const NOTIFICATION_PAGE_LIMIT: u32 = 200;

impl Store {
    /// Whether `sql` (one `$1` instant parameter) finds a row, on the read pool.
    async fn any_due(&self, sql: &'static str, at: DbTime) -> Result<bool> {
        let found: Option<(i32,)> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(at)
            .fetch_optional(pool)
            .await?);
        Ok(found.is_some())
    }

    /// A user's preferences as saved, `None` when never set.
    pub async fn notification_preferences(
        &self,
        user: UserId,
    ) -> Result<Option<NotificationPreferences>> {
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            bool,
            bool,
        );
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(
            "SELECT channels, quiet_start, quiet_end, check_in_reminder, dose_reminders, visit_reminders \
             FROM notification_preferences WHERE user_id = $1",
        )
        .bind(user.as_uuid())
        .fetch_optional(pool)
        .await
        .map_err(reading("notification_preferences"))?);
        let Some((channels, start, end, check_in, dose, visit)) = row else {
            return Ok(None);
        };
        let clock = |column: &str, raw: Option<String>| -> Result<Option<Time>> {
            raw.map(|raw| {
                parse_clock(&raw)
                    .map_err(|_| StoreError::Corrupt(format!("notification_preferences.{column}")))
            })
            .transpose()
        };
        let quiet_hours = match (clock("quiet_start", start)?, clock("quiet_end", end)?) {
            (Some(start), Some(end)) => Some(QuietHours { start, end }),
            _ => None,
        };
        Ok(Some(NotificationPreferences {
            channels: channels_from(Some(&channels)),
            quiet_hours,
            check_in_reminder: clock("check_in_reminder", check_in)?,
            dose_reminders: dose,
            visit_reminders: visit,
        }))
    }

    /// Saves a user's preferences and replaces their reminders' due times, with the audit
    /// event, in one transaction.
    pub async fn set_notification_preferences(
        &self,
        user: UserId,
        preferences: &NotificationPreferences,
        reminders: &[(String, Timestamp)],
        audit: AuditEntry,
    ) -> Result<()> {
        let now = DbTime::now();
        let quiet = preferences.quiet_hours;
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO notification_preferences (user_id, channels, quiet_start, quiet_end, \
                 check_in_reminder, dose_reminders, visit_reminders, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id) DO UPDATE SET \
                 channels = excluded.channels, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, \
                 check_in_reminder = excluded.check_in_reminder, dose_reminders = excluded.dose_reminders, \
                 visit_reminders = excluded.visit_reminders, updated_at = excluded.updated_at",
            )
            .bind(user.as_uuid())
            .bind(channels_to(&preferences.channels))
            .bind(quiet.map(|q| format_clock(q.start)))
            .bind(quiet.map(|q| format_clock(q.end)))
            .bind(preferences.check_in_reminder.map(format_clock))
            .bind(preferences.dose_reminders)
            .bind(preferences.visit_reminders)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM reminders WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await?;
            for (reminder, next_at) in reminders {
                sqlx::query("INSERT INTO reminders (user_id, reminder, next_at) VALUES ($1, $2, $3)")
                    .bind(user.as_uuid())
                    .bind(reminder)
                    .bind(DbTime::from(*next_at))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Writes messages to the outbox on their own (reminders, tests); a message whose
    /// dedupe key is already there is skipped. Returns how many were new.
    pub async fn enqueue_notifications(
        &self,
        messages: &[NewNotification],
        audit: Option<AuditEntry>,
    ) -> Result<usize> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let written = tx.enqueue(messages).await?;
            if let Some(audit) = audit {
                tx.append_audit(audit).await?;
            }
            tx.commit().await?;
            Ok(written)
        })
    }

    /// Leases up to `limit` messages due at `now` to `worker`, oldest due first.
    pub async fn claim_due_notifications(
        &self,
        worker: Uuid,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        let until = DbTime::from(now + lease);
        let at = DbTime::from(now);
        let limit = i64::from(limit.max(1));
        // Most polls find nothing: answer those with a read, so an idle worker never
        // takes SQLite's writer.
        if !self
            .any_due(
                "SELECT 1 FROM notifications WHERE status IN ('queued', 'failed') AND next_attempt_at <= $1 \
                 AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
                at,
            )
            .await?
        {
            return Ok(Vec::new());
        }
        let ids: Vec<(Uuid,)> = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let ids = sqlx::query_as(
                    "UPDATE notifications SET lease_until = $1, leased_by = $2 \
                     WHERE id IN (SELECT id FROM notifications WHERE status IN ('queued', 'failed') \
                       AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                       ORDER BY urgent DESC, next_attempt_at LIMIT $4) RETURNING id",
                )
                .bind(until)
                .bind(worker)
                .bind(at)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                ids
            }
            Backend::Postgres(pool) => sqlx::query_as(
                "UPDATE notifications SET lease_until = $1, leased_by = $2 \
                 WHERE id IN (SELECT id FROM notifications WHERE status IN ('queued', 'failed') \
                   AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                   ORDER BY urgent DESC, next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id",
            )
            .bind(until)
            .bind(worker)
            .bind(at)
            .bind(limit)
            .fetch_all(pool)
            .await?,
        };
        let mut claimed = Vec::with_capacity(ids.len());
        for (id,) in ids {
            if let Some(found) = self.get_notification(id).await? {
                claimed.push(found);
            }
        }
        Ok(claimed)
    }

    pub async fn get_notification(&self, id: Uuid) -> Result<Option<Notification>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications n JOIN users u ON u.id = n.recipient_id WHERE n.id = $1"
        );
        let row: Option<NotificationRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(reading("notifications"))?);
        Ok(row.map(Notification::from))
    }

    /// Records an attempt by `worker` (ignored when its lease was lost to another worker)
    /// with its audit event.
    pub async fn finish_notification(
        &self,
        worker: Uuid,
        id: Uuid,
        outcome: &Delivery,
        audit: Option<AuditEntry>,
    ) -> Result<bool> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let query = match outcome {
                Delivery::Sent => sqlx::query(
                    "UPDATE notifications SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
                     last_error = NULL, lease_until = NULL, leased_by = NULL WHERE id = $2 AND leased_by = $3 \
                     AND status IN ('queued', 'failed')",
                )
                .bind(now),
                Delivery::Failed { error, .. } => sqlx::query(
                    "UPDATE notifications SET status = 'failed', last_error = $1, attempts = attempts + 1, \
                     next_attempt_at = $4, lease_until = NULL, leased_by = NULL WHERE id = $2 AND leased_by = $3 \
                     AND status IN ('queued', 'failed')",
                )
                .bind(error.clone()),
                Delivery::Dead { error } => sqlx::query(
                    "UPDATE notifications SET status = 'dead', last_error = $1, attempts = attempts + 1, \
                     lease_until = NULL, leased_by = NULL WHERE id = $2 AND leased_by = $3 \
                     AND status IN ('queued', 'failed')",
                )
                .bind(error.clone()),
            };
            let mut query = query.bind(id).bind(worker);
            if let Delivery::Failed { retry_at, .. } = outcome {
                query = query.bind(DbTime::from(*retry_at));
            }
            let changed = query.execute(&mut *tx).await?.rows_affected() > 0;
            if changed && let Some(audit) = audit {
                tx.append_audit(audit).await?;
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// Puts a failed or dead message back in the queue now (an admin's retry).
    pub async fn retry_notification(
        &self,
        organization: OrganizationId,
        id: Uuid,
        audit: AuditEntry,
    ) -> Result<Option<Notification>> {
        let now = DbTime::now();
        let changed = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE notifications SET status = 'queued', next_attempt_at = $1, lease_until = NULL, \
                 leased_by = NULL WHERE id = $2 AND organization_id = $3 AND status IN ('failed', 'dead')",
            )
            .bind(now)
            .bind(id)
            .bind(organization.as_uuid())
            .execute(&mut *tx)
            .await?
            .rows_affected() > 0;
            if changed {
                tx.append_audit(audit).await?;
            }
            tx.commit().await?;
            changed
        });
        if !changed {
            return Ok(None);
        }
        self.get_notification(id).await
    }

    /// The organization's delivery log, newest first: `limit` messages created before
    /// `before` (a cursor), optionally of one status.
    pub async fn list_notifications(
        &self,
        organization: OrganizationId,
        status: Option<&str>,
        before: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications n JOIN users u ON u.id = n.recipient_id \
             WHERE n.organization_id = $1 AND ($2 IS NULL OR n.status = $2) AND ($3 IS NULL OR n.created_at < $3) \
             ORDER BY n.created_at DESC, n.id DESC LIMIT $4"
        );
        let rows: Vec<NotificationRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(organization.as_uuid())
            .bind(status)
            .bind(before.map(DbTime::from))
            .bind(i64::from(limit.clamp(1, NOTIFICATION_PAGE_LIMIT)))
            .fetch_all(pool)
            .await
            .map_err(reading("notifications"))?);
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    /// The messages written about one subject (an alert's pages), oldest first.
    pub async fn notifications_about(
        &self,
        subject_type: &str,
        subject_id: &str,
    ) -> Result<Vec<Notification>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications n JOIN users u ON u.id = n.recipient_id \
             WHERE n.subject_type = $1 AND n.subject_id = $2 ORDER BY n.created_at, n.id LIMIT $3"
        );
        let rows: Vec<NotificationRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(subject_type)
            .bind(subject_id)
            .bind(i64::from(NOTIFICATION_PAGE_LIMIT))
            .fetch_all(pool)
            .await
            .map_err(reading("notifications"))?);
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    pub async fn paging(&self, alert: AlertId) -> Result<Option<Paging>> {
        let row: Option<(DbTime, i64, i64, DbTime, Option<DbTime>, Option<String>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT opened_at, CAST(interval_seconds AS BIGINT), CAST(next_round AS BIGINT), next_round_at, \
             stopped_at, stop_reason FROM alert_paging WHERE alert_id = $1",
        )
        .bind(alert.as_uuid())
        .fetch_optional(pool)
        .await
        .map_err(reading("alert_paging"))?);
        Ok(row.map(
            |(opened_at, interval, next_round, next_round_at, stopped_at, stop_reason)| Paging {
                alert_id: alert,
                opened_at: opened_at.0,
                interval: SignedDuration::from_secs(interval),
                next_round,
                next_round_at: next_round_at.0,
                stopped_at: stopped_at.map(|t| t.0),
                stop_reason,
            },
        ))
    }

    /// Leases up to `limit` alerts whose next paging round is due.
    pub async fn claim_due_pages(
        &self,
        worker: Uuid,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<AlertId>> {
        let until = DbTime::from(now + lease);
        let at = DbTime::from(now);
        let limit = i64::from(limit.max(1));
        if !self
            .any_due(
                "SELECT 1 FROM alert_paging WHERE stopped_at IS NULL AND next_round_at <= $1 \
                 AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
                at,
            )
            .await?
        {
            return Ok(Vec::new());
        }
        let ids: Vec<(Uuid,)> = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let ids = sqlx::query_as(
                    "UPDATE alert_paging SET lease_until = $1, leased_by = $2 WHERE alert_id IN \
                     (SELECT alert_id FROM alert_paging WHERE stopped_at IS NULL AND next_round_at <= $3 \
                      AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_round_at LIMIT $4) \
                     RETURNING alert_id",
                )
                .bind(until)
                .bind(worker)
                .bind(at)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                ids
            }
            Backend::Postgres(pool) => sqlx::query_as(
                "UPDATE alert_paging SET lease_until = $1, leased_by = $2 WHERE alert_id IN \
                 (SELECT alert_id FROM alert_paging WHERE stopped_at IS NULL AND next_round_at <= $3 \
                  AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_round_at LIMIT $4 \
                  FOR UPDATE SKIP LOCKED) RETURNING alert_id",
            )
            .bind(until)
            .bind(worker)
            .bind(at)
            .bind(limit)
            .fetch_all(pool)
            .await?,
        };
        Ok(ids
            .into_iter()
            .map(|(id,)| AlertId::from_uuid(id))
            .collect())
    }

    /// Runs the due paging round of an alert leased by `worker`: stops when the alert is
    /// no longer open; otherwise pages the on-call list (the care team again when the
    /// organization has none), audits it and schedules the next round one interval later.
    pub async fn page_round(
        &self,
        worker: Uuid,
        alert: AlertId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<PageRound> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let row: Option<(Uuid, DbTime, i64, i64, String, Uuid)> = sqlx::query_as(
                "SELECT p.organization_id, p.opened_at, CAST(p.interval_seconds AS BIGINT), \
                 CAST(p.next_round AS BIGINT), a.status, a.patient_id FROM alert_paging p \
                 JOIN alerts a ON a.id = p.alert_id \
                 WHERE p.alert_id = $1 AND p.leased_by = $2 AND p.stopped_at IS NULL",
            )
            .bind(alert.as_uuid())
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await
            .map_err(reading("alert_paging"))?;
            let Some((organization, opened_at, interval, round, status, patient)) = row else {
                return Ok(PageRound::Skipped);
            };
            let organization = OrganizationId::from_uuid(organization);
            if status != "open" {
                tx.stop_paging(alert, &format!("the alert was {status}")).await?;
                tx.commit().await?;
                return Ok(PageRound::Stopped);
            }
            let on_call = pageable(
                sqlx::query_as(ON_CALL_PAGEABLE)
                    .bind(organization.as_uuid())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(reading("on_call"))?,
            );
            let to_on_call = !on_call.is_empty();
            let people = if to_on_call {
                on_call
            } else {
                pageable(
                    sqlx::query_as(CARE_TEAM_PAGEABLE)
                        .bind(patient)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(reading("care_team_members"))?,
                )
            };
            let messages = messages_for(
                &people,
                organization,
                MessageKind::UrgentEscalation,
                "alert",
                &alert.to_string(),
                &format!("/alerts/{alert}"),
                &format!("alert:{alert}:r{round}"),
                now,
            );
            tx.enqueue(&messages).await?;
            let interval = SignedDuration::from_secs(interval.max(1));
            // The next round one interval after this one was due; a server that was down
            // sends one round now rather than every round it missed.
            let mut next_at = opened_at.0 + interval * i32::try_from(round + 1).unwrap_or(i32::MAX);
            if next_at <= now {
                next_at = now + interval;
            }
            sqlx::query(
                "UPDATE alert_paging SET next_round = $1, next_round_at = $2, lease_until = NULL, \
                 leased_by = NULL WHERE alert_id = $3",
            )
            .bind(round + 1)
            .bind(DbTime::from(next_at))
            .bind(alert.as_uuid())
            .execute(&mut *tx)
            .await?;
            let who = if to_on_call {
                format!("on-call list ({} people)", people.len())
            } else if people.is_empty() {
                "nobody: the organization has no on-call list and no care-team clinician has a channel".to_owned()
            } else {
                format!("no on-call list: care team paged again ({} clinicians)", people.len())
            };
            tx.append_audit(AuditEntry {
                action: "alert.escalate".to_owned(),
                resource_type: "alert".to_owned(),
                resource_id: Some(alert.to_string()),
                patient_id: Some(PatientId::from_uuid(patient)),
                organization_id: Some(organization),
                detail: Some(format!("round {round}: {who}; {} message(s)", messages.len())),
                ..audit.clone()
            })
            .await?;
            tx.commit().await?;
            Ok(PageRound::Paged {
                round,
                recipients: people.len(),
                to_on_call,
            })
        })
    }

    /// Stops every paging of the organization's alerts and withdraws their unsent pages
    /// (the demo's seeded history is not a live emergency).
    pub async fn stop_all_paging(&self, organization: OrganizationId, reason: &str) -> Result<()> {
        let alerts: Vec<(Uuid,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT alert_id FROM alert_paging WHERE organization_id = $1 AND stopped_at IS NULL",
        )
        .bind(organization.as_uuid())
        .fetch_all(pool)
        .await?);
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (alert,) in &alerts {
                tx.stop_paging(AlertId::from_uuid(*alert), reason).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The organization's on-call list, in order: (user, name).
    pub async fn on_call(&self, organization: OrganizationId) -> Result<Vec<(UserId, String)>> {
        let rows: Vec<(Uuid, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT u.id, u.display_name FROM on_call o JOIN users u ON u.id = o.user_id \
             WHERE o.organization_id = $1 ORDER BY o.position, u.id",
        )
        .bind(organization.as_uuid())
        .fetch_all(pool)
        .await
        .map_err(reading("on_call"))?);
        Ok(rows
            .into_iter()
            .map(|(id, name)| (UserId::from_uuid(id), name))
            .collect())
    }

    pub async fn set_on_call(
        &self,
        organization: OrganizationId,
        users: &[UserId],
        audit: AuditEntry,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM on_call WHERE organization_id = $1")
                .bind(organization.as_uuid())
                .execute(&mut *tx)
                .await?;
            for (position, user) in users.iter().enumerate() {
                sqlx::query("INSERT INTO on_call (organization_id, user_id, position) VALUES ($1, $2, $3)")
                    .bind(organization.as_uuid())
                    .bind(user.as_uuid())
                    .bind(i64::try_from(position).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn webhook(&self, organization: OrganizationId) -> Result<Option<Webhook>> {
        let row: Option<(String, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT url, secret FROM organization_webhooks WHERE organization_id = $1",
        )
        .bind(organization.as_uuid())
        .fetch_optional(pool)
        .await
        .map_err(reading("organization_webhooks"))?);
        Ok(row.map(|(url, secret)| Webhook { url, secret }))
    }

    /// Sets (or with `None` removes) the organization's webhook.
    pub async fn set_webhook(
        &self,
        organization: OrganizationId,
        webhook: Option<&Webhook>,
        audit: AuditEntry,
    ) -> Result<()> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            match webhook {
                Some(webhook) => {
                    sqlx::query(
                        "INSERT INTO organization_webhooks (organization_id, url, secret, updated_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id) DO UPDATE SET \
                         url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at",
                    )
                    .bind(organization.as_uuid())
                    .bind(&webhook.url)
                    .bind(&webhook.secret)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM organization_webhooks WHERE organization_id = $1")
                        .bind(organization.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Leases up to `limit` reminders due at `now`: (user, reminder).
    pub async fn claim_due_reminders(
        &self,
        worker: Uuid,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<(UserId, String)>> {
        let until = DbTime::from(now + lease);
        let at = DbTime::from(now);
        let limit = i64::from(limit.max(1));
        if !self
            .any_due(
                "SELECT 1 FROM reminders WHERE next_at <= $1 \
                 AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
                at,
            )
            .await?
        {
            return Ok(Vec::new());
        }
        let rows: Vec<(Uuid, String)> = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let rows = sqlx::query_as(
                    "UPDATE reminders SET lease_until = $1, leased_by = $2 WHERE (user_id, reminder) IN \
                     (SELECT user_id, reminder FROM reminders WHERE next_at <= $3 \
                      AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_at LIMIT $4) \
                     RETURNING user_id, reminder",
                )
                .bind(until)
                .bind(worker)
                .bind(at)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows
            }
            Backend::Postgres(pool) => sqlx::query_as(
                "UPDATE reminders SET lease_until = $1, leased_by = $2 WHERE (user_id, reminder) IN \
                 (SELECT user_id, reminder FROM reminders WHERE next_at <= $3 \
                  AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_at LIMIT $4 \
                  FOR UPDATE SKIP LOCKED) RETURNING user_id, reminder",
            )
            .bind(until)
            .bind(worker)
            .bind(at)
            .bind(limit)
            .fetch_all(pool)
            .await?,
        };
        Ok(rows
            .into_iter()
            .map(|(id, reminder)| (UserId::from_uuid(id), reminder))
            .collect())
    }

    /// Writes a due reminder's messages and sets its next due time (`None` removes it),
    /// in one transaction, if `worker` still holds it.
    pub async fn finish_reminder(
        &self,
        worker: Uuid,
        user: UserId,
        reminder: &str,
        next_at: Option<Timestamp>,
        messages: &[NewNotification],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let held: Option<(Uuid,)> = sqlx::query_as(
                "SELECT user_id FROM reminders WHERE user_id = $1 AND reminder = $2 AND leased_by = $3",
            )
            .bind(user.as_uuid())
            .bind(reminder)
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await?;
            if held.is_none() {
                return Ok(());
            }
            tx.enqueue(messages).await?;
            match next_at {
                Some(next_at) => {
                    sqlx::query(
                        "UPDATE reminders SET next_at = $1, lease_until = NULL, leased_by = NULL \
                         WHERE user_id = $2 AND reminder = $3",
                    )
                    .bind(DbTime::from(next_at))
                    .bind(user.as_uuid())
                    .bind(reminder)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM reminders WHERE user_id = $1 AND reminder = $2")
                        .bind(user.as_uuid())
                        .bind(reminder)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The reminders a user has scheduled: (reminder, next due).
    pub async fn reminders_of(&self, user: UserId) -> Result<Vec<(String, Timestamp)>> {
        let rows: Vec<(String, DbTime)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT reminder, next_at FROM reminders WHERE user_id = $1 ORDER BY next_at",
        )
        .bind(user.as_uuid())
        .fetch_all(pool)
        .await
        .map_err(reading("reminders"))?);
        Ok(rows.into_iter().map(|(r, at)| (r, at.0)).collect())
    }
}
