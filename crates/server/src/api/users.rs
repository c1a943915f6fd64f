//! `/api/v1/users` (admins manage accounts) and `/api/v1/clinicians` (clinicians
//! pick colleagues for care teams).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_app::records::User;
use speciosa_app::users::{self, NewStaffUser};
use speciosa_core::ids::UserId;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub display_name: String,
    /// `admin`, `clinician`, `patient` or `researcher`.
    #[schema(example = "clinician")]
    pub role: String,
    pub active: bool,
    pub created_at: String,
    /// An admin set a temporary password that must be changed before anything else.
    pub password_change_required: bool,
    /// Two-factor sign-in (TOTP) is on.
    pub totp_enabled: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView {
            id: user.id.as_uuid(),
            organization_id: user.organization_id.as_uuid(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            role: user.role.as_str().to_owned(),
            active: user.active,
            created_at: user.created_at.to_string(),
            password_change_required: user.password_change_required,
            totp_enabled: user.totp_enabled,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    /// `admin`, `clinician` or `researcher`. Patient logins are created from the patient's record.
    pub role: String,
    pub display_name: String,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 409, description = "Email already in use", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let created = users::create_user(
        &state.app,
        &user,
        NewStaffUser {
            email: &request.email,
            password: &request.password,
            role: &request.role,
            display_name: &request.display_name,
        },
    )
    .await?;
    let location = format!("/api/v1/users/{}", created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(UserView::from(&created)),
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// Only users with this role.
    pub role: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, description = "The organization's users", body = [UserView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiQuery(query): ApiQuery<UserListQuery>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = users::list_users(&state.app, &user, query.role.as_deref()).await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The user", body = UserView)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &users::read_user(&state.app, &user, id).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// `false` deactivates the account and ends its sessions.
    pub active: bool,
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)), request_body = UpdateUserRequest,
    responses((status = 200, description = "Updated", body = UserView)))]
pub async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &users::set_user_active(&state.app, &user, id, request.active).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemporaryPasswordRequest {
    /// At least 12 characters. Give it to the person privately; they must choose
    /// their own at their next sign-in.
    pub temporary_password: String,
}

#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = Uuid, Path)), request_body = TemporaryPasswordRequest,
    responses(
        (status = 204, description = "Set. The user's sessions have ended; after signing in with it they can do nothing until they choose their own password."),
        (status = 422, description = "`temporary_password` is too short or too long, or the account is your own", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_password(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(request): ApiJson<TemporaryPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    users::set_temporary_password(&state.app, &user, id, &request.temporary_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ClinicianView {
    pub id: Uuid,
    pub display_name: String,
}

#[utoipa::path(get, path = "/api/v1/clinicians", tag = "users",
    responses((status = 200, description = "Active clinicians of your organization", body = [ClinicianView])))]
pub async fn clinicians(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<ClinicianView>>, ApiError> {
    let clinicians = users::list_clinicians(&state.app, &user, false).await?;
    Ok(Json(
        clinicians
            .into_iter()
            .map(|c| ClinicianView {
                id: c.id.as_uuid(),
                display_name: c.display_name,
            })
            .collect(),
    ))
}
