//! The clinician's roster: who needs attention first, and which way each patient's
//! measures are moving.

use std::cmp::Reverse;

use serde::Serialize;

use crate::safety::Severity;

/// Which way a measure moved between two periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Rising,
    Falling,
    Steady,
    NotEnoughData,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Rising => "rising",
            Direction::Falling => "falling",
            Direction::Steady => "steady",
            Direction::NotEnoughData => "not_enough_data",
        }
    }

    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Rising => "↑",
            Direction::Falling => "↓",
            Direction::Steady => "→",
            Direction::NotEnoughData => "·",
        }
    }
}

/// A measure now and before, and which way it moved.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Trend {
    pub recent: Option<f64>,
    pub previous: Option<f64>,
    pub direction: Direction,
}

impl Trend {
    /// Compares two values. A change smaller than `steady_within` (in the measure's own
    /// units) is steady: scores move by a point or two from day to day without meaning.
    pub fn between(recent: Option<f64>, previous: Option<f64>, steady_within: f64) -> Trend {
        let direction = match (recent, previous) {
            (Some(now), Some(before)) if now - before >= steady_within => Direction::Rising,
            (Some(now), Some(before)) if before - now >= steady_within => Direction::Falling,
            (Some(_), Some(_)) => Direction::Steady,
            _ => Direction::NotEnoughData,
        };
        Trend {
            recent,
            previous,
            direction,
        }
    }

    /// As [`Trend::between`], with the steady margin a fraction of the earlier value
    /// (for amounts such as milligrams, where 10 % means more than 10 mg).
    pub fn relative(recent: Option<f64>, previous: Option<f64>, steady_fraction: f64) -> Trend {
        let margin = previous.map_or(f64::INFINITY, |p| (p.abs() * steady_fraction).max(1e-9));
        match (recent, previous) {
            (Some(_), Some(0.0)) => Trend::between(recent, previous, 1e-9),
            _ => Trend::between(recent, previous, margin),
        }
    }
}

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
    fn a_change_inside_the_margin_is_steady_and_at_the_margin_is_a_move() {
        assert_eq!(
            Trend::between(Some(11.0), Some(10.0), 2.0).direction,
            Direction::Steady
        );
        assert_eq!(
            Trend::between(Some(12.0), Some(10.0), 2.0).direction,
            Direction::Rising
        );
        assert_eq!(
            Trend::between(Some(8.0), Some(10.0), 2.0).direction,
            Direction::Falling
        );
        assert_eq!(
            Trend::between(Some(8.0), None, 2.0).direction,
            Direction::NotEnoughData
        );
    }

    #[test]
    fn relative_trends_scale_the_margin_with_the_earlier_amount() {
        assert_eq!(
            Trend::relative(Some(105.0), Some(100.0), 0.1).direction,
            Direction::Steady
        );
        assert_eq!(
            Trend::relative(Some(110.0), Some(100.0), 0.1).direction,
            Direction::Rising
        );
        assert_eq!(
            Trend::relative(Some(50.0), Some(0.0), 0.1).direction,
            Direction::Rising
        );
        assert_eq!(
            Trend::relative(Some(0.0), Some(0.0), 0.1).direction,
            Direction::Steady
        );
    }

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
