//! Builds the router and runs the server with graceful shutdown.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use speciosa_app::{App, AppSettings};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::ServerConfig;
use crate::error::{ApiError, PageError};
use crate::problems::{self, ProblemType};
use crate::{api, pages};

/// Browser features Speciosa never uses, refused for its pages and anything they embed:
/// a page injected into cannot turn on the camera, microphone, location or payments.
const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), browsing-topics=(), camera=(), \
    display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), \
    idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), \
    publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()";

#[derive(Clone)]
pub struct AppState {
    /// The use cases: the only way to the data.
    pub app: App,
    pub config: Arc<ServerConfig>,
}

pub fn router(state: AppState) -> Router {
    crate::metrics::handle();
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
    // Only when clients reach us over HTTPS: over plain HTTP browsers ignore it anyway,
    // and a test or local install must not pin a host to HTTPS.
    let hsts = state
        .config
        .secure_cookies
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    let app = Router::new()
        .nest("/api/v1", api)
        .merge(pages::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::serve_metrics))
        // Any other address outside /api is a page that does not exist.
        .fallback(pages::not_found)
        .layer(middleware::from_fn(refuse_nul_in_query))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::error::keep_navigation,
        ))
        .layer(middleware::from_fn(problem_for_bare_api_errors));
    catch_panics(app)
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
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &Response| hsts.clone(),
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
        // Outermost, so the time and status include timeouts, limits and caught panics.
        .layer(middleware::from_fn(crate::metrics::record_request))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.app.ready().await {
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

/// A query parameter holding NUL (`%00`) is refused before any handler reads it, for the
/// API and the pages alike: PostgreSQL cannot compare text with NUL and SQLite can, so
/// letting it through would answer differently on the two backends.
async fn refuse_nul_in_query(request: Request, next: Next) -> Response {
    let query = request.uri().query().unwrap_or_default();
    if query.contains("%00") {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        if let Some(field) = crate::extract::nul_field(&pairs) {
            let error = crate::extract::nul_error(field);
            return if request.uri().path().starts_with("/api/") {
                error.into_response()
            } else {
                PageError::from(error).into_response()
            };
        }
    }
    next.run(request).await
}

/// Marks a response made from a panic, so pages can be given a readable page instead.
#[derive(Clone, Copy, Debug)]
struct Panicked;

/// A panic anywhere below becomes a logged 500 (problem+json under `/api`, a readable
/// page elsewhere) instead of a dropped connection.
fn catch_panics<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(CatchPanicLayer::custom(response_for_panic))
        .layer(middleware::from_fn(page_for_panics))
}

fn response_for_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    tracing::error!(panic = %message, "a request panicked; answered 500");
    let mut response = ApiError::internal().into_response();
    response.extensions_mut().insert(Panicked);
    response
}

async fn page_for_panics(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if is_api || response.extensions().get::<Panicked>().is_none() {
        return response;
    }
    PageError::from(ApiError::internal()).into_response()
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(app: App, config: ServerConfig) -> std::io::Result<()> {
    let listener = TcpListener::bind(config.listen).await?;
    serve_on(listener, app, config).await
}

/// As [`serve`], on a listener the caller bound (tests bind port 0).
pub async fn serve_on(
    listener: TcpListener,
    app: App,
    config: ServerConfig,
) -> std::io::Result<()> {
    // Port 0 (tests) is known only once bound.
    let mut config = config;
    if config.public_url.is_none()
        && let Ok(bound) = listener.local_addr()
    {
        config.public_url = Some(format!("http://{bound}"));
    }
    let app = app.with_settings(AppSettings {
        bedtime_window: config.bedtime_window,
        urgent_escalation: config.urgent_escalation,
        public_url: config.public_url(),
        smtp_url: config.smtp_url.clone(),
        mail_from: config.mail_from.clone(),
    });
    let sealer = match &config.audit_sealer {
        Some(sealer) => Some(
            app.start_audit_sealer(sealer.clone())
                .await
                .map_err(std::io::Error::other)?,
        ),
        None => None,
    };
    let sweeper = tokio::spawn(sweep_periodically(app.clone()));
    let state = AppState {
        app: app.clone(),
        config: Arc::new(config),
    };
    let safety_checker = tokio::spawn(speciosa_app::safety::check_periodically(
        app.clone(),
        state.config.safety_check_interval,
    ));
    let deliveries = tokio::spawn(speciosa_app::delivery::run(app.clone()));
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    sweeper.abort();
    safety_checker.abort();
    deliveries.abort();
    // After the last request: sequence what is left and sign the final checkpoint.
    if let Some(sealer) = sealer {
        sealer.shutdown().await;
    }
    app.close().await;
    result
}

/// Removes idled-out sessions and stale sign-in failures every few minutes.
async fn sweep_periodically(app: App) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        interval.tick().await;
        if let Err(error) = speciosa_app::sessions::sweep_expired(&app).await {
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn panicking() -> &'static str {
        panic!("a defect")
    }

    async fn answer(path: &str) -> Response {
        let router: Router = catch_panics(
            Router::new()
                .route("/api/v1/boom", get(panicking))
                .route("/boom", get(panicking)),
        );
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        router.oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn a_panic_under_the_api_is_answered_with_a_500_problem() {
        let response = answer("/api/v1/boom").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], "/problems/internal");
        assert_eq!(problem["status"], 500);
        assert!(
            !problem.to_string().contains("a defect"),
            "the panic's message stays in the log"
        );
    }

    #[tokio::test]
    async fn a_panic_on_a_page_is_answered_with_a_readable_500_page() {
        let response = answer("/boom").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let page = String::from_utf8(body.to_vec()).unwrap();
        assert!(page.contains("Internal error"), "{page}");
    }
}
