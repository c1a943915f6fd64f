//! Asks the policy (`speciosa_core::policy`) and records refusals in the audit log.
//! Every handler that touches patient or organization data goes through here.

use speciosa_core::audit::Outcome;
use speciosa_core::ids::PatientId;
use speciosa_core::policy::{self, Decision, OrganizationAction, PatientAction, PatientScope};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::Authenticated;

/// Allows `action` on one patient or explains why not (403, or 404 when the
/// patient is outside the caller's reach). `audit_action` names the attempt in
/// the log when it is refused; the caller records the success itself.
pub async fn patient(
    state: &AppState,
    user: &Authenticated,
    patient_id: PatientId,
    action: PatientAction,
    audit_action: &str,
) -> Result<(), ApiError> {
    let scope = state
        .store
        .patient_scope(patient_id, user.actor.user_id)
        .await?;
    let decision = match scope {
        None => Decision::NotFound,
        Some((organization_id, actor_on_care_team)) => policy::authorize_patient(
            &user.actor,
            action,
            &PatientScope {
                patient_id,
                organization_id,
                actor_on_care_team,
            },
        ),
    };
    // A patient outside the caller's organization is not named in the caller's log.
    let logged_patient = match scope {
        Some((org, _)) if org == user.actor.organization_id => Some(patient_id),
        _ => None,
    };
    refuse_unless_allowed(
        state,
        user,
        decision,
        audit_action,
        "patient",
        Some(patient_id.to_string()),
        logged_patient,
    )
    .await
}

/// The patient record, once `action` on it is allowed (refusals audited as above).
pub async fn patient_record(
    state: &AppState,
    user: &Authenticated,
    patient_id: PatientId,
    action: PatientAction,
    audit_action: &str,
) -> Result<speciosa_store::Patient, ApiError> {
    patient(state, user, patient_id, action, audit_action).await?;
    state
        .store
        .get_patient(patient_id)
        .await?
        .ok_or_else(|| ApiError::not_found("patient"))
}

pub async fn organization(
    state: &AppState,
    user: &Authenticated,
    action: OrganizationAction,
    audit_action: &str,
    resource_type: &str,
) -> Result<(), ApiError> {
    let decision = policy::authorize_organization(&user.actor, action, user.actor.organization_id);
    refuse_unless_allowed(
        state,
        user,
        decision,
        audit_action,
        resource_type,
        None,
        None,
    )
    .await
}

async fn refuse_unless_allowed(
    state: &AppState,
    user: &Authenticated,
    decision: Decision,
    audit_action: &str,
    resource_type: &str,
    resource_id: Option<String>,
    patient_id: Option<PatientId>,
) -> Result<(), ApiError> {
    let refusal = match decision {
        Decision::Allow => return Ok(()),
        Decision::Forbidden => ApiError::forbidden(format!(
            "Your role ({}) does not allow this{}.",
            user.actor.role,
            match (resource_type, user.actor.role) {
                ("patient", speciosa_core::account::Role::Clinician) => {
                    ": only clinicians on this patient's care team can see or change their record"
                }
                _ => "",
            }
        )),
        Decision::NotFound => ApiError::not_found(resource_type),
    };
    state
        .store
        .append_audit(user.audit(
            audit_action,
            resource_type,
            resource_id,
            patient_id,
            Outcome::Denied,
        ))
        .await?;
    Err(refusal)
}
