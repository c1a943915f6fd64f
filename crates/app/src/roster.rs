//! The clinician's roster: their patients, most in need of attention first (open alert
//! severity, then days since the last check-in), each with trends and the latest band
//! of each instrument, all from the maintained summaries in a fixed number of queries.

use jiff::{SignedDuration, Timestamp};
use speciosa_core::audit::Outcome;
use speciosa_core::ids::PatientId;
use speciosa_core::policy::OrganizationAction;
use speciosa_core::progress::{self, DoseWeeks, Trend};
use speciosa_core::roster::Attention;
use speciosa_core::safety::Severity;
use speciosa_store::{LatestResult, RosterEntry, RosterWindow};

use crate::safety::log_unreadable;
use crate::{App, AppError, Caller, access};

const WEEK: SignedDuration = SignedDuration::from_hours(7 * 24);

/// Instruments whose latest band the roster shows, in this order.
pub const BANDED: [&str; 6] = ["phq9", "gad7", "cows", "sows", "auditc", "peg3"];

/// Days of daily totals read for every patient: the two weeks the dose trend compares,
/// before yesterday (the last full day), with a day either side for time zones.
const DAYS_READ: i64 = 17;

/// What a clinician who is not allowed the roster is told.
pub const REFUSAL: &str =
    "The roster is for clinicians: it ranks the patients whose care team you are on.";

/// The latest band of one instrument.
#[derive(Clone, Debug, PartialEq)]
pub struct LatestBand {
    /// The instrument's code, e.g. `phq9`.
    pub instrument: String,
    pub band: String,
    pub total: Option<f64>,
}

/// One patient's row.
#[derive(Clone, Debug)]
pub struct RosterRow {
    pub patient_id: PatientId,
    pub name: String,
    pub open_urgent: usize,
    pub open_warning: usize,
    pub open_info: usize,
    pub acknowledged: usize,
    pub days_since_check_in: Option<i64>,
    /// Mitragynine per day, last 7 full local days vs the 7 before.
    pub dose: Trend,
    /// The withdrawal instrument shown (`sows` once the patient has one, else `cows`)
    /// and its latest score against the one before.
    pub withdrawal_instrument: &'static str,
    pub withdrawal: Trend,
    /// Hours slept a night (sleep diary), last 7 days vs the 7 before.
    pub sleep: Trend,
    /// PHQ-9, latest vs the one before.
    pub mood: Trend,
    pub bands: Vec<LatestBand>,
    pub attention: Attention,
}

/// A patient whose records could not be read: listed, so nobody silently drops off.
#[derive(Clone, Debug)]
pub struct UnreadableRow {
    pub patient_id: PatientId,
    pub name: String,
}

#[derive(Clone, Debug, Default)]
pub struct Roster {
    /// Most in need of attention first, then by name.
    pub rows: Vec<RosterRow>,
    pub unreadable: Vec<UnreadableRow>,
}

/// The roster of the clinician `caller`, as of `now`. Every row read is audited; one
/// patient whose records cannot be read is logged, audited as a failure and listed as
/// unreadable while everyone else is shown. Only an unreachable database fails it.
pub async fn clinician_roster(
    app: &App,
    caller: &Caller,
    now: Timestamp,
) -> Result<Roster, AppError> {
    match access::organization(
        app,
        caller,
        OrganizationAction::ReviewAlerts,
        "roster.read",
        "patient",
    )
    .await
    {
        Err(AppError::Forbidden(_)) => return Err(AppError::Forbidden(REFUSAL.into())),
        other => other?,
    }
    let today_utc = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let window = RosterWindow {
        first_day: today_utc
            .checked_sub(jiff::Span::new().days(DAYS_READ))
            .unwrap_or(today_utc),
        last_day: today_utc.tomorrow().unwrap_or(today_utc),
        sleep_since: now - WEEK * 2,
        sleep_until: now,
    };
    let entries = app
        .store
        .care_team_roster(caller.actor.organization_id, caller.actor.user_id, window)
        .await?;
    let mut roster = Roster::default();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let mut audit = caller.audit(
                    "roster.read",
                    "patient",
                    Some(entry.patient.id.to_string()),
                    Some(entry.patient.id),
                    Outcome::Success,
                );
                audit.detail = Some("roster row: alerts, trends, latest bands".into());
                app.store.append_audit(audit).await?;
                roster.rows.push(row(entry, now));
            }
            Err(listed) if listed.error.is_unavailable() => return Err(listed.error.into()),
            Err(listed) => {
                let id = listed.id;
                log_unreadable("roster", id, &listed.error);
                let mut entry = caller.audit(
                    "roster.read",
                    "patient",
                    Some(id.to_string()),
                    Some(id),
                    Outcome::Failure,
                );
                entry.detail = Some("roster row: the record could not be read".into());
                app.store.append_audit(entry).await?;
                roster.unreadable.push(UnreadableRow {
                    patient_id: id,
                    name: listed
                        .display_name
                        .unwrap_or_else(|| format!("Patient {}", &id.to_string()[..8])),
                });
            }
        }
    }
    roster
        .rows
        .sort_by_key(|r| (r.attention.sort_key(), r.name.to_lowercase()));
    Ok(roster)
}

fn row(entry: RosterEntry, now: Timestamp) -> RosterRow {
    let RosterEntry {
        patient,
        summary,
        latest,
        day_totals,
        sleep_diaries,
    } = entry;
    let alerts = summary.alerts;
    let count = |n: i64| usize::try_from(n).unwrap_or_default();
    let highest_open_severity = if alerts.open_urgent > 0 {
        Some(Severity::Urgent)
    } else if alerts.open_warning > 0 {
        Some(Severity::Warning)
    } else if alerts.open_info > 0 {
        Some(Severity::Info)
    } else {
        None
    };
    let days_since_check_in = summary
        .last_check_in_at
        .map(|at| now.duration_since(at).as_hours() / 24);
    let today = now
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let daily: Vec<_> = day_totals
        .iter()
        .map(|d| (d.day, d.mitragynine_mg))
        .collect();
    let dose = DoseWeeks::of(&daily, progress::last_full_day(today)).trend();
    let latest_of = |code: &str| latest.iter().find(|r| r.instrument == code);
    let withdrawal_instrument = if latest_of("sows").is_some() {
        "sows"
    } else {
        "cows"
    };
    let withdrawal = last_two(latest_of(withdrawal_instrument), 3.0);
    let sleep_hours = |from: Timestamp, to: Timestamp| -> Option<f64> {
        let nights: Vec<f64> = sleep_diaries
            .iter()
            .filter(|(at, _)| *at > from && *at <= to)
            .filter_map(|(_, metrics)| metrics.as_ref()?.get("total_sleep_time_min")?.as_f64())
            .collect();
        (!nights.is_empty()).then(|| nights.iter().sum::<f64>() / nights.len() as f64 / 60.0)
    };
    // Half an hour a night is a change a patient notices.
    let sleep = Trend::between(
        sleep_hours(now - WEEK, now),
        sleep_hours(now - WEEK * 2, now - WEEK),
        0.5,
    );
    // Five PHQ-9 points is the change the instrument's authors treat as meaningful
    // (Kroenke 2001, via instruments.md).
    let mood = last_two(latest_of("phq9"), 5.0);
    let bands = BANDED
        .iter()
        .filter_map(|code| {
            let result = latest_of(code)?;
            Some(LatestBand {
                instrument: (*code).to_owned(),
                band: result.band.clone()?,
                total: result.total,
            })
        })
        .collect();
    RosterRow {
        patient_id: patient.id,
        name: patient.details.display_name.as_str().to_owned(),
        open_urgent: count(alerts.open_urgent),
        open_warning: count(alerts.open_warning),
        open_info: count(alerts.open_info),
        acknowledged: count(alerts.acknowledged),
        days_since_check_in,
        dose,
        withdrawal_instrument,
        withdrawal,
        sleep,
        mood,
        bands,
        attention: Attention {
            highest_open_severity,
            days_since_check_in,
        },
    }
}

/// The latest score of an instrument against the one before it.
fn last_two(result: Option<&LatestResult>, steady_within: f64) -> Trend {
    let (recent, previous) = match result {
        Some(r) if r.total.is_some() => (r.total, r.previous_total),
        // The latest has no score: the one before is the latest scored one.
        Some(r) => (r.previous_total, None),
        None => (None, None),
    };
    Trend::between(recent, previous, steady_within)
}
