//! `POST/GET/DELETE /api/v1/session`: signing in and out.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::users::UserView;
use crate::app::AppState;
use crate::auth;
use crate::error::ApiError;
use crate::extract::{AccountGate, ApiJson, ApiUser, ClientAddr};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    #[schema(example = "amara.okafor@demo.speciosa.test")]
    pub email: String,
    pub password: String,
    /// For accounts with two-factor sign-in on: the 6-digit code from the authenticator
    /// app. Without it (or `recovery_code`) such an account answers 401
    /// `/problems/second-factor-required`.
    #[schema(example = "492039")]
    pub totp_code: Option<String>,
    /// Instead of `totp_code`: one of the recovery codes shown at enrolment (each works once).
    #[schema(example = "3f9a-12bc-77e0-c4d1-0a5b")]
    pub recovery_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Send this in `X-CSRF-Token` on every state-changing request. It lasts the session.
    pub csrf_token: String,
    pub user: UserView,
    /// For a patient login, the patient record it belongs to.
    pub patient_id: Option<uuid::Uuid>,
    /// The session ends after this many seconds without a request.
    pub idle_timeout_seconds: i64,
    /// What must happen before anything else works (every other route answers 403
    /// with this problem type): `password_change_required` or `two_factor_enrolment_required`.
    #[schema(example = json!(null))]
    pub required_action: Option<String>,
}

fn required_action(user: &speciosa_app::records::User) -> Option<String> {
    AccountGate::for_user(user).map(|gate| {
        match gate {
            AccountGate::ChangePassword => "password_change_required",
            AccountGate::EnrolTwoFactor => "two_factor_enrolment_required",
        }
        .to_owned()
    })
}

#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set. If `required_action` is set, only account routes work until it is done.", body = SessionView),
        (status = 401, description = "Email or password did not match (`/problems/invalid-credentials`); the account needs a two-factor code and none was sent (`/problems/second-factor-required`: send the same request with `totp_code` or `recovery_code`); or the code did not match or was used already (`/problems/invalid-second-factor`)", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`totp_code` is not 6 digits, `recovery_code` is malformed, or both were sent", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed sign-ins or codes for this account (5) or address (20) within 15 minutes; see Retry-After", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_in(
    state: axum::extract::State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    ApiJson(request): ApiJson<SignInRequest>,
) -> Result<Response, ApiError> {
    let second = speciosa_app::sessions::second_factor(
        request.totp_code.as_deref(),
        request.recovery_code.as_deref(),
    )?;
    let signed_in = speciosa_app::sessions::sign_in(
        &state.app,
        &request.email,
        request.password,
        second,
        &client_addr,
        auth::session_durations(&state),
    )
    .await?;
    let idle = if signed_in.user.role.is_staff() {
        state.config.staff_idle_timeout
    } else {
        state.config.patient_idle_timeout
    };
    let body = SessionView {
        csrf_token: signed_in.csrf_token,
        user: UserView::from(&signed_in.user),
        patient_id: signed_in.own_patient_id.map(|id| id.as_uuid()),
        idle_timeout_seconds: idle.as_secs(),
        required_action: required_action(&signed_in.user),
    };
    let cookie = auth::session_cookie(&signed_in.token, state.config.secure_cookies);
    Ok((StatusCode::OK, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses(
        (status = 200, description = "The current session", body = SessionView),
        (status = 401, description = "Not signed in", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn current(ApiUser(user): ApiUser) -> Json<SessionView> {
    Json(SessionView {
        csrf_token: user.session.csrf_token.clone(),
        user: UserView::from(&user.session.user),
        patient_id: user.session.own_patient_id.map(|id| id.as_uuid()),
        idle_timeout_seconds: user.session.idle_timeout.as_secs(),
        required_action: required_action(&user.session.user),
    })
}

#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses(
        (status = 204, description = "Signed out; the session no longer works anywhere"),
        (status = 401, description = "Not signed in", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing X-CSRF-Token", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_out(
    state: axum::extract::State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Response, ApiError> {
    speciosa_app::sessions::sign_out(&state.app, &user, &user.session.token_hash).await?;
    let cookie = auth::clearing_cookie(state.config.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
