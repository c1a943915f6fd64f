//! No check-in for 3 days.
//!
//! Source: instruments.md (daily check-in instruments) and the brief's measurement-based
//! care model; disengagement is an early sign of relapse or crisis in substance-use
//! care. The 3-day threshold is a clinic convention from the issue.

use jiff::SignedDuration;
use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};

pub const GUIDANCE: Guidance = Guidance {
    title: "No check-in for 3 days",
    consider: "Reach out: ask how the patient is, whether the app is working for them, and \
               whether anything has changed (a relapse, an illness, a lost phone). Adjust the \
               check-in schedule if daily is too much.",
    source: "shared/reference/instruments.md (check-in instruments and schedules); threshold \
             from the clinic's check-in policy",
    evidence: "A practical engagement signal, not a validated risk marker.",
};

pub const GAP: SignedDuration = SignedDuration::from_hours(3 * 24);

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    let last = facts.last_check_in.filter(|at| *at <= facts.now);
    // A patient who never checked in is counted from enrolment.
    let since = last.unwrap_or(facts.enrolled_at);
    let gap = facts.now.duration_since(since);
    if gap < GAP {
        return None;
    }
    let days = gap.as_hours() / 24;
    Some(Finding {
        rule: Rule::MissedCheckins,
        scope: String::new(),
        episode: format!("since:{since}"),
        summary: match last {
            Some(at) => format!(
                "No check-in for {days} days (last {})",
                at.to_zoned_datetime(facts.zone.clone()).date()
            ),
            None => format!("No check-in since enrolment {days} days ago"),
        },
        evidence: json!({
            "last_check_in_at": last.map(|t| t.to_string()),
            "enrolled_at": facts.enrolled_at.to_string(),
            "days_without_check_in": days,
            "threshold_days": 3,
        }),
        source: Source::Patient,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::test_support::{facts, hours_ago};

    #[test]
    fn seventy_one_hours_does_not_fire_and_seventy_two_does() {
        let mut f = facts();
        f.last_check_in = Some(hours_ago(71));
        assert!(evaluate(&f).is_none());
        f.last_check_in = Some(hours_ago(72));
        let finding = evaluate(&f).unwrap();
        assert_eq!(finding.evidence["days_without_check_in"], 3);
    }

    #[test]
    fn a_new_patient_is_counted_from_enrolment() {
        let mut f = facts();
        f.enrolled_at = hours_ago(48);
        assert!(evaluate(&f).is_none());
        f.enrolled_at = hours_ago(80);
        assert!(evaluate(&f).unwrap().summary.contains("since enrolment"));
    }

    #[test]
    fn each_gap_is_its_own_episode() {
        let mut f = facts();
        f.last_check_in = Some(hours_ago(100));
        let first = evaluate(&f).unwrap().episode;
        f.last_check_in = Some(hours_ago(90));
        assert_ne!(evaluate(&f).unwrap().episode, first);
    }
}
