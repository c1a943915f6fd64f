//! The medication list on the patient record: add, correct, stop, and mark entered in
//! error. Each save re-runs the safety rules; an alert it raises is named in the notice.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::Date;
use serde::Deserialize;
use speciosa_app::medications::{self, MedicationSaved, patient_today};
use speciosa_app::records::Medication;
use speciosa_core::ids::{AlertId, MedicationId, PatientId};
use speciosa_core::medication::{MedicationClass, MedicationFields};
use speciosa_core::medicines::{
    InteractionRow, InteractionSeverity, MatchKind, Mechanism, Resolution,
};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm};
use crate::pages::patients::{RecordForms, record_page};
use crate::pages::{Choice, FormErrors, patient_id};

const LABELS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("class", "Class"),
    ("dose_text", "Dose"),
    ("started_on", "Started"),
    ("stopped_on", "Stopped"),
    ("reason", "Reason"),
];

/// The add and correct forms as typed.
#[derive(Deserialize, Default, Clone)]
pub struct MedicationForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub dose_text: String,
    #[serde(default)]
    pub started_on: String,
    #[serde(default)]
    pub stopped_on: String,
    /// The name whose resolution the clinician confirmed (a changed name asks again).
    #[serde(default)]
    pub confirmed: String,
}

impl MedicationForm {
    fn fields(&self) -> MedicationFields<'_> {
        MedicationFields {
            name: &self.name,
            class: &self.class,
            dose_text: Some(self.dose_text.as_str()),
            started_on: Some(self.started_on.as_str()),
            stopped_on: Some(self.stopped_on.as_str()),
        }
    }

    fn from_view(view: &ListedMedication) -> Self {
        MedicationForm {
            name: view.name.clone(),
            class: view.class.clone(),
            dose_text: view.dose_text.clone().unwrap_or_default(),
            started_on: view.started_on.clone().unwrap_or_default(),
            stopped_on: view.stopped_on.clone().unwrap_or_default(),
            confirmed: String::new(),
        }
    }
}

/// The confirm step: what the lexicon made of a typed name, before it is saved.
pub struct Confirmation {
    /// `Xanax 0.5 mg → alprazolam (Benzodiazepine) — is this right?`
    pub question: String,
    pub recognised: bool,
    /// A near spelling rather than a known name: said plainly.
    pub close_spelling: bool,
}

impl Confirmation {
    fn new(typed: &str, resolution: &Resolution) -> Self {
        let typed = typed.split_whitespace().collect::<Vec<_>>().join(" ");
        match &resolution.recognised {
            Some(found) => Confirmation {
                question: format!(
                    "{typed} → {} ({}) — is this right?",
                    found.ingredient,
                    found.class.label()
                ),
                recognised: true,
                close_spelling: found.how == MatchKind::CloseSpelling,
            },
            None => Confirmation {
                question: format!(
                    "“{typed}” is not in the drug lexicon. It will be kept as typed and not \
                     checked against interactions unless you choose a class. Save it as typed?"
                ),
                recognised: false,
                close_spelling: false,
            },
        }
    }
}

/// One line of the interaction summary: an active medicine and one of its rows.
pub struct InteractionLine {
    pub medicine: String,
    pub mechanism: &'static str,
    pub severity: &'static str,
    pub evidence: &'static str,
    pub effect: String,
    pub consider: String,
    pub source: String,
}

/// A medication as the list shows it, its dates read against the patient's today.
pub struct ListedMedication {
    pub name: String,
    pub class: String,
    pub class_label: String,
    /// The lexicon's ingredient, when recognised.
    pub ingredient: Option<String>,
    pub recognised: bool,
    /// Whether a CNS-depression row applies (the CNS-depressant combination rule).
    pub cns_depressant: bool,
    /// The kratom interaction rows that apply.
    pub interactions: Vec<InteractionRow>,
    pub dose_text: Option<String>,
    pub started_on: Option<String>,
    pub stopped_on: Option<String>,
    /// Taken today, by its dates.
    pub active: bool,
}

impl ListedMedication {
    pub fn new(medication: &Medication, today: Date) -> Self {
        Self::checked(medication, Vec::new(), today)
    }

    /// With the interaction rows that apply to it.
    pub fn checked(
        medication: &Medication,
        interactions: Vec<InteractionRow>,
        today: Date,
    ) -> Self {
        ListedMedication {
            name: medication.name.clone(),
            class: medication.class.as_str().into(),
            class_label: medication.class.label().into(),
            ingredient: medication.ingredient.clone(),
            recognised: medication.recognised,
            cns_depressant: interactions
                .iter()
                .any(|r| r.mechanism == Mechanism::CnsDepression),
            interactions,
            dose_text: medication.dose_text.clone(),
            started_on: medication.started_on.map(|d| d.to_string()),
            stopped_on: medication.stopped_on.map(|d| d.to_string()),
            active: speciosa_core::medication::is_active_on(
                medication.started_on,
                medication.stopped_on,
                today,
            ),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct StopOrEditForm {
    /// `stop` from an entry's stop form; anything else is a correction.
    #[serde(default)]
    intent: String,
    #[serde(flatten)]
    form: MedicationForm,
}

#[derive(Deserialize, Default)]
pub struct RemoveForm {
    #[serde(default)]
    reason: String,
}

/// A refused submission, shown again where it was made.
pub enum Attempt {
    Add(MedicationForm),
    /// A name typed without a class, shown back with what the lexicon made of it.
    Confirm(MedicationForm, Confirmation),
    Edit(MedicationId, MedicationForm),
    Stop(MedicationId, String),
    Remove(MedicationId, String),
}

/// One entry of the list, with its own forms.
pub struct MedicationRow {
    pub id: String,
    pub view: ListedMedication,
    /// The correction form's values.
    pub edit: MedicationForm,
    /// The stop form's date (today unless a refused one is shown again).
    pub stop_on: String,
    pub reason: String,
    /// Which of the entry's forms is open: `edit`, `stop`, `remove` or none.
    pub open: &'static str,
    pub errors: FormErrors,
}

impl MedicationRow {
    /// `Taking` or `Stopped`, by its dates today.
    pub fn status(&self) -> &'static str {
        if self.view.active {
            "Taking"
        } else {
            "Stopped"
        }
    }

    /// The id of a field of one of this entry's forms (`edit`, `stop`, `remove`).
    pub fn field_id(&self, form: &str, field: &str) -> String {
        format!("{form}-{field}-{}", self.id)
    }

    /// The message for a field, when that form is the one shown again.
    pub fn error(&self, form: &str, field: &str) -> Option<String> {
        (self.open == form)
            .then(|| self.errors.text(field))
            .flatten()
    }

    pub fn invalid(&self, form: &str, field: &str) -> bool {
        self.open == form && self.errors.has(field)
    }

    /// `aria-describedby` for a field: its error message, if it has one.
    pub fn described(&self, form: &str, field: &str) -> String {
        if self.invalid(form, field) {
            format!("{}-error", self.field_id(form, field))
        } else {
            String::new()
        }
    }
}

/// The medication section of the record.
pub struct MedicationSection {
    pub rows: Vec<MedicationRow>,
    pub classes: Vec<Choice>,
    pub add: MedicationForm,
    pub add_errors: FormErrors,
    /// The confirm step for the add form, when a name was typed without a class.
    pub confirm: Option<Confirmation>,
    /// Each active medicine's kratom interactions, most severe first.
    pub summary: Vec<InteractionLine>,
    /// Active medicines whose names were not recognised (not checked unless classed).
    pub unchecked: Vec<String>,
    pub notice: Option<&'static str>,
    /// One line per alert the last save raised.
    /// `(alert id, summary)` for each alert the last save raised.
    pub alerts: Vec<(String, String)>,
    pub status: StatusCode,
}

/// What the last medication save left in the address: `?saved=medication-…&alerts=id,id`.
pub struct Saved {
    pub saved: String,
    pub alerts: String,
}

pub fn class_choices() -> Vec<Choice> {
    MedicationClass::ALL
        .iter()
        .map(|c| Choice {
            value: c.as_str(),
            label: c.label().to_owned(),
        })
        .collect()
}

/// Reads the list (audited) and lays out the section, with a refused form shown again.
pub async fn section(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    attempt: Option<(Attempt, FormErrors)>,
    saved: Option<Saved>,
) -> Result<MedicationSection, PageError> {
    let (patient, medications) =
        medications::read_checked_medications(&state.app, user, id).await?;
    let today = patient_today(&patient);
    let mut summary: Vec<(InteractionSeverity, InteractionLine)> = Vec::new();
    let mut unchecked = Vec::new();
    for m in &medications {
        let medication = &m.medication;
        if !speciosa_core::medication::is_active_on(
            medication.started_on,
            medication.stopped_on,
            today,
        ) {
            continue;
        }
        if !medication.recognised && m.interactions.is_empty() {
            unchecked.push(medication.name.clone());
        }
        for row in &m.interactions {
            summary.push((
                row.severity,
                InteractionLine {
                    medicine: match &medication.ingredient {
                        Some(ingredient) => format!("{} ({ingredient})", medication.name),
                        None => medication.name.clone(),
                    },
                    mechanism: row.mechanism.label(),
                    severity: row.severity.as_str(),
                    evidence: row.evidence.label(),
                    effect: row.effect.clone(),
                    consider: row.consider.clone(),
                    source: row.source.clone(),
                },
            ));
        }
    }
    summary.sort_by_key(|(severity, _)| *severity);
    let summary = summary.into_iter().map(|(_, line)| line).collect();
    let mut rows: Vec<MedicationRow> = medications
        .into_iter()
        .map(|checked| {
            let m = &checked.medication;
            let view = ListedMedication::checked(m, checked.interactions.clone(), today);
            MedicationRow {
                id: m.id.to_string(),
                edit: MedicationForm::from_view(&view),
                view,
                stop_on: today.to_string(),
                reason: String::new(),
                open: "",
                errors: FormErrors::none(),
            }
        })
        .collect();
    let mut add = MedicationForm::default();
    let mut add_errors = FormErrors::none();
    let mut confirm = None;
    let mut status = StatusCode::OK;
    if let Some((attempt, errors)) = attempt {
        status = errors.status;
        let row_for = |rows: &mut Vec<MedicationRow>, mid: MedicationId| {
            let key = mid.to_string();
            rows.iter_mut().position(|r| r.id == key)
        };
        match attempt {
            Attempt::Add(form) => {
                add = form;
                add_errors = errors;
            }
            Attempt::Confirm(form, confirmation) => {
                add = form;
                confirm = Some(confirmation);
            }
            Attempt::Edit(mid, form) => {
                if let Some(i) = row_for(&mut rows, mid) {
                    rows[i].edit = form;
                    rows[i].open = "edit";
                    rows[i].errors = errors;
                }
            }
            Attempt::Stop(mid, date) => {
                if let Some(i) = row_for(&mut rows, mid) {
                    rows[i].stop_on = date;
                    rows[i].open = "stop";
                    rows[i].errors = errors;
                }
            }
            Attempt::Remove(mid, reason) => {
                if let Some(i) = row_for(&mut rows, mid) {
                    rows[i].reason = reason;
                    rows[i].open = "remove";
                    rows[i].errors = errors;
                }
            }
        }
    }
    let (notice, alerts) = match saved {
        Some(saved) => (
            notice_for(&saved.saved),
            raised_alerts(state, user, id, &saved.alerts).await?,
        ),
        None => (None, Vec::new()),
    };
    Ok(MedicationSection {
        rows,
        classes: class_choices(),
        add,
        add_errors,
        confirm,
        summary,
        unchecked,
        notice,
        alerts,
        status,
    })
}

fn notice_for(saved: &str) -> Option<&'static str> {
    match saved {
        "medication-added" => Some("Medication added."),
        "medication-changed" => Some("Medication corrected."),
        "medication-stopped" => Some("Stop date saved."),
        "medication-removed" => {
            Some("Entry marked as entered in error. It stays in the record, off the list.")
        }
        _ => None,
    }
}

/// The alerts named in the address, read as any alert is (authorized, audited); ids
/// that name nothing this user may see are left out.
async fn raised_alerts(
    state: &AppState,
    user: &Authenticated,
    patient: PatientId,
    ids: &str,
) -> Result<Vec<(String, String)>, PageError> {
    let mut lines = Vec::new();
    for id in ids
        .split(',')
        .filter_map(|raw| raw.trim().parse::<AlertId>().ok())
    {
        match speciosa_app::alerts::read_alert(&state.app, user, id)
            .await
            .map_err(crate::error::ApiError::from)
        {
            Ok((alert, _)) if alert.patient_id == patient => {
                lines.push((alert.id.to_string(), alert.summary))
            }
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind.status,
                    StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
                ) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(lines)
}

/// Back to the record's medication section, naming what was saved and any alert raised.
fn saved_address(id: PatientId, what: &str, saved: &MedicationSaved) -> String {
    let alerts = saved
        .alerts
        .iter()
        .map(|a| a.id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let alerts = if alerts.is_empty() {
        String::new()
    } else {
        format!("&alerts={alerts}")
    };
    format!("/patients/{id}?saved=medication-{what}{alerts}#medications-heading")
}

fn medication_id(raw: &str) -> Result<MedicationId, PageError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("medication").into())
}

async fn again(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    attempt: Attempt,
    error: speciosa_app::AppError,
) -> Result<Response, PageError> {
    let errors = FormErrors::from_api(error.into(), LABELS)?;
    record_page(
        state,
        user,
        id,
        RecordForms::medication_attempt(attempt, errors),
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<MedicationForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    // A name without a class is shown back with what the lexicon made of it; a confirmed
    // name or an explicitly chosen class saves.
    if form.class.trim().is_empty()
        && form.confirmed.trim() != form.name.trim()
        && !form.name.trim().is_empty()
    {
        let resolution =
            speciosa_app::medicines::resolve_name(&state.app, &user, &form.name).await?;
        let confirmation = Confirmation::new(&form.name, &resolution);
        return record_page(
            &state,
            &user,
            id,
            RecordForms::medication_attempt(
                Attempt::Confirm(form, confirmation),
                FormErrors::none(),
            ),
        )
        .await;
    }
    match medications::add_medication(&state.app, &user, id, &form.fields()).await {
        Ok(saved) => Ok(Redirect::to(&saved_address(id, "added", &saved)).into_response()),
        Err(error) => again(&state, &user, id, Attempt::Add(form), error).await,
    }
}

/// A correction (every field) or, from an entry's stop form, just the stop date.
pub async fn update(
    State(state): State<AppState>,
    Path((id, medication)): Path<(String, String)>,
    submitted: PageForm<StopOrEditForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let medication = medication_id(&medication)?;
    let PageForm { user, form, .. } = submitted;
    if form.intent == "stop" {
        let date = form.form.stopped_on;
        match medications::stop_medication(&state.app, &user, id, medication, &date).await {
            Ok(saved) => Ok(Redirect::to(&saved_address(id, "stopped", &saved)).into_response()),
            Err(error) => again(&state, &user, id, Attempt::Stop(medication, date), error).await,
        }
    } else {
        let form = form.form;
        match medications::change_medication(&state.app, &user, id, medication, &form.fields())
            .await
        {
            Ok(saved) => Ok(Redirect::to(&saved_address(id, "changed", &saved)).into_response()),
            Err(error) => again(&state, &user, id, Attempt::Edit(medication, form), error).await,
        }
    }
}

pub async fn remove(
    State(state): State<AppState>,
    Path((id, medication)): Path<(String, String)>,
    submitted: PageForm<RemoveForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let medication = medication_id(&medication)?;
    let PageForm { user, form, .. } = submitted;
    match medications::remove_medication(&state.app, &user, id, medication, &form.reason).await {
        Ok(saved) => Ok(Redirect::to(&saved_address(id, "removed", &saved)).into_response()),
        Err(error) => {
            let attempt = Attempt::Remove(medication, form.reason);
            again(&state, &user, id, attempt, error).await
        }
    }
}
