//! Heavy metals judged on the patient's whole day (issue 14 item 3): the USP <2232>
//! limits are per day, so every batch taken that day counts, liquids included.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, create_patient, on_both_backends};
use crate::products::{batch, product};

on_both_backends!(
    two_batches_each_under_the_lead_limit_logged_the_same_day_raise_one_daily_total_alert,
    a_liquid_logged_in_millilitres_counts_toward_the_days_metals,
    millilitres_are_kept_per_day_and_batch_through_corrections_and_a_rebuild,
);

struct Setup {
    casey: Client,
    patient: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    Setup { casey, patient }
}

impl Setup {
    /// A batch of a new product with `lead_ppm` lead and a leaf-like alkaloid content
    /// (per g, or per mL for a liquid), so no other flag applies.
    async fn lot(&self, name: &str, form: &str, lot: &str, lead_ppm: f64) -> String {
        let product = product(&self.casey, json!({"name": name, "form": form})).await;
        let batch = batch(
            &self.casey,
            product["id"].as_str().unwrap(),
            json!({"lot": lot, "assay": {"mitragynine_mg_per_g": 15.0, "hydroxymitragynine_mg_per_g": 0.1, "heavy_metals": {"lead_ppm": lead_ppm}}}),
        )
        .await;
        batch["id"].as_str().unwrap().to_owned()
    }

    async fn log(&self, batch: &str, amount: f64, unit: &str) -> Value {
        let response = self
            .casey
            .post(
                &format!("/api/v1/patients/{}/doses", self.patient),
                &json!({"batch_id": batch, "amount": amount, "unit": unit}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "logging a dose");
        response.json().await.unwrap()
    }

    async fn product_quality(&self) -> Vec<Value> {
        self.casey
            .get_json(&format!("/api/v1/patients/{}/alerts", self.patient))
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == "product_quality")
            .cloned()
            .collect()
    }
}

fn flag_codes(alert: &Value) -> Vec<&str> {
    alert["evidence"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

async fn two_batches_each_under_the_lead_limit_logged_the_same_day_raise_one_daily_total_alert(
    app: TestApp,
) {
    let s = setup(&app).await;
    // 4 g at 0.8 ppm is 3.2 µg of lead and 2 g at 1 ppm is 2 µg: each under USP <2232>'s
    // 5 µg a day, 5.2 µg together.
    let yellow = s.lot("Yellow leaf", "leaf_powder", "Y-17", 0.8).await;
    let red = s.lot("Red leaf", "leaf_powder", "R-4", 1.0).await;
    let first = s.log(&yellow, 4.0, "g").await;
    assert!(
        s.product_quality().await.is_empty(),
        "one batch alone is under the limit"
    );
    s.log(&red, 2.0, "g").await;
    let alerts = s.product_quality().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(flag_codes(alert), ["heavy_metal_daily_total_over_limit"]);
    let explanation = alert["evidence"]["flags"][0]["explanation"]
        .as_str()
        .unwrap();
    let day = first["local_date"].as_str().unwrap();
    for part in [
        day,
        "5.2 µg of lead",
        "5 µg/day",
        "Yellow leaf lot Y-17: 4 g at 0.8 ppm = 3.2 µg",
        "Red leaf lot R-4: 2 g at 1 ppm = 2 µg",
    ] {
        assert!(explanation.contains(part), "{part} in {explanation}");
    }
    assert_eq!(alert["evidence"]["metals"][0]["metal"], "lead");
    assert_eq!(alert["evidence"]["metals"][0]["total_micrograms"], 5.2);
    assert_eq!(alert["source_type"], "dose");

    // A third dose of the same two batches the same day is the same condition.
    s.log(&red, 0.5, "g").await;
    assert_eq!(s.product_quality().await.len(), 1);

    // The alert page reads the evidence as sentences.
    let page = s
        .casey
        .get(&format!("/alerts/{}", alert["id"].as_str().unwrap()))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Yellow leaf lot Y-17"), "{html}");
}

async fn a_liquid_logged_in_millilitres_counts_toward_the_days_metals(app: TestApp) {
    let s = setup(&app).await;
    // 3 g of leaf at 1 ppm is 3 µg; 30 mL of a shot at 0.1 ppm is 3 µg counted at 1 g/mL.
    let leaf = s.lot("Yellow leaf", "leaf_powder", "Y-17", 1.0).await;
    let shot = s.lot("Kratom shot", "liquid", "S-7", 0.1).await;
    s.log(&leaf, 3.0, "g").await;
    s.log(&shot, 30.0, "ml").await;
    let alerts = s.product_quality().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        flag_codes(&alerts[0]),
        ["heavy_metal_daily_total_over_limit"]
    );
    let explanation = alerts[0]["evidence"]["flags"][0]["explanation"]
        .as_str()
        .unwrap();
    assert!(
        explanation.contains("6 µg of lead")
            && explanation
                .contains("Kratom shot lot S-7: 30 mL (counted as 30 g at an assumed 1 g/mL)"),
        "{explanation}"
    );
}

async fn millilitres_are_kept_per_day_and_batch_through_corrections_and_a_rebuild(app: TestApp) {
    let s = setup(&app).await;
    let shot = s.lot("Kratom shot", "liquid", "S-7", 0.1).await;
    let dose = s.log(&shot, 30.0, "ml").await;
    s.log(&shot, 15.5, "ml").await;
    let corrected = s
        .casey
        .put(
            &format!(
                "/api/v1/patients/{}/doses/{}",
                s.patient,
                dose["id"].as_str().unwrap()
            ),
            &json!({"reason": "meant 20 mL", "dose": {"batch_id": shot, "amount": 20.0, "unit": "ml", "taken_at": dose["taken_at"]}}),
        )
        .await;
    assert_eq!(corrected.status(), StatusCode::OK);
    let kept = app.store.summary_snapshot().await.expect("summaries");
    let microlitres: i64 = kept.batch_days.iter().map(|b| b.5).sum();
    assert_eq!(microlitres, 35_500, "{kept:?}");
    let report = app.store.rebuild_summaries().await.expect("rebuild");
    assert!(!report.changed, "{report:?}");
}
