//! The check-in rhythm (which instruments are due when) and the crisis contacts shown
//! when an answer raises an urgent alert. Both are data files in `data/`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::instrument::{Instrument, Response};

/// How often an instrument is due for a patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Daily,
    Weekly,
    Off,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
            Frequency::Off => "off",
        }
    }

    /// Due when not yet completed today (daily) or in the last seven days (weekly), by
    /// the patient's local calendar.
    pub fn is_due(self, last_completed: Option<Date>, today: Date) -> bool {
        // `since` rather than `-`, which panics when the span is out of range.
        let days_since = |last: Date| today.since(last).map_or(i32::MAX, |s| s.get_days());
        match (self, last_completed) {
            (Frequency::Off, _) => false,
            (_, None) => true,
            (Frequency::Daily, Some(last)) => last < today,
            (Frequency::Weekly, Some(last)) => days_since(last) >= 7,
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Frequency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "daily" => Ok(Frequency::Daily),
            "weekly" => Ok(Frequency::Weekly),
            "off" => Ok(Frequency::Off),
            other => Err(format!(
                "{other:?} is not a frequency: use daily, weekly or off"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckInDataError {
    #[error("{file} is not valid: {source}")]
    Parse {
        file: &'static str,
        source: toml::de::Error,
    },
    #[error("{file}: {problem}")]
    Invalid { file: &'static str, problem: String },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInDefaults {
    pub defaults: BTreeMap<String, Frequency>,
}

impl CheckInDefaults {
    pub fn bundled() -> Result<Self, CheckInDataError> {
        Self::parse(include_str!("../../../data/check-in.toml"))
    }

    /// Parses a check-in defaults file (`speciosa data check` reads it from disk).
    pub fn parse(text: &str) -> Result<Self, CheckInDataError> {
        toml::from_str(text).map_err(|source| CheckInDataError::Parse {
            file: "data/check-in.toml",
            source,
        })
    }

    pub fn frequency(&self, instrument: &str) -> Frequency {
        self.defaults
            .get(instrument)
            .copied()
            .unwrap_or(Frequency::Off)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisResource {
    pub name: String,
    pub contact: String,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisResources {
    pub source: String,
    pub resources: Vec<CrisisResource>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrisisDirectory {
    default: String,
    countries: BTreeMap<String, CrisisResources>,
}

/// Crisis contacts by country, with a checked default.
#[derive(Clone, Debug)]
pub struct CrisisDirectory {
    default_code: String,
    default: CrisisResources,
    countries: BTreeMap<String, CrisisResources>,
}

impl CrisisDirectory {
    pub fn bundled() -> Result<Self, CheckInDataError> {
        Self::parse(include_str!("../../../data/crisis-resources.toml"))
    }

    /// Parses and checks a crisis directory (`speciosa data check` reads it from disk).
    pub fn parse(text: &str) -> Result<Self, CheckInDataError> {
        let file = "data/crisis-resources.toml";
        let raw: RawCrisisDirectory =
            toml::from_str(text).map_err(|source| CheckInDataError::Parse { file, source })?;
        if let Some((code, _)) = raw.countries.iter().find(|(_, c)| c.resources.is_empty()) {
            return Err(CheckInDataError::Invalid {
                file,
                problem: format!("{code} lists no resources"),
            });
        }
        let default =
            raw.countries
                .get(&raw.default)
                .cloned()
                .ok_or_else(|| CheckInDataError::Invalid {
                    file,
                    problem: format!("the default {:?} has no entry", raw.default),
                })?;
        Ok(CrisisDirectory {
            default_code: raw.default,
            default,
            countries: raw.countries,
        })
    }

    /// The contacts for an ISO 3166-1 country, or the default country's.
    pub fn for_country(&self, country: Option<&str>) -> (&str, &CrisisResources) {
        match country.and_then(|c| self.countries.get_key_value(c)) {
            Some((code, resources)) => (code.as_str(), resources),
            None => (self.default_code.as_str(), &self.default),
        }
    }
}

/// How long a check-in is, told to the patient before they start ("4 sections, 16
/// questions, about 3 minutes") so they know what they are agreeing to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckinLength {
    pub sections: usize,
    pub questions: usize,
    pub minutes: u32,
}

impl CheckinLength {
    /// Our own estimate, not a published figure: about 8 seconds to pick an answer and 15 to
    /// type a time, a number or a note, rounded up to whole minutes.
    pub fn of<'a>(sections: impl IntoIterator<Item = &'a Instrument>) -> CheckinLength {
        let (mut count, mut questions, mut seconds) = (0, 0, 0_u32);
        for instrument in sections {
            count += 1;
            for item in &instrument.items {
                questions += 1;
                seconds += match item.response {
                    Response::Options(_) | Response::Scale(_) => 8,
                    Response::Entry(_) => 15,
                };
            }
        }
        CheckinLength {
            sections: count,
            questions,
            minutes: seconds.div_ceil(60),
        }
    }

    /// `4 sections, 16 questions, about 3 minutes`.
    pub fn describe(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{}, {}, about {}",
            plural(self.sections, "section", "sections"),
            plural(self.questions, "question", "questions"),
            plural(self.minutes.max(1) as usize, "minute", "minutes")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::Instruments;
    use jiff::civil::date;

    #[test]
    fn the_daily_check_in_counts_its_sections_questions_and_minutes() {
        let instruments = Instruments::bundled().unwrap();
        let daily = [
            "sleep_diary",
            "craving",
            "pain_nrs",
            "red_flags",
            "opioid_use",
        ]
        .map(|code| instruments.get(code).unwrap());
        let length = CheckinLength::of(daily);
        // Sleep diary 9 (8 typed), craving 1, pain 1, red flags 8, other opioids 1.
        assert_eq!((length.sections, length.questions), (5, 20));
        assert_eq!(
            length.minutes, 4,
            "8 typed at 15 s and 12 picked at 8 s is 216 s"
        );
        assert_eq!(
            length.describe(),
            "5 sections, 20 questions, about 4 minutes"
        );
        let one = CheckinLength::of([instruments.get("craving").unwrap()]);
        assert_eq!(one.describe(), "1 section, 1 question, about 1 minute");
    }

    #[test]
    fn daily_is_due_until_done_today_and_weekly_until_done_within_seven_days() {
        let today = date(2026, 11, 24);
        assert!(Frequency::Daily.is_due(None, today));
        assert!(Frequency::Daily.is_due(Some(date(2026, 11, 23)), today));
        assert!(!Frequency::Daily.is_due(Some(today), today));
        assert!(!Frequency::Weekly.is_due(Some(date(2026, 11, 18)), today));
        assert!(Frequency::Weekly.is_due(Some(date(2026, 11, 17)), today));
        assert!(!Frequency::Off.is_due(None, today));
    }

    #[test]
    fn the_default_rhythm_is_daily_diary_and_weekly_mood_scales() {
        let defaults = CheckInDefaults::bundled().unwrap();
        assert_eq!(defaults.frequency("sleep_diary"), Frequency::Daily);
        assert_eq!(defaults.frequency("red_flags"), Frequency::Daily);
        assert_eq!(defaults.frequency("phq9"), Frequency::Weekly);
        assert_eq!(defaults.frequency("cows"), Frequency::Off);
        assert_eq!(defaults.frequency("unknown"), Frequency::Off);
    }

    #[test]
    fn crisis_contacts_follow_the_country_and_default_to_the_us() {
        let directory = CrisisDirectory::bundled().unwrap();
        let (code, us) = directory.for_country(None);
        assert_eq!(code, "US");
        assert!(us.resources.iter().any(|r| r.contact.contains("988")));
        assert!(us.resources.iter().any(|r| r.contact.contains("911")));
        let (code, gb) = directory.for_country(Some("GB"));
        assert_eq!(code, "GB");
        assert!(gb.resources.iter().any(|r| r.contact.contains("999")));
        assert_eq!(directory.for_country(Some("ZZ")).0, "US");
    }
}
