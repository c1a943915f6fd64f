//! The organization's own settings (`/admin/organization`), for its admins: the time zone
//! its staff pages read times in (the alert inbox, the audit log). Clinical records keep
//! each patient's own zone.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_app::records::Organization;
use speciosa_app::{AppError, organization};

use crate::app::AppState;
use crate::error::PageError;
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::patients::COMMON_TIME_ZONES;
use crate::pages::time::Clock;
use crate::pages::{FormErrors, Nav, Notice, render};

const LABELS: &[(&str, &str)] = &[("time_zone", "Time zone")];

#[derive(Template)]
#[template(path = "admin_organization.html")]
struct OrganizationPage {
    nav: Nav,
    name: String,
    time_zone: String,
    /// What the zone's clock reads now, as an example.
    now: String,
    time_zones: &'static [&'static str],
    errors: FormErrors,
    notice: Option<&'static str>,
}

fn page(
    user: &Authenticated,
    organization: &Organization,
    time_zone: String,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let status = errors.status;
    let page = OrganizationPage {
        nav: Nav::for_user(user).at("/admin/organization"),
        name: organization.name.clone(),
        now: Clock::named(organization.time_zone.as_str()).day_time(jiff::Timestamp::now()),
        time_zone,
        time_zones: COMMON_TIME_ZONES,
        errors,
        notice,
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    let organization = organization::read_settings(&state.app, &user).await?;
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("time_zone") => Some("Time zone saved. Staff pages now show times in it."),
        _ => None,
    };
    let zone = organization.time_zone.as_str().to_owned();
    page(&user, &organization, zone, FormErrors::none(), notice)
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    time_zone: String,
}

pub async fn update(
    State(state): State<AppState>,
    submitted: PageForm<SettingsForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    match organization::set_time_zone(&state.app, &user, &form.time_zone).await {
        Ok(()) => {}
        Err(AppError::Invalid(errors)) => {
            let organization = organization::read_settings(&state.app, &user).await?;
            let errors = FormErrors::from_api(errors.into(), LABELS)?;
            return page(&user, &organization, form.time_zone, errors, None);
        }
        Err(error) => return Err(error.into()),
    }
    Ok(Redirect::to("/admin/organization?saved=time_zone").into_response())
}
