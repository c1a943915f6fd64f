//! Safety rules over HTTP: each fires from the write that feeds it before the write's
//! response, lands in the care team's inbox, never duplicates an open condition, and
//! leaves only through a recorded, audited human decision.

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use speciosa_server::ServerConfig;

use crate::helpers::{Client, TestApp, create_patient, on_both_backends, problem};
use crate::products::{batch, product};

on_both_backends!(
    a_red_flag_check_in_reaches_the_inbox_and_is_acknowledged_with_an_audited_comment,
    only_clinicians_on_the_care_team_may_acknowledge_or_resolve,
    a_second_positive_phq9_folds_into_the_open_alert_until_someone_acknowledges_it,
    resolving_needs_a_comment_and_a_resolved_alert_cannot_change,
    five_doses_a_day_on_three_days_raises_one_dosing_frequency_alert,
    a_quarter_more_mitragynine_than_the_week_before_raises_dose_escalation,
    a_pregnant_patient_logging_kratom_raises_an_urgent_alert,
    a_dose_of_a_recalled_batch_raises_a_product_quality_alert,
    cows_of_thirteen_raises_withdrawal_rising_and_twelve_does_not,
    a_depressant_on_the_medication_list_while_kratom_is_logged_raises_a_combination_alert,
    a_check_in_three_days_old_raises_missed_checkins,
    the_scheduled_check_finds_time_based_conditions_without_any_write,
    the_inbox_filters_by_status_and_lists_urgent_alerts_first,
);

struct Setup {
    clinic: crate::helpers::Clinic,
    casey: Client,
    patient: String,
    patient_client: Client,
    /// 19.5 mg/g mitragynine, 0.1 mg/g 7-OH.
    leaf: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, patient_client) = app.patient_with_login(&casey, "Dana Reyes").await;
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
        clinic,
        casey,
        patient,
        patient_client,
        leaf: leaf["id"].as_str().unwrap().to_owned(),
    }
}

impl Setup {
    /// Logs `grams` of the characterized leaf `hours_ago`, as the clinician.
    async fn dose(&self, grams: f64, hours_ago: i64) {
        self.dose_of(&self.leaf, grams, hours_ago).await;
    }

    async fn dose_of(&self, batch: &str, grams: f64, hours_ago: i64) {
        let taken_at = Timestamp::now() - SignedDuration::from_hours(hours_ago);
        let response = self
            .casey
            .post(
                &format!("/api/v1/patients/{}/doses", self.patient),
                &json!({"batch_id": batch, "amount": grams, "unit": "g", "taken_at": taken_at.to_string(), "confirm_backdated": true}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "logging a dose");
    }

    async fn submit(&self, client: &Client, instrument: &str, answers: Value) -> Value {
        let response = client
            .post(
                &format!("/api/v1/patients/{}/assessments", self.patient),
                &json!({"instrument": instrument, "answers": answers}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "submitting {instrument}"
        );
        response.json().await.unwrap()
    }

    /// The patient's alerts of one rule, as the care team sees them.
    async fn alerts(&self, rule: &str) -> Vec<Value> {
        self.casey
            .get_json(&format!("/api/v1/patients/{}/alerts", self.patient))
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == rule)
            .cloned()
            .collect()
    }

    async fn inbox(&self, status: &str) -> Vec<Value> {
        self.casey
            .get_json(&format!("/api/v1/alerts?status={status}"))
            .await
            .as_array()
            .unwrap()
            .clone()
    }
}

fn phq9(item9: u8) -> Value {
    let mut answers = serde_json::Map::new();
    for item in 1..=8 {
        answers.insert(item.to_string(), json!(1));
    }
    answers.insert("9".into(), json!(item9));
    Value::Object(answers)
}

async fn a_red_flag_check_in_reaches_the_inbox_and_is_acknowledged_with_an_audited_comment(
    app: TestApp,
) {
    let s = setup(&app).await;
    // "No" to every item on the checklist but item 2, a seizure.
    let checklist = s.casey.get_json("/api/v1/instruments/red_flags").await;
    let mut answers = serde_json::Map::new();
    for item in checklist["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        answers.insert(id.to_owned(), json!(if id == "2" { 1 } else { 0 }));
    }
    let submitted = s
        .submit(&s.patient_client, "red_flags", Value::Object(answers))
        .await;
    assert_eq!(submitted["alerts"][0]["rule"], "red_flag_symptom");
    assert!(
        submitted["crisis_resources"].is_object(),
        "the patient is shown who to contact"
    );

    let inbox = s.inbox("open").await;
    let alert = inbox
        .iter()
        .find(|a| a["rule"] == "red_flag_symptom")
        .expect("the alert is in the care team's inbox");
    assert_eq!(alert["severity"], "urgent");
    assert_eq!(alert["patient_name"], "Dana Reyes");
    assert!(
        alert["evidence"]["items"][0]["text"]
            .as_str()
            .unwrap()
            .contains("seizure"),
        "the evidence names the symptom: {alert}"
    );
    assert!(
        alert["guidance"]["source"]
            .as_str()
            .unwrap()
            .contains("pharmacology.md")
    );

    let id = alert["id"].as_str().unwrap();
    let response = s
        .casey
        .post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            &json!({"comment": "Called Dana; seen in clinic today"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let acknowledged: Value = response.json().await.unwrap();
    assert_eq!(acknowledged["status"], "acknowledged");
    assert_eq!(acknowledged["acknowledged_by"], s.casey.id());

    assert!(s.inbox("open").await.iter().all(|a| a["id"] != id));
    let detail = s.casey.get_json(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(detail["actions"][0]["action"], "acknowledge");
    assert_eq!(
        detail["actions"][0]["comment"],
        "Called Dana; seen in clinic today"
    );

    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    for step in [
        "assessment.create",
        "alert.raise",
        "alert.inbox",
        "alert.acknowledge",
    ] {
        assert!(
            actions.iter().any(|a| a == step),
            "{step} is audited: {actions:?}"
        );
    }
}

async fn only_clinicians_on_the_care_team_may_acknowledge_or_resolve(app: TestApp) {
    let s = setup(&app).await;
    s.submit(&s.casey, "phq9", phq9(2)).await;
    let id = s.alerts("phq9_item9").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clinic = &s.clinic;
    let robin = app.staff(clinic, "clinician", "Robin Roe").await;
    let elsewhere = app.clinic("Southside").await;
    let fran = app.staff(&elsewhere, "clinician", "Fran Foreign").await;
    let body = json!({"comment": "seen"});
    for (who, client, status) in [
        ("the patient", &s.patient_client, StatusCode::FORBIDDEN),
        (
            "a clinician off the care team",
            &robin,
            StatusCode::FORBIDDEN,
        ),
        (
            "a clinician in another clinic",
            &fran,
            StatusCode::NOT_FOUND,
        ),
        ("the clinic admin", &clinic.admin, StatusCode::FORBIDDEN),
    ] {
        for action in ["acknowledge", "resolve"] {
            let response = client
                .post(&format!("/api/v1/alerts/{id}/{action}"), &body)
                .await;
            assert_eq!(response.status(), status, "{who} trying to {action}");
        }
    }
    assert_eq!(
        s.alerts("phq9_item9").await[0]["status"],
        "open",
        "nothing changed"
    );
    let refused = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, outcome, _)| action == "alert.acknowledge" && outcome == "denied")
        .count();
    assert_eq!(refused, 4, "every refusal is audited");
    let inbox = s.patient_client.get("/api/v1/alerts?status=open").await;
    problem(inbox, StatusCode::FORBIDDEN).await;
}

async fn a_second_positive_phq9_folds_into_the_open_alert_until_someone_acknowledges_it(
    app: TestApp,
) {
    let s = setup(&app).await;
    s.submit(&s.patient_client, "phq9", phq9(1)).await;
    let second = s.submit(&s.patient_client, "phq9", phq9(3)).await;
    assert_eq!(
        second["alerts"][0]["rule"], "phq9_item9",
        "the response names the standing alert"
    );
    let alerts = s.alerts("phq9_item9").await;
    assert_eq!(
        alerts.len(),
        1,
        "no duplicate while one is open: {alerts:?}"
    );
    assert_eq!(alerts[0]["occurrences"], 2);
    assert_eq!(alerts[0]["last_evidence"]["items"][0]["answer"], 3.0);
    assert_eq!(
        alerts[0]["evidence"]["items"][0]["answer"], 1.0,
        "the first evidence is kept"
    );

    let id = alerts[0]["id"].as_str().unwrap();
    s.casey
        .post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            &json!({"comment": "safety plan"}),
        )
        .await;
    s.submit(&s.patient_client, "phq9", phq9(1)).await;
    let alerts = s.alerts("phq9_item9").await;
    assert_eq!(
        alerts.len(),
        2,
        "a new answer after acknowledgement is a new alert"
    );
    assert_eq!(alerts.iter().filter(|a| a["status"] == "open").count(), 1);
    // A PHQ-9 with item 9 at 0 raises nothing.
    s.submit(&s.patient_client, "phq9", phq9(0)).await;
    assert_eq!(s.alerts("phq9_item9").await.len(), 2);
}

async fn resolving_needs_a_comment_and_a_resolved_alert_cannot_change(app: TestApp) {
    let s = setup(&app).await;
    s.submit(&s.casey, "phq9", phq9(1)).await;
    let id = s.alerts("phq9_item9").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = s
        .casey
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            &json!({"comment": "  "}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "comment");

    let response = s
        .casey
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            &json!({"comment": "Seen; no current intent"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let resolved: Value = response.json().await.unwrap();
    assert_eq!(resolved["status"], "resolved");
    assert!(
        resolved["acknowledged_at"].is_string(),
        "resolving records that it was seen"
    );

    // A retry of the same decision is idempotent; a different one is a conflict.
    let retry = s
        .casey
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            &json!({"comment": "Seen; no current intent"}),
        )
        .await;
    assert_eq!(retry.status(), StatusCode::OK);
    let late = s
        .casey
        .post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            &json!({"comment": "late"}),
        )
        .await;
    problem(late, StatusCode::CONFLICT).await;
    let detail = s.casey.get_json(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(
        detail["actions"].as_array().unwrap().len(),
        1,
        "the retry recorded nothing new"
    );
}

async fn five_doses_a_day_on_three_days_raises_one_dosing_frequency_alert(app: TestApp) {
    let s = setup(&app).await;
    // Five doses on each of three recent days, an hour apart from 10:00 patient-local
    // (Chicago), so each day's five fall on one date whatever the time the test runs.
    let zone = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let now = Timestamp::now();
    let today = now.to_zoned_datetime(zone.clone()).date();
    for day in 2..5 {
        let date = today - jiff::Span::new().days(day);
        for dose in 0..5 {
            let at = zone
                .to_ambiguous_timestamp(date.at(10 + dose as i8, 0, 0, 0))
                .compatible()
                .unwrap();
            s.dose(1.0, (now - at).as_hours()).await;
        }
    }
    let alerts = s.alerts("dosing_frequency").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["severity"], "warning");
    assert_eq!(alerts[0]["evidence"]["days_with_5_or_more"], 3);
    s.dose(1.0, 1).await;
    assert_eq!(
        s.alerts("dosing_frequency").await.len(),
        1,
        "the same condition does not duplicate"
    );
}

async fn a_quarter_more_mitragynine_than_the_week_before_raises_dose_escalation(app: TestApp) {
    let s = setup(&app).await;
    // 10 g the week before (195 mg), then 12 g (+20 %): not yet.
    s.dose(10.0, 10 * 24).await;
    s.dose(12.0, 2 * 24).await;
    assert!(s.alerts("dose_escalation").await.is_empty());
    // 12.5 g in the last week is +25 %.
    s.dose(0.5, 1).await;
    let alerts = s.alerts("dose_escalation").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["evidence"]["increase_percent"], 25.0);
}

async fn a_pregnant_patient_logging_kratom_raises_an_urgent_alert(app: TestApp) {
    let s = setup(&app).await;
    s.dose(2.0, 3).await;
    assert!(s.alerts("pregnancy_exposure").await.is_empty());
    let response = s
        .casey
        .put(
            &format!("/api/v1/patients/{}", s.patient),
            &json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14", "time_zone": "America/Chicago", "sex_at_birth": "female", "pregnancy_status": "pregnant"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let alerts = s.alerts("pregnancy_exposure").await;
    assert_eq!(alerts.len(), 1, "recording the pregnancy runs the rules");
    assert_eq!(alerts[0]["severity"], "urgent");
}

async fn a_dose_of_a_recalled_batch_raises_a_product_quality_alert(app: TestApp) {
    let s = setup(&app).await;
    let response = s
        .casey
        .patch(
            &format!("/api/v1/batches/{}", s.leaf),
            &json!({"recalled": true, "recall_reason": "Salmonella"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    s.dose(2.0, 1).await;
    let alerts = s.alerts("product_quality").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["evidence"]["flags"][0]["code"], "recalled");
    assert_eq!(alerts[0]["source_type"], "dose");
}

mod recalls {
    use super::*;

    on_both_backends!(recalling_a_batch_alerts_the_care_teams_of_its_recent_users_at_once);

    async fn recalling_a_batch_alerts_the_care_teams_of_its_recent_users_at_once(app: TestApp) {
        let s = setup(&app).await;
        s.dose(2.0, 30).await;
        assert!(s.alerts("product_quality").await.is_empty());
        let response = s
            .casey
            .patch(
                &format!("/api/v1/batches/{}", s.leaf),
                &json!({"recalled": true, "recall_reason": "Lead"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let alerts = s.alerts("product_quality").await;
        assert_eq!(
            alerts.len(),
            1,
            "raised by the recall itself, not the next dose"
        );
        assert!(alerts[0]["summary"].as_str().unwrap().contains("recalled"));
    }
}

async fn cows_of_thirteen_raises_withdrawal_rising_and_twelve_does_not(app: TestApp) {
    let s = setup(&app).await;
    // Eleven items summing to 11 + the anxiety item (whose options are 0, 1, 2, 4).
    let cows = |anxiety: u8| json!({"1": 2, "2": 2, "3": 1, "4": 2, "5": 1, "6": 1, "7": 1, "8": 0, "9": 1, "10": anxiety, "11": 0});
    let twelve = s.submit(&s.casey, "cows", cows(1)).await;
    assert_eq!(twelve["total"], 12.0);
    assert!(s.alerts("withdrawal_rising").await.is_empty());
    let thirteen = s.submit(&s.casey, "cows", cows(2)).await;
    assert_eq!(thirteen["total"], 13.0);
    assert_eq!(
        thirteen["alerts"][0]["rule"], "withdrawal_rising",
        "the rule ran before the response"
    );
    assert_eq!(s.alerts("withdrawal_rising").await.len(), 1);
}

async fn a_depressant_on_the_medication_list_while_kratom_is_logged_raises_a_combination_alert(
    app: TestApp,
) {
    let s = setup(&app).await;
    let path = format!("/api/v1/patients/{}/medications", s.patient);
    let sertraline = s
        .casey
        .post(
            &path,
            &json!({"name": "Sertraline", "class": "antidepressant"}),
        )
        .await;
    assert_eq!(sertraline.status(), StatusCode::CREATED);
    s.dose(2.0, 5).await;
    assert!(s.alerts("cns_depressant_combination").await.is_empty());
    let response = s
        .casey
        .post(&path, &json!({"name": "Alprazolam", "class": "Benzodiazepines", "dose": "0.5 mg as needed", "start_date": "2026-11-01"}))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "common spellings are understood"
    );
    let medication: Value = response.json().await.unwrap();
    assert_eq!(medication["cns_depressant"], true);
    assert_eq!(medication["class"], "benzodiazepine");
    assert_eq!(medication["started_on"], "2026-11-01");
    assert_eq!(medication["dose_text"], "0.5 mg as needed");
    let alerts = s.alerts("cns_depressant_combination").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["source_type"], "medication");
    assert_eq!(alerts[0]["evidence"]["medication"], "Alprazolam");
    let bad = s
        .casey
        .post(&path, &json!({"name": "x", "class": "sedative"}))
        .await;
    let body = problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "class");
}

async fn a_check_in_three_days_old_raises_missed_checkins(app: TestApp) {
    let s = setup(&app).await;
    let three_days_ago = Timestamp::now() - SignedDuration::from_hours(73);
    let response = s
        .patient_client
        .post(
            &format!("/api/v1/patients/{}/assessments", s.patient),
            &json!({"instrument": "craving", "answers": {"1": 4}, "completed_at": three_days_ago.to_string()}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let alerts = s.alerts("missed_checkins").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["severity"], "info");
    // Checking in today does not close it: only a person does.
    s.submit(&s.patient_client, "craving", json!({"1": 2}))
        .await;
    assert_eq!(s.alerts("missed_checkins").await[0]["status"], "open");
}

async fn the_scheduled_check_finds_time_based_conditions_without_any_write(app: TestApp) {
    let s = setup(&app).await;
    // Written behind the rules' back, as if time had passed since the last check-in.
    let patient: speciosa_core::ids::PatientId = s.patient.parse().unwrap();
    let stored = app.store.get_patient(patient).await.unwrap().unwrap();
    app.store
        .insert_assessment(
            &speciosa_app::store::NewAssessment {
                organization_id: stored.organization_id,
                patient_id: patient,
                instrument: "craving".into(),
                answers: [(
                    "1".to_owned(),
                    speciosa_core::instrument::Answer::Number(3.0),
                )]
                .into(),
                total: Some(3.0),
                band: None,
                metrics: None,
                completed_at: Timestamp::now() - SignedDuration::from_hours(24 * 5),
                entered_by: stored.user_id.unwrap(),
            },
            |_| Vec::new(),
            |id| speciosa_core::audit::AuditEntry {
                actor_user_id: None,
                actor_role: None,
                organization_id: Some(stored.organization_id),
                action: "assessment.create".into(),
                resource_type: "assessment".into(),
                resource_id: Some(id.to_string()),
                patient_id: Some(patient),
                outcome: speciosa_core::audit::Outcome::Success,
                client_addr: None,
                detail: Some("test fixture".into()),
            },
        )
        .await
        .unwrap();
    assert!(
        s.alerts("missed_checkins").await.is_empty(),
        "no write ran the rules"
    );
    // A second server on the same database, checking every 200 ms.
    let _checker = app
        .sibling(ServerConfig {
            safety_check_interval: std::time::Duration::from_millis(200),
            ..ServerConfig::default()
        })
        .await;
    let mut found = Vec::new();
    for _ in 0..100 {
        found = s.alerts("missed_checkins").await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1, "the schedule raised it");
    // Later passes see the same condition and leave it be.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(s.alerts("missed_checkins").await.len(), 1);
    assert_eq!(s.alerts("missed_checkins").await[0]["occurrences"], 1);
    let scheduled = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _, p)| {
            action == "alert.raise" && p.as_deref() == Some(s.patient.as_str())
        })
        .count();
    assert_eq!(scheduled, 1);
}

async fn the_inbox_filters_by_status_and_lists_urgent_alerts_first(app: TestApp) {
    let s = setup(&app).await;
    let other = create_patient(&s.casey, "Sam Whitfield").await;
    // A warning first, then an urgent one for another patient.
    let cows = json!({"1": 4, "2": 4, "3": 5, "4": 5, "5": 4, "6": 4, "7": 5, "8": 4, "9": 4, "10": 4, "11": 5});
    s.submit(&s.casey, "cows", cows).await;
    let response = s
        .casey
        .post(
            &format!("/api/v1/patients/{other}/assessments"),
            &json!({"instrument": "phq9", "answers": phq9(1)}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let open = s.inbox("open").await;
    let rules: Vec<&str> = open.iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["phq9_item9", "withdrawal_rising"]);
    let id = open[0]["id"].as_str().unwrap();
    s.casey
        .post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            &json!({"comment": "ok"}),
        )
        .await;
    assert_eq!(s.inbox("open").await.len(), 1);
    assert_eq!(s.inbox("acknowledged").await.len(), 1);
    assert_eq!(s.inbox("unresolved").await.len(), 2);
    assert_eq!(s.inbox("all").await.len(), 2);
    let urgent = s
        .casey
        .get_json("/api/v1/alerts?status=all&severity=urgent")
        .await;
    assert_eq!(urgent.as_array().unwrap().len(), 1);
    let bad = s.casey.get("/api/v1/alerts?status=closed").await;
    let body = problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "status");
}

mod crisis_contacts {
    use super::*;

    on_both_backends!(withdrawal_rising_alone_does_not_send_the_patient_to_crisis_contacts);

    async fn withdrawal_rising_alone_does_not_send_the_patient_to_crisis_contacts(app: TestApp) {
        let s = setup(&app).await;
        let sows = |value: u8| {
            let mut answers = serde_json::Map::new();
            for item in 1..=16 {
                answers.insert(item.to_string(), json!(value));
            }
            Value::Object(answers)
        };
        s.submit(&s.patient_client, "sows", sows(0)).await;
        let worse = s.submit(&s.patient_client, "sows", sows(1)).await;
        assert_eq!(
            worse["alerts"][0]["rule"], "withdrawal_rising",
            "SOWS up 16"
        );
        assert!(
            worse.get("crisis_resources").is_none(),
            "a warning for the care team is not a crisis for the patient: {worse}"
        );
    }
}
