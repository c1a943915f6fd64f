//! `POST/GET/DELETE /api/v1/session`: signing in and out.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::users::UserView;
use crate::app::AppState;
use crate::auth::{self, SignInError};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiUser, ClientAddr};
use crate::problems;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    #[schema(example = "amara.okafor@demo.speciosa.test")]
    pub email: String,
    pub password: String,
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
}

#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SessionView),
        (status = 401, description = "Email or password did not match", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed sign-ins; see Retry-After", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_in(
    state: axum::extract::State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    ApiJson(request): ApiJson<SignInRequest>,
) -> Result<Response, ApiError> {
    let signed_in = auth::sign_in(&state, &request.email, request.password, &client_addr)
        .await
        .map_err(sign_in_problem)?;
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
    };
    let cookie = auth::session_cookie(&signed_in.token, state.config.secure_cookies);
    Ok((StatusCode::OK, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

pub fn sign_in_problem(error: SignInError) -> ApiError {
    match error {
        SignInError::InvalidCredentials => ApiError::new(
            problems::INVALID_CREDENTIALS,
            "the email or password did not match an active account",
        ),
        SignInError::Throttled {
            retry_after_seconds,
        } => ApiError {
            retry_after_seconds: Some(retry_after_seconds),
            ..ApiError::new(
                problems::TOO_MANY_SIGN_IN_FAILURES,
                format!(
                    "too many failed sign-ins for this account or from this address; try again in {} minutes",
                    retry_after_seconds / 60
                ),
            )
        },
        SignInError::Store(error) => error.into(),
    }
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
    auth::sign_out(&state, &user.session, &user.client_addr).await?;
    let cookie = auth::clearing_cookie(state.config.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
