//! Safety alerts: raised by rules, folded when the same condition fires again, and
//! closed only by a person, with every step in the audit chain.

use jiff::{SignedDuration, Timestamp};
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{AlertId, OrganizationId, PatientId, UserId};
use sqlx::types::Json;
use sqlx::{FromRow, Postgres, Row, Sqlite};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::notify::Outbox;
use crate::summaries::{AlertCounts, MaintainSummaries};
use crate::{BeginWrite, DbTime, Result, Store, StoreError, WriteTx, on_pool, reading};

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub id: AlertId,
    pub organization_id: OrganizationId,
    pub patient_id: PatientId,
    pub rule: String,
    pub severity: String,
    pub status: String,
    pub scope: String,
    pub episode: String,
    pub summary: String,
    /// What fired the rule the first time.
    pub evidence: serde_json::Value,
    pub source_type: String,
    pub source_id: String,
    pub raised_at: Timestamp,
    /// How many times the condition fired while this alert stood.
    pub occurrences: i64,
    pub last_fired_at: Option<Timestamp>,
    pub last_evidence: Option<serde_json::Value>,
    pub acknowledged_by: Option<UserId>,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_by: Option<UserId>,
    pub resolved_at: Option<Timestamp>,
}

/// An alert with the patient it concerns, for lists across patients.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxAlert {
    pub alert: Alert,
    pub patient_name: String,
}

/// A rule that fired, about to be recorded.
#[derive(Clone, Debug)]
pub struct NewAlert {
    pub rule: String,
    pub severity: String,
    pub scope: String,
    pub episode: String,
    pub summary: String,
    pub evidence: serde_json::Value,
    pub source_type: String,
    pub source_id: String,
    /// Whether an acknowledged (not yet resolved) alert for the same condition still
    /// absorbs a new firing; when false, only an unread one does.
    pub fold_into_acknowledged: bool,
    /// For a continuing condition: a firing within this long of the last one of the same
    /// rule and scope (in any status, resolved included) is the same condition going on,
    /// and raises nothing; only a condition that stopped for longer and came back (a
    /// change) opens a new alert. `None`: episodes decide, as above.
    pub continues_within: Option<SignedDuration>,
}

/// What recording a finding did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertChange {
    Raised(AlertId),
    /// The same condition was already open: the alert records the new firing.
    Folded(AlertId),
    /// Already recorded for this very episode: nothing to do.
    Unchanged(AlertId),
}

impl AlertChange {
    pub fn alert_id(self) -> AlertId {
        match self {
            AlertChange::Raised(id) | AlertChange::Folded(id) | AlertChange::Unchanged(id) => id,
        }
    }
}

/// A human decision on an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Review {
    Acknowledge,
    Resolve,
}

impl Review {
    pub fn as_str(self) -> &'static str {
        match self {
            Review::Acknowledge => "acknowledge",
            Review::Resolve => "resolve",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReviewOutcome {
    Changed(Alert),
    /// The same person already did this (a retried request): the alert as it stands.
    AlreadyDone(Alert),
    /// The alert is in a state that does not allow it (e.g. already resolved).
    Refused(Alert),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertAction {
    pub action: String,
    pub comment: String,
    pub acted_by: UserId,
    pub acted_by_name: String,
    pub acted_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: Uuid,
    organization_id: Uuid,
    patient_id: Uuid,
    rule: String,
    severity: String,
    status: String,
    scope: String,
    episode: String,
    summary: String,
    evidence: Json<serde_json::Value>,
    source_type: String,
    source_id: String,
    raised_at: DbTime,
    occurrences: i64,
    last_fired_at: Option<DbTime>,
    last_evidence: Option<Json<serde_json::Value>>,
    acknowledged_by: Option<Uuid>,
    acknowledged_at: Option<DbTime>,
    resolved_by: Option<Uuid>,
    resolved_at: Option<DbTime>,
}

impl From<AlertRow> for Alert {
    fn from(row: AlertRow) -> Self {
        Alert {
            id: AlertId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            patient_id: PatientId::from_uuid(row.patient_id),
            rule: row.rule,
            severity: row.severity,
            status: row.status,
            scope: row.scope,
            episode: row.episode,
            summary: row.summary,
            evidence: row.evidence.0,
            source_type: row.source_type,
            source_id: row.source_id,
            raised_at: row.raised_at.0,
            occurrences: row.occurrences,
            last_fired_at: row.last_fired_at.map(|t| t.0),
            last_evidence: row.last_evidence.map(|e| e.0),
            acknowledged_by: row.acknowledged_by.map(UserId::from_uuid),
            acknowledged_at: row.acknowledged_at.map(|t| t.0),
            resolved_by: row.resolved_by.map(UserId::from_uuid),
            resolved_at: row.resolved_at.map(|t| t.0),
        }
    }
}

#[derive(sqlx::FromRow)]
struct InboxRow {
    #[sqlx(flatten)]
    alert: AlertRow,
    patient_name: String,
}

const ALERT_COLUMNS: &str = "a.id, a.organization_id, a.patient_id, a.rule, a.severity, a.status, a.scope, \
    a.episode, a.summary, a.evidence, a.source_type, a.source_id, a.raised_at, \
    CAST(a.occurrences AS BIGINT) AS occurrences, a.last_fired_at, a.last_evidence, a.acknowledged_by, \
    a.acknowledged_at, a.resolved_by, a.resolved_at";

/// Most urgent first, then newest.
const SEVERITY_ORDER: &str =
    "CASE a.severity WHEN 'urgent' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END";

/// The alert standing for a condition: open, or acknowledged when the finding folds
/// into acknowledged alerts too ($4).
const STANDING_ALERT: &str = "SELECT id, episode FROM alerts WHERE patient_id = $1 AND rule = $2 AND scope = $3 \
    AND (status = 'open' OR ($4 AND status = 'acknowledged')) ORDER BY raised_at DESC LIMIT 1";
/// Any alert, in any status, already raised for this very episode of the condition.
/// The latest alert of a rule and scope in any status, for continuing conditions.
const CONTINUING_ALERT: &str = "SELECT id, last_fired_at FROM alerts WHERE patient_id = $1 AND rule = $2 \
    AND scope = $3 ORDER BY last_fired_at DESC LIMIT 1";

/// A continuing condition's alert records that it is still firing at most this often,
/// so re-checks stay reads in between.
const CONTINUING_REFRESH: SignedDuration = SignedDuration::from_hours(1);

const EPISODE_ALERT: &str = "SELECT id FROM alerts WHERE patient_id = $1 AND rule = $2 AND scope = $3 \
    AND episode = $4 ORDER BY raised_at DESC LIMIT 1";

/// Recording findings inside the caller's transaction, so an assessment and the
/// alert it raises commit together.
pub(crate) trait RecordFindings {
    async fn record_findings(
        &mut self,
        organization: OrganizationId,
        patient: PatientId,
        findings: &[NewAlert],
        audit: &AuditEntry,
        paging: SignedDuration,
    ) -> Result<Vec<AlertChange>>;
}

macro_rules! impl_record_findings {
    ($($db:ty),+) => {$(
        impl RecordFindings for WriteTx<$db> {
            async fn record_findings(
                &mut self,
                organization: OrganizationId,
                patient: PatientId,
                findings: &[NewAlert],
                audit: &AuditEntry,
                paging: SignedDuration,
            ) -> Result<Vec<AlertChange>> {
                // Serializes rule runs for one patient (a row lock on PostgreSQL;
                // SQLite's write transactions are already exclusive), so two
                // concurrent writes cannot both open the same condition.
                sqlx::query("UPDATE patients SET updated_at = updated_at WHERE id = $1")
                    .bind(patient.as_uuid())
                    .execute(&mut **self)
                    .await?;
                let now = DbTime::now();
                let mut changes = Vec::new();
                for finding in findings {
                    if let Some(within) = finding.continues_within {
                        let latest: Option<(Uuid, DbTime)> = sqlx::query_as(CONTINUING_ALERT)
                            .bind(patient.as_uuid())
                            .bind(&finding.rule)
                            .bind(&finding.scope)
                            .fetch_optional(&mut **self)
                            .await?;
                        if let Some((id, last)) = latest
                            && last.0 >= now.0 - within
                        {
                            let id = AlertId::from_uuid(id);
                            if last.0 < now.0 - CONTINUING_REFRESH {
                                sqlx::query(
                                    "UPDATE alerts SET last_fired_at = $1, last_evidence = $2 WHERE id = $3",
                                )
                                .bind(now)
                                .bind(Json(&finding.evidence))
                                .bind(id.as_uuid())
                                .execute(&mut **self)
                                .await?;
                            }
                            changes.push(AlertChange::Unchanged(id));
                            continue;
                        }
                    } else {
                    let standing: Option<(Uuid, String)> = sqlx::query_as(STANDING_ALERT)
                    .bind(patient.as_uuid())
                    .bind(&finding.rule)
                    .bind(&finding.scope)
                    .bind(finding.fold_into_acknowledged)
                    .fetch_optional(&mut **self)
                    .await?;
                    if let Some((id, episode)) = standing {
                        let id = AlertId::from_uuid(id);
                        if episode == finding.episode {
                            changes.push(AlertChange::Unchanged(id));
                            continue;
                        }
                        sqlx::query(
                            "UPDATE alerts SET occurrences = occurrences + 1, episode = $1, last_fired_at = $2, \
                             last_evidence = $3 WHERE id = $4",
                        )
                        .bind(&finding.episode)
                        .bind(now)
                        .bind(Json(&finding.evidence))
                        .bind(id.as_uuid())
                        .execute(&mut **self)
                        .await?;
                        self.append_audit(alert_audit(audit, "alert.recur", id, finding)).await?;
                        changes.push(AlertChange::Folded(id));
                        continue;
                    }
                    }
                    let handled: Option<(Uuid,)> = sqlx::query_as(EPISODE_ALERT)
                    .bind(patient.as_uuid())
                    .bind(&finding.rule)
                    .bind(&finding.scope)
                    .bind(&finding.episode)
                    .fetch_optional(&mut **self)
                    .await?;
                    if let Some((id,)) = handled {
                        // Someone already resolved this very occurrence; a re-check must
                        // not undo their decision.
                        changes.push(AlertChange::Unchanged(AlertId::from_uuid(id)));
                        continue;
                    }
                    let id = AlertId::new();
                    sqlx::query(
                        "INSERT INTO alerts (id, organization_id, patient_id, rule, severity, status, scope, episode, \
                         summary, evidence, source_type, source_id, raised_at, occurrences, last_fired_at) \
                         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11, $12, 1, $12)",
                    )
                    .bind(id.as_uuid())
                    .bind(organization.as_uuid())
                    .bind(patient.as_uuid())
                    .bind(&finding.rule)
                    .bind(&finding.severity)
                    .bind(&finding.scope)
                    .bind(&finding.episode)
                    .bind(&finding.summary)
                    .bind(Json(&finding.evidence))
                    .bind(&finding.source_type)
                    .bind(&finding.source_id)
                    .bind(now)
                    .execute(&mut **self)
                    .await?;
                    self.count_alerts(patient, AlertCounts::one(&finding.severity, "open")).await?;
                    self.append_audit(alert_audit(audit, "alert.raise", id, finding)).await?;
                    if finding.severity == "urgent" {
                        // The care team's pages commit with the alert (issue 13).
                        self.start_paging(organization, patient, id, paging, audit).await?;
                    }
                    changes.push(AlertChange::Raised(id));
                }
                Ok(changes)
            }
        }
    )+};
}
impl_record_findings!(Sqlite, Postgres);

fn alert_audit(
    prototype: &AuditEntry,
    action: &str,
    id: AlertId,
    finding: &NewAlert,
) -> AuditEntry {
    AuditEntry {
        action: action.to_owned(),
        resource_type: "alert".to_owned(),
        resource_id: Some(id.to_string()),
        detail: Some(format!("{} ({})", finding.rule, finding.severity)),
        ..prototype.clone()
    }
}

impl Store {
    /// Records what the rules found for one patient: new conditions open alerts, the
    /// same condition folds into the standing alert. `audit` is the prototype event
    /// (who or what triggered the run) each change is recorded under.
    pub async fn record_findings(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        findings: &[NewAlert],
        audit: &AuditEntry,
    ) -> Result<Vec<AlertChange>> {
        if findings.is_empty() {
            return Ok(Vec::new());
        }
        // Most re-checks find only what is already recorded: answer those with reads,
        // so they never queue behind writers (SQLite has one).
        if let Some(unchanged) = self.already_recorded(patient, findings).await? {
            return Ok(unchanged);
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let changes = tx.record_findings(organization, patient, findings, audit, self.paging_interval).await?;
            tx.commit().await?;
            self.signal_outbox(&changes);
            Ok(changes)
        })
    }

    /// `Some` when every finding is already recorded exactly as it is (the same episode
    /// on its standing alert, or an alert already raised for that episode); `None` when
    /// any would change something. The write path re-checks under its lock.
    async fn already_recorded(
        &self,
        patient: PatientId,
        findings: &[NewAlert],
    ) -> Result<Option<Vec<AlertChange>>> {
        let mut unchanged = Vec::new();
        for finding in findings {
            if finding.continues_within.is_some() {
                let latest = on_pool!(self, pool => {
                    let latest: Option<(Uuid, DbTime)> = sqlx::query_as(CONTINUING_ALERT)
                        .bind(patient.as_uuid())
                        .bind(&finding.rule)
                        .bind(&finding.scope)
                        .fetch_optional(pool)
                        .await
                        .map_err(reading("alerts"))?;
                    latest
                });
                match latest {
                    Some((id, last)) if last.0 >= Timestamp::now() - CONTINUING_REFRESH => {
                        unchanged.push(AlertChange::Unchanged(AlertId::from_uuid(id)));
                        continue;
                    }
                    _ => return Ok(None),
                }
            }
            let found = on_pool!(self, pool => {
                let standing: Option<(Uuid, String)> = sqlx::query_as(STANDING_ALERT)
                    .bind(patient.as_uuid())
                    .bind(&finding.rule)
                    .bind(&finding.scope)
                    .bind(finding.fold_into_acknowledged)
                    .fetch_optional(pool)
                    .await
                    .map_err(reading("alerts"))?;
                match standing {
                    Some((id, episode)) if episode == finding.episode => Some(id),
                    Some(_) => None,
                    None => sqlx::query_as::<_, (Uuid,)>(EPISODE_ALERT)
                        .bind(patient.as_uuid())
                        .bind(&finding.rule)
                        .bind(&finding.scope)
                        .bind(&finding.episode)
                        .fetch_optional(pool)
                        .await
                        .map_err(reading("alerts"))?
                        .map(|(id,)| id),
                }
            });
            match found {
                Some(id) => unchanged.push(AlertChange::Unchanged(AlertId::from_uuid(id))),
                None => return Ok(None),
            }
        }
        Ok(Some(unchanged))
    }

    pub async fn get_alert(&self, id: AlertId) -> Result<Option<Alert>> {
        on_pool!(self, pool => {
            let row: Option<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("alerts"))?;
            Ok(row.map(Alert::from))
        })
    }

    /// A patient's alerts, most urgent unresolved first, then newest.
    pub async fn list_alerts(&self, patient: PatientId) -> Result<Vec<Alert>> {
        on_pool!(self, pool => {
            let rows: Vec<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.patient_id = $1 \
                 ORDER BY CASE a.status WHEN 'resolved' THEN 1 ELSE 0 END, {SEVERITY_ORDER}, a.raised_at DESC, a.id"
            )))
            .bind(patient.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("alerts"))?;
            Ok(rows.into_iter().map(Alert::from).collect())
        })
    }

    /// Alerts for every patient on the clinician's care teams, most urgent then newest
    /// first, in any of `statuses` (all statuses when empty), at most `limit` of them.
    pub async fn alerts_for_clinician(
        &self,
        clinician: UserId,
        statuses: &[&str],
        limit: Option<i64>,
    ) -> Result<Vec<InboxAlert>> {
        let any = statuses.is_empty();
        let status_list = statuses.join(",");
        on_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ALERT_COLUMNS}, p.display_name AS patient_name FROM alerts a \
                 JOIN patients p ON p.id = a.patient_id \
                 JOIN care_team_members ct ON ct.patient_id = a.patient_id AND ct.clinician_id = $1 \
                 WHERE ($2 OR ',' || $3 || ',' LIKE '%,' || a.status || ',%') \
                 ORDER BY {SEVERITY_ORDER}, a.raised_at DESC, a.id LIMIT $4"
            )))
            .bind(clinician.as_uuid())
            .bind(any)
            .bind(&status_list)
            .bind(limit.unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(reading("alerts"))?;
            // Rows are decoded one by one: an unreadable alert is logged and left out
            // rather than emptying every patient's inbox (the roster flags its patient).
            Ok(rows
                .iter()
                .filter_map(|row| match InboxRow::from_row(row) {
                    Ok(row) => Some(InboxAlert {
                        alert: row.alert.into(),
                        patient_name: row.patient_name,
                    }),
                    Err(error) => {
                        let error = reading("alerts")(error);
                        tracing::error!(
                            alert.id = ?row.try_get::<Uuid, _>("id").ok(),
                            patient.id = ?row.try_get::<Uuid, _>("patient_id").ok(),
                            error = %error,
                            "an alert in a clinician's inbox could not be read"
                        );
                        None
                    }
                })
                .collect())
        })
    }

    /// Open urgent alerts across the clinician's patients: the count every clinician
    /// page shows.
    pub async fn open_urgent_count(&self, clinician: UserId) -> Result<i64> {
        on_pool!(self, pool => {
            let (count,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM alerts a \
                 JOIN care_team_members ct ON ct.patient_id = a.patient_id AND ct.clinician_id = $1 \
                 WHERE a.status = 'open' AND a.severity = 'urgent'",
            )
            .bind(clinician.as_uuid())
            .fetch_one(pool)
            .await?;
            Ok(count)
        })
    }

    /// Acknowledges or resolves an alert with the reviewer's comment, in one
    /// transaction with its audit event.
    pub async fn review_alert(
        &self,
        id: AlertId,
        review: Review,
        comment: &str,
        by: UserId,
        audit: AuditEntry,
    ) -> Result<ReviewOutcome> {
        let now = DbTime::now();
        let changed = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let current: Option<(String, Option<Uuid>, Option<Uuid>, Uuid, String)> = sqlx::query_as(
                "SELECT status, acknowledged_by, resolved_by, patient_id, severity FROM alerts WHERE id = $1",
            )
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
            let (status, acknowledged_by, resolved_by, patient, severity) =
                current.ok_or(StoreError::NotFound("alert"))?;
            let me = Some(by.as_uuid());
            let verdict = match (review, status.as_str()) {
                (Review::Acknowledge, "open") | (Review::Resolve, "open" | "acknowledged") => None,
                (Review::Acknowledge, "acknowledged") if acknowledged_by == me => Some(true),
                (Review::Resolve, "resolved") if resolved_by == me => Some(true),
                _ => Some(false),
            };
            if verdict.is_none() {
                match review {
                    Review::Acknowledge => {
                        sqlx::query(
                            "UPDATE alerts SET status = 'acknowledged', acknowledged_by = $1, acknowledged_at = $2 \
                             WHERE id = $3",
                        )
                        .bind(by.as_uuid())
                        .bind(now)
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                    }
                    Review::Resolve => {
                        // Resolving an unread alert also records that it was seen.
                        sqlx::query(
                            "UPDATE alerts SET status = 'resolved', resolved_by = $1, resolved_at = $2, \
                             acknowledged_by = COALESCE(acknowledged_by, $1), \
                             acknowledged_at = COALESCE(acknowledged_at, $2) WHERE id = $3",
                        )
                        .bind(by.as_uuid())
                        .bind(now)
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                sqlx::query(
                    "INSERT INTO alert_actions (id, alert_id, action, comment, acted_by, acted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(Uuid::now_v7())
                .bind(id.as_uuid())
                .bind(review.as_str())
                .bind(comment)
                .bind(by.as_uuid())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let after = match review {
                    Review::Acknowledge => "acknowledged",
                    Review::Resolve => "resolved",
                };
                let change = AlertCounts::one(&severity, after).minus(AlertCounts::one(&severity, &status));
                tx.count_alerts(PatientId::from_uuid(patient), change).await?;
                tx.stop_paging(id, &format!("{after} in Speciosa")).await?;
                tx.append_audit(audit).await?;
                tx.commit().await?;
            }
            verdict
        });
        let alert = self
            .get_alert(id)
            .await?
            .ok_or(StoreError::NotFound("alert"))?;
        Ok(match changed {
            None => ReviewOutcome::Changed(alert),
            Some(true) => ReviewOutcome::AlreadyDone(alert),
            Some(false) => ReviewOutcome::Refused(alert),
        })
    }

    /// The decisions recorded on an alert, oldest first.
    pub async fn alert_actions(&self, id: AlertId) -> Result<Vec<AlertAction>> {
        on_pool!(self, pool => {
            let rows: Vec<(String, String, Uuid, String, DbTime)> = sqlx::query_as(
                "SELECT aa.action, aa.comment, aa.acted_by, u.display_name, aa.acted_at FROM alert_actions aa \
                 JOIN users u ON u.id = aa.acted_by WHERE aa.alert_id = $1 ORDER BY aa.acted_at, aa.id",
            )
            .bind(id.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("alert_actions"))?;
            Ok(rows
                .into_iter()
                .map(|(action, comment, by, name, at)| AlertAction {
                    action,
                    comment,
                    acted_by: UserId::from_uuid(by),
                    acted_by_name: name,
                    acted_at: at.0,
                })
                .collect())
        })
    }
}
