//! `GET /metrics`: Prometheus exposition for loopback scrapers or a configured bearer
//! token, labelled by route template and status class, never by an id.

use reqwest::{Method, StatusCode};
use serde_json::json;
use speciosa_server::ServerConfig;

use crate::helpers::{TestApp, create_patient, on_both_backends};

on_both_backends!(
    metrics_from_loopback_show_request_latency_by_route_template_and_status_class_without_ids,
    a_forged_forwarded_for_neither_grants_nor_denies_the_metrics,
    behind_a_proxy_only_the_configured_bearer_token_opens_the_metrics,
);

async fn scrape(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.anonymous().request(Method::GET, "/metrics");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("metrics request")
}

/// Whether `text` holds anything shaped like a UUID: 36 characters of hex digits with
/// dashes at positions 8, 13, 18 and 23.
fn holds_a_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(36).any(|window| {
        window.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
    })
}

async fn metrics_from_loopback_show_request_latency_by_route_template_and_status_class_without_ids(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let updated = casey
        .put(
            &format!("/api/v1/patients/{patient}"),
            &json!({"display_name": "Dana R. Reyes", "birth_date": "1988-04-12", "time_zone": "America/Chicago", "usual_bedtime": "23:00"}),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let doses = casey
        .get(&format!("/api/v1/patients/{patient}/doses"))
        .await;
    assert_eq!(doses.status(), StatusCode::OK);
    let missing = casey.get(&format!("/api/v1/nothing/{patient}")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let response = scrape(&app, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    let body = response.text().await.expect("metrics body");
    let doses_line = body
        .lines()
        .find(|line| {
            line.starts_with("speciosa_http_request_duration_seconds_bucket{")
                && line.contains("route=\"/api/v1/patients/{id}/doses\"")
                && line.contains("method=\"GET\"")
                && line.contains("status=\"2xx\"")
        })
        .unwrap_or_else(|| panic!("no bucket for the doses route in:\n{body}"));
    assert!(doses_line.contains("le=\""), "{doses_line}");
    assert!(
        body.lines()
            .any(|line| line.contains("route=\"unmatched\"") && line.contains("status=\"4xx\"")),
        "an unmatched address is counted without its path:\n{body}"
    );
    assert!(!body.contains(&patient), "the patient's id is in:\n{body}");
    assert!(!holds_a_uuid(&body), "an id is in:\n{body}");
    assert!(body.contains("speciosa_db_pool_connections "), "{body}");
    assert!(
        body.contains("speciosa_db_pool_idle_connections "),
        "{body}"
    );
    // Updating the patient ran the safety rules.
    assert!(
        body.contains("speciosa_safety_rule_run_seconds_bucket{"),
        "{body}"
    );
}

async fn a_forged_forwarded_for_neither_grants_nor_denies_the_metrics(app: TestApp) {
    // Directly on loopback: a header naming somewhere else changes nothing.
    let response = scrape(&app, &[("X-Forwarded-For", "203.0.113.7")]).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Behind a proxy the peer is the proxy: a header claiming loopback opens nothing.
    let proxied = app
        .sibling(ServerConfig {
            trust_forwarded_for: true,
            ..ServerConfig::default()
        })
        .await;
    for forged in ["127.0.0.1", "127.0.0.1, 127.0.0.1", "::1"] {
        let response = scrape(&proxied, &[("X-Forwarded-For", forged)]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{forged}");
        let body = response.text().await.expect("body");
        assert!(!body.contains("speciosa_http"), "{forged}: {body}");
    }
}

async fn behind_a_proxy_only_the_configured_bearer_token_opens_the_metrics(app: TestApp) {
    let token = "a-long-random-scrape-token";
    let proxied = app
        .sibling(ServerConfig {
            trust_forwarded_for: true,
            metrics_token: Some(token.into()),
            ..ServerConfig::default()
        })
        .await;
    let wrong = scrape(
        &proxied,
        &[("Authorization", "Bearer a-long-random-scrape-tokeN")],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let none = scrape(&proxied, &[]).await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    let right = scrape(&proxied, &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(right.status(), StatusCode::OK);
    let body = right.text().await.expect("metrics body");
    assert!(
        body.contains("speciosa_http_request_duration_seconds_bucket{"),
        "{body}"
    );
}
