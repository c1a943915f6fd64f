//! `GET /api/v1/audit-events`: admins browse the audit log, seeing that something
//! happened but never what (`AuditEvent::admin_view`).
//! `GET /api/v1/patients/{id}/audit-events`: the patient's care team reads the
//! patient's own trail with its full detail.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use speciosa_app::audit::{self, AuditCriteria};
use speciosa_core::audit::{AdminAuditEvent, AuditEvent};
use speciosa_core::ids::PatientId;
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, ApiUser};

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

impl From<AuditQuery> for AuditCriteria {
    fn from(query: AuditQuery) -> Self {
        AuditCriteria {
            action: query.action,
            outcome: query.outcome,
            patient_id: query.patient_id,
            actor_user_id: query.actor_user_id,
            since: query.since,
            until: query.until,
            before_id: query.before_id,
            limit: query.limit,
        }
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
    let page = audit::browse_audit_log(&state.app, &user, &query.into()).await?;
    Ok(Json(AuditPage {
        events: page.events,
        next_before_id: page.next_before_id,
    }))
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
    let trail = audit::read_trail(&state.app, &user, id, query.before_id, query.limit).await?;
    Ok(Json(TrailPage {
        events: trail.events,
        next_before_id: trail.next_before_id,
    }))
}
