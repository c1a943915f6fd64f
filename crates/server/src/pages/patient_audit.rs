//! `/patients/{id}/audit`: the patient's own audit trail with its full detail, for
//! clinicians on the care team (administrators see the organization's log without it).

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use speciosa_app::{audit, users};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::PageUser;
use crate::pages::{Nav, patient_id, render};
use crate::problems;

/// One page holds this many events; older ones are a link away.
const PAGE_SIZE: u32 = 100;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrailParams {
    #[serde(default)]
    before_id: String,
}

struct TrailRow {
    id: i64,
    at: String,
    who: String,
    role: String,
    action: String,
    resource_type: String,
    outcome: String,
    client_addr: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "patient_audit.html")]
struct TrailPage {
    nav: Nav,
    patient_id: String,
    patient_name: String,
    events: Vec<TrailRow>,
    paged: bool,
    older_href: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    params: Result<Query<TrailParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let params = params
        .map(|Query(p)| p)
        .map_err(|rejection| ApiError::new(problems::MALFORMED_REQUEST, rejection.body_text()))?;
    let before_id = match params.before_id.trim() {
        "" => None,
        raw => Some(raw.parse::<i64>().map_err(|_| {
            ApiError::new(
                problems::MALFORMED_REQUEST,
                "before_id must be an event number",
            )
        })?),
    };
    // The trail's own policy (care team only) answers first.
    let trail = audit::read_trail(&state.app, &user, id, before_id, Some(PAGE_SIZE)).await?;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, &user, id).await?;
    let clinicians = users::list_clinicians(&state.app, &user, true).await?;
    let patient_name = patient.details.display_name.as_str().to_owned();
    let events = trail
        .events
        .iter()
        .map(|event| {
            let who = match event.actor_user_id {
                None => "Speciosa (scheduled check)".to_owned(),
                Some(actor) if Some(actor) == patient.user_id => patient_name.clone(),
                Some(actor) => clinicians
                    .iter()
                    .find(|c| c.id == actor)
                    .map(|c| c.display_name.clone())
                    .unwrap_or_else(|| format!("user …{}", short_tail(&actor.to_string()))),
            };
            TrailRow {
                id: event.id,
                at: event
                    .occurred_at
                    .strftime("%Y-%m-%d %H:%M:%S UTC")
                    .to_string(),
                who,
                role: event.actor_role.clone().unwrap_or_default(),
                action: event.action.clone(),
                resource_type: event.resource_type.clone(),
                outcome: event.outcome.clone(),
                client_addr: event.client_addr.clone().unwrap_or_default(),
                detail: event.detail.clone().unwrap_or_default(),
            }
        })
        .collect();
    let page = TrailPage {
        nav: Nav::for_user(&user).at("/patients"),
        patient_id: id.to_string(),
        patient_name,
        events,
        paged: before_id.is_some(),
        older_href: trail
            .next_before_id
            .map(|before| format!("/patients/{id}/audit?before_id={before}")),
    };
    Ok(render(&page)?.into_response())
}

/// The random tail of a UUIDv7, enough to tell accounts apart.
fn short_tail(id: &str) -> &str {
    id.rsplit_once('-').map_or(id, |(_, tail)| tail)
}
