//! `/api/v1/patients/{id}/plans` and `/api/v1/plans/{id}`: a patient's individual plan.
//! A clinician on the care team previews a schedule with the PK model, saves drafts and
//! signs a version (password, TOTP when on, and a statement of meaning); a signed version
//! never changes (PATCH answers 409) and a new version supersedes it. Patients read signed
//! versions only. Sources: `plans-and-therapy.md` §1, §1.7, §2, §6.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use speciosa_app::plans::{self, PlanPatch, PlanRequest, Preview, ScheduleRequest, Signing};
use speciosa_app::records::PlanRecord;
use speciosa_core::FieldErrors;
use speciosa_core::amount::AmountInput;
use speciosa_core::ids::{BatchId, PatientId, PlanId};
use speciosa_core::plan::{GeneratorInput, HoldSettings, PlanFieldsInput, SlotInput};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::doses::amount_schema;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};

/// How the steps are generated (`plans-and-therapy.md` §1). Steps are unrounded mg of
/// mitragynine, `interval_days` apart.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratorRequest {
    /// `constant`, `percent_of_original`, `percent_of_current`, `fixed_amount`,
    /// `cdc_short_term` or `occupancy`.
    #[schema(example = "percent_of_original")]
    pub kind: String,
    /// The first step's daily mitragynine, mg.
    #[schema(schema_with = amount_schema)]
    pub start_mg: Option<AmountInput>,
    /// The cut per step, percent (percent_of_original, percent_of_current, occupancy).
    #[schema(schema_with = amount_schema)]
    pub percent: Option<AmountInput>,
    /// The cut per step, mg (fixed_amount).
    #[schema(schema_with = amount_schema)]
    pub amount_mg: Option<AmountInput>,
    /// Days between steps (default 7).
    pub interval_days: Option<i64>,
    /// Below this the next step is `end_mg` and the schedule ends (required for the shapes
    /// that never reach zero by themselves).
    #[schema(schema_with = amount_schema)]
    pub min_mg: Option<AmountInput>,
    /// Where the schedule ends (default 0).
    #[schema(schema_with = amount_schema)]
    pub end_mg: Option<AmountInput>,
    /// The first step's date, YYYY-MM-DD; may lie in the past (a plan already agreed).
    #[schema(example = "2026-12-07")]
    pub start_date: String,
}

/// One dose time of the plan's day.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotRequest {
    /// Local time, HH:MM.
    #[schema(example = "21:30")]
    #[serde(alias = "at", alias = "local_time")]
    pub time: String,
    /// Share of the day's target (all slots' shares add up to 1); omit on every slot to
    /// split the day evenly.
    #[schema(schema_with = amount_schema)]
    #[serde(alias = "fraction")]
    pub share: Option<AmountInput>,
    /// The bedtime dose (at most one slot).
    #[serde(default, alias = "is_bedtime")]
    pub bedtime: bool,
}

/// Hold and step-back thresholds after a step down. No published source gives these
/// numbers (`plans-and-therapy.md` §1.7): the defaults are a design proposal.
#[derive(Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldsBody {
    /// Days watched after a step down (default 14).
    pub within_days: u32,
    /// SOWS points above the last one before the step (default 10).
    pub sows_rise: f64,
    /// A COWS at or above this (default 13, "moderate").
    pub cows_at_least: f64,
    /// Craving points above the week before the step (default 3).
    pub craving_rise: f64,
    /// Sleep-efficiency points below the week before the step (default 10).
    pub sleep_efficiency_drop: f64,
}

impl From<HoldsBody> for HoldSettings {
    fn from(body: HoldsBody) -> Self {
        HoldSettings {
            within_days: body.within_days,
            sows_rise: body.sows_rise,
            cows_at_least: body.cows_at_least,
            craving_rise: body.craving_rise,
            sleep_efficiency_drop: body.sleep_efficiency_drop,
        }
    }
}

impl From<HoldSettings> for HoldsBody {
    fn from(holds: HoldSettings) -> Self {
        HoldsBody {
            within_days: holds.within_days,
            sows_rise: holds.sows_rise,
            cows_at_least: holds.cows_at_least,
            craving_rise: holds.craving_rise,
            sleep_efficiency_drop: holds.sleep_efficiency_drop,
        }
    }
}

/// A hold or a step back drawn into a version (`plans-and-therapy.md` §1.7).
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentBody {
    /// `hold` (stay on the step in force on `on` for `days` more days) or `step_back`
    /// (from `on`, the previous step's target for `days` days, then the step restarts).
    #[schema(example = "hold")]
    pub kind: String,
    /// YYYY-MM-DD.
    pub on: String,
    /// 1 to 90.
    pub days: Option<i64>,
    /// Why, for the record (e.g. the alert that proposed it).
    #[serde(default)]
    pub reason: String,
}

fn adjustments(
    errors: &mut FieldErrors,
    bodies: &[AdjustmentBody],
) -> Vec<speciosa_core::plan::Adjustment> {
    bodies
        .iter()
        .enumerate()
        .filter_map(|(index, a)| {
            match speciosa_core::plan::Adjustment::parse(index, &a.kind, &a.on, a.days, &a.reason) {
                Ok(adjustment) => Some(adjustment),
                Err(more) => {
                    errors.errors.extend(more.errors);
                    None
                }
            }
        })
        .collect()
}

/// A schedule to preview, or a whole version to save as a draft (the preview ignores the
/// version's other fields).
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    pub generator: GeneratorRequest,
    /// The batch whose units the targets read in (needs a mitragynine assay).
    pub batch_id: Option<Uuid>,
    /// The rounding unit in the batch's units (mg without a batch), e.g. 0.25 g or 1 capsule.
    #[schema(schema_with = amount_schema)]
    pub round_to: Option<AmountInput>,
    /// Dose times of the day (default: one at 08:00).
    pub slots: Option<Vec<SlotRequest>>,
    /// Holds and step-backs applied to the generated steps, in order.
    pub adjustments: Option<Vec<AdjustmentBody>>,
    /// `maintenance`, `taper` or `transition` (for saving).
    pub kind: Option<String>,
    /// For a transition: `buprenorphine`, `methadone` or `naltrexone`.
    pub transition_to: Option<String>,
    #[schema(schema_with = amount_schema)]
    pub per_dose_max_mg: Option<AmountInput>,
    #[schema(schema_with = amount_schema)]
    pub per_day_max_mg: Option<AmountInput>,
    pub rationale: Option<String>,
    pub holds: Option<HoldsBody>,
}

fn number(errors: &mut FieldErrors, field: &str, value: &Option<AmountInput>) -> Option<f64> {
    value.as_ref().and_then(|v| errors.check(field, v.value()))
}

fn generator_input(errors: &mut FieldErrors, g: &GeneratorRequest) -> GeneratorInput {
    GeneratorInput {
        kind: g.kind.clone(),
        start_mg: number(errors, "generator.start_mg", &g.start_mg),
        percent: number(errors, "generator.percent", &g.percent),
        amount_mg: number(errors, "generator.amount_mg", &g.amount_mg),
        interval_days: g.interval_days,
        min_mg: number(errors, "generator.min_mg", &g.min_mg),
        end_mg: number(errors, "generator.end_mg", &g.end_mg),
        start_date: g.start_date.clone(),
    }
}

fn slot_inputs(errors: &mut FieldErrors, slots: &[SlotRequest]) -> Vec<SlotInput> {
    slots
        .iter()
        .enumerate()
        .map(|(index, slot)| SlotInput {
            time: slot.time.clone(),
            share: number(errors, &format!("slots[{index}].share"), &slot.share),
            bedtime: slot.bedtime,
        })
        .collect()
}

impl PlanBody {
    fn schedule(&self, errors: &mut FieldErrors) -> ScheduleRequest {
        ScheduleRequest {
            generator: generator_input(errors, &self.generator),
            batch_id: self.batch_id.map(BatchId::from_uuid),
            round_to: number(errors, "round_to", &self.round_to),
            slots: self.slots.as_deref().map(|s| slot_inputs(errors, s)),
            adjustments: adjustments(errors, self.adjustments.as_deref().unwrap_or_default()),
        }
    }

    fn request(&self) -> Result<PlanRequest, FieldErrors> {
        let mut errors = FieldErrors::new();
        let schedule = self.schedule(&mut errors);
        let fields = PlanFieldsInput {
            kind: self.kind.clone().unwrap_or_default(),
            transition_to: self.transition_to.clone(),
            per_dose_max_mg: number(&mut errors, "per_dose_max_mg", &self.per_dose_max_mg),
            per_day_max_mg: number(&mut errors, "per_day_max_mg", &self.per_day_max_mg),
            rationale: self.rationale.clone().unwrap_or_default(),
            holds: self.holds.map(HoldSettings::from),
        };
        errors.into_result(|| PlanRequest { schedule, fields })
    }
}

/// Present-but-null and absent differ in a PATCH: null removes the value.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A change to a draft: only the fields given change (`null` removes `batch_id`,
/// `round_to` or `transition_to`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPatchBody {
    pub generator: Option<GeneratorRequest>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub batch_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub round_to: Option<Option<AmountInput>>,
    pub slots: Option<Vec<SlotRequest>>,
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub transition_to: Option<Option<String>>,
    #[schema(schema_with = amount_schema)]
    pub per_dose_max_mg: Option<AmountInput>,
    #[schema(schema_with = amount_schema)]
    pub per_day_max_mg: Option<AmountInput>,
    pub rationale: Option<String>,
    pub holds: Option<HoldsBody>,
    pub adjustments: Option<Vec<AdjustmentBody>>,
}

impl PlanPatchBody {
    fn patch(&self) -> Result<PlanPatch, FieldErrors> {
        let mut errors = FieldErrors::new();
        let patch = PlanPatch {
            generator: self
                .generator
                .as_ref()
                .map(|g| generator_input(&mut errors, g)),
            batch_id: self.batch_id.map(|b| b.map(BatchId::from_uuid)),
            round_to: self
                .round_to
                .as_ref()
                .map(|r| number(&mut errors, "round_to", r)),
            slots: self.slots.as_deref().map(|s| slot_inputs(&mut errors, s)),
            kind: self.kind.clone(),
            transition_to: self.transition_to.clone(),
            per_dose_max_mg: number(&mut errors, "per_dose_max_mg", &self.per_dose_max_mg),
            per_day_max_mg: number(&mut errors, "per_day_max_mg", &self.per_day_max_mg),
            rationale: self.rationale.clone(),
            holds: self.holds.map(HoldSettings::from),
            adjustments: self
                .adjustments
                .as_deref()
                .map(|a| adjustments(&mut errors, a)),
        };
        errors.into_result(|| patch)
    }
}

/// An electronic signature (21 CFR 11.50-style: who, when, and what it means).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// Your own password, re-entered.
    pub password: String,
    /// What your signature means, e.g. the standard statement the page offers.
    #[serde(default)]
    pub statement: String,
    /// Required when two-factor sign-in is on.
    pub totp_code: Option<String>,
    /// Naltrexone transitions within 7 days of opioid or kratom use: the naloxone
    /// challenge performed (what, when, result).
    pub naloxone_challenge: Option<String>,
    /// Or the reason to start anyway.
    pub override_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PredictedView {
    /// Lowest mitragynine over the step's last 24 hours, ng/mL (typical patient).
    pub trough_ng_ml: f64,
    /// Highest over the same 24 hours.
    pub peak_ng_ml: f64,
    /// At the bedtime slot (or the patient's usual bedtime) on the step's last day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedtime_ng_ml: Option<f64>,
    /// The population's 5th percentile of the bedtime concentration (of the trough without a bedtime).
    pub band_5_ng_ml: f64,
    pub band_95_ng_ml: f64,
}

#[derive(Serialize, ToSchema)]
pub struct SlotAmountView {
    pub time: String,
    /// In the plan's unit.
    pub units: f64,
    pub mg: f64,
    pub bedtime: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewStepView {
    /// YYYY-MM-DD.
    pub from: String,
    /// The last day of the step (absent for the last step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The generator's unrounded target, mg of mitragynine a day.
    pub daily_mg: f64,
    /// The target after rounding, mg (what the patient is measured against).
    pub planned_mg: f64,
    /// The rounded target in `unit`.
    pub daily_units: f64,
    /// The exact target in `unit`, before rounding.
    pub exact_units: f64,
    /// `g`, `capsule`, `tablet`, `ml`, or `mg` without a batch.
    pub unit: String,
    pub slots: Vec<SlotAmountView>,
    pub predicted: PredictedView,
    /// How much this step lowers the predicted trough from the previous step, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trough_drop_percent: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct CurvePointView {
    /// Local date-time, plan time.
    pub at: String,
    pub mitragynine_ng_ml: f64,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    pub steps: Vec<PreviewStepView>,
    /// The typical patient's mitragynine over the whole plan, every 3 hours.
    pub curve: Vec<CurvePointView>,
    /// Cautions to show with the figures (model uncertainty, unpublished rates).
    pub notes: Vec<String>,
    /// The bedtime the predictions use, HH:MM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedtime: Option<String>,
}

fn hh_mm(time: jiff::civil::Time) -> String {
    time.strftime("%H:%M").to_string()
}

impl PreviewView {
    fn new(preview: &Preview) -> Self {
        let unit = preview.schedule.unit().to_owned();
        let per_unit = preview.schedule.mg_per_unit();
        PreviewView {
            steps: preview
                .steps
                .iter()
                .map(|s| PreviewStepView {
                    from: s.step.from.to_string(),
                    until: s
                        .until
                        .and_then(|d| d.yesterday().ok())
                        .map(|d| d.to_string()),
                    daily_mg: s.step.exact_mg,
                    planned_mg: s.step.planned_mg,
                    daily_units: s.step.units,
                    exact_units: s.step.exact_units,
                    unit: unit.clone(),
                    slots: s
                        .slot_units
                        .iter()
                        .map(|(time, units, bedtime)| SlotAmountView {
                            time: hh_mm(*time),
                            units: *units,
                            mg: units * per_unit,
                            bedtime: *bedtime,
                        })
                        .collect(),
                    predicted: PredictedView {
                        trough_ng_ml: s.predicted.trough_ng_ml,
                        peak_ng_ml: s.predicted.peak_ng_ml,
                        bedtime_ng_ml: s.predicted.bedtime_ng_ml,
                        band_5_ng_ml: s.predicted.band_5_ng_ml,
                        band_95_ng_ml: s.predicted.band_95_ng_ml,
                    },
                    trough_drop_percent: s.trough_drop_percent,
                })
                .collect(),
            curve: preview
                .curve
                .iter()
                .map(|(at, ng)| CurvePointView {
                    at: at.to_string(),
                    mitragynine_ng_ml: *ng,
                })
                .collect(),
            notes: preview.notes.iter().map(|n| (*n).to_owned()).collect(),
            bedtime: preview.bedtime.map(hh_mm),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GeneratorView {
    pub kind: String,
    pub start_mg: f64,
    pub percent: Option<f64>,
    pub amount_mg: Option<f64>,
    pub interval_days: u32,
    pub min_mg: Option<f64>,
    pub end_mg: Option<f64>,
    pub start_date: String,
}

#[derive(Serialize, ToSchema)]
pub struct PlanStepView {
    pub from: String,
    /// Unrounded mg of mitragynine a day.
    pub daily_mg: f64,
    /// After rounding, mg.
    pub planned_mg: f64,
    pub daily_units: f64,
    pub exact_units: f64,
}

#[derive(Serialize, ToSchema)]
pub struct SlotView {
    pub time: String,
    pub share: f64,
    pub bedtime: bool,
}

#[derive(Serialize, ToSchema)]
pub struct AssumedBatchView {
    pub batch_id: Uuid,
    pub label: String,
    pub unit: String,
    /// Mitragynine in one unit, mg (from the batch's assay when the version was drawn).
    pub mg_per_unit: f64,
}

#[derive(Serialize, ToSchema)]
pub struct SignatureView {
    pub signed_by: Uuid,
    pub signed_at: String,
    pub statement: String,
    /// SHA-256 of the version's canonical content, hex.
    pub content_sha256: String,
}

#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub version: i64,
    /// `draft`, `signed` (the active plan), `superseded` or `discarded`.
    pub status: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition_to: Option<String>,
    pub generator: GeneratorView,
    pub steps: Vec<PlanStepView>,
    pub slots: Vec<SlotView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<AssumedBatchView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<Uuid>,
    pub unit: String,
    pub round_to: Option<f64>,
    pub per_dose_max_mg: f64,
    pub per_day_max_mg: f64,
    pub rationale: String,
    pub holds: HoldsBody,
    /// Holds and step-backs signed into this version.
    pub adjustments: Vec<AdjustmentBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_gate_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_at: Option<String>,
    pub created_by: Uuid,
    pub created_at: String,
    pub updated_at: String,
}

impl PlanView {
    pub fn new(record: &PlanRecord) -> Self {
        let content = &record.content;
        let schedule = &content.schedule;
        let g = &schedule.generator;
        PlanView {
            id: record.id.as_uuid(),
            patient_id: record.patient_id.as_uuid(),
            version: record.version,
            status: record.status.as_str().into(),
            kind: content.kind.as_str().into(),
            transition_to: content.transition_to.map(|t| t.as_str().into()),
            generator: GeneratorView {
                kind: g.kind.clone(),
                start_mg: g.start_mg,
                percent: g.percent,
                amount_mg: g.amount_mg,
                interval_days: g.interval_days,
                min_mg: g.min_mg,
                end_mg: g.end_mg,
                start_date: g.start_date.to_string(),
            },
            steps: schedule
                .planned_steps()
                .iter()
                .map(|s| PlanStepView {
                    from: s.from.to_string(),
                    daily_mg: s.exact_mg,
                    planned_mg: s.planned_mg,
                    daily_units: s.units,
                    exact_units: s.exact_units,
                })
                .collect(),
            slots: schedule
                .slots
                .iter()
                .map(|s| SlotView {
                    time: hh_mm(s.time),
                    share: s.share,
                    bedtime: s.bedtime,
                })
                .collect(),
            batch: schedule.batch.as_ref().map(|b| AssumedBatchView {
                batch_id: b.batch_id.as_uuid(),
                label: b.label.clone(),
                unit: b.unit.clone(),
                mg_per_unit: b.mg_per_unit,
            }),
            batch_id: schedule.batch.as_ref().map(|b| b.batch_id.as_uuid()),
            unit: schedule.unit().into(),
            round_to: schedule.round_to,
            per_dose_max_mg: content.per_dose_max_mg,
            per_day_max_mg: content.per_day_max_mg,
            rationale: content.rationale.clone(),
            holds: content.holds.into(),
            adjustments: schedule
                .adjustments
                .iter()
                .map(|a| AdjustmentBody {
                    kind: a.kind().into(),
                    on: a.on().to_string(),
                    days: Some(i64::from(a.days())),
                    reason: a.reason().into(),
                })
                .collect(),
            signature: record.signature.as_ref().map(|s| SignatureView {
                signed_by: s.signed_by.as_uuid(),
                signed_at: s.signed_at.to_string(),
                statement: s.statement.clone(),
                content_sha256: s.content_sha256.clone(),
            }),
            signed_at: record.signature.as_ref().map(|s| s.signed_at.to_string()),
            start_gate_note: record.start_gate_note.clone(),
            supersedes: record.supersedes.map(|id| id.as_uuid()),
            superseded_at: record.superseded_at.map(|t| t.to_string()),
            created_by: record.created_by.as_uuid(),
            created_at: record.created_at.to_string(),
            updated_at: record.updated_at.to_string(),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/plans/preview", tag = "plans", params(("id" = Uuid, Path)), request_body = PlanBody,
    responses(
        (status = 200, description = "Each step's exact and rounded target and its predicted trough, peak and bedtime concentration with the population's 5–95 % band", body = PreviewView),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn preview(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Json<PreviewView>, ApiError> {
    let mut errors = FieldErrors::new();
    let schedule = body.schedule(&mut errors);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let preview = plans::preview(&state.app, &user, id, &schedule).await?;
    Ok(Json(PreviewView::new(&preview)))
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/plans", tag = "plans", params(("id" = Uuid, Path)), request_body = PlanBody,
    responses(
        (status = 201, description = "A draft, the patient's next version", body = PlanView),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Response, ApiError> {
    let request = body.request()?;
    let record = plans::create_draft(&state.app, &user, id, &request).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/plans/{}", record.id))],
        Json(PlanView::new(&record)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/plans", tag = "plans", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Every version, newest first (patients: signed versions only)", body = [PlanView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Vec<PlanView>>, ApiError> {
    let (_, plans) = plans::plan_history(&state.app, &user, id).await?;
    Ok(Json(plans.iter().map(PlanView::new).collect()))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/plans/current", tag = "plans", params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The signed, active plan", body = PlanView),
        (status = 404, description = "No signed plan (drafts are never shown here)", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn current(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<PlanView>, ApiError> {
    let (_, record) = plans::current_plan(&state.app, &user, id).await?;
    Ok(Json(PlanView::new(&record)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdherenceQuery {
    /// First patient-local day, YYYY-MM-DD (default: 27 days before `to`).
    pub from: Option<String>,
    /// Last day, YYYY-MM-DD (default and latest: today).
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdherenceDayView {
    pub date: String,
    /// The rounded target of the signed version in force, mg of mitragynine.
    pub planned_mg: f64,
    /// Mitragynine logged that day, mg.
    pub taken_mg: f64,
    /// `on_plan` (within ±10 %), `over`, `under` or `no_log`.
    pub status: String,
    pub plan_id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct AdherenceView {
    pub from: String,
    pub to: String,
    /// Days a signed plan was in force, oldest first.
    pub days: Vec<AdherenceDayView>,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/plans/adherence", tag = "plans", params(("id" = Uuid, Path), AdherenceQuery),
    responses(
        (status = 200, description = "Planned against taken per patient-local day", body = AdherenceView),
        (status = 422, description = "An unreadable or too long range", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn adherence(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<AdherenceQuery>,
) -> Result<Json<AdherenceView>, ApiError> {
    let report = plans::adherence(
        &state.app,
        &user,
        id,
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .await?;
    Ok(Json(AdherenceView {
        from: report.from.to_string(),
        to: report.to.to_string(),
        days: report
            .days
            .iter()
            .map(|d| AdherenceDayView {
                date: d.date.to_string(),
                planned_mg: d.planned_mg,
                taken_mg: d.taken_mg,
                status: d.status.as_str().into(),
                plan_id: d.plan_id.as_uuid(),
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/plans/{id}", tag = "plans", params(("id" = Uuid, Path)),
    responses((status = 200, description = "One version (patients: signed versions only)", body = PlanView)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PlanId>,
) -> Result<Json<PlanView>, ApiError> {
    let (_, record) = plans::read_plan(&state.app, &user, id).await?;
    Ok(Json(PlanView::new(&record)))
}

#[utoipa::path(patch, path = "/api/v1/plans/{id}", tag = "plans", params(("id" = Uuid, Path)), request_body = PlanPatchBody,
    responses(
        (status = 200, description = "The changed draft", body = PlanView),
        (status = 409, description = "The version is signed (or superseded): it never changes; save a new version", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PlanId>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Json<PlanView>, ApiError> {
    // A signed version answers 409 whatever the body holds; a draft's change is then read.
    plans::require_draft(&state.app, &user, id).await?;
    let body: PlanPatchBody = crate::extract::parse_json(raw.to_string().as_bytes())?;
    let patch = body.patch()?;
    let record = plans::edit_draft(&state.app, &user, id, &patch).await?;
    Ok(Json(PlanView::new(&record)))
}

#[utoipa::path(delete, path = "/api/v1/plans/{id}", tag = "plans", params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The draft, now discarded (kept on record)", body = PlanView),
        (status = 409, description = "Only a draft can be discarded", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn discard(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PlanId>,
) -> Result<Json<PlanView>, ApiError> {
    let record = plans::discard_draft(&state.app, &user, id).await?;
    Ok(Json(PlanView::new(&record)))
}

#[utoipa::path(post, path = "/api/v1/plans/{id}/sign", tag = "plans", params(("id" = Uuid, Path)), request_body = SignBody,
    responses(
        (status = 200, description = "Signed: the patient's active plan, superseding the previous one", body = PlanView),
        (status = 403, description = "Not a clinician on the patient's care team", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft, or it changed while being signed", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong password or TOTP code, no statement, or a naltrexone start within 7 days of opioid or kratom use without a naloxone challenge or override reason", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PlanId>,
    ApiJson(body): ApiJson<SignBody>,
) -> Result<Json<PlanView>, ApiError> {
    let signing = Signing {
        password: body.password,
        totp_code: body.totp_code,
        statement: body.statement,
        naloxone_challenge: body.naloxone_challenge,
        override_reason: body.override_reason,
    };
    let record = plans::sign(&state.app, &user, id, &signing).await?;
    Ok(Json(PlanView::new(&record)))
}

#[utoipa::path(post, path = "/api/v1/plans/{id}/adjustments", tag = "plans", params(("id" = Uuid, Path)), request_body = AdjustmentBody,
    responses(
        (status = 201, description = "A new draft of the active plan with the hold or step back drawn in; nothing changes until it is signed", body = PlanView),
        (status = 409, description = "The version is not the active plan", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn adjust(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PlanId>,
    ApiJson(body): ApiJson<AdjustmentBody>,
) -> Result<Response, ApiError> {
    let adjustment =
        speciosa_core::plan::Adjustment::parse(0, &body.kind, &body.on, body.days, &body.reason)
            .map_err(|errors| {
                // One adjustment: name its fields plainly.
                let mut plain = FieldErrors::new();
                for error in errors.errors {
                    plain.push(error.field.replace("adjustments[0].", ""), error.detail);
                }
                plain
            })?;
    let record = plans::draft_adjustment(&state.app, &user, id, adjustment).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/plans/{}", record.id))],
        Json(PlanView::new(&record)),
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct ReportDayView {
    pub date: String,
    pub planned_mg: f64,
    /// Absent when nothing was logged.
    pub taken_mg: Option<f64>,
    /// `on_plan` (within ±10 %), `over`, `under` or `no_log`.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReportStepView {
    pub from: String,
    /// The step's last day; absent for the final step.
    pub to: Option<String>,
    pub planned_mg: f64,
    pub days_on_step: usize,
    /// Share of the step's days on plan, 0–1.
    pub adherence: Option<f64>,
    pub mean_sows: Option<f64>,
    /// Percent, by night.
    pub mean_sleep_efficiency: Option<f64>,
    pub mean_craving: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportSummaryView {
    /// The first day on the final step that was on plan.
    pub reached_end_on: Option<String>,
    pub holds: usize,
    pub step_backs: usize,
    /// Area under the SOWS curve per week (score × days ÷ weeks).
    pub withdrawal_burden_per_week: Option<f64>,
    /// PHQ-9s with item 9 above 0 over the plan's days.
    pub phq9_item9_events: usize,
}

#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub plan_id: Uuid,
    pub from: String,
    pub to: String,
    pub days: Vec<ReportDayView>,
    pub steps: Vec<ReportStepView>,
    pub plan: ReportSummaryView,
}

#[utoipa::path(get, path = "/api/v1/plans/{id}/report", tag = "plans", params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Planned against actual per day, per step and for the plan, over the days the version was in force (at most the last 366)", body = ReportView),
        (status = 409, description = "A draft has no days yet", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PlanId>,
) -> Result<Json<ReportView>, ApiError> {
    let report = plans::report(&state.app, &user, id).await?;
    let r = &report.report;
    Ok(Json(ReportView {
        plan_id: report.plan.id.as_uuid(),
        from: report.from.to_string(),
        to: report.to.to_string(),
        days: r
            .days
            .iter()
            .map(|d| ReportDayView {
                date: d.date.to_string(),
                planned_mg: d.planned_mg,
                taken_mg: d.taken_mg,
                status: d.status.as_str().into(),
            })
            .collect(),
        steps: r
            .steps
            .iter()
            .map(|s| ReportStepView {
                from: s.from.to_string(),
                to: s.to.map(|d| d.to_string()),
                planned_mg: s.planned_mg,
                days_on_step: s.days_on_step,
                adherence: s.adherence,
                mean_sows: s.mean_sows,
                mean_sleep_efficiency: s.mean_sleep_efficiency,
                mean_craving: s.mean_craving,
            })
            .collect(),
        plan: ReportSummaryView {
            reached_end_on: r.plan.reached_end_on.map(|d| d.to_string()),
            holds: report.holds,
            step_backs: report.step_backs,
            withdrawal_burden_per_week: r.plan.withdrawal_burden_per_week,
            phq9_item9_events: r.plan.phq9_item9_events,
        },
    }))
}
