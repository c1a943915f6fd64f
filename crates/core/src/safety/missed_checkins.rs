//! No check-in for 3 days past what the patient's own schedule asks (3 days for a
//! daily check-in, 10 for a weekly one).
//!
//! Source: instruments.md (daily check-in instruments) and the brief's measurement-based
//! care model; disengagement is an early sign of relapse or crisis in substance-use
//! care. The 3-day threshold is a clinic convention from the issue.

use jiff::SignedDuration;
use serde_json::json;

use super::{Finding, Guidance, PatientFacts, Rule, Source};
use crate::checkin::Frequency;

pub const GUIDANCE: Guidance = Guidance {
    title: "Check-ins missed",
    consider: "Reach out: ask how the patient is, whether the app is working for them, and \
               whether anything has changed (a relapse, an illness, a lost phone). Adjust the \
               check-in schedule if daily is too much.",
    source: "shared/reference/instruments.md (check-in instruments and schedules); threshold \
             from the clinic's check-in policy",
    evidence: "A practical engagement signal, not a validated risk marker.",
};

pub const GAP: SignedDuration = SignedDuration::from_hours(3 * 24);

/// How long without a check-in counts as missed, on the patient's own schedule: three
/// days for a daily check-in; for a patient asked only weekly, three days past the
/// week; never for a patient with nothing scheduled.
pub fn gap_for(rhythm: Frequency) -> Option<SignedDuration> {
    match rhythm {
        Frequency::Daily => Some(GAP),
        Frequency::Weekly => Some(SignedDuration::from_hours(7 * 24) + GAP),
        Frequency::Off => None,
    }
}

pub fn evaluate(facts: &PatientFacts) -> Option<Finding> {
    let threshold = gap_for(facts.monitoring.checkin_rhythm)?;
    let last = facts.last_check_in.filter(|at| *at <= facts.now);
    // A patient who never checked in is counted from enrolment.
    let since = last.unwrap_or(facts.enrolled_at);
    let gap = facts.now.duration_since(since);
    if gap < threshold {
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
        } + match facts.monitoring.checkin_rhythm {
            Frequency::Weekly => " (checks in weekly)",
            _ => "",
        },
        evidence: json!({
            "last_check_in_at": last.map(|t| t.to_string()),
            "enrolled_at": facts.enrolled_at.to_string(),
            "days_without_check_in": days,
            "threshold_days": threshold.as_hours() / 24,
            "check_in_schedule": facts.monitoring.checkin_rhythm.as_str(),
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
    fn a_weekly_patient_is_missed_after_ten_days_and_one_with_nothing_scheduled_never() {
        let mut f = facts();
        f.monitoring.checkin_rhythm = Frequency::Weekly;
        f.last_check_in = Some(hours_ago(10 * 24 - 1));
        assert!(
            evaluate(&f).is_none(),
            "a weekly check-in 9 days ago is not missed"
        );
        f.last_check_in = Some(hours_ago(10 * 24));
        assert_eq!(evaluate(&f).unwrap().evidence["threshold_days"], 10);
        f.monitoring.checkin_rhythm = Frequency::Off;
        f.last_check_in = Some(hours_ago(60 * 24));
        assert!(evaluate(&f).is_none());
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
