//! A patient's plan: its history, the editor with the model's preview, one version with
//! its signature (or the signing form for a draft), and the differences between two
//! versions. Thin adapters over `speciosa_app::plans`: every read and write is authorized
//! and audited there.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::{Date, Time};
use serde::Deserialize;
use speciosa_app::AppError;
use speciosa_app::plans::{self, PlanRequest, Preview, ScheduleRequest, Signing};
use speciosa_app::records::{Patient, PlanRecord};
use speciosa_core::FieldErrors;
use speciosa_core::account::Role;
use speciosa_core::amount::{AmountError, parse_amount};
use speciosa_core::ids::{BatchId, PatientId, PlanId, UserId};
use speciosa_core::plan::{
    GeneratorInput, HoldSettings, LAST_STEP_DAYS, MAX_SLOTS, PlanContent, PlanFieldsInput,
    PlanKind, PlanStatus, STANDARD_STATEMENT, SlotInput, TransitionTo,
};
use speciosa_core::policy::PatientAction;
use speciosa_core::product::ProductForm;
use speciosa_core::taper::GeneratorKind;

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::charts::{DayAxis, DayChart, Size, Tick, nice_ceiling};
use crate::pages::time::Clock;
use crate::pages::{Choice, FormErrors, Nav, Notice, humanize, mg_text, patient_id, render};

const LABELS: &[(&str, &str)] = &[
    ("kind", "Plan kind"),
    ("transition_to", "Transition to"),
    ("generator", "Schedule"),
    ("generator.kind", "Schedule shape"),
    ("generator.start_mg", "Starting daily dose"),
    ("generator.percent", "Percent per step"),
    ("generator.amount_mg", "Amount per step"),
    ("generator.interval_days", "Days between steps"),
    ("generator.min_mg", "Lowest step"),
    ("generator.end_mg", "End dose"),
    ("generator.start_date", "Start date"),
    ("batch_id", "Assumed batch"),
    ("round_to", "Round to"),
    ("slots", "Dose times"),
    ("per_dose_max_mg", "Per-dose maximum"),
    ("per_day_max_mg", "Per-day maximum"),
    ("rationale", "Rationale"),
    ("holds.within_days", "Days watched after a step"),
    ("holds.sows_rise", "SOWS rise"),
    ("holds.cows_at_least", "COWS at least"),
    ("holds.craving_rise", "Craving rise"),
    ("holds.sleep_efficiency_drop", "Sleep efficiency drop"),
];

const SIGN_LABELS: &[(&str, &str)] = &[
    ("password", "Password"),
    ("totp_code", "Two-factor code"),
    ("statement", "Statement"),
    ("naloxone_challenge", "Naloxone challenge"),
    ("override_reason", "Override reason"),
];

/// What each schedule shape does, for the editor's choice.
fn shape_label(kind: GeneratorKind) -> &'static str {
    match kind {
        GeneratorKind::Constant => "Constant: one steady target (maintenance)",
        GeneratorKind::PercentOfOriginal => "Linear: each step cuts a percent of the starting dose",
        GeneratorKind::PercentOfCurrent => {
            "Exponential: each step cuts a percent of the current dose"
        }
        GeneratorKind::FixedAmount => "Fixed amount: each step cuts the same mg",
        GeneratorKind::CdcShortTerm => {
            "CDC 2022: 10 % of the original a step down to 30 %, then 10 % of the current"
        }
        GeneratorKind::Occupancy => {
            "Occupancy (hyperbolic): equal shares of estimated receptor occupancy"
        }
    }
}

// ---------------------------------------------------------------------------
// The editor's form.

/// The editor as typed: every field text, so it can be shown back as it was.
#[derive(Deserialize, Default, Clone)]
pub struct PlanForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub transition_to: String,
    #[serde(default, rename = "generator.kind")]
    pub generator_kind: String,
    #[serde(default, rename = "generator.start_mg")]
    pub start_mg: String,
    #[serde(default, rename = "generator.percent")]
    pub percent: String,
    #[serde(default, rename = "generator.amount_mg")]
    pub amount_mg: String,
    #[serde(default, rename = "generator.interval_days")]
    pub interval_days: String,
    #[serde(default, rename = "generator.min_mg")]
    pub min_mg: String,
    #[serde(default, rename = "generator.end_mg")]
    pub end_mg: String,
    #[serde(default, rename = "generator.start_date")]
    pub start_date: String,
    #[serde(default)]
    pub batch_id: String,
    #[serde(default)]
    pub round_to: String,
    #[serde(default)]
    pub per_dose_max_mg: String,
    #[serde(default)]
    pub per_day_max_mg: String,
    #[serde(default)]
    pub rationale: String,
    #[serde(default, rename = "holds.within_days")]
    pub within_days: String,
    #[serde(default, rename = "holds.sows_rise")]
    pub sows_rise: String,
    #[serde(default, rename = "holds.cows_at_least")]
    pub cows_at_least: String,
    #[serde(default, rename = "holds.craving_rise")]
    pub craving_rise: String,
    #[serde(default, rename = "holds.sleep_efficiency_drop")]
    pub sleep_efficiency_drop: String,
    /// Holds and step-backs signed into the version this one was drawn from (JSON, carried
    /// in a hidden field so an edit keeps them).
    #[serde(default)]
    pub adjustments: String,
    /// `preview` (show what it predicts, save nothing) or `save`.
    #[serde(default)]
    pub intent: String,
    /// Read from the repeated `slot_time`, `slot_share` and the `slot_bedtime` radio.
    #[serde(skip)]
    pub slots: Vec<SlotRow>,
}

/// One dose time as typed; the share in percent of the day.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct SlotRow {
    pub time: String,
    pub share: String,
    pub bedtime: bool,
}

/// A number as it goes back into a field: unrounded, without trailing zeros.
fn plain(value: f64) -> String {
    format!("{value}")
}

fn plain_opt(value: Option<f64>) -> String {
    value.map(plain).unwrap_or_default()
}

/// A typed number: empty is "not given"; a decimal comma is a decimal mark
/// (`speciosa_core::amount`), digit grouping is refused rather than guessed.
fn number(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<f64> {
    let text = raw.trim();
    if text.is_empty() {
        return None;
    }
    match parse_amount(text) {
        Ok(value) => Some(value),
        Err(reason @ (AmountError::Grouped(_) | AmountError::Ambiguous { .. })) => {
            errors.push(field, reason.to_string());
            None
        }
        Err(AmountError::Negative) => {
            errors.push(field, "must not be negative");
            None
        }
        Err(_) => {
            errors.push(
                field,
                "enter a number, such as 12.5 or 12,5 (the unit is given beside the field)",
            );
            None
        }
    }
}

/// A whole number of days.
fn whole(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<i64> {
    let value = number(errors, field, raw)?;
    if value.fract() != 0.0 || value > 100_000.0 {
        errors.push(field, "enter a whole number of days");
        return None;
    }
    Some(value as i64)
}

impl PlanForm {
    /// A blank editor: a taper from today, one morning slot, the default hold thresholds.
    fn blank(today: Date) -> PlanForm {
        let holds = HoldSettings::default();
        PlanForm {
            kind: PlanKind::Taper.as_str().into(),
            generator_kind: GeneratorKind::PercentOfOriginal.code().into(),
            interval_days: "7".into(),
            start_date: today.to_string(),
            slots: vec![SlotRow {
                time: "08:00".into(),
                share: String::new(),
                bedtime: false,
            }],
            ..PlanForm::with_holds(holds)
        }
    }

    fn with_holds(holds: HoldSettings) -> PlanForm {
        PlanForm {
            within_days: holds.within_days.to_string(),
            sows_rise: plain(holds.sows_rise),
            cows_at_least: plain(holds.cows_at_least),
            craving_rise: plain(holds.craving_rise),
            sleep_efficiency_drop: plain(holds.sleep_efficiency_drop),
            ..PlanForm::default()
        }
    }

    /// The editor filled from a version (an edit, or a new version drawn from it).
    fn of(request: &PlanRequest) -> PlanForm {
        let g = &request.schedule.generator;
        let f = &request.fields;
        let holds = f.holds.unwrap_or_default();
        PlanForm {
            kind: f.kind.clone(),
            transition_to: f.transition_to.clone().unwrap_or_default(),
            generator_kind: g.kind.clone(),
            start_mg: plain_opt(g.start_mg),
            percent: plain_opt(g.percent),
            amount_mg: plain_opt(g.amount_mg),
            interval_days: g.interval_days.map(|d| d.to_string()).unwrap_or_default(),
            min_mg: plain_opt(g.min_mg),
            end_mg: plain_opt(g.end_mg),
            start_date: g.start_date.clone(),
            batch_id: request
                .schedule
                .batch_id
                .map(|b| b.to_string())
                .unwrap_or_default(),
            round_to: plain_opt(request.schedule.round_to),
            per_dose_max_mg: plain_opt(f.per_dose_max_mg),
            per_day_max_mg: plain_opt(f.per_day_max_mg),
            rationale: f.rationale.clone(),
            adjustments: if request.schedule.adjustments.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&request.schedule.adjustments).unwrap_or_default()
            },
            slots: request
                .schedule
                .slots
                .iter()
                .flatten()
                .map(|s| SlotRow {
                    time: s.time.clone(),
                    share: s
                        .share
                        .map(|share| plain((share * 1000.0).round() / 10.0))
                        .unwrap_or_default(),
                    bedtime: s.bedtime,
                })
                .collect(),
            ..PlanForm::with_holds(holds)
        }
    }

    /// Reads the repeated slot fields, in the order they were sent.
    fn read_slots(&mut self, pairs: &[(String, String)]) {
        let values = |name: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let times = values("slot_time");
        let shares = values("slot_share");
        let bedtime: Option<usize> = values("slot_bedtime").first().and_then(|v| v.parse().ok());
        self.slots = times
            .iter()
            .enumerate()
            .map(|(index, time)| SlotRow {
                time: time.trim().to_owned(),
                share: shares
                    .get(index)
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default(),
                bedtime: bedtime == Some(index),
            })
            .filter(|s| !(s.time.is_empty() && s.share.is_empty()))
            .take(MAX_SLOTS + 1)
            .collect();
    }

    /// Every slot row the editor shows: those typed, then blanks up to the most allowed.
    pub fn slot_rows(&self) -> Vec<SlotRow> {
        let mut rows = self.slots.clone();
        while rows.len() < MAX_SLOTS {
            rows.push(SlotRow::default());
        }
        rows
    }

    pub fn no_bedtime_slot(&self) -> bool {
        !self.slots.iter().any(|s| s.bedtime)
    }

    pub fn previewing(&self) -> bool {
        self.intent == "preview"
    }

    /// The form as the use cases take it; numbers that cannot be read are named first.
    fn request(&self) -> Result<PlanRequest, FieldErrors> {
        let mut errors = FieldErrors::new();
        let e = &mut errors;
        let generator = GeneratorInput {
            kind: self.generator_kind.trim().to_owned(),
            start_mg: number(e, "generator.start_mg", &self.start_mg),
            percent: number(e, "generator.percent", &self.percent),
            amount_mg: number(e, "generator.amount_mg", &self.amount_mg),
            interval_days: whole(e, "generator.interval_days", &self.interval_days),
            min_mg: number(e, "generator.min_mg", &self.min_mg),
            end_mg: number(e, "generator.end_mg", &self.end_mg),
            start_date: self.start_date.trim().to_owned(),
        };
        let batch_id = match self.batch_id.trim() {
            "" => None,
            raw => match raw.parse::<BatchId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    e.push("batch_id", "choose a batch from the list");
                    None
                }
            },
        };
        let round_to = number(e, "round_to", &self.round_to);
        let mut slots = Vec::with_capacity(self.slots.len());
        for (index, slot) in self.slots.iter().enumerate() {
            let share = number(e, &format!("slots[{index}]"), &slot.share);
            slots.push(SlotInput {
                time: slot.time.clone(),
                share: share.map(|percent| percent / 100.0),
                bedtime: slot.bedtime,
            });
        }
        if !slots.is_empty() && slots.iter().all(|s| s.share.is_some()) {
            let total: f64 = slots.iter().filter_map(|s| s.share).sum::<f64>() * 100.0;
            if (total - 100.0).abs() > 0.5 {
                e.push(
                    "slots",
                    format!(
                        "the shares add up to {} %; they must add up to 100 % (or leave every share empty to split the day evenly)",
                        mg_text(total)
                    ),
                );
            }
        }
        let within_days =
            whole(e, "holds.within_days", &self.within_days).and_then(|d| u32::try_from(d).ok());
        let sows_rise = number(e, "holds.sows_rise", &self.sows_rise);
        let cows_at_least = number(e, "holds.cows_at_least", &self.cows_at_least);
        let craving_rise = number(e, "holds.craving_rise", &self.craving_rise);
        let sleep_efficiency_drop = number(
            e,
            "holds.sleep_efficiency_drop",
            &self.sleep_efficiency_drop,
        );
        for (field, raw) in [
            ("holds.within_days", &self.within_days),
            ("holds.sows_rise", &self.sows_rise),
            ("holds.cows_at_least", &self.cows_at_least),
            ("holds.craving_rise", &self.craving_rise),
            ("holds.sleep_efficiency_drop", &self.sleep_efficiency_drop),
        ] {
            if raw.trim().is_empty() {
                e.push(field, "give a number: every threshold is part of the plan");
            }
        }
        let holds = match (
            within_days,
            sows_rise,
            cows_at_least,
            craving_rise,
            sleep_efficiency_drop,
        ) {
            (
                Some(within_days),
                Some(sows_rise),
                Some(cows_at_least),
                Some(craving_rise),
                Some(sleep_efficiency_drop),
            ) => Some(HoldSettings {
                within_days,
                sows_rise,
                cows_at_least,
                craving_rise,
                sleep_efficiency_drop,
            }),
            _ => None,
        };
        let adjustments = if self.adjustments.trim().is_empty() {
            Vec::new()
        } else {
            match serde_json::from_str(&self.adjustments) {
                Ok(adjustments) => adjustments,
                Err(_) => {
                    e.push(
                        "adjustments",
                        "the holds and step-backs of this version could not be read: draw it again from the plan's page",
                    );
                    Vec::new()
                }
            }
        };
        let per_dose_max_mg = number(e, "per_dose_max_mg", &self.per_dose_max_mg);
        let per_day_max_mg = number(e, "per_day_max_mg", &self.per_day_max_mg);
        let transition_to = Some(self.transition_to.trim().to_owned()).filter(|t| !t.is_empty());
        let request = PlanRequest {
            schedule: ScheduleRequest {
                generator,
                batch_id,
                round_to,
                slots: Some(slots),
                adjustments,
            },
            fields: PlanFieldsInput {
                kind: self.kind.trim().to_owned(),
                transition_to,
                per_dose_max_mg,
                per_day_max_mg,
                rationale: self.rationale.clone(),
                holds,
            },
        };
        errors.into_result(|| request)
    }
}

/// An assumed-batch option: the clinic's batches with a mitragynine assay.
pub struct BatchOption {
    pub value: String,
    pub label: String,
}

/// A recalled batch is offered only when the version already assumes it, and says so.
async fn batch_options(
    state: &AppState,
    user: &Authenticated,
    selected: &str,
) -> Result<Vec<BatchOption>, PageError> {
    let (products, batches) = speciosa_app::products::catalogue(&state.app, user).await?;
    let mut options: Vec<BatchOption> = batches
        .iter()
        .filter(|b| !b.recalled || b.id.to_string() == selected)
        .filter_map(|b| {
            let per_g = b
                .assay
                .as_ref()
                .and_then(|a| a.alkaloids.mitragynine_mg_per_g)
                .filter(|v| *v > 0.0)?;
            let product = products.iter().find(|p| p.id == b.product_id)?;
            let d = &product.details;
            let content = match (d.form, d.unit_mass_g) {
                (ProductForm::Capsule | ProductForm::Tablet, Some(mass)) if mass > 0.0 => {
                    let unit = if d.form == ProductForm::Capsule {
                        "capsule"
                    } else {
                        "tablet"
                    };
                    format!("{} mg mitragynine per {unit}", mg_text(per_g * mass))
                }
                (ProductForm::Capsule | ProductForm::Tablet, _) => return None,
                (ProductForm::Liquid, _) => format!("{} mg mitragynine per mL", mg_text(per_g)),
                _ => format!("{} mg mitragynine per g", mg_text(per_g)),
            };
            let recalled = if b.recalled { ", recalled" } else { "" };
            Some(BatchOption {
                value: b.id.to_string(),
                label: format!("{}, lot {} ({content}){recalled}", d.name, b.lot),
            })
        })
        .collect();
    options.sort_by_key(|o| o.label.to_lowercase());
    // A batch the version assumed that can no longer carry a plan stays chosen, so drawing
    // a new version never drops it silently; saving names what is wrong with it.
    if !selected.is_empty() && !options.iter().any(|o| o.value == selected) {
        options.insert(
            0,
            BatchOption {
                value: selected.to_owned(),
                label: "The batch assumed so far (no longer an assayed batch of the catalogue)"
                    .into(),
            },
        );
    }
    Ok(options)
}

#[derive(Template)]
#[template(path = "plans/editor.html")]
struct EditorPage {
    nav: Nav,
    patient_name: String,
    patient_id: String,
    heading: String,
    /// Where the form posts.
    action: String,
    /// Shown above the form (a new version drawn from another, a signed version refused).
    intro: Option<String>,
    form: PlanForm,
    errors: FormErrors,
    kinds: Vec<Choice>,
    transitions: Vec<Choice>,
    shapes: Vec<Choice>,
    batches: Vec<BatchOption>,
    hold_evidence: &'static str,
    preview: Option<PreviewView>,
    cancel_href: String,
}

impl EditorPage {
    fn respond(&self) -> Result<Response, PageError> {
        Ok((self.errors.status, render(self)?).into_response())
    }
}

struct Editor {
    heading: String,
    action: String,
    intro: Option<String>,
    cancel_href: String,
}

async fn editor_page(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    editor: Editor,
    form: PlanForm,
    errors: FormErrors,
    preview: Option<Preview>,
) -> Result<Response, PageError> {
    let batches = batch_options(state, user, form.batch_id.trim()).await?;
    EditorPage {
        nav: Nav::for_user(user).at("/patients"),
        patient_name: patient.details.display_name.as_str().to_owned(),
        patient_id: patient.id.to_string(),
        heading: editor.heading,
        action: editor.action,
        intro: editor.intro,
        form,
        errors,
        kinds: PlanKind::ALL
            .iter()
            .map(|k| Choice {
                value: k.as_str(),
                label: k.label().to_owned(),
            })
            .collect(),
        transitions: TransitionTo::ALL
            .iter()
            .map(|t| Choice {
                value: t.as_str(),
                label: t.label().to_owned(),
            })
            .collect(),
        shapes: GeneratorKind::ALL
            .iter()
            .map(|k| Choice {
                value: k.code(),
                label: shape_label(*k).to_owned(),
            })
            .collect(),
        batches,
        hold_evidence: HoldSettings::EVIDENCE,
        preview: preview.map(|p| PreviewView::new(&p)),
        cancel_href: editor.cancel_href,
    }
    .respond()
}

/// The patient whose plans the caller may manage (care team clinicians), refused and
/// audited otherwise as drafting a plan is.
async fn managed_patient(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    audit_action: &str,
) -> Result<Patient, PageError> {
    Ok(speciosa_app::access::patient_record(
        &state.app,
        user,
        id,
        PatientAction::ManagePlans,
        audit_action,
    )
    .await?)
}

fn plan_id(raw: &str) -> Result<PlanId, PageError> {
    raw.parse().map_err(|_| ApiError::not_found("plan").into())
}

fn today_of(patient: &Patient) -> Date {
    speciosa_app::medications::patient_today(patient)
}

#[derive(Deserialize, Default)]
pub struct FromQuery {
    from: Option<String>,
}

/// `GET /patients/{id}/plans/new[?from={plan_id}]`: a blank editor, or one filled from a
/// version (a new version that will supersede it once signed).
pub async fn new_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<FromQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let patient = managed_patient(&state, &user, id, "plan.create").await?;
    let from = query.ok().and_then(|q| q.0.from);
    let (form, intro) = match from.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(raw) => {
            let (owner, record) = plans::read_plan(&state.app, &user, plan_id(raw)?).await?;
            if owner.id != id {
                return Err(ApiError::not_found("plan").into());
            }
            (
                PlanForm::of(&PlanRequest::of(&record.content)),
                Some(format!(
                    "Filled from version {} ({}). Saving makes a new draft; signing it supersedes the active version, which stays readable.",
                    record.version,
                    record.status.as_str()
                )),
            )
        }
        None => (PlanForm::blank(today_of(&patient)), None),
    };
    let editor = Editor {
        heading: format!("New plan: {}", patient.details.display_name.as_str()),
        action: format!("/patients/{id}/plans"),
        intro,
        cancel_href: format!("/patients/{id}/plans"),
    };
    editor_page(
        &state,
        &user,
        &patient,
        editor,
        form,
        FormErrors::none(),
        None,
    )
    .await
}

/// The editor's two buttons: preview (nothing saved) or save.
enum Outcome {
    Saved(PlanId),
    Previewed(Box<Preview>),
}

async fn submit(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    form: &PlanForm,
    save: impl AsyncFnOnce(&PlanRequest) -> Result<PlanRecord, AppError>,
) -> Result<Outcome, ApiError> {
    let request = form.request().map_err(ApiError::from)?;
    if form.previewing() {
        Ok(Outcome::Previewed(Box::new(
            plans::preview(&state.app, user, id, &request.schedule).await?,
        )))
    } else {
        Ok(Outcome::Saved(save(&request).await?.id))
    }
}

/// `POST /patients/{id}/plans`: preview, or save a new draft and go to its page.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<PlanForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm {
        user,
        mut form,
        pairs,
    } = submitted;
    form.read_slots(&pairs);
    let outcome = submit(&state, &user, id, &form, async |request| {
        plans::create_draft(&state.app, &user, id, request).await
    })
    .await;
    let (errors, preview) = match outcome {
        Ok(Outcome::Saved(saved)) => {
            return Ok(Redirect::to(&format!("/plans/{saved}?saved=draft")).into_response());
        }
        Ok(Outcome::Previewed(preview)) => (FormErrors::none(), Some(*preview)),
        Err(error) => (FormErrors::from_api(error, LABELS)?, None),
    };
    let patient = managed_patient(&state, &user, id, "plan.create").await?;
    let editor = Editor {
        heading: format!("New plan: {}", patient.details.display_name.as_str()),
        action: format!("/patients/{id}/plans"),
        intro: None,
        cancel_href: format!("/patients/{id}/plans"),
    };
    editor_page(&state, &user, &patient, editor, form, errors, preview).await
}

/// `GET /plans/{id}/edit`: the editor for a draft. A signed version never changes, so its
/// edit address leads to a new version drawn from it.
pub async fn edit_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = plan_id(&id)?;
    let (patient, record) = plans::read_plan(&state.app, &user, id).await?;
    managed_patient(&state, &user, patient.id, "plan.update").await?;
    if record.status != PlanStatus::Draft {
        return Ok(
            Redirect::to(&format!("/patients/{}/plans/new?from={id}", patient.id)).into_response(),
        );
    }
    let editor = Editor {
        heading: format!("Edit draft version {}", record.version),
        action: format!("/plans/{id}"),
        intro: None,
        cancel_href: format!("/plans/{id}"),
    };
    let form = PlanForm::of(&PlanRequest::of(&record.content));
    editor_page(
        &state,
        &user,
        &patient,
        editor,
        form,
        FormErrors::none(),
        None,
    )
    .await
}

/// `POST /plans/{id}`: preview, or replace the draft. A signed version is refused (409)
/// with the editor shown again, now saving as a new version.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<PlanForm>,
) -> Result<Response, PageError> {
    let id = plan_id(&id)?;
    let PageForm {
        user,
        mut form,
        pairs,
    } = submitted;
    form.read_slots(&pairs);
    let (patient, record) = plans::read_plan(&state.app, &user, id).await?;
    managed_patient(&state, &user, patient.id, "plan.update").await?;
    let outcome = submit(&state, &user, patient.id, &form, async |request| {
        plans::replace_draft(&state.app, &user, id, request).await
    })
    .await;
    let (errors, preview) = match outcome {
        Ok(Outcome::Saved(_)) => {
            return Ok(Redirect::to(&format!("/plans/{id}?saved=edited")).into_response());
        }
        Ok(Outcome::Previewed(preview)) => (FormErrors::none(), Some(*preview)),
        Err(error) => (FormErrors::from_api(error, LABELS)?, None),
    };
    let editor = if record.status == PlanStatus::Draft {
        Editor {
            heading: format!("Edit draft version {}", record.version),
            action: format!("/plans/{id}"),
            intro: None,
            cancel_href: format!("/plans/{id}"),
        }
    } else {
        Editor {
            heading: format!("Version {} is {}", record.version, record.status.as_str()),
            action: format!("/patients/{}/plans", patient.id),
            intro: Some(
                "A signed version never changes. Your changes are kept below: saving them makes a new draft, which supersedes this version once signed."
                    .into(),
            ),
            cancel_href: format!("/plans/{id}"),
        }
    };
    editor_page(&state, &user, &patient, editor, form, errors, preview).await
}

// ---------------------------------------------------------------------------
// The preview: a table per step and the whole-plan curve.

/// `8.33 capsules`, `1 capsule`, `2.5 g`.
fn quantity(value: f64, unit: &str) -> String {
    let text = crate::pages::charts::number_text(value);
    match unit {
        "capsule" | "tablet" if text != "1" => format!("{text} {unit}s"),
        _ => format!("{text} {unit}"),
    }
}

/// `2 capsules at 08:00 and 1 at 21:30 (bedtime)`; `none` for a day without kratom.
fn slots_text(slots: &[(Time, f64, bool)], unit: &str) -> String {
    if slots.iter().all(|(_, units, _)| *units <= 0.0) {
        return "none".into();
    }
    let parts: Vec<String> = slots
        .iter()
        .enumerate()
        .map(|(index, (time, units, bedtime))| {
            let amount = if index == 0 {
                quantity(*units, unit)
            } else {
                crate::pages::charts::number_text(*units)
            };
            let mark = if *bedtime { " (bedtime)" } else { "" };
            format!("{amount} at {}{mark}", time.strftime("%H:%M"))
        })
        .collect();
    match parts.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn ng(value: f64) -> String {
    mg_text(value)
}

/// One step of the preview as its table row shows it.
pub struct StepRow {
    pub from: String,
    pub until: String,
    pub exact_mg: String,
    pub planned_mg: String,
    /// `exact 8.33 capsules → 8`.
    pub units: String,
    pub slots: String,
    pub trough: String,
    pub peak: String,
    pub bedtime: Option<String>,
    pub band: String,
    pub drop: Option<String>,
}

/// What a preview shows: its cautions, the steps and the curve.
pub struct PreviewView {
    pub notes: Vec<&'static str>,
    pub rows: Vec<StepRow>,
    pub unit: String,
    pub batch: Option<String>,
    pub bedtime: Option<String>,
    pub chart: Option<DayChart>,
    pub ticks: Vec<Tick>,
}

impl PreviewView {
    pub fn new(preview: &Preview) -> PreviewView {
        let unit = preview.schedule.unit().to_owned();
        let rounded = preview.schedule.round_to.is_some();
        let rows = preview
            .steps
            .iter()
            .map(|s| {
                let until = match s.until {
                    Some(next) => next.yesterday().map(|d| d.to_string()).unwrap_or_default(),
                    None => "onwards".into(),
                };
                let units = if rounded {
                    format!(
                        "exact {} → {}",
                        quantity(s.step.exact_units, &unit),
                        crate::pages::charts::number_text(s.step.units)
                    )
                } else {
                    quantity(s.step.units, &unit)
                };
                StepRow {
                    from: s.step.from.to_string(),
                    until,
                    exact_mg: mg_text(s.step.exact_mg),
                    planned_mg: mg_text(s.step.planned_mg),
                    units,
                    slots: slots_text(&s.slot_units, &unit),
                    trough: ng(s.predicted.trough_ng_ml),
                    peak: ng(s.predicted.peak_ng_ml),
                    bedtime: s.predicted.bedtime_ng_ml.map(ng),
                    band: format!(
                        "{}–{}",
                        ng(s.predicted.band_5_ng_ml),
                        ng(s.predicted.band_95_ng_ml)
                    ),
                    drop: s.trough_drop_percent.map(|p| {
                        if p >= 0.0 {
                            format!("−{} %", mg_text(p))
                        } else {
                            format!("+{} %", mg_text(-p))
                        }
                    }),
                }
            })
            .collect();
        let (chart, ticks) = match curve_chart(preview) {
            Some((chart, ticks)) => (Some(chart), ticks),
            None => (None, Vec::new()),
        };
        PreviewView {
            notes: preview.notes.clone(),
            rows,
            unit,
            batch: preview.schedule.batch.as_ref().map(|b| b.label.clone()),
            bedtime: preview.bedtime.map(|t| t.strftime("%H:%M").to_string()),
            chart,
            ticks,
        }
    }

    pub fn has_bedtime(&self) -> bool {
        self.rows.iter().any(|r| r.bedtime.is_some())
    }
}

/// The typical patient's curve over the whole plan, a faint line at each step change and,
/// on each step's last day, the bedtime (or trough) prediction with its 5–95 % band.
fn curve_chart(preview: &Preview) -> Option<(DayChart, Vec<Tick>)> {
    let first = preview.steps.first()?.step.from;
    let last_from = preview.steps.last()?.step.from;
    let end = last_from
        .checked_add(jiff::Span::new().days(i64::from(LAST_STEP_DAYS) - 1))
        .ok()?;
    let axis = DayAxis::new(first, end)?;
    let highest = preview
        .curve
        .iter()
        .map(|(_, v)| *v)
        .chain(preview.steps.iter().map(|s| s.predicted.band_95_ng_ml))
        .fold(0.0, f64::max);
    let top = nice_ceiling(highest);
    let size = Size::Tall;
    let mut chart = DayChart::new(
        "plan-curve",
        "Predicted mitragynine, typical patient",
        size,
        axis,
        0.0,
        top,
    );
    chart.label_y(&[0.0, top / 2.0, top], "");
    let points: Vec<(f64, f64)> = preview
        .curve
        .iter()
        .filter_map(|(at, v)| axis.x_at(*at).map(|x| (x, *v)))
        .collect();
    chart.line(&points, "typical");
    chart.grid = preview
        .steps
        .iter()
        .skip(1)
        .filter_map(|s| axis.index(s.step.from))
        .map(|i| format!("{:.1}", axis.left(i)))
        .collect();
    for s in &preview.steps {
        let last_day = match s.until {
            Some(next) => next.yesterday().ok(),
            None => Some(end),
        };
        let Some(last_day) = last_day else { continue };
        let at = preview.bedtime.unwrap_or(Time::constant(8, 0, 0, 0));
        let Some(x) = axis.x_at(last_day.to_datetime(at)) else {
            continue;
        };
        // The band spans the step's last day: drawn under the curve, it stays visible.
        let day_start = axis.x_at(last_day.to_datetime(Time::midnight()));
        if let Some(left) = day_start {
            let right = left + axis.column();
            chart.area(&[
                (left, s.predicted.band_5_ng_ml, s.predicted.band_95_ng_ml),
                (right, s.predicted.band_5_ng_ml, s.predicted.band_95_ng_ml),
            ]);
        }
        if let Some(bedtime) = s.predicted.bedtime_ng_ml {
            chart.mark(
                x,
                bedtime,
                "bedtime",
                format!(
                    "Step from {}: {} ng/mL at bedtime on its last day",
                    s.step.from,
                    ng(bedtime)
                ),
                None,
            );
        }
    }
    chart.description = format!(
        "Predicted mitragynine in plasma for the typical patient from {first} to {end}, in ng/mL, with a line at each of the {} step changes.",
        preview.steps.len().saturating_sub(1)
    );
    chart.key("typical", "Typical patient (ng/mL)");
    if preview.bedtime.is_some() {
        chart.key("bedtime", "At bedtime, each step's last day");
    }
    chart.key(
        "band",
        if preview.bedtime.is_some() {
            "5–95 % of 1,000 virtual patients at bedtime, each step's last day"
        } else {
            "5–95 % of 1,000 virtual patients at the trough, each step's last day"
        },
    );
    let ticks = axis.ticks();
    Some((chart, ticks))
}

// ---------------------------------------------------------------------------
// One version.

/// A version's content as the page lists it.
pub struct ContentView {
    pub kind: String,
    pub shape: String,
    pub fields: Vec<(&'static str, String)>,
    pub slots: String,
    pub rationale: String,
    pub holds: Vec<(&'static str, String)>,
}

fn generator_fields(content: &PlanContent) -> Vec<(&'static str, String)> {
    let g = &content.schedule.generator;
    let mg = |v: Option<f64>| v.map(|v| format!("{} mg", mg_text(v)));
    let mut fields = vec![
        ("Starting daily dose", format!("{} mg", mg_text(g.start_mg))),
        ("Start date", g.start_date.to_string()),
        ("Days between steps", g.interval_days.to_string()),
    ];
    if let Some(p) = g.percent {
        fields.push(("Percent per step", format!("{} %", mg_text(p))));
    }
    if let Some(a) = mg(g.amount_mg) {
        fields.push(("Amount per step", a));
    }
    if let Some(m) = mg(g.min_mg) {
        fields.push(("Lowest step", m));
    }
    fields.push(("End dose", mg(g.end_mg).unwrap_or_else(|| "0 mg".into())));
    fields
}

fn kind_text(content: &PlanContent) -> String {
    match content.transition_to {
        Some(to) => format!("{} to {}", content.kind.label(), to.as_str()),
        None => content.kind.label().to_owned(),
    }
}

fn shape_text(code: &str) -> String {
    GeneratorKind::from_code(code)
        .map(|k| shape_label(k).to_owned())
        .unwrap_or_else(|| humanize(code))
}

fn content_slots(content: &PlanContent) -> String {
    content
        .schedule
        .slots
        .iter()
        .map(|s| {
            format!(
                "{} ({} %){}",
                s.time.strftime("%H:%M"),
                mg_text(s.share * 100.0),
                if s.bedtime { ", bedtime" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn holds_fields(holds: &HoldSettings) -> Vec<(&'static str, String)> {
    vec![
        ("Days watched after a step", holds.within_days.to_string()),
        ("SOWS rise of at least", mg_text(holds.sows_rise)),
        ("COWS at least", mg_text(holds.cows_at_least)),
        ("Craving rise of at least", mg_text(holds.craving_rise)),
        (
            "Sleep efficiency drop of at least",
            format!("{} points", mg_text(holds.sleep_efficiency_drop)),
        ),
    ]
}

impl ContentView {
    fn new(content: &PlanContent) -> ContentView {
        let s = &content.schedule;
        let mut fields = generator_fields(content);
        fields.push((
            "Assumed batch",
            s.batch
                .as_ref()
                .map(|b| b.label.clone())
                .unwrap_or_else(|| "None: targets in mg".into()),
        ));
        fields.push((
            "Round to",
            s.round_to
                .map(|r| quantity(r, s.unit()))
                .unwrap_or_else(|| "Not rounded".into()),
        ));
        fields.push((
            "Per-dose maximum",
            format!("{} mg", mg_text(content.per_dose_max_mg)),
        ));
        fields.push((
            "Per-day maximum",
            format!("{} mg", mg_text(content.per_day_max_mg)),
        ));
        for adjustment in &s.adjustments {
            let what = match adjustment {
                speciosa_core::plan::Adjustment::Hold { .. } => "Hold",
                speciosa_core::plan::Adjustment::StepBack { .. } => "Step back",
            };
            let reason = adjustment.reason();
            fields.push((
                what,
                format!(
                    "from {} for {} days{}{}",
                    adjustment.on(),
                    adjustment.days(),
                    if reason.is_empty() { "" } else { ": " },
                    reason
                ),
            ));
        }
        ContentView {
            kind: kind_text(content),
            shape: shape_text(&s.generator.kind),
            fields,
            slots: content_slots(content),
            rationale: content.rationale.clone(),
            holds: holds_fields(&content.holds),
        }
    }
}

/// The signature as the page shows it.
pub struct SignatureView {
    pub by: String,
    pub at: String,
    pub statement: String,
    pub sha256: String,
    pub sha256_short: String,
}

/// Names for the clinicians who may have signed: the care team, and for staff the clinic's
/// active clinicians (a signer may have left the team since).
async fn names(
    state: &AppState,
    user: &Authenticated,
    patient: PatientId,
) -> Result<Vec<(UserId, String)>, PageError> {
    let (_, team) = speciosa_app::patients::read_patient(&state.app, user, patient).await?;
    let mut names: Vec<(UserId, String)> = team
        .into_iter()
        .map(|m| (m.clinician_id, m.display_name))
        .collect();
    if user.actor.role == Role::Clinician {
        for c in speciosa_app::patients::active_clinicians(&state.app, user).await? {
            names.push((c.id, c.display_name));
        }
    }
    Ok(names)
}

fn name_of(names: &[(UserId, String)], id: UserId) -> String {
    names
        .iter()
        .find(|(n, _)| *n == id)
        .map(|(_, name)| name.clone())
        .unwrap_or_else(|| "a clinician no longer at the clinic".into())
}

fn signature_view(
    record: &PlanRecord,
    names: &[(UserId, String)],
    clock: &Clock,
) -> Option<SignatureView> {
    record.signature.as_ref().map(|s| SignatureView {
        by: name_of(names, s.signed_by),
        at: clock.day_time(s.signed_at),
        statement: s.statement.clone(),
        sha256: s.content_sha256.clone(),
        sha256_short: s.content_sha256.chars().take(12).collect(),
    })
}

/// The signing form as typed (the password is never shown back).
#[derive(Deserialize, Default)]
pub struct SignForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp_code: String,
    #[serde(default)]
    statement: String,
    #[serde(default)]
    naloxone_challenge: String,
    #[serde(default)]
    override_reason: String,
}

/// The signing form's state on the page.
pub struct SignView {
    pub statement: String,
    pub naloxone_challenge: String,
    pub override_reason: String,
    pub errors: FormErrors,
    /// For a naltrexone transition not yet clear to start: why.
    pub gate: Option<String>,
    pub naltrexone: bool,
}

#[derive(Template)]
#[template(path = "plans/version.html")]
struct VersionPage {
    nav: Nav,
    patient_name: String,
    patient_id: String,
    plan_id: String,
    version: i64,
    status: &'static str,
    status_label: String,
    manage: bool,
    notice: Option<&'static str>,
    content: ContentView,
    preview: PreviewView,
    signature: Option<SignatureView>,
    start_gate_note: Option<String>,
    created: String,
    created_by: String,
    previous: Option<(String, i64)>,
    sign: Option<SignView>,
}

fn status_label(status: PlanStatus) -> String {
    match status {
        PlanStatus::Signed => "Signed, active".into(),
        other => humanize(other.as_str()),
    }
}

/// The version the patient had before `record`, as the caller may see them.
fn previous_of(record: &PlanRecord, history: &[PlanRecord]) -> Option<(String, i64)> {
    history
        .iter()
        .filter(|p| p.version < record.version)
        .max_by_key(|p| p.version)
        .map(|p| (p.id.to_string(), p.version))
}

async fn version_page(
    state: &AppState,
    user: &Authenticated,
    id: PlanId,
    notice: Option<&'static str>,
    attempt: Option<(SignForm, FormErrors)>,
) -> Result<Response, PageError> {
    let (patient, record) = plans::read_plan(&state.app, user, id).await?;
    let preview = plans::preview_of(&record.content, &patient).await?;
    let (_, history) = plans::plan_history(&state.app, user, patient.id).await?;
    let names = names(state, user, patient.id).await?;
    let clock = Clock::patient(&patient);
    let manage = user.actor.role == Role::Clinician;
    let naltrexone = record.content.transition_to == Some(TransitionTo::Naltrexone);
    let sign = if manage && record.status == PlanStatus::Draft {
        let gate = if naltrexone {
            let gate = plans::naltrexone_gate(&state.app, &patient).await?;
            (!gate.is_clear()).then(|| gate.explanation())
        } else {
            None
        };
        let (form, errors) = attempt.unwrap_or_else(|| {
            (
                SignForm {
                    statement: STANDARD_STATEMENT.into(),
                    ..SignForm::default()
                },
                FormErrors::none(),
            )
        });
        Some(SignView {
            statement: form.statement,
            naloxone_challenge: form.naloxone_challenge,
            override_reason: form.override_reason,
            errors,
            gate,
            naltrexone,
        })
    } else {
        None
    };
    let status = sign.as_ref().map_or(StatusCode::OK, |s| s.errors.status);
    let page = VersionPage {
        nav: Nav::for_user(user).at(if manage { "/patients" } else { "/home" }),
        patient_name: patient.details.display_name.as_str().to_owned(),
        patient_id: patient.id.to_string(),
        plan_id: id.to_string(),
        version: record.version,
        status: record.status.as_str(),
        status_label: status_label(record.status),
        manage,
        notice,
        content: ContentView::new(&record.content),
        preview: PreviewView::new(&preview),
        signature: signature_view(&record, &names, &clock),
        start_gate_note: record.start_gate_note.clone(),
        created: clock.day_time(record.created_at),
        created_by: name_of(&names, record.created_by),
        previous: previous_of(&record, &history),
        sign,
    };
    Ok((status, render(&page)?).into_response())
}

/// `GET /plans/{id}`: one version with its preview and signature, or the signing form.
pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = plan_id(&id)?;
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("draft") => Some("Draft saved. Only the care team sees it until it is signed."),
        Some("edited") => Some("Draft changed."),
        Some("signed") => Some(
            "Plan signed. It is now the patient's active plan; the version it replaced stays readable.",
        ),
        _ => None,
    };
    version_page(&state, &user, id, notice, None).await
}

/// `POST /plans/{id}/sign`: the electronic signature. Any refusal shows the form again
/// (a wrong password leaves the version a draft).
pub async fn sign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<SignForm>,
) -> Result<Response, PageError> {
    let id = plan_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    let given = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    let signing = Signing {
        password: form.password.clone(),
        totp_code: given(&form.totp_code),
        statement: form.statement.clone(),
        naloxone_challenge: given(&form.naloxone_challenge),
        override_reason: given(&form.override_reason),
    };
    match plans::sign(&state.app, &user, id, &signing).await {
        Ok(_) => Ok(Redirect::to(&format!("/plans/{id}?saved=signed")).into_response()),
        Err(error) => {
            let errors = FormErrors::from_api(error.into(), SIGN_LABELS)?;
            version_page(&state, &user, id, None, Some((form, errors))).await
        }
    }
}

/// `POST /plans/{id}/discard`: throws a draft away.
pub async fn discard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<crate::pages::NoFields>,
) -> Result<Response, PageError> {
    let id = plan_id(&id)?;
    let PageForm { user, .. } = submitted;
    let record = plans::discard_draft(&state.app, &user, id).await?;
    Ok(Redirect::to(&format!(
        "/patients/{}/plans?saved=discarded",
        record.patient_id
    ))
    .into_response())
}

/// The alert page's offer: a hold or a step back, as typed.
#[derive(Deserialize, Default)]
pub struct AdjustmentForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    on: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    reason: String,
}

/// `POST /plans/{id}/adjustments`: draws a hold or a step back into a new draft of the
/// active plan and opens it for review and signing.
pub async fn adjust(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<AdjustmentForm>,
) -> Result<Response, PageError> {
    let id = plan_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    let days = form.days.trim().parse::<i64>().ok();
    let adjustment =
        speciosa_core::plan::Adjustment::parse(0, &form.kind, &form.on, days, &form.reason)
            .map_err(|errors| {
                let mut plain = speciosa_core::FieldErrors::new();
                for error in errors.errors {
                    plain.push(error.field.replace("adjustments[0].", ""), error.detail);
                }
                ApiError::from(speciosa_app::AppError::Invalid(plain))
            })?;
    let draft = plans::draft_adjustment(&state.app, &user, id, adjustment).await?;
    Ok(Redirect::to(&format!("/plans/{}", draft.id)).into_response())
}

// ---------------------------------------------------------------------------
// The history.

pub struct HistoryRow {
    pub id: String,
    pub version: i64,
    pub status: &'static str,
    pub status_label: String,
    pub summary: String,
    pub created: String,
    pub signed: Option<String>,
}

/// `Taper, 120 → 0 mg per day in 11 steps from 2026-12-01`.
pub fn summary(content: &PlanContent) -> String {
    let steps = content.schedule.planned_steps();
    let start = content.schedule.generator.start_date;
    match (steps.first(), steps.last()) {
        (Some(first), Some(last)) if steps.len() > 1 => format!(
            "{}: {} → {} mg per day in {} steps from {start}",
            kind_text(content),
            mg_text(first.planned_mg),
            mg_text(last.planned_mg),
            steps.len()
        ),
        (Some(first), _) => format!(
            "{}: {} from {start}",
            kind_text(content),
            crate::pages::mg_per_day_text(first.planned_mg)
        ),
        _ => kind_text(content),
    }
}

pub struct ActiveView {
    pub id: String,
    pub version: i64,
    pub summary: String,
    pub signature: Option<SignatureView>,
}

#[derive(Template)]
#[template(path = "plans/history.html")]
struct HistoryPage {
    nav: Nav,
    patient_name: String,
    patient_id: String,
    manage: bool,
    notice: Option<&'static str>,
    active: Option<ActiveView>,
    rows: Vec<HistoryRow>,
}

/// `GET /patients/{id}/plans`: the active version on top, then every version newest first
/// (signed ones only, for the patient).
pub async fn history(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let (patient, versions) = plans::plan_history(&state.app, &user, id).await?;
    let names = names(&state, &user, id).await?;
    let clock = Clock::patient(&patient);
    let active = versions
        .iter()
        .find(|p| p.status == PlanStatus::Signed)
        .map(|p| ActiveView {
            id: p.id.to_string(),
            version: p.version,
            summary: summary(&p.content),
            signature: signature_view(p, &names, &clock),
        });
    let rows = versions
        .iter()
        .map(|p| HistoryRow {
            id: p.id.to_string(),
            version: p.version,
            status: p.status.as_str(),
            status_label: status_label(p.status),
            summary: summary(&p.content),
            created: clock.minute(p.created_at),
            signed: p.signature.as_ref().map(|s| {
                format!(
                    "{} by {}",
                    clock.minute(s.signed_at),
                    name_of(&names, s.signed_by)
                )
            }),
        })
        .collect();
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("discarded") => Some("Draft discarded. It stays in the record, marked discarded."),
        _ => None,
    };
    let manage = user.actor.role == Role::Clinician;
    let page = HistoryPage {
        nav: Nav::for_user(&user).at(if manage { "/patients" } else { "/home" }),
        patient_name: patient.details.display_name.as_str().to_owned(),
        patient_id: id.to_string(),
        manage,
        notice,
        active,
        rows,
    };
    Ok(render(&page)?.into_response())
}

// ---------------------------------------------------------------------------
// The differences between two versions.

pub struct DiffRow {
    pub label: String,
    pub before: String,
    pub after: String,
    pub changed: bool,
}

pub struct StepDiff {
    pub from: String,
    pub before: String,
    pub after: String,
    /// `added`, `removed`, `changed` or `same`.
    pub change: &'static str,
}

fn content_rows(content: &PlanContent) -> Vec<(String, String)> {
    let view = ContentView::new(content);
    let mut rows = vec![
        ("Kind".to_owned(), view.kind),
        ("Schedule shape".to_owned(), view.shape),
    ];
    rows.extend(view.fields.into_iter().map(|(l, v)| (l.to_owned(), v)));
    rows.push(("Dose times".into(), view.slots));
    rows.push(("Rationale".into(), view.rationale));
    rows.extend(
        view.holds
            .into_iter()
            .map(|(l, v)| (format!("Hold: {}", sentence_lower(l)), v)),
    );
    rows
}

fn sentence_lower(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Field by field, in the order the version page lists them.
pub fn diff_rows(before: &PlanContent, after: &PlanContent) -> Vec<DiffRow> {
    let (left, right) = (content_rows(before), content_rows(after));
    let mut rows: Vec<DiffRow> = left
        .iter()
        .map(|(label, value)| {
            let other = right
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            DiffRow {
                label: label.clone(),
                changed: *value != other,
                before: value.clone(),
                after: other,
            }
        })
        .collect();
    for (label, value) in &right {
        if !left.iter().any(|(l, _)| l == label) {
            rows.push(DiffRow {
                label: label.clone(),
                before: String::new(),
                after: value.clone(),
                changed: true,
            });
        }
    }
    rows
}

fn step_text(content: &PlanContent, planned_mg: f64, units: f64) -> String {
    let unit = content.schedule.unit();
    if unit == "mg" {
        format!("{} mg", mg_text(planned_mg))
    } else {
        format!("{} mg ({})", mg_text(planned_mg), quantity(units, unit))
    }
}

/// The planned steps by date: added, removed or changed.
pub fn step_diff(before: &PlanContent, after: &PlanContent) -> Vec<StepDiff> {
    let (left, right) = (
        before.schedule.planned_steps(),
        after.schedule.planned_steps(),
    );
    let mut dates: Vec<Date> = left.iter().chain(right.iter()).map(|s| s.from).collect();
    dates.sort();
    dates.dedup();
    dates
        .into_iter()
        .map(|date| {
            let l = left.iter().find(|s| s.from == date);
            let r = right.iter().find(|s| s.from == date);
            let text = |c: &PlanContent, s: Option<&speciosa_core::plan::PlannedStep>| {
                s.map(|s| step_text(c, s.planned_mg, s.units))
                    .unwrap_or_default()
            };
            let (b, a) = (text(before, l), text(after, r));
            let change = match (l, r) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                _ if b != a => "changed",
                _ => "same",
            };
            StepDiff {
                from: date.to_string(),
                before: b,
                after: a,
                change,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "plans/diff.html")]
struct DiffPage {
    nav: Nav,
    patient_name: String,
    patient_id: String,
    this_id: String,
    this_version: i64,
    other: Option<(String, i64)>,
    rows: Vec<DiffRow>,
    steps: Vec<StepDiff>,
}

impl DiffPage {
    pub fn changes(&self) -> usize {
        self.rows.iter().filter(|r| r.changed).count()
            + self.steps.iter().filter(|s| s.change != "same").count()
    }
}

#[derive(Deserialize, Default)]
pub struct AgainstQuery {
    against: Option<String>,
}

/// `GET /plans/{id}/diff[?against={other}]`: field by field against another version of
/// the same patient (by default the one before it); the older version on the left.
pub async fn diff(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<AgainstQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = plan_id(&id)?;
    let (patient, record) = plans::read_plan(&state.app, &user, id).await?;
    let against = query
        .ok()
        .and_then(|q| q.0.against)
        .filter(|a| !a.trim().is_empty());
    let other = match against {
        Some(raw) => {
            let (owner, other) = plans::read_plan(&state.app, &user, plan_id(raw.trim())?).await?;
            if owner.id != patient.id {
                return Err(ApiError::not_found("plan").into());
            }
            Some(other)
        }
        None => {
            let (_, history) = plans::plan_history(&state.app, &user, patient.id).await?;
            history
                .into_iter()
                .filter(|p| p.version < record.version)
                .max_by_key(|p| p.version)
        }
    };
    let manage = user.actor.role == Role::Clinician;
    let (rows, steps) = match &other {
        Some(other) => {
            let (older, newer) = if other.version <= record.version {
                (&other.content, &record.content)
            } else {
                (&record.content, &other.content)
            };
            (diff_rows(older, newer), step_diff(older, newer))
        }
        None => (Vec::new(), Vec::new()),
    };
    let page = DiffPage {
        nav: Nav::for_user(&user).at(if manage { "/patients" } else { "/home" }),
        patient_name: patient.details.display_name.as_str().to_owned(),
        patient_id: patient.id.to_string(),
        this_id: id.to_string(),
        this_version: record.version,
        other: other.map(|o| (o.id.to_string(), o.version)),
        rows,
        steps,
    };
    Ok(render(&page)?.into_response())
}

impl DiffPage {
    /// The column headings, older version first.
    pub fn columns(&self) -> (i64, i64) {
        match &self.other {
            Some((_, v)) if *v > self.this_version => (self.this_version, *v),
            Some((_, v)) => (*v, self.this_version),
            None => (self.this_version, self.this_version),
        }
    }
}

/// The patient record's one line about the plan: the active version's summary, if any.
pub async fn record_line(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
) -> Result<Option<String>, PageError> {
    match plans::current_plan(&state.app, user, id).await {
        Ok((_, record)) => Ok(Some(format!(
            "Version {}: {}",
            record.version,
            summary(&record.content)
        ))),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_amounts_read_as_a_sentence_with_the_unit_once() {
        let slots = [
            (Time::constant(8, 0, 0, 0), 2.0, false),
            (Time::constant(21, 30, 0, 0), 1.0, true),
        ];
        assert_eq!(
            slots_text(&slots, "capsule"),
            "2 capsules at 08:00 and 1 at 21:30 (bedtime)"
        );
        assert_eq!(slots_text(&slots[..1], "g"), "2 g at 08:00");
        assert_eq!(quantity(1.0, "capsule"), "1 capsule");
        assert_eq!(quantity(8.333, "capsule"), "8.33 capsules");
    }

    #[test]
    fn a_decimal_comma_in_a_number_field_is_a_decimal_mark() {
        let form = PlanForm {
            kind: "taper".into(),
            generator_kind: "percent_of_original".into(),
            start_mg: "62,5".into(),
            percent: "10".into(),
            start_date: "2026-12-01".into(),
            slots: vec![
                SlotRow {
                    time: "08:00".into(),
                    share: "66,7".into(),
                    bedtime: false,
                },
                SlotRow {
                    time: "21:30".into(),
                    share: "33.3".into(),
                    bedtime: true,
                },
            ],
            ..PlanForm::with_holds(HoldSettings::default())
        };
        let request = form.request().expect("readable");
        assert_eq!(request.schedule.generator.start_mg, Some(62.5));
        let slots = request.schedule.slots.expect("slots");
        assert!((slots[0].share.unwrap() - 0.667).abs() < 1e-9);
        assert!(slots[1].bedtime);
    }

    #[test]
    fn shares_that_do_not_add_up_to_a_hundred_percent_are_named() {
        let form = PlanForm {
            slots: vec![
                SlotRow {
                    time: "08:00".into(),
                    share: "60".into(),
                    bedtime: false,
                },
                SlotRow {
                    time: "20:00".into(),
                    share: "30".into(),
                    bedtime: false,
                },
            ],
            ..PlanForm::with_holds(HoldSettings::default())
        };
        let errors = form.request().unwrap_err();
        assert!(
            errors
                .errors
                .iter()
                .any(|e| e.field == "slots" && e.detail.contains("90 %"))
        );
    }

    #[test]
    fn repeated_slot_fields_are_read_in_order_with_the_bedtime_radio() {
        let mut form = PlanForm::default();
        let pairs: Vec<(String, String)> = [
            ("slot_time", "08:00"),
            ("slot_share", ""),
            ("slot_time", ""),
            ("slot_share", ""),
            ("slot_time", "21:30"),
            ("slot_share", ""),
            ("slot_bedtime", "2"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        form.read_slots(&pairs);
        assert_eq!(form.slots.len(), 2);
        assert!(form.slots[1].bedtime && !form.slots[0].bedtime);
        assert_eq!(form.slot_rows().len(), MAX_SLOTS);
    }
}
