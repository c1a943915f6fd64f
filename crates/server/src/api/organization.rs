//! `/api/v1/organization`: the admin's own organization and its security settings.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use speciosa_core::audit::Outcome;
use speciosa_core::policy::OrganizationAction;
use speciosa_store::Organization;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiUser, Authenticated};

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

/// The caller's organization, once managing it is allowed (admins).
pub async fn read(
    state: &AppState,
    user: &Authenticated,
    audit_action: &str,
) -> Result<Organization, ApiError> {
    // Settings are part of running the organization's accounts.
    access::organization(
        state,
        user,
        OrganizationAction::ManageUsers,
        audit_action,
        "organization",
    )
    .await?;
    state
        .store
        .get_organization(user.actor.organization_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))
}

#[utoipa::path(get, path = "/api/v1/organization", tag = "users",
    responses((status = 200, description = "Your organization and its settings", body = OrganizationView)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<OrganizationView>, ApiError> {
    let organization = read(&state, &user, "organization.read").await?;
    Ok(Json(OrganizationView::from(&organization)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    /// Require two-factor sign-in for staff.
    pub require_staff_totp: bool,
}

/// Turns the staff two-factor requirement on or off; shared by the API and the admin page.
pub async fn set_require_staff_totp(
    state: &AppState,
    admin: &Authenticated,
    required: bool,
) -> Result<Organization, ApiError> {
    read(state, admin, "organization.update").await?;
    let audit = speciosa_core::audit::AuditEntry {
        detail: Some(format!("require_staff_totp={required}")),
        ..admin.audit(
            "organization.update",
            "organization",
            Some(admin.actor.organization_id.to_string()),
            None,
            Outcome::Success,
        )
    };
    Ok(state
        .store
        .set_require_staff_totp(admin.actor.organization_id, required, audit)
        .await?)
}

#[utoipa::path(patch, path = "/api/v1/organization", tag = "users", request_body = UpdateOrganizationRequest,
    responses((status = 200, description = "Updated", body = OrganizationView)))]
pub async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<UpdateOrganizationRequest>,
) -> Result<Json<OrganizationView>, ApiError> {
    let organization = set_require_staff_totp(&state, &user, request.require_staff_totp).await?;
    Ok(Json(OrganizationView::from(&organization)))
}
