//! Consensus Sleep Diary metrics (Carney et al., Sleep 2012;35:287): time in bed, sleep
//! onset latency, wake after sleep onset, total sleep time and sleep efficiency for one
//! night, from clock times in the patient's own zone. Times are placed on the calendar
//! backwards from the morning, so nights that cross midnight or a daylight-saving change
//! measure the minutes that really passed.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// One morning's diary entries.
#[derive(Clone, Debug, PartialEq)]
pub struct DiaryEntry {
    /// The morning the diary describes (the date of the final awakening).
    pub morning: Date,
    pub got_into_bed: Time,
    pub tried_to_sleep: Time,
    pub sleep_onset_latency_min: i64,
    pub awakenings: i64,
    pub wake_after_sleep_onset_min: i64,
    pub final_awakening: Time,
    pub out_of_bed: Time,
    /// 1 (very poor) to 5 (very good).
    pub quality: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SleepMetrics {
    pub time_in_bed_min: f64,
    pub sleep_onset_latency_min: f64,
    pub wake_after_sleep_onset_min: f64,
    pub total_sleep_time_min: f64,
    /// Total sleep time as a percentage of time in bed.
    pub sleep_efficiency_pct: f64,
    pub awakenings: i64,
    pub quality: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiaryError {
    #[error(
        "these times are out of order: they must run got into bed → tried to sleep → final awakening → out of bed, all within one day"
    )]
    OutOfOrder,
    #[error(
        "falling asleep ({latency} min) and time awake in the night ({waso} min) add up to more than the {available} min between trying to sleep and the final awakening"
    )]
    MoreAwakeThanAvailable {
        latency: i64,
        waso: i64,
        available: i64,
    },
    #[error("a time falls in a gap where the clocks went forward and cannot be placed")]
    Unplaceable,
}

/// The latest instant at or before `limit` whose local clock reads `time`.
fn latest_at_or_before(
    time: Time,
    limit: Timestamp,
    zone: &TimeZone,
) -> Result<Timestamp, DiaryError> {
    let limit_local = limit.to_zoned_datetime(zone.clone());
    for days_back in 0..3 {
        let date = limit_local
            .date()
            .checked_sub(jiff::Span::new().days(days_back))
            .map_err(|_| DiaryError::Unplaceable)?;
        let candidate = date
            .to_datetime(time)
            .to_zoned_datetime(zone.clone())
            .map_err(|_| DiaryError::Unplaceable)?
            .timestamp();
        if candidate <= limit {
            return Ok(candidate);
        }
    }
    Err(DiaryError::Unplaceable)
}

fn minutes(span: SignedDuration) -> f64 {
    span.as_secs() as f64 / 60.0
}

impl DiaryEntry {
    /// Reads the Consensus Sleep Diary's core items (`data/instruments/sleep_diary.toml`,
    /// items 1–8) from checked answers; `None` when an entry is missing.
    pub fn from_answers(
        answers: &std::collections::BTreeMap<String, crate::instrument::Answer>,
        morning: Date,
    ) -> Option<Self> {
        use crate::instrument::Answer;
        let time = |id: &str| match answers.get(id) {
            Some(Answer::Text(text)) => Time::strptime("%H:%M", text.trim()).ok(),
            _ => None,
        };
        let number = |id: &str| match answers.get(id) {
            Some(Answer::Number(n)) => Some(*n as i64),
            _ => None,
        };
        Some(DiaryEntry {
            morning,
            got_into_bed: time("1")?,
            tried_to_sleep: time("2")?,
            sleep_onset_latency_min: number("3")?,
            awakenings: number("4")?,
            wake_after_sleep_onset_min: number("5")?,
            final_awakening: time("6")?,
            out_of_bed: time("7")?,
            quality: number("8"),
        })
    }

    /// The instant the patient tried to sleep, placed as [`DiaryEntry::metrics`] places it.
    pub fn tried_to_sleep_at(&self, zone: &TimeZone) -> Result<Timestamp, DiaryError> {
        let out_of_bed = self
            .morning
            .to_datetime(self.out_of_bed)
            .to_zoned_datetime(zone.clone())
            .map_err(|_| DiaryError::Unplaceable)?
            .timestamp();
        let final_awakening = latest_at_or_before(self.final_awakening, out_of_bed, zone)?;
        latest_at_or_before(self.tried_to_sleep, final_awakening, zone)
    }

    pub fn metrics(&self, zone: &TimeZone) -> Result<SleepMetrics, DiaryError> {
        let out_of_bed = self
            .morning
            .to_datetime(self.out_of_bed)
            .to_zoned_datetime(zone.clone())
            .map_err(|_| DiaryError::Unplaceable)?
            .timestamp();
        let final_awakening = latest_at_or_before(self.final_awakening, out_of_bed, zone)?;
        let tried = latest_at_or_before(self.tried_to_sleep, final_awakening, zone)?;
        let in_bed = latest_at_or_before(self.got_into_bed, tried, zone)?;
        let time_in_bed = out_of_bed.duration_since(in_bed);
        // Placed backwards, out-of-order entries show up as a night longer than a day.
        if time_in_bed > SignedDuration::from_hours(24) || time_in_bed <= SignedDuration::ZERO {
            return Err(DiaryError::OutOfOrder);
        }
        let available = final_awakening.duration_since(tried);
        let awake = self
            .sleep_onset_latency_min
            .saturating_add(self.wake_after_sleep_onset_min);
        if awake > available.as_mins() {
            return Err(DiaryError::MoreAwakeThanAvailable {
                latency: self.sleep_onset_latency_min,
                waso: self.wake_after_sleep_onset_min,
                available: available.as_mins(),
            });
        }
        let total_sleep = minutes(available) - awake as f64;
        let time_in_bed_min = minutes(time_in_bed);
        Ok(SleepMetrics {
            time_in_bed_min,
            sleep_onset_latency_min: self.sleep_onset_latency_min as f64,
            wake_after_sleep_onset_min: self.wake_after_sleep_onset_min as f64,
            total_sleep_time_min: total_sleep,
            sleep_efficiency_pct: total_sleep / time_in_bed_min * 100.0,
            awakenings: self.awakenings,
            quality: self.quality,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn chicago() -> TimeZone {
        TimeZone::get("America/Chicago").unwrap()
    }

    fn entry(
        morning: Date,
        bed: Time,
        tried: Time,
        wake: Time,
        out: Time,
        latency: i64,
        waso: i64,
    ) -> DiaryEntry {
        DiaryEntry {
            morning,
            got_into_bed: bed,
            tried_to_sleep: tried,
            sleep_onset_latency_min: latency,
            awakenings: 2,
            wake_after_sleep_onset_min: waso,
            final_awakening: wake,
            out_of_bed: out,
            quality: Some(3),
        }
    }

    #[test]
    fn a_night_across_midnight_gives_the_hand_computed_metrics() {
        // In bed 22:30, tried 23:00, 20 min to fall asleep, 40 min awake, woke 06:30, up 07:00.
        // TIB = 8 h 30 min = 510; available = 7 h 30 min = 450; TST = 450 − 60 = 390; SE = 390/510.
        let night = entry(
            date(2026, 11, 20),
            time(22, 30, 0, 0),
            time(23, 0, 0, 0),
            time(6, 30, 0, 0),
            time(7, 0, 0, 0),
            20,
            40,
        );
        let metrics = night.metrics(&chicago()).unwrap();
        assert_eq!(metrics.time_in_bed_min, 510.0);
        assert_eq!(metrics.total_sleep_time_min, 390.0);
        assert!((metrics.sleep_efficiency_pct - 390.0 / 510.0 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_night_the_clocks_fall_back_has_an_extra_hour() {
        // 1 Nov 2026, US: 02:00 CDT became 01:00 CST, so 22:00 → 07:00 lasted 10 hours.
        let night = entry(
            date(2026, 11, 1),
            time(22, 0, 0, 0),
            time(22, 0, 0, 0),
            time(7, 0, 0, 0),
            time(7, 0, 0, 0),
            0,
            0,
        );
        assert_eq!(night.metrics(&chicago()).unwrap().time_in_bed_min, 600.0);
        // And the spring-forward night (8 Mar 2026) lasted 8.
        let spring = DiaryEntry {
            morning: date(2026, 3, 8),
            ..night
        };
        assert_eq!(spring.metrics(&chicago()).unwrap().time_in_bed_min, 480.0);
    }

    #[test]
    fn a_bedtime_after_midnight_is_the_same_night() {
        let late = entry(
            date(2026, 11, 20),
            time(0, 30, 0, 0),
            time(0, 45, 0, 0),
            time(8, 0, 0, 0),
            time(8, 15, 0, 0),
            15,
            0,
        );
        assert_eq!(late.metrics(&chicago()).unwrap().time_in_bed_min, 465.0);
    }

    #[test]
    fn impossible_diaries_are_refused_with_a_reason() {
        // Out of bed before the final awakening.
        let backwards = entry(
            date(2026, 11, 20),
            time(22, 30, 0, 0),
            time(23, 0, 0, 0),
            time(7, 0, 0, 0),
            time(6, 30, 0, 0),
            10,
            0,
        );
        assert_eq!(backwards.metrics(&chicago()), Err(DiaryError::OutOfOrder));
        // More time awake than the night held: total sleep would exceed time in bed's limits.
        let too_awake = entry(
            date(2026, 11, 20),
            time(22, 30, 0, 0),
            time(23, 0, 0, 0),
            time(1, 0, 0, 0),
            time(1, 10, 0, 0),
            90,
            60,
        );
        assert!(matches!(
            too_awake.metrics(&chicago()),
            Err(DiaryError::MoreAwakeThanAvailable { .. })
        ));
    }
}
