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
use speciosa_core::audit::Outcome;
use speciosa_core::dose::{DailyExposure, ExposureBasis};
use speciosa_core::ids::{BatchId, PatientId};
use speciosa_core::instrument::Instrument;
use speciosa_core::patient::{SexAtBirth, parse_date};
use speciosa_core::policy::PatientAction;
use speciosa_core::safety::Rule;
use speciosa_store::{Alert, Assessment, Batch, Dose, Medication, Patient, Product};

use crate::access;
use crate::api::assessments::{effective_instrument, read_history};
use crate::api::doses::{
    BatchSafetyView, DateRangeQuery, batch_safety, daily_exposure, read_doses,
};
use crate::api::medications::read_medications;
use crate::api::patients::read_patient;
use crate::api::predicted::{Prediction, predict_exposure};
use crate::api::products::{QualityFlagView, batch_flags};
use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageUser};
use crate::pages::assessments::viewer;
use crate::pages::charts::{
    Cell, DayAxis, DayChart, Size, Table, Tick, bands_for, nice_ceiling, number_text,
};
use crate::pages::{Nav, humanize, patient_id, render};

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

/// The range asked for, or why it cannot be shown, in words for the page.
fn parse_range(params: &RangeParams, today: Date) -> Result<Range, String> {
    let (from, to) = (params.from.trim(), params.to.trim());
    if !from.is_empty() || !to.is_empty() {
        let read = |raw: &str, which: &str| -> Result<Date, String> {
            if raw.is_empty() {
                return Err(format!(
                    "Enter both a start and an end date; the {which} date is missing."
                ));
            }
            parse_date(raw).map_err(|_| {
                format!("The {which} date {raw:?} is not a date. Use the form 2026-11-30.")
            })
        };
        let (from, to) = (read(from, "start")?, read(to, "end")?);
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
        from: today.checked_sub((days - 1).days()).unwrap_or(today),
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
    access::patient(&state, &user, id, PatientAction::Read, "timeline.read").await?;
    let (patient, _) = read_patient(&state, &user, id).await?;
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
    let mut entry = user.audit(
        "timeline.read",
        "patient",
        Some(id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{}..{}", range.from, range.to));
    state.store.append_audit(entry).await?;
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
}

async fn load(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    range: Range,
) -> Result<Records, ApiError> {
    let id = patient.id;
    // The summary compares the last 7 days with the 7 before, whatever the range.
    let fortnight = range.to.checked_sub(13.days()).unwrap_or(range.to);
    let doses_query = DateRangeQuery {
        from: Some(range.from.min(fortnight).to_string()),
        to: Some(range.to.to_string()),
        include_history: false,
    };
    let days = daily_exposure(state, user, id, &doses_query).await?;
    let doses = read_doses(state, user, id, &doses_query).await?;
    let range_query = DateRangeQuery {
        from: Some(range.from.to_string()),
        to: Some(range.to.to_string()),
        include_history: false,
    };
    let prediction =
        predict_exposure(state, user, id, &range_query, prediction_step(range)).await?;
    let assessments = read_history(state, user, id, None).await?;
    let safety = batch_safety(state, user, id).await?;
    let alerts = state.store.list_alerts(id).await?;
    let mut entry = user.audit("alert.list", "alert", None, Some(id), Outcome::Success);
    entry.detail = Some(format!("{} alerts", alerts.len()));
    state.store.append_audit(entry).await?;
    let (_, medications) = read_medications(state, user, id).await?;
    // Names for the batches in the dose log (the catalogue is the organization's).
    let catalogue = state.store.list_products(patient.organization_id).await?;
    let batches = state.store.list_batches(patient.organization_id).await?;
    let products = batches
        .into_iter()
        .filter(|b| doses.iter().any(|d| d.batch_id == b.id))
        .filter_map(|b| {
            let product = catalogue.iter().find(|p| p.id == b.product_id)?.clone();
            Some((b.id, (product, b)))
        })
        .collect();
    Ok(Records {
        days,
        doses,
        prediction,
        assessments,
        safety,
        alerts,
        medications,
        products,
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
    page.products = products_used(&records, &flags, range.to, &words);
    (page.medications, page.medications_note) = medication_lines(&records, patient, today);

    let mut sections = vec![
        mg_section(&records, axis, state, patient, &words),
        hydroxy_section(&records, axis, &words),
        dose_times_section(&records, axis, patient, &words),
    ];
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
            if let Some(instrument) =
                effective_instrument(state, patient.organization_id, code).await?
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

/// Headings and sentences in the reader's words: clinical for staff, plain for the patient.
struct Words {
    for_self: bool,
}

impl Words {
    fn new(for_self: bool) -> Words {
        Words { for_self }
    }

    fn pick(&self, clinician: &str, patient: &str) -> String {
        if self.for_self { patient } else { clinician }.to_owned()
    }
}

// ---------------------------------------------------------------------------
// The summary.

/// Totals over the 7 days ending `last`, counting days without doses as zero.
#[derive(Debug, PartialEq)]
struct Week {
    mg_per_day: f64,
    hydroxy_per_day: f64,
    doses_per_day: f64,
    bedtime_days: usize,
    estimated: bool,
}

fn week_ending(days: &[DailyExposure], last: Date) -> Week {
    let first = last.checked_sub(6.days()).unwrap_or(last);
    let week: Vec<&DailyExposure> = days
        .iter()
        .filter(|d| first <= d.date && d.date <= last)
        .collect();
    Week {
        mg_per_day: week.iter().map(|d| d.mitragynine_mg).sum::<f64>() / 7.0,
        hydroxy_per_day: week.iter().map(|d| d.hydroxymitragynine_mg).sum::<f64>() / 7.0,
        doses_per_day: week.iter().map(|d| f64::from(d.dose_count)).sum::<f64>() / 7.0,
        bedtime_days: week.iter().filter(|d| d.bedtime_dose).count(),
        estimated: week.iter().any(|d| d.includes_estimates),
    }
}

/// `+12 %`, `−8 %`, `no change`; empty when there is nothing to compare with.
fn change_text(now: f64, before: f64) -> String {
    if before <= 0.0 {
        return String::new();
    }
    let percent = ((now - before) / before * 100.0).round();
    if percent == 0.0 {
        "no change".into()
    } else if percent > 0.0 {
        format!("+{percent:.0}\u{a0}%")
    } else {
        format!("−{:.0}\u{a0}%", -percent)
    }
}

fn mg(value: f64) -> String {
    let scale = if value >= 100.0 {
        1.0
    } else if value >= 10.0 {
        10.0
    } else {
        100.0
    };
    number_text((value * scale).round() / scale)
}

fn days_ago(days: i64) -> String {
    match days {
        i64::MIN..=0 => "today".into(),
        1 => "yesterday".into(),
        n => format!("{n} days ago"),
    }
}

fn summary_stats(
    records: &Records,
    patient: &Patient,
    range: Range,
    today: Date,
    words: &Words,
) -> Vec<Stat> {
    let now = week_ending(&records.days, range.to);
    let before = week_ending(
        &records.days,
        range.to.checked_sub(7.days()).unwrap_or(range.to),
    );
    let change = change_text(now.mg_per_day, before.mg_per_day);
    let window = if range.to == today {
        "last 7 days".to_owned()
    } else {
        format!("7 days to {}", short_date(range.to))
    };
    let mut stats = vec![
        Stat {
            label: words.pick("Mitragynine, mean per day", "Mitragynine per day"),
            value: format!("{} mg", mg(now.mg_per_day)),
            detail: format!(
                "{window}{}; previous 7 days {} mg{}",
                if now.estimated {
                    ", includes estimates"
                } else {
                    ""
                },
                mg(before.mg_per_day),
                if change.is_empty() {
                    String::new()
                } else {
                    format!(" ({change})")
                }
            ),
            tone: "",
            href: Some("#doses".into()),
        },
        Stat {
            label: words.pick("7-OH, mean per day", "7-OH per day"),
            value: format!("{} mg", mg(now.hydroxy_per_day)),
            detail: format!(
                "{window}; previous 7 days {} mg",
                mg(before.hydroxy_per_day)
            ),
            tone: "",
            href: Some("#hydroxy".into()),
        },
        Stat {
            label: words.pick("Doses per day", "Doses a day"),
            value: format!("{:.1}", now.doses_per_day),
            detail: format!("{window}; bedtime doses on {} of 7 days", now.bedtime_days),
            tone: "",
            href: Some("#dose-times".into()),
        },
    ];
    // A check-in is anything the patient answered themself.
    let last_checkin = records
        .assessments
        .iter()
        .filter(|a| patient.user_id.is_some_and(|u| a.entered_by == u))
        .map(|a| a.completed_at)
        .max();
    let zone = patient.details.time_zone.to_zone();
    stats.push(Stat {
        label: words.pick("Last check-in", "Your last check-in"),
        value: match last_checkin {
            Some(at) => {
                let date = at.to_zoned_datetime(zone.clone()).date();
                days_ago(date.until(today).map(|s| s.get_days()).unwrap_or(0).into())
            }
            None => "never".into(),
        },
        detail: last_checkin
            .map(|at| short_date(at.to_zoned_datetime(zone.clone()).date()))
            .unwrap_or_else(|| {
                if patient.user_id.is_none() {
                    "no patient login".into()
                } else {
                    "no answers yet".into()
                }
            }),
        tone: match last_checkin {
            Some(at)
                if at
                    .to_zoned_datetime(zone.clone())
                    .date()
                    .until(today)
                    .map(|s| s.get_days())
                    .unwrap_or(0)
                    >= 3 =>
            {
                "warning"
            }
            _ => "",
        },
        href: None,
    });
    let open: Vec<&Alert> = records
        .alerts
        .iter()
        .filter(|a| a.status == "open")
        .collect();
    let acknowledged = records
        .alerts
        .iter()
        .filter(|a| a.status == "acknowledged")
        .count();
    let count = |severity: &str| open.iter().filter(|a| a.severity == severity).count();
    let (urgent, warning, info) = (count("urgent"), count("warning"), count("info"));
    stats.push(Stat {
        label: words.pick("Open alerts", "Safety checks"),
        value: if words.for_self {
            if open.is_empty() {
                "none open".into()
            } else {
                format!("{} open", open.len())
            }
        } else {
            open.len().to_string()
        },
        detail: if words.for_self {
            if open.is_empty() {
                "nothing waiting for your care team".into()
            } else {
                "your care team has been notified".into()
            }
        } else {
            let mut parts: Vec<String> = [(urgent, "urgent"), (warning, "warning"), (info, "info")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, s)| format!("{n} {s}"))
                .collect();
            if acknowledged > 0 {
                parts.push(format!("{acknowledged} acknowledged"));
            }
            if parts.is_empty() {
                "none open or acknowledged".into()
            } else {
                parts.join(", ")
            }
        },
        // The patient is told calmly; the care team sees the severity.
        tone: if words.for_self {
            ""
        } else if urgent > 0 {
            "urgent"
        } else if warning > 0 {
            "warning"
        } else {
            ""
        },
        href: Some("#signals".into()),
    });
    // Safety first: the alerts lead the summary.
    stats.rotate_right(1);
    stats
}

/// The latest result of each instrument, as of the end of the range.
fn latest_results(
    state: &AppState,
    assessments: &[Assessment],
    end: Timestamp,
    zone: &TimeZone,
) -> Vec<Latest> {
    state
        .instruments
        .all()
        .iter()
        .filter_map(|instrument| {
            let last = assessments
                .iter()
                .filter(|a| a.instrument == instrument.code && a.completed_at < end)
                .max_by_key(|a| a.completed_at)?;
            let (value, band) = if instrument.code == "sleep_diary" {
                let metrics = last.metrics.as_ref()?;
                let efficiency = metrics.get("sleep_efficiency_pct")?.as_f64()?;
                let sleep = metrics.get("total_sleep_time_min")?.as_f64()?;
                (
                    format!("{efficiency:.0} %"),
                    format!("{} h asleep", number_text((sleep / 6.0).round() / 10.0)),
                )
            } else {
                (
                    number_text(last.total?),
                    band_label(instrument, last.band.as_deref()),
                )
            };
            Some(Latest {
                name: instrument.short_name.clone(),
                value,
                band,
                when: last
                    .completed_at
                    .to_zoned_datetime(zone.clone())
                    .strftime("%-d %b")
                    .to_string(),
                href: format!("#{}", section_of(&instrument.code)),
            })
        })
        .collect()
}

/// The chart an instrument is drawn in.
fn section_of(code: &str) -> &str {
    match code {
        "pain_nrs" | "peg3" => "pain",
        "sleep_diary" => "sleep",
        "auditc" | "red_flags" => "summary",
        other => other,
    }
}

fn band_label(instrument: &Instrument, code: Option<&str>) -> String {
    code.map(|c| {
        instrument
            .bands
            .iter()
            .find(|b| b.code == c)
            .map(|b| b.label.clone())
            .unwrap_or_else(|| humanize(c))
    })
    .unwrap_or_default()
}

/// Every flag of every batch in the dose log: the batch's own flags, with heavy metals judged
/// at the patient's own intake where the product-safety view has done so (last 14 days).
fn batch_flag_views(
    state: &AppState,
    products: &BTreeMap<BatchId, (Product, Batch)>,
    safety: Vec<BatchSafetyView>,
) -> BTreeMap<BatchId, Vec<QualityFlagView>> {
    let mut judged: BTreeMap<uuid::Uuid, Vec<QualityFlagView>> =
        safety.into_iter().map(|s| (s.batch_id, s.flags)).collect();
    products
        .iter()
        .map(|(id, (product, batch))| {
            let flags = match judged.remove(&id.as_uuid()) {
                Some(flags) => flags,
                None => batch_flags(state, product, batch)
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            };
            (*id, flags)
        })
        .collect()
}

fn severity_rank(severity: &str) -> u8 {
    match severity {
        "urgent" => 3,
        "warning" => 2,
        "info" => 1,
        _ => 0,
    }
}

fn worst<'a>(flags: impl IntoIterator<Item = &'a QualityFlagView>) -> &'a str {
    flags
        .into_iter()
        .map(|f| f.severity.as_str())
        .max_by_key(|s| severity_rank(s))
        .unwrap_or("")
}

fn product_name(records: &Records, batch: BatchId) -> String {
    records
        .products
        .get(&batch)
        .map(|(p, b)| format!("{} (lot {})", p.details.name, b.lot))
        .unwrap_or_else(|| "a product no longer in the catalogue".into())
}

/// What the patient took in the 7 days ending `last`, most used first.
fn products_used(
    records: &Records,
    flags: &BTreeMap<BatchId, Vec<QualityFlagView>>,
    last: Date,
    words: &Words,
) -> Vec<String> {
    let first = last.checked_sub(6.days()).unwrap_or(last);
    let mut days: BTreeMap<BatchId, std::collections::BTreeSet<Date>> = BTreeMap::new();
    for dose in &records.doses {
        let date = dose_local(dose).date();
        if first <= date && date <= last {
            days.entry(dose.batch_id).or_default().insert(date);
        }
    }
    let mut used: Vec<(BatchId, usize)> = days.iter().map(|(b, d)| (*b, d.len())).collect();
    used.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    used.into_iter()
        .map(|(batch, n)| {
            let flagged = flags
                .get(&batch)
                .map(|f| f.iter().filter(|f| severity_rank(&f.severity) >= 2).count())
                .unwrap_or(0);
            format!(
                "{}: {n} of 7 days{}",
                product_name(records, batch),
                match (flagged, words.for_self) {
                    (0, _) => String::new(),
                    (_, true) => " · has a quality warning".into(),
                    (1, false) => " · 1 quality flag".into(),
                    (n, false) => format!(" · {n} quality flags"),
                }
            )
        })
        .collect()
}

/// The current medication list, kept short; the free-text list when none is kept.
fn medication_lines(records: &Records, patient: &Patient, today: Date) -> (Vec<String>, String) {
    let current: Vec<String> = records
        .medications
        .iter()
        .filter(|m| speciosa_core::medication::is_active_on(m.started_on, m.stopped_on, today))
        .map(|m| {
            let mut line = m.name.clone();
            if let Some(dose) = &m.dose_text {
                line.push_str(&format!(" {dose}"));
            }
            if m.class.is_cns_depressant() {
                line.push_str(" (CNS depressant)");
            }
            line
        })
        .collect();
    if !current.is_empty() || !records.medications.is_empty() {
        return (current, String::new());
    }
    (
        patient.details.concomitant_medications.clone(),
        "As recorded in the patient's details.".into(),
    )
}

// ---------------------------------------------------------------------------
// The charts.

/// The dose's local date and time, in the zone it was taken in.
fn dose_local(dose: &Dose) -> DateTime {
    let zone = jiff::tz::db().get(&dose.time_zone).unwrap_or(TimeZone::UTC);
    dose.taken_at.to_zoned_datetime(zone).datetime()
}

fn day_label(date: Date) -> String {
    date.strftime("%a %-d %b %Y").to_string()
}

fn mg_section(
    records: &Records,
    axis: DayAxis,
    state: &AppState,
    patient: &Patient,
    words: &Words,
) -> Section {
    let days: Vec<&DailyExposure> = records
        .days
        .iter()
        .filter(|d| axis.index(d.date).is_some())
        .collect();
    let ranges = estimate_ranges(&records.doses);
    let top = nice_ceiling(
        days.iter()
            .map(|d| d.mitragynine_mg)
            .chain(ranges.values().map(|(_, high)| *high))
            .fold(0.0, f64::max)
            // Room above the tallest bar for its bedtime mark.
            * 1.1,
    );
    let mut chart = DayChart::new(
        "doses",
        words.pick(
            "Mitragynine (MG), mg per day",
            "How much mitragynine you took each day (mg)",
        ),
        Size::Tall,
        axis,
        0.0,
        top,
    );
    chart.label_y(&[0.0, top / 2.0, top], "");
    let mut rows = Vec::new();
    for day in &days {
        let Some(index) = axis.index(day.date) else {
            continue;
        };
        let range = ranges.get(&day.date).filter(|_| day.includes_estimates);
        let mut label = exposure_label(day);
        if let Some((low, high)) = range {
            label.push_str(&format!(", range {}–{} mg", mg(*low), mg(*high)));
        }
        if day.mitragynine_mg > 0.0 {
            let class = if day.includes_estimates {
                "mg est"
            } else {
                "mg"
            };
            chart.bar(index, day.mitragynine_mg, class, label.clone());
        }
        if let Some((low, high)) = range {
            chart.whisker(index, *low, *high, label.clone());
        }
        if day.bedtime_dose {
            chart.mark_over_bar(index, day.mitragynine_mg, "bedtime", label.clone());
        }
        if day.includes_unknown {
            chart.mark(
                axis.centre(index),
                0.0,
                "unknown",
                format!(
                    "{}: some doses' milligrams are unknown",
                    day_label(day.date)
                ),
                None,
            );
        }
        rows.push(vec![
            Cell::from(day_label(day.date)),
            Cell::from(mg(day.mitragynine_mg)),
            Cell::from(mg(day.hydroxymitragynine_mg)),
            Cell::from(day.dose_count.to_string()),
            Cell::from(if day.bedtime_dose { "Yes" } else { "" }),
            Cell::from(match range {
                Some((low, high)) => {
                    format!("{} ({}–{} mg)", basis_text(day), mg(*low), mg(*high))
                }
                None => basis_text(day),
            }),
        ]);
    }
    let total: f64 = days.iter().map(|d| d.mitragynine_mg).sum();
    chart.description = format!(
        "Bar chart of mitragynine per day: doses on {} of {} days, mean {} mg per day over the range{}.",
        days.len(),
        axis.days(),
        mg(total / axis.days() as f64),
        if days.iter().any(|d| d.bedtime_dose) {
            format!(
                "; bedtime doses on {} days",
                days.iter().filter(|d| d.bedtime_dose).count()
            )
        } else {
            String::new()
        }
    );
    chart.key(
        "mg",
        words.pick("Assayed (batch certificate)", "From the batch's lab test"),
    );
    chart.key(
        "mg est",
        words.pick(
            "Estimate: no assay, natural-leaf range",
            "Estimate: the batch was not lab tested",
        ),
    );
    if !ranges.is_empty() {
        chart.key(
            "whisker",
            words.pick(
                "Estimate's low–high range",
                "How far off the estimate could be",
            ),
        );
    }
    let window = state.config.bedtime_window.as_mins();
    chart.key(
        "bedtime",
        match patient.details.usual_bedtime {
            Some(time) => format!(
                "{} {} h of usual bedtime ({})",
                words.pick("Bedtime dose: within", "A dose within"),
                number_text(window as f64 / 60.0),
                time.strftime("%H:%M")
            ),
            None => words.pick(
                "Bedtime dose (no usual bedtime recorded)",
                "A dose near bedtime",
            ),
        },
    );
    if days.iter().any(|d| d.includes_unknown) {
        chart.key(
            "unknown",
            words.pick("Some doses' mg unknown", "Some amounts unknown"),
        );
    }
    if days.is_empty() {
        chart.empty = Some(words.pick(
            "No doses logged in this range.",
            "You have not logged any doses in this range.",
        ));
    }
    chart.table = Table {
        caption: words.pick("Milligrams per day, days with doses", "Your daily totals"),
        head: ["Day", "MG mg", "7-OH mg", "Doses", "Bedtime dose", "Basis"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    Section {
        chart,
        intro: words.pick(
            "Daily totals in the patient's local days, from each batch's assay or, without one, a natural-leaf estimate.",
            "Each bar is one day's total, worked out from the product and batch you chose.",
        ),
        sources: Vec::new(),
    }
}

/// For each local day with estimated doses, the day's mitragynine from every dose's low and
/// high bound (an assayed dose counts as its own value at both ends).
fn estimate_ranges(doses: &[Dose]) -> BTreeMap<Date, (f64, f64)> {
    let mut days: BTreeMap<Date, (f64, f64, bool)> = BTreeMap::new();
    for dose in doses {
        let Some(typical) = dose.mitragynine_mg else {
            continue;
        };
        let day = days.entry(dose_local(dose).date()).or_default();
        day.0 += dose.mitragynine_mg_low.unwrap_or(typical);
        day.1 += dose.mitragynine_mg_high.unwrap_or(typical);
        day.2 |= dose.exposure_basis == ExposureBasis::Estimate;
    }
    days.into_iter()
        .filter(|(_, (_, _, estimated))| *estimated)
        .map(|(date, (low, high, _))| (date, (low, high)))
        .collect()
}

fn basis_text(day: &DailyExposure) -> String {
    match (day.includes_estimates, day.includes_unknown) {
        (false, false) => "Assay".into(),
        (true, false) => "Includes estimates".into(),
        (false, true) => "Some unknown".into(),
        (true, true) => "Estimates and unknown".into(),
    }
}

/// `Fri 20 Nov 2026: MG 312 mg, 7-OH 4.1 mg, 6 doses; bedtime dose; includes estimates`.
fn exposure_label(day: &DailyExposure) -> String {
    let mut label = format!(
        "{}: MG {} mg, 7-OH {} mg, {} {}",
        day_label(day.date),
        mg(day.mitragynine_mg),
        mg(day.hydroxymitragynine_mg),
        day.dose_count,
        if day.dose_count == 1 { "dose" } else { "doses" }
    );
    if day.bedtime_dose {
        label.push_str("; bedtime dose");
    }
    if day.includes_estimates {
        label.push_str("; includes estimates (no assay)");
    }
    if day.includes_unknown {
        label.push_str("; some doses' mg unknown");
    }
    label
}

fn hydroxy_section(records: &Records, axis: DayAxis, words: &Words) -> Section {
    let days: Vec<&DailyExposure> = records
        .days
        .iter()
        .filter(|d| axis.index(d.date).is_some())
        .collect();
    let top = nice_ceiling(
        days.iter()
            .map(|d| d.hydroxymitragynine_mg)
            .fold(0.0, f64::max),
    );
    let mut chart = DayChart::new(
        "hydroxy",
        words.pick(
            "7-hydroxymitragynine (7-OH), mg per day",
            "How much 7-OH you took each day (mg)",
        ),
        Size::Medium,
        axis,
        0.0,
        top,
    );
    chart.label_y(&[0.0, top], "");
    for day in &days {
        if let Some(index) = axis.index(day.date)
            && day.hydroxymitragynine_mg > 0.0
        {
            let class = if day.includes_estimates {
                "oh est"
            } else {
                "oh"
            };
            chart.bar(index, day.hydroxymitragynine_mg, class, exposure_label(day));
        }
    }
    chart.key("oh", words.pick("Assayed", "From the lab test"));
    chart.key("oh est", words.pick("Estimate (no assay)", "Estimate"));
    chart.description = format!(
        "Bar chart of 7-OH per day; the most on one day was {} mg.",
        mg(days
            .iter()
            .map(|d| d.hydroxymitragynine_mg)
            .fold(0.0, f64::max))
    );
    if days.is_empty() {
        chart.empty = Some(words.pick("No doses logged in this range.", "No doses logged."));
    }
    // The numbers are in the table of the chart above.
    Section {
        chart,
        intro: words.pick(
            "Natural leaf holds very little 7-OH; products above natural-leaf levels are flagged under safety signals, each flag with its standard.",
            "Natural kratom leaf has very little 7-OH. Products with more than natural leaf are marked in the safety section above.",
        ),
        sources: Vec::new(),
    }
}

fn hour_of(time: Time) -> f64 {
    f64::from(time.hour()) + f64::from(time.minute()) / 60.0
}

/// The dose-time chart's day runs from 04:00 to 04:00, so a late-evening dose, an
/// after-midnight dose and a bedtime after midnight sit together at the bottom
/// instead of at opposite edges.
const CHART_DAY_STARTS: f64 = 4.0;

/// Height on the dose-time chart (24 at the top, 04:00; 0 at the bottom, 04:00 next day).
fn clock_height(hour: f64) -> f64 {
    let since_start = (hour - CHART_DAY_STARTS).rem_euclid(24.0);
    24.0 - since_start
}

fn dose_times_section(
    records: &Records,
    axis: DayAxis,
    patient: &Patient,
    words: &Words,
) -> Section {
    // Morning at the top, as on a calendar; the night after each day at its bottom.
    let mut chart = DayChart::new(
        "dose-times",
        words.pick(
            "Dose times (local time of day)",
            "What time you took each dose",
        ),
        Size::Tall,
        axis,
        0.0,
        24.0,
    );
    for hour in [4.0, 10.0, 16.0, 22.0] {
        chart.label_at(clock_height(hour), &format!("{hour:02}:00"));
    }
    chart.label_at(0.0, "04:00");
    for hour in [10.0, 16.0, 22.0] {
        chart.rule(clock_height(hour), "hour", String::new());
    }
    if let Some(bedtime) = patient.details.usual_bedtime {
        chart.rule(
            clock_height(hour_of(bedtime)),
            "bedtime",
            format!("Usual bedtime {}", bedtime.strftime("%H:%M")),
        );
    }
    let mut rows = Vec::new();
    let mut shown = 0;
    for dose in &records.doses {
        let local = dose_local(dose);
        let Some(index) = axis.index(local.date()) else {
            continue;
        };
        shown += 1;
        let label = format!(
            "{}: {}, {} {} = MG {}, 7-OH {}{}",
            local.strftime("%a %-d %b %Y, %H:%M"),
            product_name(records, dose.batch_id),
            number_text(dose.amount),
            dose.unit,
            dose.mitragynine_mg
                .map(|m| format!("{} mg", mg(m)))
                .unwrap_or_else(|| "unknown".into()),
            dose.hydroxymitragynine_mg
                .map(|m| format!("{} mg", mg(m)))
                .unwrap_or_else(|| "unknown".into()),
            if dose.bedtime { "; bedtime dose" } else { "" }
        );
        chart.mark(
            axis.centre(index),
            clock_height(hour_of(local.time())),
            if dose.bedtime { "dose bedtime" } else { "dose" },
            label,
            None,
        );
        rows.push(vec![
            Cell::from(local.strftime("%a %-d %b %Y, %H:%M").to_string()),
            Cell::from(product_name(records, dose.batch_id)),
            Cell::from(format!("{} {}", number_text(dose.amount), dose.unit)),
            Cell::from(
                dose.mitragynine_mg
                    .map(|m| {
                        format!(
                            "{}{}",
                            mg(m),
                            if dose.exposure_basis == ExposureBasis::Estimate {
                                " (estimate)"
                            } else {
                                ""
                            }
                        )
                    })
                    .unwrap_or_else(|| "Unknown".into()),
            ),
            Cell::from(if dose.bedtime { "Yes" } else { "" }),
        ]);
    }
    chart.key("dose", words.pick("Dose", "A dose"));
    chart.key(
        "dose bedtime",
        words.pick("Bedtime dose", "A dose near bedtime"),
    );
    if patient.details.usual_bedtime.is_some() {
        chart.key(
            "bedtime-rule",
            words.pick("Usual bedtime", "Your usual bedtime"),
        );
    }
    chart.description = format!(
        "Dot chart of {shown} doses by day and time of day, from 04:00 at the top to 04:00 the next morning at the bottom."
    );
    if shown == 0 {
        chart.empty = Some(words.pick("No doses logged in this range.", "No doses logged."));
    }
    chart.table = Table {
        caption: words.pick("Every dose in the range", "Your doses"),
        head: ["Taken", "Product", "Amount", "MG mg", "Bedtime"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    Section {
        chart,
        intro: words.pick(
            "One dot per dose, at the local time it was taken (its own time zone when travelling).",
            "One dot for each dose, at the time you took it.",
        ),
        sources: Vec::new(),
    }
}

fn pk_section(
    prediction: &Prediction,
    axis: DayAxis,
    zone: &TimeZone,
    words: &Words,
) -> (Section, PkFigures) {
    let points: Vec<(f64, f64, f64, f64)> = prediction
        .points
        .iter()
        .filter_map(|p| {
            Some((
                axis.x_of(p.at, zone)?,
                p.mitragynine,
                p.mitragynine_p5,
                p.mitragynine_p95,
            ))
        })
        .collect();
    let top = nice_ceiling(points.iter().map(|p| p.3).fold(0.0, f64::max));
    let mut chart = DayChart::new(
        "predicted",
        words.pick(
            "Predicted mitragynine in plasma (ng/mL), model",
            "Estimated mitragynine level in your blood (ng/mL)",
        ),
        Size::Tall,
        axis,
        0.0,
        top,
    );
    chart.label_y(&[0.0, top / 2.0, top], "");
    chart.area(
        &points
            .iter()
            .map(|(x, _, low, high)| (*x, *low, *high))
            .collect::<Vec<_>>(),
    );
    chart.line(
        &points
            .iter()
            .map(|(x, c, _, _)| (*x, *c))
            .collect::<Vec<_>>(),
        "typical",
    );
    let mut rows = Vec::new();
    for (_, at, level) in &prediction.bedtime {
        // Bedtimes with nothing on board are left unmarked.
        if let Some(x) = axis.x_of(*at, zone).filter(|_| *level >= 0.5) {
            chart.mark(
                x,
                *level,
                "bedtime",
                format!(
                    "{}: predicted {} ng/mL at usual bedtime (typical patient)",
                    at.to_zoned_datetime(zone.clone())
                        .strftime("%a %-d %b %Y, %H:%M"),
                    number_text(level.round())
                ),
                None,
            );
        }
    }
    // A row per day: the typical curve's range, the band's top and the bedtime level.
    for date in axis.dates() {
        let day: Vec<_> = prediction
            .points
            .iter()
            .filter(|p| p.at.to_zoned_datetime(zone.clone()).date() == date)
            .collect();
        if day.is_empty() {
            continue;
        }
        let high = day.iter().map(|p| p.mitragynine).fold(0.0, f64::max);
        let low = day
            .iter()
            .map(|p| p.mitragynine)
            .fold(f64::INFINITY, f64::min);
        let band = day.iter().map(|p| p.mitragynine_p95).fold(0.0, f64::max);
        let bedtime = prediction
            .bedtime
            .iter()
            .find(|(d, _, _)| *d == date)
            .map(|(_, _, level)| number_text(level.round()))
            .unwrap_or_default();
        rows.push(vec![
            Cell::from(day_label(date)),
            Cell::from(number_text(high.round())),
            Cell::from(number_text(low.round())),
            Cell::from(number_text(band.round())),
            Cell::from(bedtime),
        ]);
    }
    chart.key("typical", words.pick("Typical patient", "A typical person"));
    chart.key(
        "band",
        words.pick(
            "5th–95th percentile of 100 virtual patients",
            "The range most people would fall in",
        ),
    );
    if !prediction.bedtime.is_empty() {
        chart.key("bedtime", words.pick("At usual bedtime", "At your bedtime"));
    }
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
    chart.description = format!(
        "Line chart of predicted mitragynine for a typical patient with a shaded 5th to 95th percentile band; highest typical level {} ng/mL.",
        number_text(peak.round())
    );
    if prediction.doses_used == 0 {
        chart.empty = Some(words.pick(
            "No doses with known milligrams to predict from.",
            "No doses to estimate from.",
        ));
    }
    chart.table = Table {
        caption: words.pick(
            "Predicted mitragynine per day, ng/mL",
            "Estimated levels per day, ng/mL",
        ),
        head: [
            "Day",
            "Typical highest",
            "Typical lowest",
            "95th percentile highest",
            "At usual bedtime",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    };
    let figures = PkFigures {
        steady_state: prediction
            .steady_state_average_ng_ml
            .map(|v| format!("{} ng/mL", number_text(v.round())))
            .unwrap_or_else(|| "—".into()),
        trough: prediction
            .trough_ng_ml
            .map(|v| format!("{} ng/mL", number_text(v.round())))
            .unwrap_or_else(|| "—".into()),
        to_steady_state: format!(
            "about {} days",
            number_text((prediction.time_to_90pct_steady_state_h / 24.0 * 10.0).round() / 10.0)
        ),
        source: prediction.model_source.clone(),
        variability: prediction.variability_note.clone(),
        caution: prediction.caution.clone(),
        citation: prediction
            .model_source
            .split(" — ")
            .next()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned(),
        doses: format!(
            "From {} logged doses, including those in the 14 days before the range{}.",
            prediction.doses_used,
            match prediction.doses_excluded {
                0 => String::new(),
                1 => "; 1 dose with unknown milligrams is left out".into(),
                n => format!("; {n} doses with unknown milligrams are left out"),
            }
        ),
    };
    chart.note(words.pick(
        "Evidence is limited: the model is reconstructed from one small study (n = 5) and its population band rests on assumed variability.",
        "This is an estimate from a model based on very few people; your own levels may be quite different.",
    ));
    (
        Section {
            chart,
            intro: words.pick(
                "The PK model applied to the logged doses: the typical-patient curve and where 90 % of patients would be.",
                "What the doses you logged would do in a typical person's blood over time.",
            ),
            sources: Vec::new(),
        },
        figures,
    )
}

/// A chart of instrument totals, with the bands shaded where the instrument has them.
fn score_section(
    id: &str,
    instruments: &[Instrument],
    assessments: &[Assessment],
    axis: DayAxis,
    zone: &TimeZone,
    sex: Option<SexAtBirth>,
    words: &Words,
) -> Section {
    let first = &instruments[0];
    let (min, max) = (
        instruments
            .iter()
            .map(|i| i.scoring.min)
            .fold(f64::INFINITY, f64::min),
        instruments
            .iter()
            .map(|i| i.scoring.max)
            .fold(0.0, f64::max),
    );
    let (title, plain) = match id {
        "cows" => (
            "COWS total (clinician-rated withdrawal)",
            "Withdrawal signs your clinician rated (COWS)",
        ),
        "sows" => (
            "SOWS total (self-rated withdrawal)",
            "Withdrawal symptoms you reported (SOWS)",
        ),
        "craving" => ("Craving (0–10)", "Cravings (0–10)"),
        "phq9" => ("PHQ-9 total (depression)", "Mood (PHQ-9)"),
        "gad7" => ("GAD-7 total (anxiety)", "Worry and anxiety (GAD-7)"),
        "pain" => ("Pain: NRS and PEG-3 (0–10)", "Pain (0–10)"),
        _ => (first.short_name.as_str(), first.short_name.as_str()),
    };
    let mut chart = DayChart::new(id, words.pick(title, plain), Size::Medium, axis, min, max);
    chart.label_y(&[min, ((min + max) / 2.0).round(), max], "");
    let mut sources = Vec::new();
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    let shapes = ["score", "score square"];
    for (n, instrument) in instruments.iter().enumerate() {
        let bands = bands_for(instrument, sex);
        // Shading only for a single instrument with bands (two scales cannot share shading).
        if instruments.len() == 1 && !bands.is_empty() {
            let spans: Vec<(f64, f64, String)> = bands
                .iter()
                .map(|b| (b.min, b.max, b.label.clone()))
                .collect();
            chart.shade_bands(&spans);
            for (i, b) in bands.iter().enumerate() {
                chart.key(
                    &format!("shade-{}", crate::pages::charts::band_level(i, bands.len())),
                    format!("{} {}–{}", b.label, number_text(b.min), number_text(b.max)),
                );
            }
        }
        let results: Vec<(f64, f64, &Assessment)> = assessments
            .iter()
            .filter(|a| a.instrument == instrument.code)
            .filter_map(|a| Some((axis.x_of(a.completed_at, zone)?, a.total?, a)))
            .collect();
        counts.push(format!("{} {}", results.len(), instrument.short_name));
        let class = shapes[n % shapes.len()];
        for (x, total, a) in &results {
            let band = band_label(instrument, a.band.as_deref());
            let when = a
                .completed_at
                .to_zoned_datetime(zone.clone())
                .strftime("%a %-d %b %Y, %H:%M")
                .to_string();
            chart.mark(
                *x,
                *total,
                class,
                format!(
                    "{when}: {} {}{}",
                    instrument.short_name,
                    number_text(*total),
                    if band.is_empty() {
                        String::new()
                    } else {
                        format!(" ({band})")
                    }
                ),
                None,
            );
            rows.push((
                a.completed_at,
                vec![
                    Cell::from(when),
                    Cell::from(instrument.short_name.clone()),
                    Cell::from(number_text(*total)),
                    Cell::from(band),
                ],
            ));
        }
        chart.line(
            &results.iter().map(|(x, v, _)| (*x, *v)).collect::<Vec<_>>(),
            if n == 0 { "score" } else { "score second" },
        );
        if instruments.len() > 1 {
            chart.key(class, instrument.short_name.clone());
        }
        let evidence = instrument.evidence.clone().unwrap_or_default();
        chart.note(if instrument.bands_configurable && !bands.is_empty() {
            format!(
                "{}: the bands shaded are your organization's own; the instrument has no published severity bands. {evidence}",
                instrument.short_name
            )
        } else if instrument.bands_configurable {
            format!(
                "{}: no published severity bands, so none are shaded; read the change over time. {evidence}",
                instrument.short_name
            )
        } else if evidence.is_empty() {
            format!("{}: {}", instrument.short_name, instrument.attribution)
        } else {
            format!("{}: {evidence}", instrument.short_name)
        });
        sources.push((instrument.short_name.clone(), instrument.source.clone()));
    }
    rows.sort_by_key(|(at, _)| *at);
    chart.description = format!("{} over the range: {}.", chart.title, counts.join(", "));
    if chart.marks.is_empty() {
        chart.empty = Some(words.pick(
            "Nothing recorded in this range.",
            "Nothing recorded in these days.",
        ));
    }
    chart.table = Table {
        caption: chart.title.clone(),
        head: ["Completed", "Instrument", "Total", "Band"]
            .map(String::from)
            .to_vec(),
        rows: rows.into_iter().map(|(_, r)| r).collect(),
    };
    Section {
        chart,
        intro: String::new(),
        sources,
    }
}

/// Sleep efficiency and total sleep time from the sleep diary's metrics, by the morning of.
fn sleep_sections(
    diary: &Instrument,
    assessments: &[Assessment],
    axis: DayAxis,
    zone: &TimeZone,
    words: &Words,
) -> Vec<Section> {
    let nights: Vec<(Date, usize, f64, f64)> = assessments
        .iter()
        .filter(|a| a.instrument == diary.code)
        .filter_map(|a| {
            let date = a.completed_at.to_zoned_datetime(zone.clone()).date();
            let metrics = a.metrics.as_ref()?;
            Some((
                date,
                axis.index(date)?,
                metrics.get("sleep_efficiency_pct")?.as_f64()?,
                metrics.get("total_sleep_time_min")?.as_f64()? / 60.0,
            ))
        })
        .collect();
    let mut efficiency = DayChart::new(
        "sleep",
        words.pick(
            "Sleep efficiency (%)",
            "How much of your time in bed you slept (%)",
        ),
        Size::Medium,
        axis,
        0.0,
        100.0,
    );
    efficiency.label_y(&[0.0, 50.0, 100.0], "");
    let top = nice_ceiling(nights.iter().map(|n| n.3).fold(10.0, f64::max));
    let mut hours = DayChart::new(
        "sleep-time",
        words.pick("Total sleep time (h)", "Hours asleep"),
        Size::Medium,
        axis,
        0.0,
        top,
    );
    hours.label_y(&[0.0, top / 2.0, top], "");
    let mut rows = Vec::new();
    for (date, index, pct, asleep) in &nights {
        let label = format!(
            "Morning of {}: slept {} h, efficiency {:.0} %",
            day_label(*date),
            number_text((asleep * 10.0).round() / 10.0),
            pct
        );
        efficiency.mark(axis.centre(*index), *pct, "score", label.clone(), None);
        hours.bar(*index, *asleep, "sleep", label);
        rows.push(vec![
            Cell::from(day_label(*date)),
            Cell::from(number_text((asleep * 10.0).round() / 10.0)),
            Cell::from(format!("{pct:.0}")),
        ]);
    }
    efficiency.line(
        &nights
            .iter()
            .map(|(_, i, pct, _)| (axis.centre(*i), *pct))
            .collect::<Vec<_>>(),
        "score",
    );
    efficiency.description = format!(
        "Sleep efficiency from {} sleep diaries, by the morning they were written.",
        nights.len()
    );
    hours.description = format!(
        "Bar chart of total sleep time from {} sleep diaries.",
        nights.len()
    );
    if nights.is_empty() {
        let none = words.pick(
            "No sleep diary in this range.",
            "No sleep diary in these days.",
        );
        efficiency.empty = Some(none.clone());
        hours.empty = Some(none);
    }
    efficiency.note(format!(
        "Time asleep ÷ time in bed, from the consensus sleep diary. {}",
        diary.evidence.clone().unwrap_or_default()
    ));
    efficiency.table = Table {
        caption: words.pick("Sleep diary, by morning", "Your sleep diary"),
        head: ["Morning of", "Total sleep (h)", "Efficiency (%)"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    vec![
        Section {
            chart: efficiency,
            intro: String::new(),
            sources: vec![(diary.short_name.clone(), diary.source.clone())],
        },
        Section {
            chart: hours,
            intro: String::new(),
            sources: Vec::new(),
        },
    ]
}

/// Alerts and product-quality flags on the shared axis, with the alerts listed.
fn signals_section(
    records: &Records,
    flags: &BTreeMap<BatchId, Vec<QualityFlagView>>,
    axis: DayAxis,
    zone: &TimeZone,
    words: &Words,
) -> (Section, Vec<AlertRow>, Vec<FlaggedBatch>) {
    let mut chart = DayChart::new(
        "signals",
        words.pick(
            "Safety signals: alerts and product quality flags",
            "Safety checks and product warnings",
        ),
        Size::Strip,
        axis,
        0.0,
        1.0,
    );
    chart.interactive = true;
    chart.label_at(0.78, words.pick("Alerts", "Checks").as_str());
    chart.label_at(0.22, "Products");
    let mut rows = Vec::new();
    let mut in_range = 0;
    let mut alerts: Vec<&Alert> = records.alerts.iter().collect();
    alerts.sort_by_key(|a| std::cmp::Reverse(a.raised_at));
    for alert in alerts {
        let when = alert
            .raised_at
            .to_zoned_datetime(zone.clone())
            .strftime("%a %-d %b %Y, %H:%M")
            .to_string();
        let x = axis.x_of(alert.raised_at, zone);
        let standing = alert.status != "resolved";
        // Alerts outside the range are listed only while someone still has to act on them.
        if x.is_none() && !standing {
            continue;
        }
        let guidance = Rule::from_code(&alert.rule).map(|r| r.guidance());
        let text = if words.for_self {
            "A safety check was flagged; your care team has been notified.".to_owned()
        } else {
            alert.summary.clone()
        };
        let href = (!words.for_self).then(|| format!("/alerts/{}", alert.id));
        if let Some(x) = x {
            in_range += 1;
            chart.mark(
                x,
                0.78,
                &format!(
                    "alert {} {}",
                    alert.severity,
                    if standing { "standing" } else { "resolved" }
                ),
                format!(
                    "{when} · {} · {}: {}{}",
                    alert.severity,
                    alert.status,
                    text,
                    match (&guidance, words.for_self) {
                        (Some(g), false) => format!(" ({})", g.title),
                        _ => String::new(),
                    }
                ),
                href.clone(),
            );
        }
        rows.push(AlertRow {
            when,
            severity: alert.severity.clone(),
            status: alert.status.clone(),
            text,
            guidance: match (&guidance, words.for_self) {
                (Some(g), false) => format!("{} Source: {}", g.consider, g.source),
                _ => String::new(),
            },
            href,
            emphasised: standing,
        });
    }
    // Where alerts coincide, the most severe is drawn last, on top.
    chart.marks.sort_by_key(|m| {
        ["urgent", "warning", "info"]
            .iter()
            .position(|s| m.class.contains(s))
            .map_or(0, |p| 3 - p)
    });
    // Product flags: a block on each day the patient used a flagged batch.
    let mut flagged: BTreeMap<BatchId, std::collections::BTreeSet<Date>> = BTreeMap::new();
    for dose in &records.doses {
        let date = dose_local(dose).date();
        if axis.index(date).is_some() && flags.get(&dose.batch_id).is_some_and(|f| !f.is_empty()) {
            flagged.entry(dose.batch_id).or_default().insert(date);
        }
    }
    let mut per_day: BTreeMap<Date, Vec<BatchId>> = BTreeMap::new();
    for (batch, dates) in &flagged {
        for date in dates {
            per_day.entry(*date).or_default().push(*batch);
        }
    }
    for (date, batches) in &per_day {
        let Some(index) = axis.index(*date) else {
            continue;
        };
        let all: Vec<&QualityFlagView> = batches
            .iter()
            .flat_map(|b| flags.get(b).into_iter().flatten())
            .collect();
        let label = format!(
            "{}: {}",
            day_label(*date),
            batches
                .iter()
                .map(|b| {
                    format!(
                        "{} — {}",
                        product_name(records, *b),
                        flags
                            .get(b)
                            .map(|f| f
                                .iter()
                                .map(|f| format!("{} ({})", humanize(&f.code), f.severity))
                                .collect::<Vec<_>>()
                                .join(", "))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        );
        chart.block(index, 0.06, 0.38, &format!("flag {}", worst(all)), label);
    }
    let batches: Vec<FlaggedBatch> = flagged
        .iter()
        .map(|(batch, dates)| {
            let list = flags.get(batch).map(Vec::as_slice).unwrap_or_default();
            FlaggedBatch {
                name: product_name(records, *batch),
                severity: worst(list).to_owned(),
                days: dates.len(),
                flags: list
                    .iter()
                    .map(|f| FlagLine {
                        explanation: f.explanation.clone(),
                        standard: f.standard.clone(),
                        evidence: f.evidence.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    for (level, text) in [
        ("urgent", "Urgent"),
        ("warning", "Warning"),
        ("info", "Information"),
    ] {
        chart.key(&format!("alert {level} standing"), text);
    }
    chart.key(
        "alert info resolved",
        words.pick("Resolved (faded)", "Dealt with"),
    );
    chart.key(
        "flag warning",
        words.pick(
            "Flagged product used that day",
            "Product with a warning used that day",
        ),
    );
    chart.description = format!(
        "{in_range} alerts raised in the range and {} days of use of flagged products.",
        per_day.len()
    );
    if words.for_self {
        chart.note("When a safety check is flagged, your care team is told straight away and will follow up with you.");
    } else {
        chart.note("Open and acknowledged alerts are solid; resolved ones are smaller and faded. Each links to the alert's evidence and guidance.");
    }
    (
        Section {
            chart,
            intro: String::new(),
            sources: Vec::new(),
        },
        rows,
        batches,
    )
}

#[cfg(test)]
mod tests {
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
