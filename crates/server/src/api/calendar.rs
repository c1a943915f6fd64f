//! `/api/v1/account/calendar-feed`: the signed-in user's secret calendar-feed address.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use speciosa_app::calendar;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::ApiUser;

#[derive(Serialize, ToSchema)]
pub struct CalendarFeedView {
    /// The feed's secret address, shown only now. Anyone with it sees the titles and
    /// times of the events; no session is needed to fetch it.
    #[schema(example = "https://clinic.example/calendar/3f9a….ics")]
    pub url: String,
}

#[utoipa::path(post, path = "/api/v1/account/calendar-feed", tag = "account",
    responses((status = 201, description = "A new feed address; any earlier one stops working", body = CalendarFeedView)))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Response, ApiError> {
    let url = calendar::create_feed(&state.app, &user).await?;
    Ok((StatusCode::CREATED, Json(CalendarFeedView { url })).into_response())
}

#[utoipa::path(delete, path = "/api/v1/account/calendar-feed", tag = "account",
    responses((status = 204, description = "Revoked: the address answers 404 from now on")))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<StatusCode, ApiError> {
    calendar::revoke_feed(&state.app, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
