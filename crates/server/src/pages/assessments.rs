//! Instrument pages: any instrument as a form rendered from its data file, the
//! clinician's COWS screen with its series, and a patient's history with a small chart
//! per instrument. Scoring, authorization and audit stay in the service functions; the
//! pages only turn form fields into answers and service errors back into messages.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::Deserialize;
use speciosa_app::assessments::{
    AssessmentSubmission, needs_crisis_contacts, read_history, submit_assessment,
};
use speciosa_app::records::{Alert, Assessment, Patient};
use speciosa_core::account::Role;
use speciosa_core::ids::PatientId;
use speciosa_core::instrument::{Answer, EntryKind, Instrument, Rater, Response as ItemResponse};
use speciosa_core::patient::SexAtBirth;

use crate::app::AppState;
use crate::error::{ApiError, PageError, urlencode};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::charts::{Chart, band_thresholds, chart, local_time, number_text};
use crate::pages::{Nav, humanize, patient_id, render, require_role, sentence};

// ---------------------------------------------------------------------------
// Instruments as form fields, shared with the daily check-in.

/// One answer choice of a radio group.
pub struct OptionChoice {
    pub value: String,
    pub label: String,
    pub id: String,
    pub checked: bool,
}

/// One item of an instrument as a form field named `{code}.{item}`.
pub struct ItemField {
    /// The form field name, e.g. `phq9.9`.
    pub name: String,
    /// The element id (the input, or the fieldset of a radio group), e.g. `phq9-9`.
    pub id: String,
    /// The item's number as shown ("1", "2", …); empty for a named extra item.
    pub number: String,
    pub text: String,
    pub required: bool,
    /// `options`, `scale`, `clock_time`, `minutes`, `count` or `text`.
    pub kind: &'static str,
    pub options: Vec<OptionChoice>,
    /// Short answers (Yes/No, quality ratings) sit side by side.
    pub inline: bool,
    pub min_label: String,
    pub max_label: String,
    /// What was typed or chosen, kept when the form is shown again.
    pub value: String,
    pub error: Option<String>,
}

impl ItemField {
    /// The ids for `aria-describedby`: the scale's end labels and the error.
    pub fn described(&self) -> String {
        let mut ids = Vec::new();
        if self.kind == "scale" {
            ids.push(format!("{}-ends", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }

    /// Where the error summary links to: the input, or the group's first choice.
    pub fn anchor(&self) -> String {
        match self.options.first() {
            Some(first) => first.id.clone(),
            None => self.id.clone(),
        }
    }
}

/// One instrument as a group of fields, with its attribution for the footer.
pub struct InstrumentForm {
    pub code: String,
    pub name: String,
    pub short_name: String,
    pub instructions: String,
    pub attribution: String,
    pub licence: String,
    pub source: String,
    /// Show each answer's score beside it (clinician-rated scales such as COWS).
    pub show_values: bool,
    pub items: Vec<ItemField>,
    /// A problem with the answers as a whole (an impossible sleep diary).
    pub general_error: Option<String>,
    /// Nothing at all was answered.
    pub blank: bool,
}

/// A line of an error summary, linking to the field.
pub struct SummaryLine {
    pub anchor: String,
    pub label: String,
    pub detail: String,
}

impl InstrumentForm {
    pub fn has_errors(&self) -> bool {
        self.general_error.is_some() || self.items.iter().any(|i| i.error.is_some())
    }

    pub fn summary(&self) -> Vec<SummaryLine> {
        let mut lines = Vec::new();
        if let Some(detail) = &self.general_error {
            lines.push(SummaryLine {
                anchor: self.code.clone(),
                label: self.short_name.clone(),
                detail: detail.clone(),
            });
        }
        let errors = self.items.iter().filter(|i| i.error.is_some()).count();
        if self.blank && errors > 1 {
            lines.push(SummaryLine {
                anchor: self
                    .items
                    .first()
                    .map(ItemField::anchor)
                    .unwrap_or_default(),
                label: self.short_name.clone(),
                detail: "Not answered yet. Please answer each question.".into(),
            });
            return lines;
        }
        for item in &self.items {
            if let Some(detail) = &item.error {
                let label = if self.items.len() == 1 {
                    self.short_name.clone()
                } else if item.number.is_empty() {
                    format!("{}, last question", self.short_name)
                } else {
                    format!("{}, question {}", self.short_name, item.number)
                };
                lines.push(SummaryLine {
                    anchor: item.anchor(),
                    label,
                    detail: detail.clone(),
                });
            }
        }
        lines
    }
}

fn kind_of(response: &ItemResponse) -> &'static str {
    match response {
        ItemResponse::Options(_) => "options",
        ItemResponse::Scale(_) => "scale",
        ItemResponse::Entry(EntryKind::ClockTime) => "clock_time",
        ItemResponse::Entry(EntryKind::Minutes) => "minutes",
        ItemResponse::Entry(EntryKind::Count) => "count",
        ItemResponse::Entry(EntryKind::Text) => "text",
    }
}

fn field_name(code: &str, item: &str) -> String {
    format!("{code}.{item}")
}

fn field_id(code: &str, item: &str) -> String {
    format!("{code}-{item}")
}

/// What was submitted for each of the instrument's items (trimmed; empty when left out).
pub fn raw_answers(
    instrument: &Instrument,
    pairs: &[(String, String)],
) -> BTreeMap<String, String> {
    instrument
        .items
        .iter()
        .map(|item| {
            let name = field_name(&instrument.code, &item.id);
            let value = pairs
                .iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default();
            (item.id.clone(), value)
        })
        .collect()
}

/// The answers for the service: numbers for scored items and counts, text for times and
/// notes. Items left empty are left out (the service says which were required).
pub fn answers_from(
    instrument: &Instrument,
    raw: &BTreeMap<String, String>,
) -> BTreeMap<String, Answer> {
    let mut answers = BTreeMap::new();
    for item in &instrument.items {
        let Some(value) = raw.get(&item.id).filter(|v| !v.is_empty()) else {
            continue;
        };
        let answer = match &item.response {
            ItemResponse::Entry(EntryKind::ClockTime | EntryKind::Text) => {
                // Some browsers send seconds with a time input.
                let value = if kind_of(&item.response) == "clock_time" && value.len() == 8 {
                    value[..5].to_owned()
                } else {
                    value.clone()
                };
                Answer::Text(value)
            }
            _ => match value.parse::<f64>() {
                Ok(n) if n.is_finite() => Answer::Number(n),
                _ => Answer::Text(value.clone()),
            },
        };
        answers.insert(item.id.clone(), answer);
    }
    answers
}

/// The service's message for an item, in the words of a form.
fn item_message(kind: &str, detail: &str) -> String {
    if detail.ends_with("is required") {
        return match kind {
            "clock_time" => "Please enter a time.".into(),
            "minutes" => "Please enter the number of minutes (0 if none).".into(),
            "count" => "Please enter a number (0 if none).".into(),
            "text" => "Please fill this in.".into(),
            _ => "Please choose an answer.".into(),
        };
    }
    match kind {
        "clock_time" => "Enter a time of day, such as 23:15.".into(),
        "minutes" => "Enter whole minutes from 0 to 1440, such as 20.".into(),
        "count" => "Enter a whole number from 0 to 100.".into(),
        "options" | "scale" => "Please choose one of the answers shown.".into(),
        _ => format!("{}.", sentence(detail).trim_end_matches('.')),
    }
}

/// Builds an instrument's fields with the values to show and the service's errors, if any.
pub fn instrument_form(
    instrument: &Instrument,
    raw: &BTreeMap<String, String>,
    error: Option<&ApiError>,
) -> InstrumentForm {
    let code = &instrument.code;
    let errors = error.map(|e| e.errors.as_slice()).unwrap_or_default();
    let items = instrument
        .items
        .iter()
        .map(|item| {
            let id = field_id(code, &item.id);
            let value = raw.get(&item.id).cloned().unwrap_or_default();
            let kind = kind_of(&item.response);
            let option = |v: f64, label: String, n: usize| OptionChoice {
                checked: !value.is_empty() && value.parse::<f64>().ok() == Some(v),
                value: number_text(v),
                id: format!("{id}-{n}"),
                label,
            };
            let (options, min_label, max_label) = match &item.response {
                ItemResponse::Options(list) => (
                    list.iter()
                        .enumerate()
                        .map(|(n, o)| option(o.value, o.label.clone(), n))
                        .collect::<Vec<_>>(),
                    String::new(),
                    String::new(),
                ),
                ItemResponse::Scale(scale) => {
                    let steps = (scale.max - scale.min).max(0.0) as usize;
                    (
                        (0..=steps)
                            .map(|n| {
                                let v = scale.min + n as f64;
                                option(v, number_text(v), n)
                            })
                            .collect(),
                        format!("{} = {}", number_text(scale.min), scale.min_label),
                        format!("{} = {}", number_text(scale.max), scale.max_label),
                    )
                }
                ItemResponse::Entry(_) => (Vec::new(), String::new(), String::new()),
            };
            let inline = kind == "options"
                && options.len() <= 3
                && options.iter().all(|o| o.label.chars().count() <= 10);
            let field = format!("answers.{}", item.id);
            let messages: Vec<String> = errors
                .iter()
                .filter(|e| e.field == field)
                .map(|e| item_message(kind, &e.detail))
                .collect();
            ItemField {
                name: field_name(code, &item.id),
                id,
                number: if instrument.items.len() > 1 && item.id.chars().all(|c| c.is_ascii_digit())
                {
                    item.id.clone()
                } else {
                    String::new()
                },
                text: item.text.clone(),
                required: item.required,
                kind,
                options,
                inline,
                min_label,
                max_label,
                value,
                error: (!messages.is_empty()).then(|| messages.join(" ")),
            }
        })
        .collect();
    let general: Vec<String> = errors
        .iter()
        .filter(|e| {
            e.field
                .strip_prefix("answers.")
                .is_none_or(|id| instrument.item(id).is_none())
        })
        .map(|e| format!("{}.", sentence(&e.detail).trim_end_matches('.')))
        .collect();
    let general_error = if general.is_empty() {
        error
            .filter(|e| e.errors.is_empty())
            .map(|e| format!("{}.", sentence(&e.detail).trim_end_matches('.')))
    } else {
        Some(general.join(" "))
    };
    InstrumentForm {
        code: code.clone(),
        name: instrument.name.clone(),
        short_name: instrument.short_name.clone(),
        // A single question that repeats the instructions is asked once.
        instructions: match instrument.items.as_slice() {
            [only] if only.text.trim() == instrument.instructions.trim() => String::new(),
            _ => instrument.instructions.clone(),
        },
        blank: raw.values().all(|v| v.is_empty()),
        attribution: instrument.attribution.clone(),
        licence: instrument.licence.clone(),
        source: instrument.source.clone(),
        show_values: instrument.rater == Rater::Clinician,
        items,
        general_error,
    }
}

/// Whether a service error goes back to the form (invalid answers) or to the error page.
pub fn is_form_error(error: &ApiError) -> bool {
    error.kind.status == StatusCode::UNPROCESSABLE_ENTITY
}

/// Where to send someone after answers raised urgent alerts: the crisis page, saying why.
pub fn urgent_address(patient: PatientId, alerts: &[Alert]) -> String {
    let mood = alerts.iter().any(|a| a.rule == "phq9_item9");
    let symptoms = alerts.iter().any(|a| a.rule == "red_flag_symptom");
    let reason = match (mood, symptoms) {
        (true, true) => "both",
        (true, false) => "mood",
        _ => "symptoms",
    };
    // The urgent alert itself, so the page can say who was messaged and when.
    match alerts.iter().find(|a| a.severity == "urgent") {
        Some(alert) => format!(
            "/patients/{patient}/urgent?reason={reason}&alert={}",
            alert.id
        ),
        None => format!("/patients/{patient}/urgent?reason={reason}"),
    }
}

/// Who the page is for, and where "back" goes.
pub struct Viewer {
    pub for_self: bool,
    pub nav: Nav,
    pub back_href: String,
    pub back_label: String,
}

pub fn viewer(user: &Authenticated, patient: &Patient) -> Viewer {
    if user.actor.own_patient_id == Some(patient.id) {
        Viewer {
            for_self: true,
            nav: Nav::for_user(user).at("/home"),
            back_href: "/home".into(),
            back_label: "Home".into(),
        }
    } else {
        Viewer {
            for_self: false,
            nav: Nav::for_user(user).at("/patients"),
            back_href: format!("/patients/{}", patient.id),
            back_label: patient.details.display_name.as_str().to_owned(),
        }
    }
}

fn sex_of(patient: &Patient) -> Option<SexAtBirth> {
    Some(patient.details.sex_at_birth).filter(|s| *s != SexAtBirth::Unknown)
}

// ---------------------------------------------------------------------------
// Any instrument: GET /patients/{id}/assessments/new?instrument=CODE, POST /patients/{id}/assessments.

#[derive(Deserialize, Default)]
pub struct InstrumentQuery {
    #[serde(default)]
    instrument: String,
}

/// An instrument in the chooser.
struct InstrumentLink {
    href: String,
    name: String,
    short_name: String,
    clinician: bool,
}

#[derive(Template)]
#[template(path = "assessment_form.html")]
struct AssessmentFormPage {
    nav: Nav,
    for_self: bool,
    patient_id: String,
    patient_name: String,
    back_href: String,
    back_label: String,
    /// The form, or `None` for the list of instruments to choose from.
    form: Option<InstrumentForm>,
    choices: Vec<InstrumentLink>,
    /// The instrument asked for does not exist.
    unknown: bool,
}

fn instrument_links(
    state: &AppState,
    user: &Authenticated,
    patient: PatientId,
) -> Vec<InstrumentLink> {
    state
        .app
        .knowledge()
        .instruments
        .all()
        .iter()
        .filter(|i| i.rater == Rater::Patient || user.actor.role == Role::Clinician)
        .map(|i| InstrumentLink {
            href: if i.code == "cows" {
                format!("/patients/{patient}/cows")
            } else {
                format!(
                    "/patients/{patient}/assessments/new?instrument={}",
                    urlencode(&i.code)
                )
            },
            name: i.name.clone(),
            short_name: i.short_name.clone(),
            clinician: i.rater == Rater::Clinician,
        })
        .collect()
}

fn form_page(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    form: Option<InstrumentForm>,
    unknown: bool,
) -> AssessmentFormPage {
    let v = viewer(user, patient);
    AssessmentFormPage {
        nav: v.nav,
        for_self: v.for_self,
        patient_id: patient.id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        back_href: v.back_href,
        back_label: v.back_label,
        form,
        choices: instrument_links(state, user, patient.id),
        unknown,
    }
}

pub async fn new_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<InstrumentQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let code = query.map(|q| q.0.instrument).unwrap_or_default();
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, &user, id).await?;
    let code = code.trim();
    let instrument = state.app.knowledge().instruments.get(code);
    if let Some(instrument) = instrument
        && instrument.rater == Rater::Clinician
    {
        if user.actor.role != Role::Clinician {
            return Err(ApiError::forbidden(format!(
                "{} is rated by a clinician",
                instrument.short_name
            ))
            .into());
        }
        if instrument.code == "cows" {
            return Ok(Redirect::to(&format!("/patients/{id}/cows")).into_response());
        }
    }
    let form = instrument.map(|i| instrument_form(i, &BTreeMap::new(), None));
    let unknown = !code.is_empty() && instrument.is_none();
    let page = form_page(&state, &user, &patient, form, unknown);
    let status = if unknown {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct InstrumentField {
    #[serde(default)]
    instrument: String,
}

pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<InstrumentField>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, form, pairs } = submitted;
    let instrument = state
        .app
        .knowledge()
        .instruments
        .get(form.instrument.trim())
        .ok_or_else(|| ApiError::not_found("instrument"))?;
    let raw = raw_answers(instrument, &pairs);
    let request = AssessmentSubmission {
        instrument: instrument.code.clone(),
        answers: answers_from(instrument, &raw),
        completed_at: None,
    };
    match submit_assessment(&state.app, &user, id, &request)
        .await
        .map_err(ApiError::from)
    {
        Ok((_, alerts)) if needs_crisis_contacts(&alerts) => {
            Ok(Redirect::to(&urgent_address(id, &alerts)).into_response())
        }
        Ok((assessment, _)) => Ok(Redirect::to(&format!(
            "/patients/{id}/assessments?instrument={}&saved={}#saved",
            urlencode(&instrument.code),
            assessment.id
        ))
        .into_response()),
        Err(error) if is_form_error(&error) => {
            let (patient, _) = speciosa_app::patients::read_patient(&state.app, &user, id).await?;
            let form = instrument_form(instrument, &raw, Some(&error));
            let page = form_page(&state, &user, &patient, Some(form), false);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------
// History: GET /patients/{id}/assessments.

#[derive(Deserialize, Default)]
pub struct HistoryParams {
    #[serde(default)]
    instrument: String,
    #[serde(default)]
    saved: String,
}

/// One completed assessment as a table row.
struct HistoryRow {
    when: String,
    total: String,
    band: String,
    /// Sleep diary metrics, in display form.
    diary: Option<DiaryRow>,
    /// Answers that raised a safety rule, or the "yes" answers of an unscored checklist.
    flagged: Vec<String>,
    /// Unscored checklists: what was reported.
    reported: String,
}

struct DiaryRow {
    time_in_bed: String,
    total_sleep: String,
    efficiency: String,
    onset: String,
    waso: String,
    awakenings: String,
    quality: String,
}

fn hours_minutes(minutes: f64) -> String {
    let total = minutes.round() as i64;
    match (total / 60, total % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn diary_row(instrument: &Instrument, assessment: &Assessment) -> Option<DiaryRow> {
    let metrics = assessment.metrics.as_ref()?;
    let number = |key: &str| metrics.get(key).and_then(|v| v.as_f64());
    let quality = number("quality").and_then(|q| {
        instrument
            .items
            .iter()
            .find_map(|item| match &item.response {
                ItemResponse::Options(options) if !item.scored => options
                    .iter()
                    .find(|o| o.value == q)
                    .map(|o| o.label.clone()),
                _ => None,
            })
    });
    Some(DiaryRow {
        time_in_bed: number("time_in_bed_min")
            .map(hours_minutes)
            .unwrap_or_default(),
        total_sleep: number("total_sleep_time_min")
            .map(hours_minutes)
            .unwrap_or_default(),
        efficiency: number("sleep_efficiency_pct")
            .map(|p| format!("{p:.0}%"))
            .unwrap_or_default(),
        onset: number("sleep_onset_latency_min")
            .map(hours_minutes)
            .unwrap_or_default(),
        waso: number("wake_after_sleep_onset_min")
            .map(hours_minutes)
            .unwrap_or_default(),
        awakenings: number("awakenings").map(number_text).unwrap_or_default(),
        quality: quality.unwrap_or_default(),
    })
}

/// Item answers worth pointing out: any answer that fires a safety rule.
fn flagged(instrument: &Instrument, assessment: &Assessment) -> Vec<String> {
    instrument
        .items
        .iter()
        .filter(|item| item.safety.is_some())
        .filter_map(|item| match assessment.answers.get(&item.id) {
            Some(Answer::Number(v)) if *v > 0.0 => Some(match &item.response {
                ItemResponse::Options(options) => {
                    let label = options
                        .iter()
                        .find(|o| o.value == *v)
                        .map(|o| o.label.clone())
                        .unwrap_or_else(|| number_text(*v));
                    if instrument.scoring.min == instrument.scoring.max {
                        item.text.clone()
                    } else {
                        format!("Item {}: {label}", item.id)
                    }
                }
                _ => format!("Item {}: {}", item.id, number_text(*v)),
            }),
            _ => None,
        })
        .collect()
}

fn band_label(instrument: &Instrument, code: Option<&String>) -> String {
    code.map(|c| {
        instrument
            .bands
            .iter()
            .find(|b| &b.code == c)
            .map(|b| b.label.clone())
            .unwrap_or_else(|| humanize(c))
    })
    .unwrap_or_default()
}

/// One instrument's history: chart, rows newest first.
struct HistorySection {
    code: String,
    name: String,
    short_name: String,
    kind: &'static str,
    chart: Option<Chart>,
    rows: Vec<HistoryRow>,
    /// Rows left out of the overview, with the link to see them all.
    more: Option<(usize, String)>,
    again_href: Option<String>,
    attribution: String,
}

/// The confirmation after a generic form was saved.
struct SavedResult {
    short_name: String,
    total: Option<String>,
    band: String,
    attribution: String,
    evidence: Option<String>,
}

#[derive(Template)]
#[template(path = "assessments.html")]
struct HistoryPage {
    nav: Nav,
    for_self: bool,
    patient_id: String,
    patient_name: String,
    back_href: String,
    back_label: String,
    zone: String,
    /// Instruments with results, for the filter.
    filter: Vec<(String, String)>,
    selected: String,
    sections: Vec<HistorySection>,
    saved: Option<SavedResult>,
}

/// Rows per instrument in the overview of every instrument.
const OVERVIEW_ROWS: usize = 10;

fn history_section(
    user: &Authenticated,
    patient: &Patient,
    instrument: &Instrument,
    assessments: &[&Assessment],
    overview: bool,
) -> HistorySection {
    let zone = patient.details.time_zone.to_zone();
    let kind = if instrument.code == "sleep_diary" {
        "diary"
    } else if assessments.iter().any(|a| a.total.is_some()) {
        "scored"
    } else {
        "checklist"
    };
    let chart = match kind {
        "scored" => {
            let values: Vec<(Timestamp, f64)> = assessments
                .iter()
                .filter_map(|a| a.total.map(|t| (a.completed_at, t)))
                .collect();
            self::chart(
                format!("{} totals", instrument.short_name),
                "",
                &values,
                instrument.scoring.min,
                instrument.scoring.max,
                &band_thresholds(instrument, sex_of(patient)),
                &zone,
            )
        }
        "diary" => {
            let values: Vec<(Timestamp, f64)> = assessments
                .iter()
                .filter_map(|a| {
                    let pct = a.metrics.as_ref()?.get("sleep_efficiency_pct")?.as_f64()?;
                    Some((a.completed_at, pct.round()))
                })
                .collect();
            self::chart(
                "Sleep efficiency".into(),
                "%",
                &values,
                0.0,
                100.0,
                &[],
                &zone,
            )
        }
        _ => None,
    };
    let shown = if overview { OVERVIEW_ROWS } else { usize::MAX };
    let more = (assessments.len() > shown).then(|| {
        (
            assessments.len(),
            format!(
                "/patients/{}/assessments?instrument={}",
                patient.id,
                urlencode(&instrument.code)
            ),
        )
    });
    let rows = assessments
        .iter()
        .rev()
        .take(shown)
        .map(|a| {
            let flags = flagged(instrument, a);
            HistoryRow {
                when: if kind == "diary" {
                    a.completed_at
                        .to_zoned_datetime(zone.clone())
                        .strftime("%a %-d %b %Y")
                        .to_string()
                } else {
                    local_time(a.completed_at, &zone)
                },
                total: a.total.map(number_text).unwrap_or_default(),
                band: band_label(instrument, a.band.as_ref()),
                diary: diary_row(instrument, a),
                reported: if kind == "checklist" {
                    if flags.is_empty() {
                        "None".into()
                    } else {
                        flags.join("; ")
                    }
                } else {
                    String::new()
                },
                flagged: if kind == "checklist" {
                    Vec::new()
                } else {
                    flags
                },
            }
        })
        .collect();
    let can_fill = instrument.rater == Rater::Patient || user.actor.role == Role::Clinician;
    HistorySection {
        code: instrument.code.clone(),
        name: instrument.name.clone(),
        short_name: instrument.short_name.clone(),
        kind,
        chart,
        rows,
        more,
        again_href: can_fill.then(|| {
            if instrument.code == "cows" {
                format!("/patients/{}/cows", patient.id)
            } else {
                format!(
                    "/patients/{}/assessments/new?instrument={}",
                    patient.id,
                    urlencode(&instrument.code)
                )
            }
        }),
        attribution: instrument.attribution.clone(),
    }
}

pub async fn history(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let params = query.map(|q| q.0).unwrap_or_default();
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, &user, id).await?;
    let all = read_history(&state.app, &user, id, None).await?;
    let selected = params.instrument.trim().to_owned();
    let filter: Vec<(String, String)> = state
        .app
        .knowledge()
        .instruments
        .all()
        .iter()
        .filter(|i| all.iter().any(|a| a.instrument == i.code))
        .map(|i| (i.code.clone(), i.short_name.clone()))
        .collect();
    let sections = state
        .app
        .knowledge()
        .instruments
        .all()
        .iter()
        .filter(|i| selected.is_empty() || i.code == selected)
        .filter_map(|instrument| {
            let mine: Vec<&Assessment> = all
                .iter()
                .filter(|a| a.instrument == instrument.code)
                .collect();
            (!mine.is_empty())
                .then(|| history_section(&user, &patient, instrument, &mine, selected.is_empty()))
        })
        .collect();
    let saved = all
        .iter()
        .find(|a| !params.saved.is_empty() && a.id.to_string() == params.saved.trim())
        .and_then(|a| {
            let instrument = state.app.knowledge().instruments.get(&a.instrument)?;
            Some(SavedResult {
                short_name: instrument.short_name.clone(),
                total: a.total.map(|t| {
                    format!(
                        "{} (range {}–{})",
                        number_text(t),
                        number_text(instrument.scoring.min),
                        number_text(instrument.scoring.max)
                    )
                }),
                band: band_label(instrument, a.band.as_ref()),
                attribution: instrument.attribution.clone(),
                evidence: instrument.evidence.clone(),
            })
        });
    let v = viewer(&user, &patient);
    let page = HistoryPage {
        nav: v.nav,
        for_self: v.for_self,
        patient_id: id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        back_href: v.back_href,
        back_label: v.back_label,
        zone: patient.details.time_zone.as_str().to_owned(),
        filter,
        selected,
        sections,
        saved,
    };
    Ok(render(&page)?.into_response())
}

// ---------------------------------------------------------------------------
// The clinician's COWS screen: GET/POST /patients/{id}/cows.

struct BandRow {
    label: String,
    range: String,
    min: String,
    max: String,
}

#[derive(Clone)]
struct SeriesRow {
    when: String,
    since_previous: String,
    total: String,
    band: String,
}

#[derive(Template)]
#[template(path = "cows.html")]
struct CowsPage {
    nav: Nav,
    patient_id: String,
    patient_name: String,
    zone: String,
    form: InstrumentForm,
    completed_at: String,
    completed_at_error: Option<String>,
    evidence: String,
    bands: Vec<BandRow>,
    series: Vec<SeriesRow>,
    chart: Option<Chart>,
    saved: Option<SeriesRow>,
    max: String,
}

impl CowsPage {
    pub fn has_errors(&self) -> bool {
        self.form.has_errors() || self.completed_at_error.is_some()
    }
}

#[derive(Deserialize, Default)]
pub struct SavedParam {
    #[serde(default)]
    saved: String,
}

async fn cows_page(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    form: Option<InstrumentForm>,
    completed_at: String,
    completed_at_error: Option<String>,
    saved: &str,
) -> Result<CowsPage, PageError> {
    require_role(
        state,
        user,
        Role::Clinician,
        "assessment.create",
        "assessment",
        "the COWS screen is for clinicians",
    )
    .await?;
    let instrument = state
        .app
        .knowledge()
        .instruments
        .get("cows")
        .ok_or_else(|| ApiError::not_found("instrument"))?;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, user, id).await?;
    let zone = patient.details.time_zone.to_zone();
    let history = read_history(&state.app, user, id, Some("cows")).await?;
    let mut previous: Option<Timestamp> = None;
    let mut series: Vec<SeriesRow> = Vec::new();
    let mut saved_row = None;
    for a in &history {
        let since_previous = match previous {
            Some(p) => {
                let mins = a.completed_at.duration_since(p).as_mins();
                if mins < 24 * 60 {
                    format!("+{}", hours_minutes(mins as f64))
                } else {
                    "new series".into()
                }
            }
            None => String::new(),
        };
        previous = Some(a.completed_at);
        let row = SeriesRow {
            when: local_time(a.completed_at, &zone),
            since_previous,
            total: a.total.map(number_text).unwrap_or_default(),
            band: band_label(instrument, a.band.as_ref()),
        };
        if !saved.is_empty() && a.id.to_string() == saved {
            saved_row = Some(row.clone());
        }
        series.push(row);
    }
    series.reverse();
    let values: Vec<(Timestamp, f64)> = history
        .iter()
        .rev()
        .take(12)
        .rev()
        .filter_map(|a| a.total.map(|t| (a.completed_at, t)))
        .collect();
    let chart = chart(
        "COWS totals".into(),
        "",
        &values,
        instrument.scoring.min,
        instrument.scoring.max,
        &band_thresholds(instrument, None),
        &zone,
    );
    Ok(CowsPage {
        nav: Nav::for_user(user).at("/patients"),
        patient_id: id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        zone: patient.details.time_zone.as_str().to_owned(),
        form: form.unwrap_or_else(|| instrument_form(instrument, &BTreeMap::new(), None)),
        completed_at,
        completed_at_error,
        evidence: instrument.evidence.clone().unwrap_or_default(),
        bands: instrument
            .bands
            .iter()
            .map(|b| BandRow {
                label: b.label.clone(),
                range: format!("{}–{}", number_text(b.min), number_text(b.max)),
                min: number_text(b.min),
                max: number_text(b.max),
            })
            .collect(),
        series,
        chart,
        saved: saved_row,
        max: number_text(instrument.scoring.max),
    })
}

pub async fn cows(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<SavedParam>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let saved = query.map(|q| q.0.saved).unwrap_or_default();
    let page = cows_page(&state, &user, id, None, String::new(), None, saved.trim()).await?;
    Ok(render(&page)?.into_response())
}

/// A `datetime-local` value in the patient's zone as RFC 3339, or why it is unreadable.
fn local_to_rfc3339(raw: &str, zone: &TimeZone) -> Result<Option<String>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<DateTime>()
        .ok()
        .and_then(|local| local.to_zoned_datetime(zone.clone()).ok())
        .map(|z| Some(z.timestamp().to_string()))
        .ok_or_else(|| {
            "Enter the date and time of the assessment, for example 2026-05-12 08:30.".to_owned()
        })
}

#[derive(Deserialize)]
pub struct CowsFields {
    #[serde(default)]
    completed_at: String,
}

pub async fn cows_submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<CowsFields>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, form, pairs } = submitted;
    require_role(
        &state,
        &user,
        Role::Clinician,
        "assessment.create",
        "assessment",
        "the COWS screen is for clinicians",
    )
    .await?;
    let instrument = state
        .app
        .knowledge()
        .instruments
        .get("cows")
        .ok_or_else(|| ApiError::not_found("instrument"))?;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, &user, id).await?;
    let raw = raw_answers(instrument, &pairs);
    let completed_at =
        match local_to_rfc3339(&form.completed_at, &patient.details.time_zone.to_zone()) {
            Ok(at) => at,
            Err(message) => {
                let page = cows_page(
                    &state,
                    &user,
                    id,
                    Some(instrument_form(instrument, &raw, None)),
                    form.completed_at.clone(),
                    Some(message),
                    "",
                )
                .await?;
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
            }
        };
    let request = AssessmentSubmission {
        instrument: instrument.code.clone(),
        answers: answers_from(instrument, &raw),
        completed_at,
    };
    match submit_assessment(&state.app, &user, id, &request)
        .await
        .map_err(ApiError::from)
    {
        Ok((assessment, _)) => Ok(Redirect::to(&format!(
            "/patients/{id}/cows?saved={}#saved",
            assessment.id
        ))
        .into_response()),
        Err(mut error) if is_form_error(&error) => {
            let time_error = error
                .errors
                .iter()
                .find(|e| e.field == "completed_at")
                .map(|e| format!("{}.", sentence(&e.detail).trim_end_matches('.')));
            error.errors.retain(|e| e.field != "completed_at");
            let answers_error =
                (!error.errors.is_empty() || time_error.is_none()).then_some(&error);
            let form_view = instrument_form(instrument, &raw, answers_error);
            let page = cows_page(
                &state,
                &user,
                id,
                Some(form_view),
                form.completed_at.clone(),
                time_error,
                "",
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(error) => Err(error.into()),
    }
}
