//! `/api/v1/patients/{id}/schedule`: which instruments are due for a patient today, and the
//! clinician-set rhythm behind it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use speciosa_app::checkin;
use speciosa_core::ids::PatientId;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser};

#[derive(Serialize, ToSchema)]
pub struct DueItem {
    pub instrument: String,
    /// `daily`, `weekly` or `off`.
    pub frequency: String,
    /// Whether the patient should complete it today (patient-local calendar).
    pub due: bool,
    pub last_completed_at: Option<String>,
}

impl From<&checkin::DueItem> for DueItem {
    fn from(item: &checkin::DueItem) -> Self {
        DueItem {
            instrument: item.instrument.clone(),
            frequency: item.frequency.as_str().to_owned(),
            due: item.due,
            last_completed_at: item.last_completed_at.map(|t| t.to_string()),
        }
    }
}

fn views(items: &[checkin::DueItem]) -> Vec<DueItem> {
    items.iter().map(DueItem::from).collect()
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/schedule", tag = "assessments", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Each instrument's frequency for this patient and whether it is due today", body = [DueItem])))]
pub async fn get_schedule(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<DueItem>>, ApiError> {
    let items = checkin::due_today(&state.app, &user, id).await?;
    Ok(Json(views(&items)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Instrument code → `daily`, `weekly` or `off`. Instruments left out keep the clinic default.
    #[schema(value_type = Object, example = json!({"sows": "daily", "phq9": "weekly"}))]
    pub frequencies: BTreeMap<String, String>,
}

#[utoipa::path(put, path = "/api/v1/patients/{id}/schedule", tag = "assessments", params(("id" = uuid::Uuid, Path)), request_body = ScheduleRequest,
    responses((status = 200, description = "The new schedule", body = [DueItem])))]
pub async fn put_schedule(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> Result<Json<Vec<DueItem>>, ApiError> {
    checkin::set_schedule(&state.app, &user, id, &request.frequencies).await?;
    let items = checkin::due_today(&state.app, &user, id).await?;
    Ok(Json(views(&items)))
}
