//! `/api/v1/patients/{id}/sleep/…`: nights derived from doses and diaries, the comparison of
//! nights with and without a bedtime dose, and CBT-I's sleep window.
//! Sources: plans-and-therapy.md §3; pharmacology.md §7.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_app::exposure::LocalDates;
use speciosa_app::records::SleepWindow;
use speciosa_app::sleep::{self, BatchDescription, WindowInput, WindowStatus};
use speciosa_core::bedtime_effect::{self, Effect, OutcomeEffect};
use speciosa_core::ids::PatientId;
use speciosa_core::nights::Night;
use speciosa_core::sleep_window::{self, WindowSettings};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NightsQuery {
    /// First night, YYYY-MM-DD (the patient-local date the night starts). Default: 29 nights before `to`.
    pub from: Option<String>,
    /// Last night, inclusive. Default: tonight. At most 366 nights in all.
    pub to: Option<String>,
}

impl NightsQuery {
    fn dates(&self) -> LocalDates<'_> {
        LocalDates {
            from: self.from.as_deref(),
            to: self.to.as_deref(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BedtimeDoseView {
    pub taken_at: String,
    pub batch_id: Uuid,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    /// Minutes before the usual bedtime (negative: after it).
    pub minutes_before_bedtime: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct NightView {
    /// The patient-local date the night starts (noon to noon).
    pub night_of: String,
    /// A dose in the clinic's window before the usual bedtime belongs to this night.
    pub bedtime_dose: bool,
    pub bedtime_mitragynine_mg: Option<f64>,
    pub bedtime_hydroxymitragynine_mg: Option<f64>,
    pub bedtime_doses: Vec<BedtimeDoseView>,
    /// Typical-patient mitragynine (PK model) when the patient tried to sleep, else at the usual bedtime.
    pub predicted_bedtime_ng_ml: Option<f64>,
    /// The instant the prediction is for.
    pub predicted_at: Option<String>,
    pub sleep_onset_min: Option<f64>,
    pub wake_after_sleep_onset_min: Option<f64>,
    pub total_sleep_min: Option<f64>,
    pub efficiency_pct: Option<f64>,
    pub time_in_bed_min: Option<f64>,
    /// 1 (very poor) to 5 (very good).
    pub quality: Option<i64>,
    /// A diary was stored for the morning after but its times cannot be read as a night.
    pub diary_unreadable: bool,
    /// Mean of the next day's craving ratings and SOWS totals, where recorded.
    pub next_day_craving: Option<f64>,
    pub next_day_sows: Option<f64>,
}

impl From<&Night> for NightView {
    fn from(n: &Night) -> Self {
        let m = n.metrics.as_ref();
        NightView {
            night_of: n.night_of.to_string(),
            bedtime_dose: n.bedtime_dose(),
            bedtime_mitragynine_mg: n.bedtime_mitragynine_mg(),
            bedtime_hydroxymitragynine_mg: n.bedtime_hydroxymitragynine_mg(),
            bedtime_doses: n
                .bedtime_doses
                .iter()
                .map(|d| BedtimeDoseView {
                    taken_at: d.taken_at.to_string(),
                    batch_id: d.batch_id.as_uuid(),
                    mitragynine_mg: d.mitragynine_mg,
                    hydroxymitragynine_mg: d.hydroxymitragynine_mg,
                    minutes_before_bedtime: d.minutes_before_bedtime,
                })
                .collect(),
            predicted_bedtime_ng_ml: n.predicted_bedtime_ng_ml,
            predicted_at: n.predict_at.map(|t| t.to_string()),
            sleep_onset_min: m.map(|m| m.sleep_onset_latency_min),
            wake_after_sleep_onset_min: m.map(|m| m.wake_after_sleep_onset_min),
            total_sleep_min: m.map(|m| m.total_sleep_time_min),
            efficiency_pct: m.map(|m| m.sleep_efficiency_pct),
            time_in_bed_min: m.map(|m| m.time_in_bed_min),
            quality: m.and_then(|m| m.quality),
            diary_unreadable: n.diary_unreadable,
            next_day_craving: n.next_day_craving,
            next_day_sows: n.next_day_sows,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NightsView {
    pub from: String,
    pub to: String,
    /// Nights with a bedtime dose or a diary, oldest first.
    pub nights: Vec<NightView>,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/sleep/nights", tag = "sleep",
    params(("id" = Uuid, Path), NightsQuery),
    responses(
        (status = 200, description = "The nights in the range, derived from doses and sleep diaries", body = NightsView),
        (status = 422, description = "An unreadable date or a range over 366 nights", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn nights(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<NightsQuery>,
) -> Result<Json<NightsView>, ApiError> {
    let nights = sleep::read_nights(&state.app, &user, id, query.dates()).await?;
    Ok(Json(NightsView {
        from: nights.from.to_string(),
        to: nights.to.to_string(),
        nights: nights.nights.iter().map(NightView::from).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct OutcomeView {
    pub with_mean: Option<f64>,
    pub without_mean: Option<f64>,
    /// With minus without; null below the minimum number of nights.
    pub difference: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Change per 100 ng/mL of predicted bedtime mitragynine, with its 95 % interval.
    pub slope_per_100_ng_ml: Option<f64>,
    pub slope_ci_low: Option<f64>,
    pub slope_ci_high: Option<f64>,
}

impl From<&OutcomeEffect> for OutcomeView {
    fn from(o: &OutcomeEffect) -> Self {
        OutcomeView {
            with_mean: o.with_mean,
            without_mean: o.without_mean,
            difference: o.difference,
            ci_low: o.ci_low,
            ci_high: o.ci_high,
            slope_per_100_ng_ml: o.slope_per_100_ng_ml,
            slope_ci_low: o.slope_ci_low,
            slope_ci_high: o.slope_ci_high,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OutcomesView {
    pub sleep_onset_min: OutcomeView,
    pub wake_after_sleep_onset_min: OutcomeView,
    pub total_sleep_min: OutcomeView,
    pub efficiency_pct: OutcomeView,
}

#[derive(Serialize, ToSchema)]
pub struct MoreNightsView {
    pub with: usize,
    pub without: usize,
}

fn outcomes(effect: &Effect) -> OutcomesView {
    use bedtime_effect::Metric;
    let view = |m| {
        effect
            .outcome(m)
            .map(OutcomeView::from)
            .unwrap_or_else(|| OutcomeView::from(&OutcomeEffect::default()))
    };
    OutcomesView {
        sleep_onset_min: view(Metric::SleepOnset),
        wake_after_sleep_onset_min: view(Metric::WakeAfterSleepOnset),
        total_sleep_min: view(Metric::TotalSleep),
        efficiency_pct: view(Metric::Efficiency),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProductEffectView {
    pub batch_id: Uuid,
    pub product_name: String,
    pub lot: String,
    /// Measured mitragynine, mg/g (null without a certificate of analysis).
    pub mitragynine_mg_per_g: Option<f64>,
    pub hydroxymitragynine_mg_per_g: Option<f64>,
    pub assayed: bool,
    /// As labelled; kept as information only (strain names and vein colours predict little).
    pub labelled_strain: Option<String>,
    pub enough_data: bool,
    /// Nights this batch was the main bedtime dose; compared with every night without one.
    pub nights_with: usize,
    pub nights_without: usize,
    pub more_nights_needed: MoreNightsView,
    pub outcomes: OutcomesView,
}

fn product_view(batch: &BatchDescription, effect: &Effect) -> ProductEffectView {
    ProductEffectView {
        batch_id: batch.batch_id.as_uuid(),
        product_name: batch.product_name.clone(),
        lot: batch.lot.clone(),
        mitragynine_mg_per_g: batch.mitragynine_mg_per_g,
        hydroxymitragynine_mg_per_g: batch.hydroxymitragynine_mg_per_g,
        assayed: batch.assayed,
        labelled_strain: batch.labelled_strain.clone(),
        enough_data: effect.enough_data,
        nights_with: effect.nights_with,
        nights_without: effect.nights_without,
        more_nights_needed: MoreNightsView {
            with: effect.more_nights_with_needed,
            without: effect.more_nights_without_needed,
        },
        outcomes: outcomes(effect),
    }
}

#[derive(Serialize, ToSchema)]
pub struct BedtimeEffectView {
    pub from: String,
    pub to: String,
    /// False until each group has `min_nights_per_group` nights with a diary.
    pub enough_data: bool,
    pub nights_with: usize,
    pub nights_without: usize,
    pub min_nights_per_group: usize,
    /// How many more diary nights each group needs before a difference is given.
    pub more_nights_needed: MoreNightsView,
    /// How the difference and its interval are computed.
    pub method: String,
    pub outcomes: OutcomesView,
    /// The same comparison for each batch taken at bedtime, described by measured alkaloids.
    pub by_product: Vec<ProductEffectView>,
    /// What this is and is not.
    pub caution: String,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/sleep/bedtime-effect", tag = "sleep",
    params(("id" = Uuid, Path), NightsQuery),
    responses(
        (status = 200, description = "Sleep on nights with and without a bedtime dose, with 95 % intervals that allow for consecutive nights not being independent", body = BedtimeEffectView),
        (status = 422, description = "An unreadable date or a range over 366 nights", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn bedtime_effect(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<NightsQuery>,
) -> Result<Json<BedtimeEffectView>, ApiError> {
    let report = sleep::bedtime_effect(&state.app, &user, id, query.dates()).await?;
    let effect = &report.effect;
    Ok(Json(BedtimeEffectView {
        from: report.from.to_string(),
        to: report.to.to_string(),
        enough_data: effect.enough_data,
        nights_with: effect.nights_with,
        nights_without: effect.nights_without,
        min_nights_per_group: report.min_nights_per_group,
        more_nights_needed: MoreNightsView {
            with: effect.more_nights_with_needed,
            without: effect.more_nights_without_needed,
        },
        method: bedtime_effect::METHOD.to_owned(),
        outcomes: outcomes(effect),
        by_product: report
            .by_product
            .iter()
            .map(|p| product_view(&p.batch, &p.effect))
            .collect(),
        caution: sleep::CAUTION.to_owned(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProposalQuery {
    /// The fixed rise time, HH:MM. Default: the current window's, else the diary's usual time out of bed.
    pub rise_time: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    pub floor_min: i64,
    pub extend_at_pct: f64,
    pub shrink_below_pct: f64,
    pub step_min: i64,
    pub goal_min: i64,
    /// Where the defaults come from and that the sources disagree.
    pub source: String,
}

impl From<WindowSettings> for SettingsView {
    fn from(s: WindowSettings) -> Self {
        SettingsView {
            floor_min: s.floor_min,
            extend_at_pct: s.extend_at_pct,
            shrink_below_pct: s.shrink_below_pct,
            step_min: s.step_min,
            goal_min: s.goal_min,
            source: sleep_window::SETTINGS_SOURCE.to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProposalView {
    pub time_in_bed_min: i64,
    /// HH:MM, fixed every day of the week.
    pub rise_time: String,
    /// HH:MM: the rise time minus the time in bed.
    pub bedtime: String,
    /// What it was computed from: `kind` is `initial`, `titration` or `unchanged`.
    #[schema(value_type = Object)]
    pub based_on: serde_json::Value,
    /// The clinic's parameters the proposal used.
    pub settings: SettingsView,
}

fn hh_mm(time: jiff::civil::Time) -> String {
    time.strftime("%H:%M").to_string()
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/sleep/window/proposal", tag = "sleep",
    params(("id" = Uuid, Path), ProposalQuery),
    responses(
        (status = 200, description = "This week's sleep-window proposal from the sleep diary", body = ProposalView),
        (status = 409, description = "Fewer than seven diary nights in the last two weeks", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn proposal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<ProposalQuery>,
) -> Result<Json<ProposalView>, ApiError> {
    let (proposal, settings) =
        sleep::propose_window(&state.app, &user, id, query.rise_time.as_deref()).await?;
    Ok(Json(ProposalView {
        time_in_bed_min: proposal.time_in_bed_min,
        rise_time: hh_mm(proposal.rise_time),
        bedtime: hh_mm(proposal.bedtime),
        based_on: sleep::basis_json(&proposal, None),
        settings: settings.into(),
    }))
}

/// Unknown fields are ignored, so the proposal can be posted back as it was returned.
#[derive(Deserialize, ToSchema)]
pub struct WindowRequest {
    /// 180–720 and not below the clinic's floor; default: the week's proposal.
    pub time_in_bed_min: Option<i64>,
    /// HH:MM; default: the proposal's.
    pub rise_time: Option<String>,
    /// HH:MM; optional, and when given must equal the rise time minus the time in bed.
    pub bedtime: Option<String>,
    /// YYYY-MM-DD, patient-local; default today.
    pub starts_on: Option<String>,
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WindowView {
    pub id: Uuid,
    pub starts_on: String,
    pub time_in_bed_min: i64,
    pub bedtime: String,
    pub rise_time: String,
    #[schema(value_type = Object)]
    pub based_on: serde_json::Value,
    pub note: Option<String>,
    pub approved_by: Uuid,
    pub approved_at: String,
}

impl From<&SleepWindow> for WindowView {
    fn from(w: &SleepWindow) -> Self {
        WindowView {
            id: w.id,
            starts_on: w.starts_on.to_string(),
            time_in_bed_min: w.time_in_bed_min,
            bedtime: hh_mm(w.bedtime),
            rise_time: hh_mm(w.rise_time),
            based_on: w.based_on.clone(),
            note: w.note.clone(),
            approved_by: w.approved_by.as_uuid(),
            approved_at: w.approved_at.to_string(),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/sleep/window", tag = "sleep",
    params(("id" = Uuid, Path)), request_body = WindowRequest,
    responses(
        (status = 201, description = "Approved and saved", body = WindowView),
        (status = 403, description = "Only clinicians on the care team approve a window", body = crate::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, naming each", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn save_window(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiJson(request): ApiJson<WindowRequest>,
) -> Result<Response, ApiError> {
    let input = WindowInput {
        time_in_bed_min: request.time_in_bed_min,
        rise_time: request.rise_time.as_deref(),
        bedtime: request.bedtime.as_deref(),
        starts_on: request.starts_on.as_deref(),
        note: request.note.as_deref(),
    };
    let window = sleep::save_window(&state.app, &user, id, input).await?;
    Ok((StatusCode::CREATED, Json(WindowView::from(&window))).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct CurrentWindowView {
    /// The window in force tonight, if a clinician approved one.
    pub window: Option<WindowView>,
    /// Diary nights since it started, and how many kept it (±15 min).
    pub adherence_nights: usize,
    pub adherence_nights_kept: usize,
    /// Earlier windows, newest first.
    pub history: Vec<WindowView>,
    /// Bootzin's stimulus-control rules.
    pub stimulus_control: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/sleep/window", tag = "sleep",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "Tonight's sleep window, adherence and the stimulus-control rules", body = CurrentWindowView)))]
pub async fn current_window(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<CurrentWindowView>, ApiError> {
    let status: Option<WindowStatus> = sleep::current_window(&state.app, &user, id).await?;
    Ok(Json(CurrentWindowView {
        window: status.as_ref().map(|s| WindowView::from(&s.window)),
        adherence_nights: status.as_ref().map_or(0, |s| s.adherence.nights),
        adherence_nights_kept: status.as_ref().map_or(0, |s| s.adherence.nights_kept),
        history: status
            .as_ref()
            .map(|s| s.history.iter().map(WindowView::from).collect())
            .unwrap_or_default(),
        stimulus_control: sleep_window::STIMULUS_CONTROL
            .iter()
            .map(|r| (*r).to_owned())
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    pub floor_min: i64,
    pub extend_at_pct: f64,
    pub shrink_below_pct: f64,
    pub step_min: i64,
    pub goal_min: i64,
}

#[utoipa::path(get, path = "/api/v1/organization/sleep-window-settings", tag = "sleep",
    responses((status = 200, description = "The clinic's sleep-restriction parameters", body = SettingsView)))]
pub async fn get_settings(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(
        sleep::window_settings(&state.app, &user).await?.into(),
    ))
}

#[utoipa::path(put, path = "/api/v1/organization/sleep-window-settings", tag = "sleep",
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "Saved", body = SettingsView),
        (status = 422, description = "A value outside the published ranges, naming the field", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_settings(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<SettingsRequest>,
) -> Result<Json<SettingsView>, ApiError> {
    let settings = WindowSettings {
        floor_min: request.floor_min,
        extend_at_pct: request.extend_at_pct,
        shrink_below_pct: request.shrink_below_pct,
        step_min: request.step_min,
        goal_min: request.goal_min,
    };
    Ok(Json(
        sleep::set_window_settings(&state.app, &user, settings)
            .await?
            .into(),
    ))
}
