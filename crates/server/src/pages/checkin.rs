//! The patient's daily check-in (only what is due today, on one phone page), the
//! crisis/urgent-help page shown when an answer raises an urgent alert, and the
//! clinician's schedule form on the patient record.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;
use speciosa_app::checkin::{self, DueItem};
use speciosa_app::records::{Alert, Patient};
use speciosa_core::account::Role;
use speciosa_core::checkin::{CheckinLength, Frequency};
use speciosa_core::instrument::{Instrument, Rater};

use crate::app::AppState;
use crate::error::{PageError, urlencode};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::assessments::{
    InstrumentForm, SummaryLine, answers_from, instrument_form, is_form_error, raw_answers,
    urgent_address, viewer,
};
use crate::pages::time::Clock;
use crate::pages::{Nav, NoFields, patient_id, render, require_role};
use speciosa_app::assessments::{
    AssessmentSubmission, AssessmentSubmitted, needs_crisis_contacts, submit_assessment_once,
};
use uuid::Uuid;

/// A form's idempotency key as the API accepts it: 1 to 200 visible ASCII characters
/// (room left for the section's code).
fn valid_key(key: &str) -> bool {
    key.len() <= 200 && key.chars().all(|c| c.is_ascii_graphic())
}

/// The order of the check-in: the morning diary first, then the quick ratings, the
/// red-flag symptoms, and the weekly scales.
const CHECKIN_ORDER: [&str; 7] = [
    "sleep_diary",
    "craving",
    "pain_nrs",
    "red_flags",
    "sows",
    "phq9",
    "gad7",
];

/// Sorts instrument codes into check-in order; others (a clinic's extra instruments)
/// follow in their catalogue order.
fn checkin_position(state: &AppState, code: &str) -> usize {
    CHECKIN_ORDER
        .iter()
        .position(|c| *c == code)
        .unwrap_or_else(|| {
            CHECKIN_ORDER.len()
                + state
                    .app
                    .knowledge()
                    .instruments
                    .all()
                    .iter()
                    .position(|i| i.code == code)
                    .unwrap_or(usize::MAX - CHECKIN_ORDER.len())
        })
}

/// The patient-rated instruments due today, in check-in order.
pub fn due_codes(state: &AppState, due: &[DueItem]) -> Vec<String> {
    let mut codes: Vec<String> = due
        .iter()
        .filter(|d| d.due)
        .filter(|d| {
            state
                .app
                .knowledge()
                .instruments
                .get(&d.instrument)
                .is_some_and(|i| i.rater == Rater::Patient)
        })
        .map(|d| d.instrument.clone())
        .collect();
    codes.sort_by_key(|c| checkin_position(state, c));
    codes
}

/// A crisis or urgent-care contact.
pub struct ResourceView {
    pub name: String,
    pub contact: String,
    pub detail: String,
    /// `tel:` address for the number in the contact text, for phones.
    pub tel: Option<String>,
}

/// The crisis contacts for the patient's country, with their source.
pub struct CrisisView {
    pub country: String,
    pub source: String,
    pub resources: Vec<ResourceView>,
}

/// The phone number in "Call or text 988" or "Call 1-800-222-1222".
fn phone_number(contact: &str) -> Option<String> {
    let start = contact.find(|c: char| c.is_ascii_digit())?;
    let number: String = contact[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-' || *c == ' ')
        .filter(char::is_ascii_digit)
        .collect();
    (!number.is_empty()).then(|| format!("tel:{number}"))
}

pub fn crisis_view(state: &AppState, patient: &Patient) -> CrisisView {
    let (country, resources) = checkin::crisis_resources(&state.app, patient);
    CrisisView {
        country: country.to_owned(),
        source: resources.source.clone(),
        resources: resources
            .resources
            .iter()
            .map(|r| ResourceView {
                name: r.name.clone(),
                contact: r.contact.clone(),
                detail: r.detail.clone(),
                tel: phone_number(&r.contact),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// GET/POST /patients/{id}/checkin.

struct OptionalLink {
    href: String,
    name: String,
}

#[derive(Template)]
#[template(path = "checkin.html")]
struct CheckinPage {
    nav: Nav,
    patient_id: String,
    today: String,
    forms: Vec<InstrumentForm>,
    /// How long the sections still to answer are (`3 sections, 21 questions, about 4 minutes`).
    length: String,
    /// Sections already saved today (short names).
    done: Vec<String>,
    /// Sections saved by the submission just made.
    saved: Vec<String>,
    optional: Vec<OptionalLink>,
    /// The form's idempotency key: each section is stored under `{key}:{instrument}`, so
    /// a check-in sent twice (a retry, the patient app's offline queue) is stored once.
    idempotency_key: String,
    /// Shown when this submission raised an urgent alert and the page is shown again.
    urgent: Option<CrisisView>,
    /// An answer to a safety question in a section not yet saved: the contacts are shown
    /// at once, while the patient finishes the section so the care team is alerted.
    unsaved_safety: Option<CrisisView>,
}

impl CheckinPage {
    fn summary(&self) -> Vec<SummaryLine> {
        self.forms.iter().flat_map(|f| f.summary()).collect()
    }
}

fn optional_links(state: &AppState, patient: &Patient) -> Vec<OptionalLink> {
    state
        .app
        .knowledge()
        .instruments
        .all()
        .iter()
        .filter(|i| i.rater == Rater::Patient)
        .map(|i| OptionalLink {
            href: format!(
                "/patients/{}/assessments/new?instrument={}",
                patient.id,
                urlencode(&i.code)
            ),
            name: i.name.clone(),
        })
        .collect()
}

fn today_text(patient: &Patient) -> String {
    Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .strftime("%A %-d %B")
        .to_string()
}

/// The patient-rated instruments on the schedule already completed today, in check-in order.
pub fn done_codes(state: &AppState, patient: &Patient, due: &[DueItem]) -> Vec<String> {
    let zone = patient.details.time_zone.to_zone();
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();
    let mut codes: Vec<String> = due
        .iter()
        .filter(|d| d.frequency != Frequency::Off)
        .filter(|d| {
            state
                .app
                .knowledge()
                .instruments
                .get(&d.instrument)
                .is_some_and(|i| i.rater == Rater::Patient)
        })
        .filter(|d| {
            d.last_completed_at
                .is_some_and(|t| t.to_zoned_datetime(zone.clone()).date() == today)
        })
        .map(|d| d.instrument.clone())
        .collect();
    codes.sort_by_key(|c| checkin_position(state, c));
    codes
}

/// The length of the sections `codes` name, in words.
pub fn length_text(state: &AppState, codes: &[String]) -> String {
    CheckinLength::of(
        codes
            .iter()
            .filter_map(|c| state.app.knowledge().instruments.get(c)),
    )
    .describe()
}

fn short_names(state: &AppState, codes: &[String]) -> Vec<String> {
    codes
        .iter()
        .filter_map(|c| state.app.knowledge().instruments.get(c))
        .map(|i| i.short_name.clone())
        .collect()
}

async fn own_patient(
    state: &AppState,
    user: &Authenticated,
    id: &str,
) -> Result<Patient, PageError> {
    let id = patient_id(id)?;
    require_role(
        state,
        user,
        Role::Patient,
        "checkin.read",
        "schedule",
        "the daily check-in is for the patient themself",
    )
    .await?;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, user, id).await?;
    Ok(patient)
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    #[serde(default)]
    saved: String,
}

pub async fn form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let patient = own_patient(&state, &user, &id).await?;
    let due = checkin::due_today(&state.app, &user, patient.id).await?;
    let codes = due_codes(&state, &due);
    let forms = codes
        .iter()
        .filter_map(|code| state.app.knowledge().instruments.get(code))
        .map(|i| instrument_form(i, &BTreeMap::new(), None))
        .collect();
    // `?saved=` after saving a section names what was saved; only known names are shown.
    let saved_codes: Vec<String> = query
        .map(|q| q.0.saved)
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    let page = CheckinPage {
        nav: Nav::for_user(&user).at("/home"),
        patient_id: patient.id.to_string(),
        today: today_text(&patient),
        forms,
        length: length_text(&state, &codes),
        done: short_names(&state, &done_codes(&state, &patient, &due)),
        saved: short_names(&state, &saved_codes),
        optional: optional_links(&state, &patient),
        idempotency_key: Uuid::now_v7().to_string(),
        urgent: None,
        unsaved_safety: None,
    };
    Ok(crate::pages::offline::allow_offline_copy(
        render(&page)?.into_response(),
    ))
}

/// What a submitted section holds.
struct Section<'a> {
    instrument: &'a Instrument,
    raw: BTreeMap<String, String>,
}

impl Section<'_> {
    fn blank(&self) -> bool {
        self.raw.values().all(String::is_empty)
    }

    /// Every required question answered.
    fn complete(&self) -> bool {
        self.instrument
            .items
            .iter()
            .filter(|i| i.required)
            .all(|i| self.raw.get(&i.id).is_some_and(|v| !v.is_empty()))
    }

    /// The safety rules (`phq9_item9`, `red_flag_symptom`) its answers above zero raise.
    fn safety_rules_answered(&self) -> Vec<String> {
        self.instrument
            .items
            .iter()
            .filter(|i| {
                self.raw
                    .get(&i.id)
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v > 0.0)
            })
            .filter_map(|i| i.safety.clone())
            .collect()
    }

    /// An answer above zero to a question that raises a safety rule (PHQ-9 item 9, a red flag).
    fn answers_a_safety_question(&self) -> bool {
        self.instrument.items.iter().any(|i| {
            i.safety.is_some()
                && self
                    .raw
                    .get(&i.id)
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v > 0.0)
        })
    }
}

/// Saves the check-in, section by section. "Save check-in" submits every section; "Save this
/// section" submits that one and any other already complete, keeping the rest as typed. Each
/// section is its own assessment, saved and checked by the safety rules the moment it is
/// valid, so an answer that needs the care team reaches them even while another section is
/// unfinished; the sections left are asked again, and on return only those.
pub async fn submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    let PageForm { user, pairs, .. } = submitted;
    let patient = own_patient(&state, &user, &id).await?;
    let mut codes: Vec<String> = pairs
        .iter()
        .filter(|(name, _)| name == "instruments")
        .map(|(_, code)| code.trim().to_owned())
        .filter(|code| {
            state
                .app
                .knowledge()
                .instruments
                .get(code)
                .is_some_and(|i| i.rater == Rater::Patient)
        })
        .collect();
    codes.sort_by_key(|c| checkin_position(&state, c));
    codes.dedup();
    // The section whose own button was pressed, if any.
    let pressed = pairs
        .iter()
        .find(|(name, _)| name == "save")
        .map(|(_, code)| code.trim().to_owned())
        .filter(|code| codes.contains(code));
    let field = |wanted: &str| {
        pairs
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let mut key = field("idempotency_key").filter(|key| valid_key(key));
    // When the answers were given, if the page says (the offline queue sends it later).
    let completed_at = field("completed_at");
    let mut saved = Vec::new();
    let mut alerts: Vec<Alert> = Vec::new();
    let mut replayed_safety: Vec<String> = Vec::new();
    let mut again = Vec::new();
    let mut unsaved_safety = false;
    let mut kept_answers = false;
    for code in &codes {
        let Some(instrument) = state.app.knowledge().instruments.get(code) else {
            continue;
        };
        let section = Section {
            instrument,
            raw: raw_answers(instrument, &pairs),
        };
        let submit = match &pressed {
            None => true,
            Some(pressed) => !section.blank() && (pressed == code || section.complete()),
        };
        if !submit {
            kept_answers |= !section.blank();
            unsaved_safety |= section.answers_a_safety_question();
            again.push(instrument_form(instrument, &section.raw, None));
            continue;
        }
        let submission = AssessmentSubmission {
            instrument: instrument.code.clone(),
            answers: answers_from(instrument, &section.raw),
            completed_at: completed_at.clone(),
        };
        let section_key = key.as_ref().map(|key| format!("{key}:{code}"));
        match submit_assessment_once(&state.app, &user, patient.id, &submission, section_key)
            .await
            .map_err(crate::error::ApiError::from)
        {
            Ok(AssessmentSubmitted::Created { alerts: raised, .. }) => {
                saved.push(instrument.code.clone());
                if needs_crisis_contacts(&raised) {
                    alerts.extend(raised);
                }
            }
            Ok(AssessmentSubmitted::Replayed { .. }) => {
                // Sent again (the device's queue, a lost answer): the alert its safety
                // answers raised the first time stands, so the help page still comes first.
                replayed_safety.extend(section.safety_rules_answered());
                saved.push(instrument.code.clone());
            }
            Err(mut error) if is_form_error(&error) => {
                if error.errors.iter().any(|e| e.field == "Idempotency-Key") {
                    // The form saved other answers for this section before (sent again
                    // after going back): a fresh key lets these be saved on purpose.
                    error.errors.clear();
                    error.detail = "this form already saved different answers for this section, so these were not saved. If they are new answers, press “Save check-in” again".into();
                    key = None;
                }
                kept_answers = true;
                unsaved_safety |= section.answers_a_safety_question();
                again.push(instrument_form(instrument, &section.raw, Some(&error)));
            }
            Err(error) => return Err(error.into()),
        }
    }
    // Nothing typed would be lost by leaving the page: go on at once, to urgent help first.
    if !kept_answers {
        let to = if !alerts.is_empty() {
            urgent_address(patient.id, &alerts)
        } else if !replayed_safety.is_empty() {
            let mood = replayed_safety.iter().any(|r| r == "phq9_item9");
            let symptoms = replayed_safety.iter().any(|r| r != "phq9_item9");
            let reason = match (mood, symptoms) {
                (true, true) => "both",
                (true, false) => "mood",
                _ => "symptoms",
            };
            format!("/patients/{}/urgent?reason={reason}", patient.id)
        } else if again.is_empty() {
            "/home?saved=checkin".to_owned()
        } else {
            // Back at the confirmation, just above the next section.
            format!(
                "/patients/{}/checkin?saved={}#saved",
                patient.id,
                urlencode(&saved.join(","))
            )
        };
        return Ok(Redirect::to(&to).into_response());
    }
    let due = checkin::due_today(&state.app, &user, patient.id).await?;
    let remaining: Vec<String> = again.iter().map(|f| f.code.clone()).collect();
    let status = if again.iter().any(InstrumentForm::has_errors) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = CheckinPage {
        nav: Nav::for_user(&user).at("/home"),
        patient_id: patient.id.to_string(),
        today: today_text(&patient),
        forms: again,
        length: length_text(&state, &remaining),
        done: short_names(&state, &done_codes(&state, &patient, &due)),
        saved: short_names(&state, &saved),
        optional: optional_links(&state, &patient),
        idempotency_key: key.unwrap_or_else(|| Uuid::now_v7().to_string()),
        urgent: (!alerts.is_empty()).then(|| crisis_view(&state, &patient)),
        unsaved_safety: (unsaved_safety && alerts.is_empty())
            .then(|| crisis_view(&state, &patient)),
    };
    Ok((status, render(&page)?).into_response())
}

// ---------------------------------------------------------------------------
// GET /patients/{id}/urgent.

#[derive(Deserialize, Default)]
pub struct UrgentQuery {
    #[serde(default)]
    reason: String,
    /// The urgent alert the answers opened.
    #[serde(default)]
    alert: String,
}

/// What the patient's urgent page promises, all of it true at the time it is shown.
pub struct Promise {
    /// Care-team clinicians a message was written to.
    pub messaged: usize,
    /// A channel that can leave this server was among them.
    pub deliverable: bool,
    /// When the alert opened, patient-local HH:MM.
    pub opened: String,
    /// When the on-call list (or the care team again) is messaged if nobody has opened it.
    pub escalates: String,
    pub minutes: i64,
    pub on_call: bool,
}

#[derive(Template)]
#[template(path = "urgent.html")]
struct UrgentPage {
    nav: Nav,
    for_self: bool,
    patient_name: String,
    back_href: String,
    back_label: String,
    /// The answers were about low mood or self-harm.
    mood: bool,
    /// The answers were about a physical red-flag symptom.
    symptoms: bool,
    /// Opened from "Need help now?" on the home page: no alert was raised.
    asked: bool,
    crisis: CrisisView,
    promise: Option<Promise>,
}

pub async fn urgent(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<UrgentQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let query = query.map(|q| q.0).unwrap_or_default();
    let reason = query.reason;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, &user, id).await?;
    let v = viewer(&user, &patient);
    let promise = match query.alert.parse::<uuid::Uuid>() {
        Ok(alert) => promise(&state, &user, &patient, alert).await?,
        Err(_) => None,
    };
    let page = UrgentPage {
        nav: v.nav,
        for_self: v.for_self,
        patient_name: patient.details.display_name.as_str().to_owned(),
        back_href: v.back_href,
        back_label: v.back_label,
        mood: matches!(reason.as_str(), "mood" | "both"),
        symptoms: matches!(reason.as_str(), "symptoms" | "both"),
        asked: reason == "asked",
        crisis: crisis_view(&state, &patient),
        promise,
    };
    let for_self = page.for_self;
    let response = render(&page)?.into_response();
    // The patient's own help page opens offline; a clinician's view of it is never kept.
    Ok(if for_self {
        crate::pages::offline::allow_offline_copy(response)
    } else {
        response
    })
}

/// The paging of `alert`, as the patient's page states it; `None` when the alert is not
/// this patient's (the page then says only what is always true).
async fn promise(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    alert: uuid::Uuid,
) -> Result<Option<Promise>, PageError> {
    let alert = speciosa_core::ids::AlertId::from_uuid(alert);
    let Ok((found, _)) = speciosa_app::alerts::read_alert(&state.app, user, alert).await else {
        return Ok(None);
    };
    if found.patient_id != patient.id {
        return Ok(None);
    }
    let promise = speciosa_app::notify::urgent_promise(&state.app, user, alert).await?;
    let zone = patient.details.time_zone.to_zone();
    let clock = |at: Timestamp| {
        at.to_zoned_datetime(zone.clone())
            .strftime("%H:%M")
            .to_string()
    };
    Ok(Some(Promise {
        messaged: promise.care_team_messaged,
        deliverable: promise.deliverable,
        opened: clock(found.raised_at),
        escalates: clock(found.raised_at + promise.escalation),
        minutes: promise.escalation.as_mins(),
        on_call: promise.on_call,
    }))
}

// ---------------------------------------------------------------------------
// POST /patients/{id}/schedule (the form is on the patient record).

/// One instrument's row in the schedule form.
pub struct ScheduleRow {
    pub code: String,
    pub name: String,
    pub frequency: String,
    pub due: bool,
    pub last: String,
}

pub fn schedule_rows(state: &AppState, due: &[DueItem], clock: &Clock) -> Vec<ScheduleRow> {
    due.iter()
        .filter_map(|d| {
            let instrument = state.app.knowledge().instruments.get(&d.instrument)?;
            Some(ScheduleRow {
                code: d.instrument.clone(),
                name: instrument.short_name.clone(),
                frequency: d.frequency.as_str().to_owned(),
                due: d.due,
                last: d
                    .last_completed_at
                    .map(|at| clock.minute(at))
                    .unwrap_or_default(),
            })
        })
        .collect()
}

pub async fn save_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, pairs, .. } = submitted;
    let frequencies: BTreeMap<String, String> = pairs
        .iter()
        .filter_map(|(name, value)| {
            name.strip_prefix("frequency.")
                .map(|code| (code.to_owned(), value.trim().to_owned()))
        })
        .collect();
    checkin::set_schedule(&state.app, &user, id, &frequencies).await?;
    Ok(Redirect::to(&format!("/patients/{id}?saved=schedule#schedule-heading")).into_response())
}
