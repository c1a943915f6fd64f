//! Planned versus actual: a plan's days, steps and whole-plan figures from what the
//! patient logged and answered (issue 12, item 6).
//!
//! Pure: the caller reads the days' totals and the assessments; nothing here touches a
//! store. Every figure covers only the patient-local days given (`days`), from the
//! plan's first step on; assessments outside those days are not counted.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::plan::{DayStatus, PlanContent, day_status};
use crate::safety::AssessmentFact;
use crate::safety::withdrawal_after_step::daily_mean;

/// One patient-local day against the plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayReport {
    pub date: Date,
    pub planned_mg: f64,
    /// Mitragynine logged that day, `None` when nothing was logged.
    pub taken_mg: Option<f64>,
    pub status: DayStatus,
}

/// One step of the plan over the days reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepReport {
    pub from: Date,
    /// The step's last day (the day before the next step); `None` for the final step.
    pub to: Option<Date>,
    pub planned_mg: f64,
    /// Reported days that fell on this step.
    pub days_on_step: usize,
    /// Share of those days `on_plan`, 0–1; `None` without days.
    pub adherence: Option<f64>,
    /// Means of daily means (a day with several answers counts once); `None` without any.
    pub mean_sows: Option<f64>,
    /// By night: a diary describes the night before the morning it was completed.
    pub mean_sleep_efficiency: Option<f64>,
    pub mean_craving: Option<f64>,
}

/// The whole plan over the days reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanSummary {
    /// The first reported day on the final step whose status is `on_plan`: the day the
    /// patient actually took the end dose, not merely the day the plan reached it.
    pub reached_end_on: Option<Date>,
    /// Area under the SOWS total curve (trapezoids, score × days) divided by the weeks
    /// between the first and last SOWS: `None` with fewer than two SOWS or no time
    /// between them. Equals 7 × the time-weighted mean SOWS.
    pub withdrawal_burden_per_week: Option<f64>,
    /// PHQ-9s with item 9 above 0.
    pub phq9_item9_events: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanReport {
    pub days: Vec<DayReport>,
    pub steps: Vec<StepReport>,
    pub plan: PlanSummary,
}

/// Measures `days` (patient-local dates with the mitragynine logged, `None` for nothing
/// logged) and `assessments` against `content`. Days before the plan's first step are left
/// out; `zone` dates the assessments.
pub fn report(
    content: &PlanContent,
    days: &[(Date, Option<f64>)],
    assessments: &[AssessmentFact],
    zone: &TimeZone,
) -> PlanReport {
    let mut day_reports: Vec<DayReport> = days
        .iter()
        .filter_map(|&(date, taken_mg)| {
            let planned_mg = content.planned_mg_on(date)?;
            Some(DayReport {
                date,
                planned_mg,
                taken_mg,
                status: day_status(planned_mg, taken_mg),
            })
        })
        .collect();
    day_reports.sort_by_key(|d| d.date);
    let range = day_reports
        .first()
        .zip(day_reports.last())
        .map(|(first, last)| (first.date, last.date));
    let in_range = |date: Date| range.is_some_and(|(first, last)| date >= first && date <= last);

    let sows: Vec<(Date, f64, &AssessmentFact)> = assessments
        .iter()
        .filter(|a| a.instrument == "sows")
        .filter_map(|a| a.total.map(|t| (a.local_date(zone), t, a)))
        .filter(|s| in_range(s.0))
        .collect();
    let craving: Vec<(Date, f64)> = assessments
        .iter()
        .filter_map(|a| a.craving().map(|c| (a.local_date(zone), c)))
        .filter(|c| in_range(c.0))
        .collect();
    let sleep: Vec<(Date, f64)> = assessments
        .iter()
        .filter_map(|a| a.sleep_night(zone))
        .filter(|n| in_range(n.0))
        .collect();

    let planned = content.schedule.planned_steps();
    let steps: Vec<StepReport> = planned
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let to = planned
                .get(i + 1)
                .and_then(|next| next.from.yesterday().ok());
            let on_step = |date: Date| date >= step.from && to.is_none_or(|to| date <= to);
            let days: Vec<&DayReport> = day_reports.iter().filter(|d| on_step(d.date)).collect();
            let on_plan = days
                .iter()
                .filter(|d| d.status == DayStatus::OnPlan)
                .count();
            let mean = |values: &[(Date, f64)]| {
                daily_mean(values.iter().copied().filter(|v| on_step(v.0))).map(|m| m.0)
            };
            let sows_days: Vec<(Date, f64)> = sows.iter().map(|s| (s.0, s.1)).collect();
            StepReport {
                from: step.from,
                to,
                planned_mg: step.planned_mg,
                days_on_step: days.len(),
                adherence: (!days.is_empty()).then(|| on_plan as f64 / days.len() as f64),
                mean_sows: mean(&sows_days),
                mean_sleep_efficiency: mean(&sleep),
                mean_craving: mean(&craving),
            }
        })
        .collect();

    let reached_end_on = planned.last().and_then(|last| {
        day_reports
            .iter()
            .find(|d| d.date >= last.from && d.status == DayStatus::OnPlan)
            .map(|d| d.date)
    });
    let phq9_item9_events = assessments
        .iter()
        .filter(|a| a.instrument == "phq9" && in_range(a.local_date(zone)))
        .filter(|a| a.answer("9").is_some_and(|v| v > 0.0))
        .count();
    PlanReport {
        days: day_reports,
        steps,
        plan: PlanSummary {
            reached_end_on,
            withdrawal_burden_per_week: withdrawal_burden_per_week(&sows),
            phq9_item9_events,
        },
    }
}

const DAY_SECONDS: f64 = 86_400.0;

/// Trapezoid area under the SOWS totals over time (score × days) per week between the
/// first and last SOWS.
fn withdrawal_burden_per_week(sows: &[(Date, f64, &AssessmentFact)]) -> Option<f64> {
    // Keyed by time so two SOWS at one instant do not make a vertical edge of zero width.
    let points: BTreeMap<jiff::Timestamp, f64> =
        sows.iter().map(|s| (s.2.completed_at, s.1)).collect();
    let points: Vec<(jiff::Timestamp, f64)> = points.into_iter().collect();
    let (first, last) = (points.first()?, points.last()?);
    let span_days = last.0.duration_since(first.0).as_secs_f64() / DAY_SECONDS;
    if span_days <= 0.0 {
        return None;
    }
    let area: f64 = points
        .windows(2)
        .map(|w| {
            let width = w[1].0.duration_since(w[0].0).as_secs_f64() / DAY_SECONDS;
            width * (w[0].1 + w[1].1) / 2.0
        })
        .sum();
    Some(area / (span_days / 7.0))
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::instrument::Answer;
    use crate::safety::test_support::{assessment, at, craving, diary, plan};

    fn phq9(item9: f64, completed_at: &str) -> AssessmentFact {
        let mut a = assessment("phq9", 5.0 + item9, at(completed_at));
        a.answers.insert("9".into(), Answer::Number(item9));
        a
    }

    /// 100 mg from 2026-11-01, 80 mg (the end) from 2026-11-08; six days reported
    /// from 2026-11-05 plus one before the plan.
    fn example() -> PlanReport {
        let content = plan(
            &[(date(2026, 11, 1), 100.0), (date(2026, 11, 8), 80.0)],
            60.0,
            120.0,
        )
        .content;
        let days = [
            (date(2026, 10, 31), Some(50.0)),
            (date(2026, 11, 5), Some(100.0)),
            (date(2026, 11, 6), Some(115.0)),
            (date(2026, 11, 7), None),
            (date(2026, 11, 8), Some(80.0)),
            (date(2026, 11, 9), Some(70.0)),
            (date(2026, 11, 10), Some(85.0)),
        ];
        let assessments = [
            assessment("sows", 10.0, at("2026-11-05T00:00Z")),
            assessment("sows", 20.0, at("2026-11-06T00:00Z")),
            assessment("sows", 10.0, at("2026-11-08T00:00Z")),
            assessment("sows", 40.0, at("2026-11-20T00:00Z")),
            craving(4.0, "2026-11-06T08:00Z"),
            craving(6.0, "2026-11-06T20:00Z"),
            craving(3.0, "2026-11-07T20:00Z"),
            // Morning of the 8th: the night of the 7th, on the first step. 96 min awake: 80 %.
            diary("2026-11-08T07:00Z", 96.0),
            // Morning of the 9th: the night of the 8th. 48 min awake: 90 %.
            diary("2026-11-09T07:00Z", 48.0),
            phq9(1.0, "2026-11-06T10:00Z"),
            phq9(0.0, "2026-11-09T10:00Z"),
            phq9(2.0, "2026-11-20T10:00Z"),
        ];
        report(&content, &days, &assessments, &TimeZone::UTC)
    }

    fn close(value: Option<f64>, expected: f64) -> bool {
        value.is_some_and(|v| (v - expected).abs() < 1e-9)
    }

    #[test]
    fn each_day_has_its_planned_mg_taken_mg_and_status_from_the_plans_first_day() {
        let report = example();
        let statuses: Vec<_> = report
            .days
            .iter()
            .map(|d| (d.date.day(), d.planned_mg, d.status.as_str()))
            .collect();
        assert_eq!(
            statuses,
            [
                (5, 100.0, "on_plan"),
                (6, 100.0, "over"),
                (7, 100.0, "no_log"),
                (8, 80.0, "on_plan"),
                (9, 80.0, "under"),
                (10, 80.0, "on_plan"),
            ]
        );
        assert_eq!(report.days[2].taken_mg, None);
    }

    #[test]
    fn each_step_counts_its_days_adherence_and_mean_answers() {
        let report = example();
        let first = &report.steps[0];
        assert_eq!(
            (first.from, first.to),
            (date(2026, 11, 1), Some(date(2026, 11, 7)))
        );
        assert_eq!(first.days_on_step, 3);
        assert!(close(first.adherence, 1.0 / 3.0));
        assert!(close(first.mean_sows, 15.0));
        // The 6th averages 5, the 7th is 3.
        assert!(close(first.mean_craving, 4.0));
        assert!(close(first.mean_sleep_efficiency, 80.0));
        let last = &report.steps[1];
        assert_eq!((last.from, last.to), (date(2026, 11, 8), None));
        assert_eq!(last.days_on_step, 3);
        assert!(close(last.adherence, 2.0 / 3.0));
        assert!(
            close(last.mean_sows, 10.0),
            "the SOWS of the 20th is not reported"
        );
        assert!(close(last.mean_sleep_efficiency, 90.0));
        assert_eq!(last.mean_craving, None);
    }

    #[test]
    fn the_plan_reaches_its_end_on_the_first_on_plan_day_of_the_final_step() {
        assert_eq!(example().plan.reached_end_on, Some(date(2026, 11, 8)));
    }

    #[test]
    fn withdrawal_burden_is_the_area_under_the_sows_curve_per_week() {
        // 10 → 20 over 1 day: 15; 20 → 10 over 2 days: 30. 45 score-days over 3/7 weeks.
        assert!(close(example().plan.withdrawal_burden_per_week, 105.0));
    }

    #[test]
    fn phq9_item9_events_count_answers_above_zero_within_the_days_reported() {
        assert_eq!(example().plan.phq9_item9_events, 1);
    }

    #[test]
    fn a_single_sows_has_no_burden_and_a_plan_never_on_its_end_dose_has_not_reached_it() {
        let content = plan(
            &[(date(2026, 11, 1), 100.0), (date(2026, 11, 8), 80.0)],
            60.0,
            120.0,
        )
        .content;
        let days = [
            (date(2026, 11, 7), Some(100.0)),
            (date(2026, 11, 8), Some(100.0)),
        ];
        let sows = [assessment("sows", 12.0, at("2026-11-08T00:00Z"))];
        let report = report(&content, &days, &sows, &TimeZone::UTC);
        assert_eq!(report.plan.withdrawal_burden_per_week, None);
        assert_eq!(report.plan.reached_end_on, None);
        assert_eq!(report.days[1].status, DayStatus::Over);
    }
}
