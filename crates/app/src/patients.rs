//! Patients: enrolment, records, care teams.

use speciosa_core::audit::Outcome;
use speciosa_core::ids::PatientId;
use speciosa_core::policy::PatientAction;
use speciosa_store::{CareTeamMember, Patient};

use crate::{App, AppError, Caller, access};

/// One patient's record and care team, audited as a read.
pub async fn read_patient(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<(Patient, Vec<CareTeamMember>), AppError> {
    access::patient(app, caller, id, PatientAction::Read, "patient.read").await?;
    let patient = app
        .store
        .get_patient(id)
        .await?
        .ok_or(AppError::NotFound("patient"))?;
    let team = app.store.care_team(id).await?;
    app.store
        .append_audit(caller.audit(
            "patient.read",
            "patient",
            Some(id.to_string()),
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok((patient, team))
}
