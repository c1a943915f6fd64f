//! Sleep: nights derived from doses and diaries, the with/without-bedtime-dose comparison
//! (by product too), and CBT-I's sleep window (proposal, approval, adherence).
//! Sources: plans-and-therapy.md §3; pharmacology.md §3 and §7.
//!
//! Reads are bounded: only the nights asked for (at most [`MAX_NIGHTS`]), plus the two weeks
//! of doses before them that still contribute to the predicted level.

use std::collections::BTreeMap;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use speciosa_core::FieldErrors;
use speciosa_core::audit::Outcome;
use speciosa_core::bedtime_effect::{self, Effect, MIN_NIGHTS_PER_GROUP};
use speciosa_core::ids::{BatchId, PatientId};
use speciosa_core::nights::{self, LoggedDiary, LoggedDose, LoggedScore, Night, NightInputs};
use speciosa_core::policy::{OrganizationAction, PatientAction};
use speciosa_core::sleep::DiaryEntry;
use speciosa_core::sleep_window::{
    self, Adherence, DiaryNight, Proposal, ProposalError, Window, WindowSettings,
};
use speciosa_pk::{Dose, TypicalParameters, closed_form};
use speciosa_store::{NewSleepWindow, Patient, SleepWindow};

use crate::exposure::LocalDates;
use crate::{App, AppError, Caller, access};

/// The longest range of nights one request may ask for.
pub const MAX_NIGHTS: i32 = 366;

/// Doses this long before the first night still contribute to its predicted level.
const LOOKBACK: SignedDuration = SignedDuration::from_hours(24 * 14);

/// What the comparison is and is not (pharmacology.md §7: no controlled evidence that
/// kratom helps or harms sleep).
pub const CAUTION: &str = "An observation of this patient's own nights, not a trial and not advice. \
Withdrawal can drive both a bedtime dose and a poor night, so a difference need not be caused by the dose. \
No controlled study shows that kratom helps or harms sleep (pharmacology.md §7). Any change to doses goes through the care team.";

/// Nights from a patient's records over a range, with the range as resolved.
pub struct Nights {
    pub from: Date,
    pub to: Date,
    pub nights: Vec<Night>,
}

/// The range asked for, checked: at most [`MAX_NIGHTS`] nights (422 on `from` beyond).
fn night_range(dates: LocalDates<'_>, today: Date) -> Result<(Date, Date), AppError> {
    let (from, to) = dates.resolve(today)?;
    let nights = from.until(to).map_or(i32::MAX, |s| s.get_days()) + 1;
    if nights > MAX_NIGHTS {
        return Err(AppError::field(
            "from",
            format!("ask for at most {MAX_NIGHTS} nights at a time"),
        ));
    }
    Ok((from, to))
}

fn local_instant(date: Date, time: Time, zone: &TimeZone) -> Result<Timestamp, AppError> {
    date.to_datetime(time)
        .to_zoned_datetime(zone.clone())
        .map(|z| z.timestamp())
        .map_err(|error| AppError::Defect(format!("placing {date} {time}: {error}")))
}

fn add_days(date: Date, days: i64) -> Result<Date, AppError> {
    date.checked_add(Span::new().days(days))
        .map_err(|error| AppError::Defect(format!("{date} + {days} days: {error}")))
}

fn today_of(patient: &Patient) -> Date {
    Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date()
}

/// The diaries, cravings and SOWS totals completed on the local days `first..=last`.
async fn scores_between(
    app: &App,
    patient: &Patient,
    first: Date,
    last: Date,
) -> Result<(Vec<LoggedDiary>, Vec<LoggedScore>, Vec<LoggedScore>), AppError> {
    let zone = patient.details.time_zone.to_zone();
    let start = local_instant(first, Time::midnight(), &zone)?;
    let end = local_instant(add_days(last, 1)?, Time::midnight(), &zone)?
        .checked_sub(SignedDuration::from_secs(1))
        .map_err(|error| AppError::Defect(format!("the range's end: {error}")))?;
    let days = first
        .until(last)
        .map_or(1, |s| s.get_days().max(0) as usize)
        + 1;
    // Several a day at most; a generous bound that still never reads the whole history.
    let limit = days * 8 + 16;
    let diaries = app
        .store
        .assessments_between(patient.id, "sleep_diary", start, end, limit)
        .await?
        .into_iter()
        .filter_map(|a| {
            let morning = a.completed_at.to_zoned_datetime(zone.clone()).date();
            Some(LoggedDiary {
                entry: DiaryEntry::from_answers(&a.answers, morning)?,
                entered_at: a.entered_at,
            })
        })
        .collect();
    let totals = |rows: Vec<speciosa_store::Assessment>| {
        rows.into_iter()
            .filter_map(|a| {
                Some(LoggedScore {
                    completed_at: a.completed_at,
                    total: a.total?,
                })
            })
            .collect::<Vec<_>>()
    };
    let cravings = totals(
        app.store
            .assessments_between(patient.id, "craving", start, end, limit)
            .await?,
    );
    let sows = totals(
        app.store
            .assessments_between(patient.id, "sows", start, end, limit)
            .await?,
    );
    Ok((diaries, cravings, sows))
}

/// Derives the nights `from..=to` and fills in each night's predicted level.
async fn derive(
    app: &App,
    patient: &Patient,
    from: Date,
    to: Date,
) -> Result<Vec<Night>, AppError> {
    let zone = patient.details.time_zone.to_zone();
    let noon = Time::constant(12, 0, 0, 0);
    let first_noon = local_instant(from, noon, &zone)?;
    let last_noon = local_instant(add_days(to, 1)?, noon, &zone)?;
    let origin = first_noon
        .checked_sub(LOOKBACK)
        .map_err(|error| AppError::Defect(format!("the look-back: {error}")))?;
    let logged = app
        .store
        .list_doses(patient.id, origin, last_noon, false)
        .await?;
    let doses: Vec<LoggedDose> = logged
        .iter()
        .map(|d| LoggedDose {
            taken_at: d.taken_at,
            time_zone: TimeZone::get(&d.time_zone).unwrap_or_else(|_| zone.clone()),
            batch_id: d.batch_id,
            mitragynine_mg: d.mitragynine_mg,
            hydroxymitragynine_mg: d.hydroxymitragynine_mg,
        })
        .collect();
    let (diaries, cravings, sows) =
        scores_between(app, patient, add_days(from, 1)?, add_days(to, 1)?).await?;
    let mut nights = nights::derive_nights(&NightInputs {
        from,
        to,
        zone: &zone,
        usual_bedtime: patient.details.usual_bedtime,
        bedtime_window: app.settings.bedtime_window,
        doses: &doses,
        diaries: &diaries,
        cravings: &cravings,
        sows: &sows,
    });
    // The typical patient's mitragynine at each night's moment, from every dose before it.
    let hours = |t: Timestamp| t.duration_since(origin).as_secs_f64() / 3600.0;
    let pk_doses: Vec<Dose> = logged
        .iter()
        .filter_map(|d| {
            Some(Dose {
                time_h: hours(d.taken_at),
                mitragynine_mg: d.mitragynine_mg?,
                hydroxymitragynine_mg: d.hydroxymitragynine_mg.unwrap_or(0.0),
            })
        })
        .collect();
    let typical = TypicalParameters::bundled()
        .map_err(|error| AppError::Defect(format!("loading PK parameters: {error}")))?;
    let moments: Vec<(usize, f64)> = nights
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i, hours(n.predict_at?))))
        .collect();
    let times: Vec<f64> = moments.iter().map(|(_, t)| *t).collect();
    let levels = closed_form::simulate(&typical.parameters, &pk_doses, &times);
    for ((index, _), level) in moments.iter().zip(levels) {
        nights[*index].predicted_bedtime_ng_ml = Some(level.mitragynine * 1000.0);
    }
    Ok(nights)
}

/// A patient's nights over `dates` (default: the 30 nights up to today), authorized
/// (`PatientAction::Read`: the care team and the patient themself) and audited.
pub async fn read_nights(
    app: &App,
    caller: &Caller,
    id: PatientId,
    dates: LocalDates<'_>,
) -> Result<Nights, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "sleep.nights.read").await?;
    let (from, to) = night_range(dates, today_of(&patient))?;
    let nights = derive(app, &patient, from, to).await?;
    audit_read(app, caller, id, "sleep.nights.read", from, to).await?;
    Ok(Nights { from, to, nights })
}

async fn audit_read(
    app: &App,
    caller: &Caller,
    id: PatientId,
    action: &str,
    from: Date,
    to: Date,
) -> Result<(), AppError> {
    let mut entry = caller.audit(action, "sleep", None, Some(id), Outcome::Success);
    entry.detail = Some(format!("nights {from}..{to}"));
    app.store.append_audit(entry).await?;
    Ok(())
}

/// A batch used at bedtime, described by what was measured in it.
#[derive(Clone, Debug)]
pub struct BatchDescription {
    pub batch_id: BatchId,
    pub product_name: String,
    pub lot: String,
    /// Kept as information only: a strain name or vein colour predicts little.
    pub labelled_strain: Option<String>,
    pub mitragynine_mg_per_g: Option<f64>,
    pub hydroxymitragynine_mg_per_g: Option<f64>,
    pub assayed: bool,
}

/// The comparison for one batch's nights against the nights without a bedtime dose.
pub struct ProductEffect {
    pub batch: BatchDescription,
    pub effect: Effect,
}

pub struct BedtimeEffect {
    pub from: Date,
    pub to: Date,
    pub min_nights_per_group: usize,
    pub effect: Effect,
    pub by_product: Vec<ProductEffect>,
    pub nights: Vec<Night>,
}

/// The with/without comparison over `dates`, overall and by the batch taken at bedtime.
pub async fn bedtime_effect(
    app: &App,
    caller: &Caller,
    id: PatientId,
    dates: LocalDates<'_>,
) -> Result<BedtimeEffect, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::Read,
        "sleep.bedtime_effect.read",
    )
    .await?;
    let (from, to) = night_range(dates, today_of(&patient))?;
    let nights = derive(app, &patient, from, to).await?;
    let effect = bedtime_effect::bedtime_effect(&nights, MIN_NIGHTS_PER_GROUP);
    let mut groups: BTreeMap<BatchId, Vec<Night>> = BTreeMap::new();
    for night in nights.iter().filter(|n| n.metrics.is_some()) {
        if let Some(batch) = night.main_batch() {
            groups.entry(batch).or_default().push(night.clone());
        }
    }
    let mut by_product = Vec::new();
    if !groups.is_empty() {
        let products = app.store.list_products(patient.organization_id).await?;
        let batches = app.store.list_batches(patient.organization_id).await?;
        let without: Vec<&Night> = nights
            .iter()
            .filter(|n| n.metrics.is_some() && !n.bedtime_dose())
            .collect();
        for (batch_id, group) in groups {
            let Some(batch) = batches.iter().find(|b| b.id == batch_id) else {
                continue;
            };
            let product = products.iter().find(|p| p.id == batch.product_id);
            let alkaloids = batch.assay.as_ref().map(|a| &a.alkaloids);
            let mut subset: Vec<Night> = without.iter().map(|n| (*n).clone()).collect();
            subset.extend(group);
            subset.sort_by_key(|n| n.night_of);
            by_product.push(ProductEffect {
                batch: BatchDescription {
                    batch_id,
                    product_name: product.map_or_else(String::new, |p| p.details.name.clone()),
                    lot: batch.lot.clone(),
                    labelled_strain: product.and_then(|p| p.details.labelled_strain.clone()),
                    mitragynine_mg_per_g: alkaloids.and_then(|a| a.mitragynine_mg_per_g),
                    hydroxymitragynine_mg_per_g: alkaloids
                        .and_then(|a| a.hydroxymitragynine_mg_per_g),
                    assayed: batch.assay.is_some(),
                },
                effect: bedtime_effect::bedtime_effect(&subset, MIN_NIGHTS_PER_GROUP),
            });
        }
    }
    audit_read(app, caller, id, "sleep.bedtime_effect.read", from, to).await?;
    Ok(BedtimeEffect {
        from,
        to,
        min_nights_per_group: MIN_NIGHTS_PER_GROUP,
        effect,
        by_product,
        nights,
    })
}

/// The diary nights `first..=last` as the sleep window reads them.
async fn diary_nights(
    app: &App,
    patient: &Patient,
    first: Date,
    last: Date,
) -> Result<Vec<DiaryNight>, AppError> {
    let zone = patient.details.time_zone.to_zone();
    let (diaries, _, _) =
        scores_between(app, patient, add_days(first, 1)?, add_days(last, 1)?).await?;
    let mut latest: BTreeMap<Date, &LoggedDiary> = BTreeMap::new();
    for diary in &diaries {
        if let Ok(night) = diary.entry.morning.yesterday()
            && latest
                .get(&night)
                .is_none_or(|k| diary.entered_at >= k.entered_at)
        {
            latest.insert(night, diary);
        }
    }
    Ok(latest
        .into_iter()
        .filter_map(|(night, d)| {
            let m = d.entry.metrics(&zone).ok()?;
            Some(DiaryNight {
                night_of: night,
                total_sleep_min: m.total_sleep_time_min,
                efficiency_pct: m.sleep_efficiency_pct,
                got_into_bed: d.entry.got_into_bed,
                out_of_bed: d.entry.out_of_bed,
            })
        })
        .collect())
}

fn window_of(stored: &SleepWindow) -> Window {
    Window {
        starts_on: stored.starts_on,
        time_in_bed_min: stored.time_in_bed_min,
        rise_time: stored.rise_time,
    }
}

fn parse_time(field: &str, raw: &str) -> Result<Time, AppError> {
    Time::strptime("%H:%M", raw.trim())
        .map_err(|_| AppError::field(field, "give a time as HH:MM (24-hour clock)"))
}

/// The week's proposal: the first window, or the titration of the one in force.
/// Care-team clinicians only (`PatientAction::ManagePlans`).
pub async fn propose_window(
    app: &App,
    caller: &Caller,
    id: PatientId,
    rise_time: Option<&str>,
) -> Result<(Proposal, WindowSettings), AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::ManagePlans,
        "sleep.window.propose",
    )
    .await?;
    let rise = rise_time
        .filter(|r| !r.trim().is_empty())
        .map(|r| parse_time("rise_time", r))
        .transpose()?;
    let proposal = proposal_for(app, &patient, rise).await?;
    let mut entry = caller.audit(
        "sleep.window.propose",
        "sleep_window",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} min", proposal.0.time_in_bed_min));
    app.store.append_audit(entry).await?;
    Ok(proposal)
}

async fn proposal_for(
    app: &App,
    patient: &Patient,
    rise: Option<Time>,
) -> Result<(Proposal, WindowSettings), AppError> {
    let today = today_of(patient);
    let settings = app
        .store
        .sleep_window_settings(patient.organization_id)
        .await?;
    let current = app.store.sleep_windows(patient.id, today).await?;
    let diary = diary_nights(app, patient, add_days(today, -15)?, today).await?;
    let proposal = sleep_window::propose(
        &settings,
        current.first().map(window_of).as_ref(),
        &diary,
        today,
        rise,
    )
    .map_err(|e| match e {
        ProposalError::NotEnoughDiary { .. } => AppError::Conflict(e.to_string()),
    })?;
    Ok((proposal, settings))
}

/// What a clinician approves; anything left out is taken from the week's proposal.
#[derive(Clone, Debug, Default)]
pub struct WindowInput<'a> {
    pub time_in_bed_min: Option<i64>,
    pub rise_time: Option<&'a str>,
    /// When given, must agree with the rise time minus the time in bed.
    pub bedtime: Option<&'a str>,
    /// Default: today in the patient's zone.
    pub starts_on: Option<&'a str>,
    pub note: Option<&'a str>,
}

/// Saves (approves) a window: care-team clinicians only; a patient is refused (403).
pub async fn save_window(
    app: &App,
    caller: &Caller,
    id: PatientId,
    input: WindowInput<'_>,
) -> Result<SleepWindow, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::ManagePlans,
        "sleep.window.approve",
    )
    .await?;
    let today = today_of(&patient);
    let mut errors = FieldErrors::new();
    let rise = match input.rise_time.filter(|r| !r.trim().is_empty()) {
        Some(raw) => match Time::strptime("%H:%M", raw.trim()) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push("rise_time", "give a time as HH:MM (24-hour clock)");
                None
            }
        },
        None => None,
    };
    let starts_on = match input.starts_on.filter(|s| !s.trim().is_empty()) {
        Some(raw) => match raw.trim().parse::<Date>() {
            Ok(d) if d >= add_days(today, -7)? && d <= add_days(today, 28)? => Some(d),
            Ok(_) => {
                errors.push(
                    "starts_on",
                    "a window starts between a week ago and four weeks ahead",
                );
                None
            }
            Err(_) => {
                errors.push("starts_on", "give a date as YYYY-MM-DD");
                None
            }
        },
        None => Some(today),
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let settings = app
        .store
        .sleep_window_settings(patient.organization_id)
        .await?;
    // The proposal supplies what the clinician left out, and is recorded as the basis.
    let proposal = proposal_for(app, &patient, rise).await;
    let (time_in_bed_min, rise_time, based_on) = match (input.time_in_bed_min, rise, &proposal) {
        (Some(tib), Some(rise), proposal) => (
            tib,
            rise,
            proposal.as_ref().map_or_else(
                |_| serde_json::json!({"kind": "clinician"}),
                |(p, _)| basis_json(p, Some(tib)),
            ),
        ),
        (tib, rise, Ok((p, _))) => (
            tib.unwrap_or(p.time_in_bed_min),
            rise.unwrap_or(p.rise_time),
            basis_json(p, tib),
        ),
        (_, _, Err(AppError::Conflict(reason))) => {
            let field = if input.time_in_bed_min.is_none() {
                "time_in_bed_min"
            } else {
                "rise_time"
            };
            return Err(AppError::field(
                field,
                format!("{reason}; give time_in_bed_min and rise_time yourself"),
            ));
        }
        (_, _, Err(other)) => return Err(clone_error(other)),
    };
    if !(180..=720).contains(&time_in_bed_min) {
        return Err(AppError::field(
            "time_in_bed_min",
            "the time in bed must be between 180 and 720 minutes",
        ));
    }
    if time_in_bed_min < settings.floor_min {
        return Err(AppError::field(
            "time_in_bed_min",
            format!(
                "the clinic's floor is {} minutes (plans-and-therapy.md §3.2)",
                settings.floor_min
            ),
        ));
    }
    let bedtime = sleep_window::bedtime_for(rise_time, time_in_bed_min);
    if let Some(raw) = input.bedtime.filter(|b| !b.trim().is_empty()) {
        let given = parse_time("bedtime", raw)?;
        if given != bedtime {
            return Err(AppError::field(
                "bedtime",
                format!(
                    "the bedtime must be the rise time minus the time in bed: {}",
                    bedtime.strftime("%H:%M")
                ),
            ));
        }
    }
    let note = input
        .note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let starts_on = starts_on.unwrap_or(today);
    let mut entry = caller.audit(
        "sleep.window.approve",
        "sleep_window",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!(
        "from {starts_on}: {time_in_bed_min} min, {}–{}",
        bedtime.strftime("%H:%M"),
        rise_time.strftime("%H:%M")
    ));
    Ok(app
        .store
        .insert_sleep_window(
            &NewSleepWindow {
                organization_id: patient.organization_id,
                patient_id: patient.id,
                starts_on,
                time_in_bed_min,
                bedtime,
                rise_time,
                based_on,
                note,
                approved_by: caller.actor.user_id,
            },
            entry,
        )
        .await?)
}

fn clone_error(error: &AppError) -> AppError {
    AppError::Defect(format!("computing the sleep window proposal: {error}"))
}

/// The proposal's basis, noting when the clinician changed the time in bed.
pub fn basis_json(proposal: &Proposal, chosen: Option<i64>) -> serde_json::Value {
    let mut value = serde_json::to_value(&proposal.basis).unwrap_or_default();
    if let (Some(map), Some(chosen)) = (value.as_object_mut(), chosen)
        && chosen != proposal.time_in_bed_min
    {
        map.insert(
            "proposed_time_in_bed_min".into(),
            proposal.time_in_bed_min.into(),
        );
    }
    value
}

/// The window in force tonight, with adherence since it started.
pub struct WindowStatus {
    pub window: SleepWindow,
    pub adherence: Adherence,
    /// Earlier approved windows, newest first (the weekly history for the timeline).
    pub history: Vec<SleepWindow>,
}

/// The window in force for the patient (the care team and the patient themself).
pub async fn current_window(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<Option<WindowStatus>, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "sleep.window.read").await?;
    let today = today_of(&patient);
    let mut windows = app.store.sleep_windows(patient.id, today).await?;
    let status = if windows.is_empty() {
        None
    } else {
        let window = windows.remove(0);
        // Adherence over the window's first eight weeks at most: a bounded read.
        let first = window.starts_on.max(add_days(today, -56)?);
        let diary = diary_nights(app, &patient, first, today).await?;
        Some(WindowStatus {
            adherence: sleep_window::adherence(&diary, &window_of(&window)),
            window,
            history: windows,
        })
    };
    app.store
        .append_audit(caller.audit(
            "sleep.window.read",
            "sleep_window",
            None,
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok(status)
}

/// The clinic's sleep-restriction parameters.
pub async fn window_settings(app: &App, caller: &Caller) -> Result<WindowSettings, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ConfigureInstruments,
        "sleep.settings.read",
        "organization",
    )
    .await?;
    Ok(app
        .store
        .sleep_window_settings(caller.actor.organization_id)
        .await?)
}

/// Replaces the clinic's sleep-restriction parameters (clinicians), checked against the
/// ranges the sources span.
pub async fn set_window_settings(
    app: &App,
    caller: &Caller,
    settings: WindowSettings,
) -> Result<WindowSettings, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ConfigureInstruments,
        "sleep.settings.update",
        "organization",
    )
    .await?;
    let settings = settings.validate()?;
    let mut entry = caller.audit(
        "sleep.settings.update",
        "organization",
        Some(caller.actor.organization_id.to_string()),
        None,
        Outcome::Success,
    );
    entry.detail = Some(format!(
        "floor {} min, extend at {} %, shrink below {} %, step {} min, goal {} min",
        settings.floor_min,
        settings.extend_at_pct,
        settings.shrink_below_pct,
        settings.step_min,
        settings.goal_min
    ));
    app.store
        .set_sleep_window_settings(
            caller.actor.organization_id,
            &settings,
            caller.actor.user_id,
            entry,
        )
        .await?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_range_of_more_than_366_nights_is_refused_on_from() {
        let dates = LocalDates {
            from: Some("2025-01-01"),
            to: Some("2026-01-02"),
        };
        let Err(AppError::Invalid(errors)) = night_range(dates, date(2026, 5, 1)) else {
            panic!("a 367-night range should be refused");
        };
        assert_eq!(errors.errors[0].field, "from");
        let year = LocalDates {
            from: Some("2025-01-02"),
            to: Some("2026-01-02"),
        };
        assert!(night_range(year, date(2026, 5, 1)).is_ok());
    }
}
