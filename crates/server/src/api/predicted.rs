//! `GET /api/v1/patients/{id}/exposure/predicted`: the PK engine applied to a patient's dose
//! log — the typical-patient mitragynine and 7-OH curve with a population band, the
//! concentration at the patient's usual bedtime each day, and summary figures.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use speciosa_app::exposure::{self, API_STEP, LocalDates, Prediction};
use speciosa_core::ids::PatientId;
use utoipa::ToSchema;

use crate::api::doses::DateRangeQuery;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, ApiUser};

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
    /// Of those, doses whose 7-OH is known but mitragynine is not (7-OH products).
    pub doses_hydroxymitragynine_only: usize,
    /// Present when a dose carried 7-OH directly: the model cannot estimate it reliably.
    pub hydroxymitragynine_caution: Option<String>,
    pub model_source: String,
    pub variability_note: String,
    pub caution: String,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/exposure/predicted", tag = "doses", params(("id" = uuid::Uuid, Path), DateRangeQuery),
    responses((status = 200, description = "Predicted concentrations from the patient's logged doses", body = PredictedExposure)))]
pub async fn predicted(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<DateRangeQuery>,
) -> Result<Json<PredictedExposure>, ApiError> {
    let dates = LocalDates {
        from: query.from.as_deref(),
        to: query.to.as_deref(),
    };
    let prediction = exposure::predict_exposure(&state.app, &user, id, dates, API_STEP).await?;
    Ok(Json(PredictedExposure::from(prediction)))
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
            doses_hydroxymitragynine_only: p.doses_hydroxymitragynine_only,
            hydroxymitragynine_caution: p.hydroxymitragynine_caution.clone(),
            model_source: p.model_source,
            variability_note: p.variability_note,
            caution: p.caution,
        }
    }
}
