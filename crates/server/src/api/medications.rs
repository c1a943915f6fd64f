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
use speciosa_core::medicines::{InteractionRow, Mechanism};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicationRequest {
    /// As typed, e.g. "Xanax 0.5 mg": resolved with the drug lexicon to its ingredient and
    /// class; a name the lexicon does not know is kept as typed (`recognised: false`).
    pub name: String,
    /// Optional: `opioid`, `benzodiazepine`, `gabapentinoid`, `z_drug`, `barbiturate`,
    /// `sedating_antihistamine`, `antidepressant`, `antipsychotic`, `stimulant`,
    /// `muscle_relaxant`, `antiepileptic`, `opioid_antagonist`, `antihistamine`, `antibiotic`,
    /// `antifungal`, `antiemetic`, `antiarrhythmic`, `cough_suppressant`, `acid_reducer` or
    /// `other`. When given it wins over the lexicon's class; when absent, the lexicon's
    /// class (or `other` for an unrecognised name).
    #[serde(default, alias = "medication_class", alias = "drug_class")]
    pub class: Option<String>,
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
            class: self.class.as_deref().unwrap_or(""),
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

/// An interaction row that applies to a medication (data/medicines/interactions.toml or
/// the organization's own row).
#[derive(Serialize, ToSchema)]
pub struct InteractionView {
    pub id: String,
    /// `cns_depression`, `cyp3a_inhibition`, `cyp2d6_inhibition`, `serotonergic`,
    /// `qt_prolongation`, `seizure_threshold`, `precipitated_withdrawal` or `potentiator`.
    pub mechanism: String,
    /// `major`, `moderate` or `minor`.
    pub severity: String,
    /// `clinical_study`, `surveillance`, `case_reports`, `in_vitro`, `mechanistic` or `anecdotal`.
    pub evidence: String,
    pub effect: String,
    pub consider: String,
    pub source: String,
}

impl From<&InteractionRow> for InteractionView {
    fn from(row: &InteractionRow) -> Self {
        InteractionView {
            id: row.id.clone(),
            mechanism: row.mechanism.as_str().into(),
            severity: row.severity.as_str().into(),
            evidence: row.evidence.as_str().into(),
            effect: row.effect.clone(),
            consider: row.consider.clone(),
            source: row.source.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MedicationView {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// As typed.
    pub name: String,
    /// The lexicon's ingredient, e.g. `alprazolam`; absent when not recognised.
    pub ingredient: Option<String>,
    /// Whether the name was recognised by the drug lexicon. An unrecognised name is
    /// checked against interactions only through the class chosen for it.
    pub recognised: bool,
    /// The strength typed in the name, e.g. `0.5 mg`.
    pub strength: Option<String>,
    pub class: String,
    pub class_label: String,
    /// Whether a CNS-depression row applies (the CNS-depressant combination rule).
    pub cns_depressant: bool,
    /// The kratom interaction rows that apply, by ingredient and class.
    pub interactions: Vec<InteractionView>,
    pub dose_text: Option<String>,
    pub started_on: Option<String>,
    pub stopped_on: Option<String>,
    /// Taken today, by its dates.
    pub active: bool,
    pub updated_at: String,
}

impl MedicationView {
    pub fn new(
        medication: &Medication,
        interactions: &[InteractionRow],
        today: jiff::civil::Date,
    ) -> Self {
        MedicationView {
            id: medication.id.as_uuid(),
            patient_id: medication.patient_id.as_uuid(),
            name: medication.name.clone(),
            ingredient: medication.ingredient.clone(),
            recognised: medication.recognised,
            strength: medication.strength.clone(),
            class: medication.class.as_str().into(),
            class_label: medication.class.label().into(),
            cns_depressant: interactions
                .iter()
                .any(|r| r.mechanism == Mechanism::CnsDepression),
            interactions: interactions.iter().map(InteractionView::from).collect(),
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
    let (patient, medications) =
        medications::read_checked_medications(&state.app, &user, id).await?;
    let today = patient_today(&patient);
    Ok(Json(
        medications
            .iter()
            .map(|m| MedicationView::new(&m.medication, &m.interactions, today))
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
        interactions,
        ..
    } = medications::add_medication(&state.app, &user, id, &request.fields()).await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/patients/{id}/medications/{}", medication.id),
        )],
        Json(MedicationView::new(
            &medication,
            &interactions,
            patient_today(&patient),
        )),
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
        interactions,
        ..
    } = medications::change_medication(&state.app, &user, id, medication_id, &request.fields())
        .await?;
    Ok(Json(MedicationView::new(
        &medication,
        &interactions,
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
        interactions,
        ..
    } = medications::remove_medication(&state.app, &user, id, medication_id, &request.reason)
        .await?;
    Ok(Json(MedicationView::new(
        &medication,
        &interactions,
        patient_today(&patient),
    )))
}
