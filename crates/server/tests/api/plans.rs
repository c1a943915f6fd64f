//! Plans over the JSON API: preview, drafts, electronic signatures, versions, the
//! naltrexone start gate and planned-versus-taken days.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, PASSWORD, TestApp, error_fields, on_both_backends, problem};

on_both_backends!(a_preview_gives_each_steps_unrounded_target_and_its_predicted_levels);
on_both_backends!(a_preview_in_capsules_rounds_each_step_to_the_nearest_capsule_never_up);
on_both_backends!(a_draft_becomes_the_active_plan_only_when_signed_with_the_password);
on_both_backends!(a_patient_never_sees_a_draft_and_cannot_sign);
on_both_backends!(a_new_signed_version_supersedes_the_old_one_which_stays_readable);
on_both_backends!(a_draft_changes_only_in_the_fields_a_patch_names);
on_both_backends!(a_naltrexone_start_within_seven_days_of_kratom_needs_a_challenge_or_a_reason);
on_both_backends!(each_day_is_on_plan_over_under_or_not_logged_against_the_signed_target);
on_both_backends!(bad_plan_input_is_refused_naming_each_field);
on_both_backends!(a_hold_or_step_back_is_a_new_draft_that_changes_nothing_until_signed);

struct Setup {
    casey: Client,
    patient: String,
    patient_client: Client,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, patient_client) = app.patient_with_login(&casey, "Dana Reyes").await;
    Setup {
        casey,
        patient,
        patient_client,
    }
}

fn taper(start_date: &str) -> Value {
    json!({
        "kind": "taper",
        "generator": {"kind": "percent_of_original", "start_mg": 100, "percent": 25,
                      "interval_days": 7, "start_date": start_date},
        "slots": [{"time": "08:00", "share": 0.5}, {"time": "21:30", "share": 0.5, "bedtime": true}],
        "per_dose_max_mg": 60, "per_day_max_mg": 110,
        "rationale": "Agreed with the patient: a month's taper, weekly steps.",
    })
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    response.json().await.expect("json")
}

async fn sign(clinician: &Client, plan: &str) -> reqwest::Response {
    clinician
        .post(
            &format!("/api/v1/plans/{plan}/sign"),
            &json!({"password": PASSWORD, "statement": "I approve this plan."}),
        )
        .await
}

/// Today in the test patients' zone (America/Chicago).
fn chicago_today() -> Date {
    Timestamp::now().in_tz("America/Chicago").unwrap().date()
}

async fn a_preview_gives_each_steps_unrounded_target_and_its_predicted_levels(app: TestApp) {
    let s = setup(&app).await;
    let preview = json_of(
        s.casey
            .post(
                &format!("/api/v1/patients/{}/plans/preview", s.patient),
                &taper("2026-12-07"),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let steps = preview["steps"].as_array().unwrap();
    let targets: Vec<f64> = steps
        .iter()
        .map(|s| s["daily_mg"].as_f64().unwrap())
        .collect();
    assert_eq!(targets, vec![100.0, 75.0, 50.0, 25.0, 0.0]);
    let froms: Vec<&str> = steps.iter().map(|s| s["from"].as_str().unwrap()).collect();
    assert_eq!(
        froms,
        [
            "2026-12-07",
            "2026-12-14",
            "2026-12-21",
            "2026-12-28",
            "2027-01-04"
        ]
    );
    let troughs: Vec<f64> = steps
        .iter()
        .map(|s| s["predicted"]["trough_ng_ml"].as_f64().unwrap())
        .collect();
    for window in troughs.windows(2) {
        assert!(
            window[1] < window[0],
            "each step lowers the trough: {troughs:?}"
        );
    }
    let first = &steps[0]["predicted"];
    assert!(first["peak_ng_ml"].as_f64().unwrap() > first["trough_ng_ml"].as_f64().unwrap());
    let bedtime = first["bedtime_ng_ml"]
        .as_f64()
        .expect("a bedtime slot gives a bedtime level");
    assert!(first["band_5_ng_ml"].as_f64().unwrap() < bedtime);
    assert!(first["band_95_ng_ml"].as_f64().unwrap() > bedtime);
    assert!(steps[1]["trough_drop_percent"].as_f64().unwrap() > 0.0);
    assert_eq!(steps[0]["slots"][1]["bedtime"], true);
    assert!(!preview["curve"].as_array().unwrap().is_empty());
    assert!(
        preview["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("No kratom-specific taper rate")),
        "the preview says the rate is unsourced"
    );
}

async fn capsules(clinician: &Client) -> String {
    let product = json_of(
        clinician
            .post(
                "/api/v1/products",
                &json!({"name": "Caps", "form": "capsule", "unit_mass_g": 0.5}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let batch = json_of(
        clinician
            .post(
                &format!(
                    "/api/v1/products/{}/batches",
                    product["id"].as_str().unwrap()
                ),
                &json!({"lot": "C1", "assay": {"mitragynine_mg_per_g": 24.0}}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    batch["id"].as_str().unwrap().to_owned()
}

async fn a_preview_in_capsules_rounds_each_step_to_the_nearest_capsule_never_up(app: TestApp) {
    let s = setup(&app).await;
    // 0.5 g at 24 mg/g: 12 mg of mitragynine a capsule.
    let batch = capsules(&s.casey).await;
    let mut body = taper("2026-12-07");
    body["batch_id"] = json!(batch);
    body["round_to"] = json!(1);
    let preview = json_of(
        s.casey
            .post(
                &format!("/api/v1/patients/{}/plans/preview", s.patient),
                &body,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let steps = preview["steps"].as_array().unwrap();
    let units: Vec<f64> = steps
        .iter()
        .map(|s| s["daily_units"].as_f64().unwrap())
        .collect();
    // 100/12 = 8.33 → 8, 75/12 = 6.25 → 6, 50/12 = 4.17 → 4, 25/12 = 2.08 → 2, 0.
    assert_eq!(units, vec![8.0, 6.0, 4.0, 2.0, 0.0]);
    assert_eq!(steps[0]["unit"], "capsule");
    assert_eq!(
        steps[0]["daily_mg"], 100.0,
        "daily_mg stays the unrounded target"
    );
    assert!((steps[0]["exact_units"].as_f64().unwrap() - 100.0 / 12.0).abs() < 1e-9);
    let slot_units: Vec<f64> = steps[0]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["units"].as_f64().unwrap())
        .collect();
    assert_eq!(slot_units, vec![4.0, 4.0]);
}

async fn a_draft_becomes_the_active_plan_only_when_signed_with_the_password(app: TestApp) {
    let s = setup(&app).await;
    let created = json_of(
        s.casey
            .post(
                &format!("/api/v1/patients/{}/plans", s.patient),
                &taper("2026-11-02"),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["status"], "draft");
    assert_eq!(created["version"], 1);
    let plan = created["id"].as_str().unwrap().to_owned();
    let current = format!("/api/v1/patients/{}/plans/current", s.patient);
    problem(s.casey.get(&current).await, StatusCode::NOT_FOUND).await;

    let wrong = s
        .casey
        .post(
            &format!("/api/v1/plans/{plan}/sign"),
            &json!({"password": "not my password", "statement": "I approve this plan."}),
        )
        .await;
    let refused = problem(wrong, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&refused), ["password"]);
    let still = s.casey.get_json(&format!("/api/v1/plans/{plan}")).await;
    assert_eq!(still["status"], "draft");

    let signed = json_of(sign(&s.casey, &plan).await, StatusCode::OK).await;
    assert_eq!(signed["status"], "signed");
    let signature = &signed["signature"];
    assert_eq!(signature["statement"], "I approve this plan.");
    assert_eq!(signature["signed_by"], s.casey.id());
    let digest = signature["content_sha256"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()));

    let active = s.casey.get_json(&current).await;
    assert_eq!(active["id"], plan.as_str());
    let patched = s
        .casey
        .patch(
            &format!("/api/v1/plans/{plan}"),
            &json!({"per_day_max_mg": 200}),
        )
        .await;
    problem(patched, StatusCode::CONFLICT).await;
    let unknown = s
        .casey
        .patch(&format!("/api/v1/plans/{plan}"), &json!({"steps": []}))
        .await;
    problem(unknown, StatusCode::CONFLICT).await;
    let again = s.casey.get_json(&format!("/api/v1/plans/{plan}")).await;
    assert_eq!(
        again["per_day_max_mg"], 110.0,
        "a signed plan never changes"
    );
    problem(sign(&s.casey, &plan).await, StatusCode::CONFLICT).await;

    let events = app
        .store
        .list_audit_events(&speciosa_app::store::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("audit events");
    assert!(
        events.iter().any(|e| e.action == "plan.sign"
            && e.outcome == "success"
            && e.detail.as_deref().is_some_and(|d| d.contains(digest))),
        "the signature is audited with its digest"
    );
}

async fn a_patient_never_sees_a_draft_and_cannot_sign(app: TestApp) {
    let s = setup(&app).await;
    let plan = json_of(
        s.casey
            .post(
                &format!("/api/v1/patients/{}/plans", s.patient),
                &taper("2026-11-02"),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = &s.patient_client;
    problem(
        me.get(&format!("/api/v1/patients/{}/plans/current", s.patient))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        me.get(&format!("/api/v1/plans/{plan}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let history = me
        .get_json(&format!("/api/v1/patients/{}/plans", s.patient))
        .await;
    assert_eq!(history, json!([]));
    let attempt = me
        .post(
            &format!("/api/v1/plans/{plan}/sign"),
            &json!({"password": PASSWORD, "statement": "I approve my plan."}),
        )
        .await;
    problem(attempt, StatusCode::FORBIDDEN).await;
    let preview = me
        .post(
            &format!("/api/v1/patients/{}/plans/preview", s.patient),
            &taper("2026-11-02"),
        )
        .await;
    problem(preview, StatusCode::FORBIDDEN).await;

    sign(&s.casey, &plan).await;
    let mine = me
        .get_json(&format!("/api/v1/patients/{}/plans/current", s.patient))
        .await;
    assert_eq!(mine["id"], plan.as_str());
    assert_eq!(mine["status"], "signed");
}

async fn a_new_signed_version_supersedes_the_old_one_which_stays_readable(app: TestApp) {
    let s = setup(&app).await;
    let path = format!("/api/v1/patients/{}/plans", s.patient);
    let first = json_of(
        s.casey.post(&path, &taper("2026-11-02")).await,
        StatusCode::CREATED,
    )
    .await;
    let first = first["id"].as_str().unwrap().to_owned();
    sign(&s.casey, &first).await;
    let mut slower = taper("2026-11-16");
    slower["generator"]["percent"] = json!(10);
    let second = json_of(s.casey.post(&path, &slower).await, StatusCode::CREATED).await;
    assert_eq!(second["version"], 2);
    let second = second["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.casey.get_json(&format!("{path}/current")).await["id"],
        first.as_str(),
        "a draft does not replace the active plan"
    );
    let signed = json_of(sign(&s.casey, &second).await, StatusCode::OK).await;
    assert_eq!(signed["supersedes"], first.as_str());
    let old = s.casey.get_json(&format!("/api/v1/plans/{first}")).await;
    assert_eq!(old["status"], "superseded");
    assert_eq!(old["generator"]["percent"], 25.0);
    assert_eq!(
        s.casey.get_json(&format!("{path}/current")).await["id"],
        second.as_str()
    );
    let history = s.casey.get_json(&path).await;
    let statuses: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["signed", "superseded"]);
}

async fn a_draft_changes_only_in_the_fields_a_patch_names(app: TestApp) {
    let s = setup(&app).await;
    let batch = capsules(&s.casey).await;
    let mut body = taper("2026-11-02");
    body["batch_id"] = json!(batch);
    body["round_to"] = json!(1);
    let plan = json_of(
        s.casey
            .post(&format!("/api/v1/patients/{}/plans", s.patient), &body)
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = json_of(
        s.casey
            .patch(
                &format!("/api/v1/plans/{plan}"),
                &json!({"generator": {"kind": "fixed_amount", "start_mg": "96,0", "amount_mg": 24,
                                      "interval_days": 14, "start_date": "2026-11-02"}}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["status"], "draft");
    assert_eq!(changed["generator"]["kind"], "fixed_amount");
    assert_eq!(
        changed["generator"]["start_mg"], 96.0,
        "a decimal comma is read as a decimal"
    );
    assert_eq!(changed["unit"], "capsule", "the batch stays");
    assert_eq!(changed["rationale"], body["rationale"]);
    assert_eq!(changed["steps"][1]["from"], "2026-11-16");
    let unbatched = json_of(
        s.casey
            .patch(
                &format!("/api/v1/plans/{plan}"),
                &json!({"batch_id": null, "round_to": null}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(unbatched["unit"], "mg");
    assert!(unbatched.get("batch").is_none());
}

async fn a_naltrexone_start_within_seven_days_of_kratom_needs_a_challenge_or_a_reason(
    app: TestApp,
) {
    let s = setup(&app).await;
    let leaf = json_of(
        s.casey
            .post(
                "/api/v1/products",
                &json!({"name": "Leaf", "form": "leaf_powder"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let batch = json_of(
        s.casey
            .post(
                &format!("/api/v1/products/{}/batches", leaf["id"].as_str().unwrap()),
                &json!({"lot": "L1", "assay": {"mitragynine_mg_per_g": 15.0}}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let dose = s
        .casey
        .post(
            &format!("/api/v1/patients/{}/doses", s.patient),
            &json!({"batch_id": batch["id"], "amount": 2, "unit": "g"}),
        )
        .await;
    assert_eq!(dose.status(), StatusCode::CREATED);
    let mut body = taper(&chicago_today().to_string());
    body["kind"] = json!("transition");
    body["transition_to"] = json!("naltrexone");
    let plan = json_of(
        s.casey
            .post(&format!("/api/v1/patients/{}/plans", s.patient), &body)
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = problem(
        sign(&s.casey, &plan).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&refused), ["naloxone_challenge"]);
    assert!(refused.to_string().contains("kratom was logged"));
    assert_eq!(
        s.casey.get_json(&format!("/api/v1/plans/{plan}")).await["status"],
        "draft"
    );
    let signed = json_of(
        s.casey
            .post(
                &format!("/api/v1/plans/{plan}/sign"),
                &json!({"password": PASSWORD, "statement": "I approve this plan.",
                        "override_reason": "Inpatient start under observation with buprenorphine on hand"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(signed["status"], "signed");
    assert!(
        signed["start_gate_note"]
            .as_str()
            .unwrap()
            .contains("Inpatient start")
    );
}

async fn each_day_is_on_plan_over_under_or_not_logged_against_the_signed_target(app: TestApp) {
    let s = setup(&app).await;
    let leaf = json_of(
        s.casey
            .post(
                "/api/v1/products",
                &json!({"name": "Leaf", "form": "leaf_powder"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let batch = json_of(
        s.casey
            .post(
                &format!("/api/v1/products/{}/batches", leaf["id"].as_str().unwrap()),
                &json!({"lot": "L1", "assay": {"mitragynine_mg_per_g": 10.0}}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let today = chicago_today();
    let day = |back: i64| today.checked_sub(back.days()).unwrap();
    let plan = json_of(
        s.casey
            .post(
                &format!("/api/v1/patients/{}/plans", s.patient),
                &json!({"kind": "maintenance",
                        "generator": {"kind": "constant", "start_mg": 60, "interval_days": 7,
                                      "start_date": day(3).to_string()},
                        "per_dose_max_mg": 60, "per_day_max_mg": 80, "rationale": "Steady"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sign(&s.casey, &plan).await;
    // 10 mg/g: 6 g is the 60 mg target, 6.6 g is +10 %, 8 g over, 3 g under.
    for (back, grams) in [(4, 6.0), (3, 6.6), (2, 8.0), (1, 3.0)] {
        let response = s
            .casey
            .post(
                &format!("/api/v1/patients/{}/doses", s.patient),
                &json!({"batch_id": batch["id"], "amount": grams, "unit": "g",
                        "taken_at": format!("{}T12:00:00-06:00", day(back))}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let report = s
        .casey
        .get_json(&format!(
            "/api/v1/patients/{}/plans/adherence?from={}&to={}",
            s.patient,
            day(5),
            today
        ))
        .await;
    let days: Vec<(String, f64, f64, String)> = report["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["planned_mg"].as_f64().unwrap(),
                (d["taken_mg"].as_f64().unwrap() * 1000.0).round() / 1000.0,
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = |back: i64, taken: f64, status: &str| {
        (day(back).to_string(), 60.0, taken, status.to_owned())
    };
    assert_eq!(
        days,
        vec![
            want(3, 66.0, "on_plan"),
            want(2, 80.0, "over"),
            want(1, 30.0, "under"),
            want(0, 0.0, "no_log"),
        ],
        "days before the plan are left out"
    );
    let mut phq9 = serde_json::Map::new();
    for item in 1..=9 {
        phq9.insert(item.to_string(), json!(if item == 9 { 1 } else { 0 }));
    }
    let answered = s
        .patient_client
        .post(
            &format!("/api/v1/patients/{}/assessments", s.patient),
            &json!({"instrument": "phq9", "answers": phq9}),
        )
        .await;
    assert_eq!(answered.status(), StatusCode::CREATED);
    let report = s
        .patient_client
        .get_json(&format!("/api/v1/plans/{plan}/report"))
        .await;
    assert_eq!(report["from"], day(3).to_string());
    assert_eq!(report["days"].as_array().unwrap().len(), 4);
    let step = &report["steps"][0];
    assert_eq!(step["days_on_step"], 4);
    assert_eq!(step["adherence"], 0.25, "one day of four on plan");
    assert_eq!(report["plan"]["phq9_item9_events"], 1);
    assert_eq!(report["plan"]["holds"], 0);
    assert!(
        report["plan"]["reached_end_on"].as_str().is_some(),
        "a maintenance plan's only step is its end"
    );
    // The patient reads their own days; a range too long is refused on `from`.
    let mine = s
        .patient_client
        .get_json(&format!("/api/v1/patients/{}/plans/adherence", s.patient))
        .await;
    assert_eq!(mine["days"].as_array().unwrap().len(), 4);
    let too_long = s
        .casey
        .get(&format!(
            "/api/v1/patients/{}/plans/adherence?from=2020-01-01&to={today}",
            s.patient
        ))
        .await;
    assert_eq!(
        error_fields(&problem(too_long, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["from"]
    );
}

async fn bad_plan_input_is_refused_naming_each_field(app: TestApp) {
    let s = setup(&app).await;
    let path = format!("/api/v1/patients/{}/plans", s.patient);
    let mut body = taper("2026-12-07");
    body["generator"] = json!({"kind": "percent_of_current", "start_mg": 100, "percent": 150,
                                "interval_days": 0, "start_date": "2026-02-30"});
    body["slots"] = json!([{"time": "8am", "share": 0.5}, {"time": "21:00", "share": 0.6}]);
    body["per_day_max_mg"] = json!(-1);
    let refused = problem(
        s.casey.post(&path, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut fields = error_fields(&refused);
    fields.sort();
    for field in [
        "generator.interval_days",
        "generator.percent",
        "generator.start_date",
        "slots",
        "slots[0].time",
    ] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
    let mut no_max = taper("2026-12-07");
    no_max.as_object_mut().unwrap().remove("per_day_max_mg");
    no_max["per_dose_max_mg"] = json!(10);
    let refused = problem(
        s.casey.post(&path, &no_max).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = error_fields(&refused);
    assert!(fields.contains(&"per_day_max_mg".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"per_dose_max_mg".to_owned()),
        "a per-dose maximum below the plan's own doses: {fields:?}"
    );
    let mut comma = taper("2026-12-07");
    comma["generator"]["start_mg"] = json!("7,5");
    comma["per_dose_max_mg"] = json!("7,5");
    comma["per_day_max_mg"] = json!("7,5");
    let created = json_of(s.casey.post(&path, &comma).await, StatusCode::CREATED).await;
    assert_eq!(created["generator"]["start_mg"], 7.5);
    let unknown = s
        .casey
        .post(
            &format!("{path}/preview"),
            &json!({"generator": {"kind": "percent_of_original", "start_mg": 100, "percent": 10,
                                  "interval_days": 7, "start_date": "2026-12-07"},
                    "batch_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["batch_id"]
    );
}

async fn a_hold_or_step_back_is_a_new_draft_that_changes_nothing_until_signed(app: TestApp) {
    let s = setup(&app).await;
    let path = format!("/api/v1/patients/{}/plans", s.patient);
    let plan = json_of(
        s.casey.post(&path, &taper("2026-12-07")).await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sign(&s.casey, &plan).await;
    let adjustments = format!("/api/v1/plans/{plan}/adjustments");
    let refused = s
        .casey
        .post(
            &adjustments,
            &json!({"kind": "pause", "on": "2026-12-16", "days": 0}),
        )
        .await;
    let mut fields = error_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await);
    fields.sort();
    assert_eq!(fields, ["days", "kind"]);
    let draft = json_of(
        s.casey
            .post(
                &adjustments,
                &json!({"kind": "step_back", "on": "2026-12-23", "days": 7,
                        "reason": "COWS 26 two days after the step"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["version"], 2);
    assert_eq!(draft["adjustments"][0]["kind"], "step_back");
    assert!(
        draft["rationale"]
            .as_str()
            .unwrap()
            .starts_with("Step back from 2026-12-23")
    );
    let planned: Vec<(String, f64)> = draft["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["from"].as_str().unwrap().to_owned(),
                s["planned_mg"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        planned[2..5],
        [
            ("2026-12-21".to_owned(), 50.0),
            ("2026-12-23".to_owned(), 75.0),
            ("2026-12-30".to_owned(), 50.0),
        ]
    );
    // Until it is signed, the active plan is the old one.
    assert_eq!(
        s.casey.get_json(&format!("{path}/current")).await["id"],
        plan.as_str()
    );
    let patient_sees = s.patient_client.get_json(&format!("{path}/current")).await;
    assert_eq!(patient_sees["adjustments"], json!([]));
    let draft_id = draft["id"].as_str().unwrap();
    sign(&s.casey, draft_id).await;
    assert_eq!(
        s.patient_client.get_json(&format!("{path}/current")).await["id"],
        draft_id
    );
}
