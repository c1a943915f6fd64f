//! Asks the policy (`speciosa_core::policy`) and records refusals in the audit log.
//! Every use case that touches patient or organization data goes through here first.

use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::PatientId;
use speciosa_core::policy::{self, Decision, OrganizationAction, PatientAction, PatientScope};
use speciosa_store::Patient;

use crate::{App, AppError, Caller};

/// Allows `action` on one patient or explains why not (forbidden, or not found when the
/// patient is outside the caller's reach). `audit_action` names the attempt in the log
/// when it is refused; the caller records the success itself.
pub async fn patient(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    action: PatientAction,
    audit_action: &str,
) -> Result<(), AppError> {
    let scope = app
        .store
        .patient_scope(patient_id, caller.actor.user_id)
        .await?;
    let decision = match scope {
        None => Decision::NotFound,
        Some((organization_id, actor_on_care_team)) => policy::authorize_patient(
            &caller.actor,
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
        Some((org, _)) if org == caller.actor.organization_id => Some(patient_id),
        _ => None,
    };
    refuse_unless_allowed(
        app,
        caller,
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
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    action: PatientAction,
    audit_action: &str,
) -> Result<Patient, AppError> {
    patient(app, caller, patient_id, action, audit_action).await?;
    app.store
        .get_patient(patient_id)
        .await?
        .ok_or(AppError::NotFound("patient"))
}

pub async fn organization(
    app: &App,
    caller: &Caller,
    action: OrganizationAction,
    audit_action: &str,
    resource_type: &'static str,
) -> Result<(), AppError> {
    let decision =
        policy::authorize_organization(&caller.actor, action, caller.actor.organization_id);
    refuse_unless_allowed(
        app,
        caller,
        decision,
        audit_action,
        resource_type,
        None,
        None,
    )
    .await
}

async fn refuse_unless_allowed(
    app: &App,
    caller: &Caller,
    decision: Decision,
    audit_action: &str,
    resource_type: &'static str,
    resource_id: Option<String>,
    patient_id: Option<PatientId>,
) -> Result<(), AppError> {
    let refusal = match decision {
        Decision::Allow => return Ok(()),
        Decision::Forbidden => AppError::Forbidden(format!(
            "Your role ({}) does not allow this{}.",
            caller.actor.role,
            match (resource_type, caller.actor.role) {
                ("patient", Role::Clinician) => {
                    ": only clinicians on this patient's care team can see or change their record"
                }
                _ => "",
            }
        )),
        Decision::NotFound => AppError::NotFound(resource_type),
    };
    app.store
        .append_audit(caller.audit(
            audit_action,
            resource_type,
            resource_id,
            patient_id,
            Outcome::Denied,
        ))
        .await?;
    Err(refusal)
}

/// Refuses an action made for one role (a page that makes no sense for the others), and
/// records the refusal as the policy's own refusals are recorded.
pub async fn require_role(
    app: &App,
    caller: &Caller,
    role: Role,
    audit_action: &str,
    resource_type: &str,
    detail: &str,
) -> Result<(), AppError> {
    if caller.actor.role == role {
        return Ok(());
    }
    app.store
        .append_audit(caller.audit(audit_action, resource_type, None, None, Outcome::Denied))
        .await?;
    Err(AppError::Forbidden(detail.to_owned()))
}
