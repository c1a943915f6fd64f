//! A patient's demographic and care-relevant details, parsed from untrusted input.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};

use crate::account::DisplayName;
use crate::time::{BirthDate, CalendarDate};
use crate::validation::FieldErrors;

/// Sex recorded at birth; relevant to pregnancy screening and to later PK covariates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SexAtBirth {
    Female,
    Male,
    Intersex,
    Unknown,
}

/// Pregnancy matters clinically: neonatal abstinence after in-utero kratom exposure is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PregnancyStatus {
    NotApplicable,
    NotPregnant,
    Pregnant,
    Postpartum,
    Unknown,
}

macro_rules! text_enum {
    ($name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        concat!($what, " must be one of {}"),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(SexAtBirth, "sex at birth", {
    Female => "female", Male => "male", Intersex => "intersex", Unknown => "unknown",
});
text_enum!(PregnancyStatus, "pregnancy status", {
    NotApplicable => "not_applicable", NotPregnant => "not_pregnant", Pregnant => "pregnant",
    Postpartum => "postpartum", Unknown => "unknown",
});

/// An IANA time-zone name known to the bundled tz database (e.g. `America/Chicago`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("time zone is required".into());
        }
        match jiff::tz::db().get(name) {
            Ok(zone) => Ok(Self(zone.iana_name().unwrap_or(name).to_owned())),
            Err(_) => Err(format!(
                "{name:?} is not a known IANA time zone (for example America/Chicago)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_zone(&self) -> jiff::tz::TimeZone {
        // Parsing checked the name against the same database.
        jiff::tz::db()
            .get(&self.0)
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

/// Where the patient lives: an ISO 3166-1 alpha-2 country, optionally narrowed to an
/// ISO 3166-2 subdivision. Kratom's legal status differs by US state, so both matter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Jurisdiction {
    pub country: String,
    pub subdivision: Option<String>,
}

impl Jurisdiction {
    /// Accepts `TH` or `US-AL` (case-insensitive).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim().to_ascii_uppercase();
        let error = || format!("{raw:?} is not an ISO 3166 code such as \"TH\" or \"US-AL\"");
        let (country, subdivision) = match code.split_once('-') {
            Some((country, sub)) => (country, Some(sub)),
            None => (code.as_str(), None),
        };
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(error());
        }
        if let Some(sub) = subdivision
            && (sub.is_empty() || sub.len() > 3 || !sub.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(error());
        }
        Ok(Self {
            country: country.to_owned(),
            subdivision: subdivision.map(|_| code.clone()),
        })
    }

    pub fn code(&self) -> &str {
        self.subdivision.as_deref().unwrap_or(&self.country)
    }
}

/// Untrusted patient fields as they arrive from the API or a form.
#[derive(Clone, Debug, Default)]
pub struct PatientFields<'a> {
    pub display_name: &'a str,
    pub birth_date: &'a str,
    pub time_zone: &'a str,
    pub sex_at_birth: Option<&'a str>,
    pub usual_bedtime: Option<&'a str>,
    pub jurisdiction: Option<&'a str>,
    pub pregnancy_status: Option<&'a str>,
    /// `yes`, `no` or `unknown` (the default), recorded beside pregnancy.
    pub breastfeeding_status: Option<&'a str>,
    pub research_consent: bool,
    pub research_consent_date: Option<&'a str>,
}

/// Checked patient details, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientDetails {
    pub display_name: DisplayName,
    pub birth_date: Date,
    pub time_zone: TimeZoneName,
    pub sex_at_birth: SexAtBirth,
    pub usual_bedtime: Option<Time>,
    pub jurisdiction: Option<Jurisdiction>,
    pub pregnancy_status: PregnancyStatus,
    pub breastfeeding_status: crate::monitoring::BreastfeedingStatus,
    /// The date consent was given; `None` means no research consent.
    pub research_consent_date: Option<Date>,
}

fn empty_to_none(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl PatientDetails {
    /// Parses every field, reporting all problems together. `today` is the clinic's
    /// current date, used to refuse birth and consent dates in the future.
    pub fn parse(fields: &PatientFields<'_>, today: Date) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let display_name = errors.check("display_name", DisplayName::parse(fields.display_name));
        let birth_date = errors.check(
            "birth_date",
            BirthDate::parse(fields.birth_date)
                .map_err(|e| e.to_string())
                .and_then(|date| {
                    if date.get() > today {
                        Err("birth date cannot be in the future".to_owned())
                    } else {
                        Ok(date.get())
                    }
                }),
        );
        let time_zone = errors.check("time_zone", TimeZoneName::parse(fields.time_zone));
        let sex_at_birth = match empty_to_none(fields.sex_at_birth) {
            None => Some(SexAtBirth::Unknown),
            Some(raw) => errors.check("sex_at_birth", raw.parse()),
        };
        let usual_bedtime = match empty_to_none(fields.usual_bedtime) {
            None => Some(None),
            Some(raw) => errors
                .check(
                    "usual_bedtime",
                    Time::strptime("%H:%M", raw)
                        .map_err(|_| format!("{raw:?} is not a time of day in the form HH:MM")),
                )
                .map(Some),
        };
        let jurisdiction = match empty_to_none(fields.jurisdiction) {
            None => Some(None),
            Some(raw) => errors
                .check("jurisdiction", Jurisdiction::parse(raw))
                .map(Some),
        };
        let pregnancy_status = match empty_to_none(fields.pregnancy_status) {
            None => Some(PregnancyStatus::Unknown),
            Some(raw) => errors.check("pregnancy_status", raw.parse()),
        };
        let breastfeeding_status = match empty_to_none(fields.breastfeeding_status) {
            None => Some(crate::monitoring::BreastfeedingStatus::Unknown),
            Some(raw) => {
                let parsed = crate::monitoring::BreastfeedingStatus::parse(raw);
                if parsed.is_none() {
                    errors.push(
                        "breastfeeding_status",
                        "breastfeeding status must be one of yes, no, unknown",
                    );
                }
                parsed
            }
        };
        let research_consent_date = match (
            fields.research_consent,
            empty_to_none(fields.research_consent_date),
        ) {
            (false, None) => Some(None),
            (false, Some(_)) => {
                errors.push(
                    "research_consent_date",
                    "a consent date needs research_consent set to true",
                );
                None
            }
            (true, None) => {
                errors.push(
                    "research_consent_date",
                    "the date research consent was given is required",
                );
                None
            }
            (true, Some(raw)) => errors
                .check(
                    "research_consent_date",
                    CalendarDate::parse(raw)
                        .map_err(|e| e.to_string())
                        .and_then(|date| {
                            if date.get() > today {
                                Err("consent date cannot be in the future".to_owned())
                            } else {
                                Ok(date.get())
                            }
                        }),
                )
                .map(Some),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        // Every `None` above recorded an error, so these are all present.
        match (
            display_name,
            birth_date,
            time_zone,
            sex_at_birth,
            usual_bedtime,
            jurisdiction,
            pregnancy_status,
            breastfeeding_status,
            research_consent_date,
        ) {
            (
                Some(display_name),
                Some(birth_date),
                Some(time_zone),
                Some(sex_at_birth),
                Some(usual_bedtime),
                Some(jurisdiction),
                Some(pregnancy_status),
                Some(breastfeeding_status),
                Some(research_consent_date),
            ) => Ok(Self {
                display_name,
                birth_date,
                time_zone,
                sex_at_birth,
                usual_bedtime,
                jurisdiction,
                pregnancy_status,
                breastfeeding_status,
                research_consent_date,
            }),
            _ => Err(FieldErrors::single("patient", "invalid patient details")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const TODAY: Date = date(2026, 11, 24);

    fn minimal<'a>() -> PatientFields<'a> {
        PatientFields {
            display_name: "Dana Reyes",
            birth_date: "1988-04-12",
            time_zone: "America/Chicago",
            ..Default::default()
        }
    }

    fn fields_in_error(fields: &PatientFields<'_>) -> Vec<String> {
        PatientDetails::parse(fields, TODAY)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn minimal_details_parse_with_unknowns_defaulted() {
        let details = PatientDetails::parse(&minimal(), TODAY).unwrap();
        assert_eq!(details.birth_date, date(1988, 4, 12));
        assert_eq!(details.sex_at_birth, SexAtBirth::Unknown);
        assert_eq!(details.pregnancy_status, PregnancyStatus::Unknown);
        assert_eq!(details.research_consent_date, None);
    }

    #[test]
    fn impossible_and_future_birth_dates_are_refused() {
        for bad in [
            "2023-02-30",
            "1988-13-01",
            "12/04/1988",
            "2027-01-01",
            "1850-01-01",
            "1899-12-31",
            "-009999-01-02",
        ] {
            let fields = PatientFields {
                birth_date: bad,
                ..minimal()
            };
            assert_eq!(fields_in_error(&fields), ["birth_date"], "{bad}");
        }
    }

    #[test]
    fn the_earliest_accepted_birth_date_is_1900_01_01() {
        let fields = PatientFields {
            birth_date: "1900-01-01",
            ..minimal()
        };
        let details = PatientDetails::parse(&fields, TODAY).unwrap();
        assert_eq!(details.birth_date, date(1900, 1, 1));
    }

    #[test]
    fn unknown_time_zones_are_refused() {
        let fields = PatientFields {
            time_zone: "Mars/Olympus_Mons",
            ..minimal()
        };
        assert_eq!(fields_in_error(&fields), ["time_zone"]);
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let fields = PatientFields {
            display_name: "",
            birth_date: "",
            time_zone: "",
            sex_at_birth: Some("other"),
            usual_bedtime: Some("25:00"),
            jurisdiction: Some("USA"),
            pregnancy_status: Some("maybe"),
            breastfeeding_status: Some("sometimes"),
            research_consent: true,
            research_consent_date: None,
        };
        assert_eq!(
            fields_in_error(&fields),
            [
                "display_name",
                "birth_date",
                "time_zone",
                "sex_at_birth",
                "usual_bedtime",
                "jurisdiction",
                "pregnancy_status",
                "breastfeeding_status",
                "research_consent_date"
            ]
        );
    }

    #[test]
    fn jurisdictions_accept_countries_and_subdivisions() {
        assert_eq!(Jurisdiction::parse("th").unwrap().code(), "TH");
        let alabama = Jurisdiction::parse("US-AL").unwrap();
        assert_eq!(alabama.country, "US");
        assert_eq!(alabama.subdivision.as_deref(), Some("US-AL"));
        assert!(Jurisdiction::parse("United States").is_err());
    }

    #[test]
    fn consent_needs_a_date_that_is_not_in_the_future() {
        let fields = PatientFields {
            research_consent: true,
            research_consent_date: Some("2026-12-01"),
            ..minimal()
        };
        assert_eq!(fields_in_error(&fields), ["research_consent_date"]);
        let fields = PatientFields {
            research_consent: true,
            research_consent_date: Some("2026-11-01"),
            ..minimal()
        };
        let details = PatientDetails::parse(&fields, TODAY).unwrap();
        assert_eq!(details.research_consent_date, Some(date(2026, 11, 1)));
    }
}
