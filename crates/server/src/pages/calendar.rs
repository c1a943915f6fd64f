//! The calendar feed: making and revoking its secret address from the account page, and
//! serving it to calendar apps, which fetch it without a session.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use speciosa_app::AppError;
use speciosa_app::calendar;

use crate::app::AppState;
use crate::error::PageError;
use crate::extract::{ClientAddr, PageForm};
use crate::pages::{FormErrors, NoFields};

pub async fn create(
    State(state): State<AppState>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    let user = submitted.user;
    let url = calendar::create_feed(&state.app, &user).await?;
    // Shown in this response only: a redirect would put the secret in the address bar.
    crate::pages::account::account_page_with_feed(
        &state,
        &user,
        FormErrors::none(),
        Some("Calendar feed made. Copy its address now: it is shown only once."),
        Some(url),
    )
    .await
}

pub async fn revoke(
    State(state): State<AppState>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    calendar::revoke_feed(&state.app, &submitted.user).await?;
    Ok(Redirect::to("/account?saved=calendar-revoked#calendar-heading").into_response())
}

/// `GET /calendar/{token}.ics`: the feed, for whoever holds the address.
pub async fn feed(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    Path(file): Path<String>,
) -> Response {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "There is no calendar feed at this address. It may have been revoked.\n",
        )
            .into_response()
    };
    let Some(token) = file.strip_suffix(".ics") else {
        return not_found();
    };
    match calendar::fetch_feed(&state.app, token, &client_addr).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "private, no-cache"),
            ],
            body,
        )
            .into_response(),
        Err(AppError::NotFound(_)) => not_found(),
        Err(error) => PageError::from(crate::error::ApiError::from(error)).into_response(),
    }
}
