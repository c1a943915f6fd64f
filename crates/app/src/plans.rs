//! Plans: a clinician drafts a patient's plan from a taper generator, previews what it
//! predicts, and signs it; the patient sees only signed versions, measured day by day
//! against what they logged.
//!
//! Sources: `plans-and-therapy.md` §1 (taper shapes and rounding), §1.4 and §2 (occupancy
//! model, uncertain about tenfold), §1.7 (hold and step-back triggers), §6 (naltrexone
//! starts: 7–10 opioid-free days, CDC 2022 p27; kratom counts as an opioid for this rule on
//! the strength of three case reports).

use jiff::Span;
use jiff::civil::{Date, Time};
use speciosa_core::FieldErrors;
use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{BatchId, PatientId, PlanId};
use speciosa_core::medication::MedicationClass;
use speciosa_core::plan::{
    self, Adjustment, AssumedBatch, DayStatus, GeneratorInput, HoldSettings, LAST_STEP_DAYS,
    PlanContent, PlanFieldsInput, PlanKind, PlanStatus, PlannedStep, Schedule, SlotInput,
    TransitionTo,
};
use speciosa_core::policy::PatientAction;
use speciosa_core::product::ProductForm;
use speciosa_pk::TypicalParameters;
use speciosa_pk::plan::{Slot, Step, StepPrediction};
use speciosa_store::{Patient, PlanRecord, SignPlan};

use crate::{App, AppError, Caller, access};

/// The schedule a preview or a draft describes, as parsed from a request or a form.
#[derive(Clone, Debug, Default)]
pub struct ScheduleRequest {
    pub generator: GeneratorInput,
    pub batch_id: Option<BatchId>,
    pub round_to: Option<f64>,
    pub slots: Option<Vec<SlotInput>>,
    /// Holds and step-backs, applied to the generated steps in order.
    pub adjustments: Vec<Adjustment>,
}

/// A whole version as a client sends it.
#[derive(Clone, Debug, Default)]
pub struct PlanRequest {
    pub schedule: ScheduleRequest,
    pub fields: PlanFieldsInput,
}

impl PlanRequest {
    /// The request that would draw `content` again: the start of an edit or a new version.
    pub fn of(content: &PlanContent) -> PlanRequest {
        let g = &content.schedule.generator;
        PlanRequest {
            schedule: ScheduleRequest {
                generator: GeneratorInput {
                    kind: g.kind.clone(),
                    start_mg: Some(g.start_mg),
                    percent: g.percent,
                    amount_mg: g.amount_mg,
                    interval_days: Some(i64::from(g.interval_days)),
                    min_mg: g.min_mg,
                    end_mg: g.end_mg,
                    start_date: g.start_date.to_string(),
                },
                batch_id: content.schedule.batch.as_ref().map(|b| b.batch_id),
                round_to: content.schedule.round_to,
                slots: Some(
                    content
                        .schedule
                        .slots
                        .iter()
                        .map(|s| SlotInput {
                            time: s.time.strftime("%H:%M").to_string(),
                            share: Some(s.share),
                            bedtime: s.bedtime,
                        })
                        .collect(),
                ),
                adjustments: content.schedule.adjustments.clone(),
            },
            fields: PlanFieldsInput {
                kind: content.kind.as_str().into(),
                transition_to: content.transition_to.map(|t| t.as_str().into()),
                per_dose_max_mg: Some(content.per_dose_max_mg),
                per_day_max_mg: Some(content.per_day_max_mg),
                rationale: content.rationale.clone(),
                holds: Some(content.holds),
            },
        }
    }
}

/// A change to a draft: only what is given replaces the stored value.
#[derive(Clone, Debug, Default)]
pub struct PlanPatch {
    pub generator: Option<GeneratorInput>,
    /// `Some(None)` removes the assumed batch.
    pub batch_id: Option<Option<BatchId>>,
    pub round_to: Option<Option<f64>>,
    pub slots: Option<Vec<SlotInput>>,
    pub kind: Option<String>,
    pub transition_to: Option<Option<String>>,
    pub per_dose_max_mg: Option<f64>,
    pub per_day_max_mg: Option<f64>,
    pub rationale: Option<String>,
    pub holds: Option<HoldSettings>,
    pub adjustments: Option<Vec<Adjustment>>,
}

/// The electronic signature a clinician gives.
#[derive(Clone, Debug, Default)]
pub struct Signing {
    pub password: String,
    pub totp_code: Option<String>,
    /// The statement of meaning the clinician affirms.
    pub statement: String,
    /// For a naltrexone transition within 7 days of opioid or kratom use: the naloxone
    /// challenge the clinician performed (what, when, result).
    pub naloxone_challenge: Option<String>,
    /// Or why the start goes ahead anyway.
    pub override_reason: Option<String>,
}

/// One step of a preview: the exact and rounded targets, the day's slots and what the
/// model predicts.
#[derive(Clone, Debug)]
pub struct PreviewStep {
    pub step: PlannedStep,
    /// The day split over the plan's slots, in the batch's units.
    pub slot_units: Vec<(Time, f64, bool)>,
    /// Until (exclusive) the next step; `None` for the last.
    pub until: Option<Date>,
    pub predicted: StepPrediction,
    /// How much this step lowers the predicted trough from the previous step, percent.
    pub trough_drop_percent: Option<f64>,
}

/// What a schedule predicts.
#[derive(Clone, Debug)]
pub struct Preview {
    pub schedule: Schedule,
    pub steps: Vec<PreviewStep>,
    /// The typical patient's mitragynine over the whole plan: `(date-time, ng/mL)`.
    pub curve: Vec<(jiff::civil::DateTime, f64)>,
    /// Plain-language cautions the preview must show (model uncertainty, rounding).
    pub notes: Vec<&'static str>,
    /// The bedtime slot's time, when the plan has one.
    pub bedtime: Option<Time>,
}

/// Virtual patients behind a preview's 5–95 % band (issue 12 item 3).
pub const PREVIEW_PEOPLE: usize = 1000;
/// Points of the whole-plan curve: one every this many hours.
const CURVE_STEP_H: u32 = 3;

/// The caution every occupancy plan carries (`plans-and-therapy.md` §2).
pub const OCCUPANCY_NOTE: &str = "Occupancy steps use an estimate of mitragynine's half-occupancy dose whose constants \
     are uncertain about tenfold (plans-and-therapy.md §2): treat the step sizes as a shape, \
     not a measurement.";
/// The caution every preview carries.
pub const MODEL_NOTE: &str = "Predictions use the population PK model (data/pk/typical.toml): the typical patient, \
     with the 5–95 % band of 1,000 virtual patients. Individual levels vary more than the \
     model knows (7-OH and other alkaloids are not modelled).";
/// Where no kratom-specific taper rate exists.
pub const RATE_NOTE: &str = "No kratom-specific taper rate is published (plans-and-therapy.md §0): the rate is \
     this clinician's choice; CDC 2022 advises 10 % of the original dose a week or slower.";

/// Predicts a schedule step by step for the care team; audited as `plan.preview`.
pub async fn preview(
    app: &App,
    caller: &Caller,
    id: PatientId,
    request: &ScheduleRequest,
) -> Result<Preview, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::ManagePlans, "plan.preview").await?;
    let schedule = schedule_of(app, caller, request).await?;
    let preview = predict(schedule, patient.details.usual_bedtime).await?;
    let mut entry = caller.audit(
        "plan.preview",
        "patient",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} steps", preview.steps.len()));
    app.store.append_audit(entry).await?;
    Ok(preview)
}

/// Predicts a stored version (for its page); no audit of its own (the read is audited).
pub async fn preview_of(content: &PlanContent, patient: &Patient) -> Result<Preview, AppError> {
    predict(content.schedule.clone(), patient.details.usual_bedtime).await
}

async fn schedule_of(
    app: &App,
    caller: &Caller,
    request: &ScheduleRequest,
) -> Result<Schedule, AppError> {
    let batch = match request.batch_id {
        Some(batch_id) => Some(assumed_batch(app, caller, batch_id).await?),
        None => None,
    };
    let schedule = plan::parse_schedule(
        &request.generator,
        request.slots.as_deref(),
        batch,
        request.round_to,
    )?;
    Ok(plan::adjust(schedule, &request.adjustments)?)
}

/// The batch a plan assumes: the caller's organization's, with a mitragynine assay.
async fn assumed_batch(app: &App, caller: &Caller, id: BatchId) -> Result<AssumedBatch, AppError> {
    let refuse = |detail: &str| AppError::field("batch_id", detail);
    let batch = app
        .store
        .get_batch(id)
        .await?
        .filter(|b| b.organization_id == caller.actor.organization_id)
        .ok_or_else(|| refuse("no batch with this id in your clinic's catalogue"))?;
    if batch.recalled {
        return Err(refuse(
            "this batch was recalled: a plan cannot send the patient back to it; choose another batch",
        ));
    }
    let product = app
        .store
        .get_product(batch.product_id)
        .await?
        .ok_or_else(|| refuse("this batch's product is missing"))?;
    let per_g = batch
        .assay
        .as_ref()
        .and_then(|a| a.alkaloids.mitragynine_mg_per_g)
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            refuse("this batch has no mitragynine assay, so its units cannot carry a plan's mg: choose an assayed batch or plan in mg")
        })?;
    let details = &product.details;
    let (unit, mg_per_unit) = match details.form {
        ProductForm::Capsule | ProductForm::Tablet => {
            let mass = details.unit_mass_g.filter(|m| *m > 0.0).ok_or_else(|| {
                refuse("this product has no fill mass on record, so a count cannot be converted")
            })?;
            let unit = if details.form == ProductForm::Capsule {
                "capsule"
            } else {
                "tablet"
            };
            (unit, per_g * mass)
        }
        ProductForm::Liquid => ("ml", per_g),
        ProductForm::LeafPowder | ProductForm::ExtractPowder | ProductForm::Other => ("g", per_g),
    };
    Ok(AssumedBatch {
        batch_id: id,
        label: format!("{}, lot {}", details.name, batch.lot),
        unit: unit.into(),
        mg_per_unit,
    })
}

async fn predict(schedule: Schedule, usual_bedtime: Option<Time>) -> Result<Preview, AppError> {
    let typical = TypicalParameters::bundled()
        .map_err(|error| AppError::Defect(format!("loading PK parameters: {error}")))?;
    let people = typical
        .variability
        .sample(&typical.parameters, PREVIEW_PEOPLE, 1)
        .map_err(|error| AppError::Defect(format!("sampling virtual patients: {error}")))?;
    let planned = schedule.planned_steps();
    let Some(first) = planned.first().map(|s| s.from) else {
        return Err(AppError::field("generator", "this schedule has no steps"));
    };
    let bedtime = schedule.bedtime().or(usual_bedtime);
    let hour = |t: Time| f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
    let slots: Vec<Slot> = schedule
        .slots
        .iter()
        .map(|s| Slot {
            hour: hour(s.time),
            share: s.share,
        })
        .collect();
    let day_of = |date: Date| -> u32 { (date - first).get_days().max(0) as u32 };
    let pk_steps: Vec<Step> = planned
        .iter()
        .map(|s| Step {
            day: day_of(s.from),
            daily_mg: s.planned_mg,
        })
        .collect();
    let bedtime_hour = bedtime.map(hour);
    let p = typical.parameters;
    let (predictions, curve) = tokio::task::spawn_blocking(move || {
        let predictions = speciosa_pk::plan::preview(
            &p,
            &people,
            &pk_steps,
            &slots,
            bedtime_hour,
            LAST_STEP_DAYS,
        );
        let last_day = pk_steps.last().map_or(0, |s| s.day) + LAST_STEP_DAYS;
        let doses = speciosa_pk::plan::doses(&pk_steps, &slots, last_day);
        let times: Vec<f64> = (0..=last_day * 24 / CURVE_STEP_H)
            .map(|k| f64::from(k * CURVE_STEP_H))
            .collect();
        let curve = speciosa_pk::propagated::simulate(&p, &doses, &times)
            .iter()
            .zip(times)
            .map(|(c, t)| (t, c.mitragynine * 1000.0))
            .collect::<Vec<_>>();
        (predictions, curve)
    })
    .await
    .map_err(|error| AppError::Defect(format!("predicting a plan: {error}")))?;
    let start = first.to_datetime(Time::midnight());
    let curve = curve
        .into_iter()
        .filter_map(|(h, ng)| {
            start
                .checked_add(Span::new().hours(h as i64))
                .ok()
                .map(|at| (at, ng))
        })
        .collect();
    let mut steps = Vec::with_capacity(planned.len());
    for (index, (step, predicted)) in planned.iter().zip(predictions).enumerate() {
        let previous: Option<&PreviewStep> = steps.last();
        let trough_drop_percent = previous
            .filter(|p| p.predicted.trough_ng_ml > 0.0)
            .map(|p| {
                100.0 * (p.predicted.trough_ng_ml - predicted.trough_ng_ml)
                    / p.predicted.trough_ng_ml
            });
        let slot_units = schedule
            .slots
            .iter()
            .zip(schedule.slot_units(step.units))
            .map(|(slot, units)| (slot.time, units, slot.bedtime))
            .collect();
        steps.push(PreviewStep {
            step: *step,
            slot_units,
            until: planned.get(index + 1).map(|next| next.from),
            predicted,
            trough_drop_percent,
        });
    }
    let mut notes = vec![MODEL_NOTE, RATE_NOTE];
    if schedule.generator.kind == "occupancy" {
        notes.push(OCCUPANCY_NOTE);
    }
    Ok(Preview {
        schedule,
        steps,
        curve,
        notes,
        bedtime,
    })
}

/// Stores a new draft (the patient's next version number); audited as `plan.create`.
/// `start_date` may lie in the past: a plan already agreed with the patient.
pub async fn create_draft(
    app: &App,
    caller: &Caller,
    id: PatientId,
    request: &PlanRequest,
) -> Result<PlanRecord, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::ManagePlans, "plan.create").await?;
    let content = content_of(app, caller, request).await?;
    Ok(app
        .store
        .insert_plan_draft(
            patient.organization_id,
            id,
            &content,
            caller.actor.user_id,
            |plan_id, version| {
                let mut entry = caller.audit(
                    "plan.create",
                    "plan",
                    Some(plan_id.to_string()),
                    Some(id),
                    Outcome::Success,
                );
                entry.detail = Some(format!("version {version}, {}", content.kind.as_str()));
                entry
            },
        )
        .await?)
}

async fn content_of(
    app: &App,
    caller: &Caller,
    request: &PlanRequest,
) -> Result<PlanContent, AppError> {
    // Both halves are checked before answering, so a client hears every problem at once.
    let schedule = schedule_of(app, caller, &request.schedule).await;
    match schedule {
        Ok(schedule) => Ok(plan::parse_content(&request.fields, schedule)?),
        Err(AppError::Invalid(mut errors)) => {
            if PlanKind::parse(&request.fields.kind).is_none() {
                errors.push("kind", "kind must be one of maintenance, taper, transition");
            }
            Err(AppError::Invalid(errors))
        }
        Err(other) => Err(other),
    }
}

/// A plan version the caller may manage, with its patient.
async fn managed_plan(
    app: &App,
    caller: &Caller,
    plan_id: PlanId,
    audit_action: &str,
) -> Result<(Patient, PlanRecord), AppError> {
    let record = app
        .store
        .get_plan(plan_id)
        .await?
        .ok_or(AppError::NotFound("plan"))?;
    let patient = access::patient_record(
        app,
        caller,
        record.patient_id,
        PatientAction::ManagePlans,
        audit_action,
    )
    .await?;
    Ok((patient, record))
}

/// Refuses (409) a change to a version that is no longer a draft, once the caller may
/// manage it: an adapter asks before reading a change's fields, so a signed version answers
/// "immutable" whatever was sent.
pub async fn require_draft(app: &App, caller: &Caller, plan_id: PlanId) -> Result<(), AppError> {
    let (_, record) = managed_plan(app, caller, plan_id, "plan.update").await?;
    if record.status != PlanStatus::Draft {
        return Err(immutable(&record));
    }
    Ok(())
}

fn immutable(record: &PlanRecord) -> AppError {
    AppError::Conflict(format!(
        "version {} is {}: a signed plan never changes; draw a new version instead",
        record.version,
        record.status.as_str()
    ))
}

/// Changes a draft; a signed version is immutable (409: draw a new version instead).
/// Audited as `plan.update`.
pub async fn edit_draft(
    app: &App,
    caller: &Caller,
    plan_id: PlanId,
    patch: &PlanPatch,
) -> Result<PlanRecord, AppError> {
    let (patient, record) = managed_plan(app, caller, plan_id, "plan.update").await?;
    if record.status != PlanStatus::Draft {
        return Err(immutable(&record));
    }
    let mut request = PlanRequest::of(&record.content);
    if let Some(generator) = &patch.generator {
        request.schedule.generator = generator.clone();
    }
    if let Some(batch) = patch.batch_id {
        request.schedule.batch_id = batch;
    }
    if let Some(round_to) = patch.round_to {
        request.schedule.round_to = round_to;
    }
    if let Some(slots) = &patch.slots {
        request.schedule.slots = Some(slots.clone());
    }
    if let Some(kind) = &patch.kind {
        request.fields.kind = kind.clone();
    }
    if let Some(to) = &patch.transition_to {
        request.fields.transition_to = to.clone();
    }
    if let Some(max) = patch.per_dose_max_mg {
        request.fields.per_dose_max_mg = Some(max);
    }
    if let Some(max) = patch.per_day_max_mg {
        request.fields.per_day_max_mg = Some(max);
    }
    if let Some(rationale) = &patch.rationale {
        request.fields.rationale = rationale.clone();
    }
    if let Some(holds) = patch.holds {
        request.fields.holds = Some(holds);
    }
    if let Some(adjustments) = &patch.adjustments {
        request.schedule.adjustments = adjustments.clone();
    }
    let content = content_of(app, caller, &request).await?;
    let entry = caller.audit(
        "plan.update",
        "plan",
        Some(plan_id.to_string()),
        Some(patient.id),
        Outcome::Success,
    );
    Ok(app
        .store
        .update_plan_draft(plan_id, &content, caller.actor.user_id, entry)
        .await?)
}

/// Replaces a draft wholesale (the editor's form); same rules as [`edit_draft`].
pub async fn replace_draft(
    app: &App,
    caller: &Caller,
    plan_id: PlanId,
    request: &PlanRequest,
) -> Result<PlanRecord, AppError> {
    let patch = PlanPatch {
        generator: Some(request.schedule.generator.clone()),
        batch_id: Some(request.schedule.batch_id),
        round_to: Some(request.schedule.round_to),
        slots: request.schedule.slots.clone(),
        kind: Some(request.fields.kind.clone()),
        transition_to: Some(request.fields.transition_to.clone()),
        per_dose_max_mg: request.fields.per_dose_max_mg,
        per_day_max_mg: request.fields.per_day_max_mg,
        rationale: Some(request.fields.rationale.clone()),
        holds: request.fields.holds,
        adjustments: Some(request.schedule.adjustments.clone()),
    };
    edit_draft(app, caller, plan_id, &patch).await
}

/// Throws a draft away; audited as `plan.discard`.
pub async fn discard_draft(
    app: &App,
    caller: &Caller,
    plan_id: PlanId,
) -> Result<PlanRecord, AppError> {
    let (patient, record) = managed_plan(app, caller, plan_id, "plan.discard").await?;
    if record.status != PlanStatus::Draft {
        return Err(AppError::Conflict("only a draft can be discarded".into()));
    }
    let entry = caller.audit(
        "plan.discard",
        "plan",
        Some(plan_id.to_string()),
        Some(patient.id),
        Outcome::Success,
    );
    Ok(app
        .store
        .discard_plan_draft(plan_id, caller.actor.user_id, entry)
        .await?)
}

/// Draws a hold or a step back into a new draft of the patient's active plan (the
/// clinician then reviews and signs it: nothing changes before). Audited as `plan.create`.
pub async fn draft_adjustment(
    app: &App,
    caller: &Caller,
    plan_id: PlanId,
    adjustment: Adjustment,
) -> Result<PlanRecord, AppError> {
    let (patient, record) = managed_plan(app, caller, plan_id, "plan.create").await?;
    if record.status != PlanStatus::Signed {
        return Err(AppError::Conflict(
            "a hold or step back changes the active (signed) plan; this version is not it".into(),
        ));
    }
    let what = match &adjustment {
        Adjustment::Hold { on, days, .. } => format!("Hold from {on} for {days} days"),
        Adjustment::StepBack { on, days, .. } => {
            format!("Step back from {on} for {days} days")
        }
    };
    let reason = adjustment.reason().to_owned();
    let mut fields = PlanRequest::of(&record.content).fields;
    fields.rationale = if reason.is_empty() {
        format!("{what}.\n\n{}", record.content.rationale)
    } else {
        format!("{what}: {reason}.\n\n{}", record.content.rationale)
    };
    // Applied to the steps as signed, so the draft differs from the active plan only by it.
    let schedule = plan::adjust(record.content.schedule.clone(), &[adjustment])?;
    let content = plan::parse_content(&fields, schedule)?;
    Ok(app
        .store
        .insert_plan_draft(
            patient.organization_id,
            patient.id,
            &content,
            caller.actor.user_id,
            |draft, version| {
                let mut entry = caller.audit(
                    "plan.create",
                    "plan",
                    Some(draft.to_string()),
                    Some(patient.id),
                    Outcome::Success,
                );
                entry.detail = Some(format!(
                    "version {version}, {what} (from version {})",
                    record.version
                ));
                entry
            },
        )
        .await?)
}

/// The days a naltrexone start needs free of opioids, kratom included (CDC 2022 p27:
/// 7–10 days; `plans-and-therapy.md` §6).
pub const NALTREXONE_OPIOID_FREE_DAYS: i64 = 7;

/// Why a naltrexone start is not yet safe to sign: the kratom days and opioid medicines in
/// the last [`NALTREXONE_OPIOID_FREE_DAYS`] days.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StartGate {
    pub kratom_days: Vec<Date>,
    pub opioid_medications: Vec<String>,
}

impl StartGate {
    pub fn is_clear(&self) -> bool {
        self.kratom_days.is_empty() && self.opioid_medications.is_empty()
    }

    pub fn explanation(&self) -> String {
        let mut parts = Vec::new();
        if let Some(last) = self.kratom_days.last() {
            parts.push(format!(
                "kratom was logged on {} day(s), last {last}",
                self.kratom_days.len()
            ));
        }
        if !self.opioid_medications.is_empty() {
            parts.push(format!(
                "opioid medicines on the list: {}",
                self.opioid_medications.join(", ")
            ));
        }
        format!(
            "naltrexone can precipitate withdrawal within {NALTREXONE_OPIOID_FREE_DAYS} days of opioid or kratom use ({}; CDC 2022 p27, three case reports, plans-and-therapy.md §6): record a naloxone challenge or an override reason",
            parts.join("; ")
        )
    }
}

/// The naltrexone start gate for a patient today (bounded: eight local days of totals).
pub async fn naltrexone_gate(app: &App, patient: &Patient) -> Result<StartGate, AppError> {
    let today = crate::medications::patient_today(patient);
    let since = today
        .checked_sub(Span::new().days(NALTREXONE_OPIOID_FREE_DAYS))
        .map_err(|error| AppError::Defect(format!("a week before today: {error}")))?;
    let kratom_days = app
        .store
        .day_totals(patient.id, since, today)
        .await?
        .into_iter()
        .filter(|d| d.doses > 0)
        .map(|d| d.day)
        .collect();
    let opioid_medications = app
        .store
        .list_medications(patient.id)
        .await?
        .into_iter()
        .filter(|m| m.class == MedicationClass::Opioid)
        .filter(|m| m.stopped_on.is_none_or(|stopped| stopped >= since))
        .filter(|m| m.started_on.is_none_or(|started| started <= today))
        .map(|m| m.name)
        .collect();
    Ok(StartGate {
        kratom_days,
        opioid_medications,
    })
}

/// The longest statement of meaning kept.
pub const MAX_STATEMENT: usize = 1000;

/// Signs a draft: the clinician re-enters their password (and TOTP code when two-factor
/// sign-in is on) and affirms a statement; the signature records who, when, the statement
/// and the SHA-256 of the version's canonical content, and supersedes the active version.
/// Audited as `plan.sign`. A naltrexone transition within 7 days of opioid or kratom use is
/// refused unless a naloxone challenge or an override reason is recorded.
pub async fn sign(
    app: &App,
    caller: &Caller,
    plan_id: PlanId,
    signing: &Signing,
) -> Result<PlanRecord, AppError> {
    let (patient, record) = managed_plan(app, caller, plan_id, "plan.sign").await?;
    if record.status != PlanStatus::Draft {
        return Err(AppError::Conflict(format!(
            "version {} is already {}",
            record.version,
            record.status.as_str()
        )));
    }
    let statement = signing.statement.trim();
    let mut errors = FieldErrors::new();
    if statement.is_empty() {
        errors.push(
            "statement",
            "affirm what your signature means (the standard statement is offered)",
        );
    } else if statement.chars().count() > MAX_STATEMENT {
        errors.push(
            "statement",
            format!("keep the statement under {MAX_STATEMENT} characters"),
        );
    }
    let given = |text: &Option<String>| {
        text.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let challenge = given(&signing.naloxone_challenge);
    let override_reason = given(&signing.override_reason);
    let mut gate_note = None;
    if record.content.transition_to == Some(TransitionTo::Naltrexone) {
        let gate = naltrexone_gate(app, &patient).await?;
        gate_note = match (&challenge, &override_reason) {
            (Some(c), _) => Some(format!("naloxone challenge: {c}")),
            (None, Some(r)) => Some(format!("override: {r}")),
            (None, None) if gate.is_clear() => None,
            (None, None) => {
                errors.push("naloxone_challenge", gate.explanation());
                None
            }
        };
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    crate::sessions::reauthenticate(
        app,
        caller,
        signing.password.clone(),
        signing.totp_code.as_deref(),
        "plan.sign",
    )
    .await?;
    let digest = plan::content_digest(&record.content_json);
    let mut entry = caller.audit(
        "plan.sign",
        "plan",
        Some(plan_id.to_string()),
        Some(patient.id),
        Outcome::Success,
    );
    entry.detail = Some(match &gate_note {
        Some(note) => format!("version {}, sha256 {digest}; {note}", record.version),
        None => format!("version {}, sha256 {digest}", record.version),
    });
    let signed = app
        .store
        .sign_plan(
            SignPlan {
                id: plan_id,
                by: caller.actor.user_id,
                statement,
                content_sha256: &digest,
                start_gate_note: gate_note.as_deref(),
            },
            entry,
        )
        .await?;
    crate::safety::after_write(app, caller, &patient).await;
    if let Err(error) = crate::notify::plan_changed(app, &patient).await {
        // The plan is signed; the reminders catch up at their next run.
        crate::log_chain("rescheduling dose reminders after signing", &error);
    }
    Ok(signed)
}

/// One version, as the caller may see it: patients never see a draft. Audited as `plan.read`.
pub async fn read_plan(
    app: &App,
    caller: &Caller,
    plan_id: PlanId,
) -> Result<(Patient, PlanRecord), AppError> {
    let record = app
        .store
        .get_plan(plan_id)
        .await?
        .ok_or(AppError::NotFound("plan"))?;
    let patient = access::patient_record(
        app,
        caller,
        record.patient_id,
        PatientAction::Read,
        "plan.read",
    )
    .await?;
    if caller.actor.role == Role::Patient && !record.status.was_signed() {
        return Err(AppError::NotFound("plan"));
    }
    app.store
        .append_audit(caller.audit(
            "plan.read",
            "plan",
            Some(plan_id.to_string()),
            Some(patient.id),
            Outcome::Success,
        ))
        .await?;
    Ok((patient, record))
}

/// The patient's signed, active plan (404 when none). Audited as `plan.read`.
pub async fn current_plan(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<(Patient, PlanRecord), AppError> {
    let patient = access::patient_record(app, caller, id, PatientAction::Read, "plan.read").await?;
    let record = app
        .store
        .active_plan(id)
        .await?
        .ok_or(AppError::NotFound("plan"))?;
    app.store
        .append_audit(caller.audit(
            "plan.read",
            "plan",
            Some(record.id.to_string()),
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok((patient, record))
}

/// The patient's versions, newest first: every version for the care team, signed ones
/// for the patient. Audited as `plan.list`.
pub async fn plan_history(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<(Patient, Vec<PlanRecord>), AppError> {
    let patient = access::patient_record(app, caller, id, PatientAction::Read, "plan.list").await?;
    let with_drafts = caller.actor.role != Role::Patient;
    let plans = app.store.list_plans(id, with_drafts).await?;
    let mut entry = caller.audit(
        "plan.list",
        "patient",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} versions", plans.len()));
    app.store.append_audit(entry).await?;
    Ok((patient, plans))
}

/// One day measured against the plan in force on it.
#[derive(Clone, Debug, PartialEq)]
pub struct AdherenceDay {
    pub date: Date,
    pub plan_id: PlanId,
    pub planned_mg: f64,
    pub taken_mg: f64,
    pub status: DayStatus,
}

/// Days measured against the plan, over the range actually read.
#[derive(Clone, Debug)]
pub struct Adherence {
    pub patient: Patient,
    pub from: Date,
    pub to: Date,
    pub days: Vec<AdherenceDay>,
}

/// The longest adherence range one request reads.
pub const MAX_ADHERENCE_DAYS: i64 = 366;
/// The default range: the four weeks up to today.
pub const DEFAULT_ADHERENCE_DAYS: i64 = 28;

/// Planned against taken, per patient-local day in `from..=to` (default: the 28 days up to
/// today; never past today). A day counts against the signed version in force on it: the
/// latest-signed version whose schedule had begun. Days before any plan are left out.
/// Reads the maintained day totals of the range only. Audited as `plan.adherence`.
pub async fn adherence(
    app: &App,
    caller: &Caller,
    id: PatientId,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Adherence, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "plan.adherence").await?;
    let today = crate::medications::patient_today(&patient);
    let (from, to) = adherence_range(from, to, today)?;
    let plans = app.store.signed_plans_starting_by(id, to).await?;
    let totals = app.store.day_totals(id, from, to).await?;
    let mut days = Vec::new();
    let mut date = from;
    while date <= to {
        // Signed newest first: the first whose schedule had begun is in force.
        let in_force = plans
            .iter()
            .filter(|p| p.signature.is_some())
            .find(|p| p.content.schedule.generator.start_date <= date);
        if let Some(plan) = in_force
            && let Some(planned_mg) = plan.content.planned_mg_on(date)
        {
            let total = totals
                .iter()
                .find(|t| t.day == date)
                .filter(|t| t.doses > 0);
            let taken = total.map(|t| t.mitragynine_mg);
            days.push(AdherenceDay {
                date,
                plan_id: plan.id,
                planned_mg,
                taken_mg: taken.unwrap_or(0.0),
                status: plan::day_status(planned_mg, taken),
            });
        }
        date = match date.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    let mut entry = caller.audit(
        "plan.adherence",
        "patient",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{from}..{to}"));
    app.store.append_audit(entry).await?;
    Ok(Adherence {
        patient,
        from,
        to,
        days,
    })
}

fn adherence_range(
    from: Option<&str>,
    to: Option<&str>,
    today: Date,
) -> Result<(Date, Date), FieldErrors> {
    use speciosa_core::time::{Era, parse_date};
    fn given(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    let mut errors = FieldErrors::new();
    let to = match given(to) {
        Some(raw) => errors.check("to", parse_date(raw, Era::Clinical)),
        None => Some(today),
    };
    let from = match given(from) {
        Some(raw) => errors.check("from", parse_date(raw, Era::Clinical)),
        None => to.and_then(|t| {
            t.checked_sub(Span::new().days(DEFAULT_ADHERENCE_DAYS - 1))
                .ok()
        }),
    };
    let (Some(from), Some(to)) = (from, to) else {
        return Err(errors);
    };
    let to = to.min(today);
    if from > to {
        errors.push("from", "from must be on or before to (and not after today)");
    } else if i64::from((to - from).get_days()) >= MAX_ADHERENCE_DAYS {
        errors.push(
            "from",
            format!("ask for at most {MAX_ADHERENCE_DAYS} days at a time"),
        );
    }
    errors.into_result(|| (from, to))
}

/// What the patient's home shows about the plan today.
#[derive(Clone, Debug)]
pub struct TodayPlan {
    pub plan: PlanRecord,
    pub today: Date,
    pub step: PlannedStep,
    /// `(time, units, bedtime)` for each slot today.
    pub slots: Vec<(Time, f64, bool)>,
    pub unit: String,
    pub next_step: Option<PlannedStep>,
    /// Mitragynine logged today, mg.
    pub taken_mg: f64,
    pub doses_today: i64,
}

/// Today's target from the signed plan, the next step and today's logged total; `None`
/// without a signed plan or before it begins. Audited as `plan.read`.
pub async fn today(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<Option<TodayPlan>, AppError> {
    let patient = access::patient_record(app, caller, id, PatientAction::Read, "plan.read").await?;
    let Some(record) = app.store.active_plan(id).await? else {
        return Ok(None);
    };
    let today = crate::medications::patient_today(&patient);
    let planned = record.content.schedule.planned_steps();
    let Some(index) = planned.iter().rposition(|s| s.from <= today) else {
        return Ok(None);
    };
    let step = planned[index];
    let totals = app.store.day_totals(id, today, today).await?;
    let (taken_mg, doses_today) = totals
        .first()
        .map_or((0.0, 0), |t| (t.mitragynine_mg, t.doses));
    let schedule = &record.content.schedule;
    let slots = schedule
        .slots
        .iter()
        .zip(schedule.slot_units(step.units))
        .map(|(slot, units)| (slot.time, units, slot.bedtime))
        .collect();
    let unit = schedule.unit().to_owned();
    app.store
        .append_audit(caller.audit(
            "plan.read",
            "plan",
            Some(record.id.to_string()),
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok(Some(TodayPlan {
        next_step: planned.get(index + 1).copied(),
        plan: record,
        today,
        step,
        slots,
        unit,
        taken_mg,
        doses_today,
    }))
}

/// The instruments a plan report reads: withdrawal, craving, sleep and PHQ-9 item 9.
const REPORT_INSTRUMENTS: [&str; 5] = ["sows", "cows", "craving", "sleep_diary", "phq9"];
/// At most this many of each instrument in one report (several a day for a year).
const REPORT_ASSESSMENTS_READ: usize = 2000;

/// A version measured over the days it was in force.
#[derive(Clone, Debug)]
pub struct Report {
    pub patient: Patient,
    pub plan: PlanRecord,
    pub from: Date,
    pub to: Date,
    pub report: speciosa_core::plan_report::PlanReport,
    /// The holds and step-backs signed into the version.
    pub holds: usize,
    pub step_backs: usize,
}

/// Per day, per step and for the whole plan (`plan_report`): from the version's first step
/// to today or the day it was superseded, at most the last [`MAX_ADHERENCE_DAYS`] of that
/// (so its cost does not grow with the patient's history). Drafts have no report. Audited
/// as `plan.report`.
pub async fn report(app: &App, caller: &Caller, plan_id: PlanId) -> Result<Report, AppError> {
    let record = app
        .store
        .get_plan(plan_id)
        .await?
        .ok_or(AppError::NotFound("plan"))?;
    let patient = access::patient_record(
        app,
        caller,
        record.patient_id,
        PatientAction::Read,
        "plan.report",
    )
    .await?;
    if !record.status.was_signed() {
        return Err(if caller.actor.role == Role::Patient {
            AppError::NotFound("plan")
        } else {
            AppError::Conflict("a draft has no days to measure yet: sign it first".into())
        });
    }
    let zone = patient.details.time_zone.to_zone();
    let today = crate::medications::patient_today(&patient);
    let ended = record
        .superseded_at
        .map(|t| t.to_zoned_datetime(zone.clone()).date())
        .unwrap_or(today)
        .min(today);
    let start = record.content.schedule.generator.start_date;
    let earliest = ended
        .checked_sub(Span::new().days(MAX_ADHERENCE_DAYS - 1))
        .unwrap_or(start);
    let from = start.max(earliest);
    let to = ended.max(from);
    let totals = app.store.day_totals(patient.id, from, to).await?;
    let mut days = Vec::new();
    let mut date = from;
    while date <= to {
        let taken = totals
            .iter()
            .find(|t| t.day == date && t.doses > 0)
            .map(|t| t.mitragynine_mg);
        days.push((date, taken));
        date = match date.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    let instant = |day: Date| {
        zone.to_ambiguous_timestamp(day.to_datetime(Time::midnight()))
            .compatible()
            .map_err(|error| AppError::Defect(format!("the start of {day}: {error}")))
    };
    let since = instant(from)?;
    let until = instant(to.tomorrow().unwrap_or(to))?;
    let mut assessments = Vec::new();
    for instrument in REPORT_INSTRUMENTS {
        assessments.extend(
            app.store
                .assessments_between(
                    patient.id,
                    instrument,
                    since,
                    until,
                    REPORT_ASSESSMENTS_READ,
                )
                .await?
                .into_iter()
                .map(crate::safety::assessment_fact),
        );
    }
    let report = speciosa_core::plan_report::report(&record.content, &days, &assessments, &zone);
    let count = |kind: &str| {
        record
            .content
            .schedule
            .adjustments
            .iter()
            .filter(|a| a.kind() == kind)
            .count()
    };
    let (holds, step_backs) = (count("hold"), count("step_back"));
    let mut entry = caller.audit(
        "plan.report",
        "plan",
        Some(plan_id.to_string()),
        Some(patient.id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{from}..{to}"));
    app.store.append_audit(entry).await?;
    Ok(Report {
        patient,
        plan: record,
        from,
        to,
        report,
        holds,
        step_backs,
    })
}
