//! The patient timeline, `GET /patients/{id}/timeline`: what the patient takes (mg, when,
//! which product), how withdrawal, craving, sleep, mood and pain move, what the PK model
//! predicts and every safety signal, as charts stacked on one axis of patient-local days so
//! that a clinician can read it in thirty seconds. The patient sees the same page in plain
//! words, without the evidence behind alerts.
//!
//! Every read goes through the audited service functions the API uses; the page view itself
//! is audited as `timeline.read`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Deserialize;
use speciosa_app::exposure::{self, LocalDates, Prediction};
use speciosa_app::records::{Alert, Assessment, Batch, Dose, Medication, Patient, Product};
use speciosa_core::dose::{DailyExposure, ExposureBasis};
use speciosa_core::ids::{BatchId, PatientId};
use speciosa_core::instrument::Instrument;
use speciosa_core::patient::SexAtBirth;
use speciosa_core::safety::Rule;
use speciosa_core::time::{ClinicalDate, Era, TimeError};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageUser};
use crate::pages::assessments::viewer;
use crate::pages::charts::{
    Cell, DayAxis, DayChart, Size, Table, Tick, bands_for, fine_ceiling, nice_ceiling, number_text,
};
use crate::pages::time::Clock;
use crate::pages::{Nav, humanize, patient_id, render};
use crate::views::{BatchSafetyView, QualityFlagView};
use speciosa_app::doses::DateRange;

mod plan;
mod sections;
mod summary;

use sections::*;
use summary::*;

/// The range shown when none is asked for, and the ranges offered.
const DEFAULT_DAYS: i64 = 30;
const PRESETS: [i64; 3] = [14, 30, 90];
/// At most a year (and a leap day) at a time: more days than that no longer fit the columns.
const MAX_DAYS: i64 = 366;
/// Points of the predicted curve across the range; the step grows with the range.
const PREDICTION_POINTS: i64 = 720;

// ---------------------------------------------------------------------------
// The range: ?days=14|30|90, or ?from=YYYY-MM-DD&to=YYYY-MM-DD in patient-local dates.

#[derive(Deserialize, Default)]
pub struct RangeParams {
    #[serde(default)]
    days: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    from: Date,
    to: Date,
    /// The preset chosen (`?days=`), if the range is one.
    days: Option<i64>,
}

/// One typed end of the range, or why it cannot be used, in words for the page.
fn read_date(raw: &str, which: &str) -> Result<Date, String> {
    if raw.is_empty() {
        return Err(format!(
            "Enter both a start and an end date; the {which} date is missing."
        ));
    }
    ClinicalDate::parse(raw)
        .map(ClinicalDate::get)
        .map_err(|error| match error {
            TimeError::OutOfRange {
                earliest, latest, ..
            } => format!(
                "The {which} date {raw:?} is out of range. Choose a date from {} to {}.",
                long_date(earliest),
                long_date(latest)
            ),
            _ => format!("The {which} date {raw:?} is not a date. Use the form 2026-11-30."),
        })
}

/// The range asked for, or why it cannot be shown, in words for the page.
fn parse_range(params: &RangeParams, today: Date) -> Result<Range, String> {
    let (from, to) = (params.from.trim(), params.to.trim());
    if !from.is_empty() || !to.is_empty() {
        let (from, to) = (read_date(from, "start")?, read_date(to, "end")?);
        if from > to {
            return Err(format!(
                "The start date ({}) is after the end date ({}). Choose a start on or before the end.",
                long_date(from),
                long_date(to)
            ));
        }
        let days = from.until(to).map(|s| s.get_days()).unwrap_or(i32::MAX) as i64 + 1;
        if days > MAX_DAYS {
            return Err(format!(
                "That range is {days} days. The timeline shows at most {MAX_DAYS} days at a time; choose a shorter range."
            ));
        }
        return Ok(Range {
            from,
            to,
            days: None,
        });
    }
    let days = match params.days.trim() {
        "" => DEFAULT_DAYS,
        raw => match raw.parse::<i64>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => n,
            _ => {
                return Err(format!(
                    "{raw:?} is not a number of days the timeline can show: choose 14, 30 or 90, or enter dates (at most {MAX_DAYS} days)."
                ));
            }
        },
    };
    Ok(Range {
        from: Era::Clinical.clamp(today.checked_sub((days - 1).days()).unwrap_or(today)),
        to: today,
        days: Some(days),
    })
}

/// `Mon 30 Nov 2026`.
fn long_date(date: Date) -> String {
    date.strftime("%a %-d %b %Y").to_string()
}

/// `30 Nov 2026`.
fn short_date(date: Date) -> String {
    date.strftime("%-d %b %Y").to_string()
}

// ---------------------------------------------------------------------------
// The page.

/// A link to one of the preset ranges.
struct Preset {
    days: i64,
    href: String,
    current: bool,
}

/// One figure of the summary.
struct Stat {
    label: String,
    value: String,
    detail: String,
    /// `urgent`, `warning` or empty: how loudly to show it.
    tone: &'static str,
    href: Option<String>,
}

/// The latest result of one instrument.
struct Latest {
    name: String,
    value: String,
    band: String,
    when: String,
    href: String,
}

/// A safety alert as listed under the signals chart.
struct AlertRow {
    when: String,
    severity: String,
    status: String,
    text: String,
    guidance: String,
    href: Option<String>,
    emphasised: bool,
}

/// A batch with quality flags that the patient used in the range.
struct FlaggedBatch {
    name: String,
    severity: String,
    days: usize,
    flags: Vec<FlagLine>,
}

struct FlagLine {
    explanation: String,
    standard: String,
    evidence: String,
}

/// The predicted-exposure figures shown under its chart.
struct PkFigures {
    steady_state: String,
    trough: String,
    to_steady_state: String,
    source: String,
    variability: String,
    caution: String,
    /// The source's first part, short enough for print: `Tanna RS et al., Pharmaceutics 2022…`.
    citation: String,
    doses: String,
}

/// A chart with the plain-language heading the patient sees and the clinician's.
struct Section {
    chart: DayChart,
    intro: String,
    /// Where the thresholds come from, folded away under the chart.
    sources: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    nav: Nav,
    for_self: bool,
    patient_id: String,
    patient_name: String,
    back_href: String,
    back_label: String,
    zone: String,
    presets: Vec<Preset>,
    from_value: String,
    to_value: String,
    /// Why the range asked for cannot be shown.
    range_error: Option<String>,
    range_text: String,
    ticks: Vec<Tick>,
    stats: Vec<Stat>,
    latest: Vec<Latest>,
    products: Vec<String>,
    medications: Vec<String>,
    medications_note: String,
    sections: Vec<Section>,
    pk: Option<PkFigures>,
    alerts: Vec<AlertRow>,
    flagged: Vec<FlaggedBatch>,
    urgent_href: String,
    sleep: Option<crate::pages::sleep::TimelineSleep>,
}

impl TimelinePage {
    fn empty(user: &Authenticated, patient: &Patient) -> TimelinePage {
        let v = viewer(user, patient);
        TimelinePage {
            nav: v.nav,
            for_self: v.for_self,
            patient_id: patient.id.to_string(),
            patient_name: patient.details.display_name.as_str().to_owned(),
            back_href: v.back_href,
            back_label: v.back_label,
            zone: patient.details.time_zone.as_str().to_owned(),
            presets: Vec::new(),
            from_value: String::new(),
            to_value: String::new(),
            range_error: None,
            range_text: String::new(),
            ticks: Vec::new(),
            stats: Vec::new(),
            latest: Vec::new(),
            products: Vec::new(),
            medications: Vec::new(),
            medications_note: String::new(),
            sections: Vec::new(),
            pk: None,
            alerts: Vec::new(),
            flagged: Vec::new(),
            urgent_href: format!("/patients/{}/urgent", patient.id),
            sleep: None,
        }
    }
}

fn presets(patient: PatientId, chosen: Option<i64>) -> Vec<Preset> {
    PRESETS
        .iter()
        .map(|&days| Preset {
            days,
            href: format!("/patients/{patient}/timeline?days={days}"),
            current: chosen == Some(days),
        })
        .collect()
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    // Refusals are recorded under the page's own name; each read below records itself.
    speciosa_app::patients::may_read_timeline(&state.app, &user, id).await?;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, &user, id).await?;
    let params = query.map(|q| q.0).unwrap_or_default();
    let zone = patient.details.time_zone.to_zone();
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();
    let mut page = TimelinePage::empty(&user, &patient);
    let range = match parse_range(&params, today) {
        Ok(range) => range,
        Err(message) => {
            page.presets = presets(id, None);
            page.from_value = params.from.trim().to_owned();
            page.to_value = params.to.trim().to_owned();
            page.range_error = Some(message);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    fill(&state, &user, &patient, range, today, &mut page).await?;
    speciosa_app::patients::record_timeline_read(&state.app, &user, id, range.from, range.to)
        .await?;
    Ok(render(&page)?.into_response())
}

/// Everything the page shows for `range`.
struct Records {
    days: Vec<DailyExposure>,
    doses: Vec<Dose>,
    prediction: Prediction,
    assessments: Vec<Assessment>,
    safety: Vec<BatchSafetyView>,
    alerts: Vec<Alert>,
    medications: Vec<Medication>,
    products: BTreeMap<BatchId, (Product, Batch)>,
    /// Each day of the range (up to today) under a signed plan, measured against it.
    plan_days: Vec<speciosa_app::plans::AdherenceDay>,
}

async fn load(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    range: Range,
) -> Result<Records, ApiError> {
    let id = patient.id;
    // The summary compares the last 7 full days with the 7 before, whatever the range.
    let fortnight = Era::Clinical.clamp(range.to.checked_sub(14.days()).unwrap_or(range.to));
    let doses_query = DateRange {
        from: Some(range.from.min(fortnight).to_string()),
        to: Some(range.to.to_string()),
        include_history: false,
    };
    let days = speciosa_app::doses::daily_exposure(&state.app, user, id, &doses_query).await?;
    let doses = speciosa_app::doses::read_doses(&state.app, user, id, &doses_query).await?;
    let (from, to) = (range.from.to_string(), range.to.to_string());
    let dates = LocalDates {
        from: Some(&from),
        to: Some(&to),
    };
    let prediction =
        exposure::predict_exposure(&state.app, user, id, dates, prediction_step(range)).await?;
    let assessments = speciosa_app::assessments::read_history(&state.app, user, id, None).await?;
    let safety: Vec<BatchSafetyView> = speciosa_app::doses::batch_safety(&state.app, user, id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let alerts = speciosa_app::assessments::read_patient_alerts(&state.app, user, id).await?;
    let (_, medications) =
        speciosa_app::medications::read_medications(&state.app, user, id).await?;
    // Names for the batches in the dose log.
    let used: Vec<BatchId> = doses.iter().map(|d| d.batch_id).collect();
    let products = exposure::products_of_batches(&state.app, user, id, &used).await?;
    let today = Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    // A range wholly in the future has no days to measure.
    let plan_days = if range.from <= today {
        // The plan strip reads at most the adherence window's year, the range's last.
        let year_back = range
            .to
            .checked_sub((speciosa_app::plans::MAX_ADHERENCE_DAYS - 1).days())
            .unwrap_or(range.from)
            .max(range.from)
            .to_string();
        speciosa_app::plans::adherence(&state.app, user, id, Some(&year_back), Some(&to))
            .await?
            .days
    } else {
        Vec::new()
    };
    Ok(Records {
        days,
        doses,
        prediction,
        assessments,
        safety,
        alerts,
        medications,
        products,
        plan_days,
    })
}

/// Every 30 minutes for two weeks, coarser for longer ranges (the chart is 1000 units wide).
fn prediction_step(range: Range) -> SignedDuration {
    let days = range
        .from
        .until(range.to)
        .map(|s| s.get_days())
        .unwrap_or(0) as i64
        + 1;
    let minutes = days * 24 * 60 / PREDICTION_POINTS;
    SignedDuration::from_mins(((minutes + 29) / 30 * 30).max(30))
}

async fn fill(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    range: Range,
    today: Date,
    page: &mut TimelinePage,
) -> Result<(), ApiError> {
    let mut records = load(state, user, patient, range).await?;
    let axis = DayAxis::new(range.from, range.to).ok_or_else(ApiError::internal)?;
    let zone = patient.details.time_zone.to_zone();
    let words = Words::new(page.for_self);
    page.presets = presets(patient.id, range.days);
    page.from_value = range.from.to_string();
    page.to_value = range.to.to_string();
    page.ticks = axis.ticks();
    page.range_text = format!(
        "{} to {} ({} {})",
        long_date(range.from),
        long_date(range.to),
        axis.days(),
        if axis.days() == 1 { "day" } else { "days" }
    );
    let end = range
        .to
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned_datetime(zone.clone()).ok())
        .map(|z| z.timestamp())
        .unwrap_or_else(Timestamp::now);
    let flags = batch_flag_views(
        state,
        &records.products,
        std::mem::take(&mut records.safety),
    );

    page.stats = summary_stats(&records, patient, range, today, &words);
    page.latest = latest_results(state, &records.assessments, end, &zone);
    page.sleep =
        Some(crate::pages::sleep::timeline_card(state, user, patient, range.from, range.to).await?);
    page.products = products_used(&records, &flags, range.to, &words);
    (page.medications, page.medications_note) = medication_lines(&records, today);

    let mut sections = vec![mg_section(&records, axis, state, patient, &words)];
    sections.extend(plan::plan_section(&records.plan_days, axis, today, &words));
    sections.extend([
        hydroxy_section(&records, axis, &words),
        dose_times_section(&records, axis, patient, &words),
    ]);
    let (pk_section, figures) = pk_section(&records.prediction, axis, &zone, &words);
    sections.push(pk_section);
    page.pk = Some(figures);
    let sex = Some(patient.details.sex_at_birth).filter(|s| *s != SexAtBirth::Unknown);
    for (id, codes) in [
        ("cows", &["cows"][..]),
        ("sows", &["sows"]),
        ("craving", &["craving"]),
        ("sleep", &["sleep_diary"]),
        ("phq9", &["phq9"]),
        ("gad7", &["gad7"]),
        ("pain", &["pain_nrs", "peg3"]),
    ] {
        let mut instruments = Vec::new();
        for code in codes {
            if let Some(instrument) = speciosa_app::assessments::effective_instrument(
                &state.app,
                patient.organization_id,
                code,
            )
            .await?
            {
                instruments.push(instrument);
            }
        }
        match instruments.as_slice() {
            [] => {}
            [diary] if id == "sleep" => sections.extend(sleep_sections(
                diary,
                &records.assessments,
                axis,
                &zone,
                &words,
            )),
            _ => sections.push(score_section(
                id,
                &instruments,
                &records.assessments,
                axis,
                &zone,
                sex,
                &words,
            )),
        }
    }
    let (signals, alerts, flagged) = signals_section(&records, &flags, axis, &zone, &words);
    // Safety first: the signals lead the stack.
    sections.insert(0, signals);
    page.alerts = alerts;
    page.flagged = flagged;
    page.sections = sections;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sections::*;
    use super::summary::*;
    use super::*;

    #[test]
    fn the_dose_clock_keeps_late_evening_and_after_midnight_together_at_the_bottom() {
        assert_eq!(clock_height(4.0), 24.0);
        assert_eq!(clock_height(16.0), 12.0);
        assert!((clock_height(23.5) - 4.5).abs() < 1e-9);
        assert!((clock_height(0.5) - 3.5).abs() < 1e-9);
        assert!(clock_height(3.99) > 0.0);
    }
    use jiff::civil::date;

    fn params(days: &str, from: &str, to: &str) -> RangeParams {
        RangeParams {
            days: days.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    const TODAY: Date = date(2026, 11, 30);

    #[test]
    fn without_parameters_the_range_is_the_last_thirty_days_to_today() {
        let range = parse_range(&RangeParams::default(), TODAY).unwrap();
        assert_eq!(range.from, date(2026, 11, 1));
        assert_eq!(range.to, TODAY);
        assert_eq!(range.days, Some(30));
    }

    #[test]
    fn a_preset_counts_today_as_its_last_day() {
        let range = parse_range(&params("14", "", ""), TODAY).unwrap();
        assert_eq!(range.from, date(2026, 11, 17));
        let range = parse_range(&params("90", "", ""), TODAY).unwrap();
        assert_eq!(range.from, date(2026, 9, 2));
    }

    #[test]
    fn custom_dates_take_precedence_over_days() {
        let range = parse_range(&params("14", "2026-10-01", "2026-10-31"), TODAY).unwrap();
        assert_eq!(
            (range.from, range.to, range.days),
            (date(2026, 10, 1), date(2026, 10, 31), None)
        );
    }

    #[test]
    fn a_start_after_the_end_is_explained_in_words() {
        let error = parse_range(&params("", "2026-11-20", "2026-11-01"), TODAY).unwrap_err();
        assert!(error.contains("after the end date"), "{error}");
        assert!(error.contains("Fri 20 Nov 2026"), "{error}");
    }

    #[test]
    fn more_than_366_days_is_refused_and_exactly_366_allowed() {
        let error = parse_range(&params("", "2025-01-01", "2026-11-30"), TODAY).unwrap_err();
        assert!(error.contains("at most 366 days"), "{error}");
        assert!(parse_range(&params("", "2024-01-01", "2024-12-31"), TODAY).is_ok());
        assert!(parse_range(&params("400", "", ""), TODAY).is_err());
    }

    #[test]
    fn unreadable_or_missing_dates_and_days_are_explained() {
        assert!(
            parse_range(&params("", "2026-11-01", ""), TODAY)
                .unwrap_err()
                .contains("end date is missing")
        );
        assert!(
            parse_range(&params("", "yesterday", "2026-11-01"), TODAY)
                .unwrap_err()
                .contains("not a date")
        );
        assert!(
            parse_range(&params("lots", "", ""), TODAY)
                .unwrap_err()
                .contains("choose 14, 30 or 90")
        );
        assert!(parse_range(&params("0", "", ""), TODAY).is_err());
    }

    #[test]
    fn dates_outside_the_clinical_calendar_are_explained_with_its_bounds() {
        for (from, to) in [("9999-12-29", "9999-12-30"), ("1989-12-31", "1990-01-05")] {
            let message = parse_range(&params("", from, to), TODAY).unwrap_err();
            assert!(
                message.contains("out of range") && message.contains("Mon 1 Jan 1990"),
                "{message}"
            );
        }
    }

    #[test]
    fn the_predicted_curve_keeps_to_about_720_points_in_half_hour_steps() {
        let range = |days: i64| Range {
            from: TODAY.checked_sub((days - 1).days()).unwrap(),
            to: TODAY,
            days: Some(days),
        };
        assert_eq!(prediction_step(range(14)), SignedDuration::from_mins(30));
        assert_eq!(prediction_step(range(30)), SignedDuration::from_mins(60));
        assert_eq!(prediction_step(range(90)), SignedDuration::from_mins(180));
        assert_eq!(prediction_step(range(1)), SignedDuration::from_mins(30));
    }

    fn day(d: Date, mg: f64, doses: u32, bedtime: bool) -> DailyExposure {
        DailyExposure {
            date: d,
            mitragynine_mg: mg,
            hydroxymitragynine_mg: mg / 100.0,
            grams: 0.0,
            millilitres: 0.0,
            dose_count: doses,
            bedtime_dose: bedtime,
            includes_estimates: false,
            includes_unknown: false,
        }
    }

    #[test]
    fn a_weeks_mean_counts_days_without_doses_as_zero() {
        let days = vec![
            day(date(2026, 11, 24), 140.0, 2, false),
            day(date(2026, 11, 30), 210.0, 5, true),
            // Outside the week.
            day(date(2026, 11, 23), 999.0, 9, true),
        ];
        let week = week_ending(&days, TODAY);
        assert_eq!(week.mg_per_day, 50.0);
        assert_eq!(week.doses_per_day, 1.0);
        assert_eq!(week.bedtime_days, 1);
    }

    #[test]
    fn changes_are_signed_percentages_and_nothing_without_a_baseline() {
        assert_eq!(change_text(110.0, 100.0), "+10\u{a0}%");
        assert_eq!(change_text(92.0, 100.0), "−8\u{a0}%");
        assert_eq!(change_text(100.0, 100.0), "no change");
        assert_eq!(change_text(50.0, 0.0), "");
    }

    #[test]
    fn milligrams_keep_three_significant_figures_without_trailing_zeros() {
        assert_eq!(mg(312.4), "312");
        assert_eq!(mg(100.0), "100");
        assert_eq!(mg(58.5), "58.5");
        assert_eq!(mg(4.1), "4.1");
        assert_eq!(mg(0.3), "0.3");
        assert_eq!(mg(0.0), "0");
    }
}
