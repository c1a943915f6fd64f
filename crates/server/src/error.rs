//! One error type per surface: [`ApiError`] renders RFC 9457 problem+json,
//! [`PageError`] a readable page. Internal failures are logged with their cause
//! chain and shown generically.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;
use speciosa_app::{AppError, sessions};
use speciosa_core::{FieldError, FieldErrors};

use crate::app::AppState;
use crate::auth;
use crate::extract::Authenticated;
use crate::pages::{HelpBar, Nav};
use crate::problems::{self, ProblemType};

#[derive(Debug)]
pub struct ApiError {
    pub kind: ProblemType,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after_seconds: Option<u64>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_seconds: None,
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            problems::UNAUTHENTICATED,
            "sign in first: this route needs a session",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            problems::NOT_FOUND,
            format!("no {what} with that id is visible to you"),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(problems::FORBIDDEN, detail)
    }

    pub fn internal() -> Self {
        Self::new(
            problems::INTERNAL,
            "an internal error occurred; it has been logged",
        )
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        let detail = match errors.errors.as_slice() {
            [only] => format!("{}: {}", only.field, only.detail),
            many => format!("{} fields are invalid", many.len()),
        };
        Self {
            kind: problems::VALIDATION,
            detail,
            errors: errors.errors,
            retry_after_seconds: None,
        }
    }
}

impl From<speciosa_app::AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Invalid(errors) => errors.into(),
            AppError::Forbidden(detail) => ApiError::forbidden(detail),
            AppError::NotFound(what) => ApiError::not_found(what),
            AppError::Conflict(detail) => ApiError::new(problems::CONFLICT, detail),
            AppError::Unavailable(cause) => {
                log_chain("database unavailable", &cause);
                ApiError::new(
                    problems::UNAVAILABLE,
                    "the database cannot be reached; try again shortly",
                )
            }
            AppError::Internal(cause) => {
                log_chain("internal failure", &cause);
                ApiError::internal()
            }
            AppError::Defect(what) => {
                tracing::error!(error = %what, "internal failure");
                ApiError::internal()
            }
            AppError::InvalidCredentials => ApiError::new(
                problems::INVALID_CREDENTIALS,
                "the email or password did not match an active account",
            ),
            AppError::SignInThrottled {
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
            AppError::SecondFactorRequired { .. } => ApiError::new(
                problems::SECOND_FACTOR_REQUIRED,
                "this account signs in with two factors: send the same request again with totp_code (the 6-digit code from the authenticator app) or recovery_code",
            ),
            AppError::InvalidSecondFactor => ApiError::new(
                problems::INVALID_SECOND_FACTOR,
                "the two-factor code did not match or was already used; wait for the next code or use a recovery code",
            ),
            AppError::ChallengeExpired => ApiError::new(
                problems::INVALID_CREDENTIALS,
                "this sign-in took too long; start again with the email and password",
            ),
            AppError::PasswordThrottled {
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
        }
    }
}

/// Logs an error with every cause, since the `Display` of the top alone rarely says enough.
pub fn log_chain(context: &str, error: &dyn std::error::Error) {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "{context}");
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: self.kind.uri(),
            title: self.kind.title,
            status: self.kind.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.kind.status, json).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// An error on a web page: a redirect to sign in, or a readable page.
#[derive(Debug)]
pub enum PageError {
    SignIn {
        next: String,
    },
    /// Somewhere the visitor must go first (e.g. to change a temporary password).
    Redirect(&'static str),
    Problem(ApiError),
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(error: E) -> Self {
        PageError::Problem(error.into())
    }
}

/// What an error page says. It travels on the response as an extension so that
/// [`keep_navigation`] can draw the page again for the signed-in visitor, with their
/// navigation and, for a patient, the crisis bar.
#[derive(Clone, Debug)]
pub struct ErrorContent {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

impl ErrorContent {
    fn of(problem: &ApiError) -> Self {
        let title = if problem.kind.status == StatusCode::NOT_FOUND {
            "Page not found".to_owned()
        } else {
            problem.kind.title.to_owned()
        };
        ErrorContent {
            status: problem.kind.status,
            title,
            detail: crate::pages::sentence(&problem.detail),
            errors: problem.errors.clone(),
        }
    }

    /// The page for `viewer` (`None`: signed out), or the bare text if it cannot be drawn.
    fn render(&self, viewer: Option<Viewer>) -> Response {
        let (nav, help, start) = match viewer {
            Some(v) => (Some(v.nav), v.help, v.start),
            None => (None, None, "/login"),
        };
        let page = ErrorPage {
            status: self.status.as_u16(),
            title: &self.title,
            detail: &self.detail,
            errors: &self.errors,
            nav,
            help,
            start,
        };
        let mut response = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(error) => {
                log_chain("rendering the error page", &error);
                (self.status, self.detail.clone()).into_response()
            }
        };
        response.extensions_mut().insert(self.clone());
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub title: &'a str,
    pub detail: &'a str,
    pub errors: &'a [FieldError],
    /// The signed-in visitor's navigation; none for someone signed out.
    pub nav: Option<Nav>,
    /// A patient's "Need help now?" bar.
    pub help: Option<HelpBar>,
    /// Where "start page" leads: the role's home, or sign-in.
    pub start: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { next } => {
                let target = if next.is_empty() || next == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", urlencode(&next))
                };
                Redirect::to(&target).into_response()
            }
            PageError::Redirect(target) => Redirect::to(target).into_response(),
            // Drawn for a signed-out visitor; `keep_navigation` redraws it for a signed-in one.
            PageError::Problem(problem) => ErrorContent::of(&problem).render(None),
        }
    }
}

/// Who an error page is drawn for.
struct Viewer {
    nav: Nav,
    help: Option<HelpBar>,
    start: &'static str,
}

/// Looks up the visitor behind `token` for an error page. Any failure here leaves the
/// page as a signed-out visitor sees it: an error page must never fail in turn.
async fn viewer(
    state: &AppState,
    token: &str,
    client_addr: String,
) -> Result<Option<Viewer>, AppError> {
    let Some(session) = sessions::load_session(&state.app, token).await? else {
        return Ok(None);
    };
    let caller = Authenticated::from_session(session, client_addr);
    let role = caller.actor.role;
    let open_urgent_alerts = sessions::open_urgent_alerts(&state.app, &caller).await?;
    let help = sessions::own_patient(&state.app, &caller)
        .await?
        .map(|patient| HelpBar::for_patient(state, &patient));
    Ok(Some(Viewer {
        nav: Nav {
            display_name: caller.session.user.display_name.clone(),
            role,
            csrf_token: caller.session.csrf_token.clone(),
            current: "",
            open_urgent_alerts,
        },
        help,
        start: crate::pages::home_path(role),
    }))
}

/// Middleware for the pages: every error page keeps the visitor's navigation (and a
/// patient's crisis bar). Errors raised below the handlers (an unknown method, a body too
/// large, a timeout) come back bare and get a readable page too. The session is looked up
/// only when a page has failed.
pub async fn keep_navigation(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let token = auth::session_token(request.headers(), state.config.secure_cookies);
    let client_addr = crate::extract::request_client_addr(&request, &state);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content = match response.extensions().get::<ErrorContent>() {
        Some(content) => content.clone(),
        None if is_bare(&response) => {
            let kind = ProblemType::for_status(status);
            ErrorContent {
                status,
                title: kind.title.to_owned(),
                detail: kind.explanation.to_owned(),
                errors: Vec::new(),
            }
        }
        None => return response,
    };
    let viewer = match token {
        Some(token) => viewer(&state, &token, client_addr)
            .await
            .unwrap_or_else(|error| {
                log_chain("finding who an error page is for", &error);
                None
            }),
        None => None,
    };
    if viewer.is_none() && response.extensions().get::<ErrorContent>().is_some() {
        return response;
    }
    let (parts, _) = response.into_parts();
    let redrawn = content.render(viewer);
    let (mut redrawn_parts, body) = redrawn.into_parts();
    // Keep what the handler said besides the body (Retry-After, cookies).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            redrawn_parts.headers.insert(name.clone(), value.clone());
        }
    }
    Response::from_parts(redrawn_parts, body)
}

/// An error response with no page of its own: no body type, or plain text.
fn is_bare(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"))
}

pub fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s[1..].to_owned())
        .unwrap_or_default()
}
