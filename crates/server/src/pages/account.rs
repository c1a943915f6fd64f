//! Anyone's own account page; a researcher's start page.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use crate::app::AppState;
use crate::error::PageError;
use crate::extract::PageUser;
use crate::pages::{Nav, render, utc_minute};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    name: String,
    email: String,
    role: &'static str,
    organization: String,
    since: String,
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Html<String>, PageError> {
    let account = &user.session.user;
    let organization = state
        .store
        .get_organization(user.actor.organization_id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    render(&AccountPage {
        nav: Nav::for_user(&user).at("/account"),
        name: account.display_name.clone(),
        email: account.email.clone(),
        role: account.role.as_str(),
        organization,
        since: utc_minute(account.created_at),
    })
}
