//! The clinician's roster (`/roster`): their patients, most in need of attention
//! first (open alert severity, then days since the last check-in), each with small
//! trend indicators and the latest band of each instrument.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use speciosa_core::progress::{Direction, Trend};

use crate::app::AppState;
use crate::error::PageError;
use crate::extract::PageUser;
use crate::pages::{Nav, mg_per_day_text, render};

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

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Response, PageError> {
    let roster =
        speciosa_app::roster::clinician_roster(&state.app, &user, Timestamp::now()).await?;
    let rows = roster.rows.into_iter().map(|r| row(&state, r)).collect();
    let unreadable = roster
        .unreadable
        .into_iter()
        .map(|u| UnreadableRow {
            id: u.patient_id.to_string(),
            name: u.name,
        })
        .collect();
    let page = RosterPage {
        nav: Nav::for_user(&user).at("/roster"),
        rows,
        unreadable,
    };
    Ok(render(&page)?.into_response())
}

fn row(state: &AppState, row: speciosa_app::roster::RosterRow) -> RosterRow {
    let withdrawal_name = if row.withdrawal_instrument == "sows" {
        "SOWS"
    } else {
        "COWS"
    };
    let bands = row
        .bands
        .iter()
        .filter_map(|latest| {
            let instrument = state.app.knowledge().instruments.get(&latest.instrument)?;
            let label = instrument
                .bands
                .iter()
                .find(|b| b.code == latest.band)
                .map(|b| b.label.clone())
                .unwrap_or_else(|| crate::pages::humanize(&latest.band));
            Some(BandCell {
                instrument: instrument.short_name.clone(),
                label,
                total: latest.total.map(|t| format!("{t:.0}")).unwrap_or_default(),
            })
        })
        .collect();
    RosterRow {
        id: row.patient_id.to_string(),
        name: row.name,
        urgent: row.open_urgent,
        warning: row.open_warning,
        info: row.open_info,
        acknowledged: row.acknowledged,
        last_check_in: match row.days_since_check_in {
            None => "Never".into(),
            Some(0) => "Today".into(),
            Some(1) => "1 day ago".into(),
            Some(days) => format!("{days} days ago"),
        },
        days_since_check_in: row.days_since_check_in,
        dose: cell(
            row.dose,
            mg_per_day_text,
            "Mitragynine per day, last 7 full days vs the 7 before",
        ),
        withdrawal: cell(
            row.withdrawal,
            |v| format!("{withdrawal_name} {v:.0}"),
            &format!("{withdrawal_name}, latest vs the one before"),
        ),
        sleep: cell(
            row.sleep,
            |v| format!("{v:.1} h"),
            "Hours slept a night (sleep diary), last 7 days vs the 7 before",
        ),
        mood: cell(
            row.mood,
            |v| format!("PHQ-9 {v:.0}"),
            "PHQ-9, latest vs the one before",
        ),
        bands,
    }
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
