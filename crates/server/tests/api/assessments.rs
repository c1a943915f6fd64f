use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, error_fields, on_both_backends, problem};

on_both_backends!(
    the_instrument_catalogue_lists_every_shipped_instrument,
    a_phq9_is_scored_and_banded_exactly_as_published,
    phq9_item_nine_above_zero_opens_an_urgent_alert_before_the_response,
    incomplete_or_impossible_answers_are_422_naming_the_items,
    cows_is_for_clinicians_and_peg3_totals_are_unrounded_means,
    auditc_applies_the_patients_sex_specific_cut_off,
    a_sleep_diary_gets_its_metrics_and_impossible_nights_are_refused,
    the_schedule_says_what_is_due_today_and_clinicians_set_it,
    every_assessment_exports_as_valid_fhir_r4,
    an_organization_sets_its_own_sows_bands_but_not_phq9s,
    red_flag_answers_open_one_urgent_alert_naming_each_symptom,
);

struct Setup {
    casey: Client,
    dana: Client,
    patient: String,
}

async fn setup(app: &TestApp, sex: &str) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let details = json!({"display_name": "Dana Reyes", "birth_date": "1988-04-12", "time_zone": "America/Chicago", "sex_at_birth": sex});
    assert_eq!(
        casey
            .put(&format!("/api/v1/patients/{patient}"), &details)
            .await
            .status(),
        StatusCode::OK
    );
    Setup {
        casey,
        dana,
        patient,
    }
}

fn numbered(values: &[f64]) -> Value {
    let map: serde_json::Map<String, Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| ((i + 1).to_string(), json!(v)))
        .collect();
    Value::Object(map)
}

impl Setup {
    fn path(&self) -> String {
        format!("/api/v1/patients/{}/assessments", self.patient)
    }

    async fn submit(&self, who: &Client, instrument: &str, answers: Value) -> reqwest::Response {
        who.post(
            &self.path(),
            &json!({"instrument": instrument, "answers": answers}),
        )
        .await
    }

    async fn created(&self, who: &Client, instrument: &str, answers: Value) -> Value {
        let response = self.submit(who, instrument, answers.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{instrument} {answers}"
        );
        response.json().await.unwrap()
    }
}

async fn the_instrument_catalogue_lists_every_shipped_instrument(app: TestApp) {
    let s = setup(&app, "female").await;
    let instruments = s.dana.get_json("/api/v1/instruments").await;
    let codes: Vec<&str> = instruments
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    for code in [
        "phq9",
        "gad7",
        "cows",
        "sows",
        "sleep_diary",
        "craving",
        "pain_nrs",
        "peg3",
        "auditc",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    let phq9 = s.dana.get_json("/api/v1/instruments/phq9").await;
    assert_eq!(phq9["loinc_total"], "44261-6");
    assert!(
        phq9["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == "difficulty" && i["scored"] == false)
    );
    assert!(phq9["attribution"].as_str().unwrap().len() > 10);
}

async fn a_phq9_is_scored_and_banded_exactly_as_published(app: TestApp) {
    let s = setup(&app, "female").await;
    let mut answers = numbered(&[2.0, 1.0, 3.0, 1.0, 0.0, 2.0, 1.0, 0.0, 0.0]);
    answers["difficulty"] = json!(1);
    let created = s.created(&s.dana, "phq9", answers).await;
    assert_eq!(created["total"], 10.0);
    assert_eq!(created["band"], "moderate");
    assert!(created["id"].is_string());
    let gad = s
        .created(
            &s.dana,
            "gad7",
            numbered(&[3.0, 3.0, 3.0, 3.0, 3.0, 0.0, 0.0]),
        )
        .await;
    assert_eq!(
        (gad["total"].as_f64(), gad["band"].as_str()),
        (Some(15.0), Some("severe"))
    );
    let history = s
        .casey
        .get_json(&format!("{}?instrument=phq9", s.path()))
        .await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["band_label"], created["band_label"]);
}

async fn phq9_item_nine_above_zero_opens_an_urgent_alert_before_the_response(app: TestApp) {
    let s = setup(&app, "female").await;
    let quiet = s
        .created(
            &s.dana,
            "phq9",
            numbered(&[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        )
        .await;
    assert!(quiet.get("alerts").is_none());
    let worrying = s
        .created(
            &s.dana,
            "phq9",
            numbered(&[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
        )
        .await;
    assert_eq!(worrying["alerts"][0]["rule"], "phq9_item9");
    let alerts = s
        .casey
        .get_json(&format!("/api/v1/patients/{}/alerts", s.patient))
        .await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    let alert = &alerts[0];
    assert_eq!(
        (
            alert["rule"].as_str(),
            alert["severity"].as_str(),
            alert["status"].as_str()
        ),
        (Some("phq9_item9"), Some("urgent"), Some("open"))
    );
    assert_eq!(alert["evidence"]["items"][0]["answer"], 1.0);
    assert_eq!(alert["source_id"], worrying["id"]);
    let contacts = worrying["crisis_resources"]["resources"].to_string();
    assert!(
        contacts.contains("988") && contacts.contains("911"),
        "{contacts}"
    );
}

async fn incomplete_or_impossible_answers_are_422_naming_the_items(app: TestApp) {
    let s = setup(&app, "female").await;
    let mut answers = numbered(&[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    answers["2"] = json!(7);
    let body = problem(
        s.submit(&s.dana, "phq9", answers).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&body), ["answers.2", "answers.9"]);
    let unknown = problem(
        s.submit(&s.dana, "isi", json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&unknown), ["instrument"]);
    assert!(
        s.casey
            .get_json(&s.path())
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was stored"
    );
}

async fn cows_is_for_clinicians_and_peg3_totals_are_unrounded_means(app: TestApp) {
    let s = setup(&app, "female").await;
    // Pulse 2 (101–120), sweating 1, restlessness 3, pupils 1, aches 2, rhinorrhoea 2, GI 2, tremor 1, yawning 1, anxiety 2, gooseflesh 0 = 17.
    let cows_answers = numbered(&[2.0, 1.0, 3.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 2.0, 0.0]);
    problem(
        s.submit(&s.dana, "cows", cows_answers.clone()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let cows = s.created(&s.casey, "cows", cows_answers).await;
    assert_eq!(
        (cows["total"].as_f64(), cows["band"].as_str()),
        (Some(17.0), Some("moderate"))
    );
    let peg = s.created(&s.dana, "peg3", numbered(&[7.0, 4.0, 5.0])).await;
    assert!(
        (peg["total"].as_f64().unwrap() - 16.0 / 3.0).abs() < 1e-12,
        "{peg}"
    );
}

async fn auditc_applies_the_patients_sex_specific_cut_off(app: TestApp) {
    let s = setup(&app, "male").await;
    let three = s
        .created(&s.dana, "auditc", numbered(&[2.0, 1.0, 0.0]))
        .await;
    assert_eq!(three["band"], "negative");
    let four = s
        .created(&s.dana, "auditc", numbered(&[2.0, 1.0, 1.0]))
        .await;
    assert_eq!(four["band"], "positive");
}

async fn a_sleep_diary_gets_its_metrics_and_impossible_nights_are_refused(app: TestApp) {
    let s = setup(&app, "female").await;
    let diary = |wake: &str, out: &str| json!({"1": "22:30", "2": "23:00", "3": 20, "4": 2, "5": 40, "6": wake, "7": out, "8": 4});
    let body = json!({"instrument": "sleep_diary", "answers": diary("06:30", "07:00"), "completed_at": "2026-11-20T07:30:00-06:00"});
    let response = s.dana.post(&s.path(), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let night: Value = response.json().await.unwrap();
    assert_eq!(night["total"], Value::Null);
    assert_eq!(night["metrics"]["time_in_bed_min"], 510.0);
    assert_eq!(night["metrics"]["total_sleep_time_min"], 390.0);
    let backwards = json!({"instrument": "sleep_diary", "answers": diary("07:00", "06:30"), "completed_at": "2026-11-21T07:30:00-06:00"});
    let refused = problem(
        s.dana.post(&s.path(), &backwards).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        refused["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("out of order"),
        "{refused}"
    );
}

async fn the_schedule_says_what_is_due_today_and_clinicians_set_it(app: TestApp) {
    let s = setup(&app, "female").await;
    let path = format!("/api/v1/patients/{}/schedule", s.patient);
    let due = |schedule: &Value, code: &str| -> (String, bool) {
        let item = schedule
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["instrument"] == code)
            .unwrap();
        (
            item["frequency"].as_str().unwrap().to_owned(),
            item["due"].as_bool().unwrap(),
        )
    };
    let fresh = s.dana.get_json(&path).await;
    assert_eq!(due(&fresh, "craving"), ("daily".to_owned(), true));
    assert_eq!(due(&fresh, "phq9"), ("weekly".to_owned(), true));
    assert_eq!(due(&fresh, "cows"), ("off".to_owned(), false));
    s.created(&s.dana, "craving", json!({"1": 4})).await;
    assert_eq!(
        due(&s.dana.get_json(&path).await, "craving"),
        ("daily".to_owned(), false)
    );

    problem(
        s.dana
            .put(&path, &json!({"frequencies": {"sows": "daily"}}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let refused = s
        .casey
        .put(
            &path,
            &json!({"frequencies": {"sows": "hourly", "isi": "daily"}}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["frequencies.isi", "frequencies.sows"]
    );
    let updated: Value = s
        .casey
        .put(
            &path,
            &json!({"frequencies": {"sows": "daily", "phq9": "off"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(due(&updated, "sows"), ("daily".to_owned(), true));
    assert_eq!(due(&updated, "phq9"), ("off".to_owned(), false));
}

async fn every_assessment_exports_as_valid_fhir_r4(app: TestApp) {
    let Some(python) = std::env::var_os("SPECIOSA_FHIR_PYTHON") else {
        assert!(
            std::env::var_os("SPECIOSA_REQUIRE_FHIR_VALIDATOR").is_none(),
            "SPECIOSA_FHIR_PYTHON is required"
        );
        eprintln!("skipped: set SPECIOSA_FHIR_PYTHON (scripts/test does) to validate FHIR output");
        return;
    };
    let s = setup(&app, "female").await;
    let phq9 = s
        .created(
            &s.dana,
            "phq9",
            numbered(&[2.0, 1.0, 3.0, 1.0, 0.0, 2.0, 1.0, 0.0, 0.0]),
        )
        .await;
    let cows = s
        .created(
            &s.casey,
            "cows",
            numbered(&[2.0, 1.0, 3.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 2.0, 0.0]),
        )
        .await;
    let body = json!({"instrument": "sleep_diary", "answers": {"1": "22:30", "2": "23:00", "3": 20, "4": 2, "5": 40, "6": "06:30", "7": "07:00", "8": 4, "9": "woke at 3"}, "completed_at": "2026-11-20T07:30:00-06:00"});
    let diary: Value = s.dana.post(&s.path(), &body).await.json().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for assessment in [&phq9, &cows, &diary] {
        let response = s
            .casey
            .get(&format!(
                "{}/{}/fhir",
                s.path(),
                assessment["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            "application/fhir+json"
        );
        let bundle: Value = response.json().await.unwrap();
        let file = dir.path().join(format!(
            "{}.json",
            assessment["instrument"].as_str().unwrap()
        ));
        std::fs::write(&file, serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
        files.push(file);
    }
    let phq9_bundle: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let observation = &phq9_bundle["entry"][1]["resource"];
    assert_eq!(observation["code"]["coding"][0]["code"], "44261-6");
    assert_eq!(observation["category"][0]["coding"][0]["code"], "survey");
    assert_eq!(observation["valueQuantity"]["value"], 10.0);
    let output = std::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/validate_fhir.py"
        ))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .matches("valid Bundle")
            .count(),
        3
    );
}

async fn an_organization_sets_its_own_sows_bands_but_not_phq9s(app: TestApp) {
    let s = setup(&app, "female").await;
    let before = s.created(&s.dana, "sows", numbered(&[1.0; 16])).await;
    assert_eq!(before["band"], Value::Null, "SOWS ships without bands");
    let bands = json!({"bands": [
        {"code": "mild", "label": "Mild", "min": 0, "max": 10},
        {"code": "moderate", "label": "Moderate", "min": 11, "max": 20},
        {"code": "severe", "label": "Severe", "min": 21, "max": 64}
    ]});
    problem(
        s.dana.put("/api/v1/instruments/sows/bands", &bands).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let set = s.casey.put("/api/v1/instruments/sows/bands", &bands).await;
    assert_eq!(set.status(), StatusCode::OK);
    let after = s.created(&s.dana, "sows", numbered(&[1.0; 16])).await;
    assert_eq!(
        (after["total"].as_f64(), after["band"].as_str()),
        (Some(16.0), Some("moderate"))
    );
    assert_eq!(
        s.dana.get_json("/api/v1/instruments/sows").await["bands"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let gap = json!({"bands": [{"code": "low", "label": "Low", "min": 0, "max": 10}, {"code": "high", "label": "High", "min": 12, "max": 64}]});
    assert_eq!(
        error_fields(
            &problem(
                s.casey.put("/api/v1/instruments/sows/bands", &gap).await,
                StatusCode::UNPROCESSABLE_ENTITY
            )
            .await
        ),
        ["bands"]
    );
    let phq9 = json!({"bands": [{"code": "all", "label": "All", "min": 0, "max": 27}]});
    problem(
        s.casey.put("/api/v1/instruments/phq9/bands", &phq9).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

async fn red_flag_answers_open_one_urgent_alert_naming_each_symptom(app: TestApp) {
    let s = setup(&app, "female").await;
    let calm = s
        .created(&s.dana, "red_flags", numbered(&[0.0, 0.0, 0.0, 0.0, 0.0]))
        .await;
    assert!(calm.get("alerts").is_none());
    let flagged = s
        .created(&s.dana, "red_flags", numbered(&[0.0, 1.0, 0.0, 1.0, 0.0]))
        .await;
    let alerts = flagged["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0]["rule"].as_str(), alerts[0]["severity"].as_str()),
        (Some("red_flag_symptom"), Some("urgent"))
    );
    let items: Vec<&str> = alerts[0]["evidence"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["2", "4"]);
}
