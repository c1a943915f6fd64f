//! One error type per surface: [`ApiError`] renders RFC 9457 problem+json,
//! [`PageError`] a readable page. Internal failures are logged with their cause
//! chain and shown generically.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;
use speciosa_core::{FieldError, FieldErrors};
use speciosa_store::StoreError;

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

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(detail) => ApiError::new(problems::CONFLICT, detail),
            StoreError::NotFound(what) => ApiError::not_found(what),
            unavailable if unavailable.is_unavailable() => {
                log_chain("database unavailable", &unavailable);
                ApiError::new(
                    problems::UNAVAILABLE,
                    "the database cannot be reached; try again shortly",
                )
            }
            other => {
                log_chain("storage failure", &other);
                ApiError::internal()
            }
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

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub title: &'a str,
    pub detail: &'a str,
    pub errors: &'a [FieldError],
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
            PageError::Problem(problem) => {
                let page = ErrorPage {
                    status: problem.kind.status.as_u16(),
                    title: problem.kind.title,
                    detail: &problem.detail,
                    errors: &problem.errors,
                };
                match page.render() {
                    Ok(html) => (problem.kind.status, Html(html)).into_response(),
                    Err(error) => {
                        log_chain("rendering the error page", &error);
                        (problem.kind.status, problem.detail).into_response()
                    }
                }
            }
        }
    }
}

pub fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s[1..].to_owned())
        .unwrap_or_default()
}
