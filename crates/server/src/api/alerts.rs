//! `/api/v1/alerts`: the clinician's inbox of safety alerts across their patients, and
//! the human decisions (acknowledge, resolve) that are the only way an alert closes.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use speciosa_app::alerts;
use speciosa_app::records::{Alert, AlertAction, InboxAlert, Review};
use speciosa_core::FieldErrors;
use speciosa_core::ids::AlertId;
use speciosa_core::safety::{Rule, Severity};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};

/// What a rule is and where it comes from, shown beside every alert.
#[derive(Serialize, ToSchema)]
pub struct RuleGuidanceView {
    pub title: String,
    /// What the clinician might consider doing.
    pub consider: String,
    /// The reference the rule and its threshold come from.
    pub source: String,
    /// How strong the evidence is.
    pub evidence: String,
}

#[derive(Serialize, ToSchema)]
pub struct AlertView {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// Present in lists across patients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_name: Option<String>,
    /// The rule that fired, e.g. `phq9_item9`, `dose_escalation`.
    pub rule: String,
    /// `urgent`, `warning` or `info`.
    pub severity: String,
    /// `open` until someone acknowledges it; `resolved` only by a person.
    pub status: String,
    /// One line: what happened, with the numbers.
    pub summary: String,
    /// The exact data that fired the rule the first time.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// The record it fired on: `assessment`, `dose`, `medication` or `patient`.
    pub source_type: String,
    pub source_id: String,
    pub raised_at: String,
    /// How many times the same condition fired while this alert stood.
    pub occurrences: i64,
    pub last_fired_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub last_evidence: Option<serde_json::Value>,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<String>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<String>,
    pub guidance: Option<RuleGuidanceView>,
    /// The decisions recorded on it (single-alert reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<AlertActionView>>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertActionView {
    /// `acknowledge` or `resolve`.
    pub action: String,
    pub comment: String,
    pub acted_by: Uuid,
    pub acted_by_name: String,
    pub acted_at: String,
}

impl From<&AlertAction> for AlertActionView {
    fn from(a: &AlertAction) -> Self {
        AlertActionView {
            action: a.action.clone(),
            comment: a.comment.clone(),
            acted_by: a.acted_by.as_uuid(),
            acted_by_name: a.acted_by_name.clone(),
            acted_at: a.acted_at.to_string(),
        }
    }
}

impl From<&Alert> for AlertView {
    fn from(a: &Alert) -> Self {
        AlertView {
            id: a.id.as_uuid(),
            patient_id: a.patient_id.as_uuid(),
            patient_name: None,
            rule: a.rule.clone(),
            severity: a.severity.clone(),
            status: a.status.clone(),
            summary: a.summary.clone(),
            evidence: a.evidence.clone(),
            source_type: a.source_type.clone(),
            source_id: a.source_id.clone(),
            raised_at: a.raised_at.to_string(),
            occurrences: a.occurrences,
            last_fired_at: a.last_fired_at.map(|t| t.to_string()),
            last_evidence: a.last_evidence.clone(),
            acknowledged_by: a.acknowledged_by.map(|u| u.as_uuid()),
            acknowledged_at: a.acknowledged_at.map(|t| t.to_string()),
            resolved_by: a.resolved_by.map(|u| u.as_uuid()),
            resolved_at: a.resolved_at.map(|t| t.to_string()),
            guidance: Rule::from_code(&a.rule).map(|rule| {
                let g = rule.guidance();
                RuleGuidanceView {
                    title: g.title.into(),
                    consider: g.consider.into(),
                    source: g.source.into(),
                    evidence: g.evidence.into(),
                }
            }),
            actions: None,
        }
    }
}

impl From<&InboxAlert> for AlertView {
    fn from(a: &InboxAlert) -> Self {
        AlertView {
            patient_name: Some(a.patient_name.clone()),
            ..AlertView::from(&a.alert)
        }
    }
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// `open` (the default), `acknowledged`, `resolved`, `unresolved` (open or
    /// acknowledged) or `all`.
    pub status: Option<String>,
    /// Only this severity: `urgent`, `warning` or `info`.
    pub severity: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(InboxQuery),
    responses(
        (status = 200, description = "Alerts for every patient on the clinician's care teams, urgent first, then newest", body = [AlertView]),
        (status = 403, description = "Only clinicians have an alert inbox", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn inbox(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let alerts = alerts::read_inbox(&state.app, &user, query.status.as_deref(), None).await?;
    let severity = match query.severity.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(Severity::parse(text).ok_or_else(|| {
            FieldErrors::single(
                "severity",
                format!("{text:?} is not urgent, warning or info"),
            )
        })?),
    };
    Ok(Json(
        alerts
            .iter()
            .filter(|a| severity.is_none_or(|s| a.alert.severity == s.as_str()))
            .map(AlertView::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = Uuid, Path)),
    responses((status = 200, description = "One alert with its evidence, guidance and the decisions recorded on it", body = AlertView)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<AlertId>,
) -> Result<Json<AlertView>, ApiError> {
    let (alert, actions) = alerts::read_alert(&state.app, &user, id).await?;
    let mut view = AlertView::from(&alert);
    view.actions = Some(actions.iter().map(AlertActionView::from).collect());
    Ok(Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// What was done or decided. Required to resolve; recorded with the action.
    #[serde(default)]
    pub comment: String,
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts", params(("id" = Uuid, Path)), request_body = ReviewRequest,
    responses(
        (status = 200, description = "Acknowledged (or already acknowledged by you: a retry)", body = AlertView),
        (status = 403, description = "Only clinicians on the patient's care team review alerts", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already acknowledged by someone else, or resolved", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn acknowledge(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<AlertId>,
    ApiJson(request): ApiJson<ReviewRequest>,
) -> Result<Json<AlertView>, ApiError> {
    let alert =
        alerts::review(&state.app, &user, id, Review::Acknowledge, &request.comment).await?;
    Ok(Json(AlertView::from(&alert)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", params(("id" = Uuid, Path)), request_body = ReviewRequest,
    responses(
        (status = 200, description = "Resolved (or already resolved by you: a retry)", body = AlertView),
        (status = 403, description = "Only clinicians on the patient's care team review alerts", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already resolved by someone else", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No comment: say what was done", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn resolve(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<AlertId>,
    ApiJson(request): ApiJson<ReviewRequest>,
) -> Result<Json<AlertView>, ApiError> {
    let alert = alerts::review(&state.app, &user, id, Review::Resolve, &request.comment).await?;
    Ok(Json(AlertView::from(&alert)))
}
