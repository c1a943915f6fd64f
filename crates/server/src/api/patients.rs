//! `/api/v1/patients`: patient records, care teams and patient logins.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_app::patients;
use speciosa_app::records::{CareTeamMember, Patient};
use speciosa_core::ids::{PatientId, UserId};
use speciosa_core::patient::PatientFields;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::users::UserView;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser};

/// A patient's details as sent by a client. Only the first three are required.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PatientRequest {
    #[schema(example = "Dana Reyes")]
    pub display_name: String,
    /// YYYY-MM-DD
    #[schema(example = "1988-04-12")]
    pub birth_date: String,
    /// IANA time zone.
    #[schema(example = "America/Chicago")]
    pub time_zone: String,
    /// `female`, `male`, `intersex` or `unknown` (default).
    pub sex_at_birth: Option<String>,
    /// HH:MM, local time.
    #[schema(example = "22:30")]
    pub usual_bedtime: Option<String>,
    /// ISO 3166-1 alpha-2 country or ISO 3166-2 subdivision.
    #[schema(example = "US-TX")]
    pub jurisdiction: Option<String>,
    /// `not_applicable`, `not_pregnant`, `pregnant`, `postpartum` or `unknown` (default).
    pub pregnancy_status: Option<String>,
    /// `yes`, `no` or `unknown` (default): breastfeeding, beside pregnancy.
    pub breastfeeding_status: Option<String>,
    #[serde(default)]
    pub research_consent: bool,
    /// Required when `research_consent` is true. YYYY-MM-DD.
    pub research_consent_date: Option<String>,
}

impl PatientRequest {
    pub fn fields(&self) -> PatientFields<'_> {
        PatientFields {
            display_name: &self.display_name,
            birth_date: &self.birth_date,
            time_zone: &self.time_zone,
            sex_at_birth: self.sex_at_birth.as_deref(),
            usual_bedtime: self.usual_bedtime.as_deref(),
            jurisdiction: self.jurisdiction.as_deref(),
            pregnancy_status: self.pregnancy_status.as_deref(),
            breastfeeding_status: self.breastfeeding_status.as_deref(),
            research_consent: self.research_consent,
            research_consent_date: self.research_consent_date.as_deref(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CareTeamMemberView {
    pub clinician_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub added_at: String,
}

impl From<&CareTeamMember> for CareTeamMemberView {
    fn from(member: &CareTeamMember) -> Self {
        CareTeamMemberView {
            clinician_id: member.clinician_id.as_uuid(),
            display_name: member.display_name.clone(),
            email: member.email.clone(),
            added_at: member.added_at.to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PatientView {
    pub id: Uuid,
    pub display_name: String,
    pub birth_date: String,
    pub sex_at_birth: String,
    pub time_zone: String,
    pub usual_bedtime: Option<String>,
    pub jurisdiction: Option<String>,
    pub pregnancy_status: String,
    /// `yes`, `no` or `unknown`.
    pub breastfeeding_status: String,
    pub research_consent: bool,
    pub research_consent_date: Option<String>,
    /// Whether the patient has their own sign-in.
    pub has_login: bool,
    pub login_email: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Present on single-patient responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub care_team: Option<Vec<CareTeamMemberView>>,
}

impl PatientView {
    pub fn new(patient: &Patient, care_team: Option<&[CareTeamMember]>) -> Self {
        let d = &patient.details;
        PatientView {
            id: patient.id.as_uuid(),
            display_name: d.display_name.as_str().to_owned(),
            birth_date: d.birth_date.to_string(),
            sex_at_birth: d.sex_at_birth.as_str().to_owned(),
            time_zone: d.time_zone.as_str().to_owned(),
            usual_bedtime: d.usual_bedtime.map(|t| t.strftime("%H:%M").to_string()),
            jurisdiction: d.jurisdiction.as_ref().map(|j| j.code().to_owned()),
            pregnancy_status: d.pregnancy_status.as_str().to_owned(),
            breastfeeding_status: d.breastfeeding_status.as_str().to_owned(),
            research_consent: d.research_consent_date.is_some(),
            research_consent_date: d.research_consent_date.map(|date| date.to_string()),
            has_login: patient.user_id.is_some(),
            login_email: patient.login_email.clone(),
            created_at: patient.created_at.to_string(),
            updated_at: patient.updated_at.to_string(),
            care_team: care_team.map(|team| team.iter().map(CareTeamMemberView::from).collect()),
        }
    }
}

const PROBLEM: &str = "application/problem+json";

#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", request_body = PatientRequest,
    responses(
        (status = 201, description = "Registered; you join the care team", body = PatientView),
        (status = 422, description = "Invalid fields", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<PatientRequest>,
) -> Result<Response, ApiError> {
    let (patient, team) = patients::register_patient(&state.app, &user, &request.fields()).await?;
    let location = format!("/api/v1/patients/{}", patient.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(PatientView::new(&patient, Some(&team))),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/patients", tag = "patients",
    responses((status = 200, description = "The patients you may see: your care-team patients, or yourself", body = [PatientView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<PatientView>>, ApiError> {
    let patients = patients::visible_patients(&state.app, &user).await?;
    Ok(Json(
        patients.iter().map(|p| PatientView::new(p, None)).collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients", params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The patient, with care team", body = PatientView),
        (status = 403, description = "Not on the care team", body = crate::api::Problem, content_type = PROBLEM),
        (status = 404, description = "No such patient visible to you", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<PatientView>, ApiError> {
    let (patient, team) = patients::read_patient(&state.app, &user, id).await?;
    Ok(Json(PatientView::new(&patient, Some(&team))))
}

#[utoipa::path(put, path = "/api/v1/patients/{id}", tag = "patients", params(("id" = Uuid, Path)), request_body = PatientRequest,
    responses((status = 200, description = "Updated", body = PatientView)))]
pub async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<PatientRequest>,
) -> Result<Json<PatientView>, ApiError> {
    let (patient, team) =
        patients::update_patient(&state.app, &user, id, &request.fields()).await?;
    Ok(Json(PatientView::new(&patient, Some(&team))))
}

#[derive(Serialize, ToSchema)]
pub struct CareTeamView {
    pub clinicians: Vec<CareTeamMemberView>,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/care-team", tag = "patients", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The care team", body = CareTeamView)))]
pub async fn care_team(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<CareTeamView>, ApiError> {
    let team = patients::read_care_team(&state.app, &user, id).await?;
    Ok(Json(CareTeamView {
        clinicians: team.iter().map(CareTeamMemberView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareTeamRequest {
    /// The whole team: active clinicians of your organization, at least one.
    pub clinician_ids: Vec<Uuid>,
}

#[utoipa::path(put, path = "/api/v1/patients/{id}/care-team", tag = "patients", params(("id" = Uuid, Path)), request_body = CareTeamRequest,
    responses(
        (status = 200, description = "The new care team", body = CareTeamView),
        (status = 422, description = "Unknown clinicians or an empty team", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn replace_care_team(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<CareTeamRequest>,
) -> Result<Json<CareTeamView>, ApiError> {
    let ids: Vec<UserId> = request
        .clinician_ids
        .into_iter()
        .map(UserId::from_uuid)
        .collect();
    let team = patients::set_care_team(&state.app, &user, id, &ids).await?;
    Ok(Json(CareTeamView {
        clinicians: team.iter().map(CareTeamMemberView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientAccountRequest {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/account", tag = "patients", params(("id" = Uuid, Path)), request_body = PatientAccountRequest,
    responses(
        (status = 201, description = "The patient's login", body = UserView),
        (status = 409, description = "The patient already has a login, or the email is in use", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn create_account(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<PatientAccountRequest>,
) -> Result<Response, ApiError> {
    let login =
        patients::create_patient_login(&state.app, &user, id, &request.email, &request.password)
            .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&login))).into_response())
}
