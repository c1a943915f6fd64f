//! `/api/v1/legal-status`: kratom's legal status in a jurisdiction on a date, from the
//! cited dataset (legal-and-products.md §4). Pending bills are listed apart and never
//! counted; conflicts between sources are shown.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, ApiUser};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LegalStatusQuery {
    /// ISO 3166 code (`US`, `US-AL`, `TH`) or a locality code (`US-CA:city:san-diego`).
    pub jurisdiction: Option<String>,
    /// The date to answer for, YYYY-MM-DD; default today (UTC).
    pub date: Option<String>,
}

/// One rule in force (documentation of the JSON returned).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct LegalRuleDoc {
    id: String,
    /// Where the rule comes from: the jurisdiction itself or an enclosing one.
    jurisdiction: String,
    /// `kratom_leaf`, `kratom_extract`, `mitragynine`, `7_OH`, `7_OH_concentrated`,
    /// `mitragynine_pseudoindoxyl`, `synthetic_kratom_alkaloids`, `all_kratom_alkaloids`.
    substance_scope: String,
    /// `legal_unregulated`, `unclear`, `regulated`, `prescription_only`, `restricted_supply`, `controlled_banned`.
    status: String,
    /// As precise as the source: YYYY, YYYY-MM or YYYY-MM-DD; null when unknown.
    effective_from: Option<String>,
    effective_to: Option<String>,
    expires_on: Option<String>,
    instrument: Option<String>,
    #[schema(value_type = Object)]
    conditions: serde_json::Value,
    conditions_text: Vec<String>,
    /// Each with `url`, `title`, `grade` and `stance`.
    #[schema(value_type = Vec<Object>)]
    sources: Vec<serde_json::Value>,
    /// Only vendor or advocacy pages support it.
    unverified: bool,
    last_verified: String,
    next_review_due: String,
    /// Past its review date on the date asked about.
    stale: bool,
    confidence: String,
    #[schema(value_type = Vec<Object>)]
    conflicts: Vec<serde_json::Value>,
    notes: Option<String>,
}

/// What applies in a jurisdiction on a date.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct LegalStatusDoc {
    jurisdiction: String,
    name: String,
    date: String,
    /// The jurisdiction and its parents, nearest first (a state's answer includes federal rules).
    chain: Vec<String>,
    rules: Vec<LegalRuleDoc>,
    /// Bills not yet law, with what they propose: never counted.
    #[schema(value_type = Vec<Object>)]
    pending_bills: Vec<serde_json::Value>,
    /// Where sources disagree, per rule.
    #[schema(value_type = Vec<Object>)]
    conflicts: Vec<serde_json::Value>,
    /// Rules in force that expire within 60 days.
    expiring_soon: Vec<String>,
    dataset_version: String,
    notice: String,
}

#[utoipa::path(get, path = "/api/v1/legal-status", tag = "legal", params(LegalStatusQuery),
    responses(
        (status = 200, description = "The rules in force there and in every enclosing jurisdiction on the date, pending bills apart, and conflicts", body = LegalStatusDoc),
        (status = 404, description = "The dataset does not know this jurisdiction", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No jurisdiction, or a date that is not YYYY-MM-DD", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn legal_status(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiQuery(query): ApiQuery<LegalStatusQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (code, date) =
        speciosa_app::legal::parse_query(query.jurisdiction.as_deref(), query.date.as_deref())?;
    let answer = speciosa_app::legal::legal_status(&state.app, &user, &code, date).await?;
    Ok(Json(serde_json::to_value(&answer).unwrap_or_default()))
}
