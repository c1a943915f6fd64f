//! A medicine on the list that interacts with kratom by a mechanism other than CNS
//! depression (CYP3A or CYP2D6 inhibition, serotonergic, QT prolongation, lowered seizure
//! threshold, precipitated withdrawal, "potentiators"), while kratom is being logged. One
//! alert per medicine, listing every matched row; its CNS-depression row, if any, raises
//! `cns_depressant_combination` as well (quetiapine raises both).
//!
//! Sources: the rows of data/medicines/interactions.toml, each citing
//! shared/reference/pharmacology.md §3–§5 or plans-and-therapy.md §6.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Finding, Guidance, MedicationFact, PatientFacts, Rule, Source};
use crate::ids::MedicationId;
use crate::medicines::{InteractionRow, Mechanism};

pub const GUIDANCE: Guidance = Guidance {
    title: "Kratom interacts with a medicine",
    consider: "Read each matched row: what happens, what to consider and how strong the evidence \
               is. Mitragynine's clinical CYP3A effect is modest after one 2 g dose (midazolam \
               AUC ratio 1.39) but daily use at higher doses is unstudied. Never taper \
               buprenorphine or methadone because of kratom; coordinate with the prescriber.",
    source: "data/medicines/interactions.toml, citing shared/reference/pharmacology.md §4 \
             Interactions (Tanna 2023 clinical DDI; in vitro inhibition; TripSit open data; \
             community potentiation) and §5 Cardiac / QT, Seizures; plans-and-therapy.md §6",
    evidence: "Mixed and mostly weak: one small clinical study (CYP3A), in vitro data (CYP2D6), \
               case reports and pharmacological inference; each row states its own grade.",
};

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    let Some(latest_dose) = facts.latest_dose_in_use() else {
        return Vec::new();
    };
    let mut by_medication: BTreeMap<MedicationId, (&MedicationFact, Vec<&InteractionRow>)> =
        BTreeMap::new();
    for mechanism in Mechanism::ALL
        .into_iter()
        .filter(|m| *m != Mechanism::CnsDepression)
    {
        for (medication, row) in facts.active_medications_with(mechanism) {
            by_medication
                .entry(medication.id)
                .or_insert_with(|| (medication, Vec::new()))
                .1
                .push(row);
        }
    }
    by_medication
        .into_values()
        .map(|(m, rows)| {
            let mechanisms: Vec<&str> = rows.iter().map(|r| r.mechanism.label()).collect();
            Finding {
                rule: Rule::Interaction,
                scope: format!("medication:{}", m.id),
                episode: format!("medication:{}", m.id),
                summary: format!(
                    "{} with kratom logged in the last 14 days: {}",
                    m.name,
                    mechanisms.join("; ")
                ),
                evidence: json!({
                    "medication_id": m.id,
                    "medication": m.name,
                    "ingredient": m.ingredient,
                    "class": m.class.as_str(),
                    "started_on": m.started_on.map(|d| d.to_string()),
                    "stopped_on": m.stopped_on.map(|d| d.to_string()),
                    "latest_kratom_dose_at": latest_dose.taken_at.to_string(),
                    "rows": rows.iter().map(|r| r.evidence_json()).collect::<Vec<_>>(),
                }),
                source: Source::Medication(m.id),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medication::MedicationClass;
    use crate::safety::cns_depressant_combination::tests::medication_of;
    use crate::safety::test_support::{dose_at, facts, hours_ago};

    fn fired(name: &str, ingredient: &str, class: MedicationClass) -> Vec<Finding> {
        let mut f = facts();
        f.doses = vec![dose_at(hours_ago(3), 40.0)];
        f.medications = vec![medication_of(name, Some(ingredient), class, None)];
        crate::safety::evaluate_state(&f)
            .into_iter()
            .filter(|x| matches!(x.rule, Rule::Interaction | Rule::CnsDepressantCombination))
            .collect()
    }

    fn mechanisms(finding: &Finding) -> Vec<String> {
        finding.evidence["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["mechanism"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn quetiapine_raises_both_the_cns_and_the_interaction_alert() {
        let findings = fired("Seroquel", "quetiapine", MedicationClass::Antipsychotic);
        let rules: Vec<_> = findings.iter().map(|f| f.rule.code()).collect();
        assert_eq!(rules, ["cns_depressant_combination", "interaction"]);
        assert_eq!(mechanisms(&findings[1]), ["cyp3a_inhibition"]);
        assert!(
            findings[1].evidence["rows"][0]["effect"]
                .as_str()
                .unwrap()
                .contains("CYP3A4")
        );
    }

    #[test]
    fn each_non_cns_mechanism_raises_one_interaction_alert() {
        let cases = [
            (
                "midazolam",
                MedicationClass::Benzodiazepine,
                "cyp3a_inhibition",
            ),
            ("codeine", MedicationClass::Opioid, "cyp2d6_inhibition"),
            (
                "sertraline",
                MedicationClass::Antidepressant,
                "serotonergic",
            ),
            (
                "ondansetron",
                MedicationClass::Antiemetic,
                "qt_prolongation",
            ),
            (
                "bupropion",
                MedicationClass::Antidepressant,
                "seizure_threshold",
            ),
            (
                "naltrexone",
                MedicationClass::OpioidAntagonist,
                "precipitated_withdrawal",
            ),
            ("cimetidine", MedicationClass::AcidReducer, "potentiator"),
        ];
        for (ingredient, class, mechanism) in cases {
            let findings = fired(ingredient, ingredient, class);
            let interaction: Vec<_> = findings
                .iter()
                .filter(|f| f.rule == Rule::Interaction)
                .collect();
            assert_eq!(interaction.len(), 1, "{ingredient}");
            assert!(
                mechanisms(interaction[0]).contains(&mechanism.to_owned()),
                "{ingredient}: {:?}",
                mechanisms(interaction[0])
            );
        }
    }

    #[test]
    fn tramadol_lists_all_its_non_cns_rows_in_one_alert() {
        let findings = fired("Ultram 50 mg", "tramadol", MedicationClass::Opioid);
        let interaction: Vec<_> = findings
            .iter()
            .filter(|f| f.rule == Rule::Interaction)
            .collect();
        assert_eq!(interaction.len(), 1);
        assert_eq!(
            mechanisms(interaction[0]),
            ["cyp2d6_inhibition", "serotonergic", "seizure_threshold"]
        );
        assert!(
            findings
                .iter()
                .any(|f| f.rule == Rule::CnsDepressantCombination)
        );
    }

    #[test]
    fn methadone_qt_row_feeds_the_facts_helper_and_says_not_to_taper() {
        let mut f = facts();
        f.medications = vec![medication_of(
            "Methadose 80 mg",
            Some("methadone"),
            MedicationClass::Opioid,
            None,
        )];
        let qt = f.active_medications_with(Mechanism::QtProlongation);
        assert_eq!(qt.len(), 1);
        assert_eq!(qt[0].1.id, "methadone-qt");
        assert!(qt[0].1.consider.contains("Do not taper methadone"));
    }

    #[test]
    fn a_medicine_without_kratom_or_without_rows_raises_nothing() {
        let mut f = facts();
        f.medications = vec![medication_of(
            "Zoloft",
            Some("sertraline"),
            MedicationClass::Antidepressant,
            None,
        )];
        assert!(evaluate(&f).is_empty());
        f.doses = vec![dose_at(hours_ago(3), 40.0)];
        f.medications = vec![medication_of(
            "Lisinopril",
            None,
            MedicationClass::Other,
            None,
        )];
        assert!(evaluate(&f).is_empty());
    }
}
