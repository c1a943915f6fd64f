//! The patient says at check-in that they took an opioid not prescribed to them. With
//! fentanyl in the illicit supply this is an overdose risk the care team should hear of
//! the same day (pharmacology.md §5, Olsen 2019 MMWR: 79 % of kratom-positive deaths in
//! Florida's data involved an opioid — Suriaga 2024).

use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};

pub const GUIDANCE: Guidance = Guidance {
    title: "Non-prescribed opioid use reported",
    consider: "Contact the patient without judgement: what was taken, how, whether alone. \
               Check naloxone is on hand, review fentanyl test strips and never-use-alone \
               advice, and offer opioid-agonist treatment (buprenorphine or methadone).",
    source: "shared/reference/pharmacology.md §5 (Olsen 2019 MMWR; Suriaga 2024) and \
             plans-and-therapy.md §1.1 (CDC 2022: naloxone) and §6 (buprenorphine)",
    evidence: "Surveillance data and guideline advice; the check-in question is Speciosa's own.",
};

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    let (id, at) = facts.monitoring.reported_opioid_use?;
    if at <= facts.now - super::KRATOM_IN_USE_WINDOW {
        return None;
    }
    Some(Finding {
        rule: Rule::NonPrescribedOpioidUse,
        scope: String::new(),
        episode: format!("assessment:{id}"),
        summary: format!(
            "Reported taking an opioid not prescribed to them (check-in on {})",
            at.to_zoned_datetime(facts.zone.clone()).date()
        ),
        evidence: json!({ "assessment_id": id, "completed_at": at.to_string() }),
        source: Source::Assessment(id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::test_support::{facts, hours_ago};

    #[test]
    fn a_report_in_the_last_two_weeks_fires_once_per_check_in() {
        let mut f = facts();
        assert!(evaluate(&f).is_none());
        let id = crate::ids::AssessmentId::new();
        f.monitoring.reported_opioid_use = Some((id, hours_ago(3)));
        assert_eq!(evaluate(&f).unwrap().episode, format!("assessment:{id}"));
        f.monitoring.reported_opioid_use = Some((id, hours_ago(15 * 24)));
        assert!(evaluate(&f).is_none());
    }
}
