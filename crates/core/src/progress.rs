//! A patient's own progress in numbers they can read on their phone: how many days in
//! a row they have checked in, and how a daily series compares with the week before.
//! These describe what was logged; nothing here judges it or advises a change.

use std::collections::BTreeSet;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::Serialize;

/// Days the home page looks back over ("checked in on N of the last 14 days").
pub const WINDOW_DAYS: i64 = 14;

/// How far back the home page reads check-ins to count a streak: a streak that reaches
/// this far is shown as "at least" this many days, so the page's cost does not grow with
/// the patient's history.
pub const STREAK_READ_DAYS: i64 = 100;

/// The check-in streak as of one patient-local day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckinStreak {
    /// Consecutive days with a check-in, ending today when today is done, otherwise
    /// yesterday (a day not yet over does not break the streak).
    pub days: u32,
    pub done_today: bool,
    /// Days with a check-in among the last [`WINDOW_DAYS`], today included.
    pub days_in_window: u32,
    /// The streak reaches back to the first day read ([`STREAK_READ_DAYS`]), so it may be
    /// longer than `days`.
    pub at_least: bool,
}

/// The patient-local dates on which something was completed. The zone's rules at each
/// instant decide its date, so a day that is 23 or 25 hours long counts once.
pub fn local_days(
    completed: impl IntoIterator<Item = Timestamp>,
    zone: &TimeZone,
) -> BTreeSet<Date> {
    completed
        .into_iter()
        .map(|at| at.to_zoned_datetime(zone.clone()).date())
        .collect()
}

/// The streak as of `today` (patient-local) given the days with a completed check-in.
pub fn checkin_streak(days: &BTreeSet<Date>, today: Date) -> CheckinStreak {
    let done_today = days.contains(&today);
    let mut day = if done_today {
        Some(today)
    } else {
        today.yesterday().ok()
    };
    let mut streak = 0;
    while let Some(d) = day.filter(|d| days.contains(d)) {
        streak += 1;
        day = d.yesterday().ok();
    }
    let window_start = days_before(today, WINDOW_DAYS - 1);
    let days_in_window = days.range(window_start..=today).count() as u32;
    let first_read = days_before(today, STREAK_READ_DAYS - 1);
    CheckinStreak {
        days: streak,
        done_today,
        days_in_window,
        at_least: streak > 0 && days.contains(&first_read) && day.is_none_or(|d| d < first_read),
    }
}

/// `date` minus `n` days, saturating at the calendar's start.
pub fn days_before(date: Date, n: i64) -> Date {
    date.checked_sub(Span::new().days(n)).unwrap_or(Date::MIN)
}

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

/// Mitragynine per day, the one dose figure the roster, the timeline and the patient's home
/// report: the mean over [`DOSE_WINDOW_DAYS`] full patient-local days, a day without a
/// logged dose counting as zero. The day under way is never counted, so the figure does not
/// dip every morning and climb through the day.
pub const DOSE_WINDOW_DAYS: i64 = 7;

/// The last full patient-local day as of `today`: yesterday.
pub fn last_full_day(today: Date) -> Date {
    days_before(today, 1)
}

/// Sums doses (when taken, the zone taken in, mg of mitragynine) into the local days they
/// fell on, as [`crate::dose::daily_exposure`] dates them.
pub fn daily_totals(
    doses: impl IntoIterator<Item = (Timestamp, TimeZone, f64)>,
) -> Vec<(Date, f64)> {
    let mut days: std::collections::BTreeMap<Date, f64> = std::collections::BTreeMap::new();
    for (at, zone, mg) in doses {
        *days.entry(crate::dose::local_date(at, &zone)).or_default() += mg;
    }
    days.into_iter().collect()
}

/// Mean mg per day over the [`DOSE_WINDOW_DAYS`] days ending on `last` (inclusive).
pub fn mg_per_day(daily: &[(Date, f64)], last: Date) -> f64 {
    let first = days_before(last, DOSE_WINDOW_DAYS - 1);
    daily
        .iter()
        .filter(|(d, _)| first <= *d && *d <= last)
        .map(|(_, mg)| mg)
        .sum::<f64>()
        / DOSE_WINDOW_DAYS as f64
}

/// Mitragynine per day in the window ending on `last` and in the window before it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DoseWeeks {
    pub last: Date,
    pub past_week: f64,
    pub week_before: f64,
    /// Whether any dose was logged in the week before (a zero there may mean "not yet logging").
    pub logged_before: bool,
}

impl DoseWeeks {
    pub fn of(daily: &[(Date, f64)], last: Date) -> DoseWeeks {
        let before_last = days_before(last, DOSE_WINDOW_DAYS);
        let before_first = days_before(before_last, DOSE_WINDOW_DAYS - 1);
        DoseWeeks {
            last,
            past_week: mg_per_day(daily, last),
            week_before: mg_per_day(daily, before_last),
            logged_before: daily
                .iter()
                .any(|(d, mg)| before_first <= *d && *d <= before_last && *mg > 0.0),
        }
    }

    /// The past week against the week before; within 10 % is steady (a display convention).
    pub fn trend(&self) -> Trend {
        Trend::relative(
            Some(self.past_week),
            self.logged_before.then_some(self.week_before),
            0.10,
        )
    }
}

/// The mean of a series over the seven days ending on `through`, and over the seven before.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeekComparison {
    pub past_week: Option<f64>,
    pub week_before: Option<f64>,
}

impl WeekComparison {
    /// Means of the values dated in each week (days without a value are left out;
    /// a caller whose missing day means zero, such as no dose, passes the zero).
    pub fn of(values: &[(Date, f64)], through: Date) -> Self {
        let past_start = days_before(through, 6);
        let before_start = days_before(through, 13);
        let mean = |from: Date, to: Date| {
            let inside: Vec<f64> = values
                .iter()
                .filter(|(d, _)| from <= *d && *d <= to)
                .map(|(_, v)| *v)
                .collect();
            (!inside.is_empty()).then(|| inside.iter().sum::<f64>() / inside.len() as f64)
        };
        WeekComparison {
            past_week: mean(past_start, through),
            week_before: mean(before_start, days_before(through, 7)),
        }
    }

    /// The past week against the week before; a difference under `steady_within`
    /// (same units) is steady.
    pub fn trend(&self, steady_within: f64) -> Trend {
        Trend::between(self.past_week, self.week_before, steady_within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn days(list: &[Date]) -> BTreeSet<Date> {
        list.iter().copied().collect()
    }

    #[test]
    fn a_check_in_today_extends_the_streak_through_today() {
        let done = days(&[date(2026, 5, 10), date(2026, 5, 11), date(2026, 5, 12)]);
        let streak = checkin_streak(&done, date(2026, 5, 12));
        assert_eq!(streak.days, 3);
        assert!(streak.done_today);
    }

    #[test]
    fn without_a_check_in_today_the_streak_still_runs_through_yesterday() {
        let done = days(&[date(2026, 5, 10), date(2026, 5, 11)]);
        let streak = checkin_streak(&done, date(2026, 5, 12));
        assert_eq!(streak.days, 2);
        assert!(!streak.done_today);
    }

    #[test]
    fn a_missed_day_ends_the_streak_but_still_counts_in_the_window() {
        let done = days(&[
            date(2026, 5, 8),
            date(2026, 5, 9),
            date(2026, 5, 11),
            date(2026, 5, 12),
        ]);
        let streak = checkin_streak(&done, date(2026, 5, 12));
        assert_eq!((streak.days, streak.days_in_window), (2, 4));
    }

    #[test]
    fn nothing_today_or_yesterday_is_a_streak_of_zero() {
        let done = days(&[date(2026, 5, 9), date(2026, 5, 10)]);
        let streak = checkin_streak(&done, date(2026, 5, 12));
        assert_eq!(streak.days, 0);
        assert_eq!(checkin_streak(&BTreeSet::new(), date(2026, 5, 12)).days, 0);
    }

    #[test]
    fn the_window_holds_the_last_fourteen_days_including_today_and_no_more() {
        let today = date(2026, 5, 20);
        let all: Vec<Date> = (0..20).map(|n| days_before(today, n)).collect();
        let streak = checkin_streak(&days(&all), today);
        assert_eq!((streak.days, streak.days_in_window), (20, 14));
        let edges = days(&[days_before(today, 13), days_before(today, 14)]);
        assert_eq!(checkin_streak(&edges, today).days_in_window, 1);
    }

    #[test]
    fn a_streak_reaching_the_first_day_read_is_shown_as_at_least_that_long() {
        let today = date(2026, 12, 2);
        let every_day: Vec<Date> = (0..STREAK_READ_DAYS)
            .map(|n| days_before(today, n))
            .collect();
        let streak = checkin_streak(&days(&every_day), today);
        assert_eq!(streak.days, STREAK_READ_DAYS as u32);
        assert!(streak.at_least);
        // Without today's check-in the streak ends at yesterday and still reaches it.
        let streak = checkin_streak(&days(&every_day[1..]), today);
        assert!(streak.at_least);
        // A gap inside the window makes the count exact.
        let mut gap = every_day.clone();
        gap.remove(50);
        let streak = checkin_streak(&days(&gap), today);
        assert_eq!((streak.days, streak.at_least), (50, false));
    }

    #[test]
    fn check_ins_fall_on_their_local_day_across_the_spring_forward_change() {
        // America/Chicago springs forward on Sunday 8 March 2026: that day has 23 hours.
        let zone = TimeZone::get("America/Chicago").unwrap();
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        let completed = [
            at("2026-03-07T23:30:00-06:00"),
            at("2026-03-08T23:30:00-05:00"),
            at("2026-03-09T07:00:00-05:00"),
        ];
        let done = local_days(completed, &zone);
        assert_eq!(
            done,
            days(&[date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)])
        );
        let streak = checkin_streak(&done, date(2026, 3, 9));
        assert_eq!((streak.days, streak.done_today), (3, true));
    }

    #[test]
    fn two_check_ins_on_the_day_clocks_fall_back_count_as_one_day() {
        // 1 November 2026 has 25 hours in Chicago; 00:30 and 23:30 are 24 hours apart.
        let zone = TimeZone::get("America/Chicago").unwrap();
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        let done = local_days(
            [
                at("2026-11-01T00:30:00-05:00"),
                at("2026-11-01T23:30:00-06:00"),
            ],
            &zone,
        );
        assert_eq!(done, days(&[date(2026, 11, 1)]));
    }

    #[test]
    fn weeks_compare_their_means_and_a_small_difference_is_about_the_same() {
        let through = date(2026, 5, 14);
        let mut values: Vec<(Date, f64)> =
            (0..7).map(|n| (days_before(through, n), 30.0)).collect();
        values.extend((7..14).map(|n| (days_before(through, n), 40.0)));
        values.push((days_before(through, 14), 1000.0));
        let weeks = WeekComparison::of(&values, through);
        assert_eq!(
            (weeks.past_week, weeks.week_before),
            (Some(30.0), Some(40.0))
        );
        assert_eq!(weeks.trend(1.0).direction, Direction::Falling);
        assert_eq!(
            weeks.trend(10.0).direction,
            Direction::Falling,
            "ten down is a move at a margin of ten"
        );
        assert_eq!(weeks.trend(10.5).direction, Direction::Steady);
    }

    #[test]
    fn a_week_without_values_has_no_direction() {
        let through = date(2026, 5, 14);
        let weeks = WeekComparison::of(&[(through, 5.0)], through);
        assert_eq!(weeks.past_week, Some(5.0));
        assert_eq!(weeks.trend(0.5).direction, Direction::NotEnoughData);
    }

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
    fn mitragynine_per_day_is_the_mean_of_seven_days_with_days_without_doses_as_zero() {
        let last = date(2026, 11, 29);
        let daily = [
            (date(2026, 11, 23), 140.0),
            (date(2026, 11, 29), 210.0),
            // Outside the seven days, either side.
            (date(2026, 11, 22), 999.0),
            (date(2026, 11, 30), 999.0),
        ];
        assert_eq!(mg_per_day(&daily, last), 50.0);
        assert_eq!(mg_per_day(&[], last), 0.0);
    }

    #[test]
    fn the_dose_figure_ends_yesterday_and_compares_with_the_week_before() {
        let today = date(2026, 11, 30);
        let last = last_full_day(today);
        assert_eq!(last, date(2026, 11, 29));
        let mut daily: Vec<(Date, f64)> = (0..7).map(|n| (days_before(last, n), 30.0)).collect();
        daily.extend((7..14).map(|n| (days_before(last, n), 40.0)));
        daily.push((today, 500.0));
        let weeks = DoseWeeks::of(&daily, last);
        assert_eq!((weeks.past_week, weeks.week_before), (30.0, 40.0));
        assert_eq!(weeks.trend().direction, Direction::Falling);
        // A first week of logging has nothing to compare with.
        let first = DoseWeeks::of(&daily[..3], last);
        assert!(!first.logged_before);
        assert_eq!(first.trend().direction, Direction::NotEnoughData);
        assert!((first.past_week - 90.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn doses_fall_on_the_patients_own_day() {
        let zone = TimeZone::get("America/Chicago").unwrap();
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        // 03:30 UTC on 1 December is 21:30 on 30 November in Chicago.
        let days = daily_totals([
            (at("2026-12-01T03:30:00Z"), zone.clone(), 20.0),
            (at("2026-11-30T15:00:00Z"), zone.clone(), 10.0),
            // Taken while travelling: its own zone's day (09:00 on 1 December in Tokyo).
            (
                at("2026-12-01T00:00:00Z"),
                TimeZone::get("Asia/Tokyo").unwrap(),
                5.0,
            ),
        ]);
        assert_eq!(
            days,
            vec![(date(2026, 11, 30), 30.0), (date(2026, 12, 1), 5.0)]
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
}
