//! Visits and therapy sessions: what a clinician schedules with a patient, and the
//! rules a booking must meet before it is stored.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::validation::FieldErrors;

/// What kind of appointment: a clinic visit, or a therapy session (CBT-I, counselling, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentKind {
    Visit,
    TherapySession,
}

impl AppointmentKind {
    pub const ALL: [AppointmentKind; 2] = [AppointmentKind::Visit, AppointmentKind::TherapySession];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentKind::Visit => "visit",
            AppointmentKind::TherapySession => "therapy_session",
        }
    }

    /// How the patient and the clinician see it named ("Visit", "Therapy session").
    pub fn label(self) -> &'static str {
        match self {
            AppointmentKind::Visit => "Visit",
            AppointmentKind::TherapySession => "Therapy session",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let code = text.trim().to_lowercase().replace([' ', '-'], "_");
        Self::ALL.into_iter().find(|k| k.as_str() == code)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Scheduled,
    Cancelled,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Scheduled => "scheduled",
            AppointmentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "scheduled" => Some(AppointmentStatus::Scheduled),
            "cancelled" => Some(AppointmentStatus::Cancelled),
            _ => None,
        }
    }
}

/// Raw fields from a form or a JSON body.
#[derive(Clone, Debug, Default)]
pub struct AppointmentFields<'a> {
    pub kind: &'a str,
    /// RFC 3339 with an offset, or local `YYYY-MM-DDTHH:MM` in the patient's zone.
    pub starts_at: &'a str,
    pub duration_minutes: Option<i64>,
    pub location: Option<&'a str>,
}

/// A booking that passed every rule.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAppointment {
    pub kind: AppointmentKind,
    pub starts_at: Timestamp,
    pub duration_minutes: u16,
    pub location: Option<String>,
}

pub const MIN_DURATION_MINUTES: i64 = 5;
pub const MAX_DURATION_MINUTES: i64 = 480;
pub const MAX_LOCATION_CHARS: usize = 200;
/// A booking a few minutes late (typed at the start of the visit) is still accepted.
pub const PAST_GRACE: SignedDuration = SignedDuration::from_mins(5);
/// Bookings reach at most two years ahead: further is a typing mistake.
pub const MAX_AHEAD: SignedDuration = SignedDuration::from_hours(2 * 366 * 24);

impl NewAppointment {
    /// Checks every field and reports all problems at once. A local time is read in
    /// `zone` (the patient's): a time skipped by a daylight-saving change moves forward
    /// by the gap, a repeated time means its first occurrence (RFC 5545 §3.3.5).
    pub fn parse(
        fields: &AppointmentFields<'_>,
        zone: &TimeZone,
        now: Timestamp,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let kind = AppointmentKind::parse(fields.kind);
        if kind.is_none() {
            errors.push(
                "kind",
                format!(
                    "{:?} is not a kind of appointment; use visit or therapy_session",
                    fields.kind
                ),
            );
        }
        let starts_at = match parse_start(fields.starts_at, zone) {
            Ok(at) if at < now - PAST_GRACE => {
                errors.push(
                    "starts_at",
                    "this time has passed; choose a time from now on",
                );
                None
            }
            Ok(at) if at > now + MAX_AHEAD => {
                errors.push("starts_at", "choose a time within the next two years");
                None
            }
            Ok(at) => Some(at),
            Err(detail) => {
                errors.push("starts_at", detail);
                None
            }
        };
        let duration = match fields.duration_minutes {
            None => {
                errors.push("duration_minutes", "enter how long it lasts, in minutes");
                None
            }
            Some(m) if !(MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES).contains(&m) => {
                errors.push(
                    "duration_minutes",
                    format!(
                        "the duration must be between {MIN_DURATION_MINUTES} and \
                         {MAX_DURATION_MINUTES} minutes"
                    ),
                );
                None
            }
            Some(m) => u16::try_from(m).ok(),
        };
        let location = fields
            .location
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        if let Some(location) = &location {
            if location.chars().count() > MAX_LOCATION_CHARS {
                errors.push(
                    "location",
                    format!("keep the location under {MAX_LOCATION_CHARS} characters"),
                );
            } else if location.chars().any(char::is_control) {
                errors.push("location", "the location must be on one line");
            }
        }
        match (kind, starts_at, duration) {
            (Some(kind), Some(starts_at), Some(duration_minutes)) if errors.is_empty() => {
                Ok(NewAppointment {
                    kind,
                    starts_at,
                    duration_minutes,
                    location,
                })
            }
            _ => Err(errors),
        }
    }
}

fn parse_start(raw: &str, zone: &TimeZone) -> Result<Timestamp, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("enter when it starts".into());
    }
    let at = if let Ok(at) = raw.parse::<Timestamp>() {
        at
    } else if let Ok(local) = raw.parse::<DateTime>() {
        local
            .to_zoned_datetime(zone.clone())
            .map_err(|_| format!("{raw:?} cannot be placed in the patient's time zone"))?
            .timestamp()
    } else {
        return Err(format!(
            "{raw:?} is not a time: use RFC 3339 with an offset (2026-12-10T14:30:00-05:00) \
             or the patient's local time (2026-12-10T14:30)"
        ));
    };
    crate::time::check_instant(at, crate::time::Era::Clinical).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-02T12:00:00Z".parse().unwrap()
    }

    fn zone() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn fields<'a>(starts_at: &'a str) -> AppointmentFields<'a> {
        AppointmentFields {
            kind: "visit",
            starts_at,
            duration_minutes: Some(30),
            location: Some("  Clinic room 2 "),
        }
    }

    fn error_fields(errors: FieldErrors) -> Vec<String> {
        errors.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_local_time_is_read_in_the_patients_zone() {
        let booked = NewAppointment::parse(&fields("2026-12-10T14:30"), &zone(), now()).unwrap();
        assert_eq!(booked.starts_at, "2026-12-10T19:30:00Z".parse().unwrap());
        assert_eq!(booked.location.as_deref(), Some("Clinic room 2"));
    }

    #[test]
    fn a_time_with_an_offset_is_taken_as_given() {
        let booked =
            NewAppointment::parse(&fields("2026-12-10T14:30:00+01:00"), &zone(), now()).unwrap();
        assert_eq!(booked.starts_at, "2026-12-10T13:30:00Z".parse().unwrap());
    }

    #[test]
    fn a_local_time_skipped_by_the_spring_change_moves_forward_by_the_gap() {
        let booked = NewAppointment::parse(&fields("2027-03-14T02:30"), &zone(), now()).unwrap();
        assert_eq!(booked.starts_at, "2027-03-14T07:30:00Z".parse().unwrap());
    }

    #[test]
    fn a_start_a_few_minutes_ago_is_accepted_but_not_an_hour_ago() {
        assert!(NewAppointment::parse(&fields("2026-12-02T06:57"), &zone(), now()).is_ok());
        let late = NewAppointment::parse(&fields("2026-12-02T06:00"), &zone(), now());
        assert_eq!(error_fields(late.unwrap_err()), ["starts_at"]);
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let bad = AppointmentFields {
            kind: "party",
            starts_at: "next tuesday",
            duration_minutes: Some(481),
            location: Some(&"x".repeat(201)),
        };
        assert_eq!(
            error_fields(NewAppointment::parse(&bad, &zone(), now()).unwrap_err()),
            ["kind", "starts_at", "duration_minutes", "location"]
        );
    }

    #[test]
    fn durations_from_five_minutes_to_eight_hours_are_accepted() {
        for (minutes, ok) in [(4, false), (5, true), (480, true), (481, false)] {
            let f = AppointmentFields {
                duration_minutes: Some(minutes),
                ..fields("2026-12-10T14:30")
            };
            assert_eq!(
                NewAppointment::parse(&f, &zone(), now()).is_ok(),
                ok,
                "{minutes}"
            );
        }
    }

    #[test]
    fn a_booking_years_ahead_is_refused() {
        let far = NewAppointment::parse(&fields("2030-01-01T10:00"), &zone(), now());
        assert_eq!(error_fields(far.unwrap_err()), ["starts_at"]);
    }

    #[test]
    fn kinds_are_read_forgivingly() {
        assert_eq!(
            AppointmentKind::parse("Therapy session"),
            Some(AppointmentKind::TherapySession)
        );
        assert_eq!(
            AppointmentKind::parse("VISIT"),
            Some(AppointmentKind::Visit)
        );
    }
}
