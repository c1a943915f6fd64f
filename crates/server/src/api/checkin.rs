//! `/api/v1/patients/{id}/schedule`: which instruments are due for a patient today, and the
//! clinician-set rhythm behind it; plus the crisis contacts for a patient's jurisdiction.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use speciosa_core::FieldErrors;
use speciosa_core::audit::Outcome;
use speciosa_core::checkin::{CrisisResources, Frequency};
use speciosa_core::ids::PatientId;
use speciosa_core::policy::PatientAction;
use speciosa_store::Patient;
use utoipa::ToSchema;

use crate::access;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser, Authenticated};

#[derive(Serialize, ToSchema)]
pub struct DueItem {
    pub instrument: String,
    /// `daily`, `weekly` or `off`.
    pub frequency: String,
    /// Whether the patient should complete it today (patient-local calendar).
    pub due: bool,
    pub last_completed_at: Option<String>,
}

/// Every instrument with the patient's frequency and whether it is due today.
pub async fn due_today(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
) -> Result<Vec<DueItem>, ApiError> {
    access::patient(state, user, id, PatientAction::Read, "schedule.read").await?;
    let patient = state
        .store
        .get_patient(id)
        .await?
        .ok_or_else(|| ApiError::not_found("patient"))?;
    let overrides = state.store.schedule_overrides(id).await?;
    let last = state.store.last_completions(id).await?;
    let zone = patient.details.time_zone.to_zone();
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();
    let items = state
        .app
        .knowledge()
        .instruments
        .all()
        .iter()
        .map(|instrument| {
            let frequency = overrides
                .get(&instrument.code)
                .and_then(|f| f.parse().ok())
                .unwrap_or_else(|| {
                    state
                        .app
                        .knowledge()
                        .checkin_defaults
                        .frequency(&instrument.code)
                });
            let last_completed = last.get(&instrument.code).copied();
            DueItem {
                instrument: instrument.code.clone(),
                frequency: frequency.as_str().to_owned(),
                due: frequency.is_due(
                    last_completed.map(|t| t.to_zoned_datetime(zone.clone()).date()),
                    today,
                ),
                last_completed_at: last_completed.map(|t| t.to_string()),
            }
        })
        .collect();
    state
        .store
        .append_audit(user.audit(
            "schedule.read",
            "schedule",
            None,
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok(items)
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/schedule", tag = "assessments", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Each instrument's frequency for this patient and whether it is due today", body = [DueItem])))]
pub async fn get_schedule(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<DueItem>>, ApiError> {
    Ok(Json(due_today(&state, &user, id).await?))
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
    set_schedule(&state, &user, id, &request.frequencies).await?;
    Ok(Json(due_today(&state, &user, id).await?))
}

/// Sets a patient's check-in rhythm (clinicians on the care team). Shared with the pages.
pub async fn set_schedule(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    frequencies: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    access::patient(
        state,
        user,
        id,
        PatientAction::UpdateDetails,
        "schedule.update",
    )
    .await?;
    let mut errors = FieldErrors::new();
    let mut checked = BTreeMap::new();
    for (instrument, frequency) in frequencies {
        let field = format!("frequencies.{instrument}");
        if state.app.knowledge().instruments.get(instrument).is_none() {
            errors.push(
                field,
                format!("{instrument:?} is not an instrument Speciosa knows"),
            );
        } else if let Some(frequency) = errors.check(&field, frequency.parse::<Frequency>()) {
            checked.insert(instrument.clone(), frequency.as_str().to_owned());
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut entry = user.audit(
        "schedule.update",
        "schedule",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(
        checked
            .iter()
            .map(|(i, f)| format!("{i}={f}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    state
        .store
        .set_schedule(id, &checked, user.actor.user_id, entry)
        .await?;
    Ok(())
}

/// The crisis contacts for the patient's country (default: US, 988 and 911).
pub fn crisis_resources<'a>(
    state: &'a AppState,
    patient: &Patient,
) -> (&'a str, &'a CrisisResources) {
    let country = patient
        .details
        .jurisdiction
        .as_ref()
        .map(|j| j.country.as_str());
    state.app.knowledge().crisis.for_country(country)
}
