//! Mitragynine taken in the last 7 days up by 25 % or more on the 7 days before, by
//! patient-local day (today and the 6 days before, against the 7 before those), read
//! from the maintained daily totals.
//!
//! Source: pharmacology.md §3 and §6 (tolerance in 87 % of dependent users, Singh 2019;
//! negative effects cluster at high dose, Grundmann 2017) and §5 (liver injury 2–7 weeks
//! after *increasing* kratom). The 25 % threshold is a clinic convention from the issue,
//! not a published cut-off.

use jiff::ToSpan;
use serde_json::json;

use super::{DayTotal, Finding, Guidance, PatientFacts, Rule, Source};

pub const GUIDANCE: Guidance = Guidance {
    title: "Dose escalation",
    consider: "Ask what changed: tolerance, more pain, low mood, a new product or stressors. \
               Check for withdrawal between doses and red-flag liver symptoms, which follow \
               increases. Review the plan with the patient; Speciosa never advises raising a dose.",
    source: "shared/reference/pharmacology.md §3 (Grundmann 2017), §5 (liver injury after \
             increasing kratom) and §6 (tolerance, Singh 2019)",
    evidence: "The 25 % week-on-week threshold is a clinical convention, not a validated cut-off. \
               Estimated (unassayed) milligrams are uncertain; the evidence says how many were.",
};

/// Days in a week, compared with the week before it.
const WEEK_DAYS: i64 = 7;
/// Up by 25 % or more.
pub const ESCALATION_RATIO: f64 = 1.25;

/// Mitragynine mg, doses, and doses without milligrams over some days.
fn total_mg(days: &[&DayTotal]) -> (f64, usize, usize) {
    let total = days.iter().map(|d| d.mitragynine_mg).sum();
    let doses = days.iter().map(|d| d.doses).sum();
    let unquantified = days.iter().map(|d| d.doses_without_mitragynine).sum();
    (total, doses, unquantified)
}

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    let today = facts.today();
    let recent_from = today.checked_sub((WEEK_DAYS - 1).days()).ok()?;
    let previous_from = today.checked_sub((2 * WEEK_DAYS - 1).days()).ok()?;
    let previous_to = today.checked_sub(WEEK_DAYS.days()).ok()?;
    let (previous_mg, previous_doses, previous_unquantified) =
        total_mg(&facts.days_between(previous_from, previous_to));
    let (recent_mg, recent_doses, recent_unquantified) =
        total_mg(&facts.days_between(recent_from, today));
    // No earlier week to compare with: starting is not escalating.
    if previous_mg <= 0.0 || recent_mg < previous_mg * ESCALATION_RATIO {
        return None;
    }
    let increase_pct = (recent_mg / previous_mg - 1.0) * 100.0;
    let latest = facts
        .doses
        .iter()
        .filter(|d| d.taken_at <= facts.now && d.local_date >= recent_from)
        .max_by_key(|d| d.taken_at)?;
    Some(Finding {
        rule: Rule::DoseEscalation,
        scope: String::new(),
        episode: facts.iso_week(),
        summary: format!(
            "Mitragynine {recent_mg:.0} mg in the last 7 days vs {previous_mg:.0} mg the week before (+{increase_pct:.0} %)"
        ),
        evidence: json!({
            "last_7_days_mitragynine_mg": round1(recent_mg),
            "previous_7_days_mitragynine_mg": round1(previous_mg),
            "increase_percent": round1(increase_pct),
            "threshold_percent": 25,
            "last_7_days_doses": recent_doses,
            "previous_7_days_doses": previous_doses,
            "doses_without_milligrams": recent_unquantified + previous_unquantified,
            "window_end": facts.now.to_string(),
        }),
        source: Source::Dose(latest.id),
    })
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::test_support::{dose_at, facts, hours_ago, with_doses};

    fn weeks(previous_mg: f64, recent_mg: f64) -> PatientFacts {
        with_doses(
            facts(),
            vec![
                dose_at(hours_ago(10 * 24), previous_mg),
                dose_at(hours_ago(24), recent_mg),
            ],
        )
    }

    #[test]
    fn exactly_twenty_five_percent_more_fires_and_just_under_does_not() {
        assert!(evaluate(&weeks(100.0, 124.9)).is_none());
        let finding = evaluate(&weeks(100.0, 125.0)).unwrap();
        assert_eq!(finding.rule.code(), "dose_escalation");
        assert_eq!(finding.evidence["increase_percent"], 25.0);
    }

    #[test]
    fn a_first_week_of_use_is_not_escalation() {
        let f = with_doses(facts(), vec![dose_at(hours_ago(24), 500.0)]);
        assert!(evaluate(&f).is_none());
    }

    #[test]
    fn a_dose_exactly_seven_days_ago_counts_in_the_earlier_week() {
        let f = with_doses(
            facts(),
            vec![
                dose_at(hours_ago(7 * 24), 100.0),
                dose_at(hours_ago(1), 120.0),
            ],
        );
        assert!(evaluate(&f).is_none(), "120 is +20 % on 100");
    }
}
