//! `/api/v1/patients/{id}/doses` and `/exposure/daily`: dose logging in milligrams of
//! alkaloid, corrections, and patient-local daily totals.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use speciosa_core::FieldErrors;
use speciosa_core::amount::AmountInput;
use speciosa_core::audit::Outcome;
use speciosa_core::dose::{
    self, DailyExposure, DoseEntry, DoseFields, DoseForDay, DoseProduct, Exposure, ExposureBasis,
    UNUSUAL_AMOUNT, UnusualAmount,
};
use speciosa_core::ids::{BatchId, DoseId, PatientId};
use speciosa_core::patient::TimeZoneName;
use speciosa_core::policy::PatientAction;
use speciosa_core::time::{ClinicalDate, Era, start_of_utc_day};
use speciosa_store::{Batch, Dose, DoseInsert, NewDose, Patient, Product};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access;
use crate::api::products::organization_batch;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser, Authenticated};
use crate::problems;

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
fn amount_schema() -> utoipa::openapi::schema::Schema {
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

/// Turns a request into a dose with its milligrams computed from the batch.
async fn prepare_dose(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    request: &DoseRequest,
    idempotency_key: Option<String>,
) -> Result<NewDose, ApiError> {
    let (product, batch) = organization_batch(state, user, BatchId::from_uuid(request.batch_id))
        .await
        .map_err(|_| {
            FieldErrors::single(
                "batch_id",
                "no batch with this id in your organization's catalogue",
            )
        })?;
    build_dose(
        state,
        user,
        patient,
        request,
        &product,
        &batch,
        idempotency_key,
    )
}

/// The dose for `request` against an already resolved batch.
fn build_dose(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    request: &DoseRequest,
    product: &Product,
    batch: &Batch,
    idempotency_key: Option<String>,
) -> Result<NewDose, ApiError> {
    let entry = DoseEntry::parse(
        &DoseFields {
            taken_at: request.taken_at.as_deref(),
            amount: request.amount.clone(),
            unit: &request.unit,
            contexts: &request.contexts,
            note: request.note.as_deref(),
            confirm_backdated: request.confirm_backdated,
        },
        Timestamp::now(),
    )?;
    let zone_name = match request.time_zone.as_deref() {
        Some(raw) => TimeZoneName::parse(raw).map_err(|e| FieldErrors::single("time_zone", e))?,
        None => patient.details.time_zone.clone(),
    };
    let material = DoseProduct {
        form: product.details.form,
        unit_mass_g: product.details.unit_mass_g,
        teaspoon_g: product.details.teaspoon_g,
    }
    .material(entry.amount, entry.unit)
    .map_err(|e| {
        let field = if matches!(
            e,
            dose::DoseError::NotPositive | dose::DoseError::TooLarge { .. }
        ) {
            "amount"
        } else {
            "unit"
        };
        FieldErrors::single(field, e.to_string())
    })?;
    let exposure = Exposure::of(
        &material,
        product.details.form,
        batch.assay.as_ref(),
        &state.app.knowledge().standards,
    );
    let local_time = entry.taken_at.to_zoned_datetime(zone_name.to_zone()).time();
    let bedtime = dose::is_bedtime_dose(
        local_time,
        patient.details.usual_bedtime,
        state.config.bedtime_window,
    );
    let request_hash = idempotency_key.as_ref().map(|_| {
        let canonical = serde_json::to_vec(&(patient.id, request)).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    });
    Ok(NewDose {
        organization_id: patient.organization_id,
        patient_id: patient.id,
        batch_id: batch.id,
        taken_at: entry.taken_at,
        time_zone: zone_name.as_str().to_owned(),
        amount: entry.amount,
        unit: entry.unit.as_str().to_owned(),
        grams: material.grams,
        millilitres: material.millilitres,
        mitragynine_mg: exposure.mitragynine_mg,
        hydroxymitragynine_mg: exposure.hydroxymitragynine_mg,
        exposure_basis: exposure.basis,
        mitragynine_mg_low: exposure.mitragynine_mg_low,
        mitragynine_mg_high: exposure.mitragynine_mg_high,
        hydroxymitragynine_mg_low: exposure.hydroxymitragynine_mg_low,
        hydroxymitragynine_mg_high: exposure.hydroxymitragynine_mg_high,
        contexts: entry.contexts,
        bedtime,
        note: entry.note,
        entered_by: user.actor.user_id,
        idempotency: idempotency_key.zip(request_hash),
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
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
    let (status, dose) = log_dose(&state, &user, id, &request, key)
        .await
        .map_err(ApiError::from)?;
    let location = format!("/api/v1/patients/{id}/doses/{}", dose.id);
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(DoseView::from(&dose)),
    )
        .into_response())
}

/// Why a dose was not saved: an error, or an amount far above the usual one that the
/// request did not confirm. The API answers both with problem+json; the pages ask the
/// question with its numbers.
#[derive(Debug)]
pub enum DoseRefusal {
    Error(ApiError),
    Unusual(Unusual),
}

/// An unconfirmed unusual amount, with what a question about it needs.
#[derive(Clone, Debug)]
pub struct Unusual {
    pub amount: f64,
    pub unit: String,
    pub check: UnusualAmount,
}

impl Unusual {
    fn of(new: &NewDose, check: UnusualAmount) -> Self {
        Unusual {
            amount: new.amount,
            unit: new.unit.clone(),
            check,
        }
    }

    /// `15 g is 292 mg mitragynine, more than 3 times the usual single dose of 53 mg …`.
    pub fn detail(&self) -> String {
        format!(
            "{} {} is {} mg mitragynine, more than {} times the patient's usual single dose of {} mg (the median over the last {} days)",
            self.amount,
            self.unit,
            mg_text(self.check.dose_mg),
            self.check.factor,
            mg_text(self.check.usual_mg),
            UNUSUAL_AMOUNT.window.as_hours() / 24,
        )
    }
}

/// Milligrams as read in a sentence: whole above 10 mg, one decimal below.
pub fn mg_text(mg: f64) -> String {
    if mg >= 10.0 {
        format!("{mg:.0}")
    } else {
        format!("{mg:.1}")
    }
}

impl From<ApiError> for DoseRefusal {
    fn from(error: ApiError) -> Self {
        DoseRefusal::Error(error)
    }
}

impl From<FieldErrors> for DoseRefusal {
    fn from(errors: FieldErrors) -> Self {
        DoseRefusal::Error(errors.into())
    }
}

impl From<speciosa_store::StoreError> for DoseRefusal {
    fn from(error: speciosa_store::StoreError) -> Self {
        DoseRefusal::Error(error.into())
    }
}

impl From<DoseRefusal> for ApiError {
    fn from(refusal: DoseRefusal) -> Self {
        match refusal {
            DoseRefusal::Error(error) => error,
            DoseRefusal::Unusual(unusual) => FieldErrors::single(
                "amount",
                format!(
                    "{}; if the amount is right, send \"confirm_unusual_amount\": true",
                    unusual.detail()
                ),
            )
            .into(),
        }
    }
}

/// The unusual-amount check against the patient's current doses of the last 14 days
/// (leaving out `except`, a dose being corrected).
async fn unusual_amount(
    state: &AppState,
    new: &NewDose,
    except: Option<DoseId>,
) -> Result<Option<UnusualAmount>, ApiError> {
    let recent = recent_mitragynine(state, new.patient_id, except).await?;
    Ok(UNUSUAL_AMOUNT.check(new.mitragynine_mg, &recent))
}

async fn recent_mitragynine(
    state: &AppState,
    patient: PatientId,
    except: Option<DoseId>,
) -> Result<Vec<f64>, ApiError> {
    let since = Timestamp::now() - UNUSUAL_AMOUNT.window;
    Ok(state
        .store
        .recent_single_dose_mitragynine(patient, since, except)
        .await?)
}

/// Refuses an unconfirmed unusual amount; says in the audit detail when one was confirmed.
async fn judge_amount(
    state: &AppState,
    new: &NewDose,
    except: Option<DoseId>,
    confirmed: bool,
) -> Result<Option<&'static str>, DoseRefusal> {
    match unusual_amount(state, new, except).await? {
        Some(check) if !confirmed => Err(DoseRefusal::Unusual(Unusual::of(new, check))),
        Some(_) => Ok(Some("unusual amount confirmed")),
        None => Ok(None),
    }
}

/// Logs a dose (201), or returns the original for a retried key (200). Shared with the pages.
pub async fn log_dose(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    request: &DoseRequest,
    key: Option<String>,
) -> Result<(StatusCode, Dose), DoseRefusal> {
    let patient =
        access::patient_record(state, user, id, PatientAction::RecordDose, "dose.create").await?;
    let new = prepare_dose(state, user, &patient, request, key).await?;
    let note = judge_amount(state, &new, None, request.confirm_unusual_amount).await?;
    let inserted = state
        .store
        .insert_dose(&new, |dose_id| {
            let mut entry = user.audit(
                "dose.create",
                "dose",
                Some(dose_id.to_string()),
                Some(id),
                Outcome::Success,
            );
            entry.detail = note.map(str::to_owned);
            entry
        })
        .await?;
    match inserted {
        DoseInsert::Created(dose) => {
            speciosa_app::safety::after_write(&state.app, user, &patient).await;
            Ok((StatusCode::CREATED, dose))
        }
        DoseInsert::Replayed(dose) => {
            let mut entry = user.audit(
                "dose.read",
                "dose",
                Some(dose.id.to_string()),
                Some(id),
                Outcome::Success,
            );
            entry.detail = Some("idempotent retry returned the original dose".into());
            state.store.append_audit(entry).await?;
            Ok((StatusCode::OK, dose))
        }
        DoseInsert::KeyReused => Err(ApiError::new(
            problems::VALIDATION,
            "this Idempotency-Key was already used for a different dose; use a new key for a new dose",
        )
        .into()),
    }
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

/// The inclusive local date range, checked.
pub fn date_range(query: &DateRangeQuery, patient: &Patient) -> Result<(Date, Date), FieldErrors> {
    let mut errors = FieldErrors::new();
    let parse = |errors: &mut FieldErrors, field: &str, raw: &Option<String>| {
        raw.as_deref()
            .filter(|r| !r.trim().is_empty())
            .and_then(|r| errors.check(field, ClinicalDate::parse(r)))
            .map(ClinicalDate::get)
    };
    let today = Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let to = parse(&mut errors, "to", &query.to);
    let from = parse(&mut errors, "from", &query.from);
    if !errors.is_empty() {
        return Err(errors);
    }
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| {
        Era::Clinical.clamp(to.checked_sub(jiff::Span::new().days(29)).unwrap_or(to))
    });
    if from > to {
        return Err(FieldErrors::single("from", "from must not be after to"));
    }
    if from.until(to).map_or(i32::MAX, |s| s.get_days()) > 731 {
        return Err(FieldErrors::single(
            "from",
            "ask for at most two years at a time",
        ));
    }
    Ok((from, to))
}

/// Current doses whose patient-local date is within `from..=to`. Each dose keeps the
/// zone it was taken in, so the search window is padded by a day on each side.
async fn doses_between(
    state: &AppState,
    patient: &Patient,
    from: Date,
    to: Date,
    include_history: bool,
) -> Result<Vec<Dose>, ApiError> {
    // Checked: the dates were bounded, but arithmetic near the calendar's ends panics.
    let start = start_of_utc_day(from)
        .and_then(|t| t.checked_sub(SignedDuration::from_hours(26)).ok())
        .ok_or_else(|| FieldErrors::single("from", "date out of range"))?;
    let end = start_of_utc_day(to)
        .and_then(|t| t.checked_add(SignedDuration::from_hours(24 + 26)).ok())
        .ok_or_else(|| FieldErrors::single("to", "date out of range"))?;
    let doses = state
        .store
        .list_doses(patient.id, start, end, include_history)
        .await?;
    Ok(doses
        .into_iter()
        .filter(|d| {
            let zone = jiff::tz::db()
                .get(&d.time_zone)
                .unwrap_or(jiff::tz::TimeZone::UTC);
            let date = dose::local_date(d.taken_at, &zone);
            from <= date && date <= to
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/doses", tag = "doses", params(("id" = Uuid, Path), DateRangeQuery),
    responses((status = 200, description = "Doses in the range, oldest first", body = [DoseView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<DateRangeQuery>,
) -> Result<Json<Vec<DoseView>>, ApiError> {
    let doses = read_doses(&state, &user, id, &query).await?;
    Ok(Json(doses.iter().map(DoseView::from).collect()))
}

pub async fn read_doses(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    query: &DateRangeQuery,
) -> Result<Vec<Dose>, ApiError> {
    let patient = access::patient_record(state, user, id, PatientAction::Read, "dose.list").await?;
    let (from, to) = date_range(query, &patient)?;
    let doses = doses_between(state, &patient, from, to, query.include_history).await?;
    let mut entry = user.audit("dose.list", "dose", None, Some(id), Outcome::Success);
    entry.detail = Some(format!("{from}..{to}: {} doses", doses.len()));
    state.store.append_audit(entry).await?;
    Ok(doses)
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
    let days = daily_exposure(&state, &user, id, &query).await?;
    Ok(Json(days.iter().map(DailyExposureView::from).collect()))
}

pub async fn daily_exposure(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    query: &DateRangeQuery,
) -> Result<Vec<DailyExposure>, ApiError> {
    let patient =
        access::patient_record(state, user, id, PatientAction::Read, "exposure.read").await?;
    let (from, to) = date_range(query, &patient)?;
    let doses = doses_between(state, &patient, from, to, false).await?;
    let for_days: Vec<DoseForDay> = doses
        .iter()
        .map(|d| DoseForDay {
            taken_at: d.taken_at,
            time_zone: jiff::tz::db()
                .get(&d.time_zone)
                .unwrap_or(jiff::tz::TimeZone::UTC),
            grams: d.grams,
            millilitres: d.millilitres,
            mitragynine_mg: d.mitragynine_mg,
            hydroxymitragynine_mg: d.hydroxymitragynine_mg,
            estimated: d.exposure_basis == ExposureBasis::Estimate,
            bedtime: d.bedtime,
        })
        .collect();
    let mut entry = user.audit(
        "exposure.read",
        "exposure",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{from}..{to}"));
    state.store.append_audit(entry).await?;
    Ok(dose::daily_exposure(&for_days, from, to))
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

fn reason(raw: &str) -> Result<String, FieldErrors> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        Err(FieldErrors::single(
            "reason",
            "a reason (at most 500 characters) is required",
        ))
    } else {
        Ok(reason.to_owned())
    }
}

/// The patient's current dose `dose_id`, or 404.
async fn current_dose(
    state: &AppState,
    patient: PatientId,
    dose_id: DoseId,
) -> Result<Dose, ApiError> {
    state
        .store
        .get_dose(dose_id)
        .await?
        .filter(|d| d.patient_id == patient)
        .ok_or_else(|| ApiError::not_found("dose"))
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
    let dose = correct_dose(&state, &user, id, dose_id, &request)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(DoseView::from(&dose)))
}

pub async fn correct_dose(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    dose_id: DoseId,
    request: &DoseCorrectionRequest,
) -> Result<Dose, DoseRefusal> {
    let patient =
        access::patient_record(state, user, id, PatientAction::RecordDose, "dose.correct").await?;
    current_dose(state, id, dose_id).await?;
    let reason = reason(&request.reason)?;
    let corrected = prepare_dose(state, user, &patient, &request.dose, None).await?;
    // The dose being replaced is not part of the usual amount it is judged against.
    let note = judge_amount(
        state,
        &corrected,
        Some(dose_id),
        request.dose.confirm_unusual_amount,
    )
    .await?;
    let mut entry = user.audit(
        "dose.correct",
        "dose",
        Some(dose_id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(match note {
        Some(note) => format!("reason: {reason}; {note}"),
        None => format!("reason: {reason}"),
    });
    let dose = state
        .store
        .correct_dose(dose_id, &corrected, &reason, entry)
        .await?;
    speciosa_app::safety::after_write(&state.app, user, &patient).await;
    Ok(dose)
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
    let dose = delete_dose(&state, &user, id, dose_id, &request.reason).await?;
    Ok(Json(DoseView::from(&dose)))
}

pub async fn delete_dose(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    dose_id: DoseId,
    raw_reason: &str,
) -> Result<Dose, ApiError> {
    let patient =
        access::patient_record(state, user, id, PatientAction::RecordDose, "dose.delete").await?;
    current_dose(state, id, dose_id).await?;
    let reason = reason(raw_reason)?;
    let mut entry = user.audit(
        "dose.delete",
        "dose",
        Some(dose_id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("reason: {reason}"));
    let dose = state.store.delete_dose(dose_id, &reason, entry).await?;
    // Removing a dose can end a condition but never closes an alert: only a person does.
    speciosa_app::safety::after_write(&state.app, user, &patient).await;
    Ok(dose)
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

#[utoipa::path(post, path = "/api/v1/patients/{id}/doses/import", tag = "doses", params(("id" = Uuid, Path)), request_body = ImportRequest,
    responses((status = 200, description = "The preview, or the result of writing the valid rows", body = ImportResult)))]
pub async fn import(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<Json<ImportResult>, ApiError> {
    Ok(Json(
        import_doses(
            &state,
            &user,
            id,
            &request.csv,
            request.commit,
            &request.confirm_unusual_lines,
        )
        .await?,
    ))
}

/// Previews a CSV dose history or, with `commit`, writes its valid rows. Each row's
/// idempotency key comes from its content and line, so committing the same file
/// twice writes nothing new. Every row's amount is judged against the patient's usual
/// single dose of the last 14 days as logged; rows above it need their line in
/// `confirm_lines`. Shared with the pages.
pub async fn import_doses(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    csv: &str,
    commit: bool,
    confirm_lines: &[u64],
) -> Result<ImportResult, ApiError> {
    let patient =
        access::patient_record(state, user, id, PatientAction::RecordDose, "dose.import").await?;
    let parsed = speciosa_core::import::parse_csv(csv);
    let products = state.store.list_products(patient.organization_id).await?;
    let batches = state.store.list_batches(patient.organization_id).await?;
    let zone = patient.details.time_zone.to_zone();
    let mut errors: Vec<ImportErrorView> = parsed
        .errors
        .into_iter()
        .map(|e| ImportErrorView {
            line: e.line,
            reason: e.reason,
        })
        .collect();
    let mut ready: Vec<(ImportRowView, NewDose)> = Vec::new();
    let mut unusual: Vec<ImportUnusualView> = Vec::new();
    let recent = recent_mitragynine(state, id, None).await?;
    for row in parsed.rows {
        let Some(product) = products
            .iter()
            .find(|p| p.details.name.eq_ignore_ascii_case(&row.product))
        else {
            errors.push(ImportErrorView {
                line: row.line,
                reason: format!(
                    "no product named {:?} in the catalogue; add it first",
                    row.product
                ),
            });
            continue;
        };
        // Batches are listed newest first: without a lot, the newest batch is assumed.
        let batch = batches
            .iter()
            .filter(|b| b.product_id == product.id)
            .find(|b| {
                row.lot
                    .as_deref()
                    .is_none_or(|lot| b.lot.eq_ignore_ascii_case(lot))
            });
        let Some(batch) = batch else {
            errors.push(ImportErrorView {
                line: row.line,
                reason: format!(
                    "{:?} has no batch{}",
                    row.product,
                    row.lot
                        .as_deref()
                        .map(|l| format!(" with lot {l:?}"))
                        .unwrap_or_default()
                ),
            });
            continue;
        };
        let taken_at = match row.taken_local.to_zoned_datetime(zone.clone()) {
            Ok(zoned) => zoned.timestamp(),
            Err(_) => {
                errors.push(ImportErrorView {
                    line: row.line,
                    reason: "the date and time cannot be placed in the patient's time zone".into(),
                });
                continue;
            }
        };
        let request = DoseRequest {
            taken_at: Some(taken_at.to_string()),
            batch_id: batch.id.as_uuid(),
            amount: row.amount.into(),
            unit: row.unit.clone(),
            contexts: row.contexts.clone(),
            note: row.note.clone(),
            // Confirming the previewed import is the confirmation that old dates are right.
            confirm_backdated: true,
            time_zone: None,
            // Judged below, per row.
            confirm_unusual_amount: false,
        };
        let key = format!(
            "import:{}:{}",
            row.line,
            hex::encode(Sha256::digest(
                serde_json::to_vec(&(id, &request)).unwrap_or_default()
            ))
        );
        match build_dose(state, user, &patient, &request, product, batch, Some(key)) {
            Ok(new) => {
                let check = UNUSUAL_AMOUNT.check(new.mitragynine_mg, &recent);
                let confirmed = check.is_some() && confirm_lines.contains(&row.line);
                if let (Some(check), false) = (check, confirmed) {
                    let found = Unusual::of(&new, check);
                    unusual.push(ImportUnusualView {
                        line: row.line,
                        amount: new.amount,
                        unit: new.unit.clone(),
                        mitragynine_mg: check.dose_mg,
                        usual_mitragynine_mg: check.usual_mg,
                        reason: format!(
                            "amount: {}; if it is right, confirm line {}",
                            found.detail(),
                            row.line
                        ),
                    });
                    continue;
                }
                ready.push((
                    ImportRowView {
                        line: row.line,
                        taken_at: taken_at.to_string(),
                        product: product.details.name.clone(),
                        lot: batch.lot.clone(),
                        batch_id: batch.id.as_uuid(),
                        amount: row.amount,
                        unit: new.unit.clone(),
                        mitragynine_mg: new.mitragynine_mg,
                        hydroxymitragynine_mg: new.hydroxymitragynine_mg,
                        exposure_basis: new.exposure_basis.as_str().to_owned(),
                        unusual_amount_confirmed: confirmed,
                    },
                    new,
                ))
            }
            Err(problem) => {
                let reason = if problem.errors.is_empty() {
                    problem.detail
                } else {
                    problem
                        .errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.detail))
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                errors.push(ImportErrorView {
                    line: row.line,
                    reason,
                });
            }
        }
    }
    errors.sort_by_key(|e| e.line);

    let (mut imported, mut already_present) = (0, 0);
    if commit {
        for (view, new) in &ready {
            let inserted = state
                .store
                .insert_dose(new, |dose_id| {
                    let mut entry = user.audit(
                        "dose.create",
                        "dose",
                        Some(dose_id.to_string()),
                        Some(id),
                        Outcome::Success,
                    );
                    entry.detail = Some(if view.unusual_amount_confirmed {
                        "imported from CSV; unusual amount confirmed".into()
                    } else {
                        "imported from CSV".into()
                    });
                    entry
                })
                .await?;
            match inserted {
                DoseInsert::Created(_) => imported += 1,
                DoseInsert::Replayed(_) | DoseInsert::KeyReused => already_present += 1,
            }
        }
        if imported > 0 {
            speciosa_app::safety::after_write(&state.app, user, &patient).await;
        }
    }
    let mut entry = user.audit("dose.import", "dose", None, Some(id), Outcome::Success);
    entry.detail = Some(format!(
        "{}: {} valid rows, {} errors, {} unusual unconfirmed, {imported} written",
        if commit { "commit" } else { "preview" },
        ready.len(),
        errors.len(),
        unusual.len()
    ));
    state.store.append_audit(entry).await?;
    Ok(ImportResult {
        rows: ready.into_iter().map(|(view, _)| view).collect(),
        errors,
        unusual,
        committed: commit,
        imported,
        already_present,
    })
}

#[derive(Serialize, ToSchema)]
pub struct BatchSafetyView {
    pub batch_id: Uuid,
    pub product_id: Uuid,
    pub product_name: String,
    pub lot: String,
    /// The most the patient took of this batch on any one day in the window, g.
    pub max_grams_per_day: f64,
    pub days_used: usize,
    /// The batch's own flags plus heavy-metal limits judged at this patient's intake.
    pub flags: Vec<crate::api::products::QualityFlagView>,
}

/// Days of use the product-safety view looks back over.
const SAFETY_WINDOW_DAYS: i64 = 14;

#[utoipa::path(get, path = "/api/v1/patients/{id}/product-safety", tag = "doses", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Batches the patient used in the last 14 days, with flags judged at their own intake", body = [BatchSafetyView])))]
pub async fn product_safety(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<BatchSafetyView>>, ApiError> {
    Ok(Json(batch_safety(&state, &user, id).await?))
}

/// For each batch used recently: heavy metals are judged against USP <2232> daily
/// limits at the patient's own heaviest day, since a batch that passes at 3 g/day can
/// fail at 30 g/day. Shared with the pages.
pub async fn batch_safety(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
) -> Result<Vec<BatchSafetyView>, ApiError> {
    let patient =
        access::patient_record(state, user, id, PatientAction::Read, "product_safety.read").await?;
    let to = Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let from = to
        .checked_sub(jiff::Span::new().days(SAFETY_WINDOW_DAYS - 1))
        .unwrap_or(to);
    let doses = doses_between(state, &patient, from, to, false).await?;
    let mut per_batch: std::collections::BTreeMap<BatchId, std::collections::BTreeMap<Date, f64>> =
        Default::default();
    for d in &doses {
        let zone = jiff::tz::db()
            .get(&d.time_zone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        *per_batch
            .entry(d.batch_id)
            .or_default()
            .entry(dose::local_date(d.taken_at, &zone))
            .or_default() += d.grams.unwrap_or(0.0);
    }
    let mut views = Vec::new();
    for (batch_id, days) in per_batch {
        let (product, batch) = organization_batch(state, user, batch_id).await?;
        let max_grams_per_day = days.values().copied().fold(0.0, f64::max);
        let mut flags = crate::api::products::batch_flags(state, &product, &batch);
        if let Some(assay) = &batch.assay {
            flags.extend(
                state
                    .app
                    .knowledge()
                    .standards
                    .heavy_metal_flags(assay, max_grams_per_day),
            );
        }
        flags.sort_by_key(|f| std::cmp::Reverse(f.severity));
        views.push(BatchSafetyView {
            batch_id: batch.id.as_uuid(),
            product_id: product.id.as_uuid(),
            product_name: product.details.name.clone(),
            lot: batch.lot.clone(),
            max_grams_per_day,
            days_used: days.len(),
            flags: flags.into_iter().map(Into::into).collect(),
        });
    }
    let mut entry = user.audit(
        "product_safety.read",
        "dose",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} batches", views.len()));
    state.store.append_audit(entry).await?;
    Ok(views)
}
