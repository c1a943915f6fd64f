//! `GET /api/v1/audit-events`: admins browse the audit log, seeing that something
//! happened but never what (`AuditEvent::admin_view`).
//! `GET /api/v1/patients/{id}/audit-events`: the patient's care team reads the
//! patient's own trail with its full detail.

use axum::Json;
use axum::extract::State;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use speciosa_core::FieldErrors;
use speciosa_core::audit::{AdminAuditEvent, AuditEvent, Outcome};
use speciosa_core::ids::{PatientId, UserId};
use speciosa_core::policy::{OrganizationAction, PatientAction};
use speciosa_core::time::CalendarDate;
use speciosa_store::AuditFilter;
use utoipa::{IntoParams, ToSchema};

use crate::access;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, ApiUser, Authenticated};

#[derive(Deserialize, IntoParams, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
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

impl AuditQuery {
    /// The filter, reading dates as days in `zone` (the organization's, as its pages
    /// show times), so "from the 1st" means the clinic's 1st, not UTC's.
    pub fn to_filter(
        &self,
        user: &Authenticated,
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
            organization_id: Some(user.actor.organization_id),
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

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Who, when, the kind of action and resource, the outcome and the client address;
    /// no clinical detail (no rule, instrument, medication or reason).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<AdminAuditEvent>,
    /// Pass as `before_id` for the next (older) page; absent on the last page.
    pub next_before_id: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "Events, newest first", body = AuditPage)))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(browse(&state, &user, &query).await?))
}

/// One page of the organization's audit log; shared with the admin page.
pub async fn browse(
    state: &AppState,
    user: &Authenticated,
    query: &AuditQuery,
) -> Result<AuditPage, ApiError> {
    access::organization(
        state,
        user,
        OrganizationAction::ReadAuditLog,
        "audit.read",
        "audit_log",
    )
    .await?;
    let zone = organization_zone(state, user).await?;
    let filter = query.to_filter(user, &zone)?;
    let events = state.store.list_audit_events(&filter).await?;
    Ok(AuditPage {
        next_before_id: next_before_id(&events, filter.limit),
        events: events.iter().map(AuditEvent::admin_view).collect(),
    })
}

/// The zone the organization reads its days in; UTC until an admin sets one.
pub async fn organization_zone(
    state: &AppState,
    user: &Authenticated,
) -> Result<TimeZone, ApiError> {
    let organization = state
        .store
        .get_organization(user.actor.organization_id)
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

#[derive(Deserialize, IntoParams, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct TrailQuery {
    /// Page back: events older than this id.
    pub before_id: Option<i64>,
    /// 1 to 1000; default 100.
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct TrailPage {
    /// Every column of each event about this patient, newest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<AuditEvent>,
    /// Pass as `before_id` for the next (older) page; absent on the last page.
    pub next_before_id: Option<i64>,
}

const PROBLEM: &str = "application/problem+json";

#[utoipa::path(get, path = "/api/v1/patients/{id}/audit-events", tag = "audit",
    params(("id" = uuid::Uuid, Path), TrailQuery),
    responses(
        (status = 200, description = "The patient's audit trail with its detail, newest first (care team only)", body = TrailPage),
        (status = 403, description = "Not on the care team", body = crate::api::Problem, content_type = PROBLEM),
        (status = 404, description = "No such patient visible to you", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn patient_trail(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<TrailQuery>,
) -> Result<Json<TrailPage>, ApiError> {
    Ok(Json(read_trail(&state, &user, id, &query).await?))
}

/// One page of a patient's own audit trail for their care team, itself audited;
/// shared with the patient's audit page.
pub async fn read_trail(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    query: &TrailQuery,
) -> Result<TrailPage, ApiError> {
    access::patient(
        state,
        user,
        id,
        PatientAction::ReadAuditTrail,
        "patient_audit.read",
    )
    .await?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(FieldErrors::single("limit", "limit must be between 1 and 1000").into());
    }
    let filter = AuditFilter {
        organization_id: Some(user.actor.organization_id),
        patient_id: Some(id),
        before_id: query.before_id,
        limit,
        ..Default::default()
    };
    let events = state.store.list_audit_events(&filter).await?;
    let mut entry = user.audit(
        "patient_audit.read",
        "audit_log",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} events", events.len()));
    state.store.append_audit(entry).await?;
    Ok(TrailPage {
        next_before_id: next_before_id(&events, limit),
        events,
    })
}
