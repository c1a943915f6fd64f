//! Clinical monitoring over HTTP (issue 15): labs, ECGs, naloxone, overdoses and
//! non-prescribed opioid use, each followed by its rule before the response returns.

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Client, TestApp, error_fields, location, on_both_backends, post_form, problem,
};
use crate::products::{batch, product};

on_both_backends!(
    an_alt_above_five_times_its_limit_raises_liver_injury_before_the_response_returns,
    three_times_the_limit_with_liver_symptoms_at_check_in_raises_liver_injury,
    a_qtc_of_510_raises_qt_prolongation_and_a_normal_one_does_not,
    a_qtc_of_475_raises_qt_prolongation_only_with_methadone_on_the_list,
    an_overdose_the_patient_reports_is_an_urgent_alert_for_the_care_team,
    naloxone_not_on_hand_prompts_for_a_kratom_user_until_a_kit_is_recorded,
    monitoring_writes_name_each_field_they_refuse_and_patients_cannot_record_labs,
    a_racing_heartbeat_alone_is_a_warning_and_with_chest_pain_is_urgent,
    non_prescribed_opioid_use_at_check_in_tells_the_care_team,
    kratom_use_in_pregnancy_is_one_alert_that_is_not_restated_after_it_is_resolved,
    a_clinician_rates_kratom_use_disorder_on_the_dsm5_checklist,
    the_patient_keeps_naloxone_and_reports_an_overdose_from_their_phone,
    a_result_typed_with_a_decimal_comma_is_saved_and_a_wrong_unit_is_shown_again,
);

struct Setup {
    casey: Client,
    patient: String,
    dana: Client,
    leaf: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let leaf = product(
        &casey,
        json!({"name": "Characterized leaf", "form": "leaf_powder"}),
    )
    .await;
    let leaf = batch(
        &casey,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}}),
    )
    .await;
    Setup {
        casey,
        patient,
        dana,
        leaf: leaf["id"].as_str().unwrap().to_owned(),
    }
}

fn hours_ago(hours: i64) -> String {
    (Timestamp::now() - SignedDuration::from_hours(hours)).to_string()
}

impl Setup {
    fn path(&self, tail: &str) -> String {
        format!("/api/v1/patients/{}/{tail}", self.patient)
    }

    async fn created(&self, who: &Client, tail: &str, body: Value) -> Value {
        let response = who.post(&self.path(tail), &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "POST {tail}");
        response.json().await.unwrap()
    }

    async fn alerts(&self, rule: &str) -> Vec<Value> {
        self.casey
            .get_json(&self.path("alerts"))
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == rule)
            .cloned()
            .collect()
    }

    async fn dose(&self, grams: f64, hours: i64) {
        let response = self
            .casey
            .post(
                &self.path("doses"),
                &json!({"batch_id": self.leaf, "amount": grams, "unit": "g", "taken_at": hours_ago(hours), "confirm_backdated": true}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    /// The red-flag checklist with "yes" to `yes` and "no" to the rest.
    async fn red_flags(&self, yes: &[&str]) -> Value {
        let checklist = self.casey.get_json("/api/v1/instruments/red_flags").await;
        let mut answers = serde_json::Map::new();
        for item in checklist["items"].as_array().unwrap() {
            let id = item["id"].as_str().unwrap();
            answers.insert(id.to_owned(), json!(u8::from(yes.contains(&id))));
        }
        self.created(
            &self.dana,
            "assessments",
            json!({"instrument": "red_flags", "answers": answers}),
        )
        .await
    }
}

/// The rules of the alerts a write's response lists (an assessment without any leaves
/// the list out).
fn rules(response: &Value) -> Vec<String> {
    response["alerts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_owned())
        .collect()
}

fn alt(value: f64) -> Value {
    json!({"loinc": "1742-6", "value": value, "unit": "U/L", "reference_high": 40, "observed_at": hours_ago(2)})
}

async fn an_alt_above_five_times_its_limit_raises_liver_injury_before_the_response_returns(
    app: TestApp,
) {
    let s = setup(&app).await;
    let at_five = s.created(&s.casey, "lab-results", alt(200.0)).await;
    assert_eq!(at_five["times_upper_limit"], 5.0);
    assert!(rules(&at_five).is_empty(), "exactly 5 × is not above it");
    let above = s.created(&s.casey, "lab-results", alt(212.0)).await;
    assert_eq!(above["test"], "alt");
    assert_eq!(above["upper_limit_source"], "laboratory");
    assert_eq!(rules(&above), ["liver_injury_signal"]);
    let alerts = s.alerts("liver_injury_signal").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["severity"], "urgent");
    assert_eq!(alerts[0]["source_type"], "lab_result");
    let listed = s.casey.get_json(&s.path("monitoring")).await;
    assert_eq!(listed["lab_results"].as_array().unwrap().len(), 2);
    assert_eq!(listed["lab_results"][0]["loinc"], "1742-6");
}

async fn three_times_the_limit_with_liver_symptoms_at_check_in_raises_liver_injury(app: TestApp) {
    let s = setup(&app).await;
    let ast = json!({"loinc": "1920-8", "value": 130, "unit": "IU/L", "reference_high": 40, "observed_at": hours_ago(5)});
    let quiet = s.created(&s.casey, "lab-results", ast).await;
    assert!(rules(&quiet).is_empty(), "3.25 × without symptoms");
    let check_in = s.red_flags(&["6"]).await;
    assert!(rules(&check_in).contains(&"liver_injury_signal".to_owned()));
    assert!(
        !rules(&check_in).contains(&"red_flag_symptom".to_owned()),
        "itching is the liver rule's, not a general red flag"
    );
    let alert = &s.alerts("liver_injury_signal").await[0];
    let criteria = alert["evidence"]["criteria"].as_array().unwrap();
    assert!(criteria[0].as_str().unwrap().contains("with symptoms"));
}

async fn a_qtc_of_510_raises_qt_prolongation_and_a_normal_one_does_not(app: TestApp) {
    let s = setup(&app).await;
    let normal = s
        .created(
            &s.casey,
            "ecgs",
            json!({"qtc_ms": 430, "recorded_at": hours_ago(48)}),
        )
        .await;
    assert!(rules(&normal).is_empty());
    assert_eq!(normal["loinc"], "8636-3");
    let long = s
        .created(
            &s.casey,
            "ecgs",
            json!({"qtc_ms": 510, "recorded_at": hours_ago(1), "formula": "fridericia"}),
        )
        .await;
    assert_eq!(rules(&long), ["qt_prolongation"]);
    let alert = &s.alerts("qt_prolongation").await[0];
    assert_eq!(alert["evidence"]["qtc_ms"], 510);
    assert_eq!(alert["evidence"]["previous_qtc_ms"], 430);
    assert_eq!(alert["evidence"]["criteria"].as_array().unwrap().len(), 2);
}

async fn an_overdose_the_patient_reports_is_an_urgent_alert_for_the_care_team(app: TestApp) {
    let s = setup(&app).await;
    let reported = s
        .created(
            &s.dana,
            "overdoses",
            json!({"occurred_at": hours_ago(10), "substances": ["fentanyl", "kratom"], "naloxone_used": true, "emergency_care": true}),
        )
        .await;
    assert_eq!(reported["reported_by_patient"], true);
    assert!(rules(&reported).contains(&"overdose_event".to_owned()));
    let alerts = s.alerts("overdose_event").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["severity"], "urgent");
    assert_eq!(alerts[0]["evidence"]["naloxone_used"], true);
    // A second overdose is its own alert.
    s.created(
        &s.casey,
        "overdoses",
        json!({"occurred_at": hours_ago(2), "substances": [], "naloxone_used": false}),
    )
    .await;
    assert_eq!(s.alerts("overdose_event").await.len(), 2);
    assert!(
        !s.alerts("naloxone_not_on_hand").await.is_empty(),
        "an overdose is opioid exposure and naloxone was never recorded"
    );
}

async fn naloxone_not_on_hand_prompts_for_a_kratom_user_until_a_kit_is_recorded(app: TestApp) {
    let s = setup(&app).await;
    assert!(s.alerts("naloxone_not_on_hand").await.is_empty());
    s.dose(2.0, 3).await;
    let alerts = s.alerts("naloxone_not_on_hand").await;
    assert_eq!(alerts.len(), 1, "kratom in use and naloxone never recorded");
    assert_eq!(alerts[0]["severity"], "warning");
    let alert_path = format!("/api/v1/alerts/{}", alerts[0]["id"].as_str().unwrap());
    let resolved = s
        .casey
        .post(
            &format!("{alert_path}/resolve"),
            &json!({"comment": "Naloxone nasal spray given at the visit."}),
        )
        .await;
    assert_eq!(resolved.status(), StatusCode::OK);
    let kit = s
        .dana
        .put(
            &s.path("naloxone"),
            &json!({"on_hand": true, "form": "nasal_spray", "expires_on": "2099-12-31", "location": "Kitchen drawer"}),
        )
        .await;
    assert_eq!(kit.status(), StatusCode::OK);
    let kit: Value = kit.json().await.unwrap();
    assert_eq!(kit["location"], "Kitchen drawer");
    assert!(kit["alerts"].as_array().unwrap().is_empty());
    // An expired kit is a new prompt.
    let expired = s
        .casey
        .put(
            &s.path("naloxone"),
            &json!({"on_hand": true, "expires_on": "2025-01-31"}),
        )
        .await;
    let expired: Value = expired.json().await.unwrap();
    assert_eq!(rules(&expired), ["naloxone_not_on_hand"]);
    let open: Vec<Value> = s
        .alerts("naloxone_not_on_hand")
        .await
        .into_iter()
        .filter(|a| a["status"] == "open")
        .collect();
    assert_eq!(open.len(), 1);
    assert!(open[0]["summary"].as_str().unwrap().contains("expired"));
    assert_eq!(
        s.dana.get_json(&s.path("naloxone")).await["expires_on"],
        "2025-01-31"
    );
}

async fn monitoring_writes_name_each_field_they_refuse_and_patients_cannot_record_labs(
    app: TestApp,
) {
    let s = setup(&app).await;
    let bad = s
        .casey
        .post(
            &s.path("lab-results"),
            &json!({"loinc": "1742-6", "value": -3, "unit": "mg/dL", "observed_at": "yesterday"}),
        )
        .await;
    let fields = error_fields(&problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await);
    assert_eq!(fields, ["unit", "observed_at"]);
    let bad = s
        .casey
        .post(
            &s.path("ecgs"),
            &json!({"qtc_ms": 0.51, "recorded_at": hours_ago(1)}),
        )
        .await;
    let fields = error_fields(&problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await);
    assert_eq!(fields, ["qtc_ms"]);
    let bad = s
        .casey
        .post(
            &s.path("overdoses"),
            &json!({"occurred_at": "2999-01-01T00:00:00Z", "substances": [""]}),
        )
        .await;
    let fields = error_fields(&problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await);
    assert_eq!(fields, ["occurred_at", "substances[0]", "naloxone_used"]);
    let bad = s.casey.put(&s.path("naloxone"), &json!({})).await;
    let fields = error_fields(&problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await);
    assert_eq!(fields, ["on_hand"]);
    let own_lab = s.dana.post(&s.path("lab-results"), &alt(30.0)).await;
    problem(own_lab, StatusCode::FORBIDDEN).await;
}

async fn a_racing_heartbeat_alone_is_a_warning_and_with_chest_pain_is_urgent(app: TestApp) {
    let s = setup(&app).await;
    let alone = s.red_flags(&["8"]).await;
    assert_eq!(rules(&alone), ["racing_heartbeat"]);
    assert_eq!(alone["alerts"][0]["severity"], "warning");
    let with_pain = s.red_flags(&["8", "5"]).await;
    assert_eq!(rules(&with_pain), ["red_flag_symptom"]);
    assert_eq!(with_pain["alerts"][0]["severity"], "urgent");
}

async fn non_prescribed_opioid_use_at_check_in_tells_the_care_team(app: TestApp) {
    let s = setup(&app).await;
    let no = s
        .created(
            &s.dana,
            "assessments",
            json!({"instrument": "opioid_use", "answers": {"1": 0}}),
        )
        .await;
    assert!(rules(&no).is_empty());
    let yes = s
        .created(
            &s.dana,
            "assessments",
            json!({"instrument": "opioid_use", "answers": {"1": 1}}),
        )
        .await;
    let raised = rules(&yes);
    assert!(raised.contains(&"non_prescribed_opioid_use".to_owned()));
    assert!(
        raised.contains(&"naloxone_not_on_hand".to_owned()),
        "the report is opioid exposure: {raised:?}"
    );
}

async fn kratom_use_in_pregnancy_is_one_alert_that_is_not_restated_after_it_is_resolved(
    app: TestApp,
) {
    let s = setup(&app).await;
    let response = s
        .casey
        .put(
            &format!("/api/v1/patients/{}", s.patient),
            &json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14", "time_zone": "America/Chicago", "sex_at_birth": "female", "pregnancy_status": "pregnant", "breastfeeding_status": "no"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let saved: Value = response.json().await.unwrap();
    assert_eq!(saved["breastfeeding_status"], "no");
    let refused = s
        .casey
        .put(
            &format!("/api/v1/patients/{}", s.patient),
            &json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14", "time_zone": "America/Chicago", "breastfeeding_status": "sometimes"}),
        )
        .await;
    let fields = error_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await);
    assert_eq!(fields, ["breastfeeding_status"]);
    s.dose(2.0, 30).await;
    let alerts = s.alerts("pregnancy_exposure").await;
    assert_eq!(alerts.len(), 1);
    let path = format!(
        "/api/v1/alerts/{}/resolve",
        alerts[0]["id"].as_str().unwrap()
    );
    let resolved = s
        .casey
        .post(
            &path,
            &json!({"comment": "Obstetric and addiction co-management arranged."}),
        )
        .await;
    assert_eq!(resolved.status(), StatusCode::OK);
    s.dose(2.0, 2).await;
    let alerts = s.alerts("pregnancy_exposure").await;
    assert_eq!(alerts.len(), 1, "continuing use is the same condition");
    assert_eq!(alerts[0]["status"], "resolved");
}

async fn a_clinician_rates_kratom_use_disorder_on_the_dsm5_checklist(app: TestApp) {
    let s = setup(&app).await;
    let answers: serde_json::Map<String, Value> = (1..=11)
        .map(|i| (i.to_string(), json!(u8::from(i <= 6))))
        .collect();
    let rated = s
        .created(
            &s.casey,
            "assessments",
            json!({"instrument": "kud_dsm5", "answers": answers}),
        )
        .await;
    assert_eq!(rated["total"], 6.0);
    assert_eq!(rated["band"], "severe");
    let editor = text(&s.casey, &format!("/patients/{}/plans/new", s.patient)).await;
    assert!(
        editor.contains("Weiss &amp; Douglas 2021") && editor.contains("case-level evidence only"),
        "the plan editor shows the buprenorphine anchors as case-level evidence"
    );
    let instrument = s.casey.get_json("/api/v1/instruments/kud_dsm5").await;
    assert!(
        instrument["evidence"]
            .as_str()
            .unwrap()
            .contains("No kratom-validated instrument exists")
    );
}

async fn text(client: &Client, path: &str) -> String {
    let response = client.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.text().await.unwrap()
}

async fn the_patient_keeps_naloxone_and_reports_an_overdose_from_their_phone(app: TestApp) {
    let s = setup(&app).await;
    let home = text(&s.dana, "/home").await;
    assert!(home.contains("You have not told us whether you have naloxone."));
    assert!(
        home.contains("Call 911"),
        "the emergency number is on the home page"
    );
    let page = format!("/patients/{}/monitoring", s.patient);
    let saved = post_form(
        &s.dana,
        &format!("{page}/naloxone"),
        &[
            ("on_hand", "yes"),
            ("form", "nasal_spray"),
            ("expires_on", "2099-01-31"),
            ("location", "Bathroom cabinet"),
        ],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(location(&saved).contains("saved=naloxone"));
    let home = text(&s.dana, "/home").await;
    assert!(home.contains("Bathroom cabinet"));
    assert!(
        home.contains("Put the nozzle in one nostril"),
        "the nasal spray's steps"
    );
    // The time is typed as the phone's datetime-local field gives it, in her zone.
    let reported = post_form(
        &s.dana,
        &format!("{page}/overdoses"),
        &[
            ("occurred_at", "2026-11-28T23:40"),
            ("substances", "pills from a friend, kratom shot"),
            ("naloxone_used", "yes"),
            ("emergency_care", ""),
        ],
    )
    .await;
    assert_eq!(reported.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&reported).contains("overdose_event"),
        "{}",
        location(&reported)
    );
    let alert = &s.alerts("overdose_event").await[0];
    assert_eq!(alert["evidence"]["occurred_at"], "2026-11-29T05:40:00Z");
    assert_eq!(
        alert["evidence"]["substances"],
        json!(["pills from a friend", "kratom shot"])
    );
    let own = text(&s.dana, &location(&reported)).await;
    assert!(own.contains("Overdose recorded"), "{own}");
    assert!(!own.contains("Save result"), "patients do not record labs");
}

async fn a_result_typed_with_a_decimal_comma_is_saved_and_a_wrong_unit_is_shown_again(
    app: TestApp,
) {
    let s = setup(&app).await;
    let page = format!("/patients/{}/monitoring", s.patient);
    let refused = post_form(
        &s.casey,
        &format!("{page}/labs"),
        &[
            ("loinc", "1975-2"),
            ("value", "3,1"),
            ("unit", "mmol/L"),
            ("observed_at", "2026-11-30T08:15"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("is not a unit Total bilirubin is reported in"),
        "{body}"
    );
    assert!(body.contains("value=\"3,1\""), "the typed value is kept");
    let saved = post_form(
        &s.casey,
        &format!("{page}/labs"),
        &[
            ("loinc", "1975-2"),
            ("value", "3,1"),
            ("unit", "mg/dL"),
            ("reference_high", "1,2"),
            ("observed_at", "2026-11-30T08:15"),
        ],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let listed = s.casey.get_json(&s.path("monitoring")).await;
    assert_eq!(listed["lab_results"][0]["value"], 3.1);
    assert_eq!(listed["lab_results"][0]["reference_high"], 1.2);
    let shown = text(&s.casey, &page).await;
    assert!(shown.contains("3.1 mg/dL"), "{shown}");
}

async fn a_qtc_of_475_raises_qt_prolongation_only_with_methadone_on_the_list(app: TestApp) {
    let s = setup(&app).await;
    let quiet = s
        .created(
            &s.casey,
            "ecgs",
            json!({"qtc_ms": 475, "recorded_at": hours_ago(30)}),
        )
        .await;
    assert!(rules(&quiet).is_empty());
    s.created(&s.casey, "medications", json!({"name": "Methadone 60 mg"}))
        .await;
    let alerts = s.alerts("qt_prolongation").await;
    assert_eq!(alerts.len(), 1, "adding methadone re-runs the rules");
    let names = &alerts[0]["evidence"]["qt_prolonging_medications"];
    assert_eq!(names[0]["medication"], "Methadone 60 mg");
}
