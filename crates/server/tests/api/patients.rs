use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, create_patient, error_fields, on_both_backends, problem};

on_both_backends!(
    a_clinician_registers_a_patient_and_joins_the_care_team,
    every_patient_field_round_trips,
    clinicians_list_only_their_care_team_patients,
    a_care_team_accepts_only_active_clinicians_of_the_organization,
    a_removed_clinician_loses_access_to_the_patient,
    a_patient_login_sees_only_its_own_record_and_cannot_edit_it,
    a_patient_can_have_only_one_login,
);

async fn a_clinician_registers_a_patient_and_joins_the_care_team(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let clinician = app.staff(&clinic, "clinician", "Casey Doe").await;
    let response = clinician
        .post("/api/v1/patients", &json!({"display_name": "Dana Reyes", "birth_date": "1988-04-12", "time_zone": "America/Chicago"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/patients/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(
        created["care_team"][0]["clinician_id"],
        clinician.user["id"]
    );
    let fetched = clinician.get_json(&location).await;
    assert_eq!(fetched["display_name"], "Dana Reyes");
    assert_eq!(fetched["sex_at_birth"], "unknown");
    assert_eq!(fetched["has_login"], false);
}

async fn every_patient_field_round_trips(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let clinician = app.staff(&clinic, "clinician", "Casey Doe").await;
    let id = create_patient(&clinician, "Dana Reyes").await;
    let details = json!({
        "display_name": "Dana R. Reyes",
        "birth_date": "1988-04-12",
        "time_zone": "Europe/London",
        "sex_at_birth": "female",
        "usual_bedtime": "22:30",
        "jurisdiction": "us-tx",
        "pregnancy_status": "pregnant",
        "research_consent": true,
        "research_consent_date": "2026-10-05"
    });
    let response = clinician
        .put(&format!("/api/v1/patients/{id}"), &details)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let fetched = clinician.get_json(&format!("/api/v1/patients/{id}")).await;
    for field in [
        "display_name",
        "birth_date",
        "time_zone",
        "sex_at_birth",
        "usual_bedtime",
        "pregnancy_status",
        "research_consent",
        "research_consent_date",
    ] {
        assert_eq!(fetched[field], details[field], "{field}");
    }
    assert_eq!(fetched["jurisdiction"], "US-TX");
}

async fn clinicians_list_only_their_care_team_patients(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    create_patient(&casey, "Dana Reyes").await;
    create_patient(&casey, "Ari Blum").await;
    create_patient(&robin, "Sam Whitfield").await;
    let names = |list: serde_json::Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|p| p["display_name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(casey.get_json("/api/v1/patients").await),
        ["Ari Blum", "Dana Reyes"]
    );
    assert_eq!(
        names(robin.get_json("/api/v1/patients").await),
        ["Sam Whitfield"]
    );
}

async fn a_care_team_accepts_only_active_clinicians_of_the_organization(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let researcher = app.staff(&clinic, "researcher", "Rae Search").await;
    let elsewhere = app.clinic("Southside").await;
    let foreign = app.staff(&elsewhere, "clinician", "Fran Foreign").await;
    let id = create_patient(&casey, "Dana Reyes").await;
    let path = format!("/api/v1/patients/{id}/care-team");

    let refused = casey
        .put(&path, &json!({"clinician_ids": [casey.id(), researcher.id(), foreign.id(), "01a20e9b-8170-71ed-9467-ccf318541d9c"]}))
        .await;
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error_fields(&body),
        ["clinician_ids[1]", "clinician_ids[2]", "clinician_ids[3]"]
    );
    let empty = problem(
        casey.put(&path, &json!({"clinician_ids": []})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&empty), ["clinician_ids"]);

    let team = casey.get_json(&path).await;
    assert_eq!(
        team["clinicians"].as_array().unwrap().len(),
        1,
        "refused changes left the team as it was"
    );
}

async fn a_removed_clinician_loses_access_to_the_patient(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    let id = create_patient(&casey, "Dana Reyes").await;
    let path = format!("/api/v1/patients/{id}");
    problem(robin.get(&path).await, StatusCode::FORBIDDEN).await;

    let added = casey
        .put(
            &format!("{path}/care-team"),
            &json!({"clinician_ids": [casey.id(), robin.id()]}),
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    assert_eq!(robin.get(&path).await.status(), StatusCode::OK);

    let handed_over = robin
        .put(
            &format!("{path}/care-team"),
            &json!({"clinician_ids": [robin.id()]}),
        )
        .await;
    assert_eq!(handed_over.status(), StatusCode::OK);
    problem(casey.get(&path).await, StatusCode::FORBIDDEN).await;
    assert!(
        casey
            .get_json("/api/v1/patients")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn a_patient_login_sees_only_its_own_record_and_cannot_edit_it(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (dana_id, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let other_id = create_patient(&casey, "Ari Blum").await;

    let own = dana.get_json("/api/v1/patients").await;
    assert_eq!(own.as_array().unwrap().len(), 1);
    assert_eq!(own[0]["id"], dana_id.as_str());
    assert_eq!(
        dana.get_json("/api/v1/session").await["patient_id"],
        dana_id.as_str()
    );
    assert_eq!(
        dana.get(&format!("/api/v1/patients/{dana_id}"))
            .await
            .status(),
        StatusCode::OK
    );
    problem(
        dana.get(&format!("/api/v1/patients/{other_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let edit = json!({"display_name": "Dana", "birth_date": "1988-04-12", "time_zone": "UTC"});
    problem(
        dana.put(&format!("/api/v1/patients/{dana_id}"), &edit)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn a_patient_can_have_only_one_login(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (dana_id, _) = app.patient_with_login(&casey, "Dana Reyes").await;
    let path = format!("/api/v1/patients/{dana_id}/account");
    let again = casey
        .post(
            &path,
            &json!({"email": "second@patients.test", "password": PASSWORD}),
        )
        .await;
    problem(again, StatusCode::CONFLICT).await;
    // The refused login was not created: its email is still free for another patient.
    let ari = create_patient(&casey, "Ari Blum").await;
    let reused = casey
        .post(
            &format!("/api/v1/patients/{ari}/account"),
            &json!({"email": "second@patients.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reused.status(), StatusCode::CREATED);
    let short = casey
        .post(
            &format!("/api/v1/patients/{ari}/account"),
            &json!({"email": "x@patients.test", "password": "short"}),
        )
        .await;
    let body = problem(short, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["password"]);
}
