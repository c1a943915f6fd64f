//! Thin adapters over `speciosa_app::access` for handlers not yet moved onto use cases.

use speciosa_core::ids::PatientId;
use speciosa_core::policy::{OrganizationAction, PatientAction};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::Authenticated;

pub async fn patient(
    state: &AppState,
    user: &Authenticated,
    patient_id: PatientId,
    action: PatientAction,
    audit_action: &str,
) -> Result<(), ApiError> {
    Ok(speciosa_app::access::patient(&state.app, user, patient_id, action, audit_action).await?)
}

pub async fn organization(
    state: &AppState,
    user: &Authenticated,
    action: OrganizationAction,
    audit_action: &str,
    resource_type: &'static str,
) -> Result<(), ApiError> {
    Ok(
        speciosa_app::access::organization(&state.app, user, action, audit_action, resource_type)
            .await?,
    )
}
