//! `/api/v1/account/…`: the signed-in user's own password and two-factor sign-in.
//! These routes stay open while a temporary password or a required enrolment
//! blocks everything else.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use speciosa_app::account;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiUser};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

#[utoipa::path(put, path = "/api/v1/account/password", tag = "account", request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed. Every other session of this account has ended; this one continues."),
        (status = 422, description = "`current_password` did not match, or `new_password` is too short, too long, or the temporary password again", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords for this account; see Retry-After", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    account::change_own_password(
        &state.app,
        &user,
        request.current_password,
        &request.new_password,
        &user.session.token_hash,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentView {
    /// The shared secret in base32, to type into an authenticator app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same as an `otpauth://totp/…` URI (what a QR code would hold).
    pub otpauth_uri: String,
}

impl From<account::TotpEnrolment> for TotpEnrolmentView {
    fn from(enrolment: account::TotpEnrolment) -> Self {
        TotpEnrolmentView {
            secret: enrolment.secret,
            otpauth_uri: enrolment.otpauth_uri,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/account/totp", tag = "account",
    responses(
        (status = 200, description = "A new secret, pending until `POST /api/v1/account/totp/activate` confirms it with a code", body = TotpEnrolmentView),
        (status = 403, description = "Not a staff account", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Two-factor sign-in is already on", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn begin_totp(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<TotpEnrolmentView>, ApiError> {
    Ok(Json(account::begin_totp(&state.app, &user).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateTotpRequest {
    /// The 6-digit code the authenticator app shows for the new secret.
    #[schema(example = "492039")]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// Ten one-time codes for when the authenticator is lost. Shown only now: only
    /// their hashes are kept.
    pub recovery_codes: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/account/totp/activate", tag = "account", request_body = ActivateTotpRequest,
    responses(
        (status = 200, description = "Two-factor sign-in is on; sign-ins now need a code", body = RecoveryCodesView),
        (status = 403, description = "Not a staff account", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No enrolment to confirm, or it is already on", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`code` is malformed or does not match the pending secret", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn activate_totp(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<ActivateTotpRequest>,
) -> Result<Json<RecoveryCodesView>, ApiError> {
    let recovery_codes = account::activate_totp(&state.app, &user, &request.code).await?;
    Ok(Json(RecoveryCodesView { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotpRequest {
    /// The account's password.
    pub password: String,
}

#[utoipa::path(delete, path = "/api/v1/account/totp", tag = "account", request_body = DisableTotpRequest,
    responses(
        (status = 204, description = "Two-factor sign-in is off; the secret and recovery codes are discarded"),
        (status = 403, description = "Not a staff account", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`password` did not match", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords for this account; see Retry-After", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn disable_totp(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<DisableTotpRequest>,
) -> Result<StatusCode, ApiError> {
    account::disable_totp(&state.app, &user, request.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
