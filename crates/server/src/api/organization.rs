//! `/api/v1/organization`: the admin's own organization and its security settings.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use speciosa_app::organization;
use speciosa_app::records::Organization;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiUser};

#[derive(Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
    /// Staff (admins, clinicians, researchers) must sign in with two factors; those
    /// without it are sent to turn it on before anything else.
    pub require_staff_totp: bool,
}

impl From<&Organization> for OrganizationView {
    fn from(organization: &Organization) -> Self {
        OrganizationView {
            id: organization.id.as_uuid(),
            name: organization.name.clone(),
            require_staff_totp: organization.require_staff_totp,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/organization", tag = "users",
    responses((status = 200, description = "Your organization and its settings", body = OrganizationView)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<OrganizationView>, ApiError> {
    let organization = organization::read_organization(&state.app, &user).await?;
    Ok(Json(OrganizationView::from(&organization)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    /// Require two-factor sign-in for staff.
    pub require_staff_totp: bool,
}

#[utoipa::path(patch, path = "/api/v1/organization", tag = "users", request_body = UpdateOrganizationRequest,
    responses((status = 200, description = "Updated", body = OrganizationView)))]
pub async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<UpdateOrganizationRequest>,
) -> Result<Json<OrganizationView>, ApiError> {
    let organization =
        organization::set_require_staff_totp(&state.app, &user, request.require_staff_totp).await?;
    Ok(Json(OrganizationView::from(&organization)))
}
