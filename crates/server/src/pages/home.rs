//! A patient's own home page, made for a phone.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use speciosa_core::account::Role;

use crate::api::checkin::due_today;
use crate::api::patients::read_patient;
use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::PageUser;
use crate::pages::checkin::due_codes;
use crate::pages::{Nav, Notice, home_path, render};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    patient_id: String,
    name: String,
    care_team: Vec<String>,
    time_zone: String,
    usual_bedtime: Option<String>,
    /// Today's date where the patient lives, e.g. `Tuesday 12 May`.
    today: String,
    /// The check-in's instruments due today (short names), in check-in order.
    due: Vec<String>,
    notice: Option<&'static str>,
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    if user.actor.role != Role::Patient {
        return Ok(Redirect::to(home_path(user.actor.role)).into_response());
    }
    let own = user
        .actor
        .own_patient_id
        .ok_or_else(|| ApiError::not_found("patient record linked to this login"))?;
    let (patient, team) = read_patient(&state, &user, own).await?;
    let details = &patient.details;
    let due = due_today(&state, &user, own).await?;
    let due = due_codes(&state, &due)
        .iter()
        .filter_map(|code| state.instruments.get(code))
        .map(|i| i.short_name.clone())
        .collect();
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("checkin") => Some("Check-in saved. Thank you: your care team can see your answers."),
        _ => None,
    };
    let page = HomePage {
        nav: Nav::for_user(&user).at("/home"),
        patient_id: own.to_string(),
        name: details.display_name.as_str().to_owned(),
        care_team: team.iter().map(|m| m.display_name.clone()).collect(),
        time_zone: details.time_zone.as_str().to_owned(),
        usual_bedtime: details
            .usual_bedtime
            .map(|t| t.strftime("%H:%M").to_string()),
        today: Timestamp::now()
            .to_zoned_datetime(details.time_zone.to_zone())
            .strftime("%A %-d %B")
            .to_string(),
        due,
        notice,
    };
    Ok(render(&page)?.into_response())
}
