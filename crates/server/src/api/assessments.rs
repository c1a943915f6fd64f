//! `/api/v1/instruments` and `/api/v1/patients/{id}/assessments` and `/alerts`: validated
//! instruments scored exactly as published, and the safety alerts answers raise.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_app::assessments::{self, AssessmentSubmission, AssessmentSubmitted};
use speciosa_app::records::{Alert, Assessment};
use speciosa_core::ids::PatientId;
use speciosa_core::instrument::{
    Answer, Band, EntryKind, Instrument, Rater, Response as ItemResponse, ScoringMethod,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::alerts::AlertView;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};

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
    let instruments = assessments::list_instruments(&state.app, &user).await?;
    Ok(Json(instruments.iter().map(InstrumentView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/instruments/{code}", tag = "assessments", params(("code" = String, Path)),
    responses((status = 200, description = "One instrument", body = InstrumentView)))]
pub async fn get_instrument(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<InstrumentView>, ApiError> {
    let instrument = assessments::read_instrument(&state.app, &user, &code).await?;
    Ok(Json(InstrumentView::from(&instrument)))
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
    let bands = request
        .bands
        .into_iter()
        .map(|b| Band {
            code: b.code,
            label: b.label,
            min: b.min,
            max: b.max,
            sex: None,
        })
        .collect();
    let configured = assessments::set_bands(&state.app, &user, &code, bands).await?;
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

impl From<&AssessmentRequest> for AssessmentSubmission {
    fn from(request: &AssessmentRequest) -> Self {
        AssessmentSubmission {
            instrument: request.instrument.clone(),
            answers: request.answers.clone(),
            completed_at: request.completed_at.clone(),
        }
    }
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
        let band_label = assessments::band_label(&state.app, assessment);
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

#[utoipa::path(post, path = "/api/v1/patients/{id}/assessments", tag = "assessments", params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and answers return the original assessment, stored once")), request_body = AssessmentRequest,
    responses(
        (status = 201, description = "Scored; any safety rule it fired has already raised an alert", body = AssessmentView),
        (status = 200, description = "A retry with the same Idempotency-Key: the original assessment", body = AssessmentView),
        (status = 422, description = "Unknown instrument, invalid or incomplete answers naming the items, or a key reused for different answers (`errors` names `Idempotency-Key`)", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<AssessmentRequest>,
) -> Result<Response, ApiError> {
    let key = crate::api::doses::idempotency_key(&headers)?;
    let submitted =
        assessments::submit_assessment_once(&state.app, &user, id, &(&request).into(), key).await?;
    let (status, assessment, alerts, patient) = match submitted {
        AssessmentSubmitted::Created {
            assessment,
            alerts,
            patient,
        } => (StatusCode::CREATED, assessment, alerts, patient),
        AssessmentSubmitted::Replayed {
            assessment,
            patient,
        } => (StatusCode::OK, assessment, Vec::new(), patient),
    };
    let location = format!("/api/v1/patients/{id}/assessments/{}", assessment.id);
    let mut view = AssessmentView::new(&state, &assessment, &alerts);
    if needs_crisis_contacts(&alerts) {
        let (country, resources) = speciosa_app::checkin::crisis_resources(&state.app, &patient);
        view.crisis_resources = Some(serde_json::json!({
            "country": country,
            "source": resources.source,
            "resources": resources.resources,
        }));
    }
    Ok((status, [(header::LOCATION, location)], Json(view)).into_response())
}

pub use speciosa_app::assessments::needs_crisis_contacts;

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
    let assessments =
        assessments::read_history(&state.app, &user, id, query.instrument.as_deref()).await?;
    Ok(Json(
        assessments
            .iter()
            .map(|a| AssessmentView::new(&state, a, &[]))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/alerts", tag = "assessments", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The patient's safety alerts, newest first", body = [AlertView])))]
pub async fn alerts(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let alerts = assessments::read_patient_alerts(&state.app, &user, id).await?;
    Ok(Json(alerts.iter().map(AlertView::from).collect()))
}
