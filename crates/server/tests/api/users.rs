use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, error_fields, on_both_backends, problem};

on_both_backends!(
    an_admin_creates_staff_accounts_that_can_sign_in,
    account_fields_are_validated_together,
    an_email_can_belong_to_only_one_account,
    deactivating_a_user_ends_their_sessions_and_blocks_sign_in,
);

async fn an_admin_creates_staff_accounts_that_can_sign_in(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    for role in ["clinician", "researcher", "admin"] {
        let email = format!("{role}.person@clinic.test");
        let response = clinic
            .admin
            .post("/api/v1/users", &json!({"email": email, "password": PASSWORD, "role": role, "display_name": "A Person"}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: serde_json::Value = response.json().await.unwrap();
        assert_eq!(created["role"], role);
        assert!(created["id"].is_string());
        let signed_in = app.sign_in(&email, PASSWORD).await;
        assert_eq!(signed_in.user["role"], role);
    }
    let listed = clinic.admin.get_json("/api/v1/users?role=clinician").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

async fn account_fields_are_validated_together(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let response = clinic
        .admin
        .post("/api/v1/users", &json!({"email": "not-an-email", "password": "elevenchars", "role": "wizard", "display_name": " "}))
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error_fields(&body),
        ["email", "password", "role", "display_name"]
    );
    let patient_role = clinic
        .admin
        .post("/api/v1/users", &json!({"email": "p@x.test", "password": PASSWORD, "role": "patient", "display_name": "P"}))
        .await;
    assert_eq!(
        error_fields(&problem(patient_role, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["role"]
    );
    // Exactly twelve characters is enough.
    let twelve = clinic
        .admin
        .post("/api/v1/users", &json!({"email": "t@x.test", "password": "twelve chars", "role": "clinician", "display_name": "T"}))
        .await;
    assert_eq!(twelve.status(), StatusCode::CREATED);
}

async fn an_email_can_belong_to_only_one_account(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let other = app.clinic("Southside").await;
    let body = json!({"email": "Shared@Clinic.test", "password": PASSWORD, "role": "clinician", "display_name": "S"});
    assert_eq!(
        clinic.admin.post("/api/v1/users", &body).await.status(),
        StatusCode::CREATED
    );
    let lower = json!({"email": "shared@clinic.test", "password": PASSWORD, "role": "clinician", "display_name": "S"});
    problem(
        other.admin.post("/api/v1/users", &lower).await,
        StatusCode::CONFLICT,
    )
    .await;
}

async fn deactivating_a_user_ends_their_sessions_and_blocks_sign_in(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let path = format!("/api/v1/users/{}", casey.id());
    let response = clinic.admin.patch(&path, &json!({"active": false})).await;
    assert_eq!(response.status(), StatusCode::OK);
    problem(
        casey.get("/api/v1/patients").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let again = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"email": "casey.doe@northside.test", "password": PASSWORD}),
        )
        .await;
    problem(again, StatusCode::UNAUTHORIZED).await;
    let own = clinic
        .admin
        .patch(
            &format!("/api/v1/users/{}", clinic.admin.id()),
            &json!({"active": false}),
        )
        .await;
    problem(own, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        clinic
            .admin
            .patch(&path, &json!({"active": true}))
            .await
            .status(),
        StatusCode::OK
    );
    app.sign_in("casey.doe@northside.test", PASSWORD).await;
}
