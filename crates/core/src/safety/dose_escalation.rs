//! Mitragynine taken in the last 7 days up by 25 % or more on the 7 days before, by
//! patient-local day (today and the 6 days before, against the 7 before those), read
//! from the maintained daily totals; and the same check for 7-OH on its own
//! (`hydroxymitragynine_escalation`), since concentrated 7-OH products escalate apart
//! from leaf.
//!
//! Two things are not escalation (issue 15 item 5): a week whose milligrams rose only
//! because their source changed (natural-leaf estimates one week, the batch's assay the
//! next) while the amount of product did not rise by the threshold; and totals under a
//! floor, where a few milligrams more make a large percentage of very little. Nor are
//! two weeks compared when the earlier one has a smaller share of doses with known
//! mitragynine (unassayed capsules and extracts carry no milligrams, issue 14): its
//! total is too low by an unknown amount, so the later week would look like a rise.
//!
//! Source: pharmacology.md §3 and §6 (tolerance in 87 % of dependent users, Singh 2019;
//! negative effects cluster at high dose, Grundmann 2017) and §5 (liver injury 2–7 weeks
//! after *increasing* kratom). The 25 % threshold is a clinic convention from the issue,
//! not a published cut-off.

use std::collections::BTreeSet;

use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::json;

use super::{DayTotal, DoseFact, Finding, Guidance, PatientFacts, Rule, Source};

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

pub const HYDROXY_GUIDANCE: Guidance = Guidance {
    title: "7-OH escalation",
    consider: "Rising 7-OH means a concentrated 7-OH product is being used more: its respiratory \
               depression did not plateau in animal studies, unlike mitragynine's. Ask about the \
               product and amount, review naloxone and the plan; Speciosa never advises raising a dose.",
    source: "shared/reference/pharmacology.md §2 (natural 7-OH content; FDA 2025 action) and §5 \
             (7-OH respiratory depression, Hill 2022); legal-and-products.md §3.8 (2 mg per serving)",
    evidence: "A clinic convention (25 % week on week above 2 mg a day), not a validated cut-off; \
               predicted 7-OH exposure from direct dosing is highly uncertain.",
};

/// Days in a week, compared with the week before it.
const WEEK_DAYS: i64 = 7;
/// Up by 25 % or more.
pub const ESCALATION_RATIO: f64 = 1.25;

/// Below this much mitragynine in the last 7 days nothing is escalation: 105 mg is 15 mg a
/// day, about one light dose of leaf (1 g at ~1.5 % mitragynine; light doses are
/// 0.5–1.5 g and 1–3 g the most common, pharmacology.md §3, TripSit and Garcia-Romeu 2020;
/// leaf 10–25 mg/g, §2). Under one light dose a day, a rise is not a clinical signal.
pub const MITRAGYNINE_FLOOR_MG_PER_WEEK: f64 = 105.0;

/// Below this much 7-OH in the last 7 days nothing is escalation: 14 mg is 2 mg a day, the
/// per-serving amount that marks an enhanced product (a generous 4 g leaf serving holds
/// about 0.4–1.6 mg; legal-and-products.md §3.8 rule 4). Leaf-only users stay below it.
pub const HYDROXY_FLOOR_MG_PER_WEEK: f64 = 14.0;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Alkaloid {
    Mitragynine,
    Hydroxymitragynine,
}

impl Alkaloid {
    fn of_day(self, day: &DayTotal) -> f64 {
        match self {
            Alkaloid::Mitragynine => day.mitragynine_mg,
            Alkaloid::Hydroxymitragynine => day.hydroxymitragynine_mg,
        }
    }

    fn of_dose(self, dose: &DoseFact) -> Option<f64> {
        match self {
            Alkaloid::Mitragynine => dose.mitragynine_mg,
            Alkaloid::Hydroxymitragynine => dose.hydroxymitragynine_mg,
        }
    }
}

/// What the doses of one week say about where their milligrams came from.
struct WeekDoses {
    bases: BTreeSet<&'static str>,
    product_amount: f64,
    /// Every dose of the week is among the doses read one by one, with a known amount.
    complete: bool,
}

fn week_doses(
    facts: &PatientFacts,
    alkaloid: Alkaloid,
    from: Date,
    to: Date,
    expected: usize,
) -> WeekDoses {
    let doses: Vec<&DoseFact> = facts
        .doses
        .iter()
        .filter(|d| d.taken_at <= facts.now && d.local_date >= from && d.local_date <= to)
        .collect();
    WeekDoses {
        bases: doses
            .iter()
            .filter(|d| alkaloid.of_dose(d).is_some())
            .map(|d| d.basis.as_str())
            .collect(),
        product_amount: doses.iter().filter_map(|d| d.product_amount).sum(),
        complete: doses.len() == expected && doses.iter().all(|d| d.product_amount.is_some()),
    }
}

/// Whether two weeks' mitragynine totals can be compared, from each week's (doses,
/// doses without mitragynine mg): only when the earlier week's share of doses with known
/// milligrams is at least the later week's. A dose without milligrams (an unassayed
/// capsule or extract, which may hold anything from leaf to extract strength,
/// pharmacology.md §2) hides an unknown amount from its week's total; when the earlier
/// week hides no larger a share, the hidden doses cannot make the later week look like
/// a rise, and when it hides none at all the later total is a lower bound, so a rise of
/// 25 % or more (the clinic convention above) is real. Equal shares are compared: the
/// same mix of products week on week is the patient's routine. Any other rule would
/// need the unknown doses estimated, which is what issue 14 stopped doing.
fn comparable_shares(previous: (usize, usize), recent: (usize, usize)) -> bool {
    let known = |(doses, without): (usize, usize)| doses.saturating_sub(without);
    // known_previous / doses_previous >= known_recent / doses_recent, without division.
    known(previous) * recent.0 >= known(recent) * previous.0
}

fn escalation(facts: &PatientFacts, alkaloid: Alkaloid) -> Option<Finding> {
    let (rule, floor, name) = match alkaloid {
        Alkaloid::Mitragynine => (
            Rule::DoseEscalation,
            MITRAGYNINE_FLOOR_MG_PER_WEEK,
            "Mitragynine",
        ),
        Alkaloid::Hydroxymitragynine => (
            Rule::HydroxymitragynineEscalation,
            HYDROXY_FLOOR_MG_PER_WEEK,
            "7-OH",
        ),
    };
    let today = facts.today();
    let recent_from = today.checked_sub((WEEK_DAYS - 1).days()).ok()?;
    let previous_from = today.checked_sub((2 * WEEK_DAYS - 1).days()).ok()?;
    let previous_to = today.checked_sub(WEEK_DAYS.days()).ok()?;
    let previous_days = facts.days_between(previous_from, previous_to);
    let recent_days = facts.days_between(recent_from, today);
    let sum = |days: &[&DayTotal]| -> (f64, usize, usize) {
        (
            days.iter().map(|d| alkaloid.of_day(d)).sum(),
            days.iter().map(|d| d.doses).sum(),
            days.iter().map(|d| d.doses_without_mitragynine).sum(),
        )
    };
    let (previous_mg, previous_doses, previous_unquantified) = sum(&previous_days);
    let (recent_mg, recent_doses, recent_unquantified) = sum(&recent_days);
    // No earlier week to compare with: starting is not escalating.
    if previous_mg <= 0.0 || recent_mg < previous_mg * ESCALATION_RATIO || recent_mg < floor {
        return None;
    }
    if alkaloid == Alkaloid::Mitragynine
        && !comparable_shares(
            (previous_doses, previous_unquantified),
            (recent_doses, recent_unquantified),
        )
    {
        return None;
    }
    // The milligrams rose; did the product taken rise too, or only the source of the figure?
    let previous = week_doses(facts, alkaloid, previous_from, previous_to, previous_doses);
    let recent = week_doses(facts, alkaloid, recent_from, today, recent_doses);
    if previous.complete
        && recent.complete
        && previous.bases != recent.bases
        && previous.product_amount > 0.0
        && recent.product_amount < previous.product_amount * ESCALATION_RATIO
    {
        return None;
    }
    let increase_pct = (recent_mg / previous_mg - 1.0) * 100.0;
    let latest = facts
        .doses
        .iter()
        .filter(|d| d.taken_at <= facts.now && d.local_date >= recent_from)
        .max_by_key(|d| d.taken_at)?;
    let key = match alkaloid {
        Alkaloid::Mitragynine => "mitragynine",
        Alkaloid::Hydroxymitragynine => "hydroxymitragynine",
    };
    Some(Finding {
        rule,
        scope: String::new(),
        episode: facts.iso_week(),
        summary: format!(
            "{name} {recent_mg:.0} mg in the last 7 days vs {previous_mg:.0} mg the week before (+{increase_pct:.0} %)"
        ),
        evidence: json!({
            format!("last_7_days_{key}_mg"): round1(recent_mg),
            format!("previous_7_days_{key}_mg"): round1(previous_mg),
            "increase_percent": round1(increase_pct),
            "threshold_percent": 25,
            "floor_mg_per_week": floor,
            "last_7_days_doses": recent_doses,
            "previous_7_days_doses": previous_doses,
            "doses_without_milligrams": recent_unquantified + previous_unquantified,
            "bases_last_7_days": recent.bases,
            "bases_previous_7_days": previous.bases,
            "window_end": facts.now.to_string(),
        }),
        source: Source::Dose(latest.id),
    })
}

/// Mitragynine escalation (`dose_escalation`).
pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    escalation(facts, Alkaloid::Mitragynine)
}

/// 7-OH escalation on its own (`hydroxymitragynine_escalation`).
pub fn evaluate_hydroxy(facts: &PatientFacts) -> Option<Finding> {
    escalation(facts, Alkaloid::Hydroxymitragynine)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dose::ExposureBasis;
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

    #[test]
    fn a_week_under_the_floor_is_not_escalation_and_one_at_the_floor_is() {
        // Doubling from 52.5 to 104.9 mg a week stays under one light dose a day.
        assert!(evaluate(&weeks(52.5, 104.9)).is_none());
        assert!(evaluate(&weeks(52.5, MITRAGYNINE_FLOOR_MG_PER_WEEK)).is_some());
    }

    /// The same 8 g a week, first estimated from natural-leaf ranges (16 mg/g), then from
    /// the batch's assay (`assay_mg_per_g`); `recent_grams` of it the second week.
    fn switch(assay_mg_per_g: f64, recent_grams: f64) -> PatientFacts {
        let mut before = dose_at(hours_ago(10 * 24), 8.0 * 16.0);
        before.basis = ExposureBasis::Estimate;
        before.product_amount = Some(8.0);
        let mut after = dose_at(hours_ago(24), recent_grams * assay_mg_per_g);
        after.product_amount = Some(recent_grams);
        with_doses(facts(), vec![before, after])
    }

    #[test]
    fn a_rise_only_from_an_estimate_becoming_an_assay_is_not_escalation() {
        // 8 g estimated at 128 mg, then the same 8 g assayed at 24 mg/g = 192 mg (+50 %).
        assert!(evaluate(&switch(24.0, 8.0)).is_none());
        // 9.9 g is +23.75 % of product: still only the source changed enough to fire.
        assert!(evaluate(&switch(24.0, 9.9)).is_none());
        // 10 g is +25 % of product as well: a real increase.
        let finding = evaluate(&switch(24.0, 10.0)).unwrap();
        assert_eq!(finding.evidence["bases_previous_7_days"][0], "estimate");
        assert_eq!(finding.evidence["bases_last_7_days"][0], "assay");
    }

    #[test]
    fn the_same_basis_both_weeks_is_judged_on_milligrams() {
        let mut f = switch(24.0, 8.0);
        for dose in &mut f.doses {
            dose.basis = ExposureBasis::Assay;
        }
        assert!(evaluate(&f).is_some());
    }

    fn hydroxy_weeks(previous_mg: f64, recent_mg: f64) -> PatientFacts {
        let mut previous = dose_at(hours_ago(10 * 24), 10.0);
        previous.hydroxymitragynine_mg = Some(previous_mg);
        let mut recent = dose_at(hours_ago(24), 10.0);
        recent.hydroxymitragynine_mg = Some(recent_mg);
        with_doses(facts(), vec![previous, recent])
    }

    #[test]
    fn seven_oh_escalates_on_its_own_above_two_mg_a_day() {
        let finding = evaluate_hydroxy(&hydroxy_weeks(40.0, 50.0)).unwrap();
        assert_eq!(finding.rule.code(), "hydroxymitragynine_escalation");
        assert_eq!(finding.evidence["last_7_days_hydroxymitragynine_mg"], 50.0);
        assert!(evaluate_hydroxy(&hydroxy_weeks(40.0, 49.9)).is_none());
        // Leaf-level 7-OH (under 2 mg a day) is not a signal however it moves.
        assert!(evaluate_hydroxy(&hydroxy_weeks(5.0, 13.9)).is_none());
        assert!(evaluate_hydroxy(&hydroxy_weeks(5.0, HYDROXY_FLOOR_MG_PER_WEEK)).is_some());
        // Mitragynine did not change, so dose_escalation stays quiet.
        assert!(evaluate(&hydroxy_weeks(40.0, 50.0)).is_none());
    }

    /// A dose of an unassayed capsule: no milligrams, as the store records it.
    fn capsule_at(hours: i64) -> DoseFact {
        let mut capsule = dose_at(hours_ago(hours), 0.0);
        capsule.mitragynine_mg = None;
        capsule.hydroxymitragynine_mg = None;
        capsule.basis = ExposureBasis::Unknown;
        capsule
    }

    #[test]
    fn a_week_with_unestimated_capsules_then_a_week_of_assayed_leaf_is_not_escalation() {
        // 120 mg of leaf and four capsules of unknown strength, then 160 mg of leaf alone:
        // +33 % in milligrams, but the earlier week's total missed its capsules.
        let mut doses = vec![dose_at(hours_ago(10 * 24), 120.0)];
        doses.extend((0..4).map(|i| capsule_at(9 * 24 + i)));
        doses.push(dose_at(hours_ago(24), 160.0));
        assert!(evaluate(&with_doses(facts(), doses.clone())).is_none());
        // A week of capsules alone has nothing to compare with either.
        let capsules_only: Vec<DoseFact> = (0..4)
            .map(|i| capsule_at(9 * 24 + i))
            .chain([dose_at(hours_ago(24), 160.0)])
            .collect();
        assert!(evaluate(&with_doses(facts(), capsules_only)).is_none());
    }

    #[test]
    fn a_real_rise_still_fires_when_every_dose_is_known_or_only_the_later_week_has_unknowns() {
        let all_known = with_doses(
            facts(),
            vec![
                dose_at(hours_ago(10 * 24), 60.0),
                dose_at(hours_ago(9 * 24), 60.0),
                dose_at(hours_ago(2 * 24), 80.0),
                dose_at(hours_ago(24), 80.0),
            ],
        );
        let finding = evaluate(&all_known).unwrap();
        assert_eq!(finding.evidence["increase_percent"], 33.3);
        // The later week's capsule only hides milligrams from it: 160 mg is a lower bound.
        let mut doses = all_known.doses.clone();
        doses.push(capsule_at(12));
        assert!(evaluate(&with_doses(facts(), doses)).is_some());
        // The same share of capsules each week is the same routine, and compared.
        let mut doses = all_known.doses.clone();
        doses.push(capsule_at(9 * 24 + 1));
        doses.push(capsule_at(12));
        let finding = evaluate(&with_doses(facts(), doses)).unwrap();
        assert_eq!(finding.evidence["doses_without_milligrams"], 2);
    }

    #[test]
    fn shares_of_known_doses_are_compared_without_rounding() {
        assert!(comparable_shares((3, 0), (3, 1)));
        assert!(comparable_shares((3, 1), (6, 2)));
        assert!(!comparable_shares((3, 1), (6, 1)));
        assert!(!comparable_shares((21, 1), (21, 0)));
    }
}
