//! The signed plan on the patient's pages (issue 12 items 5 and 6): today's target on
//! home, the question before a dose above the plan's maximum, and the target on the
//! timeline.

use jiff::{Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{Value, json};
use speciosa_app::store::SignPlan;
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::{BatchId, PatientId, UserId};
use speciosa_core::plan::{
    AssumedBatch, GeneratorInput, PlanFieldsInput, SlotInput, content_digest, parse_content,
    parse_schedule,
};

use crate::helpers::{Client, TestApp, location, on_both_backends, post_form};
use crate::products::{batch, product};

on_both_backends!(
    home_shows_todays_target_in_capsules_and_slots_and_what_was_logged,
    without_a_plan_home_and_the_timeline_show_nothing_of_one,
    a_dose_above_the_plans_maximum_is_asked_about_then_logged_as_taken,
    the_timeline_draws_the_plan_target_and_each_days_status,
);

struct Setup {
    casey: Client,
    dana: Client,
    patient: String,
    /// Capsules of 0.5 g at 50 mg/g: 25 mg of mitragynine each.
    capsules: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let caps = product(
        &casey,
        json!({"name": "Calm Caps", "form": "capsule", "unit_mass_g": 0.5}),
    )
    .await;
    let lot = batch(
        &casey,
        caps["id"].as_str().unwrap(),
        json!({"lot": "C7", "assay": {"mitragynine_mg_per_g": 50.0}}),
    )
    .await;
    Setup {
        casey,
        dana,
        patient,
        capsules: lot["id"].as_str().unwrap().to_owned(),
    }
}

/// The patient's today (the test patients live in America/Chicago).
fn today() -> jiff::civil::Date {
    Timestamp::now()
        .to_zoned_datetime(jiff::tz::db().get("America/Chicago").unwrap())
        .date()
}

fn entry(action: &str, by: UserId, patient: PatientId, id: String) -> AuditEntry {
    AuditEntry {
        actor_user_id: Some(by),
        actor_role: Some(speciosa_core::account::Role::Clinician),
        organization_id: None,
        action: action.into(),
        resource_type: "plan".into(),
        resource_id: Some(id),
        patient_id: Some(patient),
        outcome: Outcome::Success,
        client_addr: Some("test".into()),
        detail: None,
    }
}

impl Setup {
    /// Signs a taper that began three days ago: 3 capsules a day (2 at 08:00, 1 at the
    /// 21:30 bedtime slot), 25 mg less each week; at most 50 mg a dose and 100 mg a day.
    async fn sign_plan(&self, app: &TestApp) {
        let patient: PatientId = self.patient.parse().unwrap();
        let by: UserId = self.casey.user["id"].as_str().unwrap().parse().unwrap();
        let start = today().checked_sub(3.days()).unwrap();
        let schedule = parse_schedule(
            &GeneratorInput {
                kind: "fixed_amount".into(),
                start_mg: Some(75.0),
                amount_mg: Some(25.0),
                interval_days: Some(7),
                start_date: start.to_string(),
                ..Default::default()
            },
            Some(&[
                SlotInput {
                    time: "08:00".into(),
                    share: Some(0.667),
                    bedtime: false,
                },
                SlotInput {
                    time: "21:30".into(),
                    share: Some(0.333),
                    bedtime: true,
                },
            ]),
            Some(AssumedBatch {
                batch_id: self.capsules.parse::<BatchId>().unwrap(),
                label: "Calm Caps, lot C7".into(),
                unit: "capsule".into(),
                mg_per_unit: 25.0,
            }),
            Some(1.0),
        )
        .expect("a schedule");
        let content = parse_content(
            &PlanFieldsInput {
                kind: "taper".into(),
                per_dose_max_mg: Some(50.0),
                per_day_max_mg: Some(100.0),
                rationale: "Agreed with Dana".into(),
                ..Default::default()
            },
            schedule,
        )
        .expect("a plan");
        let organization = app
            .store
            .get_patient(patient)
            .await
            .unwrap()
            .unwrap()
            .organization_id;
        let draft = app
            .store
            .insert_plan_draft(organization, patient, &content, by, |id, _| {
                entry("plan.create", by, patient, id.to_string())
            })
            .await
            .expect("a draft");
        let digest = content_digest(&draft.content_json);
        app.store
            .sign_plan(
                SignPlan {
                    id: draft.id,
                    by,
                    statement: "I approve this plan.",
                    content_sha256: &digest,
                    start_gate_note: None,
                },
                entry("plan.sign", by, patient, draft.id.to_string()),
            )
            .await
            .expect("signed");
    }

    async fn log_capsules(&self, count: u32) {
        let response = self
            .dana
            .post(
                &format!("/api/v1/patients/{}/doses", self.patient),
                &json!({"batch_id": self.capsules, "amount": count, "unit": "capsule", "confirm_unusual_amount": true}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "logging {count}");
    }

    async fn doses(&self) -> Vec<Value> {
        self.casey
            .get_json(&format!("/api/v1/patients/{}/doses", self.patient))
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    async fn submit_dose(&self, amount: &str, confirm: Option<&str>) -> reqwest::Response {
        let key = uuid::Uuid::now_v7().to_string();
        let mut fields = vec![
            ("batch_id", self.capsules.as_str()),
            ("amount", amount),
            ("unit", "capsule"),
            ("taken_at", ""),
            ("idempotency_key", key.as_str()),
        ];
        if let Some(value) = confirm {
            fields.push(("confirm_above_plan", value));
        }
        post_form(
            &self.dana,
            &format!("/patients/{}/doses", self.patient),
            &fields,
        )
        .await
    }
}

async fn page(client: &Client, path: &str) -> String {
    let response = client.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    unescape(&response.text().await.unwrap())
}

fn unescape(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

async fn home_shows_todays_target_in_capsules_and_slots_and_what_was_logged(app: TestApp) {
    let s = setup(&app).await;
    s.sign_plan(&app).await;
    let home = page(&s.dana, "/home").await;
    assert!(
        home.contains("Today: 2 capsules at 08:00 and 1 at 21:30 (bedtime)"),
        "{home}"
    );
    assert!(home.contains("75 mg of mitragynine in all"), "{home}");
    let next = today()
        .checked_add(4.days())
        .unwrap()
        .strftime("%A %-d %B")
        .to_string();
    assert!(
        home.contains(&format!(
            "From {next}: 1 capsule at 08:00 and 1 at 21:30 (bedtime)"
        )),
        "the next step, its date and target: {home}"
    );
    assert!(home.contains("Logged so far today: <strong>nothing yet"));
    s.log_capsules(1).await;
    let home = page(&s.dana, "/home").await;
    assert!(home.contains("25 mg of mitragynine, from 1 dose"), "{home}");
    assert!(home.contains("about 1 capsule of the plan's product"));
    assert!(!home.contains("above today's plan"));
    // More than the plan: said plainly, and the API takes it without a flag (201).
    s.log_capsules(3).await;
    let home = page(&s.dana, "/home").await;
    assert!(
        home.contains("100 mg of mitragynine, from 2 doses"),
        "{home}"
    );
    assert!(
        home.contains("Today's log is above today's plan")
            && home.contains("your care team can see it"),
        "{home}"
    );
    let lower = home.to_lowercase();
    for nudge in ["left to take", "still to take", "remaining", "take more"] {
        assert!(!lower.contains(nudge), "home never prompts a dose: {nudge}");
    }
}

async fn without_a_plan_home_and_the_timeline_show_nothing_of_one(app: TestApp) {
    let s = setup(&app).await;
    s.log_capsules(1).await;
    let home = page(&s.dana, "/home").await;
    assert!(home.contains("Hello, Dana Reyes"));
    assert!(!home.contains("plan-today") && !home.contains("Your plan"));
    let timeline = page(&s.casey, &format!("/patients/{}/timeline", s.patient)).await;
    assert!(timeline.contains("Mitragynine (MG), mg per day"));
    assert!(!timeline.contains("dc-line plan") && !timeline.contains("Plan target"));
    assert!(!timeline.contains("id=\"plan\""));
    // Nothing is asked about a dose without a plan.
    let response = s.submit_dose("6", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

async fn a_dose_above_the_plans_maximum_is_asked_about_then_logged_as_taken(app: TestApp) {
    let s = setup(&app).await;
    s.sign_plan(&app).await;
    // Within both maxima: logged at once.
    let response = s.submit_dose("1", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(s.doses().await.len(), 1);
    // 3 capsules are 75 mg, above the 50 mg a dose: asked first, nothing saved.
    let response = s.submit_dose("3", None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unescape(&response.text().await.unwrap());
    assert!(html.contains("Is this right?"), "{html}");
    assert!(html.contains("3 capsules is about 75 mg of mitragynine."));
    assert!(html.contains("Your plan's most for one dose is 50 mg."));
    assert!(
        !html.contains("most for one day"),
        "25 + 75 mg is within the 100 mg a day"
    );
    assert!(html.contains("Yes, 3 capsules is what was taken: log it"));
    assert!(html.contains("value=\"3\""), "the form keeps the amount");
    assert_eq!(
        s.doses().await.len(),
        1,
        "nothing is saved before the answer"
    );
    let marker = "name=\"confirm_above_plan\" type=\"checkbox\" value=\"";
    let start = html.find(marker).expect("a confirmation box") + marker.len();
    let signature = html[start..][..html[start..].find('"').unwrap()].to_owned();
    // A confirmation of another amount does not count.
    let response = s.submit_dose("4", Some(&signature)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Confirmed: logged as it was taken.
    let response = s.submit_dose("3", Some(&signature)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).contains("saved=logged"));
    let doses = s.doses().await;
    assert_eq!(doses.len(), 2);
    assert!(doses.iter().any(|d| d["amount"] == json!(3.0)), "{doses:?}");
    // One more capsule brings the day to 125 mg, above its 100 mg.
    let response = s.submit_dose("1", None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unescape(&response.text().await.unwrap());
    assert!(
        html.contains(
            "With it, today's logged total comes to 125 mg; your plan's most for one day is 100 mg."
        ),
        "{html}"
    );
    let checks = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "plan.dose_check")
        .count();
    assert!(checks >= 4, "each check reads the plan and is audited");
}

async fn the_timeline_draws_the_plan_target_and_each_days_status(app: TestApp) {
    let s = setup(&app).await;
    s.sign_plan(&app).await;
    // Two days ago: 3 capsules, on plan. Yesterday: 5 capsules (125 mg), over.
    for (days_ago, count) in [(2, 3), (1, 5)] {
        let at = Timestamp::now() - jiff::SignedDuration::from_hours(24 * days_ago);
        let response = s
            .dana
            .post(
                &format!("/api/v1/patients/{}/doses", s.patient),
                &json!({"batch_id": s.capsules, "amount": count, "unit": "capsule", "taken_at": at.to_string(), "confirm_unusual_amount": true}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let path = format!("/patients/{}/timeline?days=14", s.patient);
    let staff = page(&s.casey, &path).await;
    assert!(staff.contains("class=\"dc-line plan\""), "the target line");
    assert!(
        staff.contains("class=\"dc-line plan-step\""),
        "the plan's start"
    );
    assert!(staff.contains("Plan target (signed plan, mg per day)"));
    assert!(staff.contains("Plan: planned versus logged, per day"));
    assert!(staff.contains("The signed plan's daily target is drawn as a step line."));
    // Statuses in words, not only colours: in the key, the tooltips and the table.
    assert!(staff.contains("Above the plan: 1 day"), "{staff}");
    assert!(staff.contains("planned 75 mg, logged 125 mg: Above the plan"));
    assert!(staff.contains("planned 75 mg, logged 75 mg: On plan"));
    assert!(staff.contains("Nothing logged: 1 day"), "three days ago");
    assert!(staff.contains("<th scope=\"col\">Planned (mg)</th>"));
    let own = page(&s.dana, &path).await;
    assert!(own.contains("Your plan and what you logged"));
    assert!(own.contains("Plan target (mg per day)"));
}
