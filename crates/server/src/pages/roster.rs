//! The clinician's roster (`/roster`): their patients, most in need of attention
//! first (open alert severity, then days since the last check-in), each with small
//! trend indicators and the latest band of each instrument.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::progress::{self, Direction, DoseWeeks, Trend};
use speciosa_core::roster::Attention;
use speciosa_core::safety::Severity;
use speciosa_store::{Assessment, Patient, StoreError};

use crate::app::AppState;
use crate::error::PageError;
use crate::extract::{Authenticated, PageUser};
use crate::pages::{Nav, mg_per_day_text, render, require_role};
use speciosa_app::safety::log_unreadable;

const WEEK: SignedDuration = SignedDuration::from_hours(7 * 24);

/// Instruments whose latest band the roster shows, in this order.
const BANDED: [&str; 6] = ["phq9", "gad7", "cows", "sows", "auditc", "peg3"];

struct TrendCell {
    direction: &'static str,
    arrow: &'static str,
    /// What the arrow compares, with the numbers, for hover and screen readers.
    description: String,
    /// The value shown beside the arrow.
    value: String,
}

struct BandCell {
    instrument: String,
    label: String,
    total: String,
}

struct RosterRow {
    id: String,
    name: String,
    urgent: usize,
    warning: usize,
    info: usize,
    acknowledged: usize,
    last_check_in: String,
    days_since_check_in: Option<i64>,
    dose: TrendCell,
    withdrawal: TrendCell,
    sleep: TrendCell,
    mood: TrendCell,
    bands: Vec<BandCell>,
    attention: Attention,
}

impl RosterRow {
    fn trends(&self) -> [(&'static str, &TrendCell); 4] {
        [
            ("Dose", &self.dose),
            ("Withdrawal", &self.withdrawal),
            ("Sleep", &self.sleep),
            ("Mood", &self.mood),
        ]
    }
}

/// A patient whose records could not be read: listed, so nobody silently drops off the roster.
struct UnreadableRow {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "roster.html")]
struct RosterPage {
    nav: Nav,
    rows: Vec<RosterRow>,
    unreadable: Vec<UnreadableRow>,
}

const REFUSAL: &str =
    "The roster is for clinicians: it ranks the patients whose care team you are on.";

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Response, PageError> {
    require_role(
        &state,
        &user,
        Role::Clinician,
        "roster.read",
        "patient",
        REFUSAL,
    )
    .await?;
    let patients = state
        .store
        .list_care_team_patients(user.actor.organization_id, user.actor.user_id)
        .await?;
    let now = Timestamp::now();
    let mut rows = Vec::new();
    // One patient's unreadable records cost that patient's row only: they are logged and
    // listed as unreadable, and every other patient is still shown. Only an unreachable
    // database fails the page.
    let mut unreadable = Vec::new();
    for listed in patients {
        let (id, name, error) = match listed {
            Ok(patient) => match row(&state, &user, &patient, now).await {
                Ok(row) => {
                    rows.push(row);
                    continue;
                }
                Err(error) if error.is_unavailable() => return Err(error.into()),
                Err(error) => (
                    patient.id,
                    Some(patient.details.display_name.as_str().to_owned()),
                    error,
                ),
            },
            Err(listed) => (listed.id, listed.display_name, listed.error),
        };
        log_unreadable("roster", id, &error);
        let mut entry = user.audit(
            "roster.read",
            "patient",
            Some(id.to_string()),
            Some(id),
            Outcome::Failure,
        );
        entry.detail = Some("roster row: the record could not be read".into());
        state.store.append_audit(entry).await?;
        unreadable.push(UnreadableRow {
            id: id.to_string(),
            name: name.unwrap_or_else(|| format!("Patient {}", &id.to_string()[..8])),
        });
    }
    rows.sort_by_key(|r| (r.attention.sort_key(), r.name.to_lowercase()));
    let page = RosterPage {
        nav: Nav::for_user(&user).at("/roster"),
        rows,
        unreadable,
    };
    Ok(render(&page)?.into_response())
}

async fn row(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    now: Timestamp,
) -> Result<RosterRow, StoreError> {
    let store = &state.store;
    let alerts = store.list_alerts(patient.id).await?;
    let open = |severity: &str| {
        alerts
            .iter()
            .filter(|a| a.status == "open" && a.severity == severity)
            .count()
    };
    let highest_open_severity = alerts
        .iter()
        .filter(|a| a.status == "open")
        .filter_map(|a| Severity::parse(&a.severity))
        .max();
    let assessments = store.list_assessments(patient.id, None).await?;
    let last_check_in = assessments.iter().map(|a| a.completed_at).max();
    let days_since_check_in = last_check_in.map(|at| now.duration_since(at).as_hours() / 24);
    // Mitragynine per day over the last 7 full local days, the figure the timeline shows.
    let doses = store
        .list_doses(
            patient.id,
            now - WEEK * 2 - SignedDuration::from_hours(48),
            now + SignedDuration::from_secs(1),
            false,
        )
        .await?;
    let today = now
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let daily = progress::daily_totals(doses.iter().map(|d| {
        (
            d.taken_at,
            jiff::tz::db()
                .get(&d.time_zone)
                .unwrap_or(jiff::tz::TimeZone::UTC),
            d.mitragynine_mg.unwrap_or(0.0),
        )
    }));
    let dose = cell(
        DoseWeeks::of(&daily, progress::last_full_day(today)).trend(),
        mg_per_day_text,
        "Mitragynine per day, last 7 full days vs the 7 before",
    );

    let (withdrawal_code, withdrawal_name) = if assessments.iter().any(|a| a.instrument == "sows") {
        ("sows", "SOWS")
    } else {
        ("cows", "COWS")
    };
    let withdrawal = cell(
        last_two(&assessments, withdrawal_code, 3.0),
        |v| format!("{withdrawal_name} {v:.0}"),
        &format!("{withdrawal_name}, latest vs the one before"),
    );
    let sleep_minutes = |from: Timestamp, to: Timestamp| -> Option<f64> {
        let nights: Vec<f64> = assessments
            .iter()
            .filter(|a| {
                a.instrument == "sleep_diary" && a.completed_at > from && a.completed_at <= to
            })
            .filter_map(|a| a.metrics.as_ref()?.get("total_sleep_time_min")?.as_f64())
            .collect();
        (!nights.is_empty()).then(|| nights.iter().sum::<f64>() / nights.len() as f64 / 60.0)
    };
    let sleep = cell(
        // Half an hour a night is a change a patient notices.
        Trend::between(
            sleep_minutes(now - WEEK, now),
            sleep_minutes(now - WEEK * 2, now - WEEK),
            0.5,
        ),
        |v| format!("{v:.1} h"),
        "Hours slept a night (sleep diary), last 7 days vs the 7 before",
    );
    // Five PHQ-9 points is the change the instrument's authors treat as meaningful
    // (Kroenke 2001, via instruments.md).
    let mood = cell(
        last_two(&assessments, "phq9", 5.0),
        |v| format!("PHQ-9 {v:.0}"),
        "PHQ-9, latest vs the one before",
    );
    let bands = BANDED
        .iter()
        .filter_map(|code| {
            let latest = assessments.iter().rev().find(|a| a.instrument == *code)?;
            let instrument = state.app.knowledge().instruments.get(code)?;
            let band = latest.band.as_deref()?;
            let label = instrument
                .bands
                .iter()
                .find(|b| b.code == band)
                .map(|b| b.label.clone())
                .unwrap_or_else(|| crate::pages::humanize(band));
            Some(BandCell {
                instrument: instrument.short_name.clone(),
                label,
                total: latest.total.map(|t| format!("{t:.0}")).unwrap_or_default(),
            })
        })
        .collect();
    let mut entry = user.audit(
        "roster.read",
        "patient",
        Some(patient.id.to_string()),
        Some(patient.id),
        Outcome::Success,
    );
    entry.detail = Some("roster row: alerts, trends, latest bands".into());
    store.append_audit(entry).await?;
    Ok(RosterRow {
        id: patient.id.to_string(),
        name: patient.details.display_name.as_str().to_owned(),
        urgent: open("urgent"),
        warning: open("warning"),
        info: open("info"),
        acknowledged: alerts.iter().filter(|a| a.status == "acknowledged").count(),
        last_check_in: match days_since_check_in {
            None => "Never".into(),
            Some(0) => "Today".into(),
            Some(1) => "1 day ago".into(),
            Some(days) => format!("{days} days ago"),
        },
        days_since_check_in,
        dose,
        withdrawal,
        sleep,
        mood,
        bands,
        attention: Attention {
            highest_open_severity,
            days_since_check_in,
        },
    })
}

/// The latest score of an instrument against the one before it.
fn last_two(assessments: &[Assessment], instrument: &str, steady_within: f64) -> Trend {
    let mut totals = assessments
        .iter()
        .filter(|a| a.instrument == instrument)
        .filter_map(|a| a.total)
        .rev();
    let recent = totals.next();
    let previous = totals.next();
    Trend::between(recent, previous, steady_within)
}

fn cell(trend: Trend, show: impl Fn(f64) -> String, what: &str) -> TrendCell {
    let words = match trend.direction {
        Direction::Rising => "up",
        Direction::Falling => "down",
        Direction::Steady => "steady",
        Direction::NotEnoughData => "not enough data",
    };
    let numbers = match (trend.recent, trend.previous) {
        (Some(now), Some(before)) => format!(": {} (was {})", show(now), show(before)),
        (Some(now), None) => format!(": {}", show(now)),
        _ => String::new(),
    };
    TrendCell {
        direction: trend.direction.as_str(),
        arrow: trend.direction.arrow(),
        description: format!("{what}: {words}{numbers}"),
        value: trend.recent.map(&show).unwrap_or_else(|| "—".into()),
    }
}
