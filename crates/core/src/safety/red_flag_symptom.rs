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

pub fn evaluate(instrument: &Instrument, assessment: &AssessmentFact) -> Option<Finding> {
    if assessment.instrument != "red_flags" {
        return None;
    }
    let positives: Vec<_> = instrument
        .items
        .iter()
        .filter_map(|item| {
            let answer = assessment.answer(&item.id).filter(|v| *v > 0.0)?;
            Some((item, answer))
        })
        .collect();
    if positives.is_empty() {
        return None;
    }
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
}
