//! `/patients/{id}/sleep`: nights with and without a bedtime dose (a chart of nights as
//! points with the 95 % interval, by product, and the nights themselves) and CBT-I's sleep
//! window. The patient sees a plain sentence with its limits, tonight's window and the
//! stimulus-control rules; it never suggests taking a dose.
//! Sources: plans-and-therapy.md §3; pharmacology.md §7.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_app::exposure::LocalDates;
use speciosa_app::sleep::{self, BedtimeEffect, WindowInput};
use speciosa_core::account::Role;
use speciosa_core::bedtime_effect::{self, Effect, Metric, OutcomeEffect};
use speciosa_core::ids::PatientId;
use speciosa_core::nights::Night;
use speciosa_core::sleep_window;

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::charts::number_text;
use crate::pages::{FormErrors, Nav, patient_id, render};
use crate::problems;

const LABELS: &[(&str, &str)] = &[
    ("time_in_bed_min", "Time in bed"),
    ("rise_time", "Rise time"),
    ("starts_on", "Starts on"),
    ("note", "Note"),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    saved: String,
}

#[derive(Deserialize, Clone, Default)]
pub struct WindowForm {
    #[serde(default)]
    pub time_in_bed_min: String,
    #[serde(default)]
    pub rise_time: String,
    #[serde(default)]
    pub starts_on: String,
    #[serde(default)]
    pub note: String,
}

/// One metric's comparison as shown.
pub struct MetricRow {
    pub label: &'static str,
    pub unit: &'static str,
    pub with_mean: String,
    pub without_mean: String,
    /// `−16 (−20 to −12)`, or empty below the minimum.
    pub difference: String,
    pub slope: String,
    pub chart: Option<StripChart>,
}

/// Nights as points in two columns (without, with), each group's mean, and the 95 %
/// interval of the difference drawn around the without-mean in the "with" column.
pub struct StripChart {
    pub description: String,
    pub dots: Vec<(String, String, String, bool)>,
    pub without_mean_y: String,
    pub with_mean_y: String,
    pub band: Option<(String, String)>,
    pub top_label: String,
    pub bottom_label: String,
}

pub struct ProductRow {
    pub name: String,
    pub lot: String,
    pub alkaloids: String,
    pub labelled_strain: String,
    pub nights: usize,
    pub onset: String,
    pub waso: String,
}

pub struct NightRow {
    pub night_of: String,
    pub dose: String,
    pub predicted: String,
    pub onset: String,
    pub waso: String,
    pub total: String,
    pub efficiency: String,
    pub craving: String,
    pub sows: String,
}

pub struct WindowCard {
    pub bedtime: String,
    pub rise_time: String,
    pub hours: String,
    pub starts_on: String,
    pub adherence: String,
    pub history: Vec<String>,
}

pub struct ProposalCard {
    pub time_in_bed_min: i64,
    pub rise_time: String,
    pub bedtime: String,
    pub basis: String,
}

#[derive(Template)]
#[template(path = "sleep.html")]
struct SleepPage {
    nav: Nav,
    patient_id: String,
    patient_name: String,
    clinician: bool,
    from: String,
    to: String,
    saved: bool,
    enough_data: bool,
    nights_with: usize,
    nights_without: usize,
    more_needed: String,
    summary: String,
    metrics: Vec<MetricRow>,
    method: String,
    caution: String,
    products: Vec<ProductRow>,
    nights: Vec<NightRow>,
    window: Option<WindowCard>,
    proposal: Option<ProposalCard>,
    proposal_unavailable: String,
    settings_note: String,
    stimulus_control: Vec<&'static str>,
    form: WindowForm,
    errors: FormErrors,
    status: StatusCode,
}

fn round(value: f64) -> String {
    number_text(value.round())
}

fn one_decimal(value: f64) -> String {
    number_text((value * 10.0).round() / 10.0)
}

fn opt(value: Option<f64>, f: fn(f64) -> String) -> String {
    value.map(f).unwrap_or_else(|| "—".to_owned())
}

fn metric_label(metric: Metric) -> (&'static str, &'static str) {
    match metric {
        Metric::SleepOnset => ("Time to fall asleep", "min"),
        Metric::WakeAfterSleepOnset => ("Awake during the night", "min"),
        Metric::TotalSleep => ("Total sleep", "min"),
        Metric::Efficiency => ("Sleep efficiency", "%"),
    }
}

/// Minutes as a person says them: "about 12 minutes".
fn minutes(value: f64) -> String {
    let m = value.abs().round();
    if m == 1.0 {
        "about 1 minute".to_owned()
    } else {
        format!("about {} minutes", number_text(m))
    }
}

/// The plain sentence the patient reads (issue 16 §4): what differed on nights with a
/// bedtime dose, with the interval in words. It describes; it never advises a dose.
pub fn patient_sentence(effect: &Effect) -> String {
    if !effect.enough_data {
        return format!(
            "There are not enough nights yet to compare: {}",
            more_needed(effect)
        );
    }
    let mut parts = Vec::new();
    if let Some(o) = effect.outcome(Metric::SleepOnset)
        && let (Some(d), Some(low), Some(high)) = (o.difference, o.ci_low, o.ci_high)
    {
        let what = if d < 0.0 {
            format!("you fell asleep {} sooner", minutes(d))
        } else {
            format!("you took {} longer to fall asleep", minutes(d))
        };
        let range = if low < 0.0 && high < 0.0 {
            format!(
                " — somewhere between {} and {} minutes sooner —",
                round(-high),
                round(-low)
            )
        } else if low > 0.0 && high > 0.0 {
            format!(
                " — somewhere between {} and {} minutes longer —",
                round(low),
                round(high)
            )
        } else {
            format!(
                " (anything from {} minutes sooner to {} minutes longer fits your nights, so there may be no real difference)",
                round(-low),
                round(high)
            )
        };
        parts.push(format!("{what}{range}"));
    }
    if let Some(d) = effect
        .outcome(Metric::WakeAfterSleepOnset)
        .and_then(|o| o.difference)
    {
        parts.push(if d >= 0.0 {
            format!("were awake {} longer during the night", minutes(d))
        } else {
            format!("were awake {} less during the night", minutes(d))
        });
    }
    format!(
        "On nights with a bedtime dose {}.",
        parts.join(if parts.len() == 2 { " and " } else { ", " })
    )
}

fn more_needed(effect: &Effect) -> String {
    let mut needs = Vec::new();
    let nights = |n: usize| if n == 1 { "night" } else { "nights" };
    if effect.more_nights_with_needed > 0 {
        needs.push(format!(
            "{} more {} with a bedtime dose",
            effect.more_nights_with_needed,
            nights(effect.more_nights_with_needed)
        ));
    }
    if effect.more_nights_without_needed > 0 {
        needs.push(format!(
            "{} more {} without one",
            effect.more_nights_without_needed,
            nights(effect.more_nights_without_needed)
        ));
    }
    format!(
        "{} with a sleep diary the next morning are needed (at least {} of each).",
        needs.join(" and "),
        bedtime_effect::MIN_NIGHTS_PER_GROUP
    )
}

fn difference_text(o: &OutcomeEffect) -> String {
    match (o.difference, o.ci_low, o.ci_high) {
        (Some(d), Some(l), Some(h)) => format!(
            "{} (95 % CI {} to {})",
            one_decimal(d),
            one_decimal(l),
            one_decimal(h)
        ),
        _ => String::new(),
    }
}

/// The strip chart for one metric, in a 320 × 160 box.
fn strip_chart(metric: Metric, nights: &[Night], o: &OutcomeEffect) -> Option<StripChart> {
    let values: Vec<(usize, bool, f64)> = nights
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i, n.bedtime_dose(), metric.of(n)?)))
        .collect();
    if values.is_empty() {
        return None;
    }
    let mut low = values.iter().map(|v| v.2).fold(f64::INFINITY, f64::min);
    let mut high = values.iter().map(|v| v.2).fold(f64::NEG_INFINITY, f64::max);
    if let (Some(w), Some(l), Some(h)) = (o.without_mean, o.ci_low, o.ci_high) {
        low = low.min(w + l);
        high = high.max(w + h);
    }
    if high - low < 1.0 {
        high = low + 1.0;
    }
    let pad = (high - low) * 0.08;
    let (low, high) = (low - pad, high + pad);
    let y = |v: f64| 150.0 - (v - low) / (high - low) * 140.0;
    let count = values.len().max(1) as f64;
    let dots = values
        .iter()
        .map(|(i, with, v)| {
            // Spread across the column by night order, so neighbours do not overlap.
            let left = if *with { 190.0 } else { 50.0 };
            let x = left + 90.0 * (*i as f64 + 0.5) / count;
            (
                format!("{x:.1}"),
                format!("{:.1}", y(*v)),
                format!(
                    "{}: {} {}",
                    nights[*i].night_of,
                    one_decimal(*v),
                    metric_label(metric).1
                ),
                *with,
            )
        })
        .collect();
    let band = match (o.without_mean, o.ci_low, o.ci_high) {
        (Some(w), Some(l), Some(h)) => Some((
            format!("{:.1}", y(w + h)),
            format!("{:.1}", (y(w + l) - y(w + h)).max(1.0)),
        )),
        _ => None,
    };
    let (label, unit) = metric_label(metric);
    Some(StripChart {
        description: format!(
            "{label}: {} nights without a bedtime dose (left, mean {}) and {} with (right, mean {}){}.",
            values.iter().filter(|v| !v.1).count(),
            opt(o.without_mean, one_decimal),
            values.iter().filter(|v| v.1).count(),
            opt(o.with_mean, one_decimal),
            if band.is_some() {
                "; the shaded bar is the 95 % interval for the with-dose mean given the without-dose mean"
            } else {
                ""
            }
        ),
        dots,
        without_mean_y: o
            .without_mean
            .map_or(String::new(), |m| format!("{:.1}", y(m))),
        with_mean_y: o
            .with_mean
            .map_or(String::new(), |m| format!("{:.1}", y(m))),
        band,
        top_label: format!("{} {unit}", one_decimal(high)),
        bottom_label: format!("{} {unit}", one_decimal(low)),
    })
}

fn metric_rows(report: &BedtimeEffect) -> Vec<MetricRow> {
    let rated: Vec<Night> = report
        .nights
        .iter()
        .filter(|n| n.metrics.is_some())
        .cloned()
        .collect();
    report
        .effect
        .outcomes
        .iter()
        .map(|(metric, o)| {
            let (label, unit) = metric_label(*metric);
            MetricRow {
                label,
                unit,
                with_mean: opt(o.with_mean, one_decimal),
                without_mean: opt(o.without_mean, one_decimal),
                difference: difference_text(o),
                slope: match (o.slope_per_100_ng_ml, o.slope_ci_low, o.slope_ci_high) {
                    (Some(s), Some(l), Some(h)) => format!(
                        "{} per 100 ng/mL (95 % CI {} to {})",
                        one_decimal(s),
                        one_decimal(l),
                        one_decimal(h)
                    ),
                    _ => String::new(),
                },
                chart: strip_chart(*metric, &rated, o),
            }
        })
        .collect()
}

fn night_rows(nights: &[Night]) -> Vec<NightRow> {
    nights
        .iter()
        .rev()
        .map(|n| {
            let m = n.metrics.as_ref();
            NightRow {
                night_of: n.night_of.strftime("%a %-d %b %Y").to_string(),
                dose: match n.bedtime_mitragynine_mg() {
                    Some(mg) => format!("{} mg", one_decimal(mg)),
                    None if n.bedtime_dose() => "yes (mg unknown)".to_owned(),
                    None => "—".to_owned(),
                },
                predicted: opt(n.predicted_bedtime_ng_ml, round),
                onset: opt(m.map(|m| m.sleep_onset_latency_min), round),
                waso: opt(m.map(|m| m.wake_after_sleep_onset_min), round),
                total: opt(m.map(|m| m.total_sleep_time_min / 60.0), one_decimal),
                efficiency: opt(m.map(|m| m.sleep_efficiency_pct), round),
                craving: opt(n.next_day_craving, one_decimal),
                sows: opt(n.next_day_sows, one_decimal),
            }
        })
        .collect()
}

fn basis_text(proposal: &sleep_window::Proposal) -> String {
    match &proposal.basis {
        sleep_window::Basis::Initial {
            nights,
            mean_total_sleep_min,
            floor_min,
        } => format!(
            "First window: mean total sleep {} min over {nights} diary nights of the last two weeks, rounded, not below the floor of {floor_min} min.",
            round(*mean_total_sleep_min)
        ),
        sleep_window::Basis::Titration {
            nights,
            mean_efficiency_pct,
            previous_time_in_bed_min,
            change_min,
            extend_at_pct,
            shrink_below_pct,
        } => format!(
            "Weekly titration: mean sleep efficiency {} % over {nights} nights on the {previous_time_in_bed_min}-min window (extend at ≥ {} %, shrink below {} %): change {change_min:+} min.",
            one_decimal(*mean_efficiency_pct),
            number_text(*extend_at_pct),
            number_text(*shrink_below_pct)
        ),
        sleep_window::Basis::Unchanged {
            nights,
            days_in_force,
        } => format!(
            "The current window has run {days_in_force} days ({nights} diary nights): keep it until a week has passed."
        ),
    }
}

fn hh_mm(time: jiff::civil::Time) -> String {
    time.strftime("%H:%M").to_string()
}

async fn sleep_page(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    params: &RangeParams,
    attempt: Option<(WindowForm, FormErrors)>,
) -> Result<Response, PageError> {
    let dates = LocalDates {
        from: Some(params.from.as_str()),
        to: Some(params.to.as_str()),
    };
    let report = sleep::bedtime_effect(&state.app, user, id, dates).await?;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, user, id).await?;
    let clinician = user.actor.role == Role::Clinician;
    let status = sleep::current_window(&state.app, user, id).await?;
    let (proposal, proposal_unavailable, settings_note) = if clinician {
        match sleep::propose_window(&state.app, user, id, None).await {
            Ok((p, settings)) => (
                Some(ProposalCard {
                    time_in_bed_min: p.time_in_bed_min,
                    rise_time: hh_mm(p.rise_time),
                    bedtime: hh_mm(p.bedtime),
                    basis: basis_text(&p),
                }),
                String::new(),
                format!(
                    "This clinic: floor {} min, extend at ≥ {} %, shrink below {} %, steps of {} min, goal {} min. {}",
                    settings.floor_min,
                    number_text(settings.extend_at_pct),
                    number_text(settings.shrink_below_pct),
                    settings.step_min,
                    settings.goal_min,
                    sleep_window::SETTINGS_SOURCE
                ),
            ),
            Err(speciosa_app::AppError::Conflict(reason)) => (None, reason, String::new()),
            Err(other) => return Err(ApiError::from(other).into()),
        }
    } else {
        (None, String::new(), String::new())
    };
    let window = status.as_ref().map(|s| WindowCard {
        bedtime: hh_mm(s.window.bedtime),
        rise_time: hh_mm(s.window.rise_time),
        hours: one_decimal(s.window.time_in_bed_min as f64 / 60.0),
        starts_on: s.window.starts_on.strftime("%a %-d %b %Y").to_string(),
        adherence: if s.adherence.nights == 0 {
            "No diary nights since it started.".to_owned()
        } else {
            format!(
                "{} of {} diary nights kept the window (within 15 minutes).",
                s.adherence.nights_kept, s.adherence.nights
            )
        },
        history: s
            .history
            .iter()
            .take(8)
            .map(|w| {
                format!(
                    "From {}: {} min, {}–{}",
                    w.starts_on,
                    w.time_in_bed_min,
                    hh_mm(w.bedtime),
                    hh_mm(w.rise_time)
                )
            })
            .collect(),
    });
    let effect = &report.effect;
    let (form, errors) = attempt.unwrap_or_else(|| {
        let form = proposal
            .as_ref()
            .map(|p| WindowForm {
                time_in_bed_min: p.time_in_bed_min.to_string(),
                rise_time: p.rise_time.clone(),
                ..WindowForm::default()
            })
            .unwrap_or_default();
        (form, FormErrors::none())
    });
    let products = report
        .by_product
        .iter()
        .map(|p| {
            let b = &p.batch;
            let onset = p.effect.outcome(Metric::SleepOnset);
            let waso = p.effect.outcome(Metric::WakeAfterSleepOnset);
            ProductRow {
                name: b.product_name.clone(),
                lot: b.lot.clone(),
                alkaloids: if b.assayed {
                    format!(
                        "mitragynine {} mg/g, 7-OH {} mg/g",
                        opt(b.mitragynine_mg_per_g, |v| number_text(v)),
                        opt(b.hydroxymitragynine_mg_per_g, |v| number_text(v))
                    )
                } else {
                    "no certificate of analysis: alkaloids unknown".to_owned()
                },
                labelled_strain: b.labelled_strain.clone().unwrap_or_default(),
                nights: p.effect.nights_with,
                onset: onset
                    .map(difference_text)
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| {
                        format!(
                            "needs {} more nights",
                            p.effect
                                .more_nights_with_needed
                                .max(p.effect.more_nights_without_needed)
                        )
                    }),
                waso: waso.map(difference_text).unwrap_or_default(),
            }
        })
        .collect();
    let page = SleepPage {
        nav: Nav::for_user(user).at("/patients"),
        patient_id: id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        clinician,
        from: report.from.to_string(),
        to: report.to.to_string(),
        saved: params.saved == "window",
        enough_data: effect.enough_data,
        nights_with: effect.nights_with,
        nights_without: effect.nights_without,
        more_needed: more_needed(effect),
        summary: patient_sentence(effect),
        metrics: metric_rows(&report),
        method: bedtime_effect::METHOD.to_owned(),
        caution: sleep::CAUTION.to_owned(),
        products,
        nights: night_rows(&report.nights),
        window,
        proposal,
        proposal_unavailable,
        settings_note,
        stimulus_control: sleep_window::STIMULUS_CONTROL.to_vec(),
        form,
        status: errors.status,
        errors,
    };
    let status = page.status;
    Ok((status, render(&page)?).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    params: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let Query(params) = params
        .map_err(|rejection| ApiError::new(problems::MALFORMED_REQUEST, rejection.body_text()))?;
    sleep_page(&state, &user, id, &params, None).await
}

pub async fn save_window(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<WindowForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let PageForm { user, form, .. } = submitted;
    let time_in_bed_min = match form.time_in_bed_min.trim() {
        "" => Ok(None),
        raw => raw.parse::<i64>().map(Some).map_err(|_| {
            ApiError::from(speciosa_app::AppError::field(
                "time_in_bed_min",
                "give the time in bed in whole minutes",
            ))
        }),
    };
    let result = match time_in_bed_min {
        Ok(time_in_bed_min) => sleep::save_window(
            &state.app,
            &user,
            id,
            WindowInput {
                time_in_bed_min,
                rise_time: Some(form.rise_time.as_str()),
                bedtime: None,
                starts_on: Some(form.starts_on.as_str()),
                note: Some(form.note.as_str()),
            },
        )
        .await
        .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => Ok(
            Redirect::to(&format!("/patients/{id}/sleep?saved=window#window-heading"))
                .into_response(),
        ),
        Err(error) => {
            let errors = FormErrors::from_api(error, LABELS)?;
            sleep_page(
                &state,
                &user,
                id,
                &RangeParams::default(),
                Some((form, errors)),
            )
            .await
        }
    }
}

/// The timeline's sleep card: time to fall asleep and time awake with and without a bedtime
/// dose (nights as points, the interval shaded), and the therapy sessions and sleep windows
/// in the range.
pub struct TimelineSleep {
    pub href: String,
    pub summary: String,
    pub rows: Vec<MetricRow>,
    /// (local date, what happened), oldest first.
    pub events: Vec<(String, String)>,
}

pub async fn timeline_card(
    state: &AppState,
    user: &Authenticated,
    patient: &speciosa_app::records::Patient,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
) -> Result<TimelineSleep, ApiError> {
    // The comparison reads at most a year of nights.
    let from = from.max(to.checked_sub(jiff::Span::new().days(365)).unwrap_or(from));
    let (from_text, to_text) = (from.to_string(), to.to_string());
    let dates = LocalDates {
        from: Some(from_text.as_str()),
        to: Some(to_text.as_str()),
    };
    let report = sleep::bedtime_effect(&state.app, user, patient.id, dates).await?;
    let mut rows = metric_rows(&report);
    rows.retain(|r| {
        r.label == metric_label(Metric::SleepOnset).0
            || r.label == metric_label(Metric::WakeAfterSleepOnset).0
    });
    let zone = patient.details.time_zone.to_zone();
    let start = from
        .to_zoned_datetime(zone.clone())
        .ok()
        .map(|z| z.timestamp());
    let end = to
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned_datetime(zone.clone()).ok())
        .map(|z| z.timestamp());
    let mut events: Vec<(String, String)> = Vec::new();
    if let (Some(start), Some(end)) = (start, end) {
        let (_, sessions) =
            speciosa_app::appointments::list(&state.app, user, patient.id, Some(start), Some(end))
                .await?;
        for a in sessions.iter().filter(|a| {
            a.kind == speciosa_core::appointment::AppointmentKind::TherapySession
                && a.status == speciosa_core::appointment::AppointmentStatus::Scheduled
        }) {
            events.push((
                a.starts_at
                    .to_zoned_datetime(zone.clone())
                    .date()
                    .to_string(),
                format!(
                    "Therapy session with {}{}",
                    a.clinician_name,
                    a.location
                        .as_deref()
                        .map(|l| format!(" ({l})"))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    if let Some(status) = sleep::current_window(&state.app, user, patient.id).await? {
        for w in std::iter::once(&status.window).chain(status.history.iter()) {
            if w.starts_on >= from && w.starts_on <= to {
                events.push((
                    w.starts_on.to_string(),
                    format!(
                        "Sleep window approved: {} min in bed, {}–{}",
                        w.time_in_bed_min,
                        hh_mm(w.bedtime),
                        hh_mm(w.rise_time)
                    ),
                ));
            }
        }
    }
    events.sort();
    Ok(TimelineSleep {
        href: format!("/patients/{}/sleep?from={from}&to={to}", patient.id),
        summary: patient_sentence(&report.effect),
        rows,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use speciosa_core::bedtime_effect::OutcomeEffect;

    fn effect(onset: (f64, f64, f64), waso: f64) -> Effect {
        let o = |d: f64, l: f64, h: f64| OutcomeEffect {
            difference: Some(d),
            ci_low: Some(l),
            ci_high: Some(h),
            ..OutcomeEffect::default()
        };
        Effect {
            enough_data: true,
            nights_with: 10,
            nights_without: 10,
            more_nights_with_needed: 0,
            more_nights_without_needed: 0,
            outcomes: vec![
                (Metric::SleepOnset, o(onset.0, onset.1, onset.2)),
                (Metric::WakeAfterSleepOnset, o(waso, waso - 5.0, waso + 5.0)),
            ],
        }
    }

    #[test]
    fn the_patient_reads_the_issues_sentence_with_the_interval_in_words() {
        assert_eq!(
            patient_sentence(&effect((-12.2, -21.4, -2.6), 8.1)),
            "On nights with a bedtime dose you fell asleep about 12 minutes sooner — somewhere between 3 and 21 minutes sooner — and were awake about 8 minutes longer during the night."
        );
    }

    #[test]
    fn an_interval_across_zero_says_there_may_be_no_difference() {
        let text = patient_sentence(&effect((-4.0, -10.0, 2.0), -3.0));
        assert!(text.contains("may be no real difference"), "{text}");
        assert!(text.contains("awake about 3 minutes less"));
        for advice in ["take", "should", "try"] {
            assert!(!text.to_lowercase().contains(advice), "{text}");
        }
    }

    #[test]
    fn too_few_nights_say_how_many_more_are_needed() {
        let mut few = effect((0.0, 0.0, 0.0), 0.0);
        few.enough_data = false;
        few.more_nights_with_needed = 3;
        few.more_nights_without_needed = 1;
        assert_eq!(
            patient_sentence(&few),
            "There are not enough nights yet to compare: 3 more nights with a bedtime dose and 1 more night without one with a sleep diary the next morning are needed (at least 7 of each)."
        );
    }
}
