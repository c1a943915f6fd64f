//! Web Push: the VAPID key browsers subscribe with, and the signed-in user's own
//! browser subscriptions (`/api/v1/account/push-subscriptions`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use speciosa_app::web_push;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiUser};

#[derive(Serialize, ToSchema)]
pub struct VapidPublicKeyView {
    /// The server's VAPID public key (RFC 8292): an uncompressed P-256 point (65 bytes),
    /// base64url. Pass it as `applicationServerKey` to `pushManager.subscribe`.
    #[schema(
        example = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
    )]
    pub public_key: String,
}

#[utoipa::path(get, path = "/api/v1/push/vapid-public-key", tag = "push",
    responses(
        (status = 200, description = "The key browsers subscribe with; the same for every server of this deployment", body = VapidPublicKeyView),
    ))]
pub async fn vapid_public_key(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<VapidPublicKeyView>, ApiError> {
    let public_key = web_push::vapid_public_key(&state.app, &user).await?;
    Ok(Json(VapidPublicKeyView { public_key }))
}

/// The browser's keys for encrypting to it (RFC 8291).
#[derive(Deserialize, ToSchema)]
pub struct PushKeys {
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    pub auth: String,
}

/// What the browser's `PushSubscription.toJSON()` gives.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSubscriptionRequest {
    /// The push service's address for this browser: `https://`.
    #[schema(example = "https://fcm.googleapis.com/fcm/send/dXJ…")]
    pub endpoint: String,
    /// When the push service will drop the subscription, if it says (milliseconds since 1970).
    #[allow(dead_code)]
    pub expiration_time: Option<f64>,
    pub keys: PushKeys,
}

#[derive(Serialize, ToSchema)]
pub struct PushSubscriptionView {
    pub id: Uuid,
}

#[utoipa::path(post, path = "/api/v1/account/push-subscriptions", tag = "push", request_body = PushSubscriptionRequest,
    responses(
        (status = 201, description = "Saved: this browser now receives your notifications", body = PushSubscriptionView),
        (status = 200, description = "This endpoint was already saved: its keys (and owner) are updated", body = PushSubscriptionView),
        (status = 422, description = "`endpoint` is not an https:// address, or `keys.p256dh` / `keys.auth` are not valid keys", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn subscribe(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PushSubscriptionRequest>,
) -> Result<(StatusCode, Json<PushSubscriptionView>), ApiError> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let saved = web_push::subscribe(
        &state.app,
        &user,
        web_push::SubscriptionInput {
            endpoint: request.endpoint,
            p256dh: request.keys.p256dh,
            auth: request.keys.auth,
            user_agent,
        },
    )
    .await?;
    let status = if saved.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PushSubscriptionView { id: saved.id })))
}

#[derive(Deserialize, ToSchema)]
pub struct PushUnsubscribeRequest {
    /// The endpoint of the subscription to remove.
    pub endpoint: String,
}

#[utoipa::path(delete, path = "/api/v1/account/push-subscriptions", tag = "push", request_body = PushUnsubscribeRequest,
    responses(
        (status = 204, description = "Removed: this browser receives no more notifications"),
        (status = 404, description = "You have no subscription at this endpoint", body = crate::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn unsubscribe(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<PushUnsubscribeRequest>,
) -> Result<StatusCode, ApiError> {
    web_push::unsubscribe(&state.app, &user, &request.endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}
