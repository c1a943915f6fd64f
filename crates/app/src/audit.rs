//! Reading the audit log: admins browse the organization's log, seeing that something
//! happened but never what (`AuditEvent::admin_view`); a patient's care team reads the
//! patient's own trail with its full detail.

use jiff::tz::TimeZone;
use speciosa_core::FieldErrors;
use speciosa_core::audit::{AdminAuditEvent, AuditEvent, Outcome};
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use speciosa_core::policy::{OrganizationAction, PatientAction};
use speciosa_core::time::CalendarDate;
use speciosa_store::AuditFilter;

use crate::{App, AppError, Caller, access};

/// The admin's filters as typed; each is checked here and an error names its field.
#[derive(Clone, Debug, Default)]
pub struct AuditCriteria {
    /// Exact action (`patient.read`) or a prefix ending in a dot (`patient.`).
    pub action: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: Option<String>,
    pub patient_id: Option<String>,
    pub actor_user_id: Option<String>,
    /// First day, YYYY-MM-DD, in the organization's time zone.
    pub since: Option<String>,
    /// Last day, YYYY-MM-DD, in the organization's time zone, inclusive.
    pub until: Option<String>,
    /// Page back: events older than this id.
    pub before_id: Option<i64>,
    /// 1 to 1000; default 100.
    pub limit: Option<u32>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl AuditCriteria {
    /// The filter, reading dates as days in `zone` (the organization's, as its pages
    /// show times), so "from the 1st" means the clinic's 1st, not UTC's.
    fn to_filter(
        &self,
        organization_id: OrganizationId,
        zone: &TimeZone,
    ) -> Result<AuditFilter, FieldErrors> {
        let start_of_day = |date: jiff::civil::Date| {
            date.to_zoned_datetime(zone.clone())
                .ok()
                .map(|z| z.timestamp())
        };
        let mut errors = FieldErrors::new();
        let outcome =
            non_empty(&self.outcome).and_then(|o| errors.check("outcome", o.parse::<Outcome>()));
        let patient_id = non_empty(&self.patient_id).and_then(|p| {
            errors.check(
                "patient_id",
                p.parse::<PatientId>().map_err(|_| "not a patient id"),
            )
        });
        let actor_user_id = non_empty(&self.actor_user_id).and_then(|u| {
            errors.check(
                "actor_user_id",
                u.parse::<UserId>().map_err(|_| "not a user id"),
            )
        });
        let since = non_empty(&self.since)
            .and_then(|d| errors.check("since", CalendarDate::parse(d)))
            .and_then(|d| start_of_day(d.get()));
        let until = non_empty(&self.until)
            .and_then(|d| errors.check("until", CalendarDate::parse(d)))
            .and_then(|d| d.get().tomorrow().ok())
            .and_then(start_of_day);
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            errors.push("limit", "limit must be between 1 and 1000");
        }
        errors.into_result(|| AuditFilter {
            organization_id: Some(organization_id),
            action: non_empty(&self.action).map(str::to_owned),
            actor_user_id,
            patient_id,
            outcome: outcome.map(|o| o.as_str().to_owned()),
            since,
            until,
            before_id: self.before_id,
            limit,
        })
    }
}

/// One page of the organization's log, without clinical detail.
pub struct AuditLogPage {
    pub events: Vec<AdminAuditEvent>,
    /// Pass as `before_id` for the next (older) page; absent on the last page.
    pub next_before_id: Option<i64>,
}

/// Whether the caller may read the organization's log (a refusal is audited).
pub async fn may_read_audit_log(app: &App, caller: &Caller) -> Result<(), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ReadAuditLog,
        "audit.read",
        "audit_log",
    )
    .await
}

/// One page of the organization's audit log, newest first.
pub async fn browse_audit_log(
    app: &App,
    caller: &Caller,
    criteria: &AuditCriteria,
) -> Result<AuditLogPage, AppError> {
    may_read_audit_log(app, caller).await?;
    let zone = organization_zone(app, caller).await?;
    let filter = criteria.to_filter(caller.actor.organization_id, &zone)?;
    let events = app.store.list_audit_events(&filter).await?;
    Ok(AuditLogPage {
        next_before_id: next_before_id(&events, filter.limit),
        events: events.iter().map(AuditEvent::admin_view).collect(),
    })
}

/// The zone the organization reads its days in; UTC until an admin sets one.
async fn organization_zone(app: &App, caller: &Caller) -> Result<TimeZone, AppError> {
    let organization = app
        .store
        .get_organization(caller.actor.organization_id)
        .await?;
    Ok(organization
        .and_then(|o| jiff::tz::db().get(o.time_zone.as_str()).ok())
        .unwrap_or(TimeZone::UTC))
}

fn next_before_id(events: &[AuditEvent], limit: u32) -> Option<i64> {
    (events.len() as u32 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten()
}

/// One page of a patient's trail, every column of each event, newest first.
pub struct TrailPage {
    pub events: Vec<AuditEvent>,
    pub next_before_id: Option<i64>,
}

/// One page of a patient's own audit trail for their care team, itself audited.
/// `limit` is 1 to 1000 (default 100).
pub async fn read_trail(
    app: &App,
    caller: &Caller,
    id: PatientId,
    before_id: Option<i64>,
    limit: Option<u32>,
) -> Result<TrailPage, AppError> {
    access::patient(
        app,
        caller,
        id,
        PatientAction::ReadAuditTrail,
        "patient_audit.read",
    )
    .await?;
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::field("limit", "limit must be between 1 and 1000"));
    }
    let filter = AuditFilter {
        organization_id: Some(caller.actor.organization_id),
        patient_id: Some(id),
        before_id,
        limit,
        ..Default::default()
    };
    let events = app.store.list_audit_events(&filter).await?;
    let mut entry = caller.audit(
        "patient_audit.read",
        "audit_log",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} events", events.len()));
    app.store.append_audit(entry).await?;
    Ok(TrailPage {
        next_before_id: next_before_id(&events, limit),
        events,
    })
}
