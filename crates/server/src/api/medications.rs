//! `/api/v1/patients/{id}/medications`: the medication list the safety rules read
//! (a CNS depressant alongside kratom). Every change re-runs the rules before the
//! response is sent.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_app::medications::{self, MedicationSaved, patient_today};
use speciosa_app::records::Medication;
use speciosa_core::ids::{MedicationId, PatientId};
use speciosa_core::medication::MedicationFields;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicationRequest {
    pub name: String,
    /// `opioid`, `benzodiazepine`, `gabapentinoid`, `z_drug`, `barbiturate`,
    /// `sedating_antihistamine`, `antidepressant`, `antipsychotic`, `stimulant` or `other`.
    #[serde(alias = "medication_class", alias = "drug_class")]
    pub class: String,
    /// Free text, e.g. "300 mg three times a day".
    #[serde(alias = "dose")]
    pub dose_text: Option<String>,
    /// YYYY-MM-DD.
    #[serde(alias = "start_date", alias = "start")]
    pub started_on: Option<String>,
    /// YYYY-MM-DD; absent while still taken.
    #[serde(alias = "stop_date", alias = "stop", alias = "end_date")]
    pub stopped_on: Option<String>,
}

impl MedicationRequest {
    pub fn fields(&self) -> MedicationFields<'_> {
        MedicationFields {
            name: &self.name,
            class: &self.class,
            dose_text: self.dose_text.as_deref(),
            started_on: self.started_on.as_deref(),
            stopped_on: self.stopped_on.as_deref(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicationRemovalRequest {
    /// Why the entry was wrong (it stays on record, off the list).
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct MedicationView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub name: String,
    pub class: String,
    pub class_label: String,
    /// Whether the class counts for the CNS-depressant combination rule.
    pub cns_depressant: bool,
    pub dose_text: Option<String>,
    pub started_on: Option<String>,
    pub stopped_on: Option<String>,
    /// Taken today, by its dates.
    pub active: bool,
    pub updated_at: String,
}

impl MedicationView {
    pub fn new(medication: &Medication, today: jiff::civil::Date) -> Self {
        MedicationView {
            id: medication.id.as_uuid(),
            patient_id: medication.patient_id.as_uuid(),
            name: medication.name.clone(),
            class: medication.class.as_str().into(),
            class_label: medication.class.label().into(),
            cns_depressant: medication.class.is_cns_depressant(),
            dose_text: medication.dose_text.clone(),
            started_on: medication.started_on.map(|d| d.to_string()),
            stopped_on: medication.stopped_on.map(|d| d.to_string()),
            active: speciosa_core::medication::is_active_on(
                medication.started_on,
                medication.stopped_on,
                today,
            ),
            updated_at: medication.updated_at.to_string(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/medications", tag = "medications", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The medication list, current entries first", body = [MedicationView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<MedicationView>>, ApiError> {
    let (patient, medications) = medications::read_medications(&state.app, &user, id).await?;
    let today = patient_today(&patient);
    Ok(Json(
        medications
            .iter()
            .map(|m| MedicationView::new(m, today))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/medications", tag = "medications", params(("id" = Uuid, Path)), request_body = MedicationRequest,
    responses(
        (status = 201, description = "Added; the safety rules have already run on the new list", body = MedicationView),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<MedicationRequest>,
) -> Result<Response, ApiError> {
    let MedicationSaved {
        patient,
        medication,
        ..
    } = medications::add_medication(&state.app, &user, id, &request.fields()).await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/patients/{id}/medications/{}", medication.id),
        )],
        Json(MedicationView::new(&medication, patient_today(&patient))),
    )
        .into_response())
}

#[utoipa::path(put, path = "/api/v1/patients/{id}/medications/{medication_id}", tag = "medications",
    params(("id" = Uuid, Path), ("medication_id" = Uuid, Path)), request_body = MedicationRequest,
    responses((status = 200, description = "Corrected or stopped; the rules have re-run", body = MedicationView)))]
pub async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, medication_id)): ApiPath<(PatientId, MedicationId)>,
    ApiJson(request): ApiJson<MedicationRequest>,
) -> Result<Json<MedicationView>, ApiError> {
    let MedicationSaved {
        patient,
        medication,
        ..
    } = medications::change_medication(&state.app, &user, id, medication_id, &request.fields())
        .await?;
    Ok(Json(MedicationView::new(
        &medication,
        patient_today(&patient),
    )))
}

#[utoipa::path(delete, path = "/api/v1/patients/{id}/medications/{medication_id}", tag = "medications",
    params(("id" = Uuid, Path), ("medication_id" = Uuid, Path)), request_body = MedicationRemovalRequest,
    responses((status = 200, description = "Marked entered in error (kept for the record)", body = MedicationView)))]
pub async fn remove(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, medication_id)): ApiPath<(PatientId, MedicationId)>,
    ApiJson(request): ApiJson<MedicationRemovalRequest>,
) -> Result<Json<MedicationView>, ApiError> {
    let MedicationSaved {
        patient,
        medication,
        ..
    } = medications::remove_medication(&state.app, &user, id, medication_id, &request.reason)
        .await?;
    Ok(Json(MedicationView::new(
        &medication,
        patient_today(&patient),
    )))
}
