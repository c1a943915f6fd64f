//! Anyone's own account page; a researcher's start page.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use crate::app::AppState;
use crate::error::PageError;
use crate::extract::PageUser;
use crate::pages::time::Clock;
use crate::pages::{Nav, render};

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
        .await?;
    let clock = organization
        .as_ref()
        .map_or_else(Clock::utc, |o| Clock::named(o.time_zone.as_str()));
    let organization = organization.map(|o| o.name).unwrap_or_default();
    render(&AccountPage {
        nav: Nav::for_user(&user).at("/account"),
        name: account.display_name.clone(),
        email: account.email.clone(),
        role: account.role.as_str(),
        organization,
        since: clock.minute(account.created_at),
    })
}
