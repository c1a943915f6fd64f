//! `/api/v1/users` (admins manage accounts) and `/api/v1/clinicians` (clinicians
//! pick colleagues for care teams).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_core::FieldErrors;
use speciosa_core::account::{DisplayName, Email, NewPassword, Role};
use speciosa_core::audit::Outcome;
use speciosa_core::ids::UserId;
use speciosa_core::policy::OrganizationAction;
use speciosa_store::{NewUser, User};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser, Authenticated};
use speciosa_app::passwords;

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

/// Parsed sign-up fields shared by staff accounts and patient logins.
pub struct AccountFields {
    pub email: Email,
    pub password: NewPassword,
}

pub fn parse_account(
    email: &str,
    password: &str,
    errors: &mut FieldErrors,
) -> Option<AccountFields> {
    let email = errors.check("email", Email::parse(email));
    let password = errors.check("password", NewPassword::parse(password));
    Some(AccountFields {
        email: email?,
        password: password?,
    })
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
    access::organization(
        &state,
        &user,
        OrganizationAction::ManageUsers,
        "user.create",
        "user",
    )
    .await?;
    let created = create_staff_user(
        &state,
        &user,
        &request.email,
        &request.password,
        &request.role,
        &request.display_name,
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

/// Validates and creates a staff account; shared by the API and the admin page.
pub async fn create_staff_user(
    state: &AppState,
    admin: &Authenticated,
    email: &str,
    password: &str,
    role: &str,
    display_name: &str,
) -> Result<User, ApiError> {
    let mut errors = FieldErrors::new();
    let account = parse_account(email, password, &mut errors);
    let role = errors.check("role", role.parse::<Role>()).and_then(|role| {
        if role == Role::Patient {
            errors.push("role", "patient logins are created from the patient's record (POST /api/v1/patients/{id}/account)");
            None
        } else {
            Some(role)
        }
    });
    let display_name = errors.check("display_name", DisplayName::parse(display_name));
    let (Some(account), Some(role), Some(display_name)) = (account, role, display_name) else {
        return Err(errors.into());
    };
    let password_hash = passwords::hash_password_blocking(account.password)
        .await
        .map_err(|_| ApiError::internal())?;
    let new = NewUser {
        organization_id: admin.actor.organization_id,
        email: account.email,
        display_name,
        role,
        password_hash,
    };
    Ok(state
        .store
        .create_user(new, |created| {
            admin.audit(
                "user.create",
                "user",
                Some(created.id.to_string()),
                None,
                Outcome::Success,
            )
        })
        .await?)
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
    access::organization(
        &state,
        &user,
        OrganizationAction::ManageUsers,
        "user.list",
        "user",
    )
    .await?;
    let role = query
        .role
        .map(|r| r.parse::<Role>())
        .transpose()
        .map_err(|e| FieldErrors::single("role", e.to_string()))?;
    let users = state
        .store
        .list_users(user.actor.organization_id, role)
        .await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

async fn organization_user(
    state: &AppState,
    admin: &Authenticated,
    id: UserId,
) -> Result<User, ApiError> {
    state
        .store
        .get_user(id)
        .await?
        .filter(|found| found.organization_id == admin.actor.organization_id)
        .ok_or_else(|| ApiError::not_found("user"))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The user", body = UserView)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<UserView>, ApiError> {
    access::organization(
        &state,
        &user,
        OrganizationAction::ManageUsers,
        "user.read",
        "user",
    )
    .await?;
    Ok(Json(UserView::from(
        &organization_user(&state, &user, id).await?,
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
    access::organization(
        &state,
        &user,
        OrganizationAction::ManageUsers,
        "user.update",
        "user",
    )
    .await?;
    Ok(Json(UserView::from(
        &set_active(&state, &user, id, request.active).await?,
    )))
}

/// Activates or deactivates an account; shared by the API and the admin page.
pub async fn set_active(
    state: &AppState,
    admin: &Authenticated,
    id: UserId,
    active: bool,
) -> Result<User, ApiError> {
    organization_user(state, admin, id).await?;
    if id == admin.actor.user_id && !active {
        return Err(FieldErrors::single("active", "you cannot deactivate your own account").into());
    }
    let action = if active {
        "user.activate"
    } else {
        "user.deactivate"
    };
    Ok(state
        .store
        .set_user_active(
            admin.actor.organization_id,
            id,
            active,
            admin.audit(action, "user", Some(id.to_string()), None, Outcome::Success),
        )
        .await?)
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
    access::organization(
        &state,
        &user,
        OrganizationAction::ManageUsers,
        "user.password.set_temporary",
        "user",
    )
    .await?;
    set_temporary_password(&state, &user, id, &request.temporary_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a user of the admin's organization a temporary password; shared by the API
/// and the admin page.
pub async fn set_temporary_password(
    state: &AppState,
    admin: &Authenticated,
    id: UserId,
    temporary_password: &str,
) -> Result<User, ApiError> {
    organization_user(state, admin, id).await?;
    if id == admin.actor.user_id {
        return Err(FieldErrors::single(
            "temporary_password",
            "change your own password from your account (PUT /api/v1/account/password)",
        )
        .into());
    }
    let password = NewPassword::parse(temporary_password)
        .map_err(|e| FieldErrors::single("temporary_password", e.to_string()))?;
    let password_hash = passwords::hash_password_blocking(password)
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(state
        .store
        .set_temporary_password(
            admin.actor.organization_id,
            id,
            &password_hash,
            admin.audit(
                "user.password.set_temporary",
                "user",
                Some(id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?)
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
    access::organization(
        &state,
        &user,
        OrganizationAction::ListClinicians,
        "clinician.list",
        "user",
    )
    .await?;
    let clinicians = state
        .store
        .list_users(user.actor.organization_id, Some(Role::Clinician))
        .await?;
    Ok(Json(
        clinicians
            .into_iter()
            .filter(|c| c.active)
            .map(|c| ClinicianView {
                id: c.id.as_uuid(),
                display_name: c.display_name,
            })
            .collect(),
    ))
}
