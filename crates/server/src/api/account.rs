//! `/api/v1/account/…`: the signed-in user's own password and two-factor sign-in.
//! These routes stay open while a temporary password or a required enrolment
//! blocks everything else.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use speciosa_core::FieldErrors;
use speciosa_core::account::NewPassword;
use speciosa_core::audit::Outcome;
use speciosa_core::two_factor::{
    RECOVERY_CODE_BYTES, RECOVERY_CODE_COUNT, RecoveryCode, SECRET_BYTES, TotpCode, TotpSecret,
};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::{self, PasswordCheckError};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiUser, Authenticated};
use crate::problems;
use speciosa_app::passwords;

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
    change_own_password(
        &state,
        &user,
        request.current_password,
        &request.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the current password (throttled like a sign-in), stores the new one and
/// ends the user's other sessions; shared by the API and the account page.
pub async fn change_own_password(
    state: &AppState,
    user: &Authenticated,
    current: String,
    new: &str,
) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    if current.is_empty() {
        errors.push("current_password", "enter your current password");
    }
    let new_password = errors.check("new_password", NewPassword::parse(new));
    let (Some(new_password), true) = (new_password, errors.is_empty()) else {
        return Err(errors.into());
    };
    let credentials = auth::verify_own_password(state, user, current, "account.password.change")
        .await
        .map_err(|e| password_problem(e, "current_password"))?;
    if credentials.user.password_change_required
        && passwords::verify_password(new.to_owned(), Some(credentials.password_hash)).await
    {
        return Err(FieldErrors::single(
            "new_password",
            "choose a new password of your own, not the temporary one",
        )
        .into());
    }
    let hash = passwords::hash_password_blocking(new_password)
        .await
        .map_err(|_| ApiError::internal())?;
    state
        .store
        .change_password(
            user.actor.user_id,
            &hash,
            &user.session.token_hash,
            user.audit(
                "account.password.change",
                "user",
                Some(user.actor.user_id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    Ok(())
}

/// A re-entered password that was refused: 422 naming `field`, or 429 when throttled.
pub fn password_problem(error: PasswordCheckError, field: &str) -> ApiError {
    match error {
        PasswordCheckError::Wrong => {
            FieldErrors::single(field, "this is not your current password").into()
        }
        PasswordCheckError::Throttled {
            retry_after_seconds,
        } => ApiError {
            retry_after_seconds: Some(retry_after_seconds),
            ..ApiError::new(
                problems::TOO_MANY_SIGN_IN_FAILURES,
                format!(
                    "too many wrong passwords for this account; try again in {} minutes",
                    retry_after_seconds / 60
                ),
            )
        },
        PasswordCheckError::Store(error) => error.into(),
    }
}

/// Two-factor sign-in is for staff; patients sign in on their own phones.
pub async fn require_staff(
    state: &AppState,
    user: &Authenticated,
    audit_action: &str,
) -> Result<(), ApiError> {
    if user.actor.role.is_staff() {
        return Ok(());
    }
    state
        .store
        .append_audit(user.audit(audit_action, "user", None, None, Outcome::Denied))
        .await?;
    Err(ApiError::forbidden(
        "two-factor sign-in is for staff accounts (admins, clinicians, researchers)",
    ))
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentView {
    /// The shared secret in base32, to type into an authenticator app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same as an `otpauth://totp/…` URI (what a QR code would hold).
    pub otpauth_uri: String,
}

/// Starts (or restarts) enrolment: a new secret kept as pending until a code confirms it.
pub async fn start_enrolment(
    state: &AppState,
    user: &Authenticated,
) -> Result<TotpEnrolmentView, ApiError> {
    let mut bytes = [0_u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = TotpSecret::from_random(bytes);
    state
        .store
        .set_pending_totp_secret(user.actor.user_id, &secret.to_base32())
        .await?;
    state
        .store
        .append_audit(user.audit(
            "account.totp.enrolment.start",
            "user",
            Some(user.actor.user_id.to_string()),
            None,
            Outcome::Success,
        ))
        .await?;
    enrolment_view(user, &secret)
}

pub fn enrolment_view(
    user: &Authenticated,
    secret: &TotpSecret,
) -> Result<TotpEnrolmentView, ApiError> {
    let otpauth_uri = secret
        .otpauth_uri(&user.session.user.email)
        .map_err(|_| ApiError::internal())?;
    Ok(TotpEnrolmentView {
        secret: secret.to_base32(),
        otpauth_uri,
    })
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
    require_staff(&state, &user, "account.totp.enrolment.start").await?;
    Ok(Json(start_enrolment(&state, &user).await?))
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

/// Confirms enrolment with a code for the pending secret and issues recovery codes.
pub async fn activate(
    state: &AppState,
    user: &Authenticated,
    code: &str,
) -> Result<Vec<String>, ApiError> {
    let code = TotpCode::parse(code).map_err(|e| FieldErrors::single("code", e.to_string()))?;
    let pending = state
        .store
        .pending_totp_secret(user.actor.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                problems::CONFLICT,
                "there is no enrolment to confirm: start one with POST /api/v1/account/totp",
            )
        })?;
    let secret = TotpSecret::from_base32(&pending).map_err(|_| ApiError::internal())?;
    let now = u64::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0);
    let step = secret.verify(&code, now, None).ok_or_else(|| {
        FieldErrors::single(
            "code",
            "this code does not match the new secret; check the app's clock and enter the current code",
        )
    })?;
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0_u8; RECOVERY_CODE_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            RecoveryCode::from_random(bytes)
        })
        .collect();
    let hashes: Vec<String> = codes.iter().map(RecoveryCode::hash).collect();
    state
        .store
        .activate_totp(
            user.actor.user_id,
            &pending,
            step,
            &hashes,
            user.audit(
                "account.totp.enable",
                "user",
                Some(user.actor.user_id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    Ok(codes.iter().map(RecoveryCode::display).collect())
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
    require_staff(&state, &user, "account.totp.enable").await?;
    let recovery_codes = activate(&state, &user, &request.code).await?;
    Ok(Json(RecoveryCodesView { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotpRequest {
    /// The account's password.
    pub password: String,
}

/// Turns two-factor sign-in off once the password is confirmed (nothing to do if it was off).
pub async fn disable(
    state: &AppState,
    user: &Authenticated,
    password: String,
) -> Result<(), ApiError> {
    if password.is_empty() {
        return Err(FieldErrors::single("password", "enter your password").into());
    }
    auth::verify_own_password(state, user, password, "account.totp.disable")
        .await
        .map_err(|e| password_problem(e, "password"))?;
    state
        .store
        .disable_totp(
            user.actor.user_id,
            user.audit(
                "account.totp.disable",
                "user",
                Some(user.actor.user_id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    Ok(())
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
    require_staff(&state, &user, "account.totp.disable").await?;
    disable(&state, &user, request.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
