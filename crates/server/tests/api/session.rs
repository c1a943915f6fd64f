use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, on_both_backends, problem, short_idle};

on_both_backends!(
    signing_in_returns_a_csrf_token_a_user_and_a_session_cookie,
    a_wrong_password_is_refused_with_401_problem_json,
    state_changing_requests_without_the_csrf_token_are_refused,
    signing_out_ends_the_session_on_the_server,
    a_session_started_on_one_server_works_on_another_sharing_the_database,
    the_sixth_attempt_after_five_failures_for_an_account_is_throttled,
    twenty_failures_from_one_address_throttle_every_account_from_it,
    an_idle_session_expires,
    forty_concurrent_wrong_passwords_for_one_account_get_only_five_password_checks,
    concurrent_failures_from_one_address_get_only_twenty_checks_across_accounts,
    throttling_slots_taken_at_the_same_instant_never_exceed_the_limit,
);

async fn signing_in_returns_a_csrf_token_a_user_and_a_session_cookie(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let response = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"email": "ADMIN@northside.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("speciosa_session="));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert!(
        !cookie.contains("Domain") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["csrf_token"].as_str().unwrap().len(), 64);
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["id"], clinic.admin.user["id"]);
}

async fn a_wrong_password_is_refused_with_401_problem_json(app: TestApp) {
    app.clinic("Northside").await;
    for (email, password) in [
        ("admin@northside.test", "wrong password!"),
        ("nobody@northside.test", PASSWORD),
    ] {
        let response = app
            .anonymous()
            .post(
                "/api/v1/session",
                &json!({"email": email, "password": password}),
            )
            .await;
        assert!(
            response
                .headers()
                .get(reqwest::header::SET_COOKIE)
                .is_none()
        );
        let body = problem(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(body["type"], "/problems/invalid-credentials");
    }
}

async fn state_changing_requests_without_the_csrf_token_are_refused(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let body = json!({"email": "c@northside.test", "password": PASSWORD, "role": "clinician", "display_name": "C"});
    let mut tokenless = clinic.admin.clone();
    tokenless.csrf = None;
    let refused = problem(
        tokenless.post("/api/v1/users", &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(refused["type"], "/problems/csrf");
    tokenless.csrf = Some("0".repeat(64));
    problem(
        tokenless.post("/api/v1/users", &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Nothing was created by the refused requests; the real token works.
    assert_eq!(
        clinic.admin.post("/api/v1/users", &body).await.status(),
        StatusCode::CREATED
    );
}

async fn signing_out_ends_the_session_on_the_server(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    assert_eq!(
        clinic.admin.get("/api/v1/session").await.status(),
        StatusCode::OK
    );
    let response = clinic.admin.delete("/api/v1/session").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The old cookie, replayed, no longer works.
    problem(
        clinic.admin.get("/api/v1/users").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let actions = app.audit_actions().await;
    assert!(
        actions
            .iter()
            .any(|(action, outcome, _)| action == "session.delete" && outcome == "success")
    );
}

async fn a_session_started_on_one_server_works_on_another_sharing_the_database(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let other = app.sibling(Default::default()).await;
    let mut on_other = other.anonymous();
    on_other.cookie = clinic.admin.cookie.clone();
    on_other.csrf = clinic.admin.csrf.clone();
    let users = on_other.get_json("/api/v1/users").await;
    assert_eq!(users.as_array().unwrap().len(), 1);
}

async fn the_sixth_attempt_after_five_failures_for_an_account_is_throttled(app: TestApp) {
    app.clinic("Northside").await;
    let anonymous = app.anonymous();
    let attempt = |password: &'static str| {
        let anonymous = anonymous.clone();
        async move {
            anonymous
                .post(
                    "/api/v1/session",
                    &json!({"email": "admin@northside.test", "password": password}),
                )
                .await
        }
    };
    for _ in 0..4 {
        assert_eq!(
            attempt("not the password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Four failures do not lock the account out; the right password still works…
    assert_eq!(attempt(PASSWORD).await.status(), StatusCode::OK);
    // …and a success forgives them, so five fresh failures are needed.
    for _ in 0..5 {
        assert_eq!(
            attempt("not the password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = attempt(PASSWORD).await;
    assert!(
        throttled
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .is_some()
    );
    let body = problem(throttled, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["type"], "/problems/too-many-sign-in-failures");
}

async fn twenty_failures_from_one_address_throttle_every_account_from_it(app: TestApp) {
    app.clinic("Northside").await;
    let anonymous = app.anonymous();
    for n in 0..20 {
        let response = anonymous
            .post("/api/v1/session", &json!({"email": format!("guess{n}@northside.test"), "password": "wrong wrong wrong"}))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let response = anonymous
        .post(
            "/api/v1/session",
            &json!({"email": "admin@northside.test", "password": PASSWORD}),
        )
        .await;
    problem(response, StatusCode::TOO_MANY_REQUESTS).await;
}

async fn an_idle_session_expires(app: TestApp) {
    let short = app.sibling(short_idle(1)).await;
    short.clinic("Northside").await;
    let admin = short.sign_in("admin@northside.test", PASSWORD).await;
    assert_eq!(admin.get("/api/v1/users").await.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    problem(admin.get("/api/v1/users").await, StatusCode::UNAUTHORIZED).await;
}

async fn forty_concurrent_wrong_passwords_for_one_account_get_only_five_password_checks(
    app: TestApp,
) {
    app.clinic("Northside").await;
    let anonymous = app.anonymous();
    let attempts = (0..40).map(|_| {
        let anonymous = anonymous.clone();
        async move {
            anonymous
                .post(
                    "/api/v1/session",
                    &json!({"email": "admin@northside.test", "password": "not the password"}),
                )
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The audit log agrees: five password checks failed, the rest were refused unchecked.
    let actions = app.audit_actions().await;
    let count = |outcome: &str| {
        actions
            .iter()
            .filter(|(action, o, _)| action == "session.create" && o == outcome)
            .count()
    };
    assert_eq!((count("failure"), count("denied")), (5, 35));
    // Within the window even the right password is refused, as documented.
    let right = anonymous
        .post(
            "/api/v1/session",
            &json!({"email": "admin@northside.test", "password": PASSWORD}),
        )
        .await;
    let body = problem(right, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["type"], "/problems/too-many-sign-in-failures");
}

async fn concurrent_failures_from_one_address_get_only_twenty_checks_across_accounts(app: TestApp) {
    app.clinic("Northside").await;
    let anonymous = app.anonymous();
    let attempts = (0..40).map(|n| {
        let anonymous = anonymous.clone();
        async move {
            anonymous
                .post(
                    "/api/v1/session",
                    &json!({"email": format!("guess{n}@northside.test"), "password": "wrong wrong wrong"}),
                )
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked, 20, "{statuses:?}");
}

/// The store's reservation alone, with many attempts released at the same instant
/// (the HTTP test above cannot line requests up this tightly).
async fn throttling_slots_taken_at_the_same_instant_never_exceed_the_limit(app: TestApp) {
    let window = jiff::SignedDuration::from_mins(15);
    for round in 0..10 {
        let email = format!("target{round}@northside.test");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
        let tasks = (0..16).map(|n| {
            let store = app.store.clone();
            let barrier = barrier.clone();
            let email = email.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .reserve_sign_in_attempt(&email, &format!("10.0.{round}.{n}"), window, 5, 20)
                    .await
                    .expect("reserve")
                    .is_some()
            })
        });
        let taken = futures::future::join_all(tasks)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().expect("task"))
            .count();
        assert_eq!(taken, 5, "round {round}");
    }
}
