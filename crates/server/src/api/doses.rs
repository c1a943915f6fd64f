//! `/api/v1/patients/{id}/doses` and `/exposure/daily`: dose logging in milligrams of
//! alkaloid, corrections, and patient-local daily totals.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::{Deserialize, Serialize};
use speciosa_app::doses::{
    DateRange, DoseInput, DoseLogged, DoseRefusal, ImportInput, ImportOutcome,
};
use speciosa_app::records::Dose;
use speciosa_core::FieldErrors;
use speciosa_core::amount::AmountInput;
use speciosa_core::dose::{self, DailyExposure};
use speciosa_core::ids::{BatchId, DoseId, PatientId};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};
use crate::problems;
use crate::views::BatchSafetyView;

const PROBLEM: &str = "application/problem+json";

#[derive(Deserialize, Serialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct DoseRequest {
    /// When it was taken, RFC 3339 with an offset; defaults to now. Future times are refused.
    #[schema(example = "2026-11-24T21:30:00-06:00")]
    pub taken_at: Option<String>,
    pub batch_id: Uuid,
    /// A number, or text as the patient typed it: `"1,5"` and `"1.5"` both mean 1.5. Text with
    /// digit grouping (`"1,500"`, `"1.500,5"`, `"1 500"`) is refused, since it is ambiguous.
    #[schema(schema_with = amount_schema)]
    pub amount: AmountInput,
    /// `g`, `capsule`, `tablet`, `ml`, or `tsp` (products with a teaspoon calibration).
    #[schema(example = "g")]
    pub unit: String,
    /// Any of `withdrawal_relief`, `pain`, `sleep`, `mood`, `energy`, `other`.
    #[serde(default)]
    pub contexts: Vec<String>,
    pub note: Option<String>,
    /// Required (true) for a dose taken more than 7 days ago.
    #[serde(default)]
    pub confirm_backdated: bool,
    /// The IANA zone the patient was in, when travelling; defaults to the patient's zone.
    pub time_zone: Option<String>,
    /// Required (true) for a dose whose mitragynine is more than 3 times the patient's
    /// median single dose over the last 14 days (once there are at least 3 such doses):
    /// such a dose is more often a typing error than a real dose, so without this it is
    /// refused with 422 naming `amount`, giving both numbers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_unusual_amount: bool,
}

/// `amount`: a JSON number or a numeric string with a decimal point or comma.
pub(crate) fn amount_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .examples([serde_json::json!(3.5)]),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^\s*[0-9]*[.,]?[0-9]+\s*$"))
                    .examples([serde_json::json!("1,5")]),
            )
            .description(Some(
                "Amount in `unit`: a number, or a string with one decimal point or comma",
            ))
            .build(),
    )
}

#[derive(Serialize, ToSchema)]
pub struct DoseView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub batch_id: Uuid,
    pub taken_at: String,
    /// The patient-local calendar date the dose counts towards.
    pub local_date: String,
    pub time_zone: String,
    pub amount: f64,
    pub unit: String,
    pub grams: Option<f64>,
    pub millilitres: Option<f64>,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    /// `assay` (the batch's certificate), `estimate` (natural-leaf ranges; see the low/high
    /// bounds) or `unknown` (no assay and no basis for an estimate).
    pub exposure_basis: String,
    pub mitragynine_mg_low: Option<f64>,
    pub mitragynine_mg_high: Option<f64>,
    pub hydroxymitragynine_mg_low: Option<f64>,
    pub hydroxymitragynine_mg_high: Option<f64>,
    pub contexts: Vec<String>,
    /// Taken within the clinic's window before the patient's usual bedtime.
    pub bedtime: bool,
    pub note: Option<String>,
    pub entered_by: Uuid,
    pub entered_at: String,
    pub corrects_dose_id: Option<Uuid>,
    pub superseded_at: Option<String>,
    pub deleted_at: Option<String>,
    pub change_reason: Option<String>,
}

impl From<&Dose> for DoseView {
    fn from(dose: &Dose) -> Self {
        let zone = jiff::tz::db()
            .get(&dose.time_zone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        DoseView {
            id: dose.id.as_uuid(),
            patient_id: dose.patient_id.as_uuid(),
            batch_id: dose.batch_id.as_uuid(),
            taken_at: dose.taken_at.to_string(),
            local_date: dose::local_date(dose.taken_at, &zone).to_string(),
            time_zone: dose.time_zone.clone(),
            amount: dose.amount,
            unit: dose.unit.clone(),
            grams: dose.grams,
            millilitres: dose.millilitres,
            mitragynine_mg: dose.mitragynine_mg,
            hydroxymitragynine_mg: dose.hydroxymitragynine_mg,
            exposure_basis: dose.exposure_basis.as_str().to_owned(),
            mitragynine_mg_low: dose.mitragynine_mg_low,
            mitragynine_mg_high: dose.mitragynine_mg_high,
            hydroxymitragynine_mg_low: dose.hydroxymitragynine_mg_low,
            hydroxymitragynine_mg_high: dose.hydroxymitragynine_mg_high,
            contexts: dose
                .contexts
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            bedtime: dose.bedtime,
            note: dose.note.clone(),
            entered_by: dose.entered_by.as_uuid(),
            entered_at: dose.entered_at.to_string(),
            corrects_dose_id: dose.corrects_dose_id.map(|d| d.as_uuid()),
            superseded_at: dose.superseded_at.map(|t| t.to_string()),
            deleted_at: dose.deleted_at.map(|t| t.to_string()),
            change_reason: dose.change_reason.clone(),
        }
    }
}

impl From<&DoseRequest> for DoseInput {
    fn from(request: &DoseRequest) -> Self {
        DoseInput {
            taken_at: request.taken_at.clone(),
            batch_id: BatchId::from_uuid(request.batch_id),
            amount: request.amount.clone(),
            unit: request.unit.clone(),
            contexts: request.contexts.clone(),
            note: request.note.clone(),
            confirm_backdated: request.confirm_backdated,
            time_zone: request.time_zone.clone(),
            confirm_unusual_amount: request.confirm_unusual_amount,
        }
    }
}

impl From<DoseRefusal> for ApiError {
    fn from(refusal: DoseRefusal) -> Self {
        match refusal {
            DoseRefusal::Error(error) => error.into(),
            DoseRefusal::Unusual(unusual) => FieldErrors::single(
                "amount",
                format!(
                    "{}; if the amount is right, send \"confirm_unusual_amount\": true",
                    unusual.detail()
                ),
            )
            .into(),
            DoseRefusal::KeyReused => ApiError::new(
                problems::VALIDATION,
                "this Idempotency-Key was already used for a different dose; use a new key for a new dose",
            ),
        }
    }
}

/// The `Idempotency-Key` header, when sent: 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map(str::trim).unwrap_or("");
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(FieldErrors::single(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
        .into());
    }
    Ok(Some(key.to_owned()))
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/doses", tag = "doses", params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the original dose")),
    request_body = DoseRequest,
    responses(
        (status = 201, description = "Logged, with milligrams computed by the server", body = DoseView),
        (status = 200, description = "A retry with the same Idempotency-Key: the original dose", body = DoseView),
        (status = 422, description = "Invalid fields, a future time, an unconfirmed old dose, an unconfirmed unusual amount (`errors` names `amount`), or a key reused for another request", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<DoseRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let logged =
        speciosa_app::doses::log_dose(&state.app, &user, id, &(&request).into(), key).await?;
    let status = match logged {
        DoseLogged::Created(_) => StatusCode::CREATED,
        DoseLogged::Replayed(_) => StatusCode::OK,
    };
    let dose = logged.into_dose();
    let location = format!("/api/v1/patients/{id}/doses/{}", dose.id);
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(DoseView::from(&dose)),
    )
        .into_response())
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct DateRangeQuery {
    /// First patient-local date, YYYY-MM-DD (inclusive). Default: 29 days before `to`.
    pub from: Option<String>,
    /// Last patient-local date, YYYY-MM-DD (inclusive). Default: today in the patient's zone.
    pub to: Option<String>,
    /// Also list corrected and deleted doses.
    #[serde(default)]
    pub include_history: bool,
}

impl From<&DateRangeQuery> for DateRange {
    fn from(query: &DateRangeQuery) -> Self {
        DateRange {
            from: query.from.clone(),
            to: query.to.clone(),
            include_history: query.include_history,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/doses", tag = "doses", params(("id" = Uuid, Path), DateRangeQuery),
    responses((status = 200, description = "Doses in the range, oldest first", body = [DoseView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<DateRangeQuery>,
) -> Result<Json<Vec<DoseView>>, ApiError> {
    let doses = speciosa_app::doses::read_doses(&state.app, &user, id, &(&query).into()).await?;
    Ok(Json(doses.iter().map(DoseView::from).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct DailyExposureView {
    /// Patient-local date, YYYY-MM-DD.
    pub date: String,
    pub mitragynine_mg: f64,
    pub hydroxymitragynine_mg: f64,
    pub grams: f64,
    pub millilitres: f64,
    pub dose_count: u32,
    pub bedtime_dose: bool,
    /// Some milligrams are natural-leaf estimates rather than assays.
    pub includes_estimates: bool,
    /// Some doses could not be converted to milligrams.
    pub includes_unknown: bool,
}

impl From<&DailyExposure> for DailyExposureView {
    fn from(day: &DailyExposure) -> Self {
        DailyExposureView {
            date: day.date.to_string(),
            mitragynine_mg: day.mitragynine_mg,
            hydroxymitragynine_mg: day.hydroxymitragynine_mg,
            grams: day.grams,
            millilitres: day.millilitres,
            dose_count: day.dose_count,
            bedtime_dose: day.bedtime_dose,
            includes_estimates: day.includes_estimates,
            includes_unknown: day.includes_unknown,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/exposure/daily", tag = "doses", params(("id" = Uuid, Path), DateRangeQuery),
    responses((status = 200, description = "Totals per patient-local day with at least one dose", body = [DailyExposureView])))]
pub async fn daily(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<DateRangeQuery>,
) -> Result<Json<Vec<DailyExposureView>>, ApiError> {
    let days = speciosa_app::doses::daily_exposure(&state.app, &user, id, &(&query).into()).await?;
    Ok(Json(days.iter().map(DailyExposureView::from).collect()))
}

#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct DoseCorrectionRequest {
    /// The dose as it should have been recorded.
    pub dose: DoseRequest,
    /// Why the dose is being corrected (kept in the record).
    pub reason: String,
}

#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct DoseDeletionRequest {
    /// Why the dose is being deleted (kept in the record).
    pub reason: String,
}

#[utoipa::path(put, path = "/api/v1/patients/{id}/doses/{dose_id}", tag = "doses", params(("id" = Uuid, Path), ("dose_id" = Uuid, Path)),
    request_body = DoseCorrectionRequest,
    responses(
        (status = 200, description = "The corrected dose (the original is kept, marked superseded)", body = DoseView),
        (status = 409, description = "The dose was already corrected or deleted", body = crate::api::Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields, or an unconfirmed unusual amount (`errors` names `amount`; see `confirm_unusual_amount`)", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn correct(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, dose_id)): ApiPath<(PatientId, DoseId)>,
    ApiJson(request): ApiJson<DoseCorrectionRequest>,
) -> Result<Json<DoseView>, ApiError> {
    let dose = speciosa_app::doses::correct_dose(
        &state.app,
        &user,
        id,
        dose_id,
        &(&request.dose).into(),
        &request.reason,
    )
    .await?;
    Ok(Json(DoseView::from(&dose)))
}

#[utoipa::path(delete, path = "/api/v1/patients/{id}/doses/{dose_id}", tag = "doses", params(("id" = Uuid, Path), ("dose_id" = Uuid, Path)),
    request_body = DoseDeletionRequest,
    responses((status = 200, description = "The dose, now marked deleted (kept for the record)", body = DoseView)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, dose_id)): ApiPath<(PatientId, DoseId)>,
    ApiJson(request): ApiJson<DoseDeletionRequest>,
) -> Result<Json<DoseView>, ApiError> {
    let dose =
        speciosa_app::doses::delete_dose(&state.app, &user, id, dose_id, &request.reason).await?;
    Ok(Json(DoseView::from(&dose)))
}

#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// CSV text with a header naming `date`, `time`, `product`, `amount`, `unit` (and optionally
    /// `lot`, `contexts` separated by `|`, `note`). Dates and times are the patient's local time.
    #[schema(example = "date,time,product,amount,unit\n2026-11-01,08:30,Red Bali,3.5,g")]
    pub csv: String,
    /// `false` (the default) previews: nothing is written. `true` writes the valid rows.
    #[serde(default)]
    pub commit: bool,
    /// Line numbers of rows listed in `unusual` whose amounts are right: they are imported
    /// like valid rows. Unusual rows not listed here are never written.
    #[serde(default)]
    pub confirm_unusual_lines: Vec<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportRowView {
    pub line: u64,
    pub taken_at: String,
    pub product: String,
    pub lot: String,
    pub batch_id: Uuid,
    pub amount: f64,
    pub unit: String,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    pub exposure_basis: String,
    /// The amount was unusual and its line was confirmed in `confirm_unusual_lines`.
    pub unusual_amount_confirmed: bool,
}

/// A row whose mitragynine is more than 3 times the patient's usual single dose (the
/// median of their last 14 days, once there are at least 3 doses): more often a typing
/// error than a real dose, so it is imported only when its line is confirmed.
#[derive(Serialize, ToSchema)]
pub struct ImportUnusualView {
    pub line: u64,
    pub amount: f64,
    pub unit: String,
    pub mitragynine_mg: f64,
    /// The patient's median single dose over the last 14 days.
    pub usual_mitragynine_mg: f64,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportErrorView {
    pub line: u64,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    /// The rows that will be (or were) written.
    pub rows: Vec<ImportRowView>,
    /// Every row that cannot be imported, with its line number and why.
    pub errors: Vec<ImportErrorView>,
    /// Rows with an unusual amount, not imported unless their lines are confirmed.
    pub unusual: Vec<ImportUnusualView>,
    pub committed: bool,
    /// Doses written by this request.
    pub imported: usize,
    /// Rows already imported by an earlier commit of the same file (not written again).
    pub already_present: usize,
}

impl From<ImportOutcome> for ImportResult {
    fn from(outcome: ImportOutcome) -> Self {
        ImportResult {
            rows: outcome
                .rows
                .into_iter()
                .map(|row| ImportRowView {
                    line: row.line,
                    taken_at: row.taken_at.to_string(),
                    product: row.product,
                    lot: row.lot,
                    batch_id: row.batch_id.as_uuid(),
                    amount: row.amount,
                    unit: row.unit,
                    mitragynine_mg: row.mitragynine_mg,
                    hydroxymitragynine_mg: row.hydroxymitragynine_mg,
                    exposure_basis: row.exposure_basis.as_str().to_owned(),
                    unusual_amount_confirmed: row.unusual_amount_confirmed,
                })
                .collect(),
            errors: outcome
                .errors
                .into_iter()
                .map(|e| ImportErrorView {
                    line: e.line,
                    reason: e.reason,
                })
                .collect(),
            unusual: outcome
                .unusual
                .into_iter()
                .map(|u| ImportUnusualView {
                    line: u.line,
                    amount: u.amount,
                    unit: u.unit,
                    mitragynine_mg: u.mitragynine_mg,
                    usual_mitragynine_mg: u.usual_mitragynine_mg,
                    reason: u.reason,
                })
                .collect(),
            committed: outcome.committed,
            imported: outcome.imported,
            already_present: outcome.already_present,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/doses/import", tag = "doses", params(("id" = Uuid, Path)), request_body = ImportRequest,
    responses((status = 200, description = "The preview, or the result of writing the valid rows", body = ImportResult)))]
pub async fn import(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<Json<ImportResult>, ApiError> {
    let input = ImportInput {
        csv: request.csv,
        commit: request.commit,
        confirm_unusual_lines: request.confirm_unusual_lines,
    };
    let outcome = speciosa_app::doses::import_doses(&state.app, &user, id, &input).await?;
    Ok(Json(outcome.into()))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/product-safety", tag = "doses", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Batches the patient used in the last 14 days, with flags judged at their own intake", body = [BatchSafetyView])))]
pub async fn product_safety(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<BatchSafetyView>>, ApiError> {
    let judged = speciosa_app::doses::batch_safety(&state.app, &user, id).await?;
    Ok(Json(judged.into_iter().map(Into::into).collect()))
}
