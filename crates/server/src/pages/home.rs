//! A patient's own home page, made for a phone: crisis contacts one tap away, what is
//! due today, their check-in streak, their last two weeks in plain words, their latest
//! dose and their medication list. Everything here describes; nothing advises a dose.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use speciosa_app::records::{Assessment, Dose, Patient};
use speciosa_core::account::Role;
use speciosa_core::dose::DailyExposure;
use speciosa_core::progress::{
    CheckinStreak, Direction, DoseWeeks, STREAK_READ_DAYS, WINDOW_DAYS, WeekComparison,
    checkin_streak, days_before, last_full_day, local_days,
};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageUser};
use crate::pages::charts::{Chart, chart, number_text};
use crate::pages::checkin::{done_codes, due_codes, length_text};
use crate::pages::doses::amount_text;
use crate::pages::medications::ListedMedication;
use crate::pages::time::Clock;
use crate::pages::{HelpBar, Nav, Notice, home_path, mg_per_day_text, render};
use speciosa_app::doses::DateRange;

/// One day of the bar chart, in the same 0–1000 × 0–100 box as the line charts.
pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub label: String,
    /// `partial` for a day not yet over, drawn lighter.
    pub class: &'static str,
}

/// Daily totals as bars, one per day (`chart_macros.html`, `bars`).
pub struct BarChart {
    pub description: String,
    pub bars: Vec<Bar>,
    pub y_max: String,
    pub y_min: String,
    pub x_start: String,
    pub x_end: String,
    /// A line under the chart explaining its marks.
    pub key: Option<String>,
}

/// A round top for a chart's scale: 1, 2, 2.5 or 5 times a power of ten.
fn round_up(value: f64) -> f64 {
    if value <= 0.0 {
        return 10.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|top| *top >= value)
        .unwrap_or(10.0 * power)
}

/// Bars for `days` (each day of the range, in order), `unit` after each figure. The
/// last day is `today` and still under way, so its bar is marked as so far.
fn bar_chart(title: &str, unit: &str, days: &[(Date, f64)], today: Date) -> Option<BarChart> {
    let (first, last) = (days.first()?, days.last()?);
    let top = round_up(days.iter().map(|(_, v)| *v).fold(0.0, f64::max));
    let slot = 1000.0 / days.len() as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, (date, value))| {
            let height = 96.0 * (value / top).clamp(0.0, 1.0);
            let partial = *date == today;
            let day = if partial {
                "Today so far".to_owned()
            } else {
                date.strftime("%a %-d %b").to_string()
            };
            Bar {
                x: format!("{:.1}", i as f64 * slot + slot * 0.15),
                y: format!("{:.1}", 100.0 - height),
                width: format!("{:.1}", slot * 0.7),
                height: format!("{height:.1}"),
                label: format!("{day}: {}{unit}", mg_text(*value)),
                class: if partial { "partial" } else { "" },
            }
        })
        .collect();
    let total_days = days.iter().filter(|(_, v)| *v > 0.0).count();
    Some(BarChart {
        description: format!(
            "{title}, {} to {}: {total_days} of {} days with doses logged.",
            first.0.strftime("%-d %b"),
            last.0.strftime("%-d %b"),
            days.len()
        ),
        bars,
        y_max: format!("{}{unit}", number_text(top)),
        y_min: format!("0{unit}"),
        x_start: first.0.strftime("%-d %b").to_string(),
        x_end: if last.0 == today {
            "Today".to_owned()
        } else {
            last.0.strftime("%-d %b").to_string()
        },
        key: (last.0 == today).then(|| "The lighter last bar is today so far.".to_owned()),
    })
}

/// `48` for 47.6 mg, `4.2` below 10: as precise as a daily total is worth reading.
fn mg_text(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else {
        number_text((value * 10.0).round() / 10.0)
    }
}

fn one_decimal(value: f64) -> String {
    number_text((value * 10.0).round() / 10.0)
}

/// A chart with the sentence that reads it.
pub struct Reading {
    pub heading: &'static str,
    pub sentence: String,
    pub line: Option<Chart>,
    pub bars: Option<BarChart>,
}

/// A day of the fortnight strip beside the streak.
pub struct StreakDay {
    pub label: String,
    pub done: bool,
    pub letter: String,
}

/// A medication as the patient reads it.
pub struct MedicationLine {
    pub name: String,
    pub dose_text: Option<String>,
    /// `Taking since 1 September 2026`, `Stopped on 15 October 2026`.
    pub status: String,
    pub active: bool,
}

impl MedicationLine {
    fn new(view: &ListedMedication) -> Self {
        let long = |d: &Option<String>| {
            d.as_deref()
                .and_then(|d| d.parse::<Date>().ok())
                .map(|d| d.strftime("%-d %B %Y").to_string())
        };
        let status = match (view.active, long(&view.started_on), long(&view.stopped_on)) {
            (true, Some(start), _) => format!("Taking since {start}"),
            (true, None, _) => "Taking".to_owned(),
            (false, _, Some(stop)) => format!("Stopped on {stop}"),
            (false, _, None) => "Stopped".to_owned(),
        };
        MedicationLine {
            name: view.name.clone(),
            dose_text: view.dose_text.clone(),
            status,
            active: view.active,
        }
    }
}

/// The signed plan's day as the patient reads it: what is planned, what comes next and
/// what was logged. It describes the plan and the log; it never says what is "left".
pub struct PlanToday {
    /// `2 capsules at 08:00 and 1 at 21:30 (bedtime)`.
    pub target: String,
    /// `75 mg of mitragynine in all`, for plans in a product's units.
    pub target_mg: Option<String>,
    /// `Monday 14 December`.
    pub next_from: Option<String>,
    pub next_target: Option<String>,
    pub next_mg: Option<String>,
    /// `25 mg of mitragynine, from 1 dose`.
    pub logged: String,
    /// `about 1 capsule of the plan's product`.
    pub logged_units: Option<String>,
    /// Logged today is above today's plan (beyond the ±10 % of "on plan").
    pub over: bool,
    pub product: Option<String>,
}

/// `3 capsules`, `1 capsule`, `1.5 g`, `40 mg`.
fn units_text(units: f64, unit: &str) -> String {
    match unit {
        "mg" => format!("{} mg", speciosa_app::doses::mg_text(units)),
        "ml" => format!("{} mL", number_text(units)),
        "g" => format!("{} g", number_text(units)),
        other => {
            let noun = if (units - 1.0).abs() < 1e-9 {
                other.to_owned()
            } else {
                format!("{other}s")
            };
            format!("{} {noun}", number_text(units))
        }
    }
}

/// A day's slots in words: `2 capsules at 08:00 and 1 at 21:30 (bedtime)`. Counted units
/// are named once; measured ones each time. Slots with nothing planned are left out.
pub fn slots_text(slots: &[(jiff::civil::Time, f64, bool)], unit: &str) -> String {
    let counted = !matches!(unit, "mg" | "g" | "ml");
    let parts: Vec<String> = slots
        .iter()
        .filter(|(_, units, _)| *units > 1e-9)
        .enumerate()
        .map(|(i, (time, units, bedtime))| {
            let amount = if counted && i > 0 {
                number_text(*units)
            } else {
                units_text(*units, unit)
            };
            format!(
                "{amount} at {}{}",
                time.strftime("%H:%M"),
                if *bedtime { " (bedtime)" } else { "" }
            )
        })
        .collect();
    match parts.as_slice() {
        [] => "no doses planned".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl PlanToday {
    fn new(day: &speciosa_app::plans::TodayPlan) -> PlanToday {
        let schedule = &day.plan.content.schedule;
        let unit = day.unit.as_str();
        let in_units = unit != "mg";
        let mg = |value: f64| format!("{} mg", speciosa_app::doses::mg_text(value));
        let next = day.next_step.map(|step| {
            let slots: Vec<_> = schedule
                .slots
                .iter()
                .zip(schedule.slot_units(step.units))
                .map(|(slot, units)| (slot.time, units, slot.bedtime))
                .collect();
            (step, slots_text(&slots, unit))
        });
        let doses = match day.doses_today {
            1 => "1 dose".to_owned(),
            n => format!("{n} doses"),
        };
        PlanToday {
            target: slots_text(&day.slots, unit),
            target_mg: in_units
                .then(|| format!("{} of mitragynine in all", mg(day.step.planned_mg))),
            next_from: next
                .as_ref()
                .map(|(step, _)| step.from.strftime("%A %-d %B").to_string()),
            next_target: next.as_ref().map(|(_, text)| text.clone()),
            next_mg: next
                .as_ref()
                .filter(|_| in_units)
                .map(|(step, _)| format!("{} of mitragynine in all", mg(step.planned_mg))),
            logged: if day.doses_today == 0 {
                "nothing yet".to_owned()
            } else {
                format!("{} of mitragynine, from {doses}", mg(day.taken_mg))
            },
            logged_units: (in_units && day.doses_today > 0 && schedule.mg_per_unit() > 0.0).then(
                || {
                    format!(
                        "about {} of the plan's product",
                        units_text(
                            (day.taken_mg / schedule.mg_per_unit() * 10.0).round() / 10.0,
                            unit
                        )
                    )
                },
            ),
            over: day.doses_today > 0
                && speciosa_core::plan::day_status(day.step.planned_mg, Some(day.taken_mg))
                    == speciosa_core::plan::DayStatus::Over,
            product: schedule.batch.as_ref().map(|b| b.label.clone()),
        }
    }
}

/// The latest dose and where to log the same again.
pub struct LatestDose {
    pub what: String,
    pub when: String,
    pub mitragynine: Option<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    patient_id: String,
    name: String,
    care_team: Vec<String>,
    time_zone: String,
    usual_bedtime: Option<String>,
    /// Today's date where the patient lives, e.g. `Tuesday 12 May`.
    today: String,
    /// The check-in's instruments due today (short names), in check-in order.
    due: Vec<String>,
    /// How long they take (`4 sections, 16 questions, about 4 minutes`).
    length: String,
    /// Sections of today's check-in already saved.
    done: Vec<String>,
    streak: CheckinStreak,
    fortnight: Vec<StreakDay>,
    window_days: i64,
    readings: Vec<Reading>,
    latest: Option<LatestDose>,
    /// Today under the signed plan in force; nothing without one.
    plan: Option<PlanToday>,
    medications: Vec<MedicationLine>,
    /// The next visits and sessions ("Visit with Dr …"), in the patient's time.
    coming_up: Vec<crate::pages::appointments::ListedAppointment>,
    /// Crisis help one tap away, at the top.
    help: HelpBar,
    /// Where the naloxone is and how to use it (issue 15).
    naloxone: crate::pages::monitoring::NaloxoneCard,
    notice: Option<&'static str>,
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    if user.actor.role != Role::Patient {
        return Ok(Redirect::to(home_path(user.actor.role)).into_response());
    }
    let own = user
        .actor
        .own_patient_id
        .ok_or_else(|| ApiError::not_found("patient record linked to this login"))?;
    let (patient, team) = speciosa_app::patients::read_patient(&state.app, &user, own).await?;
    let details = &patient.details;
    let zone = details.time_zone.to_zone();
    let now = Timestamp::now().to_zoned_datetime(zone.clone());
    let today_date = now.date();
    let schedule = speciosa_app::checkin::due_today(&state.app, &user, own).await?;
    let due_now = due_codes(&state, &schedule);
    let length = length_text(&state, &due_now);
    let names = |codes: &[String]| -> Vec<String> {
        codes
            .iter()
            .filter_map(|code| state.app.knowledge().instruments.get(code))
            .map(|i| i.short_name.clone())
            .collect()
    };
    let due = names(&due_now);
    let done = names(&done_codes(&state, &patient, &schedule));
    let assessments = speciosa_app::assessments::read_recent_checkins(
        &state.app,
        &user,
        own,
        Timestamp::now(),
        STREAK_READ_DAYS,
    )
    .await?;
    let checkin_days = local_days(assessments.iter().map(|a| a.completed_at), &zone);
    let streak = checkin_streak(&checkin_days, today_date);
    let fortnight = (0..WINDOW_DAYS)
        .rev()
        .map(|n| {
            let day = days_before(today_date, n);
            let done = checkin_days.contains(&day);
            StreakDay {
                label: format!(
                    "{}: {}",
                    day.strftime("%A %-d %B"),
                    if done { "checked in" } else { "no check-in" }
                ),
                letter: day.strftime("%a").to_string().chars().take(1).collect(),
                done,
            }
        })
        .collect();
    // One day more than the chart, so the week comparison can stop at yesterday.
    let range = DateRange {
        from: Some(days_before(today_date, WINDOW_DAYS).to_string()),
        to: Some(today_date.to_string()),
        include_history: false,
    };
    let exposure = speciosa_app::doses::daily_exposure(&state.app, &user, own, &range).await?;
    let mut readings = vec![amount_reading(&exposure, today_date)];
    readings.extend(assessment_readings(&assessments, today_date, &zone));
    let latest = latest_dose(&state, &user, &patient, today_date).await?;
    let plan = speciosa_app::plans::today(&state.app, &user, own)
        .await?
        .as_ref()
        .map(PlanToday::new);
    let (_, medications) =
        speciosa_app::medications::read_medications(&state.app, &user, own).await?;
    let coming_up = crate::pages::appointments::coming_up(&state, &user, &patient).await?;
    let naloxone = crate::pages::monitoring::home_card(&state, &user, &patient).await?;
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("checkin") => Some("Check-in saved. Thank you: your care team can see your answers."),
        _ => None,
    };
    let page = HomePage {
        nav: Nav::for_user(&user).at("/home"),
        patient_id: own.to_string(),
        name: details.display_name.as_str().to_owned(),
        care_team: team.iter().map(|m| m.display_name.clone()).collect(),
        time_zone: details.time_zone.as_str().to_owned(),
        usual_bedtime: details
            .usual_bedtime
            .map(|t| t.strftime("%H:%M").to_string()),
        today: now.strftime("%A %-d %B").to_string(),
        due,
        length,
        done,
        streak,
        fortnight,
        window_days: WINDOW_DAYS,
        readings,
        latest,
        plan,
        medications: medications
            .iter()
            .map(|m| MedicationLine::new(&ListedMedication::new(m, today_date)))
            .collect(),
        coming_up,
        naloxone,
        help: HelpBar::for_patient(&state, &patient),
        notice,
    };
    Ok(crate::pages::offline::allow_offline_copy(
        render(&page)?.into_response(),
    ))
}

/// Daily mitragynine as bars, and how the last full week compares with the one before.
fn amount_reading(days: &[DailyExposure], today: Date) -> Reading {
    let chart_days: Vec<(Date, f64)> = (0..WINDOW_DAYS)
        .rev()
        .map(|n| {
            let date = days_before(today, n);
            let mg = days
                .iter()
                .find(|d| d.date == date)
                .map_or(0.0, |d| d.mitragynine_mg);
            (date, mg)
        })
        .collect();
    // The figure the timeline and the care team's roster show: mitragynine per day over
    // the last 7 full days, days without a dose counting as zero.
    let daily: Vec<(Date, f64)> = days.iter().map(|d| (d.date, d.mitragynine_mg)).collect();
    let weeks = DoseWeeks::of(&daily, last_full_day(today));
    let (past, before) = (
        mg_per_day_text(weeks.past_week),
        mg_per_day_text(weeks.week_before),
    );
    let logged_this_week = daily
        .iter()
        .any(|(d, mg)| *d > days_before(weeks.last, 7) && *d <= weeks.last && *mg > 0.0);
    let mut sentence = match weeks.trend().direction {
        _ if days.is_empty() => "No doses logged in the last 14 days.".to_owned(),
        _ if !logged_this_week && !weeks.logged_before => {
            "Your doses so far are from today; a daily figure appears after a full day.".to_owned()
        }
        Direction::Falling => format!(
            "In the 7 days up to yesterday you took about {past}, less than the week before ({before})."
        ),
        Direction::Rising => format!(
            "In the 7 days up to yesterday you took about {past}, more than the week before ({before})."
        ),
        Direction::Steady => format!(
            "In the 7 days up to yesterday you took about {past}, about the same as the week before."
        ),
        Direction::NotEnoughData => format!("In the 7 days up to yesterday you took about {past}."),
    };
    if days
        .iter()
        .any(|d| d.includes_estimates || d.includes_unknown)
    {
        sentence.push_str(" Some amounts are estimates, because a product has no lab certificate.");
    }
    Reading {
        heading: "Mitragynine (mg per day)",
        sentence,
        line: None,
        bars: days
            .iter()
            .any(|d| d.mitragynine_mg > 0.0)
            .then(|| bar_chart("Daily mitragynine", " mg", &chart_days, today))
            .flatten(),
    }
}

/// Craving, sleep and mood over the last 14 days, each only when there are results.
fn assessment_readings(assessments: &[Assessment], today: Date, zone: &TimeZone) -> Vec<Reading> {
    let since = days_before(today, WINDOW_DAYS - 1);
    let recent = |code: &str| -> Vec<&Assessment> {
        assessments
            .iter()
            .filter(|a| a.instrument == code)
            .filter(|a| a.completed_at.to_zoned_datetime(zone.clone()).date() >= since)
            .collect()
    };
    let local = |a: &Assessment| a.completed_at.to_zoned_datetime(zone.clone()).date();
    let mut readings = Vec::new();

    let craving: Vec<(Timestamp, f64)> = recent("craving")
        .iter()
        .filter_map(|a| Some((a.completed_at, a.total?)))
        .collect();
    if !craving.is_empty() {
        let dated: Vec<(Date, f64)> = recent("craving")
            .iter()
            .filter_map(|a| Some((local(a), a.total?)))
            .collect();
        let weeks = WeekComparison::of(&dated, today);
        let sentence = match (
            weeks.trend(0.5).direction,
            weeks.past_week,
            weeks.week_before,
        ) {
            (Direction::Falling, Some(p), Some(b)) => format!(
                "Your craving averaged {} out of 10 over the past week, lower than the week before ({}).",
                one_decimal(p),
                one_decimal(b)
            ),
            (Direction::Rising, Some(p), Some(b)) => format!(
                "Your craving averaged {} out of 10 over the past week, higher than the week before ({}).",
                one_decimal(p),
                one_decimal(b)
            ),
            (Direction::Steady, Some(p), _) => format!(
                "Your craving averaged {} out of 10 over the past week, about the same as the week before.",
                one_decimal(p)
            ),
            (_, Some(p), _) => format!(
                "Your craving averaged {} out of 10 over the past week.",
                one_decimal(p)
            ),
            (_, None, Some(b)) => format!(
                "No craving ratings in the past week; the week before they averaged {} out of 10.",
                one_decimal(b)
            ),
            _ => String::new(),
        };
        readings.push(Reading {
            heading: "Craving (0 to 10)",
            sentence,
            line: chart("Craving".into(), "", &craving, 0.0, 10.0, &[], zone),
            bars: None,
        });
    }

    let sleep: Vec<(Timestamp, f64)> = recent("sleep_diary")
        .iter()
        .filter_map(|a| {
            let minutes = a.metrics.as_ref()?.get("total_sleep_time_min")?.as_f64()?;
            Some((a.completed_at, (minutes / 6.0).round() / 10.0))
        })
        .collect();
    if !sleep.is_empty() {
        let average = sleep.iter().map(|(_, h)| h).sum::<f64>() / sleep.len() as f64;
        let nights = sleep.len();
        let top = sleep.iter().map(|(_, h)| *h).fold(10.0, f64::max).ceil();
        readings.push(Reading {
            heading: "Sleep (hours slept)",
            sentence: format!(
                "You slept about {} hours a night on average over the last 14 days ({nights} {} in your sleep diary).",
                number_text((average * 2.0).round() / 2.0),
                if nights == 1 { "night" } else { "nights" }
            ),
            line: chart("Hours slept".into(), " h", &sleep, 0.0, top, &[], zone),
            bars: None,
        });
    }

    for (code, heading, what, max) in [
        ("phq9", "Mood (PHQ-9)", "mood score (PHQ-9)", 27.0),
        ("gad7", "Anxiety (GAD-7)", "anxiety score (GAD-7)", 21.0),
    ] {
        let scores: Vec<(Timestamp, f64)> = recent(code)
            .iter()
            .filter_map(|a| Some((a.completed_at, a.total?)))
            .collect();
        let Some((_, latest)) = scores.last().copied() else {
            continue;
        };
        let all: Vec<&Assessment> = assessments
            .iter()
            .filter(|a| a.instrument == code && a.total.is_some())
            .collect();
        let band = all.last().and_then(|a| a.band.clone());
        let previous = all.len().checked_sub(2).and_then(|i| all[i].total);
        let mut sentence = format!(
            "Your latest {what} was {} out of {}",
            number_text(latest),
            number_text(max)
        );
        if let Some(band) = band {
            sentence.push_str(&format!(", in the {} range", band.replace('_', " ")));
        }
        match previous {
            Some(p) if p > latest => {
                sentence.push_str(&format!(", lower than the one before ({})", number_text(p)))
            }
            Some(p) if p < latest => sentence.push_str(&format!(
                ", higher than the one before ({})",
                number_text(p)
            )),
            Some(_) => sentence.push_str(", the same as the one before"),
            None => {}
        }
        sentence.push_str(". Lower scores mean fewer symptoms.");
        readings.push(Reading {
            heading,
            sentence,
            // Weekly scales: one result in a fortnight is a dot, not a trend.
            line: (scores.len() > 1)
                .then(|| chart(heading.into(), "", &scores, 0.0, max, &[], zone))
                .flatten(),
            bars: None,
        });
    }
    readings
}

/// The most recent dose in the last 14 days, read through the audited dose list.
async fn latest_dose(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    today: Date,
) -> Result<Option<LatestDose>, PageError> {
    let range = DateRange {
        from: Some(days_before(today, WINDOW_DAYS - 1).to_string()),
        to: Some(today.to_string()),
        include_history: false,
    };
    let doses: Vec<Dose> =
        speciosa_app::doses::read_doses(&state.app, user, patient.id, &range).await?;
    let Some(dose) = doses.iter().max_by_key(|d| d.taken_at) else {
        return Ok(None);
    };
    let (products, batches) = speciosa_app::products::catalogue(&state.app, user).await?;
    let product = batches
        .iter()
        .find(|b| b.id == dose.batch_id)
        .and_then(|b| products.iter().find(|p| p.id == b.product_id));
    let zone = jiff::tz::db().get(&dose.time_zone).unwrap_or(TimeZone::UTC);
    let taken = dose.taken_at.to_zoned_datetime(zone);
    let day = if taken.date() == today {
        "today".to_owned()
    } else if Some(taken.date()) == today.yesterday().ok() {
        "yesterday".to_owned()
    } else {
        format!("on {}", taken.date().strftime("%A %-d %B"))
    };
    let amount = amount_text(dose.amount, &dose.unit);
    Ok(Some(LatestDose {
        what: match product {
            Some(p) => format!("{amount} of {}", p.details.name),
            None => amount,
        },
        when: format!(
            "{day} at {}",
            Clock::named(&dose.time_zone).time(dose.taken_at)
        ),
        mitragynine: dose.mitragynine_mg.map(mg_text),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_days_slots_read_as_one_sentence_naming_counted_units_once() {
        let at = |h, m| jiff::civil::Time::constant(h, m, 0, 0);
        let slots = [(at(8, 0), 2.0, false), (at(21, 30), 1.0, true)];
        assert_eq!(
            slots_text(&slots, "capsule"),
            "2 capsules at 08:00 and 1 at 21:30 (bedtime)"
        );
        let three = [
            (at(8, 0), 1.0, false),
            (at(14, 0), 0.0, false),
            (at(21, 0), 0.5, false),
        ];
        assert_eq!(
            slots_text(&three, "g"),
            "1 g at 08:00 and 0.5 g at 21:00",
            "measured units each time; empty slots left out"
        );
        assert_eq!(
            slots_text(&[(at(8, 0), 1.0, false)], "tablet"),
            "1 tablet at 08:00"
        );
        assert_eq!(
            slots_text(&[(at(8, 0), 33.333, false)], "mg"),
            "33 mg at 08:00"
        );
        assert_eq!(
            slots_text(&[(at(8, 0), 0.0, false)], "mg"),
            "no doses planned"
        );
    }

    #[test]
    fn chart_scales_end_on_a_round_number() {
        assert_eq!(round_up(47.0), 50.0);
        assert_eq!(round_up(120.0), 200.0);
        assert_eq!(round_up(2.2), 2.5);
        assert_eq!(round_up(0.0), 10.0);
    }

    fn exposure(date: Date, mg: f64) -> DailyExposure {
        DailyExposure {
            date,
            mitragynine_mg: mg,
            hydroxymitragynine_mg: 0.0,
            grams: 0.0,
            millilitres: 0.0,
            dose_count: 1,
            bedtime_dose: false,
            includes_estimates: false,
            includes_unknown: false,
        }
    }

    #[test]
    fn the_amount_reading_compares_full_weeks_and_never_counts_today() {
        let today = date(2026, 5, 15);
        let mut days: Vec<DailyExposure> = (8..=14)
            .map(|n| exposure(days_before(today, n), 40.0))
            .collect();
        days.extend((1..=7).map(|n| exposure(days_before(today, n), 30.0)));
        days.push(exposure(today, 5.0));
        let reading = amount_reading(&days, today);
        assert_eq!(
            reading.sentence,
            "In the 7 days up to yesterday you took about 30 mg per day, less than the week before (40 mg per day)."
        );
        assert_eq!(reading.bars.unwrap().bars.len(), 14);
    }

    #[test]
    fn a_first_week_of_doses_is_described_without_a_comparison() {
        let today = date(2026, 5, 15);
        // Three days of 35 mg over the seven: 15 mg per day, as the timeline and roster say.
        let days: Vec<DailyExposure> = (1..=3)
            .map(|n| exposure(days_before(today, n), 35.0))
            .collect();
        assert_eq!(
            amount_reading(&days, today).sentence,
            "In the 7 days up to yesterday you took about 15 mg per day."
        );
        assert_eq!(
            amount_reading(&[exposure(today, 20.0)], today).sentence,
            "Your doses so far are from today; a daily figure appears after a full day."
        );
        assert_eq!(
            amount_reading(&[], today).sentence,
            "No doses logged in the last 14 days."
        );
    }
}
