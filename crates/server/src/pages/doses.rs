//! Dose pages: logging a dose (made for a phone, by the patient or by a clinician on
//! their behalf), the dose log with patient-local daily totals, and corrections and
//! deletions, which are soft and need a reason. The pages record what was taken; they
//! never suggest an amount.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::Deserialize;
use speciosa_app::doses::{BatchSafety, DateRange, DoseRefusal, Unusual, mg_text};
use speciosa_app::plan_checks::PlanExcess;
use speciosa_app::records::{Batch, Dose, Patient, Product};

use crate::pages::legal::DoseLegal;
use speciosa_core::amount::{AmountInput, input_text, parse_amount};
use speciosa_core::dose::{
    BACKDATE_CONFIRMATION_AFTER, DailyExposure, DoseContext, DoseUnit, ExposureBasis,
};
use speciosa_core::ids::{BatchId, DoseId, PatientId};
use speciosa_core::product::ProductForm;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{ApiError, PageError, urlencode};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::products::{BatchCard, FlagRow, fixed, sort_key};
use crate::pages::time::Clock;
use crate::pages::{Choice, FormErrors, Nav, patient_id, render};

const DOSE_LABELS: &[(&str, &str)] = &[
    ("batch_id", "Product and batch"),
    ("amount", "Amount"),
    ("unit", "Unit"),
    ("taken_at", "Time taken"),
    ("confirm_backdated", "Dose more than 7 days ago"),
    ("confirm_unusual_amount", "Unusual amount"),
    ("confirm_above_plan", "Above the plan's maximum"),
    ("contexts", "Why it was taken"),
    ("note", "Note"),
    ("reason", "Reason for the correction"),
    ("time_zone", "Time zone"),
];
const RANGE_LABELS: &[(&str, &str)] = &[("from", "From"), ("to", "To")];
const DELETE_LABELS: &[(&str, &str)] = &[("reason", "Reason for deleting")];

/// Days the dose log shows unless asked otherwise.
const DEFAULT_DAYS: i64 = 14;
/// `datetime-local` input format.
const LOCAL_INPUT: &str = "%Y-%m-%dT%H:%M";

fn dose_id(raw: &str) -> Result<DoseId, PageError> {
    raw.parse().map_err(|_| ApiError::not_found("dose").into())
}

fn zone_of(name: &str) -> TimeZone {
    jiff::tz::db().get(name).unwrap_or(TimeZone::UTC)
}

fn today_in(patient: &Patient) -> Date {
    Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date()
}

/// `Tuesday 12 May 2026`.
fn long_date(date: Date) -> String {
    date.strftime("%A %-d %B %Y").to_string()
}

/// `2.5 g`, `1 capsule`, `3 capsules`, `10 mL`, `2 level tsp`.
pub fn amount_text(amount: f64, unit: &str) -> String {
    let n = format!("{amount}");
    let one = amount == 1.0;
    let unit = match unit {
        "g" => "g",
        "ml" => "mL",
        "tsp" => "level tsp",
        "capsule" if one => "capsule",
        "capsule" => "capsules",
        "tablet" if one => "tablet",
        "tablet" => "tablets",
        other => other,
    };
    format!("{n} {unit}")
}

fn unit_choices() -> Vec<Choice> {
    DoseUnit::ALL
        .iter()
        .map(|u| Choice {
            value: u.as_str(),
            label: match u {
                DoseUnit::Grams => "g (grams)",
                DoseUnit::Capsule => "capsules",
                DoseUnit::Tablet => "tablets",
                DoseUnit::Millilitres => "mL (liquids)",
                DoseUnit::Teaspoons => "level teaspoons",
            }
            .to_owned(),
        })
        .collect()
}

/// Which units a product is logged in, for the batch list (the server checks the fit).
fn units_for(product: &Product) -> &'static str {
    match product.details.form {
        ProductForm::Capsule => "capsules or g",
        ProductForm::Tablet => "tablets or g",
        ProductForm::Liquid => "mL",
        _ if product.details.teaspoon_g.is_some() => "g or level tsp",
        _ => "g",
    }
}

// ---------------------------------------------------------------------------
// The dose form.

/// The dose form as typed. Context checkboxes repeat one name and are read from
/// the form's pairs.
#[derive(Deserialize, Default)]
pub struct DoseInput {
    #[serde(default)]
    batch_id: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    unit: String,
    /// `datetime-local` in the patient's (or the dose's) zone; empty means now.
    #[serde(default)]
    taken_at: String,
    confirm_backdated: Option<String>,
    /// The "this amount is right" box; its value names the amount, unit and batch it
    /// confirmed, so a confirmation never carries over to an amount changed afterwards.
    confirm_unusual_amount: Option<String>,
    /// The "this is what was taken" box for a dose above the plan's maximum; like the
    /// unusual-amount box, its value names what it confirmed (and when).
    confirm_above_plan: Option<String>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    idempotency_key: String,
    /// Corrections only.
    #[serde(default)]
    reason: String,
    #[serde(skip)]
    contexts: Vec<String>,
}

/// What the typed time became.
enum TakenAt {
    Now,
    At(String),
    Unreadable(String),
}

impl DoseInput {
    fn with_contexts(mut self, pairs: &[(String, String)]) -> Self {
        self.contexts = pairs
            .iter()
            .filter(|(name, _)| name == "contexts")
            .map(|(_, value)| value.clone())
            .collect();
        self
    }

    fn has_context(&self, code: &str) -> bool {
        self.contexts.iter().any(|c| c == code)
    }

    fn confirmed(&self) -> bool {
        self.confirm_backdated.is_some()
    }

    /// What a confirmation of an unusual amount must name to count for this input.
    fn unusual_signature(&self) -> String {
        let amount = parse_amount(&self.amount).map_or_else(|_| self.amount.clone(), input_text);
        format!("{amount} {} {}", self.unit.trim(), self.batch_id.trim())
    }

    /// What a confirmation of a dose above the plan must name to count for this input.
    fn plan_signature(&self) -> String {
        format!("{} {}", self.unusual_signature(), self.taken_at.trim())
    }

    fn above_plan_confirmed(&self) -> bool {
        self.confirm_above_plan
            .as_deref()
            .is_some_and(|value| value == self.plan_signature())
    }

    fn unusual_confirmed(&self) -> bool {
        self.confirm_unusual_amount
            .as_deref()
            .is_some_and(|value| value == self.unusual_signature())
    }

    /// The typed local time as an instant with its offset, in `zone`.
    fn taken_at(&self, zone: &TimeZone) -> TakenAt {
        let raw = self.taken_at.trim();
        if raw.is_empty() {
            return TakenAt::Now;
        }
        let parsed = raw
            .parse::<DateTime>()
            .ok()
            .and_then(|local| local.to_zoned_datetime(zone.clone()).ok());
        match parsed {
            Some(zoned) => TakenAt::At(zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()),
            None => TakenAt::Unreadable(raw.to_owned()),
        }
    }

    fn to_input(
        &self,
        taken_at: &TakenAt,
        time_zone: Option<String>,
    ) -> speciosa_app::doses::DoseInput {
        speciosa_app::doses::DoseInput {
            taken_at: match taken_at {
                TakenAt::Now => None,
                TakenAt::At(text) | TakenAt::Unreadable(text) => Some(text.clone()),
            },
            // A missing choice names no batch; the service says so.
            batch_id: BatchId::from_uuid(self.batch_id.trim().parse().unwrap_or(Uuid::nil())),
            // As typed: a decimal comma is read by the service, never dropped by the browser.
            amount: AmountInput::Text(self.amount.clone()),
            unit: self.unit.trim().to_owned(),
            contexts: self.contexts.clone(),
            note: Some(self.note.trim().to_owned()).filter(|n| !n.is_empty()),
            confirm_backdated: self.confirmed(),
            time_zone,
            confirm_unusual_amount: self.unusual_confirmed(),
        }
    }

    fn key(&self) -> Option<String> {
        let key = self.idempotency_key.trim();
        (!key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_graphic()))
            .then(|| key.to_owned())
    }

    fn from_dose(dose: &Dose) -> Self {
        let zone = zone_of(&dose.time_zone);
        DoseInput {
            batch_id: dose.batch_id.to_string(),
            amount: input_text(dose.amount),
            unit: dose.unit.clone(),
            taken_at: local_input(dose.taken_at, &zone),
            confirm_backdated: (Timestamp::now().duration_since(dose.taken_at)
                > BACKDATE_CONFIRMATION_AFTER)
                .then(|| "on".into()),
            confirm_unusual_amount: None,
            confirm_above_plan: None,
            note: dose.note.clone().unwrap_or_default(),
            idempotency_key: String::new(),
            reason: String::new(),
            contexts: dose
                .contexts
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
        }
    }
}

fn local_input(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime(LOCAL_INPUT)
        .to_string()
}

/// Rewrites the service's messages, written for API clients, in the form's words.
fn for_the_form(mut errors: FormErrors, input: &DoseInput, taken_at: &TakenAt) -> FormErrors {
    for error in &mut errors.fields {
        match error.field.as_str() {
            "batch_id" if input.batch_id.trim().is_empty() => {
                error.detail = "choose the product and batch that was taken".into();
            }
            "taken_at" if matches!(taken_at, TakenAt::Unreadable(_)) => {
                error.detail =
                    "enter the date and time it was taken, for example 2026-05-12 08:30".into();
            }
            "taken_at" if error.detail.contains("future") => {
                error.detail =
                    "this time is in the future; a dose can only be logged once it has been taken"
                        .into();
            }
            "confirm_backdated" => {
                error.detail = "this dose is more than 7 days ago; if the date is right, tick the box to confirm it".into();
            }
            "reason" => {
                error.detail =
                    "say why this dose is being corrected, for example “the amount was 2 g”".into();
            }
            "amount" if error.detail == "amount must be a positive number" => {
                error.detail =
                    "enter the amount taken as a number greater than 0, such as 2.5 or 2,5".into();
            }
            _ => {}
        }
    }
    errors
}

/// A batch in the form's list.
struct BatchOption {
    value: String,
    label: String,
    selected: bool,
    recalled: bool,
    urgent: bool,
}

/// The batches of one product, as an `<optgroup>`.
struct BatchGroup {
    label: String,
    options: Vec<BatchOption>,
}

/// A batch whose recall or urgent flags must be seen before logging against it.
struct BatchWarning {
    product: String,
    lot: String,
    recalled: bool,
    flags: Vec<FlagRow>,
}

/// The catalogue as the dose form lists it.
struct BatchList {
    groups: Vec<BatchGroup>,
    warnings: Vec<BatchWarning>,
    /// The chosen batch is recalled or has urgent flags.
    selected_recalled: bool,
    selected_urgent: bool,
}

fn batch_list(
    state: &AppState,
    products: &[Product],
    batches: &[Batch],
    selected: &str,
) -> BatchList {
    let mut products: Vec<&Product> = products.iter().collect();
    products.sort_by_key(|p| sort_key(&p.details.name));
    let mut list = BatchList {
        groups: Vec::new(),
        warnings: Vec::new(),
        selected_recalled: false,
        selected_urgent: false,
    };
    for product in products {
        let mut options = Vec::new();
        let mut mine: Vec<&Batch> = batches
            .iter()
            .filter(|b| b.product_id == product.id)
            .collect();
        // Recalled batches last: they stay listed, since what was taken must be recordable.
        mine.sort_by_key(|b| b.recalled);
        for batch in mine {
            let card = BatchCard::new(state, product, batch);
            let content = match &card.coa {
                Some(coa) => format!("MG {}", coa.mitragynine),
                None => "no certificate".to_owned(),
            };
            let flags = match card.flags.len() {
                0 => "no flags".to_owned(),
                1 => "1 flag".to_owned(),
                n => format!("{n} flags"),
            };
            let alert = if card.recalled {
                "RECALLED · "
            } else if card.urgent_count > 0 {
                "URGENT FLAG · "
            } else {
                ""
            };
            let value = batch.id.to_string();
            let is_selected = value == selected;
            if is_selected {
                list.selected_recalled = card.recalled;
                list.selected_urgent = card.urgent_count > 0;
            }
            options.push(BatchOption {
                label: format!(
                    "{alert}{} · lot {} · {content} · {flags}",
                    product.details.name, card.lot
                ),
                selected: is_selected,
                recalled: card.recalled,
                urgent: card.urgent_count > 0,
                value,
            });
            if card.recalled || card.urgent_count > 0 {
                list.warnings.push(BatchWarning {
                    product: product.details.name.clone(),
                    lot: card.lot.clone(),
                    recalled: card.recalled,
                    flags: card
                        .flags
                        .into_iter()
                        .filter(|f| f.severity == "urgent")
                        .collect(),
                });
            }
        }
        if !options.is_empty() {
            list.groups.push(BatchGroup {
                label: format!(
                    "{} ({} · log in {})",
                    product.details.name,
                    product.details.form.label(),
                    units_for(product)
                ),
                options,
            });
        }
    }
    list
}

struct ContextChoice {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

/// The "repeat last dose" button's hidden copy of the last dose.
struct RepeatLast {
    batch_id: String,
    amount: String,
    unit: String,
    contexts: Vec<String>,
    summary: String,
    when: String,
    key: String,
}

/// "Is 15 g right?": an amount far above the patient's usual dose, asked about before
/// it is saved.
struct UnusualQuestion {
    question: String,
    confirm_label: String,
    /// The confirmation box's value (see [`DoseInput::unusual_signature`]).
    signature: String,
}

impl UnusualQuestion {
    fn new(unusual: &Unusual, input: &DoseInput, for_self: bool, name: &str) -> Self {
        let amount = amount_text(unusual.amount, &unusual.unit);
        let whose = if for_self {
            "your".to_owned()
        } else {
            format!("{name}’s")
        };
        UnusualQuestion {
            question: format!(
                "Is {amount} right? That is {} mg mitragynine, more than {} times {whose} usual {} mg.",
                mg_text(unusual.check.dose_mg),
                unusual.check.factor,
                mg_text(unusual.check.usual_mg),
            ),
            confirm_label: format!("Yes, {amount} is right"),
            signature: input.unusual_signature(),
        }
    }

    /// The question as the amount field's message, with the page's status.
    fn errors(&self) -> FormErrors {
        FormErrors {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            general: None,
            fields: vec![speciosa_core::FieldError {
                field: "amount".into(),
                detail: self.question.clone(),
            }],
            labels: DOSE_LABELS,
        }
    }
}

/// "Is this right?": a dose above the signed plan's per-dose or per-day maximum, asked
/// about before it is saved and logged as taken once confirmed (issue 12 item 5).
struct PlanQuestion {
    /// What goes beyond the plan, one sentence each.
    lines: Vec<String>,
    confirm_label: String,
    /// The confirmation box's value (see [`DoseInput::plan_signature`]).
    signature: String,
}

impl PlanQuestion {
    fn new(excess: &PlanExcess, input: &DoseInput, for_self: bool, today: Date) -> Self {
        let amount = parse_amount(&input.amount).map_or_else(
            |_| input.amount.trim().to_owned(),
            |a| amount_text(a, input.unit.trim()),
        );
        let whose = if for_self { "Your plan" } else { "The plan" };
        let day = if excess.on == today {
            "today".to_owned()
        } else {
            format!("on {}", long_date(excess.on))
        };
        let mut lines = vec![format!(
            "{amount} is about {} mg of mitragynine.",
            mg_text(excess.dose_mg)
        )];
        if excess.over_dose {
            lines.push(format!(
                "{whose}'s most for one dose is {} mg.",
                mg_text(excess.per_dose_max_mg)
            ));
        }
        if excess.over_day {
            lines.push(format!(
                "With it, {day}'s logged total comes to {} mg; {}'s most for one day is {} mg.",
                mg_text(excess.day_total_mg()),
                whose.to_lowercase(),
                mg_text(excess.per_day_max_mg)
            ));
        }
        PlanQuestion {
            lines,
            confirm_label: format!("Yes, {amount} is what was taken: log it"),
            signature: input.plan_signature(),
        }
    }

    fn errors(&self) -> FormErrors {
        FormErrors {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            general: None,
            fields: vec![speciosa_core::FieldError {
                field: "amount".into(),
                detail: format!("Is this right? {}", self.lines.join(" ")),
            }],
            labels: DOSE_LABELS,
        }
    }
}

#[derive(Template)]
#[template(path = "dose_form.html")]
struct DoseFormPage {
    nav: Nav,
    heading: String,
    /// The patient's own page (their words), or a clinician's on their behalf.
    for_self: bool,
    patient_name: String,
    back_href: String,
    back_label: String,
    action: String,
    submit_label: &'static str,
    correcting: bool,
    original: Option<String>,
    input: DoseInput,
    errors: FormErrors,
    list: BatchList,
    units: Vec<Choice>,
    contexts: Vec<ContextChoice>,
    repeat: Option<RepeatLast>,
    unusual: Option<UnusualQuestion>,
    above_plan: Option<PlanQuestion>,
    zone: String,
    /// Kratom's legal status where the patient lives, for the products on the list.
    legal: Option<DoseLegal>,
}

impl DoseFormPage {
    fn respond(&self) -> Result<Response, PageError> {
        Ok((self.errors.status, render(self)?).into_response())
    }
}

/// Kratom's legal status where the patient lives, for the products in `in_use` (the
/// form's list or the log's window; legal-and-products.md §4.2).
async fn legal_section(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    products: &[Product],
    batches: &[&Batch],
) -> Result<DoseLegal, PageError> {
    let in_use: Vec<(&Product, &Batch)> = batches
        .iter()
        .filter_map(|b| {
            products
                .iter()
                .find(|p| p.id == b.product_id)
                .map(|p| (p, *b))
        })
        .collect();
    let legal =
        speciosa_app::legal_pages::for_patient_products(&state.app, user, patient.id, &in_use)
            .await?;
    let for_self = user.actor.own_patient_id == Some(patient.id);
    Ok(DoseLegal::new(&legal, for_self, &patient.id.to_string()))
}

/// Where the form was opened from, and who it is for.
struct FormContext {
    for_self: bool,
    back_href: String,
    back_label: String,
    nav: Nav,
}

fn form_context(user: &Authenticated, patient: &Patient) -> FormContext {
    let for_self = user.actor.own_patient_id == Some(patient.id);
    if for_self {
        FormContext {
            for_self,
            back_href: "/home".into(),
            back_label: "Home".into(),
            nav: Nav::for_user(user).at("/home"),
        }
    } else {
        FormContext {
            for_self,
            back_href: format!("/patients/{}", patient.id),
            back_label: patient.details.display_name.as_str().to_owned(),
            nav: Nav::for_user(user).at("/patients"),
        }
    }
}

async fn new_dose_page(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    input: DoseInput,
    errors: FormErrors,
    unusual: Option<UnusualQuestion>,
    above_plan: Option<PlanQuestion>,
) -> Result<Response, PageError> {
    let (products, batches) = speciosa_app::products::catalogue(&state.app, user).await?;
    // While a question about the amount is open, the page offers nothing else to log.
    let last = if unusual.is_some() || above_plan.is_some() {
        None
    } else {
        speciosa_app::doses::repeat_offer(&state.app, user, patient.id).await?
    };
    let repeat = match &last {
        Some(dose) => {
            let batch = batches.iter().find(|b| b.id == dose.batch_id);
            let product = batch.and_then(|b| products.iter().find(|p| p.id == b.product_id));
            match (product, batch) {
                (Some(product), Some(batch)) => {
                    let dose_zone = zone_of(&dose.time_zone);
                    let taken = dose.taken_at.to_zoned_datetime(dose_zone.clone());
                    let today = today_in(patient);
                    let day = if taken.date() == today {
                        "today".to_owned()
                    } else if Some(taken.date()) == today.yesterday().ok() {
                        "yesterday".to_owned()
                    } else {
                        taken.date().strftime("%A %-d %B").to_string()
                    };
                    Some(RepeatLast {
                        batch_id: dose.batch_id.to_string(),
                        amount: input_text(dose.amount),
                        unit: dose.unit.clone(),
                        contexts: dose
                            .contexts
                            .iter()
                            .map(|c| c.as_str().to_owned())
                            .collect(),
                        summary: format!(
                            "{} of {}, lot {}",
                            amount_text(dose.amount, &dose.unit),
                            product.details.name,
                            batch.lot
                        ),
                        when: format!(
                            "{day} at {}",
                            Clock::of_zone(&dose_zone).time(dose.taken_at)
                        ),
                        key: Uuid::now_v7().to_string(),
                    })
                }
                _ => None,
            }
        }
        None => None,
    };
    let mut input = input;
    if input.idempotency_key.trim().is_empty() {
        input.idempotency_key = Uuid::now_v7().to_string();
    }
    let ctx = form_context(user, patient);
    let name = patient.details.display_name.as_str().to_owned();
    let on_list: Vec<&Batch> = batches.iter().collect();
    let legal = legal_section(state, user, patient, &products, &on_list).await?;
    let page = DoseFormPage {
        legal: Some(legal),
        heading: if ctx.for_self {
            "Log a dose".into()
        } else {
            format!("Log a dose for {name}")
        },
        for_self: ctx.for_self,
        nav: ctx.nav,
        back_href: ctx.back_href,
        back_label: ctx.back_label,
        patient_name: name,
        action: format!("/patients/{}/doses", patient.id),
        submit_label: "Log dose",
        correcting: false,
        original: None,
        list: batch_list(state, &products, &batches, input.batch_id.trim()),
        units: unit_choices(),
        contexts: context_choices(&input),
        input,
        errors,
        repeat,
        unusual,
        above_plan,
        zone: patient.details.time_zone.as_str().to_owned(),
    };
    page.respond()
}

fn context_choices(input: &DoseInput) -> Vec<ContextChoice> {
    DoseContext::ALL
        .iter()
        .map(|c| ContextChoice {
            value: c.as_str(),
            label: c.label(),
            checked: input.has_context(c.as_str()),
        })
        .collect()
}

pub async fn new_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    // The product and unit of the last dose are preselected (most people use one
    // product); the amount never is.
    let (patient, last) = speciosa_app::doses::dose_form(&state.app, &user, id).await?;
    let input = DoseInput {
        batch_id: last
            .as_ref()
            .map(|d| d.batch_id.to_string())
            .unwrap_or_default(),
        unit: last
            .as_ref()
            .map_or_else(|| "g".to_owned(), |d| d.unit.clone()),
        taken_at: local_input(Timestamp::now(), &patient.details.time_zone.to_zone()),
        ..Default::default()
    };
    let for_self = user.actor.own_patient_id == Some(patient.id);
    let response = new_dose_page(
        &state,
        &user,
        &patient,
        input,
        FormErrors::none(),
        None,
        None,
    )
    .await?;
    // The patient's own form opens offline; a clinician's is never kept on their device.
    Ok(if for_self {
        crate::pages::offline::allow_offline_copy(response)
    } else {
        response
    })
}

/// The dose log address, reaching back far enough to show `dose`.
fn log_address(patient: &Patient, dose: &Dose, saved: &str) -> String {
    let date = dose
        .taken_at
        .to_zoned_datetime(zone_of(&dose.time_zone))
        .date();
    let default_from = today_in(patient)
        .checked_sub(Span::new().days(DEFAULT_DAYS - 1))
        .unwrap_or(date);
    let from = if date < default_from {
        format!("&from={date}")
    } else {
        String::new()
    };
    format!(
        "/patients/{}/doses?saved={saved}-{}{from}",
        patient.id, dose.id
    )
}

pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<DoseInput>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, form, pairs } = submitted;
    let form = form.with_contexts(&pairs);
    let patient = speciosa_app::doses::dose_patient(&state.app, &user, id).await?;
    let taken_at = form.taken_at(&patient.details.time_zone.to_zone());
    let input = form.to_input(&taken_at, None);
    let questions = speciosa_app::plan_checks::dose_questions(
        &state.app,
        &user,
        id,
        &input,
        form.above_plan_confirmed(),
    )
    .await?;
    if let Some(excess) = questions.plan {
        // Both questions at once when the amount is also unusual, so the patient confirms once.
        let ctx = form_context(&user, &patient);
        let question = PlanQuestion::new(&excess, &form, ctx.for_self, today_in(&patient));
        let unusual = questions.unusual.map(|unusual| {
            UnusualQuestion::new(
                &unusual,
                &form,
                ctx.for_self,
                patient.details.display_name.as_str(),
            )
        });
        let mut errors = question.errors();
        if let Some(unusual) = &unusual {
            errors.fields.extend(unusual.errors().fields);
        }
        return new_dose_page(
            &state,
            &user,
            &patient,
            form,
            errors,
            unusual,
            Some(question),
        )
        .await;
    }
    match speciosa_app::doses::log_dose(&state.app, &user, id, &input, form.key()).await {
        Ok(logged) => {
            Ok(Redirect::to(&log_address(&patient, logged.dose(), "logged")).into_response())
        }
        Err(DoseRefusal::Unusual(unusual)) => {
            let ctx = form_context(&user, &patient);
            let question = UnusualQuestion::new(
                &unusual,
                &form,
                ctx.for_self,
                patient.details.display_name.as_str(),
            );
            let errors = question.errors();
            new_dose_page(&state, &user, &patient, form, errors, Some(question), None).await
        }
        Err(DoseRefusal::KeyReused) => {
            // The form was used for another dose (e.g. after going back): a fresh key
            // lets this one be logged on purpose.
            let mut form = form;
            form.idempotency_key = Uuid::now_v7().to_string();
            let errors = FormErrors {
                status: StatusCode::CONFLICT,
                general: Some(
                    "This form was already used to log a different dose, so nothing new was logged. If this is another dose, check the details and press “Log dose” again.".into(),
                ),
                fields: Vec::new(),
                labels: DOSE_LABELS,
            };
            new_dose_page(&state, &user, &patient, form, errors, None, None).await
        }
        Err(DoseRefusal::Error(error)) => {
            let errors = for_the_form(
                FormErrors::from_api(error.into(), DOSE_LABELS)?,
                &form,
                &taken_at,
            );
            new_dose_page(&state, &user, &patient, form, errors, None, None).await
        }
    }
}

// ---------------------------------------------------------------------------
// Correcting a dose.

async fn correction_page(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    dose: &Dose,
    input: DoseInput,
    errors: FormErrors,
    unusual: Option<UnusualQuestion>,
) -> Result<Response, PageError> {
    let (products, batches) = speciosa_app::products::catalogue(&state.app, user).await?;
    let ctx = form_context(user, patient);
    let name = patient.details.display_name.as_str().to_owned();
    let original = {
        let batch = batches.iter().find(|b| b.id == dose.batch_id);
        let product = batch.and_then(|b| products.iter().find(|p| p.id == b.product_id));
        let what = match (product, batch) {
            (Some(p), Some(b)) => format!("{}, lot {}", p.details.name, b.lot),
            _ => "an unknown batch".into(),
        };
        let clock = Clock::of_zone(&zone_of(&dose.time_zone));
        format!(
            "{} of {what}, {} at {}",
            amount_text(dose.amount, &dose.unit),
            long_date(clock.at(dose.taken_at).date()),
            clock.time(dose.taken_at)
        )
    };
    let page = DoseFormPage {
        heading: "Correct a dose".into(),
        for_self: ctx.for_self,
        nav: ctx.nav,
        back_href: format!("/patients/{}/doses", patient.id),
        back_label: "Dose log".into(),
        patient_name: name,
        action: format!("/patients/{}/doses/{}/edit", patient.id, dose.id),
        submit_label: "Save correction",
        correcting: true,
        original: Some(original),
        list: batch_list(state, &products, &batches, input.batch_id.trim()),
        units: unit_choices(),
        contexts: context_choices(&input),
        input,
        errors,
        repeat: None,
        unusual,
        above_plan: None,
        zone: dose.time_zone.clone(),
        legal: None,
    };
    page.respond()
}

pub async fn edit_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path((id, dose)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let dose = dose_id(&dose)?;
    let (patient, dose) = speciosa_app::doses::dose_to_correct(&state.app, &user, id, dose).await?;
    let input = DoseInput::from_dose(&dose);
    correction_page(
        &state,
        &user,
        &patient,
        &dose,
        input,
        FormErrors::none(),
        None,
    )
    .await
}

pub async fn correct(
    State(state): State<AppState>,
    Path((id, dose)): Path<(String, String)>,
    submitted: PageForm<DoseInput>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let dose = dose_id(&dose)?;
    let PageForm { user, form, pairs } = submitted;
    let form = form.with_contexts(&pairs);
    let (patient, original) =
        speciosa_app::doses::dose_to_correct(&state.app, &user, id, dose).await?;
    let zone = zone_of(&original.time_zone);
    // An untouched time keeps the original instant to the second.
    let taken_at = if form.taken_at.trim() == local_input(original.taken_at, &zone) {
        TakenAt::At(original.taken_at.to_string())
    } else {
        form.taken_at(&zone)
    };
    let input = form.to_input(&taken_at, Some(original.time_zone.clone()));
    match speciosa_app::doses::correct_dose(&state.app, &user, id, dose, &input, &form.reason).await
    {
        Ok(corrected) => {
            Ok(Redirect::to(&log_address(&patient, &corrected, "corrected")).into_response())
        }
        Err(DoseRefusal::Unusual(unusual)) => {
            let ctx = form_context(&user, &patient);
            let question = UnusualQuestion::new(
                &unusual,
                &form,
                ctx.for_self,
                patient.details.display_name.as_str(),
            );
            let errors = question.errors();
            correction_page(
                &state,
                &user,
                &patient,
                &original,
                form,
                errors,
                Some(question),
            )
            .await
        }
        Err(DoseRefusal::Error(error)) => {
            let errors = for_the_form(
                FormErrors::from_api(error.into(), DOSE_LABELS)?,
                &form,
                &taken_at,
            );
            correction_page(&state, &user, &patient, &original, form, errors, None).await
        }
        // Corrections carry no idempotency key.
        Err(DoseRefusal::KeyReused) => Err(ApiError::from(DoseRefusal::KeyReused).into()),
    }
}

// ---------------------------------------------------------------------------
// The dose log.

/// The log's filters, a confirmation after a redirect, and a refused deletion's reason.
#[derive(Deserialize, Default, Clone)]
pub struct LogQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    history: Option<String>,
    saved: Option<String>,
}

impl LogQuery {
    fn with_history(&self) -> bool {
        self.history.is_some()
    }

    /// This view's address, for links and redirects back to it.
    fn address(&self, patient: PatientId) -> String {
        let mut params = Vec::new();
        if !self.from.trim().is_empty() {
            params.push(format!("from={}", urlencode(self.from.trim())));
        }
        if !self.to.trim().is_empty() {
            params.push(format!("to={}", urlencode(self.to.trim())));
        }
        if self.with_history() {
            params.push("history=on".into());
        }
        let query = if params.is_empty() {
            String::new()
        } else {
            format!("?{}", params.join("&"))
        };
        format!("/patients/{patient}/doses{query}")
    }
}

struct TotalsView {
    mitragynine: String,
    hydroxy: String,
    grams: Option<String>,
    millilitres: Option<String>,
    count: u32,
    bedtime: bool,
    estimates: bool,
    unknown: bool,
}

impl TotalsView {
    fn new(day: &DailyExposure) -> Self {
        TotalsView {
            mitragynine: format!("{} mg", fixed(day.mitragynine_mg, 1)),
            hydroxy: format!("{} mg", fixed(day.hydroxymitragynine_mg, 2)),
            grams: (day.grams > 0.0).then(|| format!("{} g", fixed(day.grams, 1))),
            millilitres: (day.millilitres > 0.0)
                .then(|| format!("{} mL", fixed(day.millilitres, 1))),
            count: day.dose_count,
            bedtime: day.bedtime_dose,
            estimates: day.includes_estimates,
            unknown: day.includes_unknown,
        }
    }
}

struct DoseRow {
    id: String,
    time: String,
    /// The zone, when the dose was taken away from the patient's home zone.
    zone: Option<String>,
    product: String,
    lot: String,
    amount: String,
    /// The grams a count or teaspoons came to.
    grams: Option<String>,
    mitragynine: String,
    hydroxy: String,
    basis: &'static str,
    basis_detail: Option<String>,
    contexts: String,
    bedtime: bool,
    note: Option<String>,
    current: bool,
    /// This entry corrects an earlier one.
    replaces: bool,
    history: Option<String>,
    delete_reason: String,
    delete_errors: Option<FormErrors>,
}

struct DayView {
    id: String,
    label: String,
    today: bool,
    totals: Option<TotalsView>,
    doses: Vec<DoseRow>,
}

/// What the confirmation after logging or correcting says about the dose.
struct SavedView {
    heading: &'static str,
    what: String,
    mitragynine: String,
    hydroxy: String,
    basis: String,
    warnings: Vec<FlagRow>,
    recalled: bool,
}

/// A batch used recently, with its flags judged at the patient's own intake.
struct SafetyRow {
    product: String,
    lot: String,
    heaviest_day: String,
    days_used: usize,
    urgent: usize,
    warnings: usize,
    flags: Vec<FlagRow>,
}

impl From<BatchSafety> for SafetyRow {
    fn from(judged: BatchSafety) -> Self {
        let flags: Vec<FlagRow> = judged.flags.into_iter().map(FlagRow::from).collect();
        SafetyRow {
            product: judged.product.details.name,
            lot: judged.batch.lot,
            heaviest_day: format!("{} g", fixed(judged.max_grams_per_day, 1)),
            days_used: judged.days_used,
            urgent: flags.iter().filter(|f| f.severity == "urgent").count(),
            warnings: flags.iter().filter(|f| f.severity == "warning").count(),
            flags,
        }
    }
}

#[derive(Template)]
#[template(path = "doses.html")]
struct LogPage {
    nav: Nav,
    for_self: bool,
    patient_id: String,
    patient_name: String,
    zone: String,
    filters: LogQuery,
    shown_from: String,
    shown_to: String,
    /// `11 November to 24 November 2026`.
    range_label: String,
    range_errors: FormErrors,
    days: Vec<DayView>,
    saved: Option<SavedView>,
    deleted: bool,
    safety: Vec<SafetyRow>,
    /// Kratom's legal status where the patient lives, for the products in the window.
    legal: DoseLegal,
}

/// A refused deletion, shown again on its row.
struct DeleteAttempt {
    dose: DoseId,
    reason: String,
    errors: FormErrors,
}

fn mg(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{} mg", fixed(v, decimals)))
}

fn basis_of(dose: &Dose) -> (&'static str, Option<String>) {
    match dose.exposure_basis {
        ExposureBasis::Assay => ("Lab certificate", None),
        ExposureBasis::Estimate => (
            "Estimate",
            match (dose.mitragynine_mg_low, dose.mitragynine_mg_high) {
                (Some(low), Some(high)) => Some(format!(
                    "from natural-leaf ranges: MG {}–{} mg{}",
                    fixed(low, 1),
                    fixed(high, 1),
                    match (
                        dose.hydroxymitragynine_mg_low,
                        dose.hydroxymitragynine_mg_high
                    ) {
                        (Some(l), Some(h)) => format!(", 7-OH {}–{} mg", fixed(l, 2), fixed(h, 2)),
                        _ => String::new(),
                    }
                )),
                _ => Some("from natural-leaf ranges".into()),
            },
        ),
        ExposureBasis::Unknown => (
            "Unknown",
            Some("no lab certificate, and this form cannot be estimated from leaf ranges".into()),
        ),
    }
}

fn contexts_text(dose: &Dose) -> String {
    dose.contexts
        .iter()
        .map(|c| c.label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn dose_row(
    dose: &Dose,
    names: &HashMap<BatchId, (String, String)>,
    home_zone: &str,
    delete: Option<&DeleteAttempt>,
) -> DoseRow {
    let zone = zone_of(&dose.time_zone);
    let (product, lot) = names
        .get(&dose.batch_id)
        .cloned()
        .unwrap_or_else(|| ("Unknown product".into(), "?".into()));
    let (basis, basis_detail) = basis_of(dose);
    let history = match (dose.superseded_at, dose.deleted_at) {
        (Some(_), _) => Some(format!(
            "Corrected{}",
            dose.change_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
        (_, Some(_)) => Some(format!(
            "Deleted{}",
            dose.change_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
        _ => None,
    };
    let attempt = delete.filter(|d| d.dose == dose.id);
    DoseRow {
        id: dose.id.to_string(),
        time: Clock::of_zone(&zone).time(dose.taken_at),
        zone: (dose.time_zone != home_zone).then(|| dose.time_zone.clone()),
        product,
        lot,
        amount: amount_text(dose.amount, &dose.unit),
        grams: dose
            .grams
            .filter(|_| dose.unit != "g")
            .map(|g| format!("{} g", fixed(g, 2))),
        mitragynine: mg(dose.mitragynine_mg, 1),
        hydroxy: mg(dose.hydroxymitragynine_mg, 2),
        basis,
        basis_detail,
        contexts: contexts_text(dose),
        bedtime: dose.bedtime,
        note: dose.note.clone(),
        current: dose.is_current(),
        replaces: dose.corrects_dose_id.is_some(),
        history,
        delete_reason: attempt.map(|a| a.reason.clone()).unwrap_or_default(),
        delete_errors: attempt.map(|a| FormErrors {
            status: a.errors.status,
            general: a.errors.general.clone(),
            fields: a.errors.fields.clone(),
            labels: DELETE_LABELS,
        }),
    }
}

fn saved_view(
    state: &AppState,
    dose: &Dose,
    products: &[Product],
    batches: &[Batch],
    corrected: bool,
) -> SavedView {
    let batch = batches.iter().find(|b| b.id == dose.batch_id);
    let product = batch.and_then(|b| products.iter().find(|p| p.id == b.product_id));
    let (what, warnings, recalled) = match (product, batch) {
        (Some(p), Some(b)) => {
            let card = BatchCard::new(state, p, b);
            (
                format!(
                    "{} of {}, lot {}, at {}",
                    amount_text(dose.amount, &dose.unit),
                    p.details.name,
                    b.lot,
                    {
                        let clock = Clock::of_zone(&zone_of(&dose.time_zone));
                        format!(
                            "{} on {}",
                            clock.time(dose.taken_at),
                            clock.at(dose.taken_at).strftime("%-d %B")
                        )
                    }
                ),
                card.flags
                    .into_iter()
                    .filter(|f| f.severity == "urgent")
                    .collect(),
                b.recalled,
            )
        }
        _ => (amount_text(dose.amount, &dose.unit), Vec::new(), false),
    };
    let basis = match dose.exposure_basis {
        ExposureBasis::Assay => "from the lab certificate".to_owned(),
        ExposureBasis::Estimate => format!(
            "an estimate from natural-leaf ranges{}",
            match (dose.mitragynine_mg_low, dose.mitragynine_mg_high) {
                (Some(low), Some(high)) =>
                    format!(" (mitragynine {}–{} mg)", fixed(low, 1), fixed(high, 1)),
                _ => String::new(),
            }
        ),
        ExposureBasis::Unknown => {
            "unknown: this batch has no lab certificate and its form cannot be estimated".to_owned()
        }
    };
    SavedView {
        heading: if corrected {
            "Correction saved"
        } else {
            "Dose logged"
        },
        what,
        mitragynine: mg(dose.mitragynine_mg, 1),
        hydroxy: mg(dose.hydroxymitragynine_mg, 2),
        basis,
        warnings,
        recalled,
    }
}

async fn log_page(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    filters: LogQuery,
    delete: Option<DeleteAttempt>,
) -> Result<Response, PageError> {
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, user, id).await?;
    let today = today_in(&patient);
    let to_typed = filters.to.trim();
    let from_typed = filters.from.trim();
    // The log's own default: the last 14 days, ending on `to`.
    let default_from = if from_typed.is_empty() {
        let end = if to_typed.is_empty() {
            Some(today)
        } else {
            to_typed.parse::<Date>().ok()
        };
        end.and_then(|d| d.checked_sub(Span::new().days(DEFAULT_DAYS - 1)).ok())
            .map(|d| speciosa_core::time::Era::Clinical.clamp(d).to_string())
    } else {
        Some(from_typed.to_owned())
    };
    let range = DateRange {
        from: default_from.clone(),
        to: Some(to_typed.to_owned()).filter(|t| !t.is_empty()),
        include_history: filters.with_history(),
    };
    let (doses, days, range_errors) =
        match speciosa_app::doses::read_doses(&state.app, user, id, &range).await {
            Ok(doses) => {
                match speciosa_app::doses::daily_exposure(&state.app, user, id, &range).await {
                    Ok(days) => (doses, days, FormErrors::none()),
                    Err(error) => (
                        Vec::new(),
                        Vec::new(),
                        FormErrors::from_api(error.into(), RANGE_LABELS)?,
                    ),
                }
            }
            Err(error) => (
                Vec::new(),
                Vec::new(),
                FormErrors::from_api(error.into(), RANGE_LABELS)?,
            ),
        };
    let mut range_errors = range_errors;
    for error in &mut range_errors.fields {
        if error.detail == "from must not be after to" {
            error.detail = "the first date must not be after the last".into();
        }
    }
    let (products, batches) = speciosa_app::products::catalogue(&state.app, user).await?;
    let names: HashMap<BatchId, (String, String)> = batches
        .iter()
        .map(|b| {
            let product = products
                .iter()
                .find(|p| p.id == b.product_id)
                .map(|p| p.details.name.clone())
                .unwrap_or_default();
            (b.id, (product, b.lot.clone()))
        })
        .collect();
    let home_zone = patient.details.time_zone.as_str().to_owned();

    // Days newest first; each day's doses newest first.
    let totals: BTreeMap<Date, &DailyExposure> = days.iter().map(|d| (d.date, d)).collect();
    let mut by_day: BTreeMap<Date, Vec<&Dose>> = BTreeMap::new();
    for dose in &doses {
        let date = speciosa_core::dose::local_date(dose.taken_at, &zone_of(&dose.time_zone));
        by_day.entry(date).or_default().push(dose);
    }
    for date in totals.keys() {
        by_day.entry(*date).or_default();
    }
    let day_views: Vec<DayView> = by_day
        .into_iter()
        .rev()
        .map(|(date, mut list)| {
            list.sort_by_key(|d| std::cmp::Reverse((d.taken_at, d.entered_at)));
            DayView {
                id: date.to_string(),
                label: long_date(date),
                today: date == today,
                totals: totals.get(&date).map(|d| TotalsView::new(d)),
                doses: list
                    .into_iter()
                    .map(|d| dose_row(d, &names, &home_zone, delete.as_ref()))
                    .collect(),
            }
        })
        .collect();

    let saved_param = filters.saved.clone().unwrap_or_default();
    let saved = ["logged-", "corrected-"].iter().find_map(|prefix| {
        let raw = saved_param.strip_prefix(prefix)?;
        let dose = doses.iter().find(|d| d.id.to_string() == raw)?;
        Some(saved_view(
            state,
            dose,
            &products,
            &batches,
            *prefix == "corrected-",
        ))
    });
    let safety = speciosa_app::doses::batch_safety(&state.app, user, id)
        .await?
        .into_iter()
        .map(SafetyRow::from)
        .collect();
    let used: std::collections::HashSet<BatchId> = doses.iter().map(|d| d.batch_id).collect();
    let in_window: Vec<&Batch> = batches.iter().filter(|b| used.contains(&b.id)).collect();
    let legal = legal_section(state, user, &patient, &products, &in_window).await?;
    let ctx = form_context(user, &patient);
    let status = range_errors
        .status
        .max(delete.as_ref().map_or(StatusCode::OK, |d| d.errors.status));
    let page = LogPage {
        nav: ctx.nav,
        for_self: ctx.for_self,
        patient_id: patient.id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        zone: home_zone,
        range_label: range_label(default_from.as_deref(), to_typed, today),
        shown_from: default_from.unwrap_or_default(),
        shown_to: if to_typed.is_empty() {
            today.to_string()
        } else {
            to_typed.to_owned()
        },
        filters,
        range_errors,
        days: day_views,
        saved,
        deleted: saved_param == "deleted",
        safety,
        legal,
    };
    Ok((status, render(&page)?).into_response())
}

fn range_label(from: Option<&str>, to: &str, today: Date) -> String {
    let to = if to.is_empty() {
        Some(today)
    } else {
        to.parse::<Date>().ok()
    };
    match (from.and_then(|f| f.parse::<Date>().ok()), to) {
        (Some(from), Some(to)) if from.year() == to.year() => format!(
            "{} to {}",
            from.strftime("%-d %B"),
            to.strftime("%-d %B %Y")
        ),
        (Some(from), Some(to)) => format!(
            "{} to {}",
            from.strftime("%-d %B %Y"),
            to.strftime("%-d %B %Y")
        ),
        _ => "the dates chosen".into(),
    }
}

pub async fn log(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let filters = query.map(|q| q.0).unwrap_or_default();
    log_page(&state, &user, id, filters, None).await
}

#[derive(Deserialize, Default)]
pub struct DeleteInput {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    history: Option<String>,
}

pub async fn delete(
    State(state): State<AppState>,
    Path((id, dose)): Path<(String, String)>,
    submitted: PageForm<DeleteInput>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let dose = dose_id(&dose)?;
    let PageForm { user, form, .. } = submitted;
    let filters = LogQuery {
        from: form.from.clone(),
        to: form.to.clone(),
        history: form.history.clone(),
        saved: None,
    };
    match speciosa_app::doses::delete_dose(&state.app, &user, id, dose, &form.reason).await {
        Ok(_) => {
            let back = filters.address(id);
            let join = if back.contains('?') { '&' } else { '?' };
            Ok(Redirect::to(&format!("{back}{join}saved=deleted#main")).into_response())
        }
        Err(error) => {
            let mut errors = FormErrors::from_api(error.into(), DELETE_LABELS)?;
            for e in &mut errors.fields {
                if e.field == "reason" {
                    e.detail =
                        "say why this dose is being deleted, for example “entered twice”".into();
                }
            }
            let attempt = DeleteAttempt {
                dose,
                reason: form.reason.clone(),
                errors,
            };
            log_page(&state, &user, id, filters, Some(attempt)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_naturally() {
        assert_eq!(amount_text(2.5, "g"), "2.5 g");
        assert_eq!(amount_text(1.0, "capsule"), "1 capsule");
        assert_eq!(amount_text(3.0, "capsule"), "3 capsules");
        assert_eq!(amount_text(10.0, "ml"), "10 mL");
    }

    #[test]
    fn a_typed_local_time_takes_the_zone_offset() {
        let input = DoseInput {
            taken_at: "2026-01-15T08:30".into(),
            ..Default::default()
        };
        let zone = jiff::tz::db().get("America/Chicago").unwrap();
        match input.taken_at(&zone) {
            TakenAt::At(text) => assert_eq!(text, "2026-01-15T08:30:00-06:00"),
            _ => panic!("expected a time"),
        }
        let summer = DoseInput {
            taken_at: "2026-07-15T08:30".into(),
            ..Default::default()
        };
        match summer.taken_at(&zone) {
            TakenAt::At(text) => assert_eq!(text, "2026-07-15T08:30:00-05:00"),
            _ => panic!("expected a time"),
        }
        let empty = DoseInput::default();
        assert!(matches!(empty.taken_at(&zone), TakenAt::Now));
        let junk = DoseInput {
            taken_at: "yesterday".into(),
            ..Default::default()
        };
        assert!(matches!(junk.taken_at(&zone), TakenAt::Unreadable(_)));
    }

    #[test]
    fn the_form_reads_checked_contexts_and_refuses_missing_numbers() {
        let input = DoseInput {
            amount: "".into(),
            ..Default::default()
        }
        .with_contexts(&[
            ("contexts".into(), "pain".into()),
            ("note".into(), "x".into()),
            ("contexts".into(), "sleep".into()),
        ]);
        assert_eq!(input.contexts, ["pain", "sleep"]);
        let dose = input.to_input(&TakenAt::Now, None);
        assert_eq!(
            dose.amount.value(),
            Err(speciosa_core::amount::AmountError::Empty)
        );
        assert_eq!(dose.batch_id, BatchId::from_uuid(Uuid::nil()));
        assert_eq!(dose.taken_at, None);
    }
}
