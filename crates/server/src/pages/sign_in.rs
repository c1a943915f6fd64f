//! The sign-in page and signing out.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use speciosa_app::AppError;
use speciosa_app::records::User;
use speciosa_app::sessions::{self, SignedIn};
use speciosa_core::redirect::SafeReturnPath;

use crate::app::AppState;
use crate::auth;
use crate::error::{ApiError, PageError};
use crate::extract::{AccountGate, ClientAddr, MaybePageUser, PageForm};
use crate::pages::{home_path, render, sentence};
use crate::problems;

#[derive(Template)]
#[template(path = "login.html")]
struct SignInPage<'a> {
    error: Option<&'a str>,
    email: &'a str,
    next: &'a str,
    /// On the second step (two-factor code): the challenge from the first.
    challenge: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn form(
    MaybePageUser(user): MaybePageUser,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    if let Some(user) = user {
        return Ok(Redirect::to(home_path(user.actor.role)).into_response());
    }
    let next = SafeReturnPath::parse_opt(query.next.as_deref());
    Ok(render(&SignInPage {
        error: None,
        email: "",
        next: next.as_ref().map_or("", SafeReturnPath::as_str),
        challenge: None,
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

fn refuse_cross_site(headers: &HeaderMap) -> Result<(), PageError> {
    if is_cross_site(headers) {
        return Err(
            ApiError::new(problems::CSRF, "sign in from Speciosa's own sign-in page").into(),
        );
    }
    Ok(())
}

/// Where a new session goes: what the account must do first, else the page asked
/// for (only ever a path on this site), else the role's home.
fn destination(user: &User, next: Option<&SafeReturnPath>) -> String {
    if let Some(gate) = AccountGate::for_user(user) {
        return gate.page().to_owned();
    }
    next.map_or_else(
        || home_path(user.role).to_owned(),
        |n| n.as_str().to_owned(),
    )
}

fn signed_in_response(
    state: &AppState,
    signed_in: &SignedIn,
    next: Option<&SafeReturnPath>,
) -> Response {
    let cookie = auth::session_cookie(&signed_in.token, state.config.secure_cookies);
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&destination(&signed_in.user, next)),
    )
        .into_response()
}

fn throttled_message(retry_after_seconds: u64) -> String {
    format!(
        "Too many failed sign-ins for this account or from this device. Try again in {} minutes.",
        retry_after_seconds / 60
    )
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    refuse_cross_site(&headers)?;
    let next = SafeReturnPath::parse_opt(form.next.as_deref());
    let next_text = next.as_ref().map_or("", SafeReturnPath::as_str);
    if [form.email.as_str(), form.password.as_str()]
        .iter()
        .any(|field| field.contains('\0'))
    {
        let page = render(&SignInPage {
            error: Some(
                "The email or password holds a character that cannot be typed (NUL). Type them again.",
            ),
            email: "",
            next: next_text,
            challenge: None,
        })?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let (status, message) = match sessions::sign_in(
        &state.app,
        &form.email,
        form.password,
        None,
        &client_addr,
        auth::session_durations(&state),
    )
    .await
    {
        Ok(signed_in) => return Ok(signed_in_response(&state, &signed_in, next.as_ref())),
        Err(AppError::SecondFactorRequired { user_id }) => {
            let challenge = sessions::begin_second_factor(&state.app, user_id).await?;
            let page = render(&SignInPage {
                error: None,
                email: "",
                next: next_text,
                challenge: Some(&challenge),
            })?;
            return Ok(page.into_response());
        }
        Err(AppError::SignInThrottled {
            retry_after_seconds,
        }) => (
            StatusCode::TOO_MANY_REQUESTS,
            throttled_message(retry_after_seconds),
        ),
        Err(AppError::InvalidCredentials | AppError::InvalidSecondFactor) => (
            StatusCode::UNAUTHORIZED,
            "The email or password did not match. Check both and try again.".to_owned(),
        ),
        Err(error) => return Err(error.into()),
    };
    let page = render(&SignInPage {
        error: Some(&message),
        email: form.email.trim(),
        next: next_text,
        challenge: None,
    })?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    challenge: String,
    #[serde(default)]
    totp_code: String,
    #[serde(default)]
    recovery_code: String,
    next: Option<String>,
}

/// The second step: the code from the authenticator app, or a recovery code.
pub async fn submit_second_factor(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SecondFactorForm>,
) -> Result<Response, PageError> {
    refuse_cross_site(&headers)?;
    let next = SafeReturnPath::parse_opt(form.next.as_deref());
    let next_text = next.as_ref().map_or("", SafeReturnPath::as_str);
    let second = match sessions::second_factor(Some(&form.totp_code), Some(&form.recovery_code)) {
        Ok(Some(second)) => Ok(second),
        Ok(None) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the 6-digit code from your authenticator app, or a recovery code.".to_owned(),
        )),
        Err(errors) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            errors
                .errors
                .first()
                .map(|e| sentence(&e.detail))
                .unwrap_or_default(),
        )),
    };
    let outcome = match second {
        Ok(second) => {
            match sessions::complete_second_factor(
                &state.app,
                &form.challenge,
                second,
                &client_addr,
                auth::session_durations(&state),
            )
            .await
            {
                Ok(signed_in) => {
                    return Ok(signed_in_response(&state, &signed_in, next.as_ref()));
                }
                Err(AppError::ChallengeExpired) => {
                    let page = render(&SignInPage {
                        error: Some("That took too long. Sign in again with your email and password."),
                        email: "",
                        next: next_text,
                        challenge: None,
                    })?;
                    return Ok((StatusCode::UNAUTHORIZED, page).into_response());
                }
                Err(AppError::SignInThrottled {
                    retry_after_seconds,
                }) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    throttled_message(retry_after_seconds),
                ),
                Err(
                    AppError::InvalidSecondFactor
                    | AppError::InvalidCredentials
                    | AppError::SecondFactorRequired { .. },
                ) => (
                    StatusCode::UNAUTHORIZED,
                    "That code did not match, or was already used. Wait for the next code and try again."
                        .to_owned(),
                ),
                Err(error) => return Err(error.into()),
            }
        }
        Err(refusal) => refusal,
    };
    let (status, message) = outcome;
    let page = render(&SignInPage {
        error: Some(&message),
        email: "",
        next: next_text,
        challenge: Some(&form.challenge),
    })?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub struct SignOutForm {}

pub async fn sign_out(
    State(state): State<AppState>,
    submitted: PageForm<SignOutForm>,
) -> Result<Response, PageError> {
    let user = &submitted.user;
    sessions::sign_out(&state.app, user, &user.session.token_hash).await?;
    let cookie = auth::clearing_cookie(state.config.secure_cookies);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_followed_after_sign_in() {
        let next = |raw| SafeReturnPath::parse_opt(Some(raw)).map(|p| p.as_str().to_owned());
        assert_eq!(next("/patients/1").as_deref(), Some("/patients/1"));
        assert_eq!(next("//evil.example"), None);
        assert_eq!(next("https://evil.example"), None);
        assert_eq!(next("/\\evil.example"), None);
        assert_eq!(next("/\t/evil.example/x"), None);
    }

    #[test]
    fn a_sign_in_from_another_site_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "speciosa.test".parse().unwrap());
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(is_cross_site(&headers));
        headers.insert(header::ORIGIN, "https://speciosa.test".parse().unwrap());
        assert!(!is_cross_site(&headers));
    }
}
