//! Visits and therapy sessions: a clinician on the care team schedules and cancels them;
//! the care team and the patient themself see them. Every read and write is audited.

use jiff::{SignedDuration, Timestamp};
use speciosa_core::appointment::{AppointmentFields, AppointmentStatus, NewAppointment};
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{AppointmentId, PatientId, UserId};
use speciosa_core::policy::PatientAction;
use speciosa_store::{Appointment, Patient};

use crate::{App, AppError, Caller, access};

/// A list without an end shows this many days ahead.
pub const DEFAULT_WINDOW: SignedDuration = SignedDuration::from_hours(90 * 24);
/// The longest window one list may ask for.
pub const MAX_WINDOW: SignedDuration = SignedDuration::from_hours(366 * 24);
/// At most this many appointments in one list.
pub const LIST_LIMIT: usize = 200;

/// Schedules a visit or session with `clinician` (the caller when `None`), who must be on
/// the patient's care team. A local start is read in the patient's time zone.
pub async fn schedule(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    fields: &AppointmentFields<'_>,
    clinician: Option<UserId>,
) -> Result<(Patient, Appointment), AppError> {
    let patient = access::patient_record(
        app,
        caller,
        patient_id,
        PatientAction::ManageAppointments,
        "appointment.create",
    )
    .await?;
    let booking = NewAppointment::parse(
        fields,
        &patient.details.time_zone.to_zone(),
        Timestamp::now(),
    )?;
    let clinician = clinician.unwrap_or(caller.actor.user_id);
    let team = app.store.care_team(patient_id).await?;
    if !team.iter().any(|m| m.clinician_id == clinician) {
        return Err(AppError::field(
            "clinician_id",
            "choose a clinician on this patient's care team",
        ));
    }
    let appointment = app
        .store
        .insert_appointment(
            patient.organization_id,
            patient_id,
            clinician,
            &booking,
            caller.actor.user_id,
            |id| {
                let mut entry = caller.audit(
                    "appointment.create",
                    "appointment",
                    Some(id.to_string()),
                    Some(patient_id),
                    Outcome::Success,
                );
                entry.detail = Some(booking.kind.as_str().into());
                entry
            },
        )
        .await?;
    Ok((patient, appointment))
}

/// The patient's scheduled appointments starting in `[from, to)`: from now and for
/// [`DEFAULT_WINDOW`] when not given, never longer than [`MAX_WINDOW`].
pub async fn list(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<(Patient, Vec<Appointment>), AppError> {
    let patient = access::patient_record(
        app,
        caller,
        patient_id,
        PatientAction::Read,
        "appointment.list",
    )
    .await?;
    let from = from.unwrap_or_else(Timestamp::now);
    let to = match to {
        Some(to) => to,
        None => from
            .checked_add(DEFAULT_WINDOW)
            .map_err(|_| AppError::field("from", "the window starts too late"))?,
    };
    if to <= from {
        return Err(AppError::field("to", "the window must end after it starts"));
    }
    if to.duration_since(from) > MAX_WINDOW {
        return Err(AppError::field(
            "to",
            "ask for at most 366 days of appointments at a time",
        ));
    }
    let appointments = app
        .store
        .patient_appointments_between(patient_id, from, to, LIST_LIMIT)
        .await?;
    audit_list(app, caller, patient_id, appointments.len()).await?;
    Ok((patient, appointments))
}

/// The patient's next `max` scheduled appointments (from a few minutes ago, so one
/// just begun still shows).
pub async fn upcoming(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    max: usize,
) -> Result<Vec<Appointment>, AppError> {
    access::patient(
        app,
        caller,
        patient_id,
        PatientAction::Read,
        "appointment.list",
    )
    .await?;
    let appointments = app
        .store
        .upcoming_appointments(
            patient_id,
            Timestamp::now() - speciosa_core::appointment::PAST_GRACE,
            max.min(LIST_LIMIT),
        )
        .await?;
    audit_list(app, caller, patient_id, appointments.len()).await?;
    Ok(appointments)
}

async fn audit_list(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    count: usize,
) -> Result<(), AppError> {
    let mut entry = caller.audit(
        "appointment.list",
        "appointment",
        None,
        Some(patient_id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{count} appointments"));
    app.store.append_audit(entry).await?;
    Ok(())
}

/// Cancels an appointment (care team clinicians). Cancelling one already cancelled
/// changes nothing and succeeds. Returns its patient.
pub async fn cancel(app: &App, caller: &Caller, id: AppointmentId) -> Result<PatientId, AppError> {
    let appointment = app
        .store
        .get_appointment(id)
        .await?
        .ok_or(AppError::NotFound("appointment"))?;
    let patient_id = appointment.patient_id;
    access::patient(
        app,
        caller,
        patient_id,
        PatientAction::ManageAppointments,
        "appointment.cancel",
    )
    .await
    .map_err(|error| match error {
        AppError::NotFound(_) => AppError::NotFound("appointment"),
        other => other,
    })?;
    if appointment.status == AppointmentStatus::Scheduled {
        app.store
            .cancel_appointment(
                id,
                caller.actor.user_id,
                caller.audit(
                    "appointment.cancel",
                    "appointment",
                    Some(id.to_string()),
                    Some(patient_id),
                    Outcome::Success,
                ),
            )
            .await?;
    }
    Ok(patient_id)
}
