//! Pregnancy recorded while kratom is being logged.
//!
//! Source: pharmacology.md §5, "Neonatal abstinence syndrome" (Pediatrics
//! 2018;142:e20181839; Paediatr Child Health 2019;24:12; Post 2019: 5 of 7 neonatal
//! exposures had withdrawal).

use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};
use crate::patient::PregnancyStatus;

pub const GUIDANCE: Guidance = Guidance {
    title: "Kratom use during pregnancy",
    consider: "Discuss with the patient now and arrange co-management by her obstetric team \
               and an addiction specialist. Do not advise abrupt cessation without a plan: \
               withdrawal in pregnancy carries its own risk. Consider opioid-agonist care in \
               pregnancy (buprenorphine or methadone), and tell the birth team so the newborn \
               is watched for neonatal opioid withdrawal (reported after kratom in pregnancy). \
               Raised when she is newly recorded as pregnant while using, or when kratom is \
               resumed in pregnancy; not restated while use continues.",
    source: "shared/reference/pharmacology.md §5, Neonatal abstinence syndrome \
             (Pediatrics 2018;142:e20181839; Paediatr Child Health 2019;24:12; Post 2019 Clin Toxicol)",
    evidence: "Case reports and poison-centre series only; no cohort data on kratom in pregnancy.",
};

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    if facts.pregnancy != PregnancyStatus::Pregnant {
        return None;
    }
    let latest = facts.latest_dose_in_use()?;
    // Counted by local day from the daily totals: the days the window touches.
    let doses = facts.doses_in_use_window();
    Some(Finding {
        rule: Rule::PregnancyExposure,
        scope: String::new(),
        // One condition while use continues (see `Recurrence::WhileContinuing`): a
        // change — newly pregnant while using, or kratom resumed — raises it again.
        episode: "pregnant-using".to_owned(),
        summary: format!(
            "Recorded as pregnant; {} kratom dose{} logged in the last 14 days",
            doses,
            if doses == 1 { "" } else { "s" }
        ),
        evidence: json!({
            "pregnancy_status": "pregnant",
            "doses_in_last_14_days": doses,
            "latest_dose_at": latest.taken_at.to_string(),
            "latest_dose_mitragynine_mg": latest.mitragynine_mg,
        }),
        source: Source::Dose(latest.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::test_support::{dose_at, facts, hours_ago};

    #[test]
    fn fires_only_when_pregnant_and_a_dose_is_within_the_window() {
        let mut f = facts();
        f.pregnancy = PregnancyStatus::Pregnant;
        assert!(evaluate(&f).is_none(), "no doses");
        f.doses = vec![dose_at(hours_ago(14 * 24), 50.0)];
        assert!(evaluate(&f).is_none(), "exactly 14 days ago is outside");
        f.doses.push(dose_at(hours_ago(14 * 24 - 1), 50.0));
        let finding = evaluate(&f).unwrap();
        assert_eq!(finding.rule.code(), "pregnancy_exposure");
        f.pregnancy = PregnancyStatus::Postpartum;
        assert!(evaluate(&f).is_none());
    }
}
