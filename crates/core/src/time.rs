//! The calendar Speciosa accepts. Every date and instant that arrives from outside (API
//! bodies, forms, query strings, CSV) is parsed here, against bounds: a year such as
//! `-009999` is a typing or client mistake, and values near the ends of what the time
//! library can represent overflow ordinary date arithmetic and cannot be stored the same
//! way by both databases. One such record once broke every later read of a patient.
//!
//! Bounds: birth dates and other calendar dates 1900-01-01 ..= 2100-12-31; clinical events
//! (doses, assessments, medications, check-ins, and ranges over them) from 1990-01-01.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The earliest date accepted anywhere (birth dates of the oldest living patients).
pub const EARLIEST_DATE: Date = date(1900, 1, 1);
/// The earliest date of a clinical event: no dose, assessment or medication Speciosa
/// records predates the service's own records by decades.
pub const EARLIEST_CLINICAL_DATE: Date = date(1990, 1, 1);
/// The latest date accepted anywhere.
pub const LATEST_DATE: Date = date(2100, 12, 31);

/// 1900-01-01T00:00:00Z, 1990-01-01T00:00:00Z and 2101-01-01T00:00:00Z (exclusive end).
const EARLIEST_INSTANT: Timestamp = Timestamp::constant(-2_208_988_800, 0);
const EARLIEST_CLINICAL_INSTANT: Timestamp = Timestamp::constant(631_152_000, 0);
const END_INSTANT: Timestamp = Timestamp::constant(4_133_980_800, 0);

/// Which kind of moment a field holds, and so how far back it may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// Birth dates and other calendar dates (consent, certificates, audit filters): from 1900.
    Calendar,
    /// Clinical events and ranges over clinical data: from 1990.
    Clinical,
}

impl Era {
    pub fn earliest(self) -> Date {
        match self {
            Era::Calendar => EARLIEST_DATE,
            Era::Clinical => EARLIEST_CLINICAL_DATE,
        }
    }

    pub fn latest(self) -> Date {
        LATEST_DATE
    }

    fn earliest_instant(self) -> Timestamp {
        match self {
            Era::Calendar => EARLIEST_INSTANT,
            Era::Clinical => EARLIEST_CLINICAL_INSTANT,
        }
    }

    /// Whether `date` lies within this era's bounds.
    pub fn contains(self, date: Date) -> bool {
        self.earliest() <= date && date <= self.latest()
    }

    /// Whether `at` falls on a UTC day within this era's bounds.
    pub fn contains_instant(self, at: Timestamp) -> bool {
        self.earliest_instant() <= at && at < END_INSTANT
    }

    /// `date` moved into the bounds, for ranges computed from an accepted date (a default
    /// start 29 days before an accepted end).
    pub fn clamp(self, date: Date) -> Date {
        date.clamp(self.earliest(), self.latest())
    }
}

/// Why a date or instant was refused. The messages are for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("date is required (YYYY-MM-DD)")]
    MissingDate,
    #[error("{0:?} is not a real calendar date in the form YYYY-MM-DD")]
    NotADate(String),
    #[error("{0:?} is not an RFC 3339 time with an offset, such as 2026-11-24T21:30:00-06:00")]
    NotAnInstant(String),
    #[error("{value} is out of range: dates must be between {earliest} and {latest}")]
    OutOfRange {
        value: String,
        earliest: Date,
        latest: Date,
    },
}

impl TimeError {
    fn out_of_range(value: impl fmt::Display, era: Era) -> Self {
        TimeError::OutOfRange {
            value: value.to_string(),
            earliest: era.earliest(),
            latest: era.latest(),
        }
    }
}

/// Checks a date already in hand against `era`.
pub fn check_date(date: Date, era: Era) -> Result<Date, TimeError> {
    if era.contains(date) {
        Ok(date)
    } else {
        Err(TimeError::out_of_range(date, era))
    }
}

/// Checks an instant already in hand against `era` (by its UTC date).
pub fn check_instant(at: Timestamp, era: Era) -> Result<Timestamp, TimeError> {
    if era.contains_instant(at) {
        Ok(at)
    } else {
        Err(TimeError::out_of_range(at, era))
    }
}

/// Parses an ISO 8601 calendar date (`2026-11-24`) within `era`, refusing impossible
/// dates such as 2023-02-30.
pub fn parse_date(raw: &str, era: Era) -> Result<Date, TimeError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(TimeError::MissingDate);
    }
    let date = raw
        .parse::<Date>()
        .map_err(|_| TimeError::NotADate(raw.to_owned()))?;
    check_date(date, era)
}

/// Parses an RFC 3339 instant with an offset (`2026-11-24T21:30:00-06:00`) within `era`.
pub fn parse_instant(raw: &str, era: Era) -> Result<Timestamp, TimeError> {
    let raw = raw.trim();
    let at = raw
        .parse::<Timestamp>()
        .map_err(|_| TimeError::NotAnInstant(raw.to_owned()))?;
    check_instant(at, era)
}

/// Declares a date or instant newtype that can only hold a value within its era, for
/// fields deserialized straight from a request.
macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident($inner:ty), $era:expr, $parse:ident, $check:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($inner);

        impl $name {
            pub const ERA: Era = $era;

            pub fn new(value: $inner) -> Result<Self, TimeError> {
                $check(value, Self::ERA).map(Self)
            }

            pub fn parse(raw: &str) -> Result<Self, TimeError> {
                $parse(raw, Self::ERA).map(Self)
            }

            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = TimeError;

            fn from_str(raw: &str) -> Result<Self, TimeError> {
                Self::parse(raw)
            }
        }

        impl From<$name> for $inner {
            fn from(value: $name) -> $inner {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

bounded!(
    /// A birth date: 1900-01-01 ..= 2100-12-31 (not-in-the-future is the patient's rule).
    BirthDate(Date), Era::Calendar, parse_date, check_date
);
bounded!(
    /// A calendar date that is not a clinical event (consent, certificate, audit filter).
    CalendarDate(Date), Era::Calendar, parse_date, check_date
);
bounded!(
    /// The date of a clinical event, or an end of a range over clinical data.
    ClinicalDate(Date), Era::Clinical, parse_date, check_date
);
bounded!(
    /// The instant of a clinical event (a dose taken, an assessment completed).
    ClinicalInstant(Timestamp), Era::Clinical, parse_instant, check_instant
);

/// The first instant of a UTC day, for turning dates into query bounds; `None` only at
/// the very ends of the representable calendar, never for an accepted date.
pub fn start_of_utc_day(date: Date) -> Option<Timestamp> {
    date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instant_bounds_are_the_starts_of_their_utc_days() {
        assert_eq!(Some(EARLIEST_INSTANT), start_of_utc_day(EARLIEST_DATE));
        assert_eq!(
            Some(EARLIEST_CLINICAL_INSTANT),
            start_of_utc_day(EARLIEST_CLINICAL_DATE)
        );
        assert_eq!(Some(END_INSTANT), start_of_utc_day(date(2101, 1, 1)));
    }

    #[test]
    fn birth_dates_run_from_1900_through_2100() {
        assert!(BirthDate::parse("1899-12-31").is_err());
        assert_eq!(
            BirthDate::parse("1900-01-01").unwrap().get(),
            date(1900, 1, 1)
        );
        assert!(BirthDate::parse("2100-12-31").is_ok());
        assert!(BirthDate::parse("2101-01-01").is_err());
    }

    #[test]
    fn clinical_dates_run_from_1990_through_2100() {
        assert!(matches!(
            ClinicalDate::parse("1989-12-31"),
            Err(TimeError::OutOfRange { .. })
        ));
        assert!(ClinicalDate::parse("1990-01-01").is_ok());
        assert!(ClinicalDate::parse("2100-12-31").is_ok());
        assert!(ClinicalDate::parse("2101-01-01").is_err());
        assert!(ClinicalDate::parse("9999-12-30").is_err());
        assert!(ClinicalDate::parse("-009999-01-02").is_err());
        // Calendar dates reach further back.
        assert!(CalendarDate::parse("1989-12-31").is_ok());
    }

    #[test]
    fn clinical_instants_are_bounded_by_their_utc_day() {
        let refused = [
            "-009999-01-02T02:00:00Z",
            "1989-12-31T23:59:59Z",
            "2101-01-01T00:00:00Z",
            // 2100-12-31 in Chicago, but 2101-01-01 in UTC.
            "2100-12-31T20:00:00-06:00",
            "9999-12-30T00:00:00Z",
        ];
        for raw in refused {
            assert!(
                matches!(
                    ClinicalInstant::parse(raw),
                    Err(TimeError::OutOfRange { .. })
                ),
                "{raw}"
            );
        }
        for accepted in [
            "1990-01-01T00:00:00Z",
            "2100-12-31T23:59:59.999Z",
            "2026-11-24T21:30:00-06:00",
        ] {
            assert!(ClinicalInstant::parse(accepted).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn unreadable_text_says_which_form_is_expected() {
        assert_eq!(
            parse_date("2023-02-30", Era::Calendar),
            Err(TimeError::NotADate("2023-02-30".into()))
        );
        assert_eq!(parse_date("  ", Era::Calendar), Err(TimeError::MissingDate));
        assert!(matches!(
            parse_instant("yesterday", Era::Clinical),
            Err(TimeError::NotAnInstant(_))
        ));
        let message = parse_date("1850-01-01", Era::Calendar)
            .unwrap_err()
            .to_string();
        assert!(message.contains("1900-01-01") && message.contains("2100-12-31"));
    }

    #[test]
    fn bounded_fields_refuse_out_of_range_values_while_deserializing() {
        #[derive(Deserialize)]
        struct Query {
            from: ClinicalDate,
        }
        let ok: Query = serde_json::from_str(r#"{"from": "2026-11-24"}"#).unwrap();
        assert_eq!(ok.from.get(), date(2026, 11, 24));
        let error = serde_json::from_str::<Query>(r#"{"from": "9999-12-29"}"#)
            .err()
            .unwrap();
        assert!(error.to_string().contains("out of range"), "{error}");
    }

    #[test]
    fn clamping_keeps_computed_dates_inside_the_era() {
        assert_eq!(
            Era::Clinical.clamp(date(1989, 12, 20)),
            EARLIEST_CLINICAL_DATE
        );
        assert_eq!(Era::Clinical.clamp(date(2026, 1, 1)), date(2026, 1, 1));
    }
}
