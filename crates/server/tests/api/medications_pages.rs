//! The medication list (API and the record page's forms) and the patient's home page.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Client, TestApp, error_fields, location, on_both_backends, post_form, problem,
};
use crate::products::{batch, product};

on_both_backends!(
    a_depressant_with_kratom_logged_opens_one_alert_that_corrections_do_not_repeat,
    medication_fields_are_checked_and_patients_may_only_read_their_list,
    the_record_page_adds_stops_and_removes_medications_with_csrf_forms,
    the_home_page_shows_the_patient_what_is_due_their_streak_and_their_list,
);

struct Setup {
    casey: Client,
    dana: Client,
    patient: String,
    /// An assayed leaf batch (19.5 mg/g mitragynine).
    batch: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let leaf = product(&casey, json!({"name": "Leaf", "form": "leaf_powder"})).await;
    let lot = batch(
        &casey,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}}),
    )
    .await;
    Setup {
        casey,
        dana,
        patient,
        batch: lot["id"].as_str().unwrap().to_owned(),
    }
}

impl Setup {
    fn path(&self) -> String {
        format!("/api/v1/patients/{}/medications", self.patient)
    }

    async fn log_dose(&self, who: &Client, grams: f64) {
        let response = who
            .post(
                &format!("/api/v1/patients/{}/doses", self.patient),
                &json!({"batch_id": self.batch, "amount": grams, "unit": "g"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "logging a dose");
    }

    async fn add(&self, body: Value) -> Value {
        let response = self.casey.post(&self.path(), &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "adding {body}");
        response.json().await.unwrap()
    }

    /// The clinician's open alerts of the CNS-depressant rule.
    async fn open_combination_alerts(&self) -> Vec<Value> {
        let open = self.casey.get_json("/api/v1/alerts?status=open").await;
        open.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == "cns_depressant_combination")
            .cloned()
            .collect()
    }
}

async fn page(who: &Client, path: &str) -> (StatusCode, String) {
    let response = who.get(path).await;
    (response.status(), response.text().await.unwrap())
}

async fn a_depressant_with_kratom_logged_opens_one_alert_that_corrections_do_not_repeat(
    app: TestApp,
) {
    let s = setup(&app).await;
    s.log_dose(&s.dana, 2.0).await;
    let gabapentin = s
        .add(json!({"name": "Gabapentin", "class": "gabapentinoid", "dose_text": "300 mg three times a day", "started_on": "2025-06-01"}))
        .await;
    assert_eq!(gabapentin["cns_depressant"], true);
    assert_eq!(gabapentin["active"], true);
    let id = gabapentin["id"].as_str().unwrap();
    let alerts = s.open_combination_alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["source_id"], id);

    // Correcting the same entry re-runs the rules on the same condition: no second alert.
    let corrected = s
        .casey
        .put(
            &format!("{}/{id}", s.path()),
            &json!({"name": "Gabapentin", "class": "gabapentinoid", "dose_text": "300 mg twice a day", "started_on": "2025-06-01"}),
        )
        .await;
    assert_eq!(corrected.status(), StatusCode::OK);
    assert_eq!(s.open_combination_alerts().await.len(), 1);

    // A class that is not a depressant raises nothing.
    let sertraline = s
        .add(json!({"name": "Sertraline", "class": "antidepressant"}))
        .await;
    assert_eq!(sertraline["cns_depressant"], false);
    assert_eq!(s.open_combination_alerts().await.len(), 1);

    // Each entry is its own condition (the rule's scope is the entry), so a second
    // depressant entry, even of the same drug, stands as its own alert.
    let second = s
        .add(json!({"name": "Pregabalin", "class": "gabapentinoid"}))
        .await;
    let alerts = s.open_combination_alerts().await;
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().any(|a| a["source_id"] == second["id"]));
}

async fn medication_fields_are_checked_and_patients_may_only_read_their_list(app: TestApp) {
    let s = setup(&app).await;
    let unknown = s
        .casey
        .post(
            &s.path(),
            &json!({"name": "Something", "class": "sedative"}),
        )
        .await;
    let body = problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["class"]);

    let backwards = s
        .casey
        .post(
            &s.path(),
            &json!({"name": "Diazepam", "class": "benzodiazepine", "started_on": "2025-06-10", "stopped_on": "2025-06-01"}),
        )
        .await;
    let body = problem(backwards, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["stopped_on"]);

    let by_patient = s
        .dana
        .post(&s.path(), &json!({"name": "Melatonin", "class": "other"}))
        .await;
    problem(by_patient, StatusCode::FORBIDDEN).await;

    let added = s
        .add(json!({"name": "Diazepam", "class": "benzodiazepine"}))
        .await;
    let own = s.dana.get_json(&s.path()).await;
    assert_eq!(own[0]["name"], "Diazepam");

    let path = format!("{}/{}", s.path(), added["id"].as_str().unwrap());
    let no_reason = s
        .casey
        .send(Method::DELETE, &path, Some(&json!({"reason": " "})))
        .await;
    let body = problem(no_reason, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["reason"]);
    let removed = s
        .casey
        .send(
            Method::DELETE,
            &path,
            Some(&json!({"reason": "wrong patient"})),
        )
        .await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(s.dana.get_json(&s.path()).await, json!([]));
}

async fn the_record_page_adds_stops_and_removes_medications_with_csrf_forms(app: TestApp) {
    let s = setup(&app).await;
    let record = format!("/patients/{}", s.patient);
    let (status, html) = page(&s.casey, &record).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"medications-heading\""));
    assert!(html.contains("No medications are on the list."));

    // A refused form comes back with the message beside its field.
    let refused = post_form(
        &s.casey,
        &format!("{record}/medications"),
        &[
            ("name", "Diazepam"),
            ("class", "benzodiazepine"),
            ("started_on", "2025-06-10"),
            ("stopped_on", "2025-06-01"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"stopped_on-error\""), "{html}");
    assert!(html.contains("The stop date is before the start date"));
    assert!(html.contains("value=\"Diazepam\""), "typed values are kept");

    // With kratom logged, a depressant raises an alert, named in the notice.
    s.log_dose(&s.casey, 2.0).await;
    let added = post_form(
        &s.casey,
        &format!("{record}/medications"),
        &[
            ("name", "Gabapentin"),
            ("class", "gabapentinoid"),
            ("dose_text", "300 mg at night"),
            ("started_on", "2025-06-01"),
            ("stopped_on", ""),
        ],
    )
    .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let to = location(&added);
    assert!(
        to.starts_with(&format!("{record}?saved=medication-added&alerts=")),
        "{to}"
    );
    let (status, html) = page(&s.casey, &to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Medication added."));
    assert!(
        html.contains("A safety alert was raised: <a href=\"/alerts/"),
        "{html}"
    );
    assert!(html.contains("CNS depressant"));
    assert!(html.contains("300 mg at night"));
    assert!(html.contains("pharmacology.md §4"));

    let list = s
        .casey
        .get_json(&format!("/api/v1/patients/{}/medications", s.patient))
        .await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let entry = format!("{record}/medications/{id}");

    // A correction replaces every field, and re-saving the same entry raises nothing new.
    let corrected = post_form(
        &s.casey,
        &entry,
        &[
            ("intent", "edit"),
            ("name", "Gabapentin"),
            ("class", "gabapentinoid"),
            ("dose_text", "300 mg at night"),
            ("started_on", "2025-05-01"),
            ("stopped_on", ""),
        ],
    )
    .await;
    assert_eq!(corrected.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&corrected).ends_with("saved=medication-changed#medications-heading"),
        "{}",
        location(&corrected)
    );

    // Stopping needs a date; the refusal is shown on that entry's stop form.
    let undated = post_form(&s.casey, &entry, &[("intent", "stop"), ("stopped_on", "")]).await;
    assert_eq!(undated.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = undated.text().await.unwrap();
    assert!(
        html.contains(&format!("id=\"stop-stopped_on-{id}-error\"")),
        "{html}"
    );
    let stopped = post_form(
        &s.casey,
        &entry,
        &[("intent", "stop"), ("stopped_on", "2025-07-01")],
    )
    .await;
    assert_eq!(stopped.status(), StatusCode::SEE_OTHER);
    assert!(location(&stopped).contains("saved=medication-stopped"));
    let list = s
        .casey
        .get_json(&format!("/api/v1/patients/{}/medications", s.patient))
        .await;
    assert_eq!(list[0]["stopped_on"], "2025-07-01");
    assert_eq!(
        list[0]["dose_text"], "300 mg at night",
        "stopping keeps the rest"
    );

    let (_, html) = page(&s.casey, &location(&stopped)).await;
    assert!(html.contains("Stop date saved."));
    assert!(html.contains("Stopped"));

    // Entered in error needs a reason, then leaves the list.
    let unexplained = post_form(&s.casey, &format!("{entry}/remove"), &[("reason", "")]).await;
    assert_eq!(unexplained.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let removed = post_form(
        &s.casey,
        &format!("{entry}/remove"),
        &[("reason", "entered for the wrong patient")],
    )
    .await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&s.casey, &location(&removed)).await;
    assert!(html.contains("No medications are on the list."));

    // Without the form's token nothing is saved.
    let forged = s
        .casey
        .request(Method::POST, &format!("{record}/medications"))
        .form(&[("name", "Zolpidem"), ("class", "z_drug")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // The patient cannot use the forms.
    let by_patient = post_form(
        &s.dana,
        &format!("{record}/medications"),
        &[("name", "Zolpidem"), ("class", "z_drug")],
    )
    .await;
    assert_eq!(by_patient.status(), StatusCode::FORBIDDEN);
}

async fn the_home_page_shows_the_patient_what_is_due_their_streak_and_their_list(app: TestApp) {
    let s = setup(&app).await;
    s.add(json!({"name": "Sertraline", "class": "antidepressant", "dose_text": "50 mg daily"}))
        .await;
    let (status, html) = page(&s.dana, "/home").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Need help now?"));
    assert!(html.contains(&format!("/patients/{}/urgent", s.patient)));
    assert!(html.contains("href=\"tel:988\""));
    assert!(html.contains("Craving 0–10"), "the daily check-in is due");
    assert!(
        html.contains("No check-ins in the last 14 days yet"),
        "{html}"
    );
    assert!(html.contains("Sertraline"));
    assert!(
        !html.contains("Add medication"),
        "the list is read-only for patients"
    );

    // After today's craving rating and a dose, the streak counts today.
    let craving = s
        .dana
        .post(
            &format!("/api/v1/patients/{}/assessments", s.patient),
            &json!({"instrument": "craving", "answers": {"1": 4}}),
        )
        .await;
    assert_eq!(craving.status(), StatusCode::CREATED);
    s.log_dose(&s.dana, 2.5).await;
    let (_, html) = page(&s.dana, "/home").await;
    assert!(
        html.contains("<strong>1</strong> day in a row, including today"),
        "{html}"
    );
    assert!(html.contains("You checked in on 1 of the last 14 days."));
    assert!(html.contains("Your latest dose"));
    assert!(html.contains("2.5 g of Leaf"));
    assert!(html.contains(&format!("/patients/{}/doses/new#repeat-heading", s.patient)));

    // Home is the patient's page: staff are sent to their own start page, as before.
    let for_clinician = s.casey.get("/home").await;
    assert_eq!(for_clinician.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&for_clinician), "/roster");
}
