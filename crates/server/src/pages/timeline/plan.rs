//! The signed plan on the timeline (issue 12 item 6): its daily target as a step line
//! with its step boundaries on the dose chart, and each day's planned against logged
//! mitragynine in a strip whose lanes (not only their colours) say the status.

use speciosa_app::plans::AdherenceDay;
use speciosa_core::plan::{DayStatus, ON_PLAN_TOLERANCE};

use super::*;

/// Each status's lane of the strip, top to bottom, with its words.
const LANES: [(DayStatus, f64, &str, &str); 4] = [
    (DayStatus::Over, 3.5, "Over", "Above the plan"),
    (DayStatus::OnPlan, 2.5, "On plan", "On plan"),
    (DayStatus::Under, 1.5, "Under", "Below the plan"),
    (DayStatus::NoLog, 0.5, "No log", "Nothing logged"),
];

fn lane(status: DayStatus) -> (f64, &'static str, &'static str) {
    LANES
        .iter()
        .find(|(s, ..)| *s == status)
        .map_or((0.5, "", ""), |(_, y, short, long)| (*y, *short, *long))
}

fn status_class(status: DayStatus) -> &'static str {
    match status {
        DayStatus::OnPlan => "plan-day on",
        DayStatus::Over => "plan-day over",
        DayStatus::Under => "plan-day under",
        DayStatus::NoLog => "plan-day nolog",
    }
}

/// The largest planned target in the range, for the dose chart's scale.
pub(super) fn highest_target(days: &[AdherenceDay]) -> f64 {
    days.iter().map(|d| d.planned_mg).fold(0.0, f64::max)
}

/// Draws the plan's target as a step line across the days it covers, and a vertical line
/// where a step (or a new signed version) begins inside the range.
pub(super) fn draw_target(chart: &mut DayChart, days: &[AdherenceDay], axis: DayAxis, top: f64) {
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut previous: Option<(usize, &AdherenceDay)> = None;
    for day in days {
        let Some(index) = axis.index(day.date) else {
            continue;
        };
        let (left, right) = (axis.left(index), axis.left(index) + axis.column());
        let joined = previous.is_some_and(|(i, _)| i + 1 == index);
        if !joined {
            chart.line(&run, "plan");
            run.clear();
        }
        let changed = match previous {
            Some((_, p)) if joined => {
                p.plan_id != day.plan_id || (p.planned_mg - day.planned_mg).abs() > 1e-9
            }
            // The plan begins inside the range.
            _ => index > 0,
        };
        if changed {
            chart.line(&[(left, 0.0), (left, top)], "plan-step");
        }
        run.push((left, day.planned_mg));
        run.push((right, day.planned_mg));
        previous = Some((index, day));
    }
    chart.line(&run, "plan");
}

/// The key entries for the dose chart's plan marks.
pub(super) fn target_keys(chart: &mut DayChart, words: &Words) {
    chart.key(
        "plan",
        words.pick(
            "Plan target (signed plan, mg per day)",
            "Plan target (mg per day)",
        ),
    );
    chart.key(
        "plan-step",
        words.pick("Plan step begins", "A new step of your plan"),
    );
}

/// The planned-versus-logged strip, or nothing without a plan in the range.
pub(super) fn plan_section(
    days: &[AdherenceDay],
    axis: DayAxis,
    today: Date,
    words: &Words,
) -> Option<Section> {
    let days: Vec<&AdherenceDay> = days
        .iter()
        .filter(|d| axis.index(d.date).is_some())
        .collect();
    if days.is_empty() {
        return None;
    }
    let mut chart = DayChart::new(
        "plan",
        words.pick(
            "Plan: planned versus logged, per day",
            "Your plan and what you logged",
        ),
        Size::Medium,
        axis,
        0.0,
        4.0,
    );
    for (_, y, short, _) in LANES {
        chart.label_at(y, short);
    }
    let mut counts = [0usize; 4];
    let mut rows = Vec::new();
    for day in &days {
        let Some(index) = axis.index(day.date) else {
            continue;
        };
        // Today is not over: below the plan so far is no finding (and never a prompt).
        let under_way =
            day.date == today && matches!(day.status, DayStatus::Under | DayStatus::NoLog);
        let (y, _, long) = lane(day.status);
        let figures = format!(
            "planned {} mg, logged {} mg",
            mg(day.planned_mg),
            mg(day.taken_mg)
        );
        let status_text = if under_way {
            "Today, so far".to_owned()
        } else {
            long.to_owned()
        };
        if !under_way {
            if let Some(n) = LANES.iter().position(|(s, ..)| *s == day.status) {
                counts[n] += 1;
            }
            chart.block(
                index,
                y - 0.4,
                y + 0.4,
                status_class(day.status),
                format!("{}: {figures}: {status_text}", day_label(day.date)),
            );
        }
        rows.push(vec![
            Cell::from(day_label(day.date)),
            Cell::from(mg(day.planned_mg)),
            Cell::from(if day.status == DayStatus::NoLog {
                "—".to_owned()
            } else {
                mg(day.taken_mg)
            }),
            Cell::from(status_text),
        ]);
    }
    let count_text = |n: usize| match n {
        1 => "1 day".to_owned(),
        n => format!("{n} days"),
    };
    for (n, (status, _, _, long)) in LANES.iter().enumerate() {
        chart.key(
            status_class(*status),
            format!("{long}: {}", count_text(counts[n])),
        );
    }
    chart.description = format!(
        "Each day against the plan: {} on plan, {} over, {} under, {} with nothing logged.",
        count_text(counts[1]),
        count_text(counts[0]),
        count_text(counts[2]),
        count_text(counts[3]),
    );
    chart.table = Table {
        caption: words.pick(
            "Planned and logged mitragynine per day",
            "Your plan, day by day",
        ),
        head: ["Day", "Planned (mg)", "Logged (mg)", "Status"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    let tolerance = number_text(ON_PLAN_TOLERANCE * 100.0);
    Some(Section {
        chart,
        intro: if words.for_self {
            format!(
                "Each day's logged mitragynine against your signed plan: on plan means within {tolerance} % of the day's target either way. The lane a day sits in says which."
            )
        } else {
            format!(
                "Each patient-local day against the signed version in force on it: on plan within ±{tolerance} % of the planned mg, over or under beyond it, no log when nothing was logged on a day with a target. The lane carries the status; colour only repeats it."
            )
        },
        sources: Vec::new(),
    })
}
