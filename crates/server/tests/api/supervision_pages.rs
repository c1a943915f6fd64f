//! The clinician's roster and alert pages over real HTTP: who may open them, what
//! they show, and that the decision forms record an audited acknowledgement.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, create_patient, on_both_backends, post_form};

on_both_backends!(
    the_roster_ranks_a_patient_with_an_urgent_alert_first_and_only_clinicians_see_it,
    the_inbox_page_shows_evidence_and_guidance_and_answers_others_with_403,
    acknowledging_from_the_alert_page_records_the_comment_and_lowers_the_urgent_count,
    resolving_from_the_page_without_a_comment_shows_the_form_again_with_the_error,
);

async fn page(client: &Client, path: &str) -> (StatusCode, String) {
    let response = client.get(path).await;
    (response.status(), response.text().await.unwrap())
}

fn phq9_with_item9() -> Value {
    let mut answers = serde_json::Map::new();
    for item in 1..=9 {
        answers.insert(item.to_string(), json!(1));
    }
    json!({"instrument": "phq9", "answers": answers})
}

struct Setup {
    casey: Client,
    robin: Client,
    admin: Client,
    patient_client: Client,
    /// Has an open urgent PHQ-9 item 9 alert.
    urgent: String,
    alert: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    create_patient(&casey, "Quiet Patient").await;
    let (urgent, patient_client) = app.patient_with_login(&casey, "Zed Urgent").await;
    let response = patient_client
        .post(
            &format!("/api/v1/patients/{urgent}/assessments"),
            &phq9_with_item9(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    Setup {
        casey,
        robin,
        admin: clinic.admin,
        patient_client,
        urgent,
        alert: body["alerts"][0]["id"].as_str().unwrap().to_owned(),
    }
}

async fn the_roster_ranks_a_patient_with_an_urgent_alert_first_and_only_clinicians_see_it(
    app: TestApp,
) {
    let s = setup(&app).await;
    let (status, html) = page(&s.casey, "/roster").await;
    assert_eq!(status, StatusCode::OK);
    let zed = html
        .find("Zed Urgent")
        .expect("the urgent patient is listed");
    let quiet = html
        .find("Quiet Patient")
        .expect("the quiet patient is listed");
    assert!(
        zed < quiet,
        "alphabetically last, but the urgent alert puts Zed first"
    );
    assert!(html.contains("1 urgent"));
    assert!(html.contains(&format!("/patients/{}/timeline", s.urgent)));
    assert!(
        html.contains(r#"data-testid="urgent-count""#),
        "the urgent count is on the page"
    );
    for (who, client) in [("patient", &s.patient_client), ("admin", &s.admin)] {
        let response = client.get("/roster").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who} on /roster");
    }
    // Robin is on no care team: an empty roster, not someone else's patients.
    let (status, html) = page(&s.robin, "/roster").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Zed Urgent"));
}

async fn the_inbox_page_shows_evidence_and_guidance_and_answers_others_with_403(app: TestApp) {
    let s = setup(&app).await;
    let (status, html) = page(&s.casey, "/alerts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("PHQ-9 item 9"), "the rule's title");
    assert!(html.contains("What to consider"));
    assert!(html.contains("instruments.md"), "the source it cites");
    assert!(
        html.contains("Several days"),
        "the evidence: the answer given"
    );
    let (status, html) = page(&s.casey, &format!("/alerts/{}", s.alert)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No one has acknowledged this alert yet"));
    let (_, record) = page(&s.casey, &format!("/patients/{}", s.urgent)).await;
    assert!(
        record.contains("Safety alerts needing a decision (1)")
            && record.contains(&format!("/alerts/{}", s.alert)),
        "the patient record lists the open alert"
    );
    for (who, client, path, want) in [
        (
            "patient",
            &s.patient_client,
            "/alerts".to_owned(),
            StatusCode::FORBIDDEN,
        ),
        (
            "patient",
            &s.patient_client,
            format!("/alerts/{}", s.alert),
            StatusCode::FORBIDDEN,
        ),
        (
            "clinician off the team",
            &s.robin,
            format!("/alerts/{}", s.alert),
            StatusCode::FORBIDDEN,
        ),
        (
            "admin",
            &s.admin,
            "/alerts".to_owned(),
            StatusCode::FORBIDDEN,
        ),
        (
            "clinician",
            &s.casey,
            "/alerts/not-an-id".to_owned(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let response = client.get(&path).await;
        assert_eq!(response.status(), want, "{who} on {path}");
    }
    let anonymous = app.anonymous().get("/alerts").await;
    assert_eq!(
        anonymous.status(),
        StatusCode::SEE_OTHER,
        "signing in comes first"
    );
}

async fn acknowledging_from_the_alert_page_records_the_comment_and_lowers_the_urgent_count(
    app: TestApp,
) {
    let s = setup(&app).await;
    let (_, before) = page(&s.casey, "/roster").await;
    assert!(before.contains(
        r#"data-testid="urgent-count" title="Open urgent alerts across your patients">1<"#
    ));
    let response = post_form(
        &s.casey,
        &format!("/alerts/{}/acknowledge", s.alert),
        &[
            ("comment", "Phoned; safety plan agreed"),
            ("return_to", "https://evil.example/"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/alerts?saved=acknowledged",
        "only local paths are followed"
    );
    let (_, html) = page(&s.casey, &format!("/alerts/{}", s.alert)).await;
    assert!(html.contains("Phoned; safety plan agreed"));
    assert!(html.contains("Casey Doe"));
    let (_, after) = page(&s.casey, "/roster").await;
    assert!(after.contains(r#"title="No open urgent alerts">0<"#));
    // Only clinicians decide, on pages as in the API.
    let response = post_form(
        &s.patient_client,
        &format!("/alerts/{}/resolve", s.alert),
        &[("comment", "I am fine")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let alert = s
        .casey
        .get_json(&format!("/api/v1/alerts/{}", s.alert))
        .await;
    assert_eq!(alert["status"], "acknowledged");
}

async fn resolving_from_the_page_without_a_comment_shows_the_form_again_with_the_error(
    app: TestApp,
) {
    let s = setup(&app).await;
    let response = post_form(
        &s.casey,
        &format!("/alerts/{}/resolve", s.alert),
        &[("comment", "")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("say what was done or decided")
            || html.contains("Say what was done or decided")
    );
    let alert = s
        .casey
        .get_json(&format!("/api/v1/alerts/{}", s.alert))
        .await;
    assert_eq!(alert["status"], "open");
}
