//! Check-ins: which instruments are due for a patient today, the clinician-set rhythm
//! behind it, and the crisis contacts for a patient's jurisdiction.

use std::collections::BTreeMap;

use jiff::Timestamp;
use speciosa_core::FieldErrors;
use speciosa_core::audit::Outcome;
use speciosa_core::checkin::{CrisisResources, Frequency};
use speciosa_core::ids::PatientId;
use speciosa_core::policy::PatientAction;
use speciosa_store::Patient;

use crate::{App, AppError, Caller, access};

/// One instrument on a patient's schedule.
#[derive(Clone, Debug)]
pub struct DueItem {
    pub instrument: String,
    pub frequency: Frequency,
    /// Whether the patient should complete it today (patient-local calendar).
    pub due: bool,
    pub last_completed_at: Option<Timestamp>,
}

/// Every instrument with the patient's frequency and whether it is due today, audited
/// as `schedule.read`.
pub async fn due_today(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<Vec<DueItem>, AppError> {
    access::patient(app, caller, id, PatientAction::Read, "schedule.read").await?;
    let patient = app
        .store
        .get_patient(id)
        .await?
        .ok_or(AppError::NotFound("patient"))?;
    let overrides = app.store.schedule_overrides(id).await?;
    let last = app.store.last_completions(id).await?;
    let zone = patient.details.time_zone.to_zone();
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();
    let items = app
        .knowledge
        .instruments
        .all()
        .iter()
        .map(|instrument| {
            let frequency = overrides
                .get(&instrument.code)
                .and_then(|f| f.parse().ok())
                .unwrap_or_else(|| app.knowledge.checkin_defaults.frequency(&instrument.code));
            let last_completed_at = last.get(&instrument.code).copied();
            DueItem {
                instrument: instrument.code.clone(),
                frequency,
                due: frequency.is_due(
                    last_completed_at.map(|t| t.to_zoned_datetime(zone.clone()).date()),
                    today,
                ),
                last_completed_at,
            }
        })
        .collect();
    app.store
        .append_audit(caller.audit(
            "schedule.read",
            "schedule",
            None,
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok(items)
}

/// Sets a patient's check-in rhythm (instrument code → `daily`, `weekly` or `off`;
/// instruments left out keep the clinic default). Clinicians on the care team only.
pub async fn set_schedule(
    app: &App,
    caller: &Caller,
    id: PatientId,
    frequencies: &BTreeMap<String, String>,
) -> Result<(), AppError> {
    access::patient(
        app,
        caller,
        id,
        PatientAction::UpdateDetails,
        "schedule.update",
    )
    .await?;
    let mut errors = FieldErrors::new();
    let mut checked = BTreeMap::new();
    for (instrument, frequency) in frequencies {
        let field = format!("frequencies.{instrument}");
        if app.knowledge.instruments.get(instrument).is_none() {
            errors.push(
                field,
                format!("{instrument:?} is not an instrument Speciosa knows"),
            );
        } else if let Some(frequency) = errors.check(&field, frequency.parse::<Frequency>()) {
            checked.insert(instrument.clone(), frequency.as_str().to_owned());
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut entry = caller.audit(
        "schedule.update",
        "schedule",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(
        checked
            .iter()
            .map(|(i, f)| format!("{i}={f}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    app.store
        .set_schedule(id, &checked, caller.actor.user_id, entry)
        .await?;
    Ok(())
}

/// The crisis contacts for the patient's country (default: US, 988 and 911).
pub fn crisis_resources<'a>(app: &'a App, patient: &Patient) -> (&'a str, &'a CrisisResources) {
    let country = patient
        .details
        .jurisdiction
        .as_ref()
        .map(|j| j.country.as_str());
    app.knowledge.crisis.for_country(country)
}
