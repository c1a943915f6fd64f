//! Reaching people: the caller's notification preferences, the organization's on-call
//! list and webhook, the admins' delivery log, and an alert's paging history.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use speciosa_app::notify::{self, PagingHistory, PreferencesView};
use speciosa_app::records::Notification;
use speciosa_core::ids::{AlertId, UserId};
use speciosa_core::notify::{PreferencesInput, format_clock};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiUser};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct QuietHoursView {
    /// Local time, HH:MM (24-hour).
    pub start: String,
    pub end: String,
}

#[derive(Serialize, ToSchema)]
pub struct PreferencesResponse {
    /// `email`, `webhook` (the organization's pager/SMS gateway), `push` (installed browsers).
    pub channels: Vec<String>,
    /// Only urgent alerts reach a clinician then; nothing reaches a patient.
    pub quiet_hours: Option<QuietHoursView>,
    /// The daily check-in reminder, local HH:MM, or null when off (patients).
    pub check_in_reminder: Option<String>,
    /// Reminders at the signed plan's dose times (patients).
    pub dose_reminders: bool,
    /// A reminder the day before a visit or therapy session.
    pub visit_reminders: bool,
    /// False while the defaults apply.
    pub saved: bool,
    /// Each scheduled reminder and when it is next due (RFC 3339, UTC).
    pub next_reminders: Vec<NextReminder>,
}

#[derive(Serialize, ToSchema)]
pub struct NextReminder {
    pub reminder: String,
    pub at: String,
}

impl From<PreferencesView> for PreferencesResponse {
    fn from(view: PreferencesView) -> Self {
        let p = view.preferences;
        PreferencesResponse {
            channels: p.channels.iter().map(|c| c.as_str().to_owned()).collect(),
            quiet_hours: p.quiet_hours.map(|q| QuietHoursView {
                start: format_clock(q.start),
                end: format_clock(q.end),
            }),
            check_in_reminder: p.check_in_reminder.map(format_clock),
            dose_reminders: p.dose_reminders,
            visit_reminders: p.visit_reminders,
            saved: view.saved,
            next_reminders: view
                .reminders
                .into_iter()
                .map(|(reminder, at)| NextReminder {
                    reminder,
                    at: at.to_string(),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesRequest {
    pub channels: Vec<String>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursView>,
    #[serde(default)]
    pub check_in_reminder: Option<String>,
    /// Default: false.
    #[serde(default)]
    pub dose_reminders: Option<bool>,
    /// Default: true.
    #[serde(default)]
    pub visit_reminders: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/account/notification-preferences", tag = "notifications",
    responses((status = 200, description = "How Speciosa reaches you", body = PreferencesResponse)))]
pub async fn get_preferences(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<PreferencesResponse>, ApiError> {
    Ok(Json(
        notify::my_preferences(&state.app, &user).await?.into(),
    ))
}

#[utoipa::path(put, path = "/api/v1/account/notification-preferences", tag = "notifications",
    request_body = PreferencesRequest,
    responses((status = 200, description = "Saved; reminders rescheduled in your time zone", body = PreferencesResponse),
        (status = 422, description = "A channel, time or quiet-hours field is invalid", body = crate::api::Problem)))]
pub async fn put_preferences(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<PreferencesRequest>,
) -> Result<Json<PreferencesResponse>, ApiError> {
    let input = PreferencesInput {
        channels: request.channels.iter().map(String::as_str).collect(),
        quiet_start: request.quiet_hours.as_ref().map(|q| q.start.as_str()),
        quiet_end: request.quiet_hours.as_ref().map(|q| q.end.as_str()),
        check_in_reminder: request.check_in_reminder.as_deref(),
        dose_reminders: request.dose_reminders.unwrap_or(false),
        visit_reminders: request.visit_reminders.unwrap_or(true),
    };
    Ok(Json(
        notify::set_my_preferences(&state.app, &user, &input)
            .await?
            .into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct OnCallPerson {
    pub user_id: Uuid,
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct OnCallView {
    /// Paged, in this order, when an urgent alert is not acknowledged in time.
    pub on_call: Vec<OnCallPerson>,
    pub user_ids: Vec<Uuid>,
    /// Minutes an urgent alert waits for an acknowledgement before each page.
    pub escalation_minutes: i64,
}

fn on_call_view(state: &AppState, people: Vec<(UserId, String)>) -> OnCallView {
    OnCallView {
        user_ids: people.iter().map(|(id, _)| id.as_uuid()).collect(),
        on_call: people
            .into_iter()
            .map(|(id, display_name)| OnCallPerson {
                user_id: id.as_uuid(),
                display_name,
            })
            .collect(),
        escalation_minutes: state.app.settings().urgent_escalation.as_mins(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnCallRequest {
    /// Active clinicians of the organization, in paging order; `[]` empties the list.
    pub user_ids: Vec<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/organization/on-call", tag = "notifications",
    responses((status = 200, description = "The on-call list (admins)", body = OnCallView)))]
pub async fn get_on_call(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<OnCallView>, ApiError> {
    let people = notify::on_call(&state.app, &user).await?;
    Ok(Json(on_call_view(&state, people)))
}

#[utoipa::path(put, path = "/api/v1/organization/on-call", tag = "notifications", request_body = OnCallRequest,
    responses((status = 200, description = "Replaced", body = OnCallView),
        (status = 422, description = "Someone who cannot be on call", body = crate::api::Problem)))]
pub async fn put_on_call(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<OnCallRequest>,
) -> Result<Json<OnCallView>, ApiError> {
    let ids: Vec<UserId> = request
        .user_ids
        .into_iter()
        .map(UserId::from_uuid)
        .collect();
    let people = notify::set_on_call(&state.app, &user, &ids).await?;
    Ok(Json(on_call_view(&state, people)))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookCreated {
    pub url: String,
    /// Shown once: receivers check `X-Speciosa-Signature: sha256=<hex HMAC-SHA256 of the body>` with it.
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    pub url: String,
}

#[utoipa::path(get, path = "/api/v1/organization/webhook", tag = "notifications",
    responses((status = 200, description = "The organization's webhook (admins)", body = WebhookView)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(WebhookView {
        url: notify::webhook_url(&state.app, &user).await?,
    }))
}

#[utoipa::path(put, path = "/api/v1/organization/webhook", tag = "notifications", request_body = WebhookRequest,
    responses((status = 200, description = "Set, with a new signing secret", body = WebhookCreated)))]
pub async fn put_webhook(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<WebhookRequest>,
) -> Result<Json<WebhookCreated>, ApiError> {
    let hook = notify::set_webhook(&state.app, &user, &request.url).await?;
    Ok(Json(WebhookCreated {
        url: hook.url,
        secret: hook.secret,
    }))
}

#[utoipa::path(delete, path = "/api/v1/organization/webhook", tag = "notifications",
    responses((status = 204, description = "Removed")))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<StatusCode, ApiError> {
    notify::remove_webhook(&state.app, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    /// Also the e-mail's Message-ID and the webhook's event id: the same on every attempt.
    pub id: Uuid,
    /// `queued`, `sent`, `failed` (will be retried) or `dead` (given up; an admin can retry).
    pub status: String,
    pub channel: String,
    pub kind: String,
    pub recipient_id: Uuid,
    pub recipient_name: String,
    pub subject_type: String,
    pub subject_id: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub sent_at: Option<String>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        let waiting = matches!(n.status.as_str(), "queued" | "failed");
        NotificationView {
            id: n.id,
            status: n.status,
            channel: n.channel,
            kind: n.kind,
            recipient_id: n.recipient_id.as_uuid(),
            recipient_name: n.recipient_name,
            subject_type: n.subject_type,
            subject_id: n.subject_id,
            attempts: n.attempts,
            last_error: n.last_error,
            created_at: n.created_at.to_string(),
            next_attempt_at: waiting.then(|| n.next_attempt_at.to_string()),
            sent_at: n.sent_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Only this status: queued, sent, failed or dead.
    pub status: Option<String>,
    /// Only messages created before this instant (RFC 3339): the next page.
    pub before: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(LogQuery),
    responses((status = 200, description = "The delivery log, newest first (admins)", body = [NotificationView])))]
pub async fn log(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> Result<Json<Vec<NotificationView>>, ApiError> {
    let before = match query
        .before
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(raw) => Some(raw.parse::<Timestamp>().map_err(|_| {
            ApiError::from(speciosa_app::AppError::field(
                "before",
                "give an instant such as 2026-12-02T10:00:00Z",
            ))
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(speciosa_app::AppError::field("limit", "use 1 to 200").into());
    }
    let log = notify::delivery_log(
        &state.app,
        &user,
        query.status.as_deref().filter(|s| !s.is_empty()),
        before,
        limit,
    )
    .await?;
    Ok(Json(log.into_iter().map(NotificationView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/retry", tag = "notifications",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "Queued again, same message id", body = NotificationView),
        (status = 409, description = "Not failed or dead", body = crate::api::Problem)))]
pub async fn retry(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<NotificationView>, ApiError> {
    Ok(Json(notify::retry(&state.app, &user, id).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct PagingView {
    /// Minutes between escalations.
    pub escalation_minutes: Option<i64>,
    /// The next escalation to the on-call list, while the alert is open.
    pub next_escalation_at: Option<String>,
    pub stopped_at: Option<String>,
    pub stop_reason: Option<String>,
    pub messages: Vec<NotificationView>,
}

impl From<PagingHistory> for PagingView {
    fn from(history: PagingHistory) -> Self {
        let paging = history.paging.as_ref();
        PagingView {
            escalation_minutes: paging.map(|p| p.interval.as_mins()),
            next_escalation_at: paging
                .filter(|p| p.stopped_at.is_none())
                .map(|p| p.next_round_at.to_string()),
            stopped_at: paging.and_then(|p| p.stopped_at).map(|t| t.to_string()),
            stop_reason: paging.and_then(|p| p.stop_reason.clone()),
            messages: history
                .messages
                .into_iter()
                .map(NotificationView::from)
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}/paging", tag = "notifications",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "Who was paged about the alert, how and when", body = PagingView)))]
pub async fn paging(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<PagingView>, ApiError> {
    Ok(Json(
        notify::paging_history(&state.app, &user, AlertId::from_uuid(id))
            .await?
            .into(),
    ))
}
