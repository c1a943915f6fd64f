//! Clinicians' patient pages: the list, registering, the record (details, care team,
//! patient login) and editing details.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;
use speciosa_app::patients;
use speciosa_app::records::Patient;
use speciosa_core::FieldErrors;
use speciosa_core::account::Role;
use speciosa_core::ids::UserId;
use speciosa_core::patient::{PatientFields, PregnancyStatus, SexAtBirth};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::{
    Choice, FormErrors, Nav, NoFields, Notice, humanize, medications, patient_id, render,
    require_role,
};

const PATIENT_LABELS: &[(&str, &str)] = &[
    ("display_name", "Name"),
    ("birth_date", "Birth date"),
    ("time_zone", "Time zone"),
    ("sex_at_birth", "Sex at birth"),
    ("usual_bedtime", "Usual bedtime"),
    ("jurisdiction", "Jurisdiction"),
    ("pregnancy_status", "Pregnancy status"),
    ("breastfeeding_status", "Breastfeeding"),
    ("research_consent", "Research consent"),
    ("research_consent_date", "Consent date"),
];
const CARE_TEAM_LABELS: &[(&str, &str)] = &[("clinician_ids", "Care team")];
const LOGIN_LABELS: &[(&str, &str)] = &[("email", "Login email"), ("password", "Password")];

/// Offered in the time-zone field's suggestions; any IANA name is accepted.
pub const COMMON_TIME_ZONES: &[&str] = &[
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "America/Toronto",
    "America/Vancouver",
    "America/Mexico_City",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Stockholm",
    "Asia/Bangkok",
    "Asia/Kuala_Lumpur",
    "Asia/Jakarta",
    "Asia/Singapore",
    "Asia/Manila",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
    "UTC",
];

/// Whole years between a birth date and a day.
fn age_on(birth: Date, today: Date) -> i16 {
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

/// The patient's age today where they live.
fn age(patient: &Patient) -> i16 {
    let today = Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    age_on(patient.details.birth_date, today)
}

struct PatientRow {
    id: String,
    name: String,
    birth_date: String,
    age: i16,
    time_zone: String,
    jurisdiction: String,
    has_login: bool,
}

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage {
    nav: Nav,
    patients: Vec<PatientRow>,
    notice: Option<&'static str>,
}

pub async fn list(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let refusal = match user.actor.role {
        Role::Patient => {
            "The patient list is for clinicians. Your own details are on your home page."
        }
        _ => "The patient list is for clinicians on a patient's care team.",
    };
    require_role(
        &state,
        &user,
        Role::Clinician,
        "patient.list",
        "patient",
        refusal,
    )
    .await?;
    let mut patients = patients::visible_patients(&state.app, &user).await?;
    patients.sort_by_key(|p| p.details.display_name.as_str().to_lowercase());
    let rows = patients
        .iter()
        .map(|p| PatientRow {
            id: p.id.to_string(),
            name: p.details.display_name.as_str().to_owned(),
            birth_date: p.details.birth_date.to_string(),
            age: age(p),
            time_zone: p.details.time_zone.as_str().to_owned(),
            jurisdiction: p
                .details
                .jurisdiction
                .as_ref()
                .map(|j| j.code().to_owned())
                .unwrap_or_default(),
            has_login: p.user_id.is_some(),
        })
        .collect();
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("left-care-team") => Some(
            "Care team saved. You are no longer on that patient's care team, so their record is closed to you.",
        ),
        _ => None,
    };
    render(&PatientsPage {
        nav: Nav::for_user(&user).at("/patients"),
        patients: rows,
        notice,
    })
}

/// The patient form as submitted: every field text, so it can be shown back as typed.
#[derive(Deserialize, Default)]
pub struct PatientForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    sex_at_birth: String,
    #[serde(default)]
    usual_bedtime: String,
    #[serde(default)]
    jurisdiction: String,
    #[serde(default)]
    pregnancy_status: String,
    #[serde(default)]
    breastfeeding_status: String,
    /// Present (`on`) when the box is ticked.
    research_consent: Option<String>,
    #[serde(default)]
    research_consent_date: String,
}

impl PatientForm {
    fn consented(&self) -> bool {
        self.research_consent.is_some()
    }

    fn fields<'a>(&'a self) -> PatientFields<'a> {
        let optional = |value: &'a str| Some(value).filter(|v| !v.trim().is_empty());
        PatientFields {
            display_name: &self.display_name,
            birth_date: &self.birth_date,
            time_zone: &self.time_zone,
            sex_at_birth: optional(&self.sex_at_birth),
            usual_bedtime: optional(&self.usual_bedtime),
            jurisdiction: optional(&self.jurisdiction),
            pregnancy_status: optional(&self.pregnancy_status),
            breastfeeding_status: optional(&self.breastfeeding_status),
            research_consent: self.consented(),
            research_consent_date: optional(&self.research_consent_date),
        }
    }

    fn from_patient(patient: &Patient) -> Self {
        let view = DetailsView::new(patient);
        PatientForm {
            display_name: view.display_name,
            birth_date: view.birth_date,
            time_zone: view.time_zone,
            sex_at_birth: patient.details.sex_at_birth.as_str().to_owned(),
            usual_bedtime: view.usual_bedtime.unwrap_or_default(),
            jurisdiction: view.jurisdiction.unwrap_or_default(),
            pregnancy_status: patient.details.pregnancy_status.as_str().to_owned(),
            breastfeeding_status: patient.details.breastfeeding_status.as_str().to_owned(),
            research_consent: view
                .research_consent_date
                .is_some()
                .then(|| "on".to_owned()),
            research_consent_date: view.research_consent_date.unwrap_or_default(),
        }
    }
}

/// A patient's details as the record and the form show them.
struct DetailsView {
    id: String,
    display_name: String,
    birth_date: String,
    time_zone: String,
    usual_bedtime: Option<String>,
    jurisdiction: Option<String>,
    research_consent_date: Option<String>,
    login_email: Option<String>,
}

impl DetailsView {
    fn new(patient: &Patient) -> Self {
        let d = &patient.details;
        DetailsView {
            id: patient.id.to_string(),
            display_name: d.display_name.as_str().to_owned(),
            birth_date: d.birth_date.to_string(),
            time_zone: d.time_zone.as_str().to_owned(),
            usual_bedtime: d.usual_bedtime.map(|t| t.strftime("%H:%M").to_string()),
            jurisdiction: d.jurisdiction.as_ref().map(|j| j.code().to_owned()),
            research_consent_date: d.research_consent_date.map(|date| date.to_string()),
            login_email: patient.login_email.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "patient_form.html")]
struct PatientFormPage {
    nav: Nav,
    heading: String,
    action: String,
    submit_label: &'static str,
    cancel_href: String,
    form: PatientForm,
    errors: FormErrors,
    sexes: Vec<Choice>,
    pregnancy_statuses: Vec<Choice>,
    breastfeeding_statuses: Vec<Choice>,
    time_zones: &'static [&'static str],
}

impl PatientFormPage {
    fn new(
        user: &Authenticated,
        heading: String,
        target: Option<String>,
        form: PatientForm,
        errors: FormErrors,
    ) -> Self {
        let (action, submit_label, cancel_href) = match target {
            None => (
                "/patients".to_owned(),
                "Register patient",
                "/patients".to_owned(),
            ),
            Some(record) => (format!("{record}/edit"), "Save details", record),
        };
        PatientFormPage {
            nav: Nav::for_user(user).at("/patients"),
            heading,
            action,
            submit_label,
            cancel_href,
            form,
            errors,
            sexes: Choice::from_codes(
                [
                    SexAtBirth::Unknown,
                    SexAtBirth::Female,
                    SexAtBirth::Male,
                    SexAtBirth::Intersex,
                ]
                .map(SexAtBirth::as_str),
            ),
            pregnancy_statuses: Choice::from_codes(PregnancyStatus::ALL.iter().map(|s| s.as_str())),
            breastfeeding_statuses: Choice::from_codes(
                speciosa_core::monitoring::BreastfeedingStatus::ALL
                    .iter()
                    .map(|s| s.as_str()),
            ),
            time_zones: COMMON_TIME_ZONES,
        }
    }

    fn respond(&self) -> Result<Response, PageError> {
        Ok((self.errors.status, render(self)?).into_response())
    }
}

pub async fn new_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Response, PageError> {
    require_role(
        &state,
        &user,
        Role::Clinician,
        "patient.create",
        "patient",
        "Only clinicians register patients.",
    )
    .await?;
    PatientFormPage::new(
        &user,
        "Register a patient".into(),
        None,
        PatientForm::default(),
        FormErrors::none(),
    )
    .respond()
}

pub async fn create(
    State(state): State<AppState>,
    submitted: PageForm<PatientForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    let registered = patients::register_patient(&state.app, &user, &form.fields()).await;
    match registered {
        Ok((patient, _)) => {
            Ok(Redirect::to(&format!("/patients/{}?saved=registered", patient.id)).into_response())
        }
        Err(error) => {
            let errors = FormErrors::from_api(error.into(), PATIENT_LABELS)?;
            PatientFormPage::new(&user, "Register a patient".into(), None, form, errors).respond()
        }
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    if user.actor.own_patient_id == Some(id) {
        return Ok(Redirect::to("/home").into_response());
    }
    patients::may_update_patient(&state.app, &user, id).await?;
    let (patient, _) = patients::read_patient(&state.app, &user, id).await?;
    let heading = format!("Edit details: {}", patient.details.display_name.as_str());
    let form = PatientForm::from_patient(&patient);
    PatientFormPage::new(
        &user,
        heading,
        Some(format!("/patients/{id}")),
        form,
        FormErrors::none(),
    )
    .respond()
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<PatientForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    let updated = patients::update_patient(&state.app, &user, id, &form.fields()).await;
    match updated {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{id}?saved=details")).into_response()),
        Err(error) => {
            let errors = FormErrors::from_api(error.into(), PATIENT_LABELS)?;
            let heading = if form.display_name.trim().is_empty() {
                "Edit details".to_owned()
            } else {
                format!("Edit details: {}", form.display_name.trim())
            };
            PatientFormPage::new(
                &user,
                heading,
                Some(format!("/patients/{id}")),
                form,
                errors,
            )
            .respond()
        }
    }
}

struct TeamRow {
    name: String,
    email: String,
    added: String,
    inactive: bool,
}

struct ClinicianChoice {
    id: String,
    name: String,
    checked: bool,
    is_you: bool,
}

/// The record's forms, as submitted when one of them is being shown again.
#[derive(Default)]
pub struct RecordForms {
    /// The clinicians ticked in a care-team form that was refused.
    chosen: Option<Vec<UserId>>,
    team_errors: Option<FormErrors>,
    login_email: String,
    login_errors: Option<FormErrors>,
    notice: Option<&'static str>,
    medication_attempt: Option<(medications::Attempt, FormErrors)>,
    medication_saved: Option<medications::Saved>,
    appointment_attempt: Option<(crate::pages::appointments::AppointmentForm, FormErrors)>,
}

#[derive(Template)]
#[template(path = "patient.html")]
struct RecordPage {
    nav: Nav,
    patient: DetailsView,
    age: i16,
    sex_at_birth: String,
    pregnancy_status: String,
    breastfeeding_status: String,
    /// Kratom's legal status where the patient lives today (legal-and-products.md §4).
    legal: Option<crate::pages::legal::LegalBlock>,
    team: Vec<TeamRow>,
    clinicians: Vec<ClinicianChoice>,
    team_errors: FormErrors,
    login_email: String,
    login_errors: FormErrors,
    notice: Option<&'static str>,
    schedule: Vec<crate::pages::checkin::ScheduleRow>,
    medications: medications::MedicationSection,
    /// Alerts no one has resolved yet, most urgent first.
    alerts: Vec<crate::pages::alerts::AlertCard>,
    /// The active plan's one-line summary, if there is one.
    plan: Option<String>,
    appointments: crate::pages::appointments::AppointmentSection,
    /// Whether the patient's reminders are on, in a sentence.
    reminders: String,
}

/// "Check-in reminder at 08:30; dose-time reminders on; by e-mail" for the care team.
fn reminder_sentence(status: &speciosa_app::notify::ReminderStatus) -> String {
    if !status.has_login {
        return "No reminders: the patient has no login yet.".to_owned();
    }
    let mut on = Vec::new();
    if let Some(at) = status.check_in_reminder {
        on.push(format!(
            "daily check-in at {}",
            speciosa_core::notify::format_clock(at)
        ));
    }
    if status.dose_reminders {
        on.push("the signed plan's dose times".to_owned());
    }
    if status.visit_reminders {
        on.push("the day before visits and sessions".to_owned());
    }
    let channels: Vec<&str> = status.channels.iter().map(|c| c.label()).collect();
    match (on.is_empty(), channels.is_empty()) {
        (true, _) => "Reminders are off.".to_owned(),
        (false, true) => format!(
            "Reminders chosen ({}), but no channel is on, so none are sent.",
            on.join("; ")
        ),
        (false, false) => format!(
            "Reminders on: {}; by {}.",
            on.join("; "),
            channels.join(" and ")
        ),
    }
}

impl RecordForms {
    /// The record with a refused scheduling form shown again.
    pub fn appointment_attempt(
        form: crate::pages::appointments::AppointmentForm,
        errors: FormErrors,
    ) -> Self {
        RecordForms {
            appointment_attempt: Some((form, errors)),
            ..Default::default()
        }
    }

    /// The record with a refused medication form shown again.
    pub fn medication_attempt(attempt: medications::Attempt, errors: FormErrors) -> Self {
        RecordForms {
            medication_attempt: Some((attempt, errors)),
            ..Default::default()
        }
    }
}

pub async fn record_page(
    state: &AppState,
    user: &Authenticated,
    id: speciosa_core::ids::PatientId,
    forms: RecordForms,
) -> Result<Response, PageError> {
    let (patient, team) = patients::read_patient(&state.app, user, id).await?;
    let alerts = speciosa_app::assessments::read_patient_alerts(&state.app, user, id)
        .await?
        .iter()
        .filter(|a| a.status != "resolved")
        .map(|a| {
            crate::pages::alerts::AlertCard::new(
                a,
                patient.details.display_name.as_str(),
                &crate::pages::time::Clock::patient(&patient),
            )
        })
        .collect();
    let plan = crate::pages::plans::record_line(state, user, id).await?;
    let due = speciosa_app::checkin::due_today(&state.app, user, id).await?;
    let schedule = crate::pages::checkin::schedule_rows(
        state,
        &due,
        &crate::pages::time::Clock::patient(&patient),
    );
    let medications = medications::section(
        state,
        user,
        id,
        forms.medication_attempt,
        forms.medication_saved,
    )
    .await?;
    let appointments = crate::pages::appointments::section(
        state,
        user,
        &patient,
        &team,
        forms.appointment_attempt,
    )
    .await?;
    let active = patients::active_clinicians(&state.app, user).await?;
    let chosen = forms
        .chosen
        .unwrap_or_else(|| team.iter().map(|m| m.clinician_id).collect());
    let clinicians = active
        .iter()
        .map(|c| ClinicianChoice {
            id: c.id.to_string(),
            name: c.display_name.clone(),
            checked: chosen.contains(&c.id),
            is_you: c.id == user.actor.user_id,
        })
        .collect();
    let team_rows = team
        .iter()
        .map(|m| TeamRow {
            name: m.display_name.clone(),
            email: m.email.clone(),
            added: m.added_at.strftime("%Y-%m-%d").to_string(),
            inactive: !active.iter().any(|c| c.id == m.clinician_id),
        })
        .collect();
    let team_errors = forms.team_errors.unwrap_or_else(FormErrors::none);
    let login_errors = forms.login_errors.unwrap_or_else(FormErrors::none);
    let status = [
        team_errors.status,
        login_errors.status,
        medications.status,
        appointments.status,
    ]
    .into_iter()
    .max()
    .unwrap_or(StatusCode::OK);
    let reminders = reminder_sentence(
        &speciosa_app::notify::patient_reminders(&state.app, user, patient.id).await?,
    );
    let legal = speciosa_app::legal::for_patient(&state.app, &patient)
        .await?
        .map(|answer| crate::pages::legal::LegalBlock::all(&answer));
    let page = RecordPage {
        legal,
        reminders,
        nav: Nav::for_user(user).at("/patients"),
        age: age(&patient),
        sex_at_birth: humanize(patient.details.sex_at_birth.as_str()),
        pregnancy_status: humanize(patient.details.pregnancy_status.as_str()),
        breastfeeding_status: humanize(patient.details.breastfeeding_status.as_str()),
        patient: DetailsView::new(&patient),
        team: team_rows,
        clinicians,
        team_errors,
        login_email: forms.login_email,
        login_errors,
        notice: forms.notice,
        schedule,
        medications,
        alerts,
        plan,
        appointments,
    };
    Ok((status, render(&page)?).into_response())
}

/// The alerts a medication save raised (`?alerts=id,id`), named in its notice.
#[derive(Deserialize, Default)]
pub struct RaisedAlerts {
    #[serde(default)]
    alerts: String,
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    notice: Result<Query<Notice>, QueryRejection>,
    raised: Result<Query<RaisedAlerts>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    // A patient's own record is their home page.
    if user.actor.own_patient_id == Some(id) {
        return Ok(Redirect::to("/home").into_response());
    }
    let saved = Notice::read(notice).saved;
    let medication_saved = saved
        .as_deref()
        .filter(|s| s.starts_with("medication-"))
        .map(|s| medications::Saved {
            saved: s.to_owned(),
            alerts: raised.map(|q| q.0.alerts).unwrap_or_default(),
        });
    let notice = match saved.as_deref() {
        Some("registered") => Some("Patient registered. You are on their care team."),
        Some("details") => Some("Details saved."),
        Some("care-team") => Some("Care team saved."),
        Some("schedule") => Some("Check-in schedule saved."),
        Some("appointment") => Some("Appointment scheduled."),
        Some("appointment-cancelled") => Some("Appointment cancelled."),
        Some("login") => Some(
            "Login created. Give the patient their email and password privately, in person or by a secure channel.",
        ),
        _ => None,
    };
    record_page(
        &state,
        &user,
        id,
        RecordForms {
            notice,
            medication_saved,
            ..Default::default()
        },
    )
    .await
}

pub async fn save_care_team(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, pairs, .. } = submitted;
    let mut chosen = Vec::new();
    let mut unreadable = FieldErrors::new();
    for (_, value) in pairs.iter().filter(|(name, _)| name == "clinician_ids") {
        match value.parse::<uuid::Uuid>() {
            Ok(uuid) => chosen.push(UserId::from_uuid(uuid)),
            Err(_) => unreadable.push(
                "clinician_ids",
                "one of the chosen clinicians is not a clinician id",
            ),
        }
    }
    let result = if unreadable.is_empty() {
        patients::set_care_team(&state.app, &user, id, &chosen)
            .await
            .map_err(ApiError::from)
    } else {
        Err(ApiError::from(unreadable))
    };
    match result {
        Ok(team) if team.iter().any(|m| m.clinician_id == user.actor.user_id) => {
            Ok(Redirect::to(&format!("/patients/{id}?saved=care-team#main")).into_response())
        }
        // Leaving the team closes the record to you.
        Ok(_) => Ok(Redirect::to("/patients?saved=left-care-team#main").into_response()),
        Err(error) => {
            let team_errors = Some(FormErrors::from_api(error, CARE_TEAM_LABELS)?);
            record_page(
                &state,
                &user,
                id,
                RecordForms {
                    chosen: Some(chosen),
                    team_errors,
                    ..Default::default()
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn create_login(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<LoginForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    let created =
        patients::create_patient_login(&state.app, &user, id, &form.email, &form.password).await;
    match created {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{id}?saved=login#main")).into_response()),
        Err(error) => {
            let login_errors = Some(FormErrors::from_api(error.into(), LOGIN_LABELS)?);
            // The password is never sent back.
            let forms = RecordForms {
                login_email: form.email.trim().to_owned(),
                login_errors,
                ..Default::default()
            };
            record_page(&state, &user, id, forms).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn age_counts_whole_years_turning_on_the_birthday() {
        assert_eq!(age_on(date(1988, 4, 12), date(2026, 4, 11)), 37);
        assert_eq!(age_on(date(1988, 4, 12), date(2026, 4, 12)), 38);
    }

    #[test]
    fn blank_optional_fields_are_left_out() {
        let form = PatientForm {
            sex_at_birth: "  ".into(),
            ..Default::default()
        };
        assert_eq!(form.fields().sex_at_birth, None);
    }
}
