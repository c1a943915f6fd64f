//! PHQ-9 item 9 ("thoughts that you would be better off dead, or of hurting
//! yourself") answered above 0: same-day safety follow-up.
//!
//! Source: instruments.md, PHQ-9 row and [62] (Simon et al. 2013, item 9 and later
//! suicide attempts); wording per Kroenke et al. 2001.

use serde_json::json;

use super::{AssessmentFact, Finding, Guidance, Rule, Source};
use crate::instrument::Instrument;

pub const GUIDANCE: Guidance = Guidance {
    title: "PHQ-9 item 9: thoughts of death or self-harm",
    consider: "Contact the patient today. Assess suicide risk directly (intent, plan, means, \
               past attempts), agree a safety plan, and check they have crisis numbers. \
               Escalate to emergency services if there is imminent risk.",
    source: "shared/reference/instruments.md, PHQ-9 row: item 9 > 0 → same-day safety follow-up [62] \
             (Simon et al. 2013, Psychiatr Serv; Kroenke et al. 2001)",
    evidence: "Strong: any positive item 9 answer is associated with later suicide attempts \
               (Simon 2013); it is a screen, not a risk assessment.",
};

/// The PHQ-9's suicidality item.
const ITEM: &str = "9";

pub fn evaluate(instrument: &Instrument, assessment: &AssessmentFact) -> Option<Finding> {
    if assessment.instrument != "phq9" {
        return None;
    }
    let answer = assessment.answer(ITEM).filter(|value| *value > 0.0)?;
    let item = instrument.items.iter().find(|i| i.id == ITEM);
    let text = item.map(|i| i.text.clone());
    let option = item.and_then(|i| i.option_label(answer)).map(str::to_owned);
    Some(Finding {
        rule: Rule::Phq9Item9,
        scope: String::new(),
        episode: assessment.id.to_string(),
        summary: format!(
            "PHQ-9 item 9 answered {answer}{}",
            option
                .as_deref()
                .map(|l| format!(" (\"{l}\")"))
                .unwrap_or_default()
        ),
        evidence: json!({
            "instrument": "phq9",
            "assessment_id": assessment.id,
            "items": [{ "item": ITEM, "text": text, "answer": answer, "answer_label": option }],
            "total": assessment.total,
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

    fn phq9_with_item9(value: f64) -> AssessmentFact {
        let mut a = test_support::assessment("phq9", 9.0, test_support::now());
        a.answers.insert("9".into(), Answer::Number(value));
        a
    }

    #[test]
    fn item_nine_at_zero_does_not_fire_and_at_one_fires() {
        let instruments = Instruments::bundled().unwrap();
        let phq9 = instruments.get("phq9").unwrap();
        assert!(evaluate(phq9, &phq9_with_item9(0.0)).is_none());
        let finding = evaluate(phq9, &phq9_with_item9(1.0)).unwrap();
        assert_eq!(finding.rule.code(), "phq9_item9");
        assert_eq!(finding.evidence["items"][0]["answer"], 1.0);
        assert!(
            finding.summary.contains("Several days"),
            "{}",
            finding.summary
        );
    }

    #[test]
    fn another_instrument_with_an_item_nine_does_not_fire() {
        let instruments = Instruments::bundled().unwrap();
        let mut gad = phq9_with_item9(3.0);
        gad.instrument = "gad7".into();
        assert!(evaluate(instruments.get("phq9").unwrap(), &gad).is_none());
    }
}
