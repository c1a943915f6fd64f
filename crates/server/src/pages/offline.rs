//! The patient app as an installable web app: its manifest, icons, service worker and
//! offline script, and the page shown when a page was never saved on the device. Only
//! responses marked with [`OFFLINE_COPY`] (the patient's own pages) are kept by the
//! service worker; staff pages and API answers never are.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::MaybePageUser;
use crate::pages::{HelpBar, Nav, render};

/// Marks a page the service worker may keep for the patient to open offline.
pub const OFFLINE_COPY: HeaderName = HeaderName::from_static("speciosa-offline-copy");

/// Lets the service worker keep `response` (a patient's own page) for offline use.
pub fn allow_offline_copy(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(OFFLINE_COPY, HeaderValue::from_static("patient"));
    response
}

const SERVICE_WORKER: &str = include_str!("../../../../web/static/sw.js");
const OFFLINE_SCRIPT: &str = include_str!("../../../../web/static/offline.js");
const MANIFEST: &str = include_str!("../../../../web/static/manifest.webmanifest");
const APP_CSS: &str = include_str!("../../../../web/static/app.css");
const COWS_SCRIPT: &str = include_str!("../../../../web/static/cows.js");
const PUSH_SCRIPT: &str = include_str!("../../../../web/static/push.js");
const ICON_192: &[u8] = include_bytes!("../../../../web/static/icons/icon-192.png");
const ICON_512: &[u8] = include_bytes!("../../../../web/static/icons/icon-512.png");
const ICON_MASKABLE: &[u8] = include_bytes!("../../../../web/static/icons/icon-maskable-512.png");

/// The service worker with its cache version: a digest of the assets it caches, so a
/// new build with changed assets installs a new worker and drops the old caches.
static SERVICE_WORKER_SOURCE: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = DefaultHasher::new();
    for text in [
        SERVICE_WORKER,
        OFFLINE_SCRIPT,
        MANIFEST,
        APP_CSS,
        COWS_SCRIPT,
        PUSH_SCRIPT,
    ] {
        text.hash(&mut hasher);
    }
    for bytes in [ICON_192, ICON_512, ICON_MASKABLE] {
        bytes.hash(&mut hasher);
    }
    SERVICE_WORKER.replace("__ASSETS_VERSION__", &format!("{:016x}", hasher.finish()))
});

/// `/sw.js`, at the root so its scope is the whole app. Never kept in the HTTP cache,
/// so a new worker is found on the next visit.
pub async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SERVICE_WORKER_SOURCE.as_str(),
    )
        .into_response()
}

pub async fn offline_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        OFFLINE_SCRIPT,
    )
        .into_response()
}

pub async fn manifest() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/manifest+json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        MANIFEST,
    )
        .into_response()
}

pub async fn icon(Path(name): Path<String>) -> Response {
    let bytes = match name.as_str() {
        "icon-192.png" => ICON_192,
        "icon-512.png" => ICON_512,
        "icon-maskable-512.png" => ICON_MASKABLE,
        _ => return PageError::from(ApiError::not_found("icon")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "offline.html")]
struct OfflinePage {
    nav: Option<Nav>,
    help: Option<HelpBar>,
}

/// `/offline`: what the service worker shows for a page not saved on the device. For a
/// signed-in patient it carries their crisis bar, which works offline (a `tel:` link).
pub async fn page(
    State(state): State<AppState>,
    MaybePageUser(user): MaybePageUser,
) -> Result<Response, PageError> {
    let Some(user) = user else {
        return Ok(render(&OfflinePage {
            nav: None,
            help: None,
        })?
        .into_response());
    };
    let own = speciosa_app::sessions::own_patient(&state.app, &user).await?;
    let help = own.as_ref().map(|p| HelpBar::for_patient(&state, p));
    let response = (
        StatusCode::OK,
        render(&OfflinePage {
            nav: Some(Nav::for_user(&user)),
            help,
        })?,
    )
        .into_response();
    Ok(if own.is_some() {
        allow_offline_copy(response)
    } else {
        response
    })
}
