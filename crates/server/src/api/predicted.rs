//! `GET /api/v1/patients/{id}/exposure/predicted`: the PK engine applied to a patient's dose
//! log — the typical-patient mitragynine and 7-OH curve with a population band, the
//! concentration at the patient's usual bedtime each day, and summary figures.

use axum::Json;
use axum::extract::State;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::PatientId;
use speciosa_core::policy::PatientAction;
use speciosa_pk::{Dose, TypicalParameters, closed_form};
use utoipa::ToSchema;

use crate::access;
use crate::api::doses::{DateRangeQuery, date_range};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, ApiUser, Authenticated};

#[derive(Serialize, ToSchema)]
pub struct PredictedPoint {
    pub at: String,
    pub mitragynine_ng_ml: f64,
    pub hydroxymitragynine_ng_ml: f64,
    /// 5th and 95th percentiles of mitragynine across virtual patients.
    pub mitragynine_p5_ng_ml: f64,
    pub mitragynine_p95_ng_ml: f64,
}

#[derive(Serialize, ToSchema)]
pub struct BedtimeLevel {
    pub date: String,
    pub at: String,
    pub mitragynine_ng_ml: f64,
}

#[derive(Serialize, ToSchema)]
pub struct PredictedExposure {
    /// Every 30 minutes across the range, in UTC instants.
    pub points: Vec<PredictedPoint>,
    /// The typical-patient concentration at the patient's usual bedtime each day.
    pub bedtime: Vec<BedtimeLevel>,
    /// Average mitragynine over the last 7 days of doses at steady state: dose rate ÷ CL/F.
    pub steady_state_average_ng_ml: Option<f64>,
    /// The lowest predicted mitragynine over the last 24 h of the range.
    pub trough_ng_ml: Option<f64>,
    /// For an unchanging regimen, 90 % of steady state takes about 3.32 terminal half-lives.
    pub time_to_90pct_steady_state_h: f64,
    /// Hours after the last logged dose until mitragynine falls below 10 % of that dose's peak.
    pub time_to_10pct_after_last_dose_h: Option<f64>,
    /// Doses whose milligrams are unknown (no assay and no estimate) and so are left out.
    pub doses_excluded: usize,
    pub model_source: String,
    pub variability_note: String,
    pub caution: String,
}

/// Doses older than this before the range still contribute and are included.
const LOOKBACK: SignedDuration = SignedDuration::from_hours(24 * 14);
const VIRTUAL_PATIENTS: usize = 100;

#[utoipa::path(get, path = "/api/v1/patients/{id}/exposure/predicted", tag = "doses", params(("id" = uuid::Uuid, Path), DateRangeQuery),
    responses((status = 200, description = "Predicted concentrations from the patient's logged doses", body = PredictedExposure)))]
pub async fn predicted(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<DateRangeQuery>,
) -> Result<Json<PredictedExposure>, ApiError> {
    let prediction = predict_exposure(&state, &user, id, &query, API_STEP).await?;
    Ok(Json(PredictedExposure::from(prediction)))
}

/// The API's resolution: every 30 minutes.
pub const API_STEP: SignedDuration = SignedDuration::from_mins(30);

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
/// for the pages; [`PredictedExposure`] is its JSON shape.
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
    pub model_source: String,
    pub variability_note: String,
    pub caution: String,
}

impl From<Prediction> for PredictedExposure {
    fn from(p: Prediction) -> Self {
        PredictedExposure {
            points: p
                .points
                .iter()
                .map(|l| PredictedPoint {
                    at: l.at.to_string(),
                    mitragynine_ng_ml: l.mitragynine,
                    hydroxymitragynine_ng_ml: l.hydroxymitragynine,
                    mitragynine_p5_ng_ml: l.mitragynine_p5,
                    mitragynine_p95_ng_ml: l.mitragynine_p95,
                })
                .collect(),
            bedtime: p
                .bedtime
                .iter()
                .map(|(date, at, level)| BedtimeLevel {
                    date: date.to_string(),
                    at: at.to_string(),
                    mitragynine_ng_ml: *level,
                })
                .collect(),
            steady_state_average_ng_ml: p.steady_state_average_ng_ml,
            trough_ng_ml: p.trough_ng_ml,
            time_to_90pct_steady_state_h: p.time_to_90pct_steady_state_h,
            time_to_10pct_after_last_dose_h: p.time_to_10pct_after_last_dose_h,
            doses_excluded: p.doses_excluded,
            model_source: p.model_source,
            variability_note: p.variability_note,
            caution: p.caution,
        }
    }
}

/// Predicts a patient's levels over `query`'s local dates every `step`, authorized
/// (`PatientAction::Read`) and audited as `exposure.predict`. Shared with the timeline page,
/// which asks for a coarser step over long ranges.
pub async fn predict_exposure(
    state: &AppState,
    user: &Authenticated,
    id: PatientId,
    query: &DateRangeQuery,
    step: SignedDuration,
) -> Result<Prediction, ApiError> {
    access::patient(state, user, id, PatientAction::Read, "exposure.predict").await?;
    let patient = state
        .store
        .get_patient(id)
        .await?
        .ok_or_else(|| ApiError::not_found("patient"))?;
    let (from, to) = date_range(query, &patient)?;
    let zone = patient.details.time_zone.to_zone();
    let start = from
        .to_zoned_datetime(zone.clone())
        .map_err(|_| ApiError::internal())?
        .timestamp();
    let end = to
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned_datetime(zone.clone()).ok())
        .map(|z| z.timestamp())
        .ok_or_else(ApiError::internal)?;
    let origin = start
        .checked_sub(LOOKBACK)
        .map_err(|_| ApiError::internal())?;
    let logged = state.store.list_doses(id, origin, end, false).await?;
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
    let typical = TypicalParameters::bundled().map_err(|error| {
        crate::error::log_chain("loading PK parameters", &error);
        ApiError::internal()
    })?;
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
        .map_err(|_| ApiError::internal())?;
    // A hundred virtual patients over weeks of doses is seconds of arithmetic: keep it off
    // the threads that serve requests.
    let (curve, bands, doses) = tokio::task::spawn_blocking(move || {
        let curve = closed_form::simulate(&p, &doses, &times);
        let bands = speciosa_pk::population::simulate(&people, &doses, &times, |_| {});
        (curve, bands, doses)
    })
    .await
    .map_err(|error| {
        crate::error::log_chain("simulating predicted exposure", &error);
        ApiError::internal()
    })?;
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
    let mut entry = user.audit(
        "exposure.predict",
        "exposure",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{from}..{to}: {} doses", doses.len()));
    state.store.append_audit(entry).await?;
    Ok(Prediction {
        points,
        bedtime,
        steady_state_average_ng_ml,
        trough_ng_ml,
        time_to_90pct_steady_state_h: 3.32 * p.terminal_half_life(),
        time_to_10pct_after_last_dose_h,
        doses_used: doses.len(),
        doses_excluded,
        model_source: typical.source,
        variability_note: typical.variability_note,
        caution: "A typical-patient prediction from a model reconstructed from one small study; individual levels vary widely (see the band). It supports clinical judgement and is not a dosing recommendation.".into(),
    })
}
