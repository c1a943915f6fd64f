//! Builds the router and runs the server with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::SignedDuration;
use speciosa_core::checkin::{CheckInDefaults, CrisisDirectory};
use speciosa_core::instrument::Instruments;
use speciosa_core::quality::QualityStandards;
use speciosa_store::Store;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::problems::{self, ProblemType};
use crate::{api, pages};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    /// Product-quality limits from `data/product-quality.toml`, checked at start-up.
    pub standards: Arc<QualityStandards>,
    /// The instruments in `data/instruments/`, checked at start-up.
    pub instruments: Arc<Instruments>,
    /// The default check-in rhythm (`data/check-in.toml`).
    pub checkin_defaults: Arc<CheckInDefaults>,
    /// Crisis contacts by country (`data/crisis-resources.toml`).
    pub crisis: Arc<CrisisDirectory>,
}

pub fn router(state: AppState) -> Router {
    let api = api::router()
        .fallback(|| async {
            ApiError::new(problems::NOT_FOUND, "there is no API route at this address")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                problems::METHOD_NOT_ALLOWED,
                "this route does not accept that method",
            )
        });
    Router::new()
        .nest("/api/v1", api)
        .merge(pages::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        // Any other address outside /api is a page that does not exist.
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::error::keep_navigation,
        ))
        .layer(middleware::from_fn(problem_for_bare_api_errors))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.request_timeout,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Spans carry method and matched route only: never bodies, which hold health data.
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                tracing::info_span!("request", method = %request.method(), route)
            }),
        )
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(error) => {
            crate::error::log_chain("readiness check", &error);
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Errors produced below our handlers (timeouts, body limits, unmatched methods)
/// come back bare; under `/api` every error must be problem+json.
async fn problem_for_bare_api_errors(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_api || !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let kind = ProblemType::for_status(status);
    ApiError::new(kind, kind.explanation).into_response()
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(store: Store, config: ServerConfig) -> std::io::Result<()> {
    let listener = TcpListener::bind(config.listen).await?;
    serve_on(listener, store, config).await
}

/// As [`serve`], on a listener the caller bound (tests bind port 0).
pub async fn serve_on(
    listener: TcpListener,
    store: Store,
    config: ServerConfig,
) -> std::io::Result<()> {
    let standards = QualityStandards::bundled().map_err(std::io::Error::other)?;
    let instruments = Instruments::bundled().map_err(std::io::Error::other)?;
    let checkin_defaults = CheckInDefaults::bundled().map_err(std::io::Error::other)?;
    let crisis = CrisisDirectory::bundled().map_err(std::io::Error::other)?;
    let sweeper = tokio::spawn(sweep_periodically(store.clone()));
    let state = AppState {
        store: store.clone(),
        config: Arc::new(config),
        standards: Arc::new(standards),
        instruments: Arc::new(instruments),
        checkin_defaults: Arc::new(checkin_defaults),
        crisis: Arc::new(crisis),
    };
    let safety_checker = tokio::spawn(crate::safety::check_periodically(
        state.clone(),
        state.config.safety_check_interval,
    ));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    sweeper.abort();
    safety_checker.abort();
    store.close().await;
    result
}

/// Removes idled-out sessions and stale sign-in failures every few minutes.
async fn sweep_periodically(store: Store) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        interval.tick().await;
        let keep_failures =
            SignedDuration::from_secs(speciosa_core::account::SignInThrottle::WINDOW_SECONDS);
        if let Err(error) = store.sweep_expired(keep_failures).await {
            crate::error::log_chain("sweeping expired sessions", &error);
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
