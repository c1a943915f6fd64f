//! `GET /api/v1/patients/{id}/assessments/{assessment_id}/fhir`: an assessment as FHIR R4
//! (the mapping is `speciosa_app::export`).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use speciosa_core::ids::{AssessmentId, PatientId};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiUser};

#[utoipa::path(get, path = "/api/v1/patients/{id}/assessments/{assessment_id}/fhir", tag = "assessments",
    params(("id" = Uuid, Path), ("assessment_id" = Uuid, Path)),
    responses((status = 200, description = "A FHIR R4 Bundle: the QuestionnaireResponse and its score Observation", content_type = "application/fhir+json", body = Object)))]
pub async fn assessment_fhir(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath((id, assessment_id)): ApiPath<(PatientId, AssessmentId)>,
) -> Result<Response, ApiError> {
    let bundle =
        speciosa_app::export::assessment_fhir(&state.app, &user, id, assessment_id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/fhir+json")],
        Json(bundle),
    )
        .into_response())
}
