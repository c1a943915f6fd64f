//! Clinical monitoring: `/api/v1/patients/{id}/lab-results`, `/ecgs`, `/naloxone`,
//! `/overdoses` and `/opioid-use`. Every write runs the safety rules before it answers,
//! and the answer lists the alerts it raised or folded into.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_app::monitoring::{self, Recorded};
use speciosa_app::records::{Alert, Ecg, LabResult, NaloxoneRecord, OpioidUse, Overdose};
use speciosa_core::ids::PatientId;
use speciosa_core::monitoring::{
    EcgFields, LabFact, LabResultFields, NaloxoneFields, OpioidUseFields, OverdoseFields,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser};

/// An alert the write raised or folded into (read it at `/api/v1/alerts/{id}`).
#[derive(Serialize, ToSchema)]
pub struct AlertRef {
    pub id: Uuid,
    pub rule: String,
    /// `urgent`, `warning` or `info`.
    pub severity: String,
}

fn alert_refs(alerts: &[Alert]) -> Vec<AlertRef> {
    alerts
        .iter()
        .map(|a| AlertRef {
            id: a.id.as_uuid(),
            rule: a.rule.clone(),
            severity: a.severity.clone(),
        })
        .collect()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabResultRequest {
    /// LOINC: 1742-6 ALT, 1920-8 AST, 6768-6 alkaline phosphatase, 1975-2 total bilirubin,
    /// 6301-6 INR.
    #[schema(example = "1742-6")]
    pub loinc: String,
    #[schema(example = 212.0)]
    pub value: Option<f64>,
    /// U/L, IU/L or µkat/L (enzymes); mg/dL or µmol/L (bilirubin); INR.
    #[schema(example = "U/L")]
    pub unit: String,
    /// The laboratory's upper limit of normal, in the result's unit. Without it a typical
    /// adult limit is used (ALT/AST 40 U/L, ALP 120 U/L, bilirubin 1.2 mg/dL, INR 1.1).
    #[schema(example = 40.0)]
    pub reference_high: Option<f64>,
    pub reference_low: Option<f64>,
    /// RFC 3339 with an offset: when the sample was taken.
    #[schema(example = "2026-12-01T08:30:00-06:00")]
    pub observed_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct LabResultView {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// `alt`, `ast`, `alp`, `bilirubin` or `inr`.
    pub test: String,
    pub name: String,
    pub loinc: String,
    pub value: f64,
    pub unit: String,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    /// The result as a multiple of its upper limit of normal.
    pub times_upper_limit: f64,
    /// `laboratory` (the result's own range) or `typical` (none was entered).
    pub upper_limit_source: String,
    pub observed_at: String,
    pub recorded_at: String,
    /// Alerts this write raised or folded into (only on the response to a write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<AlertRef>>,
}

impl LabResultView {
    fn new(r: &LabResult, alerts: Option<&[Alert]>) -> Self {
        let fact = LabFact {
            id: r.id,
            test: r.test,
            value: r.value,
            unit: r.unit.clone(),
            reference_high: r.reference_high,
            observed_at: r.observed_at,
        };
        LabResultView {
            id: r.id.as_uuid(),
            patient_id: r.patient_id.as_uuid(),
            test: r.test.code().into(),
            name: r.test.name().into(),
            loinc: r.loinc.clone(),
            value: r.value,
            unit: r.unit.clone(),
            reference_low: r.reference_low,
            reference_high: r.reference_high,
            times_upper_limit: (fact.times_upper_limit() * 100.0).round() / 100.0,
            upper_limit_source: if fact.uses_typical_limit() {
                "typical"
            } else {
                "laboratory"
            }
            .into(),
            observed_at: r.observed_at.to_string(),
            recorded_at: r.recorded_at.to_string(),
            alerts: alerts.map(alert_refs),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/lab-results", tag = "monitoring",
    params(("id" = Uuid, Path)), request_body = LabResultRequest,
    responses(
        (status = 201, description = "Recorded; the liver rules have run", body = LabResultView),
        (status = 403, description = "Only the care team's clinicians record results", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_lab_result(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<LabResultRequest>,
) -> Result<Response, ApiError> {
    let fields = LabResultFields {
        loinc: &request.loinc,
        value: request.value,
        unit: &request.unit,
        reference_low: request.reference_low,
        reference_high: request.reference_high,
        observed_at: &request.observed_at,
    };
    let Recorded { record, alerts, .. } =
        monitoring::record_lab_result(&state.app, &user, id, &fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(LabResultView::new(&record, Some(&alerts))),
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct MonitoringView {
    /// The latest 20 lab results, newest first.
    pub lab_results: Vec<LabResultView>,
    /// The latest 20 ECGs, newest first.
    pub ecgs: Vec<EcgView>,
    /// `null` when never recorded.
    pub naloxone: Option<NaloxoneView>,
    /// The latest 20 overdoses, newest first.
    pub overdoses: Vec<OverdoseView>,
    /// The latest 20 records of non-prescribed opioid use, newest first.
    pub opioid_use: Vec<OpioidUseView>,
    /// `yes`, `no` or `unknown`.
    pub breastfeeding: String,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/monitoring", tag = "monitoring",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "Labs, ECGs, naloxone, overdoses and opioid use", body = MonitoringView)))]
pub async fn overview(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<MonitoringView>, ApiError> {
    let (_, o) = monitoring::overview(&state.app, &user, id).await?;
    Ok(Json(MonitoringView {
        lab_results: o.labs.iter().map(|r| LabResultView::new(r, None)).collect(),
        ecgs: o.ecgs.iter().map(|e| EcgView::new(e, None)).collect(),
        naloxone: o.naloxone.as_ref().map(|n| NaloxoneView::new(n, None)),
        overdoses: o
            .overdoses
            .iter()
            .map(|r| OverdoseView::new(r, None))
            .collect(),
        opioid_use: o
            .opioid_use
            .iter()
            .map(|u| OpioidUseView::new(u, None))
            .collect(),
        breastfeeding: o.breastfeeding.as_str().into(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EcgRequest {
    /// Corrected QT interval, whole milliseconds (250–800).
    #[schema(example = 452)]
    pub qtc_ms: Option<f64>,
    /// RFC 3339 with an offset.
    #[schema(example = "2026-12-01T09:10:00-06:00")]
    pub recorded_at: String,
    pub heart_rate_bpm: Option<f64>,
    /// `bazett`, `fridericia`, `framingham`, `hodges` or `machine`.
    pub formula: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EcgView {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// LOINC 8636-3 (QTc interval).
    pub loinc: String,
    pub qtc_ms: u32,
    pub heart_rate_bpm: Option<u32>,
    pub formula: Option<String>,
    pub recorded_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<AlertRef>>,
}

impl EcgView {
    fn new(e: &Ecg, alerts: Option<&[Alert]>) -> Self {
        EcgView {
            id: e.id.as_uuid(),
            patient_id: e.patient_id.as_uuid(),
            loinc: speciosa_core::monitoring::QTC_LOINC.into(),
            qtc_ms: e.qtc_ms,
            heart_rate_bpm: e.heart_rate_bpm,
            formula: e.formula.map(|f| f.as_str().into()),
            recorded_at: e.recorded_at.to_string(),
            alerts: alerts.map(alert_refs),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/ecgs", tag = "monitoring",
    params(("id" = Uuid, Path)), request_body = EcgRequest,
    responses(
        (status = 201, description = "Recorded; the QT rule has run", body = EcgView),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_ecg(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<EcgRequest>,
) -> Result<Response, ApiError> {
    let fields = EcgFields {
        qtc_ms: request.qtc_ms,
        recorded_at: &request.recorded_at,
        heart_rate_bpm: request.heart_rate_bpm,
        formula: request.formula.as_deref(),
    };
    let Recorded { record, alerts, .. } =
        monitoring::record_ecg(&state.app, &user, id, &fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(EcgView::new(&record, Some(&alerts))),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NaloxoneRequest {
    pub on_hand: Option<bool>,
    /// `nasal_spray`, `injection` or `auto_injector`.
    pub form: Option<String>,
    /// YYYY-MM-DD.
    pub obtained_on: Option<String>,
    /// YYYY-MM-DD, as printed on the kit.
    #[schema(example = "2028-03-31")]
    pub expires_on: Option<String>,
    /// Where it is kept, up to 200 characters.
    pub location: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct NaloxoneView {
    pub on_hand: bool,
    pub form: Option<String>,
    pub obtained_on: Option<String>,
    pub expires_on: Option<String>,
    pub location: Option<String>,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<AlertRef>>,
}

impl NaloxoneView {
    fn new(n: &NaloxoneRecord, alerts: Option<&[Alert]>) -> Self {
        NaloxoneView {
            on_hand: n.status.on_hand,
            form: n.status.form.map(|f| f.as_str().into()),
            obtained_on: n.status.obtained_on.map(|d| d.to_string()),
            expires_on: n.status.expires_on.map(|d| d.to_string()),
            location: n.status.location.clone(),
            updated_at: n.updated_at.to_string(),
            alerts: alerts.map(alert_refs),
        }
    }
}

#[utoipa::path(put, path = "/api/v1/patients/{id}/naloxone", tag = "monitoring",
    params(("id" = Uuid, Path)), request_body = NaloxoneRequest,
    responses(
        (status = 200, description = "Recorded; the naloxone prompt has run", body = NaloxoneView),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_naloxone(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<NaloxoneRequest>,
) -> Result<Json<NaloxoneView>, ApiError> {
    let fields = NaloxoneFields {
        on_hand: request.on_hand,
        form: request.form.as_deref(),
        obtained_on: request.obtained_on.as_deref(),
        expires_on: request.expires_on.as_deref(),
        location: request.location.as_deref(),
    };
    let Recorded { record, alerts, .. } =
        monitoring::set_naloxone(&state.app, &user, id, &fields).await?;
    Ok(Json(NaloxoneView::new(&record, Some(&alerts))))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/naloxone", tag = "monitoring",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The current answer", body = NaloxoneView),
        (status = 404, description = "Never recorded (or no such patient)", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_naloxone(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<NaloxoneView>, ApiError> {
    let record = monitoring::naloxone(&state.app, &user, id)
        .await?
        .ok_or(speciosa_app::AppError::NotFound("naloxone record"))?;
    Ok(Json(NaloxoneView::new(&record, None)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverdoseRequest {
    /// RFC 3339 with an offset.
    #[schema(example = "2026-11-30T23:10:00-06:00")]
    pub occurred_at: String,
    /// What was taken, as known; `["unknown"]` or `[]` when nobody knows.
    #[schema(example = json!(["fentanyl", "kratom"]))]
    pub substances: Option<Vec<String>>,
    pub naloxone_used: Option<bool>,
    /// Whether emergency services or an emergency department were involved.
    pub emergency_care: Option<bool>,
    pub notes: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OverdoseView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub occurred_at: String,
    pub substances: Vec<String>,
    pub naloxone_used: bool,
    pub emergency_care: Option<bool>,
    pub notes: Option<String>,
    pub reported_by_patient: bool,
    pub recorded_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<AlertRef>>,
}

impl OverdoseView {
    fn new(o: &Overdose, alerts: Option<&[Alert]>) -> Self {
        OverdoseView {
            id: o.id.as_uuid(),
            patient_id: o.patient_id.as_uuid(),
            occurred_at: o.occurred_at.to_string(),
            substances: o.substances.clone(),
            naloxone_used: o.naloxone_used,
            emergency_care: o.emergency_care,
            notes: o.notes.clone(),
            reported_by_patient: o.reported_by_patient,
            recorded_at: o.recorded_at.to_string(),
            alerts: alerts.map(alert_refs),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/overdoses", tag = "monitoring",
    params(("id" = Uuid, Path)), request_body = OverdoseRequest,
    responses(
        (status = 201, description = "Recorded; an urgent overdose_event alert pages the care team", body = OverdoseView),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_overdose(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<OverdoseRequest>,
) -> Result<Response, ApiError> {
    let fields = OverdoseFields {
        occurred_at: &request.occurred_at,
        substances: request.substances.as_deref(),
        naloxone_used: request.naloxone_used,
        emergency_care: request.emergency_care,
        notes: request.notes.as_deref(),
    };
    let Recorded { record, alerts, .. } =
        monitoring::record_overdose(&state.app, &user, id, &fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(OverdoseView::new(&record, Some(&alerts))),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpioidUseRequest {
    /// YYYY-MM-DD, the patient's local date.
    pub used_on: String,
    #[schema(example = "fentanyl")]
    pub substance: String,
    /// `patient_report`, `clinician_observed` or `drug_test`.
    pub source: String,
    pub notes: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OpioidUseView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub used_on: String,
    pub substance: String,
    pub source: String,
    pub notes: Option<String>,
    pub recorded_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<AlertRef>>,
}

impl OpioidUseView {
    fn new(u: &OpioidUse, alerts: Option<&[Alert]>) -> Self {
        OpioidUseView {
            id: u.id.as_uuid(),
            patient_id: u.patient_id.as_uuid(),
            used_on: u.used_on.to_string(),
            substance: u.substance.clone(),
            source: u.source.as_str().into(),
            notes: u.notes.clone(),
            recorded_at: u.recorded_at.to_string(),
            alerts: alerts.map(alert_refs),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/opioid-use", tag = "monitoring",
    params(("id" = Uuid, Path)), request_body = OpioidUseRequest,
    responses(
        (status = 201, description = "Recorded (care team clinicians); counts as opioid exposure for the naloxone prompt", body = OpioidUseView),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_opioid_use(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<OpioidUseRequest>,
) -> Result<Response, ApiError> {
    let fields = OpioidUseFields {
        used_on: &request.used_on,
        substance: &request.substance,
        source: &request.source,
        notes: request.notes.as_deref(),
    };
    let Recorded { record, alerts, .. } =
        monitoring::record_opioid_use(&state.app, &user, id, &fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(OpioidUseView::new(&record, Some(&alerts))),
    )
        .into_response())
}
