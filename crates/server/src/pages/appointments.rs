//! Visits and sessions on the patient record (list, schedule, cancel with a confirmation)
//! and the "Coming up" card on the patient's home. Times are the patient's, zone named.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_app::appointments;
use speciosa_app::records::Appointment;
use speciosa_core::appointment::{AppointmentFields, AppointmentKind};
use speciosa_core::ids::{AppointmentId, PatientId, UserId};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm};
use crate::pages::patients::{RecordForms, record_page};
use crate::pages::time::Clock;
use crate::pages::{FormErrors, NoFields, patient_id};

const LABELS: &[(&str, &str)] = &[
    ("kind", "Kind"),
    ("starts_at", "Starts"),
    ("duration_minutes", "Duration"),
    ("location", "Where or how"),
    ("clinician_id", "With"),
];

/// How many upcoming appointments the record lists.
const RECORD_LIST: usize = 20;
/// How many the patient's "Coming up" card shows.
const HOME_CARD: usize = 3;

/// The scheduling form as typed.
#[derive(Deserialize, Clone)]
pub struct AppointmentForm {
    #[serde(default)]
    pub kind: String,
    /// `YYYY-MM-DDTHH:MM` in the patient's zone (a `datetime-local` field).
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub duration_minutes: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub clinician_id: String,
}

impl Default for AppointmentForm {
    fn default() -> Self {
        AppointmentForm {
            kind: "visit".into(),
            starts_at: String::new(),
            duration_minutes: "30".into(),
            location: String::new(),
            clinician_id: String::new(),
        }
    }
}

/// An appointment as listed, in the patient's time.
pub struct ListedAppointment {
    pub id: String,
    pub title: String,
    pub when: String,
    pub duration_minutes: u16,
    pub clinician: String,
    pub location: Option<String>,
}

impl ListedAppointment {
    fn new(appointment: &Appointment, clock: &Clock) -> Self {
        ListedAppointment {
            id: appointment.id.to_string(),
            title: appointment.kind.label().to_owned(),
            when: clock.day_time(appointment.starts_at),
            duration_minutes: appointment.duration_minutes,
            clinician: appointment.clinician_name.clone(),
            location: appointment.location.clone(),
        }
    }
}

/// A care-team clinician the appointment can be with.
pub struct WithChoice {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

/// The "Visits and sessions" section of the record.
pub struct AppointmentSection {
    pub rows: Vec<ListedAppointment>,
    pub form: AppointmentForm,
    pub errors: FormErrors,
    pub with: Vec<WithChoice>,
    pub zone: String,
    pub status: StatusCode,
}

impl AppointmentSection {
    pub fn kinds(&self) -> Vec<(&'static str, &'static str, bool)> {
        AppointmentKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label(), k.as_str() == self.form.kind))
            .collect()
    }
}

/// Reads the next appointments (audited) and lays out the section, with a refused form
/// shown again.
pub async fn section(
    state: &AppState,
    user: &Authenticated,
    patient: &speciosa_app::records::Patient,
    team: &[speciosa_app::records::CareTeamMember],
    attempt: Option<(AppointmentForm, FormErrors)>,
) -> Result<AppointmentSection, PageError> {
    let clock = Clock::patient(patient);
    let upcoming = appointments::upcoming(&state.app, user, patient.id, RECORD_LIST).await?;
    let (form, errors) =
        attempt.unwrap_or_else(|| (AppointmentForm::default(), FormErrors::none()));
    let chosen = if form.clinician_id.is_empty() {
        user.actor.user_id.to_string()
    } else {
        form.clinician_id.clone()
    };
    let with = team
        .iter()
        .map(|m| WithChoice {
            id: m.clinician_id.to_string(),
            name: if m.clinician_id == user.actor.user_id {
                format!("{} (you)", m.display_name)
            } else {
                m.display_name.clone()
            },
            selected: m.clinician_id.to_string() == chosen,
        })
        .collect();
    Ok(AppointmentSection {
        rows: upcoming
            .iter()
            .map(|a| ListedAppointment::new(a, &clock))
            .collect(),
        status: errors.status,
        form,
        errors,
        with,
        zone: clock.zone_name().to_owned(),
    })
}

/// The patient's next few visits and sessions for their home ("Visit with Dr …").
pub async fn coming_up(
    state: &AppState,
    user: &Authenticated,
    patient: &speciosa_app::records::Patient,
) -> Result<Vec<ListedAppointment>, PageError> {
    let clock = Clock::patient(patient);
    Ok(
        appointments::upcoming(&state.app, user, patient.id, HOME_CARD)
            .await?
            .iter()
            .map(|a| {
                let mut row = ListedAppointment::new(a, &clock);
                row.title = format!("{} with {}", a.kind.label(), a.clinician_name);
                row
            })
            .collect(),
    )
}

pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<AppointmentForm>,
) -> Result<Response, PageError> {
    let id: PatientId = patient_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    let result = schedule(&state, &user, id, &form).await;
    match result {
        Ok(()) => Ok(
            Redirect::to(&format!("/patients/{id}?saved=appointment#visits-heading"))
                .into_response(),
        ),
        Err(error) => {
            let errors = FormErrors::from_api(error, LABELS)?;
            record_page(
                &state,
                &user,
                id,
                RecordForms::appointment_attempt(form, errors),
            )
            .await
        }
    }
}

async fn schedule(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    form: &AppointmentForm,
) -> Result<(), ApiError> {
    let duration = form.duration_minutes.trim();
    let duration_minutes = if duration.is_empty() {
        None
    } else {
        Some(duration.parse::<i64>().map_err(|_| {
            ApiError::from(speciosa_core::FieldErrors::single(
                "duration_minutes",
                "enter the duration as a whole number of minutes",
            ))
        })?)
    };
    let clinician = match form.clinician_id.trim() {
        "" => None,
        raw => Some(raw.parse::<UserId>().map_err(|_| {
            ApiError::from(speciosa_core::FieldErrors::single(
                "clinician_id",
                "choose a clinician on this patient's care team",
            ))
        })?),
    };
    let fields = AppointmentFields {
        kind: &form.kind,
        starts_at: &form.starts_at,
        duration_minutes,
        location: Some(form.location.as_str()),
    };
    appointments::schedule(&state.app, user, id, &fields, clinician).await?;
    Ok(())
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    let id: AppointmentId = id
        .parse()
        .map_err(|_| PageError::from(ApiError::not_found("appointment")))?;
    let patient = appointments::cancel(&state.app, &submitted.user, id).await?;
    Ok(Redirect::to(&format!(
        "/patients/{patient}?saved=appointment-cancelled#visits-heading"
    ))
    .into_response())
}
