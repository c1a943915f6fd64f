//! Any red-flag symptom answered "yes" at check-in: same-day medical review.
//!
//! Source: pharmacology.md §5 (liver injury: jaundice, dark urine, pale stools,
//! pruritus, abdominal pain 2–7 weeks after starting or increasing; seizures;
//! respiratory depression with other depressants; cardiac effects). The checklist
//! itself is `data/instruments/red_flags.toml`.

use serde_json::json;

use super::{AssessmentFact, Finding, Guidance, Rule, Source};
use crate::instrument::Instrument;

pub const GUIDANCE: Guidance = Guidance {
    title: "Red-flag symptom reported",
    consider: "Contact the patient today. Jaundice, dark urine or pale stools: check liver \
               tests (ALT, ALP, bilirubin) and advise stopping kratom; DILI latency is a median \
               14–21 days. Seizure, fainting, chest pain or slowed breathing: urgent in-person or \
               emergency assessment, and review other depressants and 7-OH products.",
    source: "shared/reference/pharmacology.md §5 (Schimmel & Dart 2020; Ahmad 2021 DILIN; \
             Tatum 2018; Afzal 2020; Olsen 2019 MMWR)",
    evidence: "The symptoms come from case series and surveillance, not trials; the checklist \
               is Speciosa's own and is not a validated scale.",
};

/// A racing or pounding heartbeat alone is common in withdrawal (COWS item 1 scores the
/// pulse; pharmacology.md §5: tachycardia in 21.4 % of kratom-only poison-centre
/// exposures, Post 2019), so on its own it is a warning; with chest pain or fainting in
/// the same check-in it is part of the urgent red flag.
pub const RACING_GUIDANCE: Guidance = Guidance {
    title: "Racing heartbeat reported",
    consider: "Ask today about timing (withdrawal between doses, after a dose, stimulants or                caffeine), dizziness, breathlessness and chest pain. Check pulse and blood                pressure at the next contact; an ECG if it persists or with QT-prolonging                medicines. Chest pain or fainting with it means urgent assessment.",
    source: "shared/reference/pharmacology.md §5 (Post 2019 Clin Toxicol: tachycardia 21.4 %              of kratom-only exposures; Cardiac / QT) and §6 (COWS item 1, resting pulse)",
    evidence: "Case series and poison-centre data; the checklist is Speciosa's own and is not                a validated scale.",
};

fn positive<'a>(
    instrument: &'a Instrument,
    assessment: &AssessmentFact,
    rule: &str,
) -> Vec<(&'a crate::instrument::Item, f64)> {
    instrument
        .items
        .iter()
        .filter(|item| item.safety.as_deref() == Some(rule))
        .filter_map(|item| {
            let answer = assessment.answer(&item.id).filter(|v| *v > 0.0)?;
            Some((item, answer))
        })
        .collect()
}

/// Items whose "yes" makes a racing heartbeat urgent (chest pain, fainting).
const MAKES_RACING_URGENT: [&str; 2] = ["3", "5"];

fn racing_is_urgent(assessment: &AssessmentFact) -> bool {
    MAKES_RACING_URGENT
        .iter()
        .any(|item| assessment.answer(item).is_some_and(|v| v > 0.0))
}

/// A racing heartbeat with no chest pain or fainting reported beside it.
pub fn evaluate_racing_heartbeat(
    instrument: &Instrument,
    assessment: &AssessmentFact,
) -> Option<Finding> {
    if assessment.instrument != "red_flags" || racing_is_urgent(assessment) {
        return None;
    }
    let (item, answer) = positive(instrument, assessment, "racing_heartbeat")
        .into_iter()
        .next()?;
    Some(Finding {
        rule: Rule::RacingHeartbeat,
        scope: String::new(),
        episode: assessment.id.to_string(),
        summary: format!("{} (without chest pain or fainting)", item.text),
        evidence: json!({
            "instrument": "red_flags",
            "assessment_id": assessment.id,
            "items": [{ "item": item.id, "text": item.text, "answer": answer }],
            "completed_at": assessment.completed_at.to_string(),
        }),
        source: Source::Assessment(assessment.id),
    })
}

pub fn evaluate(instrument: &Instrument, assessment: &AssessmentFact) -> Option<Finding> {
    if assessment.instrument != "red_flags" {
        return None;
    }
    let mut positives = positive(instrument, assessment, "red_flag_symptom");
    if positives.is_empty() {
        return None;
    }
    positives.extend(positive(instrument, assessment, "racing_heartbeat"));
    let names: Vec<&str> = positives
        .iter()
        .map(|(item, _)| item.text.as_str())
        .collect();
    Some(Finding {
        rule: Rule::RedFlagSymptom,
        scope: String::new(),
        episode: assessment.id.to_string(),
        summary: format!("Red flag reported: {}", names.join("; ")),
        evidence: json!({
            "instrument": "red_flags",
            "assessment_id": assessment.id,
            "items": positives.iter().map(|(item, answer)| json!({
                "item": item.id, "text": item.text, "answer": answer,
            })).collect::<Vec<_>>(),
            "completed_at": assessment.completed_at.to_string(),
        }),
        source: Source::Assessment(assessment.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::{Answer, Instruments};
    use crate::safety::test_support;

    #[test]
    fn all_no_answers_do_not_fire_and_one_yes_fires_naming_the_symptom() {
        let instruments = Instruments::bundled().unwrap();
        let checklist = instruments.get("red_flags").unwrap();
        let mut assessment = test_support::assessment("red_flags", 0.0, test_support::now());
        for item in &checklist.items {
            assessment
                .answers
                .insert(item.id.clone(), Answer::Number(0.0));
        }
        assert!(evaluate(checklist, &assessment).is_none());
        assessment.answers.insert("2".into(), Answer::Number(1.0));
        let finding = evaluate(checklist, &assessment).unwrap();
        assert_eq!(finding.rule.code(), "red_flag_symptom");
        assert_eq!(finding.evidence["items"].as_array().unwrap().len(), 1);
        assert!(finding.summary.contains("seizure"), "{}", finding.summary);
    }

    fn answered(yes: &[&str]) -> (Instruments, AssessmentFact) {
        let instruments = Instruments::bundled().unwrap();
        let mut assessment = test_support::assessment("red_flags", 0.0, test_support::now());
        for item in &instruments.get("red_flags").unwrap().items {
            let value = if yes.contains(&item.id.as_str()) {
                1.0
            } else {
                0.0
            };
            assessment
                .answers
                .insert(item.id.clone(), Answer::Number(value));
        }
        (instruments, assessment)
    }

    #[test]
    fn a_racing_heartbeat_alone_is_a_warning_and_not_an_urgent_red_flag() {
        let (instruments, assessment) = answered(&["8"]);
        let checklist = instruments.get("red_flags").unwrap();
        assert!(evaluate(checklist, &assessment).is_none());
        let finding = evaluate_racing_heartbeat(checklist, &assessment).unwrap();
        assert_eq!(finding.severity().as_str(), "warning");
    }

    #[test]
    fn a_racing_heartbeat_with_chest_pain_or_fainting_is_urgent() {
        for with in ["3", "5"] {
            let (instruments, assessment) = answered(&["8", with]);
            let checklist = instruments.get("red_flags").unwrap();
            assert!(evaluate_racing_heartbeat(checklist, &assessment).is_none());
            let finding = evaluate(checklist, &assessment).unwrap();
            assert_eq!(finding.severity().as_str(), "urgent");
            assert_eq!(finding.evidence["items"].as_array().unwrap().len(), 2);
        }
    }

    #[test]
    fn liver_symptoms_are_left_to_the_liver_rule() {
        let (instruments, assessment) = answered(&["1", "6", "7"]);
        let checklist = instruments.get("red_flags").unwrap();
        assert!(evaluate(checklist, &assessment).is_none());
        let liver: Vec<&str> = checklist
            .items
            .iter()
            .filter(|i| i.safety.as_deref() == Some("liver_injury_signal"))
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(liver, crate::safety::liver_injury_signal::SYMPTOM_ITEMS);
    }
}
