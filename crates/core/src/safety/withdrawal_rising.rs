//! Withdrawal getting worse: a COWS of 13 or more (moderate withdrawal), or a SOWS
//! 10 or more points above the previous SOWS.
//!
//! Sources: instruments.md, COWS row (13–24 moderate; Wesson & Ling 2003 [46]) and SOWS
//! row (no published bands; kratom users' mean 13.5, SD 11.9, Rogers 2024 [57]);
//! pharmacology.md §6.

use jiff::SignedDuration;
use serde_json::json;

use super::{AssessmentFact, Finding, Guidance, PatientFacts, Rule, Source};

pub const GUIDANCE: Guidance = Guidance {
    title: "Withdrawal rising",
    consider: "Review the taper pace and whether the patient is between doses or stopping; \
               treat symptoms, and check hydration with GI symptoms. If a buprenorphine start \
               is being considered: common induction protocols begin once COWS is about 8–12 \
               (mild to moderate withdrawal), so a COWS of 13 or more is already past that \
               point; kratom-specific induction evidence is case-level (VA series: as early \
               as 8 h after the last dose).",
    source: "shared/reference/instruments.md, COWS row (bands, Wesson & Ling 2003 [46]) and SOWS \
             row (Handelsman 1987; Rogers 2024 [57]); pharmacology.md §6 (buprenorphine for \
             kratom use disorder: VA series, Weiss & Douglas 2021). Induction threshold 8–12: \
             common buprenorphine induction protocols (e.g. SAMHSA TIP 63), not in the \
             project's reference dossier",
    evidence: "COWS bands are published; SOWS has none, so the 10-point rise (about one SD in \
               kratom users, Rogers 2024) is a clinic convention.",
};

pub const COWS_MODERATE: f64 = 13.0;
pub const SOWS_RISE: f64 = 10.0;
/// Only a recent score is news; an old one was either acted on or is history.
const RECENT: SignedDuration = SignedDuration::from_hours(7 * 24);

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    let recent = |a: &AssessmentFact| a.completed_at > facts.now - RECENT;
    let mut findings = Vec::new();
    if let Some(cows) = facts
        .assessments_of("cows")
        .last()
        .copied()
        .filter(|a| recent(a))
        && let Some(total) = cows.total.filter(|t| *t >= COWS_MODERATE)
    {
        findings.push(Finding {
            rule: Rule::WithdrawalRising,
            scope: "cows".into(),
            episode: cows.id.to_string(),
            summary: format!("COWS {total:.0} (moderate withdrawal or worse, ≥ 13)"),
            evidence: json!({
                "instrument": "cows",
                "assessment_id": cows.id,
                "total": total,
                "band": cows.band,
                "threshold": COWS_MODERATE,
                "completed_at": cows.completed_at.to_string(),
            }),
            source: Source::Assessment(cows.id),
        });
    }
    let sows = facts.assessments_of("sows");
    if let [.., previous, latest] = sows.as_slice()
        && recent(latest)
        && let (Some(before), Some(now)) = (previous.total, latest.total)
        && now - before >= SOWS_RISE
    {
        findings.push(Finding {
            rule: Rule::WithdrawalRising,
            scope: "sows".into(),
            episode: latest.id.to_string(),
            summary: format!(
                "SOWS up {:.0} points ({before:.0} → {now:.0})",
                now - before
            ),
            evidence: json!({
                "instrument": "sows",
                "assessment_id": latest.id,
                "total": now,
                "previous_total": before,
                "previous_assessment_id": previous.id,
                "rise": now - before,
                "threshold": SOWS_RISE,
                "completed_at": latest.completed_at.to_string(),
                "previous_completed_at": previous.completed_at.to_string(),
            }),
            source: Source::Assessment(latest.id),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::test_support::{assessment, facts, hours_ago};

    #[test]
    fn cows_of_twelve_does_not_fire_and_thirteen_does() {
        let mut f = facts();
        f.assessments = vec![assessment("cows", 12.0, hours_ago(1))];
        assert!(evaluate(&f).is_empty());
        f.assessments = vec![assessment("cows", 13.0, hours_ago(1))];
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].scope, "cows");
    }

    #[test]
    fn only_the_latest_cows_counts() {
        let mut f = facts();
        f.assessments = vec![
            assessment("cows", 20.0, hours_ago(5)),
            assessment("cows", 6.0, hours_ago(1)),
        ];
        assert!(evaluate(&f).is_empty());
    }

    #[test]
    fn sows_up_nine_does_not_fire_and_up_ten_does() {
        let mut f = facts();
        f.assessments = vec![
            assessment("sows", 10.0, hours_ago(30)),
            assessment("sows", 19.0, hours_ago(2)),
        ];
        assert!(evaluate(&f).is_empty());
        f.assessments[1].total = Some(20.0);
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].evidence["rise"], 10.0);
    }

    #[test]
    fn a_single_sows_has_nothing_to_rise_from() {
        let mut f = facts();
        f.assessments = vec![assessment("sows", 40.0, hours_ago(2))];
        assert!(evaluate(&f).is_empty());
    }
}
