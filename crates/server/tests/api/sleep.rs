//! Sleep: nights derived from doses and diaries, the bedtime-dose comparison, and CBT-I's
//! sleep window (proposed from the diary, approved by the care team, seen by the patient).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, error_fields, on_both_backends, problem};
use crate::products::{batch, product};

on_both_backends!(
    a_bedtime_dose_after_midnight_and_the_next_mornings_diary_make_one_night_and_a_deletion_changes_it,
    the_comparison_waits_for_seven_nights_each_then_gives_the_difference_with_its_interval,
    a_range_over_366_nights_or_an_unreadable_date_is_refused_naming_the_field,
    a_sleep_window_is_proposed_from_the_diary_approved_by_the_care_team_and_seen_by_the_patient,
    a_clinic_sets_its_own_floor_and_thresholds_within_the_published_ranges,
);

struct Setup {
    casey: Client,
    dana: Client,
    patient: String,
    batch: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let details = json!({"display_name": "Dana Reyes", "birth_date": "1988-04-12",
        "time_zone": "America/Chicago", "usual_bedtime": "00:30"});
    assert_eq!(
        casey
            .put(&format!("/api/v1/patients/{patient}"), &details)
            .await
            .status(),
        StatusCode::OK
    );
    let leaf = product(
        &casey,
        json!({"name": "Characterized leaf", "form": "leaf_powder", "labelled_strain": "Red Bali"}),
    )
    .await;
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

fn chicago() -> TimeZone {
    TimeZone::get("America/Chicago").unwrap()
}

/// `date` at `hh:mm` in Chicago, RFC 3339.
fn local(date: Date, hh_mm: &str) -> String {
    let time = jiff::civil::Time::strptime("%H:%M", hh_mm).unwrap();
    date.to_datetime(time)
        .to_zoned_datetime(chicago())
        .unwrap()
        .timestamp()
        .to_string()
}

fn days_ago(days: i64) -> Date {
    Timestamp::now()
        .to_zoned_datetime(chicago())
        .date()
        .checked_sub(Span::new().days(days))
        .unwrap()
}

fn plus(date: Date, days: i64) -> Date {
    date.checked_add(Span::new().days(days)).unwrap()
}

impl Setup {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/patients/{}/{rest}", self.patient)
    }

    async fn dose(&self, taken_at: String, grams: f64) -> Value {
        let response = self
            .dana
            .post(
                &self.path("doses"),
                &json!({"batch_id": self.batch, "amount": grams, "unit": "g",
                        "taken_at": taken_at, "confirm_backdated": true}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// The diary of the morning after `night`: in bed 00:40, tried 00:50, up at 08:00.
    async fn diary(&self, night: Date, latency: i64, waso: i64) {
        let morning = plus(night, 1);
        let answers = json!({"1": "00:40", "2": "00:50", "3": latency, "4": 1, "5": waso,
            "6": "07:50", "7": "08:00", "8": 3});
        let response = self
            .dana
            .post(
                &self.path("assessments"),
                &json!({"instrument": "sleep_diary", "answers": answers,
                        "completed_at": local(morning, "08:15")}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-6)
}

async fn a_bedtime_dose_after_midnight_and_the_next_mornings_diary_make_one_night_and_a_deletion_changes_it(
    app: TestApp,
) {
    let s = setup(&app).await;
    let night = days_ago(20);
    // 00:10 is before the 00:30 bedtime: the night that began the evening before.
    let dose = s.dose(local(plus(night, 1), "00:10"), 2.0).await;
    s.diary(night, 25, 10).await;
    s.diary(plus(night, 1), 40, 20).await;
    let query = format!("sleep/nights?from={}&to={}", night, plus(night, 1));
    let nights = s.casey.get_json(&s.path(&query)).await;
    let list = nights["nights"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{nights}");
    let first = &list[0];
    assert_eq!(first["night_of"], night.to_string());
    assert_eq!(first["bedtime_dose"], true);
    assert!(
        close(&first["bedtime_mitragynine_mg"], 39.0),
        "2 g × 19.5 mg/g"
    );
    assert!(first["predicted_bedtime_ng_ml"].as_f64().unwrap() > 0.0);
    assert!(close(&first["sleep_onset_min"], 25.0));
    assert!(close(&first["wake_after_sleep_onset_min"], 10.0));
    // Tried 00:50, woke 07:50: 420 − 25 − 10 = 385 asleep of 440 in bed (00:40 → 08:00).
    assert!(close(&first["total_sleep_min"], 385.0));
    assert!(close(&first["efficiency_pct"], 385.0 / 440.0 * 100.0));
    assert_eq!(list[1]["bedtime_dose"], false);
    // The patient reads their own nights too.
    assert_eq!(s.dana.get(&s.path(&query)).await.status(), StatusCode::OK);

    let deleted = s
        .casey
        .send(
            Method::DELETE,
            &s.path(&format!("doses/{}", dose["id"].as_str().unwrap())),
            Some(&json!({"reason": "entered on the wrong day"})),
        )
        .await;
    assert!(deleted.status().is_success());
    let nights = s.casey.get_json(&s.path(&query)).await;
    assert_eq!(nights["nights"][0]["bedtime_dose"], false);
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .collect();
    assert!(actions.iter().any(|a| a == "sleep.nights.read"));
}

async fn the_comparison_waits_for_seven_nights_each_then_gives_the_difference_with_its_interval(
    app: TestApp,
) {
    let s = setup(&app).await;
    let first = days_ago(40);
    let last = plus(first, 19);
    let range = format!("sleep/bedtime-effect?from={first}&to={last}");
    // Dosed on even nights: 15 or 17 minutes to fall asleep; undosed 30 or 34.
    for day in 0..20 {
        let night = plus(first, day);
        let dosed = day % 2 == 0;
        if dosed {
            s.dose(local(night, "23:45"), 2.0).await;
        }
        let latency = match (dosed, day % 4) {
            (true, 0) => 15,
            (true, _) => 17,
            (false, 1) => 30,
            (false, _) => 34,
        };
        s.diary(night, latency, 10).await;
        if day == 5 {
            let early = s.casey.get_json(&s.path(&range)).await;
            assert_eq!(early["enough_data"], false);
            assert_eq!(early["nights_with"], 3);
            assert_eq!(early["more_nights_needed"]["with"], 4);
            assert_eq!(early["more_nights_needed"]["without"], 4);
            assert!(early["outcomes"]["sleep_onset_min"]["difference"].is_null());
        }
    }
    let effect = s.dana.get_json(&s.path(&range)).await;
    assert_eq!(effect["enough_data"], true, "{effect}");
    assert_eq!(
        (
            effect["nights_with"].as_u64(),
            effect["nights_without"].as_u64()
        ),
        (Some(10), Some(10))
    );
    assert!(effect["method"].as_str().unwrap().contains("Newey-West"));
    let onset = &effect["outcomes"]["sleep_onset_min"];
    assert!(close(&onset["with_mean"], 16.0));
    assert!(close(&onset["without_mean"], 32.0));
    assert!(close(&onset["difference"], -16.0));
    let (low, high) = (
        onset["ci_low"].as_f64().unwrap(),
        onset["ci_high"].as_f64().unwrap(),
    );
    assert!(low < -16.0 && -16.0 < high && high < 0.0, "{low}..{high}");
    for key in [
        "wake_after_sleep_onset_min",
        "total_sleep_min",
        "efficiency_pct",
    ] {
        assert!(effect["outcomes"][key]["difference"].is_number(), "{key}");
    }
    let product = &effect["by_product"][0];
    assert!(close(&product["mitragynine_mg_per_g"], 19.5));
    assert_eq!(product["labelled_strain"], "Red Bali");
    assert_eq!(product["nights_with"], 10);
    assert!(effect["caution"].as_str().unwrap().contains("care team"));
}

async fn a_range_over_366_nights_or_an_unreadable_date_is_refused_naming_the_field(app: TestApp) {
    let s = setup(&app).await;
    for (query, field) in [
        ("sleep/nights?from=2024-01-01&to=2025-01-01", "from"),
        ("sleep/bedtime-effect?from=2024-01-01&to=2025-06-01", "from"),
        ("sleep/nights?from=2025-01-01&to=soon", "to"),
    ] {
        let body = problem(
            s.casey.get(&s.path(query)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&body), [field], "{query}");
    }
    let year = s
        .casey
        .get(&s.path("sleep/nights?from=2024-01-01&to=2024-12-31"))
        .await;
    assert_eq!(year.status(), StatusCode::OK, "366 nights of a leap year");
}

async fn a_sleep_window_is_proposed_from_the_diary_approved_by_the_care_team_and_seen_by_the_patient(
    app: TestApp,
) {
    let s = setup(&app).await;
    let proposal_path = s.path("sleep/window/proposal");
    problem(s.casey.get(&proposal_path).await, StatusCode::CONFLICT).await;
    // Eight nights of 00:40 → 08:00 in bed; total sleep 400 or 370 min, mean 385.
    for k in 2..10 {
        let waso = if k % 2 == 0 { 5 } else { 35 };
        s.diary(days_ago(k), 15, waso).await;
    }
    let proposal = s.casey.get_json(&proposal_path).await;
    assert_eq!(
        proposal["time_in_bed_min"], 390,
        "385 rounded to 15-minute steps: {proposal}"
    );
    assert_eq!(proposal["rise_time"], "08:00");
    assert_eq!(proposal["bedtime"], "01:30");
    assert_eq!(proposal["based_on"]["kind"], "initial");
    assert_eq!(proposal["based_on"]["nights"], 8);
    problem(s.dana.get(&proposal_path).await, StatusCode::FORBIDDEN).await;

    let window_path = s.path("sleep/window");
    problem(
        s.dana.post(&window_path, &proposal).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let refused = problem(
        s.casey
            .post(
                &window_path,
                &json!({"time_in_bed_min": 240, "rise_time": "07:00"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_fields(&refused),
        ["time_in_bed_min"],
        "below the 5 h floor"
    );
    let wrong = problem(
        s.casey
            .post(
                &window_path,
                &json!({"time_in_bed_min": 360, "rise_time": "07:00", "bedtime": "00:30"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&wrong), ["bedtime"]);
    let saved = s.casey.post(&window_path, &proposal).await;
    assert_eq!(saved.status(), StatusCode::CREATED);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["time_in_bed_min"], 390);
    assert_eq!(saved["bedtime"], "01:30");

    let tonight = s.dana.get_json(&window_path).await;
    assert_eq!(tonight["window"]["bedtime"], "01:30");
    assert_eq!(tonight["window"]["rise_time"], "08:00");
    assert_eq!(tonight["stimulus_control"].as_array().unwrap().len(), 5);
    let page = s
        .dana
        .get(&format!("/patients/{}/sleep", s.patient))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("01:30") && page.contains("08:00"),
        "the patient sees tonight's window"
    );
    assert!(page.contains("only when you feel sleepy"));
}

async fn a_clinic_sets_its_own_floor_and_thresholds_within_the_published_ranges(app: TestApp) {
    let s = setup(&app).await;
    let path = "/api/v1/organization/sleep-window-settings";
    let defaults = s.casey.get_json(path).await;
    assert_eq!(defaults["floor_min"], 300);
    assert!(defaults["source"].as_str().unwrap().contains("disagree"));
    let refused = problem(
        s.casey
            .put(path, &json!({"floor_min": 120, "extend_at_pct": 80, "shrink_below_pct": 85, "step_min": 15, "goal_min": 480}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&refused), ["floor_min", "extend_at_pct"]);
    let spielman = json!({"floor_min": 270, "extend_at_pct": 90, "shrink_below_pct": 80, "step_min": 15, "goal_min": 480});
    assert_eq!(s.casey.put(path, &spielman).await.status(), StatusCode::OK);
    // Eight short nights (mean 200 min asleep) now give the clinic's 4.5-hour floor.
    for k in 2..10 {
        s.diary(days_ago(k), 60, 200).await;
    }
    let proposal = s.casey.get_json(&s.path("sleep/window/proposal")).await;
    assert_eq!(proposal["time_in_bed_min"], 270, "{proposal}");
    assert_eq!(proposal["settings"]["shrink_below_pct"], 80.0);
    problem(s.dana.put(path, &spielman).await, StatusCode::FORBIDDEN).await;
}
