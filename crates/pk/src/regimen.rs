//! Regimen files for `speciosa simulate`: TOML with `[[dose]]` tables (`time_h`,
//! `mitragynine_mg`, optional `hydroxymitragynine_mg`) and/or a `[schedule]` table
//! (`mitragynine_mg`, optional `hydroxymitragynine_mg`, `every_h`, `count`; first dose at
//! 0 h), plus an optional top-level `duration_h`.

use serde::Deserialize;

use crate::model::{Dose, ModelError, validate_doses};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDose {
    time_h: f64,
    mitragynine_mg: f64,
    #[serde(default)]
    hydroxymitragynine_mg: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    mitragynine_mg: f64,
    #[serde(default)]
    hydroxymitragynine_mg: f64,
    every_h: f64,
    count: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegimen {
    duration_h: Option<f64>,
    #[serde(default)]
    dose: Vec<RawDose>,
    schedule: Option<RawSchedule>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegimenError {
    #[error("the regimen is not valid TOML for this format: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Dose(#[from] ModelError),
}

/// A checked regimen.
#[derive(Clone, Debug, PartialEq)]
pub struct Regimen {
    /// Sorted by time.
    pub doses: Vec<Dose>,
    pub duration_h: f64,
}

/// Longest regimen accepted: a year, at the CLI's 0.1 h resolution.
const MAX_DURATION_H: f64 = 24.0 * 366.0;

impl Regimen {
    pub fn parse(text: &str) -> Result<Self, RegimenError> {
        let raw: RawRegimen = toml::from_str(text)?;
        let mut doses: Vec<Dose> = raw
            .dose
            .iter()
            .map(|d| Dose {
                time_h: d.time_h,
                mitragynine_mg: d.mitragynine_mg,
                hydroxymitragynine_mg: d.hydroxymitragynine_mg,
            })
            .collect();
        if let Some(schedule) = &raw.schedule {
            if !(schedule.every_h.is_finite() && schedule.every_h > 0.0) {
                return Err(RegimenError::Invalid(format!(
                    "schedule.every_h must be a positive number, not {}",
                    schedule.every_h
                )));
            }
            if !(1..=100_000).contains(&schedule.count) {
                return Err(RegimenError::Invalid(format!(
                    "schedule.count must be from 1 to 100000, not {}",
                    schedule.count
                )));
            }
            for n in 0..schedule.count {
                doses.push(Dose {
                    time_h: n as f64 * schedule.every_h,
                    mitragynine_mg: schedule.mitragynine_mg,
                    hydroxymitragynine_mg: schedule.hydroxymitragynine_mg,
                });
            }
        }
        if doses.is_empty() {
            return Err(RegimenError::Invalid(
                "the regimen has no doses: add [[dose]] tables or a [schedule]".into(),
            ));
        }
        validate_doses(&doses)?;
        doses.sort_by(|a, b| a.time_h.total_cmp(&b.time_h));
        let last = doses.last().map(|d| d.time_h).unwrap_or(0.0);
        let duration_h = match raw.duration_h {
            Some(d) if !(d.is_finite() && d > 0.0) => {
                return Err(RegimenError::Invalid(format!(
                    "duration_h must be a positive number, not {d}"
                )));
            }
            Some(d) => d,
            // Long enough for a week of wash-out after the last dose.
            None => last + 168.0,
        };
        if duration_h > MAX_DURATION_H {
            return Err(RegimenError::Invalid(format!(
                "duration_h must be at most {MAX_DURATION_H} h"
            )));
        }
        Ok(Regimen { doses, duration_h })
    }

    /// The dosing interval and amounts when every dose repeats the first at a fixed interval.
    pub fn regular_interval(&self) -> Option<f64> {
        let first = self.doses.first()?;
        let interval = self.doses.get(1)?.time_h - first.time_h;
        let regular = interval > 0.0
            && self
                .doses
                .windows(2)
                .all(|w| ((w[1].time_h - w[0].time_h) - interval).abs() < 1e-9)
            && self.doses.iter().all(|d| {
                d.mitragynine_mg == first.mitragynine_mg
                    && d.hydroxymitragynine_mg == first.hydroxymitragynine_mg
            });
        regular.then_some(interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doses_and_schedules_parse_with_integers_or_floats() {
        let regimen = Regimen::parse("duration_h = 72\n[[dose]]\ntime_h = 0\nmitragynine_mg = 39\n[[dose]]\ntime_h = 12.5\nmitragynine_mg = 20.0\nhydroxymitragynine_mg = 2\n").unwrap();
        assert_eq!(regimen.doses.len(), 2);
        assert_eq!(regimen.duration_h, 72.0);
        assert_eq!(regimen.doses[1].hydroxymitragynine_mg, 2.0);
        let schedule =
            Regimen::parse("[schedule]\nmitragynine_mg = 39\nevery_h = 24\ncount = 14\n").unwrap();
        assert_eq!(schedule.doses.len(), 14);
        assert_eq!(schedule.regular_interval(), Some(24.0));
        assert_eq!(schedule.duration_h, 13.0 * 24.0 + 168.0);
        assert_eq!(regimen.regular_interval(), None);
    }

    #[test]
    fn invalid_regimens_name_the_problem() {
        let cases = [
            (
                "[[dose]]\ntime_h = 0\nmitragynine_mg = -5\n",
                "mitragynine_mg",
            ),
            (
                "[[dose]]\ntime_h = 0\nmitragynine_mg = nan\n",
                "mitragynine_mg",
            ),
            (
                "[[dose]]\ntime_h = 0\nmitragynine_mg = 5\ncolour = \"red\"\n",
                "colour",
            ),
            (
                "[schedule]\nmitragynine_mg = 5\nevery_h = 0\ncount = 3\n",
                "every_h",
            ),
            (
                "duration_h = -1\n[[dose]]\ntime_h = 0\nmitragynine_mg = 5\n",
                "duration_h",
            ),
            ("", "no doses"),
        ];
        for (text, named) in cases {
            let error = Regimen::parse(text).unwrap_err().to_string();
            assert!(error.contains(named), "{text:?}: {error}");
        }
    }
}
