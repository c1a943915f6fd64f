//! Withdrawal after a step down: in the days after the plan's latest step down, SOWS
//! rose, COWS reached the plan's threshold, craving rose or sleep efficiency fell. The
//! finding proposes a hold (stay on the current step) or a step back (return to the
//! previous one); nothing changes until a clinician signs a new plan version.
//!
//! Source: plans-and-therapy.md §1.7 (hold and step-back triggers). No guideline or study
//! gives a number for any of these triggers: the thresholds are the plan's
//! [`crate::plan::HoldSettings`], set per patient, whose defaults are a design proposal
//! anchored on the instruments' own bands.

use jiff::Span;
use jiff::civil::Date;
use serde_json::{Value, json};

use super::{
    AssessmentFact, BASELINE_DAYS, Finding, Guidance, PatientFacts, PlanFacts, Rule, Source,
};
use crate::plan::{PlanContent, StepDown};

pub const GUIDANCE: Guidance = Guidance {
    title: "Withdrawal after a step down",
    consider: "Speciosa proposes holding the taper on the current step, or stepping back to the \
               previous one when withdrawal is moderately severe; the plan does not change until \
               a clinician signs a new version. Ask the patient, treat symptoms, and resume \
               once the trigger has settled (the dossier suggests at least 7 days, then a \
               smaller step).",
    source: "shared/reference/plans-and-therapy.md §1.7 (hold and step-back rules: CDC 2022, \
             VA OTDT, ASAM 2025, HHS 2019 — qualitative only); COWS bands, instruments.md \
             (Wesson & Ling 2003 [46])",
    evidence: "No published threshold exists for pausing a taper on withdrawal, craving or \
               sleep (§1.7, \"What is not published\"): these triggers are a design proposal, \
               set per plan by the clinician. Only the COWS bands (13 moderate, 25 moderately \
               severe) are published, and not as taper rules.",
};

/// COWS at which the proposal is a step back: the start of the "moderately severe" band
/// (Wesson & Ling 2003; plans-and-therapy.md §1.7, design proposal).
pub const STEP_BACK_COWS: f64 = 25.0;

/// A SOWS rise this many times the plan's threshold proposes a step back (§1.7's "SOWS ≥
/// clinician threshold", a design proposal).
pub const STEP_BACK_SOWS_FACTOR: f64 = 2.0;

/// Slack for floating-point means: a value exactly at a threshold meets it.
const EPSILON: f64 = 1e-9;

/// The step down still watched on `today`: the plan's latest one on or before today, if
/// it is at most `holds.within_days` days old (a step taken today is watched).
pub fn watched_step(content: &PlanContent, today: Date) -> Option<StepDown> {
    let earliest = today
        .checked_sub(Span::new().days(i64::from(content.holds.within_days)))
        .ok()?;
    content
        .step_downs()
        .into_iter()
        .rfind(|s| s.on <= today)
        .filter(|s| s.on >= earliest)
}

/// The first patient-local day of the baseline before a step.
pub fn baseline_start(step_on: Date) -> Date {
    step_on
        .checked_sub(Span::new().days(BASELINE_DAYS))
        .unwrap_or(step_on)
}

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    let Some(plan) = &facts.plan else {
        return Vec::new();
    };
    let today = facts.today();
    let Some(step) = watched_step(&plan.content, today) else {
        return Vec::new();
    };
    let watch = Watch::new(facts, step);
    let holds = plan.content.holds;
    let mut triggers: Vec<Value> = Vec::new();
    let mut step_back = false;
    // The assessments behind the triggers: the latest is the record the alert opens.
    let mut behind: Vec<&AssessmentFact> = Vec::new();

    let sows = watch.of("sows");
    if let Some(baseline) = sows
        .iter()
        .rfind(|a| !watch.is_after(a) && a.total.is_some())
        && let Some(before) = baseline.total
        && let Some((worst, total)) = sows
            .iter()
            .filter(|a| watch.is_after(a))
            .filter_map(|a| a.total.map(|t| (*a, t)))
            .max_by(|x, y| x.1.total_cmp(&y.1))
        && total - before >= holds.sows_rise - EPSILON
    {
        let rise = total - before;
        step_back |= rise >= STEP_BACK_SOWS_FACTOR * holds.sows_rise - EPSILON;
        behind.push(worst);
        triggers.push(json!({
            "signal": "sows",
            "baseline": before,
            "baseline_assessment_id": baseline.id,
            "baseline_completed_at": baseline.completed_at.to_string(),
            "total": total,
            "assessment_id": worst.id,
            "completed_at": worst.completed_at.to_string(),
            "rise": rise,
            "threshold": holds.sows_rise,
        }));
    }

    if let Some((worst, total)) = watch
        .of("cows")
        .into_iter()
        .filter(|a| watch.is_after(a))
        .filter_map(|a| a.total.map(|t| (a, t)))
        .max_by(|x, y| x.1.total_cmp(&y.1))
        && total >= holds.cows_at_least - EPSILON
    {
        step_back |= total >= STEP_BACK_COWS - EPSILON;
        behind.push(worst);
        triggers.push(json!({
            "signal": "cows",
            "total": total,
            "assessment_id": worst.id,
            "completed_at": worst.completed_at.to_string(),
            "threshold": holds.cows_at_least,
        }));
    }

    let craving: Vec<(Date, f64, &AssessmentFact)> = watch
        .of("craving")
        .into_iter()
        .filter_map(|a| a.craving().map(|c| (a.local_date(&facts.zone), c, a)))
        .collect();
    let before = daily_mean(
        craving
            .iter()
            .filter(|c| c.0 >= watch.baseline_from && c.0 < step.on)
            .map(|c| (c.0, c.1)),
    );
    let after = daily_mean(
        craving
            .iter()
            .filter(|c| c.0 >= step.on && c.0 <= today)
            .map(|c| (c.0, c.1)),
    );
    if let (Some((before, days_before)), Some((after, days_after))) = (before, after)
        && after - before >= holds.craving_rise - EPSILON
    {
        if let Some(last) = craving
            .iter()
            .filter(|c| c.0 >= step.on)
            .map(|c| c.2)
            .next_back()
        {
            behind.push(last);
        }
        triggers.push(json!({
            "signal": "craving",
            "before_mean": before,
            "after_mean": after,
            "rise": after - before,
            "days_before": days_before,
            "days_after": days_after,
            "threshold": holds.craving_rise,
        }));
    }

    let nights: Vec<(Date, f64, &AssessmentFact)> = watch
        .of("sleep_diary")
        .into_iter()
        .filter_map(|a| a.sleep_night(&facts.zone).map(|(n, se)| (n, se, a)))
        .collect();
    let before = daily_mean(
        nights
            .iter()
            .filter(|n| n.0 >= watch.baseline_from && n.0 < step.on)
            .map(|n| (n.0, n.1)),
    );
    let after = daily_mean(nights.iter().filter(|n| n.0 >= step.on).map(|n| (n.0, n.1)));
    if let (Some((before, nights_before)), Some((after, nights_after))) = (before, after)
        && before - after >= holds.sleep_efficiency_drop - EPSILON
    {
        if let Some(last) = nights
            .iter()
            .filter(|n| n.0 >= step.on)
            .map(|n| n.2)
            .next_back()
        {
            behind.push(last);
        }
        triggers.push(json!({
            "signal": "sleep_efficiency",
            "before_mean": before,
            "after_mean": after,
            "drop": before - after,
            "nights_before": nights_before,
            "nights_after": nights_after,
            "threshold": holds.sleep_efficiency_drop,
        }));
    }

    if triggers.is_empty() {
        return Vec::new();
    }
    let latest = behind.into_iter().max_by_key(|a| a.completed_at);
    vec![finding(plan, step, step_back, triggers, latest)]
}

fn finding(
    plan: &PlanFacts,
    step: StepDown,
    step_back: bool,
    triggers: Vec<Value>,
    latest: Option<&AssessmentFact>,
) -> Finding {
    let signals: Vec<String> = triggers.iter().map(describe).collect();
    let (proposal, proposed) = if step_back {
        (
            "step_back",
            format!("step back to {:.0} mg a day", step.from_mg),
        )
    } else {
        ("hold", format!("hold on {:.0} mg a day", step.to_mg))
    };
    Finding {
        rule: Rule::WithdrawalAfterStep,
        scope: String::new(),
        // One alert per step and proposal: a standing alert is folded (its latest evidence
        // updated) when a hold turns into a step back, which an unchanged episode would not.
        episode: format!("{}/{proposal}", step.on),
        summary: format!(
            "After the step down on {} ({:.0} → {:.0} mg): {}. Proposed: {proposed}; nothing \
             changes until a clinician signs a change to the plan",
            step.on,
            step.from_mg,
            step.to_mg,
            signals.join(", ")
        ),
        evidence: json!({
            "plan_id": plan.plan_id,
            "proposal": proposal,
            "step_on": step.on.to_string(),
            "from_mg": step.from_mg,
            "to_mg": step.to_mg,
            "within_days": plan.content.holds.within_days,
            "triggers": triggers,
        }),
        source: latest.map_or(Source::Patient, |a| Source::Assessment(a.id)),
    }
}

/// One trigger in a few words, for the summary line.
fn describe(trigger: &Value) -> String {
    let number = |key: &str| trigger[key].as_f64().unwrap_or_default();
    match trigger["signal"].as_str() {
        Some("sows") => format!(
            "SOWS up {:.0} ({:.0} → {:.0})",
            number("rise"),
            number("baseline"),
            number("total")
        ),
        Some("cows") => format!("COWS {:.0}", number("total")),
        Some("craving") => format!(
            "craving up {:.1} (mean {:.1} → {:.1})",
            number("rise"),
            number("before_mean"),
            number("after_mean")
        ),
        _ => format!(
            "sleep efficiency down {:.0} points ({:.0} % → {:.0} %)",
            number("drop"),
            number("before_mean"),
            number("after_mean")
        ),
    }
}

/// The plan instruments around one step, oldest first.
struct Watch<'a> {
    facts: &'a PatientFacts,
    step: StepDown,
    baseline_from: Date,
}

impl<'a> Watch<'a> {
    fn new(facts: &'a PatientFacts, step: StepDown) -> Self {
        Watch {
            facts,
            step,
            baseline_from: baseline_start(step.on),
        }
    }

    fn of(&self, instrument: &str) -> Vec<&'a AssessmentFact> {
        let mut found: Vec<&AssessmentFact> = self
            .facts
            .plan_assessments
            .iter()
            .filter(|a| a.instrument == instrument && a.completed_at <= self.facts.now)
            .collect();
        found.sort_by_key(|a| a.completed_at);
        found
    }

    /// Completed on or after the step's patient-local day.
    fn is_after(&self, a: &AssessmentFact) -> bool {
        a.local_date(&self.facts.zone) >= self.step.on
    }
}

/// The mean of per-day means (a day with several readings counts once), with the number
/// of days; `None` without any reading.
pub fn daily_mean(values: impl Iterator<Item = (Date, f64)>) -> Option<(f64, usize)> {
    let mut days: std::collections::BTreeMap<Date, (f64, usize)> = Default::default();
    for (day, value) in values {
        let entry = days.entry(day).or_default();
        entry.0 += value;
        entry.1 += 1;
    }
    if days.is_empty() {
        return None;
    }
    let sum: f64 = days.values().map(|(s, n)| s / *n as f64).sum();
    Some((sum / days.len() as f64, days.len()))
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::safety::test_support::{assessment, at, craving, diary, facts, plan};

    /// Today is 2026-11-24. A plan stepping down 100 → 80 mg on 2026-11-20, default holds
    /// (within 14 days; SOWS +10, COWS 13, craving +3, sleep efficiency −10).
    fn stepped(assessments: Vec<AssessmentFact>) -> PatientFacts {
        let mut f = facts();
        f.plan = Some(plan(
            &[(date(2026, 11, 10), 100.0), (date(2026, 11, 20), 80.0)],
            60.0,
            120.0,
        ));
        f.plan_assessments = assessments;
        f
    }

    fn proposal(f: &PatientFacts) -> Option<String> {
        let findings = evaluate(f);
        assert!(findings.len() <= 1, "one finding per step: {findings:?}");
        findings
            .first()
            .map(|f| f.evidence["proposal"].as_str().unwrap().to_owned())
    }

    #[test]
    fn a_sows_ten_above_the_last_one_before_the_step_proposes_a_hold_and_nine_does_not() {
        let mut f = stepped(vec![
            assessment("sows", 30.0, at("2026-11-12T09:00Z")),
            assessment("sows", 10.0, at("2026-11-19T09:00Z")),
            assessment("sows", 19.0, at("2026-11-22T09:00Z")),
        ]);
        assert_eq!(proposal(&f), None);
        f.plan_assessments[2].total = Some(20.0);
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        let e = &findings[0].evidence;
        assert_eq!(e["proposal"], "hold");
        assert_eq!(e["step_on"], "2026-11-20");
        assert_eq!(e["from_mg"], 100.0);
        assert_eq!(e["to_mg"], 80.0);
        assert_eq!(e["triggers"][0]["signal"], "sows");
        assert_eq!(e["triggers"][0]["baseline"], 10.0);
        assert_eq!(e["triggers"][0]["rise"], 10.0);
        assert_eq!(findings[0].episode, "2026-11-20/hold");
        assert_eq!(
            findings[0].source,
            Source::Assessment(f.plan_assessments[2].id)
        );
        assert!(
            findings[0]
                .summary
                .contains("nothing changes until a clinician signs"),
            "{}",
            findings[0].summary
        );
    }

    #[test]
    fn a_sows_rise_of_twice_the_threshold_proposes_a_step_back_to_the_previous_step() {
        let f = stepped(vec![
            assessment("sows", 10.0, at("2026-11-19T09:00Z")),
            assessment("sows", 30.0, at("2026-11-23T09:00Z")),
        ]);
        assert_eq!(proposal(&f).as_deref(), Some("step_back"));
        assert!(evaluate(&f)[0].summary.contains("step back to 100 mg"));
        assert_eq!(evaluate(&f)[0].episode, "2026-11-20/step_back");
    }

    #[test]
    fn cows_at_the_plan_threshold_proposes_a_hold_and_twenty_five_a_step_back() {
        let mut f = stepped(vec![assessment("cows", 12.0, at("2026-11-21T09:00Z"))]);
        assert_eq!(proposal(&f), None);
        f.plan_assessments[0].total = Some(13.0);
        assert_eq!(proposal(&f).as_deref(), Some("hold"));
        f.plan_assessments[0].total = Some(24.0);
        assert_eq!(proposal(&f).as_deref(), Some("hold"));
        f.plan_assessments[0].total = Some(25.0);
        assert_eq!(proposal(&f).as_deref(), Some("step_back"));
    }

    #[test]
    fn a_cows_before_the_step_does_not_count() {
        let f = stepped(vec![assessment("cows", 30.0, at("2026-11-19T23:00Z"))]);
        assert_eq!(proposal(&f), None);
    }

    #[test]
    fn craving_three_above_the_week_before_fires_and_less_does_not() {
        // Before: days 18 and 19 average 2 (day 19 has 1 and 3: one day, mean 2).
        // After: 5 on the 21st and 4.8 on the 23rd (mean 4.9); then 5 and 5.
        let mut f = stepped(vec![
            craving(2.0, "2026-11-18T20:00Z"),
            craving(1.0, "2026-11-19T08:00Z"),
            craving(3.0, "2026-11-19T20:00Z"),
            craving(5.0, "2026-11-21T20:00Z"),
            craving(4.8, "2026-11-23T20:00Z"),
        ]);
        assert_eq!(proposal(&f), None, "mean 4.9 is 2.9 above 2");
        f.plan_assessments[4] = craving(5.0, "2026-11-23T20:00Z");
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        let trigger = &findings[0].evidence["triggers"][0];
        assert_eq!(trigger["signal"], "craving");
        assert_eq!(trigger["before_mean"], 2.0);
        assert_eq!(trigger["after_mean"], 5.0);
        assert_eq!(trigger["days_before"], 2);
        assert_eq!(trigger["days_after"], 2);
        assert_eq!(findings[0].evidence["proposal"], "hold");
    }

    #[test]
    fn craving_older_than_the_week_before_the_step_is_not_the_baseline() {
        // 2026-11-12 is 8 days before the step: outside the baseline week.
        let f = stepped(vec![
            craving(0.0, "2026-11-12T20:00Z"),
            craving(6.0, "2026-11-21T20:00Z"),
        ]);
        assert_eq!(proposal(&f), None, "no baseline, no rise");
    }

    #[test]
    fn sleep_efficiency_ten_points_below_the_week_before_fires_and_less_does_not() {
        // Before: the nights of the 17th and 19th (mornings 18th, 20th), 48 min awake: 90 %.
        // After: the night of the 21st, 95 min awake: 80.2 %; then 96 min: 80 %.
        let mut f = stepped(vec![
            diary("2026-11-18T07:00Z", 48.0),
            diary("2026-11-20T07:00Z", 48.0),
            diary("2026-11-22T07:00Z", 95.0),
        ]);
        assert_eq!(proposal(&f), None);
        f.plan_assessments[2] = diary("2026-11-22T07:00Z", 96.0);
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        let trigger = &findings[0].evidence["triggers"][0];
        assert_eq!(trigger["signal"], "sleep_efficiency");
        assert!((trigger["before_mean"].as_f64().unwrap() - 90.0).abs() < 1e-9);
        assert!((trigger["after_mean"].as_f64().unwrap() - 80.0).abs() < 1e-9);
        assert_eq!(trigger["nights_before"], 2);
        assert_eq!(trigger["nights_after"], 1);
    }

    #[test]
    fn the_diary_of_the_step_days_morning_describes_the_night_before_the_step() {
        // Morning of the 20th: the night of the 19th, still on 100 mg.
        let f = stepped(vec![
            diary("2026-11-18T07:00Z", 0.0),
            diary("2026-11-20T07:00Z", 240.0),
        ]);
        assert_eq!(proposal(&f), None, "both nights are before the step");
    }

    #[test]
    fn nothing_fires_without_a_plan() {
        let mut f = stepped(vec![assessment("cows", 30.0, at("2026-11-21T09:00Z"))]);
        f.plan = None;
        assert!(evaluate(&f).is_empty());
    }

    #[test]
    fn a_rise_before_the_first_step_down_does_not_fire() {
        let f = stepped(vec![
            assessment("sows", 5.0, at("2026-11-12T09:00Z")),
            assessment("sows", 30.0, at("2026-11-18T09:00Z")),
            assessment("cows", 20.0, at("2026-11-18T10:00Z")),
        ]);
        assert_eq!(proposal(&f), None);
    }

    #[test]
    fn a_step_down_watched_for_fourteen_days_is_still_watched_on_the_fourteenth_only() {
        let cows = vec![assessment("cows", 20.0, at("2026-11-23T09:00Z"))];
        let mut f = stepped(cows.clone());
        // Stepped down on the 10th: 14 days before today, the last watched day.
        f.plan = Some(plan(
            &[(date(2026, 11, 1), 100.0), (date(2026, 11, 10), 80.0)],
            60.0,
            120.0,
        ));
        assert_eq!(proposal(&f).as_deref(), Some("hold"));
        assert_eq!(evaluate(&f)[0].episode, "2026-11-10/hold");
        // On the 9th: 15 days ago, no longer watched.
        f.plan = Some(plan(
            &[(date(2026, 11, 1), 100.0), (date(2026, 11, 9), 80.0)],
            60.0,
            120.0,
        ));
        assert_eq!(proposal(&f), None);
    }

    #[test]
    fn only_the_latest_step_down_is_watched_and_a_future_one_is_not_yet() {
        let steps = [
            (date(2026, 11, 10), 100.0),
            (date(2026, 11, 17), 90.0),
            (date(2026, 11, 22), 80.0),
            (date(2026, 11, 30), 70.0),
        ];
        let f = {
            let mut f = stepped(vec![
                assessment("sows", 10.0, at("2026-11-18T09:00Z")),
                assessment("sows", 21.0, at("2026-11-21T09:00Z")),
            ]);
            f.plan = Some(plan(&steps, 60.0, 120.0));
            f
        };
        // The rise came after the 17th's step, but the 22nd's is the one watched and the
        // last SOWS before it (21) is its baseline.
        assert_eq!(proposal(&f), None);
        let step = watched_step(&f.plan.as_ref().unwrap().content, f.today()).unwrap();
        assert_eq!(
            (step.on, step.from_mg, step.to_mg),
            (date(2026, 11, 22), 90.0, 80.0)
        );
    }

    #[test]
    fn every_trigger_is_in_the_evidence_and_the_summary() {
        let f = stepped(vec![
            assessment("sows", 10.0, at("2026-11-19T09:00Z")),
            assessment("sows", 22.0, at("2026-11-21T09:00Z")),
            assessment("cows", 14.0, at("2026-11-22T09:00Z")),
        ]);
        let findings = evaluate(&f);
        let signals: Vec<_> = findings[0].evidence["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["signal"].as_str().unwrap())
            .collect();
        assert_eq!(signals, ["sows", "cows"]);
        assert!(findings[0].summary.contains("SOWS up 12 (10 → 22)"));
        assert!(findings[0].summary.contains("COWS 14"));
        assert!(findings[0].summary.contains("hold on 80 mg"));
        assert_eq!(
            findings[0].source,
            Source::Assessment(f.plan_assessments[2].id),
            "the latest trigger's assessment"
        );
    }
}
