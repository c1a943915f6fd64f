//! `GET /metrics`: Prometheus text exposition of request latency, pool use, rule-run
//! time and the scheduler's progress. Labels carry route templates and status classes,
//! never an id or anything a patient wrote.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;

pub const REQUEST_DURATION: &str = "speciosa_http_request_duration_seconds";
use speciosa_app::safety::{
    RULE_RUN, SCHEDULER_DUE, SCHEDULER_LAG, SCHEDULER_LAST_RUN, SCHEDULER_PATIENTS_CHECKED,
    SCHEDULER_PATIENTS_UNREADABLE, SCHEDULER_RUN,
};
const POOL_CONNECTIONS: &str = "speciosa_db_pool_connections";
const POOL_IDLE: &str = "speciosa_db_pool_idle_connections";
/// Recorded by the store's SQLite writer for each group commit.
const WRITE_BATCH_SIZE: &str = "speciosa_write_batch_size";
const WRITE_BATCH_SECONDS: &str = "speciosa_write_batch_seconds";

/// Bucket bounds for every `_seconds` histogram: 1 ms to 30 s.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Write transactions per SQLite commit: 1 to the writer's cap of 64.
const BATCH_SIZE_BUCKETS: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The process's one recorder. Tests run many servers in one process, so it is installed
/// once; if another recorder got there first, our handle still renders (empty) rather than fail.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = match PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(WRITE_BATCH_SIZE.into()),
                    &BATCH_SIZE_BUCKETS,
                )
            }) {
            Ok(with_buckets) => with_buckets,
            Err(error) => {
                tracing::error!(%error, "metrics buckets refused; histograms render as summaries");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request, by matched route, method and status class."
    );
    metrics::describe_histogram!(
        RULE_RUN,
        metrics::Unit::Seconds,
        "Time to run the safety rules for one patient and record their findings."
    );
    metrics::describe_histogram!(
        SCHEDULER_RUN,
        metrics::Unit::Seconds,
        "Time one scheduled safety check of every patient took."
    );
    metrics::describe_gauge!(
        SCHEDULER_LAG,
        metrics::Unit::Seconds,
        "How long the longest-overdue patient check had waited when the last pass began."
    );
    metrics::describe_gauge!(
        SCHEDULER_DUE,
        "Patients whose time-based rule check was due when the last pass began."
    );
    metrics::describe_gauge!(
        SCHEDULER_LAST_RUN,
        metrics::Unit::Seconds,
        "Unix time the last scheduled safety check finished."
    );
    metrics::describe_counter!(
        SCHEDULER_PATIENTS_CHECKED,
        "Patients whose rules the scheduled safety check ran."
    );
    metrics::describe_counter!(
        SCHEDULER_PATIENTS_UNREADABLE,
        "Patients the scheduled safety check could not check."
    );
    metrics::describe_histogram!(
        WRITE_BATCH_SIZE,
        "Write transactions committed together in one SQLite commit."
    );
    metrics::describe_histogram!(
        WRITE_BATCH_SECONDS,
        metrics::Unit::Seconds,
        "Time one SQLite group commit took to become durable."
    );
    metrics::describe_gauge!(POOL_CONNECTIONS, "Connections the database pool holds.");
    metrics::describe_gauge!(POOL_IDLE, "Idle connections in the database pool.");
}

/// Times every request. Applied with `Router::layer` after the routes, so the route's
/// template (`MatchedPath`) is known; anything unmatched is `unmatched`, never its path.
pub async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = status_class(response.status().as_u16());
    metrics::histogram!(
        REQUEST_DURATION,
        "route" => route,
        "method" => method,
        "status" => status,
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Known methods by name; anything else (a client may send any token) as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Whether a scraper may read the metrics: a loopback peer (the socket's, never a
/// forwarded header), or a bearer token equal to the configured one.
pub fn metrics_allowed(peer: IpAddr, auth_header: Option<&str>, token: Option<&str>) -> bool {
    peer.to_canonical().is_loopback() || bearer_matches(auth_header, token)
}

/// Compares digests in constant time, so neither the token's bytes nor its length leak.
fn bearer_matches(auth_header: Option<&str>, token: Option<&str>) -> bool {
    let (Some(header), Some(token)) = (auth_header, token) else {
        return false;
    };
    let Some(offered) = header.strip_prefix("Bearer ") else {
        return false;
    };
    if token.is_empty() {
        return false;
    }
    let offered = Sha256::digest(offered.trim().as_bytes());
    let expected = Sha256::digest(token.as_bytes());
    offered.ct_eq(&expected).into()
}

/// Serves the exposition, or the ordinary not-found page to anyone else.
pub async fn serve_metrics(State(state): State<AppState>, request: Request) -> Response {
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let token = state.config.metrics_token.as_deref();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    // Behind a proxy every client arrives from the proxy's address, often loopback:
    // then only the token opens the metrics.
    let allowed = match peer {
        Some(peer) if !state.config.trust_forwarded_for => metrics_allowed(peer, auth, token),
        _ => bearer_matches(auth, token),
    };
    if !allowed {
        return crate::pages::not_found().await.into_response();
    }
    let pool = state.app.pool_stats();
    metrics::gauge!(POOL_CONNECTIONS).set(f64::from(pool.size));
    metrics::gauge!(POOL_IDLE).set(pool.idle as f64);
    let handle = handle();
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

    #[test]
    fn a_loopback_peer_reads_the_metrics_without_a_token() {
        assert!(metrics_allowed(IpAddr::V4(Ipv4Addr::LOCALHOST), None, None));
        assert!(metrics_allowed(IpAddr::V6(Ipv6Addr::LOCALHOST), None, None));
        assert!(metrics_allowed(
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
            None,
            Some("secret")
        ));
    }

    #[test]
    fn a_peer_off_this_host_is_refused_without_a_configured_token() {
        assert!(!metrics_allowed(OUTSIDE, None, None));
        assert!(!metrics_allowed(OUTSIDE, Some("Bearer anything"), None));
        assert!(!metrics_allowed(OUTSIDE, Some("Bearer "), Some("")));
    }

    #[test]
    fn a_peer_off_this_host_needs_the_exact_bearer_token() {
        let token = Some("s3cret-token");
        assert!(metrics_allowed(OUTSIDE, Some("Bearer s3cret-token"), token));
        assert!(!metrics_allowed(
            OUTSIDE,
            Some("Bearer s3cret-tokeN"),
            token
        ));
        assert!(!metrics_allowed(OUTSIDE, Some("Bearer s3cret"), token));
        assert!(!metrics_allowed(OUTSIDE, Some("s3cret-token"), token));
        assert!(!metrics_allowed(OUTSIDE, Some("Basic s3cret-token"), token));
        assert!(!metrics_allowed(OUTSIDE, None, token));
    }

    #[test]
    fn statuses_are_labelled_by_class() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(303), "3xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
