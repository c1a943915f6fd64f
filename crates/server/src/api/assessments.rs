//! `/api/v1/instruments` and `/api/v1/patients/{id}/assessments` and `/alerts`: validated
//! instruments scored exactly as published, and the safety alerts answers raise.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use speciosa_core::FieldErrors;
use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::PatientId;
use speciosa_core::instrument::{
    Answer, EntryKind, Instrument, Rater, Response as ItemResponse, ScoringMethod,
};
use speciosa_core::patient::SexAtBirth;
use speciosa_core::policy::PatientAction;
use speciosa_core::safety::{self, AssessmentFact};
use speciosa_core::sleep::DiaryEntry;
use speciosa_core::time::ClinicalInstant;
use speciosa_store::{Alert, Assessment, NewAssessment, Patient};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access;
use crate::api::alerts::AlertView;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser, Authenticated};

const PROBLEM: &str = "application/problem+json";

#[derive(Serialize, ToSchema)]
pub struct OptionView {
    pub value: f64,
    pub label: String,
}

#[derive(Serialize, ToSchema)]
pub struct ItemView {
    /// The item's number in the published order ("1", "2", …), the key for `answers`.
    pub id: String,
    pub text: String,
    pub scored: bool,
    pub required: bool,
    /// For choice items: the published score of each answer.
    pub options: Option<Vec<OptionView>>,
    /// For numeric rating scales: `{min, max, min_label, max_label}`.
    #[schema(value_type = Option<Object>)]
    pub scale: Option<serde_json::Value>,
    /// For diary entries: `clock_time` (HH:MM), `minutes`, `count` or `text`.
    pub kind: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BandView {
    pub code: String,
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub sex: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InstrumentView {
    /// `phq9`, `gad7`, `cows`, `sows`, `sleep_diary`, `craving`, `pain_nrs`, `peg3`, `auditc`, `red_flags`.
    pub code: String,
    pub name: String,
    pub short_name: String,
    /// `patient` (self-report) or `clinician`.
    pub rater: String,
    pub instructions: String,
    pub attribution: String,
    pub licence: String,
    pub source: String,
    pub evidence: Option<String>,
    pub loinc_panel: Option<String>,
    pub loinc_total: Option<String>,
    /// `sum`, `mean` or `none`.
    pub scoring: String,
    pub min: f64,
    pub max: f64,
    pub items: Vec<ItemView>,
    pub bands: Vec<BandView>,
}

fn entry_kind(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::ClockTime => "clock_time",
        EntryKind::Minutes => "minutes",
        EntryKind::Count => "count",
        EntryKind::Text => "text",
    }
}

impl From<&Instrument> for InstrumentView {
    fn from(i: &Instrument) -> Self {
        InstrumentView {
            code: i.code.clone(),
            name: i.name.clone(),
            short_name: i.short_name.clone(),
            rater: match i.rater {
                Rater::Patient => "patient".into(),
                Rater::Clinician => "clinician".into(),
            },
            instructions: i.instructions.clone(),
            attribution: i.attribution.clone(),
            licence: i.licence.clone(),
            source: i.source.clone(),
            evidence: i.evidence.clone(),
            loinc_panel: i.loinc.as_ref().and_then(|l| l.panel.clone()),
            loinc_total: i.loinc.as_ref().and_then(|l| l.total.clone()),
            scoring: match i.scoring.method {
                ScoringMethod::Sum => "sum".into(),
                ScoringMethod::Mean => "mean".into(),
                ScoringMethod::None => "none".into(),
            },
            min: i.scoring.min,
            max: i.scoring.max,
            items: i
                .items
                .iter()
                .map(|item| {
                    let (options, scale, kind) = match &item.response {
                        ItemResponse::Options(options) => (
                            Some(options.iter().map(|o| OptionView { value: o.value, label: o.label.clone() }).collect()),
                            None,
                            None,
                        ),
                        ItemResponse::Scale(s) => (
                            None,
                            Some(serde_json::json!({"min": s.min, "max": s.max, "min_label": s.min_label, "max_label": s.max_label})),
                            None,
                        ),
                        ItemResponse::Entry(kind) => (None, None, Some(entry_kind(*kind).to_owned())),
                    };
                    ItemView { id: item.id.clone(), text: item.text.clone(), scored: item.scored, required: item.required, options, scale, kind }
                })
                .collect(),
            bands: i
                .bands
                .iter()
                .map(|b| BandView { code: b.code.clone(), label: b.label.clone(), min: b.min, max: b.max, sex: b.sex.map(|s| s.as_str().to_owned()) })
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/instruments", tag = "assessments",
    responses((status = 200, description = "Every instrument, with items, answer scores, bands and sources", body = [InstrumentView])))]
pub async fn list_instruments(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<InstrumentView>>, ApiError> {
    let mut views = Vec::new();
    for instrument in state.app.knowledge().instruments.all() {
        let effective =
            effective_instrument(&state, user.actor.organization_id, &instrument.code).await?;
        views.extend(effective.as_ref().map(InstrumentView::from));
    }
    Ok(Json(views))
}

#[utoipa::path(get, path = "/api/v1/instruments/{code}", tag = "assessments", params(("code" = String, Path)),
    responses((status = 200, description = "One instrument", body = InstrumentView)))]
pub async fn get_instrument(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<InstrumentView>, ApiError> {
    effective_instrument(&state, user.actor.organization_id, &code)
        .await?
        .map(|i| Json(InstrumentView::from(&i)))
        .ok_or_else(|| ApiError::not_found("instrument"))
}

/// The instrument as the organization uses it: the shipped definition, with the
/// organization's own bands where the instrument allows them (SOWS).
pub async fn effective_instrument(
    state: &AppState,
    organization: speciosa_core::ids::OrganizationId,
    code: &str,
) -> Result<Option<Instrument>, ApiError> {
    let Some(shipped) = state.app.knowledge().instruments.get(code) else {
        return Ok(None);
    };
    if !shipped.bands_configurable {
        return Ok(Some(shipped.clone()));
    }
    let Some(stored) = state.store.organization_bands(organization, code).await? else {
        return Ok(Some(shipped.clone()));
    };
    let bands: Vec<speciosa_core::instrument::Band> =
        serde_json::from_value(stored).map_err(|error| {
            crate::error::log_chain("reading an organization's instrument bands", &error);
            ApiError::internal()
        })?;
    Ok(Some(shipped.with_bands(bands).map_err(|problem| {
        tracing::error!(%problem, "stored instrument bands no longer fit the instrument");
        ApiError::internal()
    })?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BandRequest {
    pub code: String,
    pub label: String,
    pub min: f64,
    pub max: f64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BandsRequest {
    /// Contiguous, inclusive, from the instrument's minimum to its maximum total.
    pub bands: Vec<BandRequest>,
}

#[utoipa::path(put, path = "/api/v1/instruments/{code}/bands", tag = "assessments", params(("code" = String, Path)), request_body = BandsRequest,
    responses(
        (status = 200, description = "The instrument with the organization's bands", body = InstrumentView),
        (status = 422, description = "Bands with gaps or overlaps, or an instrument whose published bands cannot change", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn set_bands(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(code): ApiPath<String>,
    ApiJson(request): ApiJson<BandsRequest>,
) -> Result<Json<InstrumentView>, ApiError> {
    access::organization(
        &state,
        &user,
        speciosa_core::policy::OrganizationAction::ConfigureInstruments,
        "instrument.bands.update",
        "instrument",
    )
    .await?;
    let shipped = state
        .app
        .knowledge()
        .instruments
        .get(&code)
        .ok_or_else(|| ApiError::not_found("instrument"))?;
    let bands: Vec<speciosa_core::instrument::Band> = request
        .bands
        .iter()
        .map(|b| speciosa_core::instrument::Band {
            code: b.code.trim().to_owned(),
            label: b.label.trim().to_owned(),
            min: b.min,
            max: b.max,
            sex: None,
        })
        .collect();
    if bands
        .iter()
        .any(|b| b.code.is_empty() || b.label.is_empty())
    {
        return Err(FieldErrors::single("bands", "every band needs a code and a label").into());
    }
    let configured = shipped
        .with_bands(bands.clone())
        .map_err(|problem| FieldErrors::single("bands", problem))?;
    let stored = serde_json::to_value(&configured.bands).map_err(|_| ApiError::internal())?;
    let mut entry = user.audit(
        "instrument.bands.update",
        "instrument",
        Some(code.clone()),
        None,
        Outcome::Success,
    );
    entry.detail = Some(
        bands
            .iter()
            .map(|b| format!("{} {}–{}", b.code, b.min, b.max))
            .collect::<Vec<_>>()
            .join(", "),
    );
    state
        .store
        .set_organization_bands(
            user.actor.organization_id,
            &code,
            &stored,
            user.actor.user_id,
            entry,
        )
        .await?;
    Ok(Json(InstrumentView::from(&configured)))
}

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct AssessmentRequest {
    #[schema(example = "phq9")]
    pub instrument: String,
    /// Item id → the item's published score (numbers), or text for diary times and notes.
    #[schema(value_type = Object, example = json!({"1": 2, "2": 1, "3": 0, "4": 1, "5": 0, "6": 0, "7": 1, "8": 0, "9": 0}))]
    pub answers: BTreeMap<String, Answer>,
    /// RFC 3339; defaults to now. Future times are refused.
    pub completed_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AssessmentView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub instrument: String,
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, Answer>,
    /// Unrounded (PEG-3's is a mean); absent for diaries.
    pub total: Option<f64>,
    pub band: Option<String>,
    pub band_label: Option<String>,
    /// Derived metrics, e.g. a sleep diary's total sleep time and efficiency.
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<serde_json::Value>,
    pub completed_at: String,
    pub entered_by: Uuid,
    /// Alerts this submission raised (on creation only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertView>,
    /// When an urgent alert was raised: who the patient can contact now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub crisis_resources: Option<serde_json::Value>,
}

impl AssessmentView {
    pub fn new(state: &AppState, assessment: &Assessment, alerts: &[Alert]) -> Self {
        let band_label = state
            .app
            .knowledge()
            .instruments
            .get(&assessment.instrument)
            .and_then(|i| {
                i.bands
                    .iter()
                    .find(|b| Some(&b.code) == assessment.band.as_ref())
            })
            .map(|b| b.label.clone())
            // An organization's own bands (SOWS) are not in the shipped file: name them by code.
            .or_else(|| assessment.band.as_ref().map(|code| code.replace('_', " ")));
        AssessmentView {
            id: assessment.id.as_uuid(),
            patient_id: assessment.patient_id.as_uuid(),
            instrument: assessment.instrument.clone(),
            answers: assessment.answers.clone(),
            total: assessment.total,
            band: assessment.band.clone(),
            band_label,
            metrics: assessment.metrics.clone(),
            completed_at: assessment.completed_at.to_string(),
            entered_by: assessment.entered_by.as_uuid(),
            alerts: alerts.iter().map(AlertView::from).collect(),
            crisis_resources: None,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/assessments", tag = "assessments", params(("id" = Uuid, Path)), request_body = AssessmentRequest,
    responses(
        (status = 201, description = "Scored; any safety rule it fired has already raised an alert", body = AssessmentView),
        (status = 422, description = "Unknown instrument, or invalid or incomplete answers naming the items", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<AssessmentRequest>,
) -> Result<Response, ApiError> {
    let (assessment, alerts) = submit_assessment(&state, &user, id, &request).await?;
    let location = format!("/api/v1/patients/{id}/assessments/{}", assessment.id);
    let mut view = AssessmentView::new(&state, &assessment, &alerts);
    if needs_crisis_contacts(&alerts)
        && let Some(patient) = state.store.get_patient(id).await?
    {
        let (country, resources) = crate::api::checkin::crisis_resources(&state, &patient);
        view.crisis_resources = Some(serde_json::json!({
            "country": country,
            "source": resources.source,
            "resources": resources.resources,
        }));
    }
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// Whether these alerts came from answers that call for crisis contacts now (PHQ-9
/// item 9, a red flag), rather than from the record's state (escalation, withdrawal).
pub fn needs_crisis_contacts(alerts: &[Alert]) -> bool {
    alerts.iter().any(|a| {
        safety::Rule::from_code(&a.rule).is_some_and(safety::Rule::calls_for_crisis_contacts)
    })
}

/// Scores a submission, stores it and opens an alert for every safety rule it fired,
/// all before returning. Shared with the pages.
pub async fn submit_assessment(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    request: &AssessmentRequest,
) -> Result<(Assessment, Vec<Alert>), ApiError> {
    access::patient(
        state,
        user,
        id,
        PatientAction::SubmitAssessment,
        "assessment.create",
    )
    .await?;
    let patient: Patient = state
        .store
        .get_patient(id)
        .await?
        .ok_or_else(|| ApiError::not_found("patient"))?;
    let effective =
        effective_instrument(state, patient.organization_id, request.instrument.trim()).await?;
    let instrument = effective.as_ref().ok_or_else(|| {
        FieldErrors::single(
            "instrument",
            format!(
                "{:?} is not an instrument Speciosa knows",
                request.instrument
            ),
        )
    })?;
    if instrument.rater == Rater::Clinician && user.actor.role == Role::Patient {
        return Err(ApiError::forbidden(format!(
            "{} is rated by a clinician",
            instrument.short_name
        )));
    }
    let now = Timestamp::now();
    let completed_at = match request
        .completed_at
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => now,
        Some(text) => ClinicalInstant::parse(text)
            .map_err(|e| FieldErrors::single("completed_at", e.to_string()))?
            .get(),
    };
    // Clock skew: a device a few minutes fast is not an answer from the future.
    if now
        .checked_add(SignedDuration::from_mins(5))
        .is_ok_and(|latest| completed_at > latest)
    {
        return Err(FieldErrors::single(
            "completed_at",
            "an assessment cannot be completed in the future",
        )
        .into());
    }
    let sex = Some(patient.details.sex_at_birth).filter(|s| *s != SexAtBirth::Unknown);
    let scored = instrument.score(&request.answers, sex)?;
    let metrics = diary_metrics(instrument, &request.answers, &patient, completed_at)?;
    let new = NewAssessment {
        organization_id: patient.organization_id,
        patient_id: id,
        instrument: instrument.code.clone(),
        answers: request.answers.clone(),
        total: scored.total,
        band: scored.band.map(|b| b.code),
        metrics,
        completed_at,
        entered_by: user.actor.user_id,
    };
    let findings = |assessment_id| {
        let fact = AssessmentFact {
            id: assessment_id,
            instrument: instrument.code.clone(),
            answers: request.answers.clone(),
            total: new.total,
            band: new.band.clone(),
            completed_at,
        };
        safety::evaluate_submission(instrument, &fact)
            .iter()
            .map(speciosa_app::safety::new_alert)
            .collect::<Vec<_>>()
    };
    let (assessment, mut raised) = state
        .store
        .insert_assessment(&new, findings, |assessment_id| {
            let mut entry = user.audit(
                "assessment.create",
                "assessment",
                Some(assessment_id.to_string()),
                Some(id),
                Outcome::Success,
            );
            entry.detail = Some(instrument.code.clone());
            entry
        })
        .await?;
    // State rules that read this answer among others (COWS, SOWS, AUDIT-C) run now too.
    raised.extend(speciosa_app::safety::after_write(&state.app, user, &patient).await);
    Ok((assessment, raised))
}

/// For sleep diaries: the night's metrics, or a 422 explaining why the diary is impossible.
fn diary_metrics(
    instrument: &Instrument,
    answers: &BTreeMap<String, Answer>,
    patient: &Patient,
    completed_at: Timestamp,
) -> Result<Option<serde_json::Value>, ApiError> {
    if instrument.code != "sleep_diary" {
        return Ok(None);
    }
    let zone = patient.details.time_zone.to_zone();
    let morning = completed_at.to_zoned_datetime(zone.clone()).date();
    let Some(entry) = DiaryEntry::from_answers(answers, morning) else {
        return Err(FieldErrors::single("answers", "the sleep diary needs items 1 to 7").into());
    };
    let metrics = entry
        .metrics(&zone)
        .map_err(|e| FieldErrors::single("answers", e.to_string()))?;
    Ok(serde_json::to_value(metrics).ok())
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only this instrument.
    pub instrument: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/assessments", tag = "assessments", params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, description = "The patient's assessments, oldest first, with totals and bands", body = [AssessmentView])))]
pub async fn history(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<Vec<AssessmentView>>, ApiError> {
    let assessments = read_history(&state, &user, id, query.instrument.as_deref()).await?;
    Ok(Json(
        assessments
            .iter()
            .map(|a| AssessmentView::new(&state, a, &[]))
            .collect(),
    ))
}

pub async fn read_history(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    instrument: Option<&str>,
) -> Result<Vec<Assessment>, ApiError> {
    access::patient(state, user, id, PatientAction::Read, "assessment.list").await?;
    if let Some(code) = instrument
        && state.app.knowledge().instruments.get(code).is_none()
    {
        return Err(FieldErrors::single(
            "instrument",
            format!("{code:?} is not an instrument Speciosa knows"),
        )
        .into());
    }
    let assessments = state.store.list_assessments(id, instrument).await?;
    let mut entry = user.audit(
        "assessment.list",
        "assessment",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} assessments", assessments.len()));
    state.store.append_audit(entry).await?;
    Ok(assessments)
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/alerts", tag = "assessments", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The patient's safety alerts, newest first", body = [AlertView])))]
pub async fn alerts(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let alerts = read_patient_alerts(&state, &user, id).await?;
    Ok(Json(alerts.iter().map(AlertView::from).collect()))
}

/// A patient's alerts (unresolved first, most urgent, newest), audited. Shared with the pages.
pub async fn read_patient_alerts(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
) -> Result<Vec<Alert>, ApiError> {
    access::patient(state, user, id, PatientAction::Read, "alert.list").await?;
    let alerts = state.store.list_alerts(id).await?;
    let mut entry = user.audit("alert.list", "alert", None, Some(id), Outcome::Success);
    entry.detail = Some(format!("{} alerts", alerts.len()));
    state.store.append_audit(entry).await?;
    Ok(alerts)
}
