//! `/api/v1/patients/{id}/appointments` and `/api/v1/appointments/{id}`: visits and
//! therapy sessions, scheduled and cancelled by the care team, seen by the patient too.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_app::appointments;
use speciosa_app::records::Appointment;
use speciosa_core::FieldErrors;
use speciosa_core::appointment::AppointmentFields;
use speciosa_core::ids::{AppointmentId, PatientId, UserId};
use speciosa_core::time::{Era, parse_instant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentRequest {
    /// `visit` or `therapy_session` (CBT-I, counselling, …).
    #[schema(example = "visit")]
    pub kind: String,
    /// RFC 3339 with an offset (`2026-12-10T14:30:00-05:00`), or the patient's local time
    /// `YYYY-MM-DDTHH:MM`, read in the patient's time zone. At most a few minutes ago,
    /// at most two years ahead.
    #[schema(example = "2026-12-10T14:30")]
    pub starts_at: String,
    /// 5 to 480.
    #[schema(example = 45)]
    pub duration_minutes: Option<i64>,
    /// Where or how, up to 200 characters ("Clinic room 2", "Video call").
    pub location: Option<String>,
    /// A clinician on the patient's care team; the caller when absent.
    pub clinician_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct AppointmentView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub clinician_id: Uuid,
    pub clinician_name: String,
    /// `visit` or `therapy_session`.
    pub kind: String,
    /// RFC 3339, UTC.
    pub starts_at: String,
    /// The same instant in the patient's time zone, with its offset.
    pub starts_at_local: String,
    pub time_zone: String,
    pub duration_minutes: u16,
    pub location: Option<String>,
    /// `scheduled` or `cancelled`.
    pub status: String,
}

impl AppointmentView {
    fn new(appointment: &Appointment, zone: &speciosa_core::patient::TimeZoneName) -> Self {
        AppointmentView {
            id: appointment.id.as_uuid(),
            patient_id: appointment.patient_id.as_uuid(),
            clinician_id: appointment.clinician_id.as_uuid(),
            clinician_name: appointment.clinician_name.clone(),
            kind: appointment.kind.as_str().into(),
            starts_at: appointment.starts_at.to_string(),
            starts_at_local: appointment
                .starts_at
                .to_zoned_datetime(zone.to_zone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            time_zone: zone.as_str().into(),
            duration_minutes: appointment.duration_minutes,
            location: appointment.location.clone(),
            status: appointment.status.as_str().into(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    /// RFC 3339; now when absent.
    pub from: Option<String>,
    /// RFC 3339; 90 days after `from` when absent; at most 366 days after it.
    pub to: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/appointments", tag = "appointments",
    params(("id" = Uuid, Path)), request_body = AppointmentRequest,
    responses(
        (status = 201, description = "Scheduled", body = AppointmentView),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<AppointmentRequest>,
) -> Result<Response, ApiError> {
    let fields = AppointmentFields {
        kind: &request.kind,
        starts_at: &request.starts_at,
        duration_minutes: request.duration_minutes,
        location: request.location.as_deref(),
    };
    let clinician = request.clinician_id.map(UserId::from_uuid);
    let (patient, appointment) =
        appointments::schedule(&state.app, &user, id, &fields, clinician).await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/appointments/{}", appointment.id),
        )],
        Json(AppointmentView::new(
            &appointment,
            &patient.details.time_zone,
        )),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/appointments", tag = "appointments",
    params(("id" = Uuid, Path), WindowQuery),
    responses(
        (status = 200, description = "Scheduled appointments starting in the window, earliest first (at most 200)", body = [AppointmentView]),
        (status = 422, description = "A bad or too long window", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<Json<Vec<AppointmentView>>, ApiError> {
    let mut errors = FieldErrors::new();
    let from = query
        .from
        .as_deref()
        .and_then(|raw| errors.check("from", parse_instant(raw, Era::Clinical)));
    let to = query
        .to
        .as_deref()
        .and_then(|raw| errors.check("to", parse_instant(raw, Era::Clinical)));
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let (patient, appointments) = appointments::list(&state.app, &user, id, from, to).await?;
    Ok(Json(
        appointments
            .iter()
            .map(|a| AppointmentView::new(a, &patient.details.time_zone))
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/appointments/{id}", tag = "appointments",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Cancelled (or already cancelled)")))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<AppointmentId>,
) -> Result<StatusCode, ApiError> {
    appointments::cancel(&state.app, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
