//! Server-rendered pages: plain HTML forms that work at phone width, by keyboard
//! and without JavaScript. Each page handler extracts, authorizes through the same
//! service functions as the API, and renders an askama template.

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use speciosa_core::account::Role;

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, MaybePageUser};
use crate::problems::ProblemType;

mod sign_in;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(start))
        .route("/login", get(sign_in::form).post(sign_in::submit))
        .route("/logout", axum::routing::post(sign_in::sign_out))
        .route("/static/app.css", get(stylesheet))
        .route("/problems/{slug}", get(problem_page))
}

/// Renders a template, turning a rendering failure into a logged 500 page.
pub fn render(template: &impl Template) -> Result<Html<String>, PageError> {
    template.render().map(Html).map_err(|error| {
        crate::error::log_chain("rendering a page", &error);
        PageError::Problem(ApiError::internal())
    })
}

/// Where each role starts.
pub fn home_path(role: Role) -> &'static str {
    match role {
        Role::Clinician => "/patients",
        Role::Patient => "/home",
        Role::Admin => "/admin/users",
        Role::Researcher => "/account",
    }
}

async fn start(MaybePageUser(user): MaybePageUser) -> Redirect {
    match user {
        Some(user) => Redirect::to(home_path(user.actor.role)),
        None => Redirect::to("/login"),
    }
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../../../web/static/app.css"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "problem_type.html")]
struct ProblemTypePage {
    problem: ProblemType,
}

async fn problem_page(Path(slug): Path<String>) -> Result<Html<String>, PageError> {
    let problem = ProblemType::by_slug(&slug).ok_or_else(|| ApiError::not_found("problem type"))?;
    render(&ProblemTypePage { problem })
}

/// Shared navigation data every signed-in page's template receives.
pub struct Nav {
    pub display_name: String,
    pub role: Role,
    pub csrf_token: String,
}

impl Nav {
    pub fn for_user(user: &Authenticated) -> Self {
        Nav {
            display_name: user.session.user.display_name.clone(),
            role: user.actor.role,
            csrf_token: user.session.csrf_token.clone(),
        }
    }

    pub fn is(&self, role: &str) -> bool {
        self.role.as_str() == role
    }
}

