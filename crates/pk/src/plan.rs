//! What a plan's schedule predicts, step by step, for its preview: each step's typical
//! trough and peak (lowest and highest mitragynine concentration over the step's last 24
//! hours, the whole schedule simulated from its start), the concentration at the usual
//! bedtime, and the population's 5–95 % band around it. Uses [`crate::propagated`], so a
//! 26-week plan for a thousand virtual patients stays well under a second.
//!
//! Plan time runs in the patient's local clock hours from midnight of the plan's first day.
//! A daylight-saving change moves real time by an hour twice a year, which shifts no
//! step's figures measurably (the terminal half-life is a day or more; `pharmacology.md`).

use crate::model::{Dose, Parameters};
use crate::population::percentile;
use crate::propagated;

/// A dose time of the plan's day: hours after local midnight, and its share of the day's
/// target (the shares of a plan's slots add up to 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot {
    pub hour: f64,
    pub share: f64,
}

/// From `day` (days after the plan's first day) on, `daily_mg` of mitragynine a day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub day: u32,
    pub daily_mg: f64,
}

/// One step's prediction, ng/mL of mitragynine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepPrediction {
    pub trough_ng_ml: f64,
    pub peak_ng_ml: f64,
    /// At the usual bedtime on the step's last day, when the patient has one.
    pub bedtime_ng_ml: Option<f64>,
    /// The population's 5th and 95th percentiles of the bedtime concentration (of the
    /// trough, without a bedtime).
    pub band_5_ng_ml: f64,
    pub band_95_ng_ml: f64,
}

/// Sampling within a step's last day, h: fine enough to find a peak an hour after a dose.
const SAMPLE_H: f64 = 0.25;

/// The doses the schedule makes, through the end of `last_day` (exclusive).
pub fn doses(steps: &[Step], slots: &[Slot], last_day: u32) -> Vec<Dose> {
    let mut doses = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let until = steps.get(index + 1).map_or(last_day, |next| next.day);
        for day in step.day..until {
            for slot in slots {
                let mg = step.daily_mg * slot.share;
                if mg > 0.0 {
                    doses.push(Dose {
                        time_h: f64::from(day) * 24.0 + slot.hour,
                        mitragynine_mg: mg,
                        hydroxymitragynine_mg: 0.0,
                    });
                }
            }
        }
    }
    doses
}

/// Predicts every step. The last step is taken to last `last_step_days`. `people` are the
/// population's virtual patients (e.g. `Variability::sample`); `typical` gives the figures.
pub fn preview(
    typical: &Parameters,
    people: &[Parameters],
    steps: &[Step],
    slots: &[Slot],
    bedtime_hour: Option<f64>,
    last_step_days: u32,
) -> Vec<StepPrediction> {
    let Some(last) = steps.last() else {
        return Vec::new();
    };
    let end_day = last.day + last_step_days.max(1);
    let schedule = doses(steps, slots, end_day);
    // The sample times: each step's last 24 hours, and its bedtime.
    let mut times = Vec::new();
    let mut windows = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let step_end = steps.get(index + 1).map_or(end_day, |next| next.day);
        let last_day = step_end.saturating_sub(1).max(step.day);
        let start = times.len();
        let first_h = f64::from(last_day) * 24.0;
        let samples = (24.0 / SAMPLE_H) as usize;
        times.extend((0..=samples).map(|k| first_h + k as f64 * SAMPLE_H));
        let bedtime = bedtime_hour.map(|hour| {
            times.push(first_h + hour);
            times.len() - 1
        });
        windows.push((start..start + samples + 1, bedtime));
    }
    let typical_curve = propagated::simulate(typical, &schedule, &times);
    let figure = |curve: &[crate::closed_form::Concentrations],
                  window: &(std::ops::Range<usize>, Option<usize>)| {
        let (range, bedtime) = window;
        let values = curve[range.clone()].iter().map(|c| c.mitragynine * 1000.0);
        let trough = values.clone().fold(f64::INFINITY, f64::min);
        let peak = values.fold(0.0, f64::max);
        let at_bedtime = bedtime.map(|i| curve[i].mitragynine * 1000.0);
        (trough, peak, at_bedtime)
    };
    // Per step, each virtual patient's banded figure.
    let mut banded: Vec<Vec<f64>> = vec![Vec::with_capacity(people.len()); steps.len()];
    for person in people {
        let curve = propagated::simulate(person, &schedule, &times);
        for (index, window) in windows.iter().enumerate() {
            let (trough, _, at_bedtime) = figure(&curve, window);
            banded[index].push(at_bedtime.unwrap_or(trough));
        }
    }
    windows
        .iter()
        .zip(banded.iter_mut())
        .map(|(window, values)| {
            let (trough, peak, at_bedtime) = figure(&typical_curve, window);
            values.sort_by(f64::total_cmp);
            let central = at_bedtime.unwrap_or(trough);
            StepPrediction {
                trough_ng_ml: trough,
                peak_ng_ml: peak,
                bedtime_ng_ml: at_bedtime,
                band_5_ng_ml: if values.is_empty() {
                    central
                } else {
                    percentile(values, 5.0)
                },
                band_95_ng_ml: if values.is_empty() {
                    central
                } else {
                    percentile(values, 95.0)
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypicalParameters;

    fn two_slots() -> Vec<Slot> {
        vec![
            Slot {
                hour: 8.0,
                share: 0.5,
            },
            Slot {
                hour: 20.0,
                share: 0.5,
            },
        ]
    }

    fn taper() -> Vec<Step> {
        vec![
            Step {
                day: 0,
                daily_mg: 120.0,
            },
            Step {
                day: 14,
                daily_mg: 90.0,
            },
            Step {
                day: 28,
                daily_mg: 60.0,
            },
        ]
    }

    #[test]
    fn the_schedule_doses_each_slot_its_share_of_each_days_step() {
        let doses = doses(&taper(), &two_slots(), 42);
        assert_eq!(doses.len(), 42 * 2);
        assert_eq!(doses[0].time_h, 8.0);
        assert_eq!(doses[0].mitragynine_mg, 60.0);
        assert_eq!(doses[28].time_h, 14.0 * 24.0 + 8.0);
        assert_eq!(doses[28].mitragynine_mg, 45.0);
        assert_eq!(doses.last().unwrap().mitragynine_mg, 30.0);
    }

    #[test]
    fn each_step_down_lowers_the_predicted_trough_and_peak() {
        let bundle = TypicalParameters::bundled().unwrap();
        let p = bundle.parameters;
        let people = bundle.variability.sample(&p, 200, 7).unwrap();
        let preview = preview(&p, &people, &taper(), &two_slots(), Some(22.5), 14);
        assert_eq!(preview.len(), 3);
        for step in &preview {
            assert!(
                0.0 < step.trough_ng_ml && step.trough_ng_ml < step.peak_ng_ml,
                "{step:?}"
            );
            let bedtime = step.bedtime_ng_ml.unwrap();
            assert!(
                step.band_5_ng_ml < bedtime && bedtime < step.band_95_ng_ml,
                "{step:?}"
            );
        }
        for pair in preview.windows(2) {
            assert!(pair[1].trough_ng_ml < pair[0].trough_ng_ml, "{pair:?}");
            assert!(pair[1].peak_ng_ml < pair[0].peak_ng_ml, "{pair:?}");
        }
    }

    #[test]
    fn a_bedtime_slot_raises_the_bedtime_concentration_for_the_same_daily_dose() {
        let p = TypicalParameters::bundled().unwrap().parameters;
        let steps = [Step {
            day: 0,
            daily_mg: 90.0,
        }];
        let morning = [Slot {
            hour: 8.0,
            share: 1.0,
        }];
        let evening = [
            Slot {
                hour: 8.0,
                share: 2.0 / 3.0,
            },
            Slot {
                hour: 21.5,
                share: 1.0 / 3.0,
            },
        ];
        let at_bedtime = |slots: &[Slot]| {
            preview(&p, &[], &steps, slots, Some(22.5), 14)[0]
                .bedtime_ng_ml
                .unwrap()
        };
        assert!(at_bedtime(&evening) > at_bedtime(&morning));
    }

    #[test]
    fn the_window_figures_agree_with_the_closed_form() {
        let p = TypicalParameters::bundled().unwrap().parameters;
        let steps = taper();
        let slots = two_slots();
        let preview = preview(&p, &[], &steps, &slots, None, 14);
        // Step 2's last day is day 27: its peak, by the closed form on the same grid.
        let schedule = doses(&steps, &slots, 42);
        let times: Vec<f64> = (0..=96)
            .map(|k| 27.0 * 24.0 + f64::from(k) * 0.25)
            .collect();
        let curve = crate::closed_form::simulate(&p, &schedule, &times);
        let peak = curve
            .iter()
            .map(|c| c.mitragynine * 1000.0)
            .fold(0.0, f64::max);
        let trough = curve
            .iter()
            .map(|c| c.mitragynine * 1000.0)
            .fold(f64::INFINITY, f64::min);
        let middle = &preview[1];
        assert!(
            (middle.peak_ng_ml - peak).abs() < 1e-6 * peak,
            "{} vs {peak}",
            middle.peak_ng_ml
        );
        assert!((middle.trough_ng_ml - trough).abs() < 1e-6 * peak);
        // Without virtual patients the band collapses on the typical trough.
        assert_eq!(middle.band_5_ng_ml, middle.trough_ng_ml);
    }
}
