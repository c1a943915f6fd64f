//! `/api/v1/patients/{id}/medications`: the medication list the safety rules read
//! (a CNS depressant alongside kratom). Every change re-runs the rules before the
//! response is sent.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use speciosa_core::FieldErrors;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{MedicationId, PatientId};
use speciosa_core::medication::{MedicationEntry, MedicationFields};
use speciosa_core::policy::PatientAction;
use speciosa_store::{Alert, Medication, Patient};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser, Authenticated};

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

/// A medication change as stored, with the alerts the safety rules raised or folded
/// into on the new list (the pages tell the clinician; the JSON API leaves them to the inbox).
pub struct MedicationSaved {
    pub patient: Patient,
    pub medication: Medication,
    pub alerts: Vec<Alert>,
}

fn patient_today(patient: &Patient) -> jiff::civil::Date {
    Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date()
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/medications", tag = "medications", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The medication list, current entries first", body = [MedicationView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<MedicationView>>, ApiError> {
    let (patient, medications) = read_medications(&state, &user, id).await?;
    let today = patient_today(&patient);
    Ok(Json(
        medications
            .iter()
            .map(|m| MedicationView::new(m, today))
            .collect(),
    ))
}

/// The patient's medication list, audited. Shared with the pages.
pub async fn read_medications(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
) -> Result<(Patient, Vec<Medication>), ApiError> {
    let patient =
        access::patient_record(state, user, id, PatientAction::Read, "medication.list").await?;
    let medications = state.store.list_medications(id).await?;
    let mut entry = user.audit(
        "medication.list",
        "medication",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} medications", medications.len()));
    state.store.append_audit(entry).await?;
    Ok((patient, medications))
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
    } = add_medication(&state, &user, id, &request.fields()).await?;
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

/// Adds a medication and re-runs the rules. Shared with the pages.
pub async fn add_medication(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    fields: &MedicationFields<'_>,
) -> Result<MedicationSaved, ApiError> {
    let patient = access::patient_record(
        state,
        user,
        id,
        PatientAction::ManageMedications,
        "medication.create",
    )
    .await?;
    let entry = MedicationEntry::parse(fields, patient_today(&patient))?;
    let medication = state
        .store
        .insert_medication(
            patient.organization_id,
            id,
            &entry,
            user.actor.user_id,
            |med_id| {
                let mut audit = user.audit(
                    "medication.create",
                    "medication",
                    Some(med_id.to_string()),
                    Some(id),
                    Outcome::Success,
                );
                audit.detail = Some(entry.class.as_str().into());
                audit
            },
        )
        .await?;
    let alerts = speciosa_app::safety::after_write(&state.app, user, &patient).await;
    Ok(MedicationSaved {
        patient,
        medication,
        alerts,
    })
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
    } = change_medication(&state, &user, id, medication_id, &request.fields()).await?;
    Ok(Json(MedicationView::new(
        &medication,
        patient_today(&patient),
    )))
}

/// Replaces a medication's fields (a correction or a stop date). Shared with the pages.
pub async fn change_medication(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    medication_id: MedicationId,
    fields: &MedicationFields<'_>,
) -> Result<MedicationSaved, ApiError> {
    let patient = access::patient_record(
        state,
        user,
        id,
        PatientAction::ManageMedications,
        "medication.update",
    )
    .await?;
    current_medication(state, id, medication_id).await?;
    let entry = MedicationEntry::parse(fields, patient_today(&patient))?;
    let medication = state
        .store
        .update_medication(
            medication_id,
            &entry,
            user.actor.user_id,
            user.audit(
                "medication.update",
                "medication",
                Some(medication_id.to_string()),
                Some(id),
                Outcome::Success,
            ),
        )
        .await?;
    let alerts = speciosa_app::safety::after_write(&state.app, user, &patient).await;
    Ok(MedicationSaved {
        patient,
        medication,
        alerts,
    })
}

/// Records the day a medication was stopped, keeping its other fields as stored (so a
/// stale page cannot undo a correction made since). Shared with the pages.
pub async fn stop_medication(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    medication_id: MedicationId,
    stopped_on: &str,
) -> Result<MedicationSaved, ApiError> {
    access::patient(
        state,
        user,
        id,
        PatientAction::ManageMedications,
        "medication.update",
    )
    .await?;
    let current = current_medication(state, id, medication_id).await?;
    if stopped_on.trim().is_empty() {
        return Err(
            FieldErrors::single("stopped_on", "enter the day it was stopped (YYYY-MM-DD)").into(),
        );
    }
    let started_on = current.started_on.map(|d| d.to_string());
    let fields = MedicationFields {
        name: &current.name,
        class: current.class.as_str(),
        dose_text: current.dose_text.as_deref(),
        started_on: started_on.as_deref(),
        stopped_on: Some(stopped_on),
    };
    change_medication(state, user, id, medication_id, &fields).await
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
    } = remove_medication(&state, &user, id, medication_id, &request.reason).await?;
    Ok(Json(MedicationView::new(
        &medication,
        patient_today(&patient),
    )))
}

/// Removes an entry entered in error. Shared with the pages.
pub async fn remove_medication(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    medication_id: MedicationId,
    reason: &str,
) -> Result<MedicationSaved, ApiError> {
    let patient = access::patient_record(
        state,
        user,
        id,
        PatientAction::ManageMedications,
        "medication.remove",
    )
    .await?;
    current_medication(state, id, medication_id).await?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(FieldErrors::single("reason", "say why the entry was wrong").into());
    }
    let mut audit = user.audit(
        "medication.remove",
        "medication",
        Some(medication_id.to_string()),
        Some(id),
        Outcome::Success,
    );
    audit.detail = Some(format!("reason: {reason}"));
    let medication = state
        .store
        .remove_medication(medication_id, reason, user.actor.user_id, audit)
        .await?;
    let alerts = speciosa_app::safety::after_write(&state.app, user, &patient).await;
    Ok(MedicationSaved {
        patient,
        medication,
        alerts,
    })
}

async fn current_medication(
    state: &AppState,
    patient: PatientId,
    id: MedicationId,
) -> Result<Medication, ApiError> {
    state
        .store
        .get_medication(id)
        .await?
        .filter(|m| m.patient_id == patient && m.removed_at.is_none())
        .ok_or_else(|| ApiError::not_found("medication"))
}
