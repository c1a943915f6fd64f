//! The plan rules over HTTP: a dose over the signed plan's maxima is logged as taken and
//! raises `dose_above_plan`; withdrawal after a step down raises one
//! `withdrawal_after_step` alert per step, proposing a hold or a step back.

use jiff::civil::{Date, time};
use jiff::{SignedDuration, Span, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use speciosa_app::store::SignPlan;
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::{PatientId, PlanId, UserId};
use speciosa_core::plan::{
    DoseSlot, ExactStep, GeneratorParams, HoldSettings, PlanContent, PlanKind, Schedule,
    content_digest,
};

use crate::helpers::{Client, TestApp, location, on_both_backends, post_form};
use crate::products::{batch, product};

on_both_backends!(
    a_dose_over_the_plans_maxima_is_logged_and_raises_dose_above_plan_for_the_dose_and_the_day,
    sows_rising_after_a_step_down_proposes_a_hold_and_cows_of_25_turns_it_into_a_step_back,
);

struct Setup {
    casey: Client,
    patient: String,
    /// 19.5 mg/g mitragynine.
    leaf: String,
    today: Date,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, _) = app.patient_with_login(&casey, "Dana Reyes").await;
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
    let record = app
        .store
        .get_patient(patient.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let today = Timestamp::now()
        .to_zoned_datetime(record.details.time_zone.to_zone())
        .date();
    Setup {
        casey,
        patient,
        leaf: leaf["id"].as_str().unwrap().to_owned(),
        today,
    }
}

fn audit(action: &str, patient: PatientId) -> AuditEntry {
    AuditEntry {
        actor_user_id: None,
        actor_role: None,
        organization_id: None,
        action: action.into(),
        resource_type: "plan".into(),
        resource_id: None,
        patient_id: Some(patient),
        outcome: Outcome::Success,
        client_addr: Some("test".into()),
        detail: None,
    }
}

impl Setup {
    fn day(&self, offset: i64) -> Date {
        self.today.checked_add(Span::new().days(offset)).unwrap()
    }

    /// Stores and signs a plan of `steps` (days from today, mg a day) as Casey.
    async fn sign_plan(
        &self,
        app: &TestApp,
        steps: &[(i64, f64)],
        per_dose_max_mg: f64,
        per_day_max_mg: f64,
    ) -> PlanId {
        let patient: PatientId = self.patient.parse().unwrap();
        let casey: UserId = self.casey.id().parse().unwrap();
        let organization = app
            .store
            .get_patient(patient)
            .await
            .unwrap()
            .unwrap()
            .organization_id;
        let content = PlanContent {
            kind: PlanKind::Taper,
            transition_to: None,
            schedule: Schedule {
                generator: GeneratorParams {
                    kind: "fixed_amount".into(),
                    start_mg: steps[0].1,
                    percent: None,
                    amount_mg: Some(20.0),
                    interval_days: 7,
                    min_mg: None,
                    end_mg: None,
                    start_date: self.day(steps[0].0),
                },
                steps: steps
                    .iter()
                    .map(|&(offset, daily_mg)| ExactStep {
                        from: self.day(offset),
                        daily_mg,
                    })
                    .collect(),
                slots: vec![DoseSlot {
                    time: time(8, 0, 0, 0),
                    share: 1.0,
                    bedtime: false,
                }],
                batch: None,
                round_to: None,
                adjustments: Vec::new(),
            },
            per_dose_max_mg,
            per_day_max_mg,
            rationale: "Agreed with the patient".into(),
            holds: HoldSettings::default(),
        };
        let draft = app
            .store
            .insert_plan_draft(organization, patient, &content, casey, |_, _| {
                audit("plan.create", patient)
            })
            .await
            .unwrap();
        let signed = app
            .store
            .sign_plan(
                SignPlan {
                    id: draft.id,
                    by: casey,
                    statement: "I approve this plan.",
                    content_sha256: &content_digest(&draft.content_json),
                    start_gate_note: None,
                },
                audit("plan.sign", patient),
            )
            .await
            .unwrap();
        signed.id
    }

    async fn dose(&self, grams: f64, hours_ago: i64) -> Value {
        let taken_at = Timestamp::now() - SignedDuration::from_hours(hours_ago);
        let response = self
            .casey
            .post(
                &format!("/api/v1/patients/{}/doses", self.patient),
                &json!({"batch_id": self.leaf, "amount": grams, "unit": "g", "taken_at": taken_at.to_string(), "confirm_backdated": true}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "a dose over the plan is logged as taken"
        );
        response.json().await.unwrap()
    }

    async fn submit(&self, instrument: &str, answers: Value, completed_at: Timestamp) -> Value {
        let response = self
            .casey
            .post(
                &format!("/api/v1/patients/{}/assessments", self.patient),
                &json!({"instrument": instrument, "answers": answers, "completed_at": completed_at.to_string()}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "submitting {instrument}"
        );
        response.json().await.unwrap()
    }

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
}

fn sows(value: u8) -> Value {
    let mut answers = serde_json::Map::new();
    for item in 1..=16 {
        answers.insert(item.to_string(), json!(value));
    }
    Value::Object(answers)
}

async fn a_dose_over_the_plans_maxima_is_logged_and_raises_dose_above_plan_for_the_dose_and_the_day(
    app: TestApp,
) {
    let s = setup(&app).await;
    let plan = s.sign_plan(&app, &[(-7, 100.0)], 40.0, 120.0).await;
    // 2 g is 39 mg: under the 40 mg dose maximum; two make 78 mg, under 120 a day.
    s.dose(2.0, 1).await;
    s.dose(2.0, 1).await;
    assert!(s.alerts("dose_above_plan").await.is_empty());
    // 3 g is 58.5 mg, and the day reaches 136.5 mg.
    s.dose(3.0, 1).await;
    let alerts = s.alerts("dose_above_plan").await;
    let mut kinds: Vec<&str> = alerts
        .iter()
        .map(|a| a["evidence"]["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["day", "dose"], "{alerts:?}");
    for alert in &alerts {
        assert_eq!(alert["severity"], "warning");
        assert_eq!(alert["evidence"]["plan_id"], plan.to_string());
    }
    let dose = alerts
        .iter()
        .find(|a| a["evidence"]["kind"] == "dose")
        .unwrap();
    assert_eq!(dose["evidence"]["per_dose_max_mg"], 40.0);
    assert!((dose["evidence"]["mitragynine_mg"].as_f64().unwrap() - 58.5).abs() < 1e-9);
    let day = alerts
        .iter()
        .find(|a| a["evidence"]["kind"] == "day")
        .unwrap();
    assert_eq!(day["evidence"]["per_day_max_mg"], 120.0);
    assert!((day["evidence"]["mitragynine_mg"].as_f64().unwrap() - 136.5).abs() < 1e-9);
}

async fn sows_rising_after_a_step_down_proposes_a_hold_and_cows_of_25_turns_it_into_a_step_back(
    app: TestApp,
) {
    let s = setup(&app).await;
    let plan = s
        .sign_plan(&app, &[(-10, 100.0), (-2, 80.0)], 100.0, 150.0)
        .await;
    // The last SOWS before the step is 12 days old, older than the week before the step
    // that the rule reads in bulk: it is still the baseline.
    let days_ago = |days: i64| Timestamp::now() - SignedDuration::from_hours(24 * days);
    s.submit("sows", sows(0), days_ago(12)).await;
    assert!(s.alerts("withdrawal_after_step").await.is_empty());
    let response = s.submit("sows", sows(1), Timestamp::now()).await;
    let rules: Vec<&str> = response["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"withdrawal_after_step"),
        "the rule ran before the response: {rules:?}"
    );
    let alerts = s.alerts("withdrawal_after_step").await;
    assert_eq!(alerts.len(), 1);
    let evidence = &alerts[0]["evidence"];
    assert_eq!(evidence["proposal"], "hold", "SOWS up 16, under twice 10");
    assert_eq!(evidence["plan_id"], plan.to_string());
    assert_eq!(evidence["step_on"], s.day(-2).to_string());
    assert_eq!(evidence["from_mg"], 100.0);
    assert_eq!(evidence["to_mg"], 80.0);
    assert_eq!(evidence["triggers"][0]["signal"], "sows");
    assert_eq!(evidence["triggers"][0]["rise"], 16.0);
    assert!(
        alerts[0]["summary"]
            .as_str()
            .unwrap()
            .contains("nothing changes until a clinician signs")
    );
    // Another SOWS as high: the same condition, nothing new.
    s.submit("sows", sows(1), Timestamp::now()).await;
    let alerts = s.alerts("withdrawal_after_step").await;
    assert_eq!(
        (alerts.len(), alerts[0]["occurrences"].as_i64()),
        (1, Some(1))
    );
    // COWS 25: moderately severe. The standing alert now proposes a step back.
    let cows = json!({"1": 4, "2": 4, "3": 3, "4": 2, "5": 4, "6": 4, "7": 2, "8": 1, "9": 1, "10": 0, "11": 0});
    let submitted = s.submit("cows", cows, Timestamp::now()).await;
    assert_eq!(submitted["total"], 25.0);
    let alerts = s.alerts("withdrawal_after_step").await;
    assert_eq!(alerts.len(), 1, "one alert for the step");
    assert_eq!(alerts[0]["occurrences"], 2);
    let latest = &alerts[0]["last_evidence"];
    assert_eq!(latest["proposal"], "step_back");
    assert_eq!(latest["triggers"][1]["signal"], "cows");
    assert_eq!(latest["triggers"][1]["total"], 25.0);

    // The alert page offers to draw the proposal into a draft; nothing changes until signed.
    let alert_id = alerts[0]["id"].as_str().unwrap();
    let page = s
        .casey
        .get(&format!("/alerts/{alert_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Draw the proposed change into the plan"));
    assert!(
        page.contains("value=\"step_back\" checked"),
        "the proposal is preselected"
    );
    let today = s.day(0).to_string();
    let drawn = post_form(
        &s.casey,
        &format!("/plans/{plan}/adjustments"),
        &[
            ("kind", "step_back"),
            ("on", &today),
            ("days", "7"),
            ("reason", "COWS 25"),
        ],
    )
    .await;
    assert_eq!(drawn.status(), StatusCode::SEE_OTHER);
    let draft_path = location(&drawn);
    let draft_id = draft_path.trim_start_matches("/plans/");
    let draft = s.casey.get_json(&format!("/api/v1/plans/{draft_id}")).await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["adjustments"][0]["kind"], "step_back");
    let draft_page = s.casey.get(&draft_path).await.text().await.unwrap();
    assert!(
        draft_page.contains(&format!("from {today} for 7 days: COWS 25")),
        "the version page lists the step back"
    );
    let planned: Vec<f64> = draft["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["planned_mg"].as_f64().unwrap())
        .collect();
    assert_eq!(
        planned,
        vec![100.0, 80.0, 100.0, 80.0],
        "back to 100 mg for a week, then 80 again"
    );
    let current = s
        .casey
        .get_json(&format!("/api/v1/patients/{}/plans/current", s.patient))
        .await;
    assert_eq!(
        current["id"],
        plan.to_string(),
        "the signed plan is unchanged"
    );
}
