//! Medications: the list the safety rules read (a CNS depressant alongside kratom). Every
//! change re-runs the rules before the use case returns.

use jiff::Timestamp;
use jiff::civil::Date;
use speciosa_core::FieldErrors;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{MedicationId, PatientId};
use speciosa_core::medication::{MedicationEntry, MedicationFields};
use speciosa_core::medicines::InteractionRow;
use speciosa_core::policy::PatientAction;
use speciosa_store::{Alert, Medication, Patient};

use crate::{App, AppError, Caller, access};

/// A medication change as stored, with the alerts the safety rules raised or folded
/// into on the new list (the pages tell the clinician; the JSON API leaves them to the inbox).
pub struct MedicationSaved {
    pub patient: Patient,
    pub medication: Medication,
    /// The interaction rows that apply to the saved medication.
    pub interactions: Vec<InteractionRow>,
    pub alerts: Vec<Alert>,
}

/// A listed medication with the interaction rows that apply to it.
pub struct CheckedMedication {
    pub medication: Medication,
    pub interactions: Vec<InteractionRow>,
}

/// The patient's list checked against the organization's interaction table, audited as
/// `medication.list`: what the medication page and the JSON list show.
pub async fn read_checked_medications(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<(Patient, Vec<CheckedMedication>), AppError> {
    let (patient, medications) = read_medications(app, caller, id).await?;
    let knowledge = crate::medicines::knowledge_for(app, patient.organization_id).await?;
    let checked = medications
        .into_iter()
        .map(|medication| CheckedMedication {
            interactions: crate::medicines::rows_for(&knowledge, &medication),
            medication,
        })
        .collect();
    Ok((patient, checked))
}

async fn saved(
    app: &App,
    caller: &Caller,
    patient: Patient,
    medication: Medication,
) -> Result<MedicationSaved, AppError> {
    let knowledge = crate::medicines::knowledge_for(app, patient.organization_id).await?;
    let interactions = crate::medicines::rows_for(&knowledge, &medication);
    let alerts = crate::safety::after_write(app, caller, &patient).await;
    Ok(MedicationSaved {
        patient,
        medication,
        interactions,
        alerts,
    })
}

/// Today where the patient lives: the day a medication's dates are read against.
pub fn patient_today(patient: &Patient) -> Date {
    Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date()
}

/// The patient's medication list, audited as `medication.list`.
pub async fn read_medications(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<(Patient, Vec<Medication>), AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "medication.list").await?;
    let medications = app.store.list_medications(id).await?;
    let mut entry = caller.audit(
        "medication.list",
        "medication",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} medications", medications.len()));
    app.store.append_audit(entry).await?;
    Ok((patient, medications))
}

/// Adds a medication and re-runs the rules.
pub async fn add_medication(
    app: &App,
    caller: &Caller,
    id: PatientId,
    fields: &MedicationFields<'_>,
) -> Result<MedicationSaved, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::ManageMedications,
        "medication.create",
    )
    .await?;
    let knowledge = crate::medicines::knowledge_for(app, patient.organization_id).await?;
    let entry = MedicationEntry::parse(fields, patient_today(&patient), &knowledge)?;
    let medication = app
        .store
        .insert_medication(
            patient.organization_id,
            id,
            &entry,
            caller.actor.user_id,
            |med_id| {
                let mut audit = caller.audit(
                    "medication.create",
                    "medication",
                    Some(med_id.to_string()),
                    Some(id),
                    Outcome::Success,
                );
                audit.detail = Some(match &entry.ingredient {
                    Some(ingredient) => format!("{} ({ingredient})", entry.class.as_str()),
                    None => format!("{} (name not recognised)", entry.class.as_str()),
                });
                audit
            },
        )
        .await?;
    saved(app, caller, patient, medication).await
}

/// Replaces a medication's fields (a correction or a stop date).
pub async fn change_medication(
    app: &App,
    caller: &Caller,
    id: PatientId,
    medication_id: MedicationId,
    fields: &MedicationFields<'_>,
) -> Result<MedicationSaved, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::ManageMedications,
        "medication.update",
    )
    .await?;
    current_medication(app, id, medication_id).await?;
    let knowledge = crate::medicines::knowledge_for(app, patient.organization_id).await?;
    let entry = MedicationEntry::parse(fields, patient_today(&patient), &knowledge)?;
    let medication = app
        .store
        .update_medication(
            medication_id,
            &entry,
            caller.actor.user_id,
            caller.audit(
                "medication.update",
                "medication",
                Some(medication_id.to_string()),
                Some(id),
                Outcome::Success,
            ),
        )
        .await?;
    saved(app, caller, patient, medication).await
}

/// Records the day a medication was stopped, keeping its other fields as stored (so a
/// stale page cannot undo a correction made since).
pub async fn stop_medication(
    app: &App,
    caller: &Caller,
    id: PatientId,
    medication_id: MedicationId,
    stopped_on: &str,
) -> Result<MedicationSaved, AppError> {
    access::patient(
        app,
        caller,
        id,
        PatientAction::ManageMedications,
        "medication.update",
    )
    .await?;
    let current = current_medication(app, id, medication_id).await?;
    if stopped_on.trim().is_empty() {
        return Err(
            FieldErrors::single("stopped_on", "enter the day it was stopped (YYYY-MM-DD)").into(),
        );
    }
    let started_on = current.started_on.map(|d| d.to_string());
    let fields = MedicationFields {
        name: &current.name,
        class: current.class.as_str(),
        dose_text: current.dose_text.as_deref(),
        started_on: started_on.as_deref(),
        stopped_on: Some(stopped_on),
    };
    change_medication(app, caller, id, medication_id, &fields).await
}

/// Removes an entry entered in error (it stays on record, off the list).
pub async fn remove_medication(
    app: &App,
    caller: &Caller,
    id: PatientId,
    medication_id: MedicationId,
    reason: &str,
) -> Result<MedicationSaved, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::ManageMedications,
        "medication.remove",
    )
    .await?;
    current_medication(app, id, medication_id).await?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(FieldErrors::single("reason", "say why the entry was wrong").into());
    }
    let mut audit = caller.audit(
        "medication.remove",
        "medication",
        Some(medication_id.to_string()),
        Some(id),
        Outcome::Success,
    );
    audit.detail = Some(format!("reason: {reason}"));
    let medication = app
        .store
        .remove_medication(medication_id, reason, caller.actor.user_id, audit)
        .await?;
    saved(app, caller, patient, medication).await
}

async fn current_medication(
    app: &App,
    patient: PatientId,
    id: MedicationId,
) -> Result<Medication, AppError> {
    app.store
        .get_medication(id)
        .await?
        .filter(|m| m.patient_id == patient && m.removed_at.is_none())
        .ok_or(AppError::NotFound("medication"))
}
