//! QT prolongation on an ECG: mitragynine blocks hERG channels in vitro and higher serum
//! mitragynine went with longer QTc in users (pharmacology.md §5, Cardiac / QT: Tay
//! 2016, 2019; Leong Abdullah & Singh 2021).
//!
//! Thresholds: the AHA/ACCF scientific statement on prevention of torsade de pointes
//! (Drew BJ et al. Circulation 2010;121:1047): QTc > 500 ms or a rise of > 60 ms from
//! baseline marks high risk; about 470 ms (men) and 480 ms (women) are the 99th
//! percentiles, above which QTc is prolonged. The statement is not in the project's
//! reference dossier. This rule uses ≥ 500 ms, a rise ≥ 60 ms on the previous ECG, or
//! ≥ 470/480 ms with a QT-prolonging medicine on the list (470 when sex is not recorded).

use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};
use crate::medicines::Mechanism;
use crate::monitoring::EcgFact;
use crate::patient::SexAtBirth;

pub const GUIDANCE: Guidance = Guidance {
    title: "QT prolongation",
    consider: "Repeat the ECG and check potassium, magnesium and calcium. Review every \
               QT-prolonging medicine (methadone, citalopram, ondansetron, haloperidol, \
               macrolides and others) with its prescriber, and kratom itself (mitragynine \
               blocks hERG). Ask about palpitations, fainting and family history of sudden \
               death. QTc ≥ 500 ms: consider cardiology advice before any dose increase.",
    source: "Thresholds: AHA/ACCF scientific statement on torsade de pointes prevention \
             (Drew 2010 Circulation 121:1047). Kratom and QT: shared/reference/pharmacology.md \
             §5 (Tay 2016 Toxicol Appl Pharmacol; Tay 2019 Sci Rep; Leong Abdullah & Singh 2021)",
    evidence: "The thresholds are consensus for drug-induced QT prolongation in general; for \
               kratom there are in-vitro hERG data and one small observational study.",
};

pub const HIGH_RISK_MS: u32 = 500;
pub const RISE_MS: u32 = 60;

/// The prolonged-QTc threshold for a sex at birth (the lower one when not recorded).
pub fn prolonged_ms(sex: SexAtBirth) -> u32 {
    match sex {
        SexAtBirth::Female => 480,
        _ => 470,
    }
}

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    let mut ecgs: Vec<&EcgFact> = facts
        .monitoring
        .ecgs
        .iter()
        .filter(|e| e.recorded_at <= facts.now)
        .collect();
    ecgs.sort_by_key(|e| e.recorded_at);
    let latest = *ecgs.last()?;
    let previous = ecgs.len().checked_sub(2).map(|i| ecgs[i]);
    let threshold = prolonged_ms(facts.monitoring.sex_at_birth);
    // Active medicines whose interaction rows include QT prolongation (data/medicines).
    let mut medicines: Vec<(crate::ids::MedicationId, String)> = Vec::new();
    for (m, _) in facts.active_medications_with(Mechanism::QtProlongation) {
        if !medicines.iter().any(|(id, _)| *id == m.id) {
            medicines.push((m.id, m.name.clone()));
        }
    }
    let mut criteria = Vec::new();
    if latest.qtc_ms >= HIGH_RISK_MS {
        criteria.push(format!("QTc {} ms (≥ {HIGH_RISK_MS})", latest.qtc_ms));
    }
    if let Some(prev) = previous
        && latest.qtc_ms >= prev.qtc_ms + RISE_MS
    {
        criteria.push(format!(
            "up {} ms from {} ms on the previous ECG (≥ {RISE_MS})",
            latest.qtc_ms - prev.qtc_ms,
            prev.qtc_ms
        ));
    }
    if latest.qtc_ms >= threshold && latest.qtc_ms < HIGH_RISK_MS && !medicines.is_empty() {
        criteria.push(format!(
            "QTc {} ms (≥ {threshold}) with {} on the medication list",
            latest.qtc_ms,
            medicines
                .iter()
                .map(|(_, name)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if criteria.is_empty() {
        return None;
    }
    Some(Finding {
        rule: Rule::QtProlongation,
        scope: String::new(),
        episode: format!("ecg:{}", latest.id),
        summary: format!("QT prolongation: {}", criteria.join("; ")),
        evidence: json!({
            "criteria": criteria,
            "ecg_id": latest.id,
            "qtc_ms": latest.qtc_ms,
            "recorded_at": latest.recorded_at.to_string(),
            "previous_qtc_ms": previous.map(|p| p.qtc_ms),
            "prolonged_threshold_ms": threshold,
            "qt_prolonging_medications": medicines.iter().map(|(id, name)| json!({
                "medication_id": id, "medication": name,
            })).collect::<Vec<_>>(),
        }),
        source: Source::Ecg(latest.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EcgId, MedicationId};
    use crate::medication::MedicationClass;
    use crate::medicines::MedicineKnowledge;
    use crate::safety::MedicationFact;
    use crate::safety::test_support::{facts, hours_ago};

    fn methadone() -> MedicationFact {
        let knowledge = MedicineKnowledge::bundled().unwrap();
        MedicationFact {
            id: MedicationId::new(),
            name: "Methadone".into(),
            class: MedicationClass::Opioid,
            ingredient: Some("methadone".into()),
            started_on: None,
            stopped_on: None,
            interactions: knowledge.rows_for(Some("methadone"), MedicationClass::Opioid),
        }
    }

    fn ecg(qtc_ms: u32, hours: i64) -> EcgFact {
        EcgFact {
            id: EcgId::new(),
            qtc_ms,
            recorded_at: hours_ago(hours),
        }
    }

    #[test]
    fn a_qtc_of_499_is_quiet_and_500_fires() {
        let mut f = facts();
        f.monitoring.ecgs = vec![ecg(499, 1)];
        assert!(evaluate(&f).is_none());
        f.monitoring.ecgs = vec![ecg(500, 1)];
        assert_eq!(evaluate(&f).unwrap().rule.code(), "qt_prolongation");
    }

    #[test]
    fn a_rise_of_sixty_on_the_previous_ecg_fires_and_fifty_nine_does_not() {
        let mut f = facts();
        f.monitoring.ecgs = vec![ecg(400, 500), ecg(459, 1)];
        assert!(evaluate(&f).is_none());
        f.monitoring.ecgs = vec![ecg(400, 500), ecg(460, 1)];
        assert!(evaluate(&f).unwrap().summary.contains("up 60 ms"));
    }

    #[test]
    fn a_prolonged_qtc_fires_only_with_a_qt_prolonging_medicine_and_by_sex() {
        let mut f = facts();
        f.monitoring.ecgs = vec![ecg(475, 1)];
        assert!(evaluate(&f).is_none(), "no QT-prolonging medicine");
        f.medications = vec![methadone()];
        assert!(
            evaluate(&f).is_some(),
            "470 applies when sex is not recorded"
        );
        f.monitoring.sex_at_birth = SexAtBirth::Female;
        assert!(evaluate(&f).is_none(), "475 is below the 480 for women");
        f.monitoring.ecgs = vec![ecg(480, 1)];
        assert!(evaluate(&f).unwrap().summary.contains("Methadone"));
        f.monitoring.sex_at_birth = SexAtBirth::Male;
        f.monitoring.ecgs = vec![ecg(469, 1)];
        assert!(evaluate(&f).is_none());
    }
}
