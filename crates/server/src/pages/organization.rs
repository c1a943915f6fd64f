//! The organization's own settings (`/admin/organization`), for its admins: the time zone
//! its staff pages read times in (the alert inbox, the audit log). Clinical records keep
//! each patient's own zone.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_core::FieldErrors;
use speciosa_core::audit::Outcome;
use speciosa_core::patient::TimeZoneName;
use speciosa_core::policy::OrganizationAction;
use speciosa_store::Organization;

use crate::access;
use crate::app::AppState;
use crate::error::{ApiError, PageError};
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

async fn organization(state: &AppState, user: &Authenticated) -> Result<Organization, ApiError> {
    state
        .store
        .get_organization(user.actor.organization_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))
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
    access::organization(
        &state,
        &user,
        OrganizationAction::ConfigureOrganization,
        "organization.read",
        "organization",
    )
    .await?;
    let organization = organization(&state, &user).await?;
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
    access::organization(
        &state,
        &user,
        OrganizationAction::ConfigureOrganization,
        "organization.update",
        "organization",
    )
    .await?;
    let organization = organization(&state, &user).await?;
    let zone = match TimeZoneName::parse(&form.time_zone) {
        Ok(zone) => zone,
        Err(detail) => {
            let errors =
                FormErrors::from_api(FieldErrors::single("time_zone", detail).into(), LABELS)?;
            return page(&user, &organization, form.time_zone, errors, None);
        }
    };
    let mut entry = user.audit(
        "organization.update",
        "organization",
        Some(organization.id.to_string()),
        None,
        Outcome::Success,
    );
    entry.detail = Some(format!("time_zone={}", zone.as_str()));
    state
        .store
        .set_organization_time_zone(organization.id, &zone, entry)
        .await?;
    Ok(Redirect::to("/admin/organization?saved=time_zone").into_response())
}
