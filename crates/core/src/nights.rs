//! Nights as a derived record: each patient-local night with its bedtime doses, the
//! predicted level when the patient tried to sleep, the next morning's diary and the next
//! day's craving and SOWS. Nothing is stored: late or corrected doses and diaries simply
//! change what is derived.
//!
//! A night is named by the local date on which it starts (`night_of`): night D runs from
//! noon of D to noon of D+1, and the diary completed on the morning of D+1 describes it.

use std::collections::BTreeMap;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::dose::is_bedtime_dose;
use crate::ids::BatchId;
use crate::sleep::{DiaryEntry, SleepMetrics};

/// Local noon: where one night ends and the next begins.
const NOON: Time = Time::constant(12, 0, 0, 0);

/// The night an instant belongs to: its local date, or the day before when it falls
/// before noon.
pub fn night_of(at: Timestamp, zone: &TimeZone) -> Date {
    let local = at.to_zoned_datetime(zone.clone());
    if local.time() < NOON {
        local.date().yesterday().unwrap_or(local.date())
    } else {
        local.date()
    }
}

/// The instant of the usual bedtime on night `night`: on that date when the bedtime is in
/// the evening, on the next when it is after midnight (and before noon).
pub fn usual_bedtime_at(night: Date, bedtime: Time, zone: &TimeZone) -> Option<Timestamp> {
    let date = if bedtime < NOON {
        night.tomorrow().ok()?
    } else {
        night
    };
    date.to_datetime(bedtime)
        .to_zoned_datetime(zone.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// One logged (current) dose.
#[derive(Clone, Debug)]
pub struct LoggedDose {
    pub taken_at: Timestamp,
    /// The zone the patient was in when they took it.
    pub time_zone: TimeZone,
    pub batch_id: BatchId,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
}

/// One stored sleep diary, already read into its entries.
#[derive(Clone, Debug)]
pub struct LoggedDiary {
    pub entry: DiaryEntry,
    /// When it was stored: of two diaries for one morning, the later one is the correction.
    pub entered_at: Timestamp,
}

/// One score (craving, SOWS total) with when it was completed.
#[derive(Clone, Copy, Debug)]
pub struct LoggedScore {
    pub completed_at: Timestamp,
    pub total: f64,
}

/// A dose of the night that counts as a bedtime dose.
#[derive(Clone, Debug, PartialEq)]
pub struct BedtimeDose {
    pub taken_at: Timestamp,
    pub batch_id: BatchId,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    /// Minutes before the usual bedtime (negative when taken after it).
    pub minutes_before_bedtime: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Night {
    pub night_of: Date,
    pub bedtime_doses: Vec<BedtimeDose>,
    /// When the predicted level is read: the diary's "tried to sleep", else the usual bedtime.
    pub predict_at: Option<Timestamp>,
    /// Filled by the caller from the PK model (this crate does no simulation).
    pub predicted_bedtime_ng_ml: Option<f64>,
    pub metrics: Option<SleepMetrics>,
    /// A diary that exists but cannot be read as a night (out-of-order times).
    pub diary_unreadable: bool,
    /// The mean of the next day's craving ratings and SOWS totals, where recorded.
    pub next_day_craving: Option<f64>,
    pub next_day_sows: Option<f64>,
}

impl Night {
    pub fn bedtime_dose(&self) -> bool {
        !self.bedtime_doses.is_empty()
    }

    /// Milligrams of mitragynine in the bedtime doses; `None` when there were none or
    /// none could be converted.
    pub fn bedtime_mitragynine_mg(&self) -> Option<f64> {
        sum(self.bedtime_doses.iter().map(|d| d.mitragynine_mg))
    }

    pub fn bedtime_hydroxymitragynine_mg(&self) -> Option<f64> {
        sum(self.bedtime_doses.iter().map(|d| d.hydroxymitragynine_mg))
    }

    /// The batch behind the night's bedtime milligrams: the one that gave the most.
    pub fn main_batch(&self) -> Option<BatchId> {
        self.bedtime_doses
            .iter()
            .max_by(|a, b| {
                a.mitragynine_mg
                    .unwrap_or(0.0)
                    .total_cmp(&b.mitragynine_mg.unwrap_or(0.0))
            })
            .map(|d| d.batch_id)
    }
}

fn sum(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values
        .flatten()
        .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
}

/// What one patient's nights are derived from.
pub struct NightInputs<'a> {
    /// The nights wanted, inclusive.
    pub from: Date,
    pub to: Date,
    /// The patient's zone, for diaries and scores.
    pub zone: &'a TimeZone,
    pub usual_bedtime: Option<Time>,
    /// The clinic's bedtime window (the rule of [`is_bedtime_dose`]).
    pub bedtime_window: SignedDuration,
    pub doses: &'a [LoggedDose],
    pub diaries: &'a [LoggedDiary],
    pub cravings: &'a [LoggedScore],
    pub sows: &'a [LoggedScore],
}

/// The nights in `from..=to` that have a bedtime dose or a diary, oldest first.
pub fn derive_nights(input: &NightInputs<'_>) -> Vec<Night> {
    let in_range = |d: Date| d >= input.from && d <= input.to;
    let mut nights: BTreeMap<Date, Night> = BTreeMap::new();
    let blank = |night: Date| Night {
        night_of: night,
        bedtime_doses: Vec::new(),
        predict_at: None,
        predicted_bedtime_ng_ml: None,
        metrics: None,
        diary_unreadable: false,
        next_day_craving: None,
        next_day_sows: None,
    };
    for dose in input.doses {
        let local = dose
            .taken_at
            .to_zoned_datetime(dose.time_zone.clone())
            .time();
        if !is_bedtime_dose(local, input.usual_bedtime, input.bedtime_window) {
            continue;
        }
        let night = night_of(dose.taken_at, &dose.time_zone);
        if !in_range(night) {
            continue;
        }
        let bedtime = input
            .usual_bedtime
            .and_then(|b| usual_bedtime_at(night, b, &dose.time_zone));
        nights
            .entry(night)
            .or_insert_with(|| blank(night))
            .bedtime_doses
            .push(BedtimeDose {
                taken_at: dose.taken_at,
                batch_id: dose.batch_id,
                mitragynine_mg: dose.mitragynine_mg,
                hydroxymitragynine_mg: dose.hydroxymitragynine_mg,
                minutes_before_bedtime: bedtime.map(|b| b.duration_since(dose.taken_at).as_mins()),
            });
    }
    // The latest-entered diary of each morning stands (a correction replaces the first).
    let mut diaries: BTreeMap<Date, &LoggedDiary> = BTreeMap::new();
    for diary in input.diaries {
        let Ok(night) = diary.entry.morning.yesterday() else {
            continue;
        };
        if !in_range(night) {
            continue;
        }
        let keep = diaries
            .get(&night)
            .is_none_or(|kept| diary.entered_at >= kept.entered_at);
        if keep {
            diaries.insert(night, diary);
        }
    }
    for (night, diary) in diaries {
        let record = nights.entry(night).or_insert_with(|| blank(night));
        match diary.entry.metrics(input.zone) {
            Ok(metrics) => {
                record.metrics = Some(metrics);
                record.predict_at = diary.entry.tried_to_sleep_at(input.zone).ok();
            }
            Err(_) => record.diary_unreadable = true,
        }
    }
    let next_day = |scores: &[LoggedScore], night: Date| {
        let day = night.tomorrow().ok()?;
        let totals: Vec<f64> = scores
            .iter()
            .filter(|s| s.completed_at.to_zoned_datetime(input.zone.clone()).date() == day)
            .map(|s| s.total)
            .collect();
        (!totals.is_empty()).then(|| totals.iter().sum::<f64>() / totals.len() as f64)
    };
    for night in nights.values_mut() {
        if night.predict_at.is_none() {
            night.predict_at = input
                .usual_bedtime
                .and_then(|b| usual_bedtime_at(night.night_of, b, input.zone));
        }
        night.next_day_craving = next_day(input.cravings, night.night_of);
        night.next_day_sows = next_day(input.sows, night.night_of);
    }
    nights.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn chicago() -> TimeZone {
        TimeZone::get("America/Chicago").unwrap()
    }

    fn at(text: &str) -> Timestamp {
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", text)
            .unwrap()
            .to_zoned_datetime(chicago())
            .unwrap()
            .timestamp()
    }

    fn dose(text: &str, mg: f64) -> LoggedDose {
        LoggedDose {
            taken_at: at(text),
            time_zone: chicago(),
            batch_id: BatchId::from_uuid(uuid::Uuid::nil()),
            mitragynine_mg: Some(mg),
            hydroxymitragynine_mg: Some(0.1),
        }
    }

    fn diary(morning: Date, entered: &str, latency: i64) -> LoggedDiary {
        LoggedDiary {
            entry: DiaryEntry {
                morning,
                got_into_bed: time(0, 20, 0, 0),
                tried_to_sleep: time(0, 40, 0, 0),
                sleep_onset_latency_min: latency,
                awakenings: 1,
                wake_after_sleep_onset_min: 10,
                final_awakening: time(7, 40, 0, 0),
                out_of_bed: time(8, 0, 0, 0),
                quality: Some(3),
            },
            entered_at: at(entered),
        }
    }

    fn inputs<'a>(
        zone: &'a TimeZone,
        doses: &'a [LoggedDose],
        diaries: &'a [LoggedDiary],
        cravings: &'a [LoggedScore],
    ) -> NightInputs<'a> {
        NightInputs {
            from: date(2026, 11, 1),
            to: date(2026, 11, 30),
            zone,
            usual_bedtime: Some(time(0, 30, 0, 0)),
            bedtime_window: SignedDuration::from_mins(120),
            doses,
            diaries,
            cravings,
            sows: &[],
        }
    }

    #[test]
    fn a_dose_after_midnight_before_a_late_bedtime_belongs_to_the_night_before() {
        let zone = chicago();
        let doses = [
            dose("2026-11-11 00:10", 20.0),
            dose("2026-11-11 15:00", 30.0),
        ];
        let nights = derive_nights(&inputs(&zone, &doses, &[], &[]));
        assert_eq!(nights.len(), 1, "the afternoon dose is not a bedtime dose");
        assert_eq!(nights[0].night_of, date(2026, 11, 10));
        assert_eq!(nights[0].bedtime_mitragynine_mg(), Some(20.0));
        assert_eq!(nights[0].bedtime_doses[0].minutes_before_bedtime, Some(20));
    }

    #[test]
    fn the_morning_diary_describes_the_night_before_and_a_correction_replaces_it() {
        let zone = chicago();
        let diaries = [
            diary(date(2026, 11, 11), "2026-11-11 08:05", 30),
            diary(date(2026, 11, 11), "2026-11-11 09:00", 15),
        ];
        let nights = derive_nights(&inputs(&zone, &[], &diaries, &[]));
        assert_eq!(nights.len(), 1);
        assert_eq!(nights[0].night_of, date(2026, 11, 10));
        let metrics = nights[0].metrics.as_ref().unwrap();
        assert_eq!(metrics.sleep_onset_latency_min, 15.0);
        // Read at "tried to sleep" (00:40 on the 11th), not at the usual bedtime.
        assert_eq!(nights[0].predict_at, Some(at("2026-11-11 00:40")));
        assert!(!nights[0].bedtime_dose());
    }

    #[test]
    fn next_day_scores_are_those_of_the_day_after_the_night_starts() {
        let zone = chicago();
        let doses = [dose("2026-11-10 23:30", 20.0)];
        let cravings = [
            LoggedScore {
                completed_at: at("2026-11-11 10:00"),
                total: 4.0,
            },
            LoggedScore {
                completed_at: at("2026-11-11 20:00"),
                total: 6.0,
            },
            LoggedScore {
                completed_at: at("2026-11-10 20:00"),
                total: 9.0,
            },
        ];
        let nights = derive_nights(&inputs(&zone, &doses, &[], &cravings));
        assert_eq!(nights[0].next_day_craving, Some(5.0));
        // Without a diary the level is read at the usual bedtime, 00:30 the next day.
        assert_eq!(nights[0].predict_at, Some(at("2026-11-11 00:30")));
    }

    #[test]
    fn nights_outside_the_range_are_left_out() {
        let zone = chicago();
        let doses = [
            dose("2026-12-01 23:50", 20.0),
            dose("2026-11-01 00:15", 5.0),
        ];
        let diaries = [diary(date(2026, 11, 1), "2026-11-01 08:00", 10)];
        let nights = derive_nights(&inputs(&zone, &doses, &diaries, &[]));
        // 00:15 on 1 Nov is night 31 Oct; 23:50 on 1 Dec is night 1 Dec.
        assert!(nights.is_empty(), "{nights:?}");
    }

    #[test]
    fn night_of_splits_at_local_noon() {
        let zone = chicago();
        assert_eq!(night_of(at("2026-11-11 11:59"), &zone), date(2026, 11, 10));
        assert_eq!(night_of(at("2026-11-11 12:00"), &zone), date(2026, 11, 11));
    }
}
