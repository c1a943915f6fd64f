//! Per-patient summaries are kept as data arrives, and a rebuild from the records
//! agrees with them exactly, after corrections, deletions and alert reviews too.

use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, on_both_backends};
use crate::products::{batch, product};

on_both_backends!(
    rebuilt_summaries_agree_with_those_kept_through_corrections_deletions_and_reviews
);

async fn log(casey: &Client, patient: &str, batch: &str, grams: f64, hours_ago: i64) -> Value {
    let taken_at = Timestamp::now() - SignedDuration::from_hours(hours_ago);
    let response = casey
        .post(
            &format!("/api/v1/patients/{patient}/doses"),
            &json!({"batch_id": batch, "amount": grams, "unit": "g", "taken_at": taken_at.to_string(), "confirm_backdated": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "logging a dose");
    response.json().await.unwrap()
}

fn phq9(item9: u8) -> Value {
    let mut answers = serde_json::Map::new();
    for item in 1..=8 {
        answers.insert(item.to_string(), json!(2));
    }
    answers.insert("9".into(), json!(item9));
    Value::Object(answers)
}

async fn rebuilt_summaries_agree_with_those_kept_through_corrections_deletions_and_reviews(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let leaf = product(&casey, json!({"name": "Leaf", "form": "leaf_powder"})).await;
    let leaf = leaf["id"].as_str().unwrap();
    let assayed = batch(&casey, leaf, json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}})).await;
    let assayed = assayed["id"].as_str().unwrap();
    let other = batch(&casey, leaf, json!({"lot": "unknown"})).await;
    let other = other["id"].as_str().unwrap();

    // 3 g (58.5 mg) corrected to 1.5 g (29.25 mg); 2 g (39 mg) kept; a dose of the
    // other batch deleted.
    let first = log(&casey, &patient, assayed, 3.0, 30).await;
    log(&casey, &patient, assayed, 2.0, 2).await;
    let removed = log(&casey, &patient, other, 1.0, 50).await;
    let doses = format!("/api/v1/patients/{patient}/doses");
    let corrected = casey
        .put(
            &format!("{doses}/{}", first["id"].as_str().unwrap()),
            &json!({"reason": "meant 1.5 g", "dose": {"batch_id": assayed, "amount": 1.5, "unit": "g", "taken_at": first["taken_at"]}}),
        )
        .await;
    assert_eq!(corrected.status(), StatusCode::OK);
    let deleted = casey
        .send(
            Method::DELETE,
            &format!("{doses}/{}", removed["id"].as_str().unwrap()),
            Some(&json!({"reason": "wrong patient"})),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);

    // Two PHQ-9s: the first raises an urgent alert, which is then acknowledged.
    let assessments = format!("/api/v1/patients/{patient}/assessments");
    let submitted = dana
        .post(
            &assessments,
            &json!({"instrument": "phq9", "answers": phq9(1)}),
        )
        .await;
    assert_eq!(submitted.status(), StatusCode::CREATED);
    let submitted: Value = submitted.json().await.unwrap();
    let alert = submitted["alerts"][0]["id"].as_str().unwrap().to_owned();
    let latest = dana
        .post(
            &assessments,
            &json!({"instrument": "phq9", "answers": phq9(0)}),
        )
        .await;
    assert_eq!(latest.status(), StatusCode::CREATED);
    let latest: Value = latest.json().await.unwrap();
    let acknowledged = casey
        .post(
            &format!("/api/v1/alerts/{alert}/acknowledge"),
            &json!({"comment": "Called Dana"}),
        )
        .await;
    assert_eq!(acknowledged.status(), StatusCode::OK);

    let kept = app.store.summary_snapshot().await.expect("summaries");
    let micrograms: i64 = kept.day_totals.iter().map(|d| d.2).sum();
    let count: i64 = kept.day_totals.iter().map(|d| d.4).sum();
    assert_eq!((micrograms, count), (68_250, 2), "{kept:?}");
    let grams: i64 = kept.batch_days.iter().map(|b| b.3).sum();
    assert_eq!(grams, 3_500_000, "only the assayed batch's 3.5 g remain");
    assert!(
        kept.batch_days.iter().all(|b| b.2.to_string() == assayed),
        "the deleted dose's batch has no row left: {kept:?}"
    );
    let phq = &kept.latest_results[0];
    assert_eq!(phq.instrument, "phq9");
    assert_eq!(
        phq.assessment_id.to_string(),
        latest["id"].as_str().unwrap()
    );
    assert!(phq.previous_assessment_id.is_some());
    let (_, last_check_in, urgent, _, _, acknowledged) = kept.patients[0];
    assert!(last_check_in.is_some());
    assert_eq!((urgent, acknowledged), (0, 1));

    let report = app.store.rebuild_summaries().await.expect("rebuild");
    assert!(!report.changed, "{report:?}");
    assert_eq!(report.patients, 1);
    assert_eq!(app.store.summary_snapshot().await.expect("summaries"), kept);
}
