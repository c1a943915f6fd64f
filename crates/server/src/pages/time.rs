//! Every time a page shows, in one zone and with that zone named: clinical records (doses,
//! assessments, alerts on a patient's record, the timeline) in the patient's zone, lists
//! across patients (the inbox, the audit log) in the viewer's organization's zone.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use speciosa_app::AppError;
use speciosa_app::records::Patient;
use speciosa_core::patient::TimeZoneName;

use crate::app::AppState;
use crate::extract::Authenticated;

/// A zone to read instants in.
#[derive(Clone, Debug)]
pub struct Clock {
    zone: TimeZone,
}

impl Clock {
    /// The zone named `name` (IANA); an unknown name reads as UTC, and says so.
    pub fn named(name: &str) -> Clock {
        match jiff::tz::db().get(name) {
            Ok(zone) => Clock { zone },
            Err(_) => Clock::utc(),
        }
    }

    /// A zone already looked up (a patient's, a dose's).
    pub fn of_zone(zone: &TimeZone) -> Clock {
        Clock { zone: zone.clone() }
    }

    pub fn utc() -> Clock {
        Clock {
            zone: TimeZone::UTC,
        }
    }

    fn of(zone: &TimeZoneName) -> Clock {
        Clock::named(zone.as_str())
    }

    /// The patient's own zone, for their clinical record.
    pub fn patient(patient: &Patient) -> Clock {
        Clock::of(&patient.details.time_zone)
    }

    /// The zone of the viewer's organization, for pages across patients.
    pub async fn organization(state: &AppState, user: &Authenticated) -> Result<Clock, AppError> {
        Ok(speciosa_app::account::own_organization(&state.app, user)
            .await?
            .map_or_else(Clock::utc, |o| Clock::of(&o.time_zone)))
    }

    /// The zone's IANA name (`America/Chicago`), for labels such as a date filter's.
    pub fn zone_name(&self) -> &str {
        self.zone.iana_name().unwrap_or("UTC")
    }

    pub fn at(&self, at: Timestamp) -> ZonedDateTime {
        at.to_zoned_datetime(self.zone.clone())
    }

    /// `21:30 CST`.
    pub fn time(&self, at: Timestamp) -> String {
        let local = self.at(at);
        format!("{} {}", local.strftime("%H:%M"), abbreviation(&local))
    }

    /// `Mon 30 Nov 2026, 21:30 CST`.
    pub fn day_time(&self, at: Timestamp) -> String {
        let local = self.at(at);
        format!(
            "{}, {} {}",
            local.strftime("%a %-d %b %Y"),
            local.strftime("%H:%M"),
            abbreviation(&local)
        )
    }

    /// `2026-11-30 21:30 CST`, for staff tables.
    pub fn minute(&self, at: Timestamp) -> String {
        let local = self.at(at);
        format!(
            "{} {}",
            local.strftime("%Y-%m-%d %H:%M"),
            abbreviation(&local)
        )
    }

    /// `2026-11-30 21:30:05 CST`, for the audit log.
    pub fn second(&self, at: Timestamp) -> String {
        let local = self.at(at);
        format!(
            "{} {}",
            local.strftime("%Y-%m-%d %H:%M:%S"),
            abbreviation(&local)
        )
    }
}

/// The zone's abbreviation at that instant (`CST`, `CEST`, `UTC`). Where the tz database
/// has none it writes an offset (`-03`); that reads as `UTC-03`.
fn abbreviation(local: &ZonedDateTime) -> String {
    let short = local.strftime("%Z").to_string();
    if short.starts_with(['+', '-']) {
        format!("UTC{short}")
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn times_carry_the_zone_they_are_read_in() {
        let chicago = Clock::named("America/Chicago");
        assert_eq!(chicago.time(at("2026-12-01T03:30:00Z")), "21:30 CST");
        assert_eq!(chicago.time(at("2026-07-01T02:30:00Z")), "21:30 CDT");
        assert_eq!(
            chicago.day_time(at("2026-12-01T03:30:00Z")),
            "Mon 30 Nov 2026, 21:30 CST"
        );
        assert_eq!(
            Clock::utc().minute(at("2026-12-01T03:30:00Z")),
            "2026-12-01 03:30 UTC"
        );
    }

    #[test]
    fn a_zone_without_an_abbreviation_names_its_offset() {
        let sao_paulo = Clock::named("America/Sao_Paulo");
        assert_eq!(sao_paulo.time(at("2026-12-01T03:30:00Z")), "00:30 UTC-03");
    }

    #[test]
    fn an_unknown_zone_reads_as_utc_and_says_so() {
        let clock = Clock::named("Mars/Olympus_Mons");
        assert_eq!(clock.time(at("2026-12-01T03:30:00Z")), "03:30 UTC");
    }
}
