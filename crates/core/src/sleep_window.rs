//! CBT-I's sleep window (sleep restriction therapy) from the patient's own diary:
//! the first prescription, the weekly titration proposal and adherence.
//!
//! Sources: plans-and-therapy.md §3.2. The published parameter sets disagree (extend at a
//! weekly sleep efficiency of 85 or 90 %, shrink below 80 or 85 %, floor 4.5–6 h, step
//! 15–30 min), so every threshold is a per-clinic setting; the defaults are the dossier's
//! "most common values": floor 5 h, extend at ≥ 90 %, shrink below 85 %, 15-minute steps.

use jiff::civil::{Date, Time};
use serde::Serialize;

use crate::validation::FieldErrors;

/// Where the defaults come from, shown beside them.
pub const SETTINGS_SOURCE: &str = "Defaults from plans-and-therapy.md §3.2 (the most common published values): floor 5 h, \
extend at a weekly mean sleep efficiency of 90 %, shrink below 85 %, 15-minute steps, goal 8 h. The sources disagree: \
Spielman 1987 and the NSF shrink below 80 %, some manuals and apps extend at 85 %, and floors range from 4.5 to 6 h.";

/// A clinic's sleep-restriction parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WindowSettings {
    /// The shortest window ever prescribed (default 300 min; sources say 4.5–6 h).
    pub floor_min: i64,
    /// Weekly mean efficiency at or above which the window grows (default 90; some use 85).
    pub extend_at_pct: f64,
    /// Weekly mean efficiency below which it shrinks (default 85; Spielman and the NSF use 80).
    pub shrink_below_pct: f64,
    /// Minutes added or taken away per week (default 15; range 15–30).
    pub step_min: i64,
    /// Titration stops growing the window here (default 480 min, the 7–8 h goal of CCJM 2019).
    pub goal_min: i64,
}

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            floor_min: 300,
            extend_at_pct: 90.0,
            shrink_below_pct: 85.0,
            step_min: 15,
            goal_min: 480,
        }
    }
}

impl WindowSettings {
    /// Checks a clinic's settings against the ranges the sources span (with a margin).
    pub fn validate(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        if !(240..=420).contains(&self.floor_min) {
            errors.push(
                "floor_min",
                "the floor must be between 240 and 420 minutes (sources use 4.5–6 h)",
            );
        }
        if !(70.0..=95.0).contains(&self.shrink_below_pct) {
            errors.push("shrink_below_pct", "must be between 70 and 95 %");
        }
        if !(75.0..=100.0).contains(&self.extend_at_pct)
            || self.extend_at_pct < self.shrink_below_pct
        {
            errors.push(
                "extend_at_pct",
                "must be between 75 and 100 % and not below the shrink threshold",
            );
        }
        if !(5..=60).contains(&self.step_min) {
            errors.push("step_min", "the step must be between 5 and 60 minutes");
        }
        if !(self.floor_min..=600).contains(&self.goal_min) {
            errors.push(
                "goal_min",
                "the goal must be between the floor and 600 minutes",
            );
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

/// One diary night as the sleep window reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiaryNight {
    pub night_of: Date,
    pub total_sleep_min: f64,
    pub efficiency_pct: f64,
    pub got_into_bed: Time,
    pub out_of_bed: Time,
}

/// An approved window in force.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub starts_on: Date,
    pub time_in_bed_min: i64,
    pub rise_time: Time,
}

impl Window {
    pub fn bedtime(&self) -> Time {
        bedtime_for(self.rise_time, self.time_in_bed_min)
    }
}

/// The bedtime that gives `time_in_bed_min` before a fixed rise time.
pub fn bedtime_for(rise_time: Time, time_in_bed_min: i64) -> Time {
    rise_time.wrapping_sub(jiff::SignedDuration::from_mins(time_in_bed_min))
}

/// What the proposal was computed from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Basis {
    /// The first window: mean total sleep time of the diary nights, not below the floor.
    Initial {
        nights: usize,
        mean_total_sleep_min: f64,
        floor_min: i64,
    },
    /// A week on the current window: its mean efficiency against the thresholds.
    Titration {
        nights: usize,
        mean_efficiency_pct: f64,
        previous_time_in_bed_min: i64,
        change_min: i64,
        extend_at_pct: f64,
        shrink_below_pct: f64,
    },
    /// The current window has run for less than a week: keep it.
    Unchanged { nights: usize, days_in_force: i64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    pub time_in_bed_min: i64,
    pub rise_time: Time,
    pub bedtime: Time,
    pub basis: Basis,
}

/// Diary nights needed before a first window (plans-and-therapy.md §3.2: ≥ 7 nights).
pub const MIN_DIARY_NIGHTS: usize = 7;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProposalError {
    #[error(
        "a sleep window needs at least {needed} nights of sleep diary in the last two weeks; there are {have}"
    )]
    NotEnoughDiary { have: usize, needed: usize },
}

/// The median clock time of `times`, rounded to 15 minutes, treating times before noon as
/// the morning after (so 23:50 and 00:10 average to midnight, not noon).
pub fn typical_time(times: &[Time]) -> Option<Time> {
    let mut minutes: Vec<i64> = times
        .iter()
        .map(|t| {
            let m = i64::from(t.hour()) * 60 + i64::from(t.minute());
            if m < 12 * 60 { m + 24 * 60 } else { m }
        })
        .collect();
    if minutes.is_empty() {
        return None;
    }
    minutes.sort_unstable();
    let median = minutes[minutes.len() / 2];
    let rounded = ((median + 7) / 15 * 15).rem_euclid(24 * 60);
    Time::new((rounded / 60) as i8, (rounded % 60) as i8, 0, 0).ok()
}

/// The proposal for `today`: the first window from the last two weeks of diary, or the
/// week's titration of `current`. `rise_time` overrides the window's fixed rise time
/// (default: the current window's, else the diary's typical time out of bed).
pub fn propose(
    settings: &WindowSettings,
    current: Option<&Window>,
    diary: &[DiaryNight],
    today: Date,
    rise_time: Option<Time>,
) -> Result<Proposal, ProposalError> {
    let days_before = |night: Date| {
        today
            .since(night)
            .map_or(i64::MAX, |s| i64::from(s.get_days()))
    };
    let proposal = |time_in_bed_min: i64, rise: Time, basis| Proposal {
        time_in_bed_min,
        rise_time: rise,
        bedtime: bedtime_for(rise, time_in_bed_min),
        basis,
    };
    let typical_rise = || typical_time(&diary.iter().map(|n| n.out_of_bed).collect::<Vec<_>>());
    match current {
        None => {
            let recent: Vec<&DiaryNight> = diary
                .iter()
                .filter(|n| days_before(n.night_of) <= 14)
                .collect();
            if recent.len() < MIN_DIARY_NIGHTS {
                return Err(ProposalError::NotEnoughDiary {
                    have: recent.len(),
                    needed: MIN_DIARY_NIGHTS,
                });
            }
            let mean_tst =
                recent.iter().map(|n| n.total_sleep_min).sum::<f64>() / recent.len() as f64;
            // Rounded to the step, so the bedtime falls on a quarter hour.
            let step = settings.step_min.max(1);
            let rounded = ((mean_tst / step as f64).round() as i64) * step;
            let rise = rise_time
                .or_else(typical_rise)
                .unwrap_or(Time::constant(7, 0, 0, 0));
            Ok(proposal(
                rounded.max(settings.floor_min),
                rise,
                Basis::Initial {
                    nights: recent.len(),
                    mean_total_sleep_min: mean_tst,
                    floor_min: settings.floor_min,
                },
            ))
        }
        Some(window) => {
            let rise = rise_time.unwrap_or(window.rise_time);
            let on_window: Vec<&DiaryNight> = diary
                .iter()
                .filter(|n| n.night_of >= window.starts_on && days_before(n.night_of) <= 7)
                .collect();
            let days_in_force = window
                .starts_on
                .until(today)
                .map_or(0, |s| i64::from(s.get_days()));
            if days_in_force < 7 || on_window.is_empty() {
                return Ok(proposal(
                    window.time_in_bed_min,
                    rise,
                    Basis::Unchanged {
                        nights: on_window.len(),
                        days_in_force,
                    },
                ));
            }
            let mean_se =
                on_window.iter().map(|n| n.efficiency_pct).sum::<f64>() / on_window.len() as f64;
            let tib = window.time_in_bed_min;
            let next = if mean_se >= settings.extend_at_pct {
                (tib + settings.step_min).min(settings.goal_min.max(tib))
            } else if mean_se < settings.shrink_below_pct {
                (tib - settings.step_min).max(settings.floor_min)
            } else {
                tib
            };
            Ok(proposal(
                next,
                rise,
                Basis::Titration {
                    nights: on_window.len(),
                    mean_efficiency_pct: mean_se,
                    previous_time_in_bed_min: tib,
                    change_min: next - tib,
                    extend_at_pct: settings.extend_at_pct,
                    shrink_below_pct: settings.shrink_below_pct,
                },
            ))
        }
    }
}

/// Minutes of tolerance either side of the window before a night counts as off it.
pub const ADHERENCE_TOLERANCE_MIN: i64 = 15;

/// Signed minutes from `target` to `actual` on the clock, in (−720, 720].
fn clock_difference(actual: Time, target: Time) -> i64 {
    let minutes = |t: Time| i64::from(t.hour()) * 60 + i64::from(t.minute());
    let d = (minutes(actual) - minutes(target)).rem_euclid(24 * 60);
    if d > 12 * 60 { d - 24 * 60 } else { d }
}

/// Whether a night kept the window: into bed no earlier than the bedtime and out of bed no
/// later than the rise time, each within the tolerance.
pub fn kept_window(night: &DiaryNight, window: &Window) -> bool {
    clock_difference(night.got_into_bed, window.bedtime()) >= -ADHERENCE_TOLERANCE_MIN
        && clock_difference(night.out_of_bed, window.rise_time) <= ADHERENCE_TOLERANCE_MIN
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Adherence {
    pub nights: usize,
    pub nights_kept: usize,
}

/// Adherence over the diary nights since the window started.
pub fn adherence(diary: &[DiaryNight], window: &Window) -> Adherence {
    let on: Vec<&DiaryNight> = diary
        .iter()
        .filter(|n| n.night_of >= window.starts_on)
        .collect();
    Adherence {
        nights: on.len(),
        nights_kept: on.iter().filter(|n| kept_window(n, window)).count(),
    }
}

/// Bootzin's stimulus-control rules (plans-and-therapy.md §3.2), as the patient reads them.
pub const STIMULUS_CONTROL: [&str; 5] = [
    "Go to bed only when you feel sleepy, and not before your window starts.",
    "Use the bed only for sleep and sex: no screens, reading, eating or worrying in bed.",
    "If you cannot fall asleep within about 20 minutes, get up, go to another room, and come back only when sleepy. Repeat as often as needed.",
    "Get up at the same time every morning, weekends included.",
    "Do not nap during the day.",
];

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn night(day: i8, tst: f64, se: f64) -> DiaryNight {
        DiaryNight {
            night_of: date(2026, 11, day),
            total_sleep_min: tst,
            efficiency_pct: se,
            got_into_bed: time(23, 0, 0, 0),
            out_of_bed: time(7, 0, 0, 0),
        }
    }

    #[test]
    fn the_first_window_is_the_mean_sleep_time_with_a_fixed_rise_time() {
        // Mean of 5,6,…,11 × 10 + 300 = 380 min → rounded to 375 (15-min steps)... by hand:
        // TSTs 350..410 step 10, mean 380, nearest multiple of 15 is 375 (380/15 = 25.33).
        let diary: Vec<DiaryNight> = (0..7)
            .map(|i| night(10 + i, 350.0 + 10.0 * f64::from(i), 80.0))
            .collect();
        let p = propose(
            &WindowSettings::default(),
            None,
            &diary,
            date(2026, 11, 18),
            None,
        )
        .unwrap();
        assert_eq!(p.time_in_bed_min, 375);
        assert_eq!(p.rise_time, time(7, 0, 0, 0));
        assert_eq!(p.bedtime, time(0, 45, 0, 0));
        assert!(matches!(p.basis, Basis::Initial { nights: 7, .. }));
    }

    #[test]
    fn the_first_window_never_falls_below_the_floor() {
        let diary: Vec<DiaryNight> = (0..8).map(|i| night(10 + i, 200.0, 50.0)).collect();
        let settings = WindowSettings {
            floor_min: 330,
            ..Default::default()
        };
        let p = propose(
            &settings,
            None,
            &diary,
            date(2026, 11, 19),
            Some(time(6, 30, 0, 0)),
        )
        .unwrap();
        assert_eq!(p.time_in_bed_min, 330);
        assert_eq!(p.bedtime, time(1, 0, 0, 0));
    }

    #[test]
    fn fewer_than_seven_diary_nights_gives_no_first_window() {
        let diary: Vec<DiaryNight> = (0..6).map(|i| night(10 + i, 400.0, 80.0)).collect();
        assert_eq!(
            propose(
                &WindowSettings::default(),
                None,
                &diary,
                date(2026, 11, 18),
                None
            ),
            Err(ProposalError::NotEnoughDiary { have: 6, needed: 7 })
        );
    }

    #[test]
    fn a_week_of_high_efficiency_extends_low_shrinks_and_between_keeps() {
        let window = Window {
            starts_on: date(2026, 11, 10),
            time_in_bed_min: 330,
            rise_time: time(7, 0, 0, 0),
        };
        let week = |se: f64| (0..7).map(|i| night(10 + i, 300.0, se)).collect::<Vec<_>>();
        let settings = WindowSettings::default();
        let after = |se| {
            propose(
                &settings,
                Some(&window),
                &week(se),
                date(2026, 11, 17),
                None,
            )
            .unwrap()
        };
        assert_eq!(after(92.0).time_in_bed_min, 345);
        assert_eq!(
            after(90.0).time_in_bed_min,
            345,
            "90 % is at the extend threshold"
        );
        assert_eq!(after(87.0).time_in_bed_min, 330);
        assert_eq!(after(84.9).time_in_bed_min, 315);
        let at_floor = Window {
            time_in_bed_min: 300,
            ..window
        };
        let p = propose(
            &settings,
            Some(&at_floor),
            &week(60.0),
            date(2026, 11, 17),
            None,
        )
        .unwrap();
        assert_eq!(p.time_in_bed_min, 300, "never below the floor");
        // With Spielman's 80 % shrink threshold, 84.9 % keeps the window.
        let spielman = WindowSettings {
            shrink_below_pct: 80.0,
            ..settings
        };
        let p = propose(
            &spielman,
            Some(&window),
            &week(84.9),
            date(2026, 11, 17),
            None,
        )
        .unwrap();
        assert_eq!(p.time_in_bed_min, 330);
    }

    #[test]
    fn a_window_younger_than_a_week_is_kept() {
        let window = Window {
            starts_on: date(2026, 11, 14),
            time_in_bed_min: 330,
            rise_time: time(7, 0, 0, 0),
        };
        let diary: Vec<DiaryNight> = (0..3).map(|i| night(14 + i, 300.0, 95.0)).collect();
        let p = propose(
            &WindowSettings::default(),
            Some(&window),
            &diary,
            date(2026, 11, 17),
            None,
        )
        .unwrap();
        assert_eq!(p.time_in_bed_min, 330);
        assert!(matches!(
            p.basis,
            Basis::Unchanged {
                nights: 3,
                days_in_force: 3
            }
        ));
    }

    #[test]
    fn adherence_counts_nights_in_bed_no_earlier_and_up_no_later_than_the_window() {
        let window = Window {
            starts_on: date(2026, 11, 10),
            time_in_bed_min: 360,
            rise_time: time(7, 0, 0, 0),
        };
        assert_eq!(window.bedtime(), time(1, 0, 0, 0));
        let mut kept = night(10, 330.0, 90.0);
        kept.got_into_bed = time(0, 50, 0, 0);
        kept.out_of_bed = time(7, 10, 0, 0);
        let mut early = night(11, 330.0, 90.0);
        early.got_into_bed = time(23, 30, 0, 0);
        let mut late = night(12, 330.0, 90.0);
        late.got_into_bed = time(1, 0, 0, 0);
        late.out_of_bed = time(8, 0, 0, 0);
        let before = night(9, 330.0, 90.0);
        let a = adherence(&[before, kept, early, late], &window);
        assert_eq!(
            a,
            Adherence {
                nights: 3,
                nights_kept: 1
            }
        );
    }

    #[test]
    fn settings_outside_the_published_ranges_are_refused_by_field() {
        let bad = WindowSettings {
            floor_min: 120,
            extend_at_pct: 80.0,
            shrink_below_pct: 85.0,
            ..Default::default()
        };
        let errors = bad.validate().unwrap_err();
        let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["floor_min", "extend_at_pct"]);
        assert!(WindowSettings::default().validate().is_ok());
    }

    #[test]
    fn the_typical_time_treats_early_morning_as_after_midnight() {
        assert_eq!(
            typical_time(&[time(23, 50, 0, 0), time(0, 10, 0, 0), time(0, 5, 0, 0)]),
            Some(time(0, 0, 0, 0))
        );
    }
}
