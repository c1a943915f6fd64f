//! A CNS depressant on the medication list (a `cns_depression` row of the interaction
//! table: opioids, benzodiazepines, gabapentinoids, sedating antihistamines, muscle
//! relaxants, sedating antidepressants and antipsychotics …) or alcohol use on AUDIT-C,
//! while kratom is being logged.
//!
//! Sources: data/medicines/interactions.toml, whose rows cite pharmacology.md §4,
//! "Dangerous combinations" (SUDORS, Olsen 2019: 7 of 152 kratom-positive deaths had kratom
//! alone; Corkery 2019: 87 % polysubstance; TripSit's opioid row; FDA 2019 gabapentinoid
//! warning) and §5 (Hill 2022); instruments.md, AUDIT-C row (positive ≥4 men, ≥3 women).

use jiff::SignedDuration;
use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};
use crate::medicines::{InteractionRow, Mechanism};

pub const GUIDANCE: Guidance = Guidance {
    title: "Kratom with a CNS depressant",
    consider: "Review whether the depressant is needed and at what dose. Counsel about overdose \
               risk (slowed breathing, never alone, no extra doses for sleep), offer naloxone, and \
               check for 7-OH products. Buprenorphine and methadone treat opioid use disorder: \
               never taper them because of kratom; monitor and coordinate with the prescriber. \
               Each matched row below says what to consider and cites its source.",
    source: "data/medicines/interactions.toml (cns_depression rows), citing \
             shared/reference/pharmacology.md §4 Dangerous combinations (Olsen 2019 MMWR; \
             Corkery 2019; TripSit opioid row; FDA 2019 gabapentinoid warning) and §5 (Hill 2022); \
             instruments.md, AUDIT-C row [51]",
    evidence: "Overdose deaths with kratom almost always involve other substances; the \
               combination risk is inferred from those series and opioid pharmacology, not trials.",
};

/// AUDIT-C asks about the past year, so a screen stays current for a year.
const AUDIT_C_CURRENT: SignedDuration = SignedDuration::from_hours(365 * 24);

fn rows_json<'a>(rows: impl IntoIterator<Item = &'a InteractionRow>) -> serde_json::Value {
    rows.into_iter()
        .map(InteractionRow::evidence_json)
        .collect::<Vec<_>>()
        .into()
}

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    let Some(latest_dose) = facts.latest_dose_in_use() else {
        return Vec::new();
    };
    let mut findings: Vec<Finding> = facts
        .active_medications_with(Mechanism::CnsDepression)
        .into_iter()
        .map(|(m, row)| Finding {
            rule: Rule::CnsDepressantCombination,
            scope: format!("medication:{}", m.id),
            episode: format!("medication:{}", m.id),
            summary: format!(
                "{} ({}) with kratom logged in the last 14 days",
                m.name,
                m.class.label()
            ),
            evidence: json!({
                "medication_id": m.id,
                "medication": m.name,
                "ingredient": m.ingredient,
                "class": m.class.as_str(),
                "started_on": m.started_on.map(|d| d.to_string()),
                "stopped_on": m.stopped_on.map(|d| d.to_string()),
                "latest_kratom_dose_at": latest_dose.taken_at.to_string(),
                "rows": rows_json([row]),
            }),
            source: super::Source::Medication(m.id),
        })
        .collect();
    if let Some(audit) = facts.assessments_of("auditc").last()
        && audit.band.as_deref() == Some("positive")
        && audit.completed_at > facts.now - AUDIT_C_CURRENT
        && !facts.alcohol_interactions.is_empty()
    {
        findings.push(Finding {
            rule: Rule::CnsDepressantCombination,
            scope: "alcohol".into(),
            episode: format!("auditc:{}", audit.id),
            summary: format!(
                "Positive AUDIT-C ({}) with kratom logged in the last 14 days",
                audit.total.unwrap_or_default()
            ),
            evidence: json!({
                "instrument": "auditc",
                "assessment_id": audit.id,
                "total": audit.total,
                "band": audit.band,
                "completed_at": audit.completed_at.to_string(),
                "latest_kratom_dose_at": latest_dose.taken_at.to_string(),
                "rows": rows_json(facts.alcohol_interactions.iter().filter(|r| r.mechanism == Mechanism::CnsDepression)),
            }),
            source: Source::Assessment(audit.id),
        });
    }
    findings
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids::MedicationId;
    use crate::medication::MedicationClass;
    use crate::medicines::MedicineKnowledge;
    use crate::safety::MedicationFact;
    use crate::safety::test_support::{assessment, dose_at, facts, hours_ago};
    use jiff::civil::date;

    /// A medication as the app gathers it: its rows from the shipped table.
    pub fn medication_of(
        name: &str,
        ingredient: Option<&str>,
        class: MedicationClass,
        stopped_on: Option<jiff::civil::Date>,
    ) -> MedicationFact {
        MedicationFact {
            id: MedicationId::new(),
            name: name.into(),
            class,
            ingredient: ingredient.map(str::to_owned),
            started_on: Some(date(2026, 10, 1)),
            stopped_on,
            interactions: MedicineKnowledge::bundled()
                .unwrap()
                .rows_for(ingredient, class),
        }
    }

    fn medication(class: MedicationClass, stopped_on: Option<jiff::civil::Date>) -> MedicationFact {
        medication_of("Gabapentin", None, class, stopped_on)
    }

    #[test]
    fn an_active_gabapentinoid_with_recent_kratom_fires_and_an_antidepressant_does_not() {
        let mut f = facts();
        f.doses = vec![dose_at(hours_ago(3), 40.0)];
        f.medications = vec![medication(MedicationClass::Antidepressant, None)];
        assert!(evaluate(&f).is_empty());
        f.medications
            .push(medication(MedicationClass::Gabapentinoid, None));
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].evidence["class"], "gabapentinoid");
        assert_eq!(
            findings[0].evidence["rows"][0]["mechanism"],
            "cns_depression"
        );
        assert_eq!(findings[0].evidence["rows"][0]["id"], "gabapentinoid-cns");
    }

    #[test]
    fn a_sedating_antipsychotic_fires_by_its_ingredient_row() {
        let mut f = facts();
        f.doses = vec![dose_at(hours_ago(3), 40.0)];
        f.medications = vec![medication_of(
            "Seroquel 100 mg",
            Some("quetiapine"),
            MedicationClass::Antipsychotic,
            None,
        )];
        let findings = evaluate(&f);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].evidence["rows"][0]["id"], "quetiapine-cns");
    }

    #[test]
    fn buprenorphine_fires_with_advice_to_coordinate_never_to_taper() {
        let mut f = facts();
        f.doses = vec![dose_at(hours_ago(3), 40.0)];
        f.medications = vec![medication_of(
            "Suboxone",
            Some("buprenorphine"),
            MedicationClass::Opioid,
            None,
        )];
        let findings = evaluate(&f);
        let consider = findings[0].evidence["rows"][0]["consider"]
            .as_str()
            .unwrap();
        assert!(consider.contains("never advise tapering"), "{consider}");
        assert!(consider.contains("prescriber"));
    }

    #[test]
    fn a_medication_stopped_yesterday_does_not_fire_and_one_stopping_today_does() {
        let mut f = facts();
        f.doses = vec![dose_at(hours_ago(3), 40.0)];
        f.medications = vec![medication(
            MedicationClass::Benzodiazepine,
            Some(date(2026, 11, 23)),
        )];
        assert!(evaluate(&f).is_empty());
        f.medications = vec![medication(
            MedicationClass::Benzodiazepine,
            Some(date(2026, 11, 24)),
        )];
        assert_eq!(evaluate(&f).len(), 1);
    }

    #[test]
    fn without_kratom_logged_a_depressant_alone_does_not_fire() {
        let mut f = facts();
        f.medications = vec![medication(MedicationClass::Opioid, None)];
        assert!(evaluate(&f).is_empty());
    }

    #[test]
    fn a_positive_audit_c_counts_as_alcohol_use_and_a_negative_one_does_not() {
        let mut f = facts();
        f.doses = vec![dose_at(hours_ago(3), 40.0)];
        let mut audit = assessment("auditc", 2.0, hours_ago(24));
        audit.band = Some("negative".into());
        f.assessments = vec![audit.clone()];
        assert!(evaluate(&f).is_empty());
        audit.total = Some(4.0);
        audit.band = Some("positive".into());
        f.assessments = vec![audit];
        let findings = evaluate(&f);
        assert_eq!(findings[0].scope, "alcohol");
        assert_eq!(
            findings[0].evidence["rows"][0]["mechanism"],
            "cns_depression"
        );
    }
}
