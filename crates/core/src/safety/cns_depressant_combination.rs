//! A CNS depressant on the medication list (opioid, benzodiazepine, gabapentinoid and
//! other sedatives) or alcohol use on AUDIT-C, while kratom is being logged.
//!
//! Sources: pharmacology.md §4, "Dangerous combinations" (SUDORS, Olsen 2019: 7 of 152
//! kratom-positive deaths had kratom alone; Corkery 2019: 87 % polysubstance; TripSit's
//! opioid row: alcohol, benzodiazepines, pregabalin "Dangerous"; FDA 2019 gabapentinoid
//! warning) and §5 (Hill 2022); instruments.md, AUDIT-C row (positive ≥4 men, ≥3 women).

use jiff::SignedDuration;
use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};
use crate::medication::is_active_on;

pub const GUIDANCE: Guidance = Guidance {
    title: "Kratom with a CNS depressant",
    consider: "Review whether the depressant is needed and at what dose, and whether a taper of \
               either is possible. Counsel about overdose risk (slowed breathing, never alone, \
               no extra doses for sleep), offer naloxone, and check for 7-OH products.",
    source: "shared/reference/pharmacology.md §4 Dangerous combinations (Olsen 2019 MMWR; \
             Corkery 2019; TripSit opioid row; FDA 2019 gabapentinoid warning) and §5 (Hill 2022); \
             instruments.md, AUDIT-C row [51]",
    evidence: "Overdose deaths with kratom almost always involve other substances; the \
               combination risk is inferred from those series and opioid pharmacology, not trials.",
};

/// AUDIT-C asks about the past year, so a screen stays current for a year.
const AUDIT_C_CURRENT: SignedDuration = SignedDuration::from_hours(365 * 24);

pub fn evaluate(facts: &PatientFacts) -> Vec<Finding> {
    let Some(latest_dose) = facts.latest_dose_in_use() else {
        return Vec::new();
    };
    let today = facts.today();
    let mut findings: Vec<Finding> = facts
        .medications
        .iter()
        .filter(|m| m.class.is_cns_depressant() && is_active_on(m.started_on, m.stopped_on, today))
        .map(|m| Finding {
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
                "class": m.class.as_str(),
                "started_on": m.started_on.map(|d| d.to_string()),
                "stopped_on": m.stopped_on.map(|d| d.to_string()),
                "latest_kratom_dose_at": latest_dose.taken_at.to_string(),
            }),
            source: super::Source::Medication(m.id),
        })
        .collect();
    if let Some(audit) = facts.assessments_of("auditc").last()
        && audit.band.as_deref() == Some("positive")
        && audit.completed_at > facts.now - AUDIT_C_CURRENT
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
            }),
            source: Source::Assessment(audit.id),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MedicationId;
    use crate::medication::MedicationClass;
    use crate::safety::MedicationFact;
    use crate::safety::test_support::{assessment, dose_at, facts, hours_ago};
    use jiff::civil::date;

    fn medication(class: MedicationClass, stopped_on: Option<jiff::civil::Date>) -> MedicationFact {
        MedicationFact {
            id: MedicationId::new(),
            name: "Gabapentin".into(),
            class,
            started_on: Some(date(2026, 10, 1)),
            stopped_on,
        }
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
    }
}
