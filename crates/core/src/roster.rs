//! The clinician's roster: who needs attention first. Which way each patient's measures
//! are moving is [`crate::progress::Trend`].

use std::cmp::Reverse;

use crate::safety::Severity;

/// What orders the roster for one patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attention {
    /// The most severe alert nobody has acknowledged yet.
    pub highest_open_severity: Option<Severity>,
    /// Whole days since the last check-in; `None` if the patient never checked in.
    pub days_since_check_in: Option<i64>,
}

impl Attention {
    /// Sort key: most severe open alert first, then longest without a check-in (never
    /// checked in counts as longest).
    pub fn sort_key(&self) -> (Reverse<Option<Severity>>, Reverse<i64>) {
        (
            Reverse(self.highest_open_severity),
            Reverse(self.days_since_check_in.unwrap_or(i64::MAX)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roster_puts_urgent_alerts_first_then_the_longest_silence() {
        let mut patients = [
            (
                "quiet",
                Attention {
                    highest_open_severity: None,
                    days_since_check_in: Some(9),
                },
            ),
            (
                "warning",
                Attention {
                    highest_open_severity: Some(Severity::Warning),
                    days_since_check_in: Some(0),
                },
            ),
            (
                "urgent",
                Attention {
                    highest_open_severity: Some(Severity::Urgent),
                    days_since_check_in: Some(1),
                },
            ),
            (
                "recent",
                Attention {
                    highest_open_severity: None,
                    days_since_check_in: Some(1),
                },
            ),
            (
                "never",
                Attention {
                    highest_open_severity: None,
                    days_since_check_in: None,
                },
            ),
        ];
        patients.sort_by_key(|(_, a)| a.sort_key());
        let order: Vec<_> = patients.iter().map(|(name, _)| *name).collect();
        assert_eq!(order, ["urgent", "warning", "never", "quiet", "recent"]);
    }
}
