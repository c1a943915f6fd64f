//! The client address behind a trusted proxy: the entry the proxy added to
//! `X-Forwarded-For`, never one the client wrote itself.

use reqwest::{Method, StatusCode};
use serde_json::json;
use speciosa_core::account::SignInThrottle;
use speciosa_server::ServerConfig;

use crate::helpers::{PASSWORD, TestApp, on_both_backends};

on_both_backends!(
    a_forged_leftmost_entry_neither_reaches_the_audit_log_nor_dodges_the_address_throttle,
    behind_two_proxies_the_second_entry_from_the_right_is_the_client_and_a_short_header_is_not_trusted,
);

async fn sign_in_via_proxy(
    server: &TestApp,
    forwarded_for: &str,
    email: &str,
    password: &str,
) -> StatusCode {
    server
        .anonymous()
        .request(Method::POST, "/api/v1/session")
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("sign-in request")
        .status()
}

/// The client addresses recorded for sign-in attempts, oldest first.
async fn sign_in_addresses(app: &TestApp) -> Vec<String> {
    let events = app
        .store
        .list_audit_events(&speciosa_app::store::AuditFilter {
            action: Some("session.create".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("audit events");
    events
        .into_iter()
        .rev()
        .map(|e| e.client_addr.unwrap_or_default())
        .collect()
}

async fn a_forged_leftmost_entry_neither_reaches_the_audit_log_nor_dodges_the_address_throttle(
    app: TestApp,
) {
    let proxied = app
        .sibling(ServerConfig {
            trust_forwarded_for: true,
            ..ServerConfig::default()
        })
        .await;
    proxied.clinic("Northside").await;
    // One client guesses at many accounts, writing a new address into X-Forwarded-For
    // each time; the proxy appends the address it really came from.
    for n in 0..SignInThrottle::MAX_FAILURES_PER_ADDRESS {
        let status = sign_in_via_proxy(
            &proxied,
            &format!("203.0.113.{n}, 198.51.100.7"),
            &format!("guess{n}@northside.test"),
            "wrong wrong wrong",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    assert_eq!(
        sign_in_via_proxy(
            &proxied,
            "192.0.2.99, 198.51.100.7",
            "admin@northside.test",
            PASSWORD
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is throttled whatever the client writes"
    );
    // Someone else behind the same proxy is not.
    assert_eq!(
        sign_in_via_proxy(&proxied, "198.51.100.8", "admin@northside.test", PASSWORD).await,
        StatusCode::OK
    );
    let addresses = sign_in_addresses(&app).await;
    assert!(
        addresses
            .iter()
            .filter(|a| a.starts_with("198.51.100."))
            .count()
            > usize::try_from(SignInThrottle::MAX_FAILURES_PER_ADDRESS).unwrap(),
        "{addresses:?}"
    );
    assert!(
        addresses
            .iter()
            .all(|a| !a.starts_with("203.0.113.") && a != "192.0.2.99"),
        "a forged address reached the audit log: {addresses:?}"
    );
}

async fn behind_two_proxies_the_second_entry_from_the_right_is_the_client_and_a_short_header_is_not_trusted(
    app: TestApp,
) {
    let proxied = app
        .sibling(ServerConfig {
            trust_forwarded_for: true,
            trusted_proxy_hops: 2,
            ..ServerConfig::default()
        })
        .await;
    proxied.clinic("Northside").await;
    let wrong = |forwarded: &'static str| {
        let proxied = &proxied;
        async move {
            sign_in_via_proxy(
                proxied,
                forwarded,
                "admin@northside.test",
                "wrong wrong wrong",
            )
            .await
        }
    };
    assert_eq!(
        wrong("203.0.113.1, 198.51.100.7, 10.0.0.2").await,
        StatusCode::UNAUTHORIZED
    );
    // One entry cannot have come through two proxies; nor is garbage an address.
    assert_eq!(wrong("203.0.113.2").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong("198.51.100.7, not-an-address").await,
        StatusCode::UNAUTHORIZED
    );
    let addresses = sign_in_addresses(&app).await;
    let failures = &addresses[addresses.len() - 3..];
    assert_eq!(failures, ["198.51.100.7", "127.0.0.1", "127.0.0.1"]);
}
