//! Running one's own account: changing the password, temporary passwords set by an
//! admin, TOTP two-factor sign-in with recovery codes, the organization's
//! requirement of it, and where sign-in pages may send people afterwards.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Client, PASSWORD, TestApp, error_fields, location, on_both_backends, post_form, problem,
};

on_both_backends!(
    changing_your_password_ends_your_other_sessions_and_keeps_this_one,
    the_account_page_changes_the_password_and_shows_mistakes_beside_the_fields,
    a_temporary_password_must_be_changed_before_anything_else,
    two_factor_sign_in_needs_a_fresh_code_and_each_recovery_code_works_once,
    failed_two_factor_codes_count_towards_the_sign_in_throttle,
    the_sign_in_page_asks_for_the_code_as_a_second_step,
    an_organization_requirement_sends_staff_without_two_factor_to_enrol_first,
    after_sign_in_the_page_only_ever_sends_people_to_a_path_on_this_site,
    an_alert_decision_only_returns_to_a_path_on_this_site,
    the_users_page_sets_temporary_passwords_and_the_two_factor_requirement,
);

const NEW_PASSWORD: &str = "an entirely new passphrase";

async fn sign_in_attempt(app: &TestApp, body: Value) -> reqwest::Response {
    app.anonymous().post("/api/v1/session", &body).await
}

/// The code an authenticator app shows `steps` time steps from now (RFC 6238,
/// computed independently of the server with the same crate).
fn code(secret: &str, steps: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).expect("base32 secret");
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .expect("totp");
    let at = jiff::Timestamp::now().as_second() + steps * 30;
    totp.generate(at as u64).to_string()
}

/// A six-digit code that no step within the allowed drift accepts.
fn wrong_code(secret: &str) -> String {
    let valid: Vec<String> = (-2..=2).map(|s| code(secret, s)).collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .expect("a wrong code")
}

/// Turns two-factor sign-in on for `client`; returns the secret and the recovery codes.
async fn enrol(client: &Client) -> (String, Vec<String>) {
    let response = client.post("/api/v1/account/totp", &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let enrolment: Value = response.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let response = client
        .post(
            "/api/v1/account/totp/activate",
            &json!({"code": code(&secret, 0)}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let codes = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

async fn audited(app: &TestApp, action: &str, outcome: &str) -> usize {
    app.audit_actions()
        .await
        .iter()
        .filter(|(a, o, _)| a == action && o == outcome)
        .count()
}

async fn changing_your_password_ends_your_other_sessions_and_keeps_this_one(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let here = app.staff(&clinic, "clinician", "Casey Doe").await;
    let email = "casey.doe@northside.test";
    let elsewhere = app.sign_in(email, PASSWORD).await;

    let wrong = here
        .put(
            "/api/v1/account/password",
            &json!({"current_password": "not my password", "new_password": NEW_PASSWORD}),
        )
        .await;
    let body = problem(wrong, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["current_password"]);
    let short = here
        .put(
            "/api/v1/account/password",
            &json!({"current_password": PASSWORD, "new_password": "too short"}),
        )
        .await;
    let body = problem(short, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["new_password"]);
    // Neither refusal ended anything.
    assert_eq!(
        elsewhere.get("/api/v1/session").await.status(),
        StatusCode::OK
    );

    let changed = here
        .put(
            "/api/v1/account/password",
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(here.get("/api/v1/patients").await.status(), StatusCode::OK);
    problem(
        elsewhere.get("/api/v1/session").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let old = sign_in_attempt(&app, json!({"email": email, "password": PASSWORD})).await;
    problem(old, StatusCode::UNAUTHORIZED).await;
    app.sign_in(email, NEW_PASSWORD).await;
    assert_eq!(audited(&app, "account.password.change", "success").await, 1);
    assert_eq!(audited(&app, "account.password.change", "failure").await, 1);
}

async fn the_account_page_changes_the_password_and_shows_mistakes_beside_the_fields(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let patient_clinician = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (_, patient) = app
        .patient_with_login(&patient_clinician, "Dana Reyes")
        .await;
    let page = patient.get("/account").await.text().await.unwrap();
    assert!(page.contains("Change your password"), "{page}");
    // Patients do not get two-factor sign-in.
    assert!(!page.contains("Two-factor sign-in"));

    let refused = post_form(
        &patient,
        "/account/password",
        &[
            ("current_password", "not my password"),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"current_password-error\""), "{html}");
    assert!(html.contains("This is not your current password"));

    let changed = post_form(
        &patient,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&changed), "/account?saved=password#main");
    let email = patient.user["email"].as_str().unwrap();
    app.sign_in(email, NEW_PASSWORD).await;
}

async fn a_temporary_password_must_be_changed_before_anything_else(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let path = format!("/api/v1/users/{}/password", casey.id());
    let short = clinic
        .admin
        .put(&path, &json!({"temporary_password": "short"}))
        .await;
    let body = problem(short, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["temporary_password"]);
    let own = clinic
        .admin
        .put(
            &format!("/api/v1/users/{}/password", clinic.admin.id()),
            &json!({"temporary_password": "temporary password 1"}),
        )
        .await;
    problem(own, StatusCode::UNPROCESSABLE_ENTITY).await;

    let set = clinic
        .admin
        .put(
            &path,
            &json!({"temporary_password": "temporary password 1"}),
        )
        .await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        audited(&app, "user.password.set_temporary", "success").await,
        1
    );
    // Casey's session ended.
    problem(casey.get("/api/v1/session").await, StatusCode::UNAUTHORIZED).await;

    let response = sign_in_attempt(
        &app,
        json!({"email": "casey.doe@northside.test", "password": "temporary password 1"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let casey = app
        .sign_in("casey.doe@northside.test", "temporary password 1")
        .await;
    let session = casey.get_json("/api/v1/session").await;
    assert_eq!(session["required_action"], "password_change_required");
    assert_eq!(session["user"]["password_change_required"], true);
    let listed = clinic.admin.get_json("/api/v1/users?role=clinician").await;
    assert_eq!(listed[0]["password_change_required"], true);

    let blocked = problem(casey.get("/api/v1/patients").await, StatusCode::FORBIDDEN).await;
    assert_eq!(blocked["type"], "/problems/password-change-required");
    assert!(
        blocked["detail"]
            .as_str()
            .unwrap()
            .contains("password change required")
    );
    let page = casey.get("/roster").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/account#change-password");
    let account = casey.get("/account").await;
    assert_eq!(account.status(), StatusCode::OK);
    assert!(account.text().await.unwrap().contains("temporary password"));

    let same = casey
        .put(
            "/api/v1/account/password",
            &json!({"current_password": "temporary password 1", "new_password": "temporary password 1"}),
        )
        .await;
    let body = problem(same, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["new_password"]);
    let changed = casey
        .put(
            "/api/v1/account/password",
            &json!({"current_password": "temporary password 1", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(casey.get("/api/v1/patients").await.status(), StatusCode::OK);
    assert_eq!(casey.get("/roster").await.status(), StatusCode::OK);
    assert!(casey.get_json("/api/v1/session").await["required_action"].is_null());

    // Another clinic's admin cannot reach Casey.
    let south = app.clinic("Southside").await;
    let foreign = south
        .admin
        .put(
            &path,
            &json!({"temporary_password": "temporary password 2"}),
        )
        .await;
    problem(foreign, StatusCode::NOT_FOUND).await;
}

async fn two_factor_sign_in_needs_a_fresh_code_and_each_recovery_code_works_once(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let email = "casey.doe@northside.test";

    let response = casey.post("/api/v1/account/totp", &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let enrolment: Value = response.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Speciosa:casey.doe%40northside.test?"));
    assert!(uri.contains(&format!("secret={secret}")));
    // Not on until a code confirms it.
    let plain = sign_in_attempt(&app, json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(plain.status(), StatusCode::OK);
    let wrong = casey
        .post(
            "/api/v1/account/totp/activate",
            &json!({"code": wrong_code(&secret)}),
        )
        .await;
    let body = problem(wrong, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["code"]);
    let activation_code = code(&secret, 0);
    let response = casey
        .post(
            "/api/v1/account/totp/activate",
            &json!({"code": activation_code}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let recovery: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(audited(&app, "account.totp.enable", "success").await, 1);
    let session = casey.get_json("/api/v1/session").await;
    assert_eq!(session["user"]["totp_enabled"], true);
    // The secret is never shown again.
    assert!(!session.to_string().contains(&secret));
    let users = clinic.admin.get_json("/api/v1/users").await;
    assert!(!users.to_string().contains(&secret));

    // Password alone: a clear 401 saying a code is needed.
    let needs_code = sign_in_attempt(&app, json!({"email": email, "password": PASSWORD})).await;
    assert!(
        needs_code
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .is_none()
    );
    let body = problem(needs_code, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["type"], "/problems/second-factor-required");
    assert!(body["detail"].as_str().unwrap().contains("totp_code"));
    // A code with the wrong password reveals nothing about the code.
    let body = problem(
        sign_in_attempt(
            &app,
            json!({"email": email, "password": "not my password", "totp_code": code(&secret, 1)}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["type"], "/problems/invalid-credentials");
    let malformed = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "totp_code": "12ab"}),
    )
    .await;
    let body = problem(malformed, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["totp_code"]);

    // The code that activated enrolment was used; it is not accepted again.
    let replayed = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "totp_code": activation_code}),
    )
    .await;
    let body = problem(replayed, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["type"], "/problems/invalid-second-factor");
    let wrong = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "totp_code": wrong_code(&secret)}),
    )
    .await;
    problem(wrong, StatusCode::UNAUTHORIZED).await;
    // The next step's code (within the allowed drift) works, once.
    let next = code(&secret, 1);
    let signed_in = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "totp_code": next}),
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let again = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "totp_code": next}),
    )
    .await;
    problem(again, StatusCode::UNAUTHORIZED).await;

    // A recovery code works once, typed however.
    let typed = recovery[3].to_uppercase().replace('-', " ");
    let recovered = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "recovery_code": typed}),
    )
    .await;
    assert_eq!(recovered.status(), StatusCode::OK);
    let reused = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "recovery_code": recovery[3]}),
    )
    .await;
    let body = problem(reused, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["type"], "/problems/invalid-second-factor");
    let other = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "recovery_code": recovery[4]}),
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK);

    // Turning it off needs the password.
    let refused = casey
        .send(
            Method::DELETE,
            "/api/v1/account/totp",
            Some(&json!({"password": "not my password"})),
        )
        .await;
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["password"]);
    let off = casey
        .send(
            Method::DELETE,
            "/api/v1/account/totp",
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    assert_eq!(audited(&app, "account.totp.disable", "success").await, 1);
    app.sign_in(email, PASSWORD).await;

    // Patients sign in on their own phones without it.
    let (_, patient) = app.patient_with_login(&casey, "Dana Reyes").await;
    problem(
        patient.post("/api/v1/account/totp", &json!({})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn failed_two_factor_codes_count_towards_the_sign_in_throttle(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (secret, _) = enrol(&casey).await;
    let email = "casey.doe@northside.test";
    let wrong = wrong_code(&secret);
    for attempt in 0..5 {
        let response = sign_in_attempt(
            &app,
            json!({"email": email, "password": PASSWORD, "totp_code": wrong}),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let throttled = sign_in_attempt(
        &app,
        json!({"email": email, "password": PASSWORD, "totp_code": code(&secret, 1)}),
    )
    .await;
    let body = problem(throttled, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["type"], "/problems/too-many-sign-in-failures");
}

/// The value of a hidden form field in a page.
fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

async fn the_sign_in_page_asks_for_the_code_as_a_second_step(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (secret, _) = enrol(&casey).await;
    let browser = app.anonymous();
    let step_one = |password: &'static str| {
        let browser = browser.clone();
        async move {
            browser
                .request(Method::POST, "/login")
                .form(&[
                    ("email", "casey.doe@northside.test"),
                    ("password", password),
                    ("next", "/patients"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = step_one("not my password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(hidden_value(&wrong.text().await.unwrap(), "challenge").is_none());

    let response = step_one(PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .is_none()
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("authenticator app"), "{html}");
    let challenge = hidden_value(&html, "challenge").expect("a challenge");
    assert_eq!(hidden_value(&html, "next").as_deref(), Some("/patients"));
    assert!(!html.contains(PASSWORD));

    let step_two = |challenge: String, code: String| {
        let browser = browser.clone();
        async move {
            browser
                .request(Method::POST, "/login/two-factor")
                .form(&[
                    ("challenge", challenge.as_str()),
                    ("totp_code", code.as_str()),
                    ("recovery_code", ""),
                    ("next", "/patients"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let refused = step_two(challenge.clone(), wrong_code(&secret)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let html = refused.text().await.unwrap();
    assert!(html.contains("did not match"));
    assert_eq!(
        hidden_value(&html, "challenge").as_deref(),
        Some(challenge.as_str())
    );
    let unknown = step_two("0".repeat(64), code(&secret, 1)).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(unknown.text().await.unwrap().contains("Sign in again"));

    let signed_in = step_two(challenge.clone(), code(&secret, 1)).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/patients");
    let cookie = signed_in
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_owned();
    let mut client = app.anonymous();
    client.cookie = Some(cookie);
    assert_eq!(client.get("/patients").await.status(), StatusCode::OK);
    // The challenge is spent.
    let spent = step_two(challenge, code(&secret, -1)).await;
    assert_eq!(spent.status(), StatusCode::UNAUTHORIZED);
}

async fn an_organization_requirement_sends_staff_without_two_factor_to_enrol_first(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    let (patient_id, patient) = app.patient_with_login(&casey, "Dana Reyes").await;
    let organization = clinic.admin.get_json("/api/v1/organization").await;
    assert_eq!(organization["require_staff_totp"], false);
    let response = clinic
        .admin
        .patch("/api/v1/organization", &json!({"require_staff_totp": true}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["require_staff_totp"], true);
    assert_eq!(audited(&app, "organization.update", "success").await, 1);

    // Staff without two-factor sign-in can do nothing else, the admin included.
    let casey = app.sign_in("casey.doe@northside.test", PASSWORD).await;
    let session = casey.get_json("/api/v1/session").await;
    assert_eq!(session["required_action"], "two_factor_enrolment_required");
    let blocked = problem(casey.get("/api/v1/patients").await, StatusCode::FORBIDDEN).await;
    assert_eq!(blocked["type"], "/problems/two-factor-enrolment-required");
    let blocked = problem(
        clinic.admin.get("/api/v1/users").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(blocked["type"], "/problems/two-factor-enrolment-required");
    let page = casey.get("/roster").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/account/two-factor");
    // Patients are not staff.
    assert_eq!(
        patient
            .get(&format!("/api/v1/patients/{patient_id}"))
            .await
            .status(),
        StatusCode::OK
    );

    // Enrolling on the page: the key, a QR code, then a code.
    let page = casey.get("/account/two-factor").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("otpauth://totp/") && html.contains("<svg"),
        "{html}"
    );
    assert!(!html.contains("<?xml"));
    let start = html.find("<code class=\"secret\">").unwrap() + "<code class=\"secret\">".len();
    let secret: String = html[start..start + html[start..].find('<').unwrap()]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    // Reloading keeps the same key (the app may have scanned it already).
    let again = casey.get("/account/two-factor").await.text().await.unwrap();
    assert!(again.contains(&html[start..start + 9]));
    let refused = post_form(&casey, "/account/two-factor", &[("code", "12")]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let enrolled = post_form(
        &casey,
        "/account/two-factor",
        &[("code", &code(&secret, 0))],
    )
    .await;
    assert_eq!(enrolled.status(), StatusCode::OK);
    let html = enrolled.text().await.unwrap();
    assert_eq!(html.matches("<li><code>").count(), 10, "{html}");
    assert_eq!(casey.get("/api/v1/patients").await.status(), StatusCode::OK);
    assert_eq!(casey.get("/roster").await.status(), StatusCode::OK);

    // The admin enrols too (over the API) before changing anything else; turning the
    // requirement off lifts the block for everyone still without it.
    problem(robin.get("/api/v1/patients").await, StatusCode::FORBIDDEN).await;
    enrol(&clinic.admin).await;
    assert_eq!(
        clinic.admin.get("/api/v1/users").await.status(),
        StatusCode::OK
    );
    let off = clinic
        .admin
        .patch(
            "/api/v1/organization",
            &json!({"require_staff_totp": false}),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    assert_eq!(robin.get("/api/v1/patients").await.status(), StatusCode::OK);
}

async fn after_sign_in_the_page_only_ever_sends_people_to_a_path_on_this_site(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    app.staff(&clinic, "clinician", "Casey Doe").await;
    let browser = app.anonymous();
    let hostile = [
        "/\t/evil.example/x",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/%2F%2Fevil.example",
        "/%09/evil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "/..//evil.example",
        " //evil.example",
        "/\r\n/evil.example",
    ];
    for next in hostile {
        let query = serde_urlencoded::to_string([("next", next)]).unwrap();
        let form_page = browser.get(&format!("/login?{query}")).await;
        assert_eq!(form_page.status(), StatusCode::OK);
        let html = form_page.text().await.unwrap();
        assert_eq!(hidden_value(&html, "next").as_deref(), Some(""), "{next:?}");
        let response = browser
            .request(Method::POST, "/login")
            .form(&[
                ("email", "casey.doe@northside.test"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&response), "/roster", "{next:?}");
    }
    let query = serde_urlencoded::to_string([("next", "/patients?from=2026-11-01")]).unwrap();
    let html = browser
        .get(&format!("/login?{query}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        hidden_value(&html, "next").as_deref(),
        Some("/patients?from=2026-11-01")
    );
    let response = browser
        .request(Method::POST, "/login")
        .form(&[
            ("email", "casey.doe@northside.test"),
            ("password", PASSWORD),
            ("next", "/patients?from=2026-11-01"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/patients?from=2026-11-01");
}

async fn an_alert_decision_only_returns_to_a_path_on_this_site(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient_id, patient) = app.patient_with_login(&casey, "Dana Reyes").await;
    let mut answers = serde_json::Map::new();
    for item in 1..=9 {
        answers.insert(item.to_string(), json!(1));
    }
    let response = patient
        .post(
            &format!("/api/v1/patients/{patient_id}/assessments"),
            &json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    let alert = body["alerts"][0]["id"].as_str().unwrap().to_owned();
    let hostile = post_form(
        &casey,
        &format!("/alerts/{alert}/acknowledge"),
        &[("comment", "Called"), ("return_to", "/\t/evil.example/x")],
    )
    .await;
    assert_eq!(hostile.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&hostile), "/alerts?saved=acknowledged");
    let kept = post_form(
        &casey,
        &format!("/alerts/{alert}/resolve"),
        &[("comment", "Plan agreed"), ("return_to", "/alerts")],
    )
    .await;
    assert_eq!(location(&kept), "/alerts?saved=resolved");
}

async fn the_users_page_sets_temporary_passwords_and_the_two_factor_requirement(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let page = clinic.admin.get("/admin/users").await.text().await.unwrap();
    assert!(page.contains(&format!("/admin/users/{}/password", casey.id())));
    assert!(page.contains("Require two-factor sign-in for staff"));
    // Admins cannot give themselves one (the form is not offered, and the route refuses).
    assert!(!page.contains(&format!("/admin/users/{}/password", clinic.admin.id())));

    let short = post_form(
        &clinic.admin,
        &format!("/admin/users/{}/password", casey.id()),
        &[("temporary_password", "short")],
    )
    .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 12 characters")
    );
    let set = post_form(
        &clinic.admin,
        &format!("/admin/users/{}/password", casey.id()),
        &[("temporary_password", "temporary password 1")],
    )
    .await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&set), "/admin/users?saved=temporary-password#main");
    problem(casey.get("/api/v1/session").await, StatusCode::UNAUTHORIZED).await;
    let page = clinic.admin.get("/admin/users").await.text().await.unwrap();
    assert!(page.contains("Temporary password</span>"), "{page}");
    // Only admins reach the form's route.
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    let refused = post_form(
        &robin,
        &format!("/admin/users/{}/password", clinic.admin.id()),
        &[("temporary_password", "temporary password 2")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused = post_form(
        &robin,
        "/admin/organization/two-factor",
        &[("require_staff_totp", "true")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let on = post_form(
        &clinic.admin,
        "/admin/organization/two-factor",
        &[("require_staff_totp", "true")],
    )
    .await;
    assert_eq!(on.status(), StatusCode::SEE_OTHER);
    assert!(
        clinic.admin.get_json("/api/v1/session").await["required_action"]
            == "two_factor_enrolment_required"
    );
    // The admin is staff too: the users page now sends them to enrol.
    let page = clinic.admin.get("/admin/users").await;
    assert_eq!(location(&page), "/account/two-factor");
    assert_eq!(audited(&app, "organization.update", "success").await, 1);
}
