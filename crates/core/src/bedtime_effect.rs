//! "How do my nights go with and without a bedtime dose?" — per patient, honestly.
//!
//! Each sleep metric is compared between nights with a bedtime dose and nights without by
//! least squares on a 0/1 indicator (the coefficient is exactly the difference of the two
//! means), and regressed on the predicted bedtime mitragynine concentration. Nights are not
//! independent (a bad night follows a bad night), so the standard error is Newey–West's
//! heteroskedasticity- and autocorrelation-consistent one (Bartlett kernel) over calendar
//! nights: a night with no diary contributes nothing but still counts as a lag. The
//! interval is Student's t on n − 2 degrees of freedom. Checked against statsmodels
//! (`scripts/bedtime_effect_reference.py`, fixtures in `crates/core/tests/fixtures/`).
//!
//! This is an observation of one person's own nights, not a trial: withdrawal may drive
//! both the dose and the poor night (pharmacology.md §7: no controlled evidence either way).

use jiff::civil::Date;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::nights::Night;

/// Nights needed in each group before a difference is reported (issue 16's default).
pub const MIN_NIGHTS_PER_GROUP: usize = 7;

/// How the interval is computed, as the API states it.
pub const METHOD: &str = "Difference of means by least squares on a bedtime-dose indicator (with minus without); \
95% interval from a Newey-West HAC standard error (Bartlett kernel, lag = floor(4*(n/100)^(2/9)) calendar nights, \
no small-sample correction) with Student t on n-2 degrees of freedom, so that consecutive nights are not \
treated as independent. Slope: the same regression on the predicted mitragynine concentration when the \
patient tried to sleep (or at the usual bedtime), per 100 ng/mL.";

/// One observation: a night's position (days from any fixed date), a regressor, an outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub night: i64,
    pub x: f64,
    pub y: f64,
}

/// A simple regression with its HAC interval for the slope.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Fit {
    pub intercept: f64,
    pub slope: f64,
    pub slope_se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: usize,
    pub lags: usize,
}

/// Newey and West's (1994) rule of thumb for the Bartlett kernel's bandwidth.
pub fn newey_west_lags(n: usize) -> usize {
    (4.0 * (n as f64 / 100.0).powf(2.0 / 9.0)).floor() as usize
}

/// Least squares of `y` on `x` with a Newey–West standard error, the lag counted in
/// calendar nights between points. `None` below three points or when `x` does not vary.
pub fn ols_hac(points: &[Point], lags: usize) -> Option<Fit> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mean_x = points.iter().map(|p| p.x).sum::<f64>() / nf;
    let mean_y = points.iter().map(|p| p.y).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.x - mean_x).powi(2)).sum();
    if sxx <= f64::EPSILON * nf * (1.0 + mean_x.abs()) {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.x - mean_x) * (p.y - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    // (X'X)⁻¹ for the design [1, x].
    let sum_x: f64 = points.iter().map(|p| p.x).sum();
    let sum_xx: f64 = points.iter().map(|p| p.x * p.x).sum();
    let det = nf * sum_xx - sum_x * sum_x;
    let inv = [[sum_xx / det, -sum_x / det], [-sum_x / det, nf / det]];
    // Scores g = x·e, and the Bartlett-weighted sum of their cross products.
    let scores: Vec<[f64; 2]> = points
        .iter()
        .map(|p| {
            let e = p.y - intercept - slope * p.x;
            [e, p.x * e]
        })
        .collect();
    let mut s = [[0.0; 2]; 2];
    for (i, a) in points.iter().enumerate() {
        for (j, b) in points.iter().enumerate() {
            let lag = (a.night - b.night).unsigned_abs() as usize;
            if lag > lags {
                continue;
            }
            let w = 1.0 - lag as f64 / (lags as f64 + 1.0);
            for r in 0..2 {
                for c in 0..2 {
                    s[r][c] += w * scores[i][r] * scores[j][c];
                }
            }
        }
    }
    // V = inv · S · inv; only the slope's variance is needed.
    let row = [
        inv[1][0] * s[0][0] + inv[1][1] * s[1][0],
        inv[1][0] * s[0][1] + inv[1][1] * s[1][1],
    ];
    let variance = row[0] * inv[0][1] + row[1] * inv[1][1];
    let slope_se = variance.max(0.0).sqrt();
    let t = StudentsT::new(0.0, 1.0, nf - 2.0).ok()?.inverse_cdf(0.975);
    Some(Fit {
        intercept,
        slope,
        slope_se,
        ci_low: slope - t * slope_se,
        ci_high: slope + t * slope_se,
        n,
        lags,
    })
}

/// The four diary metrics compared (Consensus Sleep Diary, `sleep.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    SleepOnset,
    WakeAfterSleepOnset,
    TotalSleep,
    Efficiency,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::SleepOnset,
        Metric::WakeAfterSleepOnset,
        Metric::TotalSleep,
        Metric::Efficiency,
    ];

    /// The API's key.
    pub fn key(self) -> &'static str {
        match self {
            Metric::SleepOnset => "sleep_onset_min",
            Metric::WakeAfterSleepOnset => "wake_after_sleep_onset_min",
            Metric::TotalSleep => "total_sleep_min",
            Metric::Efficiency => "efficiency_pct",
        }
    }

    pub fn of(self, night: &Night) -> Option<f64> {
        let m = night.metrics.as_ref()?;
        Some(match self {
            Metric::SleepOnset => m.sleep_onset_latency_min,
            Metric::WakeAfterSleepOnset => m.wake_after_sleep_onset_min,
            Metric::TotalSleep => m.total_sleep_time_min,
            Metric::Efficiency => m.sleep_efficiency_pct,
        })
    }
}

/// One metric's comparison. The difference and its interval are `None` below the minimum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OutcomeEffect {
    pub with_mean: Option<f64>,
    pub without_mean: Option<f64>,
    /// With minus without.
    pub difference: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Change in the metric per 100 ng/mL of predicted bedtime mitragynine, with its interval.
    pub slope_per_100_ng_ml: Option<f64>,
    pub slope_ci_low: Option<f64>,
    pub slope_ci_high: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    pub enough_data: bool,
    pub nights_with: usize,
    pub nights_without: usize,
    pub more_nights_with_needed: usize,
    pub more_nights_without_needed: usize,
    /// In [`Metric::ALL`]'s order.
    pub outcomes: Vec<(Metric, OutcomeEffect)>,
}

impl Effect {
    pub fn outcome(&self, metric: Metric) -> Option<&OutcomeEffect> {
        self.outcomes
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, o)| o)
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Days from a fixed date, for counting lags between nights.
pub fn position(night: Date) -> i64 {
    Date::constant(2000, 1, 1)
        .until(night)
        .map_or(0, |span| i64::from(span.get_days()))
}

/// Compares nights with a bedtime dose against nights without, over nights that have a
/// readable diary. `min_per_group` nights are needed in each group before a number is given.
pub fn bedtime_effect(nights: &[Night], min_per_group: usize) -> Effect {
    let rated: Vec<&Night> = nights.iter().filter(|n| n.metrics.is_some()).collect();
    let nights_with = rated.iter().filter(|n| n.bedtime_dose()).count();
    let nights_without = rated.len() - nights_with;
    let enough_data = nights_with >= min_per_group && nights_without >= min_per_group;
    let outcomes = Metric::ALL
        .iter()
        .map(|&metric| {
            let value = |n: &&Night| metric.of(n);
            let with_mean = mean(rated.iter().filter(|n| n.bedtime_dose()).filter_map(value));
            let without_mean = mean(rated.iter().filter(|n| !n.bedtime_dose()).filter_map(value));
            let indicator: Vec<Point> = rated
                .iter()
                .filter_map(|n| {
                    Some(Point {
                        night: position(n.night_of),
                        x: if n.bedtime_dose() { 1.0 } else { 0.0 },
                        y: metric.of(n)?,
                    })
                })
                .collect();
            let difference = enough_data
                .then(|| ols_hac(&indicator, newey_west_lags(indicator.len())))
                .flatten();
            let levels: Vec<Point> = rated
                .iter()
                .filter_map(|n| {
                    Some(Point {
                        night: position(n.night_of),
                        x: n.predicted_bedtime_ng_ml? / 100.0,
                        y: metric.of(n)?,
                    })
                })
                .collect();
            let slope = enough_data
                .then(|| ols_hac(&levels, newey_west_lags(levels.len())))
                .flatten();
            (
                metric,
                OutcomeEffect {
                    with_mean,
                    without_mean,
                    difference: difference.map(|f| f.slope),
                    ci_low: difference.map(|f| f.ci_low),
                    ci_high: difference.map(|f| f.ci_high),
                    slope_per_100_ng_ml: slope.map(|f| f.slope),
                    slope_ci_low: slope.map(|f| f.ci_low),
                    slope_ci_high: slope.map(|f| f.ci_high),
                },
            )
        })
        .collect();
    Effect {
        enough_data,
        nights_with,
        nights_without,
        more_nights_with_needed: min_per_group.saturating_sub(nights_with),
        more_nights_without_needed: min_per_group.saturating_sub(nights_without),
        outcomes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sleep::SleepMetrics;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * (1.0 + b.abs())
    }

    #[test]
    fn without_autocorrelation_lag_zero_is_the_white_standard_error_computed_by_hand() {
        // x = 0,0,1,1; y = 1,3,4,8: means 2 and 6, slope 4, residuals −1,1,−2,2.
        // (X'X)⁻¹ = [[0.5,−0.5],[−0.5,1]]; S = Σ e²·[[1,x],[x,x²]] = [[10,8],[8,8]];
        // var(slope) = [−0.5,1]·S·[−0.5,1]ᵀ = 2.5 − 8 + 8 = 2.5.
        let points: Vec<Point> = [(0.0, 1.0), (0.0, 3.0), (1.0, 4.0), (1.0, 8.0)]
            .iter()
            .enumerate()
            .map(|(i, (x, y))| Point {
                night: i as i64,
                x: *x,
                y: *y,
            })
            .collect();
        let fit = ols_hac(&points, 0).unwrap();
        assert!(close(fit.slope, 4.0));
        assert!(close(fit.intercept, 2.0));
        assert!(close(fit.slope_se, 2.5_f64.sqrt()), "{}", fit.slope_se);
        // t(0.975, 2 df) = 4.302652729911275.
        assert!(close(fit.ci_high, 4.0 + 4.302652729911275 * 2.5_f64.sqrt()));
    }

    #[test]
    fn a_night_without_a_diary_still_counts_as_a_lag() {
        let series = |nights: [i64; 4]| {
            let ys = [1.0, 3.0, 4.0, 8.0];
            let xs = [0.0, 1.0, 0.0, 1.0];
            (0..4)
                .map(|i| Point {
                    night: nights[i],
                    x: xs[i],
                    y: ys[i],
                })
                .collect::<Vec<_>>()
        };
        let packed = ols_hac(&series([0, 1, 2, 3]), 1).unwrap();
        let gapped = ols_hac(&series([0, 2, 4, 6]), 1).unwrap();
        let white = ols_hac(&series([0, 1, 2, 3]), 0).unwrap();
        assert!(close(packed.slope, gapped.slope));
        assert!(!close(packed.slope_se, gapped.slope_se));
        assert!(
            close(gapped.slope_se, white.slope_se),
            "two nights apart is beyond lag 1"
        );
    }

    #[test]
    fn a_constant_regressor_or_too_few_points_gives_no_fit() {
        let same: Vec<Point> = (0..5)
            .map(|i| Point {
                night: i,
                x: 1.0,
                y: i as f64,
            })
            .collect();
        assert_eq!(ols_hac(&same, 1), None);
        assert_eq!(ols_hac(&same[..2], 1), None);
    }

    #[test]
    fn the_rule_of_thumb_lag_grows_slowly() {
        assert_eq!(newey_west_lags(14), 2);
        assert_eq!(newey_west_lags(30), 3);
        assert_eq!(newey_west_lags(100), 4);
    }

    fn night(day: i64, dosed: bool, latency: f64) -> Night {
        Night {
            night_of: Date::constant(2026, 1, 1)
                .checked_add(jiff::Span::new().days(day))
                .unwrap(),
            bedtime_doses: if dosed {
                vec![crate::nights::BedtimeDose {
                    taken_at: jiff::Timestamp::UNIX_EPOCH,
                    batch_id: crate::ids::BatchId::from_uuid(uuid::Uuid::nil()),
                    mitragynine_mg: Some(20.0),
                    hydroxymitragynine_mg: None,
                    minutes_before_bedtime: Some(30),
                }]
            } else {
                Vec::new()
            },
            predict_at: None,
            predicted_bedtime_ng_ml: Some(if dosed { 120.0 } else { 40.0 }),
            metrics: Some(SleepMetrics {
                time_in_bed_min: 480.0,
                sleep_onset_latency_min: latency,
                wake_after_sleep_onset_min: 30.0,
                total_sleep_time_min: 450.0 - latency,
                sleep_efficiency_pct: (450.0 - latency) / 4.8,
                awakenings: 1,
                quality: None,
            }),
            diary_unreadable: false,
            next_day_craving: None,
            next_day_sows: None,
        }
    }

    #[test]
    fn below_seven_nights_in_a_group_the_answer_is_how_many_more_are_needed() {
        let nights: Vec<Night> = (0..12).map(|d| night(d, d < 4, 20.0)).collect();
        let effect = bedtime_effect(&nights, MIN_NIGHTS_PER_GROUP);
        assert!(!effect.enough_data);
        assert_eq!((effect.nights_with, effect.nights_without), (4, 8));
        assert_eq!(effect.more_nights_with_needed, 3);
        assert_eq!(effect.more_nights_without_needed, 0);
        let onset = effect.outcome(Metric::SleepOnset).unwrap();
        assert_eq!(onset.difference, None);
        assert_eq!(onset.with_mean, Some(20.0));
    }

    /// A synthetic patient whose bedtime doses shorten sleep-onset latency by exactly 12
    /// minutes, on top of autocorrelated night-to-night noise (AR(1), φ = 0.6), with a
    /// fixed pseudo-random dosing pattern and some nights without a diary.
    #[test]
    fn a_planted_twelve_minute_effect_lies_inside_the_interval() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut uniform = move || {
            // xorshift64*: fixed seed, so the test is the same on every run.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut noise = 0.0;
        let mut nights = Vec::new();
        for day in 0..90 {
            // Sum of four uniforms: roughly normal, sd ≈ 0.58 × 10 min.
            let shock = (uniform() + uniform() + uniform() + uniform() - 2.0) * 10.0;
            noise = 0.6 * noise + shock;
            let dosed = uniform() < 0.45;
            if uniform() < 0.15 {
                continue;
            }
            let latency = 35.0 + noise - if dosed { 12.0 } else { 0.0 };
            nights.push(night(day, dosed, latency.max(0.0)));
        }
        let effect = bedtime_effect(&nights, MIN_NIGHTS_PER_GROUP);
        assert!(effect.enough_data);
        let onset = effect.outcome(Metric::SleepOnset).unwrap();
        let (low, high) = (onset.ci_low.unwrap(), onset.ci_high.unwrap());
        assert!(low < -12.0 && -12.0 < high, "{low}..{high}");
        assert!(
            high < 0.0,
            "a 12-minute effect over 90 nights is detected: {low}..{high}"
        );
        assert!(close(
            onset.difference.unwrap(),
            onset.with_mean.unwrap() - onset.without_mean.unwrap()
        ));
    }
}
