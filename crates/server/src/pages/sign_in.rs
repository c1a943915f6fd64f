//! The sign-in page and signing out.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{self, SignInError};
use crate::error::{ApiError, PageError};
use crate::extract::{ClientAddr, MaybePageUser, PageForm};
use crate::pages::{home_path, render};
use crate::problems;

#[derive(Template)]
#[template(path = "login.html")]
struct SignInPage<'a> {
    error: Option<&'a str>,
    email: &'a str,
    next: &'a str,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only same-site paths, so the sign-in page cannot be used to bounce people elsewhere.
fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\"))
}

pub async fn form(
    MaybePageUser(user): MaybePageUser,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    if let Some(user) = user {
        return Ok(Redirect::to(home_path(user.actor.role)).into_response());
    }
    let next = safe_next(query.next.as_deref()).unwrap_or("");
    Ok(render(&SignInPage {
        error: None,
        email: "",
        next,
    })?
    .into_response())
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// There is no session yet, so no CSRF token: a cross-site sign-in form is refused by its origin instead.
fn is_cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site")) {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or(origin);
            origin_host != host
        }
        _ => false,
    }
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    if is_cross_site(&headers) {
        return Err(
            ApiError::new(problems::CSRF, "sign in from Speciosa's own sign-in page").into(),
        );
    }
    let next = safe_next(form.next.as_deref()).unwrap_or("");
    if [form.email.as_str(), form.password.as_str()]
        .iter()
        .any(|field| field.contains('\0'))
    {
        let page = render(&SignInPage {
            error: Some(
                "The email or password holds a character that cannot be typed (NUL). Type them again.",
            ),
            email: "",
            next,
        })?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    match auth::sign_in(&state, &form.email, form.password, &client_addr).await {
        Ok(signed_in) => {
            let target = if next.is_empty() {
                home_path(signed_in.user.role)
            } else {
                next
            };
            let cookie = auth::session_cookie(&signed_in.token, state.config.secure_cookies);
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(target)).into_response())
        }
        Err(SignInError::Store(error)) => Err(error.into()),
        Err(error) => {
            let (status, message) = match error {
                SignInError::Throttled {
                    retry_after_seconds,
                } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many failed sign-ins for this account or from this device. Try again in {} minutes.",
                        retry_after_seconds / 60
                    ),
                ),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    "The email or password did not match. Check both and try again.".to_owned(),
                ),
            };
            let page = render(&SignInPage {
                error: Some(&message),
                email: form.email.trim(),
                next,
            })?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {}

pub async fn sign_out(
    State(state): State<AppState>,
    submitted: PageForm<SignOutForm>,
) -> Result<Response, PageError> {
    auth::sign_out(&state, &submitted.user.session, &submitted.user.client_addr).await?;
    let cookie = auth::clearing_cookie(state.config.secure_cookies);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/patients/1")), Some("/patients/1"));
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
    }
}
