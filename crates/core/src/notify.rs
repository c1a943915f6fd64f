//! Reaching people (issue 13): the channels a message can take, each user's preferences
//! (channels, quiet hours, reminder times), when a daily reminder next falls in the
//! user's own zone, and the words a message may carry.
//!
//! Messages leave the protected system (mail servers, paging gateways, push services), so
//! they carry no clinical content and no patient name: only that something needs
//! attention and a link (`plans-and-therapy.md` §7.2, privacy).

use jiff::civil::Time;
use jiff::tz::{Disambiguation, TimeZone};
use jiff::{SignedDuration, Timestamp};

use crate::FieldErrors;
use crate::account::Role;

/// How a message reaches a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Email,
    /// The organization's signed webhook (a paging or SMS gateway).
    Webhook,
    /// Web Push to the person's installed browsers.
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Webhook, Channel::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
            Channel::Push => "push",
        }
    }

    /// How the channel is named to people ("by e-mail").
    pub fn label(self) -> &'static str {
        match self {
            Channel::Email => "e-mail",
            Channel::Webhook => "pager/SMS gateway",
            Channel::Push => "browser notification",
        }
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "email" | "e-mail" => Ok(Channel::Email),
            "webhook" => Ok(Channel::Webhook),
            "push" => Ok(Channel::Push),
            other => Err(format!(
                "{other:?} is not a channel: use \"email\", \"webhook\" or \"push\""
            )),
        }
    }
}

/// A daily span of local time when only urgent messages reach a clinician and nothing
/// reaches a patient. May run past midnight (22:00–07:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: Time,
    pub end: Time,
}

impl QuietHours {
    pub fn contains(self, at: Time) -> bool {
        if self.start <= self.end {
            self.start <= at && at < self.end
        } else {
            at >= self.start || at < self.end
        }
    }

    /// `at` itself when outside quiet hours, else the moment they end, in `zone`.
    pub fn defer(self, at: Timestamp, zone: &TimeZone) -> Timestamp {
        let local = at.to_zoned_datetime(zone.clone());
        if !self.contains(local.time()) {
            return at;
        }
        let mut day = local.date();
        if self.start > self.end && local.time() >= self.start {
            day = day.tomorrow().unwrap_or(day);
        }
        local_instant(day.to_datetime(self.end), zone).unwrap_or(at)
    }
}

/// A user's choices; [`NotificationPreferences::default_for`] when never set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationPreferences {
    /// In the user's order, without repeats.
    pub channels: Vec<Channel>,
    pub quiet_hours: Option<QuietHours>,
    /// The daily check-in reminder (patients), local time; `None` is off.
    pub check_in_reminder: Option<Time>,
    /// Reminders at the signed plan's dose times (patients).
    pub dose_reminders: bool,
    /// A reminder the day before a visit or therapy session.
    pub visit_reminders: bool,
}

impl NotificationPreferences {
    /// Before a user chooses: e-mail, no quiet hours, no check-in or dose reminders, visit
    /// reminders on. Every account has an e-mail address, so urgent pages reach every
    /// clinician from the start.
    pub fn default_for(_role: Role) -> Self {
        Self {
            channels: vec![Channel::Email],
            quiet_hours: None,
            check_in_reminder: None,
            dose_reminders: false,
            visit_reminders: true,
        }
    }
}

/// Preferences as typed (API or form), before checking.
#[derive(Clone, Debug, Default)]
pub struct PreferencesInput<'a> {
    pub channels: Vec<&'a str>,
    pub quiet_start: Option<&'a str>,
    pub quiet_end: Option<&'a str>,
    pub check_in_reminder: Option<&'a str>,
    pub dose_reminders: bool,
    pub visit_reminders: bool,
}

/// Checks preferences for a user of `role`. Clinicians keep at least one channel: urgent
/// alerts page the care team on their channels, and a clinician with none would miss them.
pub fn parse_preferences(
    input: &PreferencesInput<'_>,
    role: Role,
) -> Result<NotificationPreferences, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut channels = Vec::new();
    for (i, raw) in input.channels.iter().enumerate() {
        if let Some(channel) = errors.check(&format!("channels[{i}]"), raw.parse::<Channel>())
            && !channels.contains(&channel)
        {
            channels.push(channel);
        }
    }
    if channels.is_empty() && role == Role::Clinician && errors.is_empty() {
        errors.push(
            "channels",
            "a clinician needs at least one channel: urgent alerts page the care team on it",
        );
    }
    let clock = |field: &str, raw: Option<&str>, errors: &mut FieldErrors| match raw
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        None => Some(None),
        Some(raw) => errors.check(field, parse_clock(raw)).map(Some),
    };
    let start = clock("quiet_hours.start", input.quiet_start, &mut errors);
    let end = clock("quiet_hours.end", input.quiet_end, &mut errors);
    let quiet_hours = match (start, end) {
        (Some(Some(start)), Some(Some(end))) if start == end => {
            errors.push(
                "quiet_hours.end",
                "quiet hours must end at a different time than they start",
            );
            None
        }
        (Some(Some(start)), Some(Some(end))) => Some(QuietHours { start, end }),
        (Some(None), Some(None)) => None,
        (Some(Some(_)), Some(None)) => {
            errors.push("quiet_hours.end", "give the time quiet hours end (HH:MM)");
            None
        }
        (Some(None), Some(Some(_))) => {
            errors.push(
                "quiet_hours.start",
                "give the time quiet hours start (HH:MM)",
            );
            None
        }
        _ => None,
    };
    let check_in_reminder = clock("check_in_reminder", input.check_in_reminder, &mut errors);
    errors.into_result(|| NotificationPreferences {
        channels,
        quiet_hours,
        check_in_reminder: check_in_reminder.flatten(),
        dose_reminders: input.dose_reminders,
        visit_reminders: input.visit_reminders,
    })
}

/// "HH:MM" (24-hour), as people type it: "7:30" and "07.30" are accepted.
pub fn parse_clock(raw: &str) -> Result<Time, String> {
    let raw = raw.trim();
    let normal = raw.replace('.', ":");
    Time::strptime("%H:%M", &normal)
        .map_err(|_| format!("{raw:?} is not a time of day in the form HH:MM (24-hour)"))
}

pub fn format_clock(time: Time) -> String {
    time.strftime("%H:%M").to_string()
}

/// The instant a local date and time names in `zone`. A time skipped by a spring-forward
/// change is read with the offset before the gap (02:30 becomes 03:30), and a time that
/// happens twice means the first, as RFC 5545 §3.3.5 does for recurrences
/// (`plans-and-therapy.md` §7.1): jiff's `Compatible` disambiguation.
pub fn local_instant(at: jiff::civil::DateTime, zone: &TimeZone) -> Option<Timestamp> {
    zone.to_ambiguous_zoned_datetime(at)
        .disambiguate(Disambiguation::Compatible)
        .ok()
        .map(|z| z.timestamp())
}

/// The first moment strictly after `after` when the local clock in `zone` reads `time`.
pub fn next_daily(time: Time, zone: &TimeZone, after: Timestamp) -> Timestamp {
    let today = after.to_zoned_datetime(zone.clone()).date();
    let mut day = today;
    for _ in 0..3 {
        if let Some(at) = local_instant(day.to_datetime(time), zone)
            && at > after
        {
            return at;
        }
        day = day.tomorrow().unwrap_or(day);
    }
    // Unreachable for real zones (a day always contains the time once); a day later keeps
    // the schedule moving.
    after + SignedDuration::from_hours(24)
}

/// The local date in `zone` of an instant.
pub fn local_date(at: Timestamp, zone: &TimeZone) -> jiff::civil::Date {
    at.to_zoned_datetime(zone.clone()).date()
}

/// What a message is about; decides its words and its urgency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// An urgent alert on a patient of the recipient's care team.
    UrgentAlert,
    /// An urgent alert nobody on the care team acknowledged in time (on-call list).
    UrgentEscalation,
    CheckInReminder,
    DoseReminder,
    VisitReminder,
    /// An admin's test of the channels.
    Test,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::UrgentAlert => "urgent_alert",
            MessageKind::UrgentEscalation => "urgent_escalation",
            MessageKind::CheckInReminder => "check_in_reminder",
            MessageKind::DoseReminder => "dose_reminder",
            MessageKind::VisitReminder => "visit_reminder",
            MessageKind::Test => "test",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            MessageKind::UrgentAlert,
            MessageKind::UrgentEscalation,
            MessageKind::CheckInReminder,
            MessageKind::DoseReminder,
            MessageKind::VisitReminder,
            MessageKind::Test,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }

    pub fn urgent(self) -> bool {
        matches!(
            self,
            MessageKind::UrgentAlert | MessageKind::UrgentEscalation
        )
    }

    /// Subject line / notification title. No patient name, no rule, no substance.
    pub fn title(self) -> &'static str {
        match self {
            MessageKind::UrgentAlert => "Speciosa: an urgent alert needs you",
            MessageKind::UrgentEscalation => "Speciosa: urgent alert not yet acknowledged",
            MessageKind::CheckInReminder => "Speciosa: time for your check-in",
            MessageKind::DoseReminder => "Speciosa: a planned dose time",
            MessageKind::VisitReminder => "Speciosa: an appointment tomorrow",
            MessageKind::Test => "Speciosa: test message",
        }
    }

    /// The message's text, before the link.
    pub fn body(self) -> &'static str {
        match self {
            MessageKind::UrgentAlert => {
                "An urgent alert was raised for a patient on your care team. Open Speciosa to see it and acknowledge it."
            }
            MessageKind::UrgentEscalation => {
                "An urgent alert has not been acknowledged by the care team. You are on call: open Speciosa to see it and acknowledge it."
            }
            MessageKind::CheckInReminder => "Your daily check-in is ready when you are.",
            MessageKind::DoseReminder => {
                "This is a dose time in the plan you agreed with your care team. Take only what the plan says; if you are unsure, ask your care team."
            }
            MessageKind::VisitReminder => {
                "You have an appointment tomorrow. Open Speciosa for the time and place."
            }
            MessageKind::Test => {
                "This is a test of your Speciosa notifications. Nothing needs doing."
            }
        }
    }
}

/// Retries back off exponentially: 15 s, 30 s, 1 min, … capped at an hour; urgent pages
/// retry from 5 s so a brief outage does not delay them by minutes.
pub fn retry_delay(attempts: u32, urgent: bool) -> SignedDuration {
    let base: i64 = if urgent { 5 } else { 15 };
    let exponent = attempts.saturating_sub(1).min(12);
    SignedDuration::from_secs((base << exponent).min(3600))
}

/// Attempts before a message is dead-lettered (an admin can retry it).
pub const MAX_ATTEMPTS: i64 = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    #[test]
    fn a_daily_reminder_keeps_its_local_time_across_the_spring_change() {
        let ny = zone("America/New_York");
        // 2027-03-14 is the spring-forward day in New York.
        let before = local_instant(date(2027, 3, 13).at(9, 30, 0, 0), &ny).unwrap();
        let next = next_daily(Time::constant(9, 0, 0, 0), &ny, before);
        let local = next.to_zoned_datetime(ny.clone());
        assert_eq!(local.date(), date(2027, 3, 14));
        assert_eq!(local.time(), Time::constant(9, 0, 0, 0));
        assert_eq!(next - before, SignedDuration::from_mins(23 * 60 - 30));
    }

    #[test]
    fn a_reminder_in_the_skipped_hour_falls_after_the_gap_and_a_repeated_hour_means_the_first() {
        let ny = zone("America/New_York");
        let spring = local_instant(date(2027, 3, 14).at(2, 30, 0, 0), &ny).unwrap();
        assert_eq!(
            spring.to_zoned_datetime(ny.clone()).time(),
            Time::constant(3, 30, 0, 0)
        );
        let fall = local_instant(date(2027, 11, 7).at(1, 30, 0, 0), &ny).unwrap();
        assert_eq!(
            fall.to_zoned_datetime(ny.clone()).offset().seconds(),
            -4 * 3600
        );
    }

    #[test]
    fn the_next_reminder_is_today_when_its_time_is_still_ahead_and_tomorrow_otherwise() {
        let utc = TimeZone::UTC;
        let at = local_instant(date(2026, 12, 2).at(8, 0, 0, 0), &utc).unwrap();
        let eight_thirty = next_daily(Time::constant(8, 30, 0, 0), &utc, at);
        assert_eq!(eight_thirty - at, SignedDuration::from_mins(30));
        let eight = next_daily(Time::constant(8, 0, 0, 0), &utc, at);
        assert_eq!(eight - at, SignedDuration::from_hours(24));
    }

    #[test]
    fn quiet_hours_past_midnight_contain_the_night_and_defer_to_their_end() {
        let quiet = QuietHours {
            start: Time::constant(22, 0, 0, 0),
            end: Time::constant(7, 0, 0, 0),
        };
        assert!(quiet.contains(Time::constant(23, 0, 0, 0)));
        assert!(quiet.contains(Time::constant(6, 59, 0, 0)));
        assert!(!quiet.contains(Time::constant(7, 0, 0, 0)));
        assert!(!quiet.contains(Time::constant(21, 59, 0, 0)));
        let berlin = zone("Europe/Berlin");
        let late = local_instant(date(2026, 12, 2).at(23, 15, 0, 0), &berlin).unwrap();
        let deferred = quiet.defer(late, &berlin).to_zoned_datetime(berlin.clone());
        assert_eq!(deferred.date(), date(2026, 12, 3));
        assert_eq!(deferred.time(), Time::constant(7, 0, 0, 0));
        let early = local_instant(date(2026, 12, 3).at(5, 0, 0, 0), &berlin).unwrap();
        assert_eq!(
            quiet
                .defer(early, &berlin)
                .to_zoned_datetime(berlin.clone())
                .date(),
            date(2026, 12, 3)
        );
        let day = local_instant(date(2026, 12, 3).at(12, 0, 0, 0), &berlin).unwrap();
        assert_eq!(quiet.defer(day, &berlin), day);
    }

    #[test]
    fn preferences_accept_what_people_type_and_name_each_wrong_field() {
        let ok = parse_preferences(
            &PreferencesInput {
                channels: vec!["Email", "push", "email"],
                quiet_start: Some("22.00"),
                quiet_end: Some("7:00"),
                check_in_reminder: Some("08:30"),
                ..Default::default()
            },
            Role::Patient,
        )
        .unwrap();
        assert_eq!(ok.channels, vec![Channel::Email, Channel::Push]);
        assert_eq!(ok.quiet_hours.unwrap().end, Time::constant(7, 0, 0, 0));
        assert_eq!(ok.check_in_reminder, Some(Time::constant(8, 30, 0, 0)));

        let bad = parse_preferences(
            &PreferencesInput {
                channels: vec!["email", "sms"],
                quiet_start: Some("25:00"),
                quiet_end: None,
                check_in_reminder: Some("noon"),
                ..Default::default()
            },
            Role::Patient,
        )
        .unwrap_err();
        let fields: Vec<&str> = bad.errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"channels[1]"), "{fields:?}");
        assert!(fields.contains(&"quiet_hours.start"), "{fields:?}");
        assert!(fields.contains(&"check_in_reminder"), "{fields:?}");
    }

    #[test]
    fn a_clinician_cannot_turn_off_every_channel_but_a_patient_can() {
        let none = PreferencesInput::default();
        assert!(parse_preferences(&none, Role::Clinician).is_err());
        assert!(parse_preferences(&none, Role::Patient).is_ok());
    }

    #[test]
    fn retries_back_off_exponentially_and_urgent_pages_retry_sooner() {
        assert_eq!(retry_delay(1, false), SignedDuration::from_secs(15));
        assert_eq!(retry_delay(3, false), SignedDuration::from_secs(60));
        assert_eq!(retry_delay(1, true), SignedDuration::from_secs(5));
        assert_eq!(retry_delay(40, false), SignedDuration::from_secs(3600));
    }

    #[test]
    fn no_message_names_a_rule_a_substance_or_an_amount() {
        for kind in [
            MessageKind::UrgentAlert,
            MessageKind::UrgentEscalation,
            MessageKind::CheckInReminder,
            MessageKind::DoseReminder,
            MessageKind::VisitReminder,
            MessageKind::Test,
        ] {
            let text = format!("{} {}", kind.title(), kind.body()).to_lowercase();
            for word in [
                "kratom",
                "mg",
                "phq",
                "suicid",
                "self-harm",
                "chest",
                "mitragynine",
            ] {
                assert!(!text.contains(word), "{kind:?} says {word}");
            }
            assert_eq!(MessageKind::parse(kind.as_str()), Some(kind));
        }
    }
}
