use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, error_fields, on_both_backends, problem};
use crate::products::{batch, product};

on_both_backends!(
    certificate_values_entered_as_printed_read_back_in_mg_per_g,
    implausible_certificate_values_are_refused_until_confirmed,
    a_prediction_with_directly_dosed_7oh_says_plainly_that_the_model_cannot_estimate_it,
);

async fn a_prediction_with_directly_dosed_7oh_says_plainly_that_the_model_cannot_estimate_it(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = crate::helpers::create_patient(&casey, "Dana Reyes").await;
    let leaf = product(&casey, json!({"name": "Plain leaf", "form": "leaf_powder"})).await;
    let leaf = batch(
        &casey,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "L1", "assay": {"mitragynine_mg_per_g": 15.0, "hydroxymitragynine_mg_per_g": 0.2}}),
    )
    .await;
    let taken_at = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3)).to_string();
    let logged = casey
        .post(
            &format!("/api/v1/patients/{patient}/doses"),
            &json!({"batch_id": leaf["id"], "amount": 2, "unit": "g", "taken_at": taken_at}),
        )
        .await;
    assert_eq!(logged.status(), StatusCode::CREATED);
    let path = format!("/api/v1/patients/{patient}/exposure/predicted");
    let plain = casey.get_json(&path).await;
    assert!(
        plain["hydroxymitragynine_caution"].is_null(),
        "leaf's trace of 7-OH is not a 7-OH product"
    );
    let enhanced = product(
        &casey,
        json!({"name": "Enhanced powder", "form": "leaf_powder"}),
    )
    .await;
    let enhanced = batch(
        &casey,
        enhanced["id"].as_str().unwrap(),
        json!({"lot": "E1", "assay": {"mitragynine_mg_per_g": 10.0, "hydroxymitragynine_mg_per_g": 2.0}}),
    )
    .await;
    let logged = casey
        .post(
            &format!("/api/v1/patients/{patient}/doses"),
            &json!({"batch_id": enhanced["id"], "amount": 1, "unit": "g", "taken_at": taken_at}),
        )
        .await;
    assert_eq!(logged.status(), StatusCode::CREATED);
    let with_7oh = casey.get_json(&path).await;
    let caution = with_7oh["hydroxymitragynine_caution"].as_str().unwrap();
    assert!(
        caution.contains("cannot estimate levels from directly dosed 7-OH reliably"),
        "{caution}"
    );
    assert!(caution.contains("25-fold"), "{caution}");
}

async fn certificate_values_entered_as_printed_read_back_in_mg_per_g(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let caps = product(
        &casey,
        json!({"name": "Caps", "form": "capsule", "unit_mass_g": 0.5}),
    )
    .await;
    let id = caps["id"].as_str().unwrap();
    let created = batch(
        &casey,
        id,
        json!({"lot": "P1", "assay": {"mitragynine_percent_w_w": 1.6,
               "hydroxymitragynine_mg_per_unit": 0.01,
               "heavy_metals": {"lead_ppb": 250}}}),
    )
    .await;
    let assay = &created["assay"];
    assert_eq!(assay["mitragynine_mg_per_g"], 16.0);
    assert_eq!(assay["hydroxymitragynine_mg_per_g"], 0.02);
    assert_eq!(assay["heavy_metals"]["lead_ppm"], 0.25);
    let read = casey
        .get_json(&format!(
            "/api/v1/batches/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(read["assay"]["mitragynine_mg_per_g"], 16.0);

    // Per-unit values need a unit: leaf powder has none.
    let leaf = product(&casey, json!({"name": "Leaf", "form": "leaf_powder"})).await;
    let refused = casey
        .post(
            &format!("/api/v1/products/{}/batches", leaf["id"].as_str().unwrap()),
            &json!({"lot": "P2", "assay": {"mitragynine_mg_per_unit": 8}}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["assay.mitragynine_mg_per_unit"]
    );
}

async fn implausible_certificate_values_are_refused_until_confirmed(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let leaf = product(&casey, json!({"name": "Leaf", "form": "leaf_powder"})).await;
    let path = format!("/api/v1/products/{}/batches", leaf["id"].as_str().unwrap());
    // 1.6 typed as mg/g where the certificate said 1.6 %.
    let refused = casey
        .post(
            &path,
            &json!({"lot": "Q1", "assay": {"mitragynine_mg_per_g": 1.6}}),
        )
        .await;
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["assay.mitragynine_mg_per_g"]);
    assert!(body.to_string().contains("16 mg/g"), "{body}");
    let refused = casey
        .post(
            &path,
            &json!({"lot": "Q1", "assay": {"mitragynine_mg_per_g": 16, "hydroxymitragynine_mg_per_g": 20}}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["assay.hydroxymitragynine_mg_per_g"]
    );
    let saved = batch(
        &casey,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "Q1", "assay": {"mitragynine_mg_per_g": 1.6, "confirm_implausible": true}}),
    )
    .await;
    assert_eq!(saved["assay"]["mitragynine_mg_per_g"], 1.6);
}
