//! API conventions: problem+json for every error, strict bodies, nothing half-written.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, on_both_backends, problem};

on_both_backends!(
    every_api_route_answers_401_problem_json_without_a_session,
    malformed_json_is_a_400_and_writes_nothing,
    wrong_types_unknown_and_missing_fields_are_422_naming_the_field,
    impossible_dates_and_unknown_time_zones_are_422_naming_the_field,
    oversize_bodies_are_413_problem_json,
    a_body_that_is_not_json_is_415,
    unknown_routes_and_methods_are_problem_json,
    openapi_health_and_readiness_are_public,
);

async fn patient_count(clinician: &crate::helpers::Client) -> usize {
    clinician
        .get_json("/api/v1/patients")
        .await
        .as_array()
        .unwrap()
        .len()
}

async fn every_api_route_answers_401_problem_json_without_a_session(app: TestApp) {
    let spec: Value = app.anonymous().get_json("/api/v1/openapi.json").await;
    let anonymous = app.anonymous();
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "01a20e9b-8170-71ed-9467-ccf318541d9c");
        for method in operations.as_object().unwrap().keys() {
            if (method.as_str(), path.as_str()) == ("post", "/api/v1/session") {
                continue; // signing in is how a session starts
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = anonymous
                .send(method.clone(), &concrete, Some(&json!({})))
                .await;
            assert!(
                response.headers().get(reqwest::header::LOCATION).is_none(),
                "{method} {path} redirected"
            );
            problem(response, StatusCode::UNAUTHORIZED).await;
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} operations were described");
}

async fn malformed_json_is_a_400_and_writes_nothing(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let clinician = app.staff(&clinic, "clinician", "Casey Doe").await;
    let before = patient_count(&clinician).await;
    let response = clinician
        .request(Method::POST, "/api/v1/patients")
        .header("content-type", "application/json")
        .body(r#"{"display_name": "Dana", "birth_date": "#)
        .send()
        .await
        .unwrap();
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["type"], "/problems/malformed-request");
    assert_eq!(patient_count(&clinician).await, before);
}

async fn wrong_types_unknown_and_missing_fields_are_422_naming_the_field(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let clinician = app.staff(&clinic, "clinician", "Casey Doe").await;
    let cases = [
        (
            json!({"display_name": 42, "birth_date": "1985-03-14", "time_zone": "UTC"}),
            "display_name",
        ),
        (
            json!({"display_name": "Dana", "birth_date": "1985-03-14", "time_zone": "UTC", "ssn": "x"}),
            "ssn",
        ),
        (json!({"display_name": "Dana", "time_zone": "UTC"}), "body"),
        (
            json!({"display_name": "Dana", "birth_date": "1985-03-14", "time_zone": "UTC", "research_consent": "yes"}),
            "research_consent",
        ),
    ];
    for (body, field) in cases {
        let response = clinician.post("/api/v1/patients", &body).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["type"], "/problems/validation");
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    let unknown = clinician
        .post("/api/v1/patients", &json!({"display_name": "Dana", "birth_date": "1985-03-14", "time_zone": "UTC", "ssn": "x"}))
        .await;
    let detail =
        problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["detail"].to_string();
    assert!(
        detail.contains("ssn"),
        "the unknown field is named: {detail}"
    );
    assert_eq!(patient_count(&clinician).await, 0);
}

async fn impossible_dates_and_unknown_time_zones_are_422_naming_the_field(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let clinician = app.staff(&clinic, "clinician", "Casey Doe").await;
    let response = clinician
        .post(
            "/api/v1/patients",
            &json!({"display_name": "Dana", "birth_date": "2023-02-30", "time_zone": "Mars/Base"}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["birth_date", "time_zone"]);
    assert_eq!(patient_count(&clinician).await, 0);
}

async fn oversize_bodies_are_413_problem_json(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let clinician = app.staff(&clinic, "clinician", "Casey Doe").await;
    let huge = "x".repeat(300 * 1024);
    let response = clinician
        .post(
            "/api/v1/patients",
            &json!({"display_name": huge, "birth_date": "1985-03-14", "time_zone": "UTC"}),
        )
        .await;
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(patient_count(&clinician).await, 0);
}

async fn a_body_that_is_not_json_is_415(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let response = clinic
        .admin
        .request(Method::POST, "/api/v1/users")
        .header("content-type", "text/plain")
        .body("email=x")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

async fn unknown_routes_and_methods_are_problem_json(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    problem(
        clinic.admin.get("/api/v1/no-such-thing").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        clinic
            .admin
            .send(Method::PATCH, "/api/v1/session", None)
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    problem(
        clinic.admin.get("/api/v1/users/not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn openapi_health_and_readiness_are_public(app: TestApp) {
    let anonymous = app.anonymous();
    let spec = anonymous.get_json("/api/v1/openapi.json").await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec["paths"]["/api/v1/patients/{id}/care-team"]["put"].is_object());
    assert_eq!(anonymous.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(anonymous.get("/readyz").await.status(), StatusCode::OK);
}
