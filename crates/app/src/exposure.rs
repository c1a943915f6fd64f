//! Predicted exposure: the PK engine applied to a patient's dose log — the typical-patient
//! mitragynine and 7-OH curve with a population band, the concentration at the patient's
//! usual bedtime each day, and summary figures.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use speciosa_core::FieldErrors;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{BatchId, PatientId};
use speciosa_core::policy::PatientAction;
use speciosa_core::time::{ClinicalDate, Era};
use speciosa_pk::{Dose, TypicalParameters, closed_form};
use speciosa_store::{Batch, Product};

use crate::{App, AppError, Caller, access};

/// Doses older than this before the range still contribute and are included.
const LOOKBACK: SignedDuration = SignedDuration::from_hours(24 * 14);
const VIRTUAL_PATIENTS: usize = 100;

/// The API's resolution: every 30 minutes. The trough is always read on this grid.
pub const API_STEP: SignedDuration = SignedDuration::from_mins(30);

/// Patient-local dates as asked for (YYYY-MM-DD, inclusive); either may be left out.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalDates<'a> {
    /// Default: 29 days before `to`.
    pub from: Option<&'a str>,
    /// Default: today in the patient's zone.
    pub to: Option<&'a str>,
}

impl LocalDates<'_> {
    /// The inclusive local date range, checked: `from` not after `to`, at most two years.
    /// `today` is today where the patient lives.
    pub fn resolve(&self, today: Date) -> Result<(Date, Date), FieldErrors> {
        let mut errors = FieldErrors::new();
        let parse = |errors: &mut FieldErrors, field: &str, raw: Option<&str>| {
            raw.filter(|r| !r.trim().is_empty())
                .and_then(|r| errors.check(field, ClinicalDate::parse(r)))
                .map(ClinicalDate::get)
        };
        let to = parse(&mut errors, "to", self.to);
        let from = parse(&mut errors, "from", self.from);
        if !errors.is_empty() {
            return Err(errors);
        }
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| {
            Era::Clinical.clamp(to.checked_sub(jiff::Span::new().days(29)).unwrap_or(to))
        });
        if from > to {
            return Err(FieldErrors::single("from", "from must not be after to"));
        }
        if from.until(to).map_or(i32::MAX, |s| s.get_days()) > 731 {
            return Err(FieldErrors::single(
                "from",
                "ask for at most two years at a time",
            ));
        }
        Ok((from, to))
    }
}

/// The model's typical-patient levels at one instant, ng/mL.
pub struct PredictedLevel {
    pub at: Timestamp,
    pub mitragynine: f64,
    pub hydroxymitragynine: f64,
    /// 5th and 95th percentiles of mitragynine across virtual patients.
    pub mitragynine_p5: f64,
    pub mitragynine_p95: f64,
}

/// The PK engine applied to a patient's dose log over a range of local dates, in typed form
/// for the adapters to render.
pub struct Prediction {
    pub points: Vec<PredictedLevel>,
    /// (local date, instant of the usual bedtime, typical mitragynine ng/mL).
    pub bedtime: Vec<(Date, Timestamp, f64)>,
    pub steady_state_average_ng_ml: Option<f64>,
    pub trough_ng_ml: Option<f64>,
    pub time_to_90pct_steady_state_h: f64,
    pub time_to_10pct_after_last_dose_h: Option<f64>,
    /// Doses that entered the model (including those in the look-back before the range).
    pub doses_used: usize,
    pub doses_excluded: usize,
    /// Of `doses_excluded`, those whose 7-OH is known but mitragynine is not (7-OH
    /// products): listed, never silently dropped.
    pub doses_hydroxymitragynine_only: usize,
    /// Said whenever a dose carried 7-OH directly: the model cannot estimate it reliably.
    pub hydroxymitragynine_caution: Option<String>,
    pub model_source: String,
    pub variability_note: String,
    pub caution: String,
}

/// Predicts a patient's levels over `dates` every `step`, authorized
/// (`PatientAction::Read`) and audited as `exposure.predict`. The timeline page asks for a
/// coarser step over long ranges.
pub async fn predict_exposure(
    app: &App,
    caller: &Caller,
    id: PatientId,
    dates: LocalDates<'_>,
    step: SignedDuration,
) -> Result<Prediction, AppError> {
    access::patient(app, caller, id, PatientAction::Read, "exposure.predict").await?;
    let patient = app
        .store
        .get_patient(id)
        .await?
        .ok_or(AppError::NotFound("patient"))?;
    let zone = patient.details.time_zone.to_zone();
    let (from, to) = dates.resolve(Timestamp::now().to_zoned_datetime(zone.clone()).date())?;
    let start = from
        .to_zoned_datetime(zone.clone())
        .map_err(|error| AppError::Defect(format!("the range's first day: {error}")))?
        .timestamp();
    let end = to
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned_datetime(zone.clone()).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| AppError::Defect("the day after the range has no instant".into()))?;
    let origin = start
        .checked_sub(LOOKBACK)
        .map_err(|error| AppError::Defect(format!("the look-back before the range: {error}")))?;
    let logged = app.store.list_doses(id, origin, end, false).await?;
    let hours = |t: Timestamp| t.duration_since(origin).as_secs_f64() / 3600.0;
    let doses: Vec<Dose> = logged
        .iter()
        .filter_map(|d| {
            d.mitragynine_mg.map(|mg| Dose {
                time_h: hours(d.taken_at),
                mitragynine_mg: mg,
                hydroxymitragynine_mg: d.hydroxymitragynine_mg.unwrap_or(0.0),
            })
        })
        .collect();
    let doses_excluded = logged.len() - doses.len();
    // 7-OH taken as such (a 7-OH product), rather than the trace a leaf carries: more than
    // 5 % of the dose's mitragynine, or 7-OH with mitragynine unknown.
    let direct = |d: &speciosa_store::Dose| match (d.mitragynine_mg, d.hydroxymitragynine_mg) {
        (_, None) => false,
        (None, Some(oh)) => oh > 0.0,
        (Some(mg), Some(oh)) => oh > 0.0 && oh > 0.05 * mg,
    };
    let direct_doses = logged.iter().filter(|d| direct(d)).count();
    let doses_hydroxymitragynine_only = logged
        .iter()
        .filter(|d| {
            d.mitragynine_mg.is_none() && d.hydroxymitragynine_mg.is_some_and(|oh| oh > 0.0)
        })
        .count();
    let hydroxymitragynine_caution = (direct_doses > 0).then(|| {
        format!(
            "{direct_doses} logged dose{} carried 7-OH directly (a 7-OH product). The model cannot \
             estimate levels from directly dosed 7-OH reliably: it treats 7-OH as formed from \
             mitragynine (pharmacology.md §1d), the formation fraction is an assumption, and \
             predicted peaks for a 15 mg 7-OH tablet vary about 25-fold across plausible values. \
             Read the 7-OH figures as unreliable.{}",
            if direct_doses == 1 { "" } else { "s" },
            match doses_hydroxymitragynine_only {
                0 => String::new(),
                n => format!(
                    " {n} of them, with 7-OH known but mitragynine unknown, are not in this prediction."
                ),
            }
        )
    });
    let typical = TypicalParameters::bundled()
        .map_err(|error| AppError::Defect(format!("loading PK parameters: {error}")))?;
    let p = typical.parameters;

    let grid = |step: SignedDuration| {
        let mut instants = Vec::new();
        let mut at = start;
        while at <= end {
            instants.push(at);
            at = match at.checked_add(step) {
                Ok(next) => next,
                Err(_) => break,
            };
        }
        instants
    };
    let instants = grid(step.max(SignedDuration::from_mins(1)));
    let times: Vec<f64> = instants.iter().map(|t| hours(*t)).collect();
    let people = typical
        .variability
        .sample(&p, VIRTUAL_PATIENTS, 1)
        .map_err(|error| AppError::Defect(format!("sampling virtual patients: {error}")))?;
    // A hundred virtual patients over weeks of doses is seconds of arithmetic: keep it off
    // the threads that serve requests.
    let (curve, bands, doses) = tokio::task::spawn_blocking(move || {
        let curve = closed_form::simulate(&p, &doses, &times);
        let bands = speciosa_pk::population::simulate(&people, &doses, &times, |_| {});
        (curve, bands, doses)
    })
    .await
    .map_err(|error| AppError::Defect(format!("simulating predicted exposure: {error}")))?;
    let points = instants
        .iter()
        .zip(&curve)
        .zip(&bands.mitragynine)
        .map(|((at, c), band)| PredictedLevel {
            at: *at,
            mitragynine: c.mitragynine * 1000.0,
            hydroxymitragynine: c.hydroxymitragynine * 1000.0,
            mitragynine_p5: band[0] * 1000.0,
            mitragynine_p95: band[4] * 1000.0,
        })
        .collect::<Vec<_>>();

    let mut bedtime = Vec::new();
    if let Some(time) = patient.details.usual_bedtime {
        let mut date = from;
        while date <= to {
            if let Ok(zoned) = date.to_datetime(time).to_zoned_datetime(zone.clone()) {
                let at = zoned.timestamp();
                let c = closed_form::simulate(&p, &doses, &[hours(at)])[0];
                bedtime.push((date, at, c.mitragynine * 1000.0));
            }
            date = match date.tomorrow() {
                Ok(next) => next,
                Err(_) => break,
            };
        }
    }
    let last_week_mg: f64 = doses
        .iter()
        .filter(|d| d.time_h >= hours(end) - 168.0)
        .map(|d| d.mitragynine_mg)
        .sum();
    let steady_state_average_ng_ml =
        (last_week_mg > 0.0).then(|| last_week_mg / 168.0 / p.cl * 1000.0);
    // The trough is read on the API's 30-minute grid whatever the step, so that a coarse
    // curve for a long range does not miss it.
    let day_before_end = hours(end) - 24.0;
    let last_day: Vec<f64> = grid(API_STEP)
        .iter()
        .map(|t| hours(*t))
        .filter(|t| *t >= day_before_end)
        .collect();
    let trough_ng_ml = closed_form::simulate(&p, &doses, &last_day)
        .iter()
        .map(|c| c.mitragynine * 1000.0)
        .reduce(f64::min);
    // From the last dose's peak (within a day of it), the first half-hour below 10 % of that peak.
    let time_to_10pct_after_last_dose_h =
        doses
            .iter()
            .map(|d| d.time_h)
            .reduce(f64::max)
            .and_then(|last| {
                let steps: Vec<f64> = (1..=24 * 60).map(|k| last + k as f64 * 0.5).collect();
                let levels: Vec<f64> = closed_form::simulate(&p, &doses, &steps)
                    .iter()
                    .map(|c| c.mitragynine)
                    .collect();
                let peak = levels.iter().take(48).copied().fold(0.0, f64::max);
                let peak_at = levels.iter().position(|c| *c == peak)?;
                levels
                    .iter()
                    .zip(&steps)
                    .skip(peak_at)
                    .find(|(c, _)| **c < 0.1 * peak)
                    .map(|(_, t)| t - last)
            });
    let mut entry = caller.audit(
        "exposure.predict",
        "exposure",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{from}..{to}: {} doses", doses.len()));
    app.store.append_audit(entry).await?;
    Ok(Prediction {
        points,
        bedtime,
        steady_state_average_ng_ml,
        trough_ng_ml,
        time_to_90pct_steady_state_h: 3.32 * p.terminal_half_life(),
        time_to_10pct_after_last_dose_h,
        doses_used: doses.len(),
        doses_excluded,
        doses_hydroxymitragynine_only,
        hydroxymitragynine_caution,
        model_source: typical.source,
        variability_note: typical.variability_note,
        caution: "A typical-patient prediction from a model reconstructed from one small study; individual levels vary widely (see the band). It supports clinical judgement and is not a dosing recommendation.".into(),
    })
}

/// The product and batch behind each of `batches` (batches of a patient's dose log), for
/// naming what the patient took. The catalogue is the patient's organization's.
pub async fn products_of_batches(
    app: &App,
    caller: &Caller,
    id: PatientId,
    batches: &[BatchId],
) -> Result<BTreeMap<BatchId, (Product, Batch)>, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "exposure.read").await?;
    let catalogue = app.store.list_products(patient.organization_id).await?;
    let stored = app.store.list_batches(patient.organization_id).await?;
    Ok(stored
        .into_iter()
        .filter(|b| batches.contains(&b.id))
        .filter_map(|b| {
            let product = catalogue.iter().find(|p| p.id == b.product_id)?.clone();
            Some((b.id, (product, b)))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn field_of(result: Result<(Date, Date), FieldErrors>) -> String {
        let errors = result.expect_err("the range should be refused");
        errors
            .errors
            .iter()
            .map(|e| e.field.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn an_unstated_range_is_the_thirty_days_up_to_today() {
        let today = date(2026, 5, 15);
        assert_eq!(
            LocalDates::default().resolve(today).unwrap(),
            (date(2026, 4, 16), today)
        );
        let blank = LocalDates {
            from: Some(" "),
            to: Some(""),
        };
        assert_eq!(blank.resolve(today).unwrap(), (date(2026, 4, 16), today));
    }

    #[test]
    fn a_range_backwards_or_longer_than_two_years_is_refused_on_from() {
        let today = date(2026, 5, 15);
        let backwards = LocalDates {
            from: Some("2026-05-10"),
            to: Some("2026-05-01"),
        };
        assert_eq!(field_of(backwards.resolve(today)), "from");
        let too_long = LocalDates {
            from: Some("2023-01-01"),
            to: Some("2026-01-01"),
        };
        assert_eq!(field_of(too_long.resolve(today)), "from");
    }

    #[test]
    fn unreadable_dates_are_named_by_their_field() {
        let dates = LocalDates {
            from: Some("yesterday"),
            to: Some("2026-13-01"),
        };
        assert_eq!(field_of(dates.resolve(date(2026, 5, 15))), "to,from");
    }
}
