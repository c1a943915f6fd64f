//! Over the plan: a patient-local day's mitragynine above the signed plan's per-day
//! maximum, or one dose above its per-dose maximum. The dose is logged as taken (the
//! truth is never refused); the care team sees it.
//!
//! Source: the plan the clinician signed (plans-and-therapy.md §0, "Taper calculator",
//! and §1: the maxima are the clinician's, not a published number) and issue 12, item 7.

use jiff::SignedDuration;
use jiff::civil::Date;
use serde_json::json;

use super::{Finding, Guidance, PatientFacts, PlanFacts, Rule, Source};

pub const GUIDANCE: Guidance = Guidance {
    title: "Dose above the plan",
    consider: "Ask what happened (withdrawal, a stressful day, a stronger product, a logging \
               mistake) before changing anything. A repeated overshoot may mean the current \
               step is too low or too fast: consider holding the taper. Nothing changes until \
               a clinician signs a new plan version.",
    source: "the patient's signed plan (its per-dose and per-day maxima); \
             shared/reference/plans-and-therapy.md §0 and §1 (issue 12, item 7)",
    evidence: "The maxima are the signing clinician's, set for this patient; no published \
               kratom dose limit exists.",
};

/// Single doses this recent are checked. The rule runs after every dose written and on
/// every scheduled pass, so an older dose was already judged when it was logged; two days
/// leave room for a dose entered late the next day.
pub const DOSE_WINDOW: SignedDuration = SignedDuration::from_hours(48);

/// Slack for floating-point sums: a day exactly at the maximum is not above it.
const EPSILON: f64 = 1e-9;

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    let Some(plan) = &facts.plan else {
        return Vec::new();
    };
    let Some(first_step) = plan
        .content
        .schedule
        .planned_steps()
        .first()
        .map(|s| s.from)
    else {
        return Vec::new();
    };
    let today = facts.today();
    // Today and yesterday only, for the same reason as DOSE_WINDOW.
    let yesterday = today.yesterday().unwrap_or(today);
    let mut findings = Vec::new();
    let per_day = plan.content.per_day_max_mg;
    for day in facts.days_between(yesterday.max(first_step), today) {
        if day.mitragynine_mg > per_day + EPSILON {
            findings.push(day_finding(facts, plan, day.date, day.mitragynine_mg));
        }
    }
    let per_dose = plan.content.per_dose_max_mg;
    for dose in facts.doses_within(DOSE_WINDOW) {
        let Some(mg) = dose.mitragynine_mg else {
            continue;
        };
        if dose.local_date >= first_step && mg > per_dose + EPSILON {
            findings.push(Finding {
                rule: Rule::DoseAbovePlan,
                scope: "dose".into(),
                episode: dose.id.to_string(),
                summary: format!(
                    "A dose of {mg:.0} mg mitragynine, above the plan's {per_dose:.0} mg per dose"
                ),
                evidence: json!({
                    "plan_id": plan.plan_id,
                    "kind": "dose",
                    "dose_id": dose.id,
                    "taken_at": dose.taken_at.to_string(),
                    "date": dose.local_date.to_string(),
                    "mitragynine_mg": mg,
                    "per_dose_max_mg": per_dose,
                }),
                source: Source::Dose(dose.id),
            });
        }
    }
    findings
}

fn day_finding(facts: &PatientFacts, plan: &PlanFacts, date: Date, mg: f64) -> Finding {
    let per_day = plan.content.per_day_max_mg;
    // The day's latest dose, when the rules read it, is the record to open.
    let latest = facts
        .doses
        .iter()
        .filter(|d| d.local_date == date)
        .max_by_key(|d| d.taken_at);
    Finding {
        rule: Rule::DoseAbovePlan,
        scope: "day".into(),
        episode: date.to_string(),
        summary: format!(
            "{mg:.0} mg mitragynine on {date}, above the plan's {per_day:.0} mg per day"
        ),
        evidence: json!({
            "plan_id": plan.plan_id,
            "kind": "day",
            "date": date.to_string(),
            "mitragynine_mg": mg,
            "per_day_max_mg": per_day,
        }),
        source: latest.map_or(Source::Patient, |d| Source::Dose(d.id)),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::safety::test_support::{dose_at, facts, hours_ago, plan, with_doses};

    /// A plan from 2026-11-01 at 100 mg a day, at most 40 mg a dose and 120 mg a day.
    fn planned() -> PatientFacts {
        let mut f = facts();
        f.plan = Some(plan(&[(date(2026, 11, 1), 100.0)], 40.0, 120.0));
        f
    }

    #[test]
    fn a_day_over_the_per_day_maximum_fires_and_one_at_it_does_not() {
        let f = with_doses(
            planned(),
            vec![
                dose_at(hours_ago(6), 40.0),
                dose_at(hours_ago(4), 40.0),
                dose_at(hours_ago(2), 40.0),
            ],
        );
        assert!(
            evaluate(&f).is_empty(),
            "120 mg is the maximum, not above it"
        );
        let f = with_doses(
            planned(),
            vec![
                dose_at(hours_ago(6), 40.0),
                dose_at(hours_ago(4), 40.0),
                dose_at(hours_ago(2), 41.0),
            ],
        );
        let findings = evaluate(&f);
        assert_eq!(
            findings.len(),
            2,
            "the day and the 41 mg dose: {findings:?}"
        );
        let day = findings.iter().find(|f| f.scope == "day").unwrap();
        assert_eq!(day.episode, "2026-11-24");
        assert_eq!(day.evidence["mitragynine_mg"], 121.0);
        assert_eq!(day.evidence["per_day_max_mg"], 120.0);
        assert_eq!(day.source.kind(), "dose");
    }

    #[test]
    fn a_single_dose_over_the_per_dose_maximum_fires_with_the_dose_as_its_episode() {
        let dose = dose_at(hours_ago(3), 50.0);
        let id = dose.id;
        let f = with_doses(planned(), vec![dose]);
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].scope, "dose");
        assert_eq!(findings[0].episode, id.to_string());
        assert_eq!(findings[0].source, Source::Dose(id));
        assert_eq!(findings[0].evidence["per_dose_max_mg"], 40.0);
        assert_eq!(findings[0].evidence["mitragynine_mg"], 50.0);
        assert!(findings[0].evidence["plan_id"].is_string());
    }

    #[test]
    fn a_dose_at_the_per_dose_maximum_does_not_fire() {
        let f = with_doses(planned(), vec![dose_at(hours_ago(3), 40.0)]);
        assert!(evaluate(&f).is_empty());
    }

    #[test]
    fn nothing_fires_without_a_plan() {
        let f = with_doses(facts(), vec![dose_at(hours_ago(3), 500.0)]);
        assert!(evaluate(&f).is_empty());
    }

    #[test]
    fn days_and_doses_before_the_plan_began_do_not_fire() {
        let mut f = with_doses(
            facts(),
            vec![dose_at(hours_ago(30), 200.0), dose_at(hours_ago(3), 20.0)],
        );
        // The plan begins today (2026-11-24); yesterday's 200 mg was before it.
        f.plan = Some(plan(&[(date(2026, 11, 24), 100.0)], 40.0, 120.0));
        assert!(evaluate(&f).is_empty());
        f.plan = Some(plan(&[(date(2026, 11, 23), 100.0)], 40.0, 120.0));
        assert_eq!(evaluate(&f).len(), 2, "yesterday's day total and its dose");
    }

    #[test]
    fn only_today_yesterday_and_the_last_two_days_of_doses_are_read() {
        let f = with_doses(
            planned(),
            vec![dose_at(hours_ago(49), 200.0), dose_at(hours_ago(47), 60.0)],
        );
        let findings = evaluate(&f);
        let scopes: Vec<_> = findings.iter().map(|f| f.scope.as_str()).collect();
        // 49 h ago is 2026-11-22: older than yesterday, and outside the dose window.
        assert_eq!(scopes, ["dose"]);
        assert_eq!(findings[0].evidence["mitragynine_mg"], 60.0);
    }
}
