//! Secret-address calendar feeds (RFC 5545): each user may have one, made and revoked by
//! themself. The address's token is 256 random bits, stored only as its SHA-256; fetching
//! the feed needs no session, so it shows titles and times only (plans-and-therapy.md
//! §7.2: no amounts, no substance names, no patient names).

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use speciosa_core::account::Role;
use speciosa_core::appointment::AppointmentKind;
use speciosa_core::audit::Outcome;
use speciosa_core::ical::{EventStart, Feed, FeedEvent, Repeat, initials};
use speciosa_core::ids::{PatientId, UserId};
use speciosa_core::policy::Actor;
use speciosa_store::{Appointment, Patient, PlanRecord};

use crate::sessions::{new_token, token_hash};
use crate::{App, AppError, Caller};

/// Visits and sessions this far ahead are in a feed.
pub const FEED_WINDOW: SignedDuration = SignedDuration::from_hours(90 * 24);
/// At most this many visits and sessions in a feed.
const FEED_APPOINTMENTS: usize = 200;
/// When the patient has chosen no reminder time, the check-in is placed here.
pub const DEFAULT_CHECK_IN: Time = Time::constant(9, 0, 0, 0);

/// The address of a feed's token under `base_url` (the server's public URL).
pub fn feed_url(base_url: &str, token: &str) -> String {
    format!("{}/calendar/{token}.ics", base_url.trim_end_matches('/'))
}

/// The server's public URL (`--public-url`), which feed addresses and links start with.
fn base_url(app: &App) -> &str {
    app.settings.public_url.trim_end_matches('/')
}

/// Makes a new feed address for the caller, revoking the previous one. The address is
/// returned once; only its hash is kept.
pub async fn create_feed(app: &App, caller: &Caller) -> Result<String, AppError> {
    let token = new_token();
    app.store
        .replace_calendar_feed(
            caller.actor.user_id,
            &token_hash(&token),
            caller.audit(
                "calendar.create",
                "calendar_feed",
                Some(caller.actor.user_id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    Ok(feed_url(base_url(app), &token))
}

/// Revokes the caller's feed, if any: its address answers 404 from now on.
pub async fn revoke_feed(app: &App, caller: &Caller) -> Result<(), AppError> {
    app.store
        .delete_calendar_feed(
            caller.actor.user_id,
            caller.audit(
                "calendar.revoke",
                "calendar_feed",
                Some(caller.actor.user_id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    Ok(())
}

/// When the caller's current feed was made, if they have one (the address itself is
/// not kept, so it cannot be shown again).
pub async fn feed_created(app: &App, caller: &Caller) -> Result<Option<Timestamp>, AppError> {
    Ok(app
        .store
        .calendar_feed_created(caller.actor.user_id)
        .await?)
}

/// The feed behind `token`, as `text/calendar` content, fetched by whoever holds the
/// address (no session). Audited as `calendar.fetch` with the feed's owner as the actor.
/// An unknown or revoked token, or a deactivated owner, is not found.
pub async fn fetch_feed(app: &App, token: &str, client_addr: &str) -> Result<String, AppError> {
    let not_found = || AppError::NotFound("calendar feed");
    // Tokens are 64 hex digits; anything else cannot be one (and is not hashed and looked up).
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let (owner, created_at) = app
        .store
        .calendar_feed_owner(&token_hash(token))
        .await?
        .ok_or_else(not_found)?;
    let credentials = app
        .store
        .credentials_of(owner)
        .await?
        .ok_or_else(not_found)?;
    if !credentials.user.active {
        return Err(not_found());
    }
    let caller = Caller::new(
        Actor {
            user_id: owner,
            organization_id: credentials.user.organization_id,
            role: credentials.user.role,
            own_patient_id: credentials.patient_id,
        },
        client_addr,
    );
    let base = base_url(app);
    let now = Timestamp::now();
    let feed = match (credentials.user.role, credentials.patient_id) {
        (Role::Patient, Some(patient_id)) => {
            patient_feed(app, &caller, patient_id, created_at, base, now).await?
        }
        (Role::Clinician, _) => clinician_feed(app, owner, base, now).await?,
        _ => Feed {
            name: "Speciosa".into(),
            zone: None,
            events: Vec::new(),
            stamp: now,
        },
    };
    app.store
        .append_audit(caller.audit(
            "calendar.fetch",
            "calendar_feed",
            Some(owner.to_string()),
            credentials.patient_id,
            Outcome::Success,
        ))
        .await?;
    Ok(feed.render())
}

/// The patient's check-in reminder time, if they chose one (notification preferences).
async fn check_in_reminder(app: &App, user: UserId) -> Result<Option<Time>, AppError> {
    Ok(app
        .store
        .notification_preferences(user)
        .await?
        .and_then(|p| p.check_in_reminder))
}

async fn patient_feed(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    created_at: Timestamp,
    base: &str,
    now: Timestamp,
) -> Result<Feed, AppError> {
    let patient = crate::access::patient_record(
        app,
        caller,
        patient_id,
        speciosa_core::policy::PatientAction::Read,
        "calendar.fetch",
    )
    .await?;
    let zone = patient.details.time_zone.to_zone();
    let mut events = vec![check_in_event(app, caller, &patient, &zone, created_at, base).await?];
    let plan = match crate::plans::current_plan(app, caller, patient_id).await {
        Ok((_, plan)) => Some(plan),
        Err(AppError::NotFound("plan")) => None,
        Err(other) => return Err(other),
    };
    if let Some(plan) = plan {
        events.extend(dose_events(&plan, &patient, &zone, base));
    }
    let appointments = app
        .store
        .patient_appointments_between(patient_id, now, now + FEED_WINDOW, FEED_APPOINTMENTS)
        .await?;
    events.extend(appointments.iter().map(|a| {
        appointment_event(
            a,
            format!("{} with {}", a.kind.label(), a.clinician_name),
            format!("{base}/home"),
        )
    }));
    Ok(Feed {
        name: "Speciosa".into(),
        zone: Some((patient.details.time_zone.as_str().to_owned(), zone)),
        events,
        stamp: now,
    })
}

async fn check_in_event(
    app: &App,
    caller: &Caller,
    patient: &Patient,
    zone: &TimeZone,
    created_at: Timestamp,
    base: &str,
) -> Result<FeedEvent, AppError> {
    let chosen = check_in_reminder(app, caller.actor.user_id).await?;
    let mut description = String::from("Your daily check-in in Speciosa: it takes a minute.");
    if chosen.is_none() {
        description.push_str(
            " Placed at 09:00 because no reminder time is set; set a reminder time in \
             Speciosa to move this.",
        );
    }
    // Starts on the day the feed was made, so the event stays the same from fetch to fetch.
    let first_day = created_at.to_zoned_datetime(zone.clone()).date();
    Ok(FeedEvent {
        uid: format!("checkin-{}@speciosa", patient.id),
        summary: "Daily check-in".into(),
        description,
        location: None,
        start: EventStart::Local(first_day.to_datetime(chosen.unwrap_or(DEFAULT_CHECK_IN))),
        duration: SignedDuration::from_mins(10),
        repeat: Some(Repeat { until: None }),
        sequence: 0,
        url: format!("{base}/patients/{}/checkin", patient.id),
        alarm_before: SignedDuration::from_mins(15),
        alarm_text: "Time for your daily check-in".into(),
    })
}

/// One daily event per dose slot of the signed plan, from the day it is in force to the
/// last day with a dose (open-ended while the plan has no end). Titled as the patient's
/// home titles them, without amounts or substance names.
fn dose_events(
    plan: &PlanRecord,
    patient: &Patient,
    zone: &TimeZone,
    base: &str,
) -> Vec<FeedEvent> {
    let steps = plan.content.schedule.planned_steps();
    let Some(first) = steps.first() else {
        return Vec::new();
    };
    let signed_on = plan
        .signature
        .as_ref()
        .map(|s| s.signed_at.to_zoned_datetime(zone.clone()).date());
    let start_day = signed_on.map_or(first.from, |d| d.max(first.from));
    // The day before the first step with nothing to take, after the start.
    let last_day: Option<Date> = steps
        .iter()
        .find(|s| s.planned_mg <= 0.0 && s.from > start_day)
        .and_then(|s| s.from.yesterday().ok());
    if steps
        .iter()
        .rev()
        .find(|s| s.from <= start_day)
        .is_some_and(|s| s.planned_mg <= 0.0)
    {
        return Vec::new();
    }
    plan.content
        .schedule
        .slots
        .iter()
        .enumerate()
        .filter_map(|(index, slot)| {
            let until = match last_day {
                Some(day) => Some(
                    day.to_datetime(slot.time)
                        .to_zoned_datetime(zone.clone())
                        .ok()?
                        .timestamp(),
                ),
                None => None,
            };
            Some(FeedEvent {
                uid: format!("dose-{}-{}@speciosa", patient.id, index + 1),
                summary: "Planned dose".into(),
                description: "A planned dose from your signed plan. Open Speciosa to see \
                              today's amount and to log it."
                    .into(),
                location: None,
                start: EventStart::Local(start_day.to_datetime(slot.time)),
                duration: SignedDuration::from_mins(5),
                repeat: Some(Repeat { until }),
                sequence: plan.version,
                url: format!("{base}/home"),
                alarm_before: SignedDuration::from_mins(15),
                alarm_text: "Planned dose".into(),
            })
        })
        .collect()
}

fn appointment_event(appointment: &Appointment, summary: String, url: String) -> FeedEvent {
    let kind = match appointment.kind {
        AppointmentKind::Visit => "visit",
        AppointmentKind::TherapySession => "session",
    };
    FeedEvent {
        uid: format!("{kind}-{}@speciosa", appointment.id),
        summary: summary.clone(),
        description: format!("{summary}. Details are in Speciosa."),
        location: appointment.location.clone(),
        start: EventStart::Utc(appointment.starts_at),
        duration: SignedDuration::from_mins(i64::from(appointment.duration_minutes)),
        repeat: None,
        sequence: 0,
        url,
        alarm_before: SignedDuration::from_hours(1),
        alarm_text: summary,
    }
}

/// A clinician's visits and sessions, each titled with the patient's initials only.
async fn clinician_feed(
    app: &App,
    clinician: UserId,
    base: &str,
    now: Timestamp,
) -> Result<Feed, AppError> {
    let appointments = app
        .store
        .clinician_appointments_between(clinician, now, now + FEED_WINDOW, FEED_APPOINTMENTS)
        .await?;
    let events = appointments
        .iter()
        .map(|a| {
            appointment_event(
                a,
                format!("{} ({})", a.kind.label(), initials(&a.patient_name)),
                format!("{base}/patients/{}", a.patient_id),
            )
        })
        .collect();
    Ok(Feed {
        name: "Speciosa".into(),
        zone: None,
        events,
        stamp: now,
    })
}
