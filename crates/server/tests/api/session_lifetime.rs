//! How long sessions live (idle and absolute deadlines), the session cookie over
//! HTTPS, and the security headers on every response.

use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::json;
use speciosa_app::store::{DATABASE_FILE, DatabaseLocation, DbTime};
use speciosa_server::ServerConfig;
use sqlx::Connection;

use crate::helpers::{Client, PASSWORD, TestApp, on_both_backends, problem, short_idle};

on_both_backends!(
    a_staff_session_used_45_seconds_ago_is_alive_and_one_idle_for_75_seconds_has_ended,
    a_busy_staff_session_ends_twelve_hours_after_sign_in,
    a_busy_patient_session_ends_thirty_days_after_sign_in,
    the_absolute_lifetime_is_configurable,
    with_secure_cookies_the_session_cookie_is_host_prefixed_and_only_that_name_is_read,
    every_response_carries_a_permissions_policy_and_hsts_only_with_secure_cookies,
);

/// The sessions table, reached directly to let time pass without sleeping.
enum Clock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

type Deadlines = (String, DbTime, DbTime, DbTime, DbTime);

macro_rules! shift_sessions {
    ($connection:expr, $by:expr) => {{
        let rows: Vec<Deadlines> = sqlx::query_as(
            "SELECT token_hash, created_at, last_seen_at, expires_at, absolute_expires_at FROM sessions",
        )
        .fetch_all(&mut *$connection)
        .await
        .expect("read sessions");
        for (token_hash, created, seen, expires, absolute) in rows {
            let back = |t: DbTime| DbTime::from(t.0 - $by);
            sqlx::query(
                "UPDATE sessions SET created_at = $1, last_seen_at = $2, expires_at = $3, \
                 absolute_expires_at = $4 WHERE token_hash = $5",
            )
            .bind(back(created))
            .bind(back(seen))
            .bind(back(expires))
            .bind(back(absolute))
            .bind(token_hash)
            .execute(&mut *$connection)
            .await
            .expect("move a session back in time");
        }
    }};
}

impl Clock {
    async fn open(app: &TestApp) -> Clock {
        match &app.location {
            DatabaseLocation::DataDir(dir) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.join(DATABASE_FILE))
                    .busy_timeout(std::time::Duration::from_secs(15));
                Clock::Sqlite(
                    sqlx::SqliteConnection::connect_with(&options)
                        .await
                        .expect("open the SQLite database"),
                )
            }
            DatabaseLocation::Url(url) => Clock::Postgres(
                sqlx::PgConnection::connect(url)
                    .await
                    .expect("connect to PostgreSQL"),
            ),
        }
    }

    /// Moves every session `by` into the past, as if that much time had gone by.
    async fn pass(&mut self, by: SignedDuration) {
        match self {
            Clock::Sqlite(connection) => shift_sessions!(connection, by),
            Clock::Postgres(connection) => shift_sessions!(connection, by),
        }
    }
}

/// Uses the session every `step` of simulated time until it is refused (giving up
/// after `give_up`); returns how long after sign-in that happened.
async fn busy_until_refused(
    app: &TestApp,
    client: &Client,
    step: SignedDuration,
    give_up: SignedDuration,
) -> SignedDuration {
    let mut clock = Clock::open(app).await;
    let mut elapsed = SignedDuration::ZERO;
    while elapsed < give_up {
        clock.pass(step).await;
        elapsed += step;
        let response = client.get("/api/v1/session").await;
        if response.status() == StatusCode::UNAUTHORIZED {
            return elapsed;
        }
        assert_eq!(response.status(), StatusCode::OK, "after {elapsed:#}");
    }
    panic!("the session was still alive {give_up:#} after sign-in");
}

async fn a_staff_session_used_45_seconds_ago_is_alive_and_one_idle_for_75_seconds_has_ended(
    app: TestApp,
) {
    // As with --staff-idle-minutes 1.
    let server = app.sibling(short_idle(60)).await;
    server.clinic("Northside").await;
    let admin = server.sign_in("admin@northside.test", PASSWORD).await;
    let mut clock = Clock::open(&server).await;
    // Signed in half a minute ago and used now: idle time counts from this request,
    // not from sign-in.
    clock.pass(SignedDuration::from_secs(30)).await;
    assert_eq!(admin.get("/api/v1/users").await.status(), StatusCode::OK);
    clock.pass(SignedDuration::from_secs(45)).await;
    assert_eq!(
        admin.get("/api/v1/users").await.status(),
        StatusCode::OK,
        "used 45 s ago"
    );
    clock.pass(SignedDuration::from_secs(75)).await;
    problem(admin.get("/api/v1/users").await, StatusCode::UNAUTHORIZED).await;
}

async fn a_busy_staff_session_ends_twelve_hours_after_sign_in(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    // Used every 20 minutes, well within the 30-minute idle timeout.
    let ended = busy_until_refused(
        &app,
        &clinic.admin,
        SignedDuration::from_mins(20),
        SignedDuration::from_hours(24),
    )
    .await;
    assert_eq!(ended, SignedDuration::from_hours(12));
}

async fn a_busy_patient_session_ends_thirty_days_after_sign_in(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (_, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    // Used every 8 hours, within the patients' 12-hour idle timeout.
    let ended = busy_until_refused(
        &app,
        &dana,
        SignedDuration::from_hours(8),
        SignedDuration::from_hours(60 * 24),
    )
    .await;
    assert_eq!(ended, SignedDuration::from_hours(30 * 24));
}

async fn the_absolute_lifetime_is_configurable(app: TestApp) {
    let server = app
        .sibling(ServerConfig {
            staff_session_lifetime: SignedDuration::from_hours(2),
            ..ServerConfig::default()
        })
        .await;
    let clinic = server.clinic("Northside").await;
    let ended = busy_until_refused(
        &server,
        &clinic.admin,
        SignedDuration::from_mins(20),
        SignedDuration::from_hours(4),
    )
    .await;
    assert_eq!(ended, SignedDuration::from_hours(2));
}

fn set_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie header")
        .to_owned()
}

async fn with_secure_cookies_the_session_cookie_is_host_prefixed_and_only_that_name_is_read(
    app: TestApp,
) {
    let secure = app
        .sibling(ServerConfig {
            secure_cookies: true,
            ..ServerConfig::default()
        })
        .await;
    secure.clinic("Northside").await;
    let response = secure
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"email": "admin@northside.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("__Host-speciosa_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    let token = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, token)| token.to_owned())
        .expect("a token");

    let mut prefixed = secure.anonymous();
    prefixed.cookie = Some(format!("__Host-speciosa_session={token}"));
    assert_eq!(
        prefixed.get("/api/v1/session").await.status(),
        StatusCode::OK
    );
    // The same token under the plain name (as a subdomain could plant it) is not read…
    let mut plain = secure.anonymous();
    plain.cookie = Some(format!("speciosa_session={token}"));
    problem(plain.get("/api/v1/session").await, StatusCode::UNAUTHORIZED).await;
    // …and without secure cookies the prefixed name is not read either.
    let mut prefixed_on_plain = app.anonymous();
    prefixed_on_plain.cookie = prefixed.cookie.clone();
    problem(
        prefixed_on_plain.get("/api/v1/session").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Signing out clears the prefixed cookie.
    let signed_in = secure.sign_in("admin@northside.test", PASSWORD).await;
    let response = signed_in.delete("/api/v1/session").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(&response);
    assert!(
        cleared.starts_with("__Host-speciosa_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    problem(
        signed_in.get("/api/v1/session").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

const PATHS: [(&str, StatusCode); 6] = [
    ("/healthz", StatusCode::OK),
    ("/no-such-page", StatusCode::NOT_FOUND),
    ("/login", StatusCode::OK),
    ("/api/v1/users", StatusCode::UNAUTHORIZED),
    ("/api/v1/no-such-route", StatusCode::NOT_FOUND),
    ("/roster", StatusCode::SEE_OTHER),
];

async fn every_response_carries_a_permissions_policy_and_hsts_only_with_secure_cookies(
    app: TestApp,
) {
    let secure = app
        .sibling(ServerConfig {
            secure_cookies: true,
            ..ServerConfig::default()
        })
        .await;
    for (server, hsts) in [
        (&app, None),
        (&secure, Some("max-age=31536000; includeSubDomains")),
    ] {
        for (path, status) in PATHS {
            let response = server.anonymous().get(path).await;
            assert_eq!(response.status(), status, "{path}");
            let headers = response.headers();
            let policy = headers
                .get("permissions-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("a Permissions-Policy on {path}"));
            for feature in [
                "camera=()",
                "microphone=()",
                "geolocation=()",
                "payment=()",
                "usb=()",
            ] {
                assert!(policy.contains(feature), "{path}: {policy}");
            }
            assert_eq!(
                headers
                    .get("strict-transport-security")
                    .and_then(|v| v.to_str().ok()),
                hsts,
                "{path}"
            );
        }
    }
}
