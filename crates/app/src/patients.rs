//! Patients: enrolment, records, care teams and patient logins.

use jiff::Timestamp;
use jiff::civil::Date;
use speciosa_core::FieldErrors;
use speciosa_core::account::{DisplayName, Email, NewPassword, Role};
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{PatientId, UserId};
use speciosa_core::patient::{PatientDetails, PatientFields};
use speciosa_core::policy::{OrganizationAction, PatientAction};
use speciosa_store::{CareTeamMember, NewUser, Patient, User};

use crate::{App, AppError, Caller, access, passwords};

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

/// Parses a patient's details. Birth and consent dates may not lie ahead anywhere on
/// Earth: they are compared with the latest current date (UTC+14).
fn parse_details(fields: &PatientFields<'_>) -> Result<PatientDetails, FieldErrors> {
    let today = Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(14)))
        .date();
    PatientDetails::parse(fields, today)
}

/// Registers a patient with the registering clinician on the care team.
pub async fn register_patient(
    app: &App,
    caller: &Caller,
    fields: &PatientFields<'_>,
) -> Result<(Patient, Vec<CareTeamMember>), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::CreatePatient,
        "patient.create",
        "patient",
    )
    .await?;
    let details = parse_details(fields)?;
    let patient = app
        .store
        .create_patient(
            caller.actor.organization_id,
            &details,
            caller.actor.user_id,
            Timestamp::now(),
            |id| {
                caller.audit(
                    "patient.create",
                    "patient",
                    Some(id.to_string()),
                    Some(id),
                    Outcome::Success,
                )
            },
        )
        .await?;
    // At enrolment the legal-status rule reads where the patient lives.
    if patient.details.jurisdiction.is_some() {
        crate::safety::after_write(app, caller, &patient).await;
    }
    let team = app.store.care_team(patient.id).await?;
    Ok((patient, team))
}

/// The patients the caller may see (their care-team patients, or themself), audited.
pub async fn visible_patients(app: &App, caller: &Caller) -> Result<Vec<Patient>, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ListPatients,
        "patient.list",
        "patient",
    )
    .await?;
    let patients = match (caller.actor.role, caller.actor.own_patient_id) {
        // One unreadable record is logged and left out; the others are still listed.
        (Role::Clinician, _) => app
            .store
            .list_care_team_patients(caller.actor.organization_id, caller.actor.user_id)
            .await?
            .into_iter()
            .filter_map(|read| {
                read.map_err(|unreadable| {
                    crate::safety::log_unreadable(
                        "listing patients",
                        unreadable.id,
                        &unreadable.error,
                    )
                })
                .ok()
            })
            .collect(),
        (Role::Patient, Some(own)) => app.store.get_patient(own).await?.into_iter().collect(),
        _ => Vec::new(),
    };
    let mut entry = caller.audit("patient.list", "patient", None, None, Outcome::Success);
    entry.detail = Some(format!("{} patients", patients.len()));
    app.store.append_audit(entry).await?;
    Ok(patients)
}

/// Replaces a patient's details and re-runs the rules (a newly recorded pregnancy
/// changes what they see). Returns the record and its care team.
pub async fn update_patient(
    app: &App,
    caller: &Caller,
    id: PatientId,
    fields: &PatientFields<'_>,
) -> Result<(Patient, Vec<CareTeamMember>), AppError> {
    access::patient(
        app,
        caller,
        id,
        PatientAction::UpdateDetails,
        "patient.update",
    )
    .await?;
    let details = parse_details(fields)?;
    let patient = app
        .store
        .update_patient(
            id,
            &details,
            caller.audit(
                "patient.update",
                "patient",
                Some(id.to_string()),
                Some(id),
                Outcome::Success,
            ),
        )
        .await?;
    crate::safety::after_write(app, caller, &patient).await;
    let team = app.store.care_team(id).await?;
    Ok((patient, team))
}

/// Whether the caller may change this patient's details (refusals audited as
/// `patient.update`), before a page offers the form.
pub async fn may_update_patient(app: &App, caller: &Caller, id: PatientId) -> Result<(), AppError> {
    access::patient(
        app,
        caller,
        id,
        PatientAction::UpdateDetails,
        "patient.update",
    )
    .await
}

/// The care team, audited as `care_team.read`.
pub async fn read_care_team(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<Vec<CareTeamMember>, AppError> {
    access::patient(app, caller, id, PatientAction::Read, "care_team.read").await?;
    let team = app.store.care_team(id).await?;
    app.store
        .append_audit(caller.audit(
            "care_team.read",
            "care_team",
            Some(id.to_string()),
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok(team)
}

/// Replaces the care team after checking every member is an active clinician here.
pub async fn set_care_team(
    app: &App,
    caller: &Caller,
    id: PatientId,
    requested: &[UserId],
) -> Result<Vec<CareTeamMember>, AppError> {
    access::patient(
        app,
        caller,
        id,
        PatientAction::ManageCareTeam,
        "care_team.update",
    )
    .await?;
    let clinicians = app
        .store
        .list_users(caller.actor.organization_id, Some(Role::Clinician))
        .await?;
    let mut errors = FieldErrors::new();
    let mut team: Vec<UserId> = Vec::new();
    for (index, requested_id) in requested.iter().enumerate() {
        if !clinicians.iter().any(|c| c.id == *requested_id && c.active) {
            errors.push(
                format!("clinician_ids[{index}]"),
                "not an active clinician of this organization",
            );
        } else if !team.contains(requested_id) {
            team.push(*requested_id);
        }
    }
    if requested.is_empty() {
        errors.push(
            "clinician_ids",
            "a patient must keep at least one clinician on the care team",
        );
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut entry = caller.audit(
        "care_team.update",
        "care_team",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} clinicians", team.len()));
    Ok(app
        .store
        .replace_care_team(
            id,
            caller.actor.organization_id,
            &team,
            caller.actor.user_id,
            entry,
        )
        .await?)
}

/// The organization's active clinicians, whom a care team may hold (refusals audited as
/// `clinician.list`).
pub async fn active_clinicians(app: &App, caller: &Caller) -> Result<Vec<User>, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ListClinicians,
        "clinician.list",
        "user",
    )
    .await?;
    Ok(app
        .store
        .list_users(caller.actor.organization_id, Some(Role::Clinician))
        .await?
        .into_iter()
        .filter(|c| c.active)
        .collect())
}

/// Gives a patient their own sign-in.
pub async fn create_patient_login(
    app: &App,
    caller: &Caller,
    id: PatientId,
    email: &str,
    password: &str,
) -> Result<User, AppError> {
    access::patient(
        app,
        caller,
        id,
        PatientAction::ManageLogin,
        "patient.login.create",
    )
    .await?;
    let patient = app
        .store
        .get_patient(id)
        .await?
        .ok_or(AppError::NotFound("patient"))?;
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(email));
    let password = errors.check("password", NewPassword::parse(password));
    let (Some(email), Some(password)) = (email, password) else {
        return Err(errors.into());
    };
    let password_hash = passwords::hash_password_blocking(password)
        .await
        .map_err(|error| AppError::Defect(format!("hashing a password: {error}")))?;
    let display_name = DisplayName::parse(patient.details.display_name.as_str())
        .map_err(|_| AppError::Defect("a stored patient name is not a display name".into()))?;
    let new = NewUser {
        organization_id: patient.organization_id,
        email,
        display_name,
        role: Role::Patient,
        password_hash,
    };
    Ok(app
        .store
        .create_patient_login(
            id,
            new,
            caller.audit(
                "patient.login.create",
                "patient",
                Some(id.to_string()),
                Some(id),
                Outcome::Success,
            ),
        )
        .await?)
}

/// Whether the caller may read this patient's timeline (refusals audited as
/// `timeline.read`); each read the timeline then makes records itself.
pub async fn may_read_timeline(app: &App, caller: &Caller, id: PatientId) -> Result<(), AppError> {
    access::patient(app, caller, id, PatientAction::Read, "timeline.read").await
}

/// Records that the caller viewed the patient's timeline over `from..=to`.
pub async fn record_timeline_read(
    app: &App,
    caller: &Caller,
    id: PatientId,
    from: Date,
    to: Date,
) -> Result<(), AppError> {
    let mut entry = caller.audit(
        "timeline.read",
        "patient",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{from}..{to}"));
    app.store.append_audit(entry).await?;
    Ok(())
}
