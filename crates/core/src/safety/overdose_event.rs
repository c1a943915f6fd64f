//! An overdose, recorded by a clinician or reported by the patient: each one is urgent.
//! Overdose deaths with kratom almost always involve other substances, opioids above
//! all (pharmacology.md §5, Deaths and respiratory depression: Olsen 2019 MMWR;
//! Suriaga 2024); after a non-fatal overdose the risk of another is high, so each is
//! a reason to act now.

use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};
use crate::monitoring::OVERDOSE_ALERT_WINDOW;

pub const GUIDANCE: Guidance = Guidance {
    title: "Overdose",
    consider: "Contact the patient (or their emergency contact) today. Make sure naloxone is \
               on hand and that people around them know how to use it; replace any kit that \
               was used. Review what was taken (7-OH products, other opioids including \
               fentanyl, benzodiazepines, alcohol) and offer opioid-agonist treatment \
               (buprenorphine or methadone). Review the plan: no dose increases until seen.",
    source: "shared/reference/pharmacology.md §5 Deaths and respiratory depression (Olsen 2019 \
             MMWR; Corkery 2019; Suriaga 2024; Hill 2022) and §4 Dangerous combinations; \
             plans-and-therapy.md §1.1 (CDC 2022: overdose education and naloxone)",
    evidence: "Surveillance series and guideline advice; no trials of interventions after a \
               kratom-involved overdose.",
};

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    facts
        .monitoring
        .overdoses
        .iter()
        .filter(|o| o.recorded_at > facts.now - OVERDOSE_ALERT_WINDOW && o.recorded_at <= facts.now)
        .map(|o| {
            let substances = if o.substances.is_empty() {
                "substances not known".to_owned()
            } else {
                o.substances.join(", ")
            };
            Finding {
                rule: Rule::OverdoseEvent,
                scope: format!("overdose:{}", o.id),
                episode: format!("overdose:{}", o.id),
                summary: format!(
                    "Overdose on {} ({}); naloxone {}{}",
                    o.occurred_at.to_zoned_datetime(facts.zone.clone()).date(),
                    substances,
                    if o.naloxone_used { "used" } else { "not used" },
                    if o.reported_by_patient {
                        "; reported by the patient"
                    } else {
                        ""
                    },
                ),
                evidence: json!({
                    "overdose_id": o.id,
                    "occurred_at": o.occurred_at.to_string(),
                    "substances": o.substances,
                    "naloxone_used": o.naloxone_used,
                    "emergency_care": o.emergency_care,
                    "reported_by_patient": o.reported_by_patient,
                }),
                source: Source::Overdose(o.id),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OverdoseId;
    use crate::monitoring::OverdoseFact;
    use crate::safety::test_support::{facts, hours_ago};

    fn overdose(recorded_hours_ago: i64) -> OverdoseFact {
        OverdoseFact {
            id: OverdoseId::new(),
            occurred_at: hours_ago(recorded_hours_ago + 400 * 24),
            recorded_at: hours_ago(recorded_hours_ago),
            substances: vec![],
            naloxone_used: false,
            emergency_care: None,
            reported_by_patient: true,
        }
    }

    #[test]
    fn each_overdose_recorded_in_the_last_month_is_its_own_urgent_alert() {
        let mut f = facts();
        f.monitoring.overdoses = vec![overdose(1), overdose(2), overdose(31 * 24)];
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 2);
        assert_ne!(findings[0].scope, findings[1].scope);
        assert_eq!(findings[0].severity().as_str(), "urgent");
        assert!(findings[0].summary.contains("substances not known"));
    }
}
