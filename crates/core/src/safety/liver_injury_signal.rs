//! Liver injury: liver tests past the drug-induced liver injury thresholds, or the
//! symptoms of cholestatic injury reported at check-in.
//!
//! Thresholds: the international DILI Expert Working Group's case definition (Aithal GP
//! et al. Clin Pharmacol Ther 2011;89:806: ALT ≥ 5 × ULN, or ALT ≥ 3 × ULN with
//! bilirubin > 2 × ULN) and the ACG clinical guideline on idiosyncratic DILI (Chalasani
//! NP et al. Am J Gastroenterol 2021;116:878: stop the suspected agent at ALT or AST
//! > 5 × ULN, or > 3 × ULN with symptoms); Hy's law (FDA Guidance for Industry,
//! Drug-Induced Liver Injury: Premarketing Clinical Evaluation, 2009: ALT or AST > 3 × ULN
//! with total bilirubin > 2 × ULN). These guidelines are not in the project's reference
//! dossier; the kratom latency (2–49 days, median about 3 weeks) is pharmacology.md §5
//! (Schimmel & Dart 2020; Ahmad 2021 DILIN; Navarro AASLD 2019).

use jiff::{SignedDuration, ToSpan};
use serde_json::{Value, json};

use super::{AssessmentFact, Finding, Guidance, PatientFacts, Rule, Source};
use crate::monitoring::{LabFact, LabTest};

pub const GUIDANCE: Guidance = Guidance {
    title: "Possible liver injury",
    consider: "See the patient today or tomorrow: ask about jaundice, dark urine, pale stools, \
               itching and abdominal pain, and repeat ALT, AST, alkaline phosphatase, \
               bilirubin and INR within 48–72 hours. Advise stopping kratom (a supervised \
               stop, with a plan for withdrawal) and other possible causes (alcohol, \
               paracetamol, supplements). INR above 1.5 or jaundice with confusion means \
               emergency care. Kratom liver injury appears 2–49 days (median about 3 weeks) \
               after starting or increasing it, and is mostly cholestatic or mixed.",
    source: "Thresholds: DILI Expert Working Group (Aithal 2011 Clin Pharmacol Ther 89:806); \
             ACG DILI guideline (Chalasani 2021 Am J Gastroenterol 116:878); FDA 2009 DILI \
             guidance (Hy's law). Kratom latency and pattern: shared/reference/pharmacology.md \
             §5 (Schimmel & Dart 2020; Ahmad 2021 DILIN; Navarro 2019)",
    evidence: "The thresholds are guideline consensus for drug-induced liver injury in general; \
               kratom-specific evidence is case series (about 60 cases), with no prospective data.",
};

/// Red-flag check-in items (data/instruments/red_flags.toml) that describe liver injury.
pub const SYMPTOM_ITEMS: [&str; 3] = ["1", "6", "7"];

/// Symptoms this recent count beside a lab result.
const SYMPTOMS_RECENT: SignedDuration = SignedDuration::from_hours(7 * 24);

/// A result counts while it is this recent (older ones are history).
const RESULT_RECENT: SignedDuration = SignedDuration::from_hours(14 * 24);

fn latest(facts: &PatientFacts, test: LabTest) -> Option<&LabFact> {
    facts
        .monitoring
        .labs
        .iter()
        .filter(|l| {
            l.test == test
                && l.observed_at <= facts.now
                && l.observed_at > facts.now - RESULT_RECENT
        })
        .max_by_key(|l| l.observed_at)
}

fn recent_symptoms(facts: &PatientFacts) -> Option<(&AssessmentFact, Vec<&'static str>)> {
    let assessment = facts
        .assessments_of("red_flags")
        .into_iter()
        .rev()
        .find(|a| {
            a.completed_at > facts.now - SYMPTOMS_RECENT
                && SYMPTOM_ITEMS
                    .iter()
                    .any(|item| a.answer(item).is_some_and(|v| v > 0.0))
        })?;
    let items = SYMPTOM_ITEMS
        .into_iter()
        .filter(|item| assessment.answer(item).is_some_and(|v| v > 0.0))
        .collect();
    Some((assessment, items))
}

fn lab_json(lab: &LabFact) -> Value {
    json!({
        "lab_result_id": lab.id,
        "test": lab.test.code(),
        "loinc": lab.test.loinc(),
        "value": lab.value,
        "unit": lab.unit,
        "reference_high": lab.reference_high,
        "times_upper_limit": (lab.times_upper_limit() * 100.0).round() / 100.0,
        "upper_limit_source": if lab.uses_typical_limit() { "typical adult range (none entered)" } else { "the laboratory's range" },
        "observed_at": lab.observed_at.to_string(),
    })
}

/// Whether kratom was started or raised inside the latency window, from the 30 days of
/// daily totals the rules read.
fn latency(facts: &PatientFacts) -> Value {
    let today = facts.today();
    let Ok(first) = today.checked_sub(29.days()) else {
        return Value::Null;
    };
    let days = facts.days_between(first, today);
    let used: Vec<_> = days.iter().filter(|d| d.doses > 0).collect();
    let Some(earliest) = used.first() else {
        return json!({"note": "No kratom logged in the last 30 days."});
    };
    let mean = |from: i64, to: i64| {
        let (Ok(a), Ok(b)) = (today.checked_sub(to.days()), today.checked_sub(from.days())) else {
            return 0.0;
        };
        days.iter()
            .filter(|d| d.date >= a && d.date <= b)
            .map(|d| d.mitragynine_mg)
            .sum::<f64>()
            / 14.0
    };
    let (recent, before) = (mean(0, 13), mean(14, 27));
    let started_recently = earliest.date >= first.checked_add(7.days()).unwrap_or(first);
    let note = if started_recently {
        format!(
            "Kratom first logged on {} in the last 30 days: inside the 2–49-day latency window.",
            earliest.date
        )
    } else if before > 0.0 && recent >= before * 1.25 {
        format!(
            "Daily mitragynine rose from {:.0} to {:.0} mg (two-week means): an increase inside the latency window.",
            before, recent
        )
    } else {
        "Kratom logged steadily over the last 30 days; injury after long steady use is also reported.".to_owned()
    };
    json!({
        "first_logged_in_last_30_days": earliest.date.to_string(),
        "mean_daily_mitragynine_mg_last_14_days": (recent * 10.0).round() / 10.0,
        "mean_daily_mitragynine_mg_14_days_before": (before * 10.0).round() / 10.0,
        "note": note,
    })
}

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    let alt = latest(facts, LabTest::Alt);
    let ast = latest(facts, LabTest::Ast);
    let bilirubin = latest(facts, LabTest::TotalBilirubin);
    let symptoms = recent_symptoms(facts);
    let transaminase = [alt, ast]
        .into_iter()
        .flatten()
        .max_by(|a, b| a.times_upper_limit().total_cmp(&b.times_upper_limit()));
    let mut criteria = Vec::new();
    let mut trigger: Option<(String, Source)> = None;
    if let Some(t) = transaminase {
        let ratio = t.times_upper_limit();
        if ratio > 5.0 {
            criteria.push(format!("{} above 5 × the upper limit", t.test.name()));
        } else if ratio > 3.0 && symptoms.is_some() {
            criteria.push(format!(
                "{} above 3 × the upper limit with symptoms",
                t.test.name()
            ));
        }
        if ratio > 3.0
            && let Some(b) = bilirubin
            && b.times_upper_limit() > 2.0
        {
            criteria.push(format!(
                "{} above 3 × with bilirubin above 2 × the upper limit (Hy's law)",
                t.test.name()
            ));
        }
        if !criteria.is_empty() {
            trigger = Some((format!("lab:{}", t.id), Source::LabResult(t.id)));
        }
    }
    if let Some((assessment, items)) = &symptoms {
        criteria.push(format!(
            "liver symptoms reported at check-in (items {})",
            items.join(", ")
        ));
        if trigger.is_none() {
            trigger = Some((
                format!("symptoms:{}", assessment.id),
                Source::Assessment(assessment.id),
            ));
        }
    }
    let (episode, source) = trigger?;
    let results: Vec<Value> = [alt, ast, bilirubin]
        .into_iter()
        .flatten()
        .map(lab_json)
        .collect();
    Some(Finding {
        rule: Rule::LiverInjurySignal,
        scope: String::new(),
        episode,
        summary: format!("Possible liver injury: {}", criteria.join("; ")),
        evidence: json!({
            "criteria": criteria,
            "results": results,
            "symptoms": symptoms.as_ref().map(|(a, items)| json!({
                "assessment_id": a.id,
                "items": items,
                "completed_at": a.completed_at.to_string(),
            })),
            "latency_window": latency(facts),
        }),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AssessmentId, LabResultId};
    use crate::instrument::Answer;
    use crate::safety::test_support::{facts, hours_ago};

    fn lab(test: LabTest, value: f64, high: f64) -> LabFact {
        LabFact {
            id: LabResultId::new(),
            test,
            value,
            unit: test.canonical_unit().into(),
            reference_high: Some(high),
            observed_at: hours_ago(2),
        }
    }

    fn symptoms(items: &[&str], hours: i64) -> AssessmentFact {
        AssessmentFact {
            id: AssessmentId::new(),
            instrument: "red_flags".into(),
            answers: items
                .iter()
                .map(|i| ((*i).to_owned(), Answer::Number(1.0)))
                .collect(),
            total: None,
            band: None,
            completed_at: hours_ago(hours),
        }
    }

    #[test]
    fn an_alt_at_exactly_five_times_the_limit_is_quiet_and_just_above_fires() {
        let mut f = facts();
        f.monitoring.labs = vec![lab(LabTest::Alt, 200.0, 40.0)];
        assert!(evaluate(&f).is_none());
        f.monitoring.labs = vec![lab(LabTest::Alt, 200.4, 40.0)];
        let finding = evaluate(&f).unwrap();
        assert_eq!(finding.rule.code(), "liver_injury_signal");
        assert!(finding.summary.contains("above 5 ×"));
    }

    #[test]
    fn three_times_the_limit_fires_only_with_symptoms() {
        let mut f = facts();
        f.monitoring.labs = vec![lab(LabTest::Ast, 130.0, 40.0)];
        assert!(evaluate(&f).is_none());
        f.assessments = vec![symptoms(&["6"], 30)];
        let finding = evaluate(&f).unwrap();
        assert!(
            finding.evidence["criteria"][0]
                .as_str()
                .unwrap()
                .contains("with symptoms")
        );
        assert!(finding.episode.starts_with("lab:"));
    }

    #[test]
    fn hys_law_needs_bilirubin_above_twice_its_limit() {
        let mut f = facts();
        f.monitoring.labs = vec![
            lab(LabTest::Alt, 130.0, 40.0),
            lab(LabTest::TotalBilirubin, 2.4, 1.2),
        ];
        assert!(evaluate(&f).is_none(), "exactly 2 × is not above");
        f.monitoring.labs[1] = lab(LabTest::TotalBilirubin, 2.5, 1.2);
        assert!(evaluate(&f).unwrap().summary.contains("Hy's law"));
    }

    #[test]
    fn liver_symptoms_alone_fire_and_other_red_flags_do_not() {
        let mut f = facts();
        f.assessments = vec![symptoms(&["2", "5"], 3)];
        assert!(evaluate(&f).is_none());
        f.assessments = vec![symptoms(&["7"], 3)];
        let finding = evaluate(&f).unwrap();
        assert!(finding.episode.starts_with("symptoms:"));
        f.assessments = vec![symptoms(&["1"], 8 * 24)];
        assert!(evaluate(&f).is_none(), "a week-old report is history");
    }

    #[test]
    fn an_old_result_is_history() {
        let mut f = facts();
        let mut old = lab(LabTest::Alt, 400.0, 40.0);
        old.observed_at = hours_ago(15 * 24);
        f.monitoring.labs = vec![old];
        assert!(evaluate(&f).is_none());
    }

    #[test]
    fn kratom_started_within_the_month_is_called_out_as_inside_the_latency_window() {
        use crate::safety::test_support::{dose_at, with_doses};
        let mut f = with_doses(facts(), vec![dose_at(hours_ago(10 * 24), 40.0)]);
        f.monitoring.labs = vec![lab(LabTest::Alt, 300.0, 40.0)];
        let finding = evaluate(&f).unwrap();
        assert!(
            finding.evidence["latency_window"]["note"]
                .as_str()
                .unwrap()
                .contains("inside the 2–49-day latency window")
        );
    }
}
