use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, error_fields, on_both_backends, problem};
use crate::products::{batch, product};

on_both_backends!(
    a_dose_is_stored_in_milligrams_from_the_batch_assay,
    an_unassayed_leaf_dose_is_an_estimate_with_its_range,
    capsules_are_counted_and_converted_with_their_fill_mass,
    future_doses_are_refused_and_old_ones_need_confirmation,
    a_retried_request_with_the_same_idempotency_key_returns_the_original,
    concurrent_retries_with_one_key_store_one_dose,
    daily_exposure_follows_patient_local_days_across_daylight_saving,
    a_dose_taken_abroad_counts_on_the_local_day_where_it_was_taken,
    corrections_and_deletions_are_soft_need_a_reason_and_are_audited,
    a_csv_import_previews_every_bad_row_and_writes_nothing_until_committed,
    heavy_metals_are_judged_at_the_patients_own_daily_intake,
    predicted_exposure_follows_the_logged_doses_through_the_pk_model,
);

struct Setup {
    casey: Client,
    patient: String,
    /// 19.5 mg/g mitragynine, 0.1 mg/g 7-OH.
    assayed: String,
    unassayed: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let response = casey
        .post(
            "/api/v1/patients",
            &json!({"display_name": "Dana Reyes", "birth_date": "1988-04-12", "time_zone": "America/Chicago", "usual_bedtime": "22:30"}),
        )
        .await;
    let patient: Value = response.json().await.unwrap();
    let leaf = product(
        &casey,
        json!({"name": "Characterized leaf", "form": "leaf_powder"}),
    )
    .await;
    let leaf_id = leaf["id"].as_str().unwrap();
    let assayed = batch(&casey, leaf_id, json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}})).await;
    let unassayed = batch(&casey, leaf_id, json!({"lot": "unknown"})).await;
    Setup {
        casey,
        patient: patient["id"].as_str().unwrap().to_owned(),
        assayed: assayed["id"].as_str().unwrap().to_owned(),
        unassayed: unassayed["id"].as_str().unwrap().to_owned(),
    }
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-9)
}

impl Setup {
    fn doses_path(&self) -> String {
        format!("/api/v1/patients/{}/doses", self.patient)
    }

    async fn log(&self, body: Value) -> Value {
        let response = self.casey.post(&self.doses_path(), &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "logging {body}");
        response.json().await.unwrap()
    }
}

async fn a_dose_is_stored_in_milligrams_from_the_batch_assay(app: TestApp) {
    let s = setup(&app).await;
    let dose = s.log(json!({"batch_id": s.assayed, "amount": 3.0, "unit": "g", "contexts": ["withdrawal_relief"]})).await;
    assert!(close(&dose["mitragynine_mg"], 58.5), "{dose}");
    assert!(close(&dose["hydroxymitragynine_mg"], 0.3), "{dose}");
    assert_eq!(dose["exposure_basis"], "assay");
    assert_eq!(dose["contexts"], json!(["withdrawal_relief"]));
    let listed = s.casey.get_json(&s.doses_path()).await;
    assert_eq!(listed[0]["id"], dose["id"]);
}

async fn an_unassayed_leaf_dose_is_an_estimate_with_its_range(app: TestApp) {
    let s = setup(&app).await;
    let dose = s
        .log(json!({"batch_id": s.unassayed, "amount": 4.0, "unit": "g"}))
        .await;
    assert_eq!(dose["exposure_basis"], "estimate");
    let (low, typical, high) = (
        &dose["mitragynine_mg_low"],
        &dose["mitragynine_mg"],
        &dose["mitragynine_mg_high"],
    );
    assert!(
        low.as_f64().unwrap() < typical.as_f64().unwrap()
            && typical.as_f64().unwrap() < high.as_f64().unwrap(),
        "{dose}"
    );
}

async fn capsules_are_counted_and_converted_with_their_fill_mass(app: TestApp) {
    let s = setup(&app).await;
    let caps = product(
        &s.casey,
        json!({"name": "Caps", "form": "capsule", "unit_mass_g": 0.5}),
    )
    .await;
    let lot = batch(
        &s.casey,
        caps["id"].as_str().unwrap(),
        json!({"lot": "C1", "assay": {"mitragynine_mg_per_g": 20.0}}),
    )
    .await;
    let lot_id = lot["id"].as_str().unwrap();
    let dose = s
        .log(json!({"batch_id": lot_id, "amount": 6, "unit": "capsule"}))
        .await;
    assert!(
        close(&dose["grams"], 3.0) && close(&dose["mitragynine_mg"], 60.0),
        "{dose}"
    );
    let wrong_unit = s
        .casey
        .post(
            &s.doses_path(),
            &json!({"batch_id": lot_id, "amount": 6, "unit": "ml"}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(wrong_unit, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["unit"]
    );
}

async fn future_doses_are_refused_and_old_ones_need_confirmation(app: TestApp) {
    let s = setup(&app).await;
    let future = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let refused = s
        .casey
        .post(
            &s.doses_path(),
            &json!({"batch_id": s.assayed, "amount": 2.0, "unit": "g", "taken_at": future}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["taken_at"]
    );
    let old = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 9)).to_string();
    let unconfirmed = s
        .casey
        .post(
            &s.doses_path(),
            &json!({"batch_id": s.assayed, "amount": 2.0, "unit": "g", "taken_at": old}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(unconfirmed, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["confirm_backdated"]
    );
    s.log(json!({"batch_id": s.assayed, "amount": 2.0, "unit": "g", "taken_at": old, "confirm_backdated": true})).await;
    let from = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 20))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let listed = s
        .casey
        .get_json(&format!("{}?from={from}", s.doses_path()))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let too_long = s
        .casey
        .get(&format!("{}?from=2000-01-01", s.doses_path()))
        .await;
    assert_eq!(
        error_fields(&problem(too_long, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["from"]
    );
}

async fn a_retried_request_with_the_same_idempotency_key_returns_the_original(app: TestApp) {
    let s = setup(&app).await;
    let body = json!({"batch_id": s.assayed, "amount": 2.5, "unit": "g", "taken_at": jiff::Timestamp::now().to_string()});
    let send = |body: Value| {
        let request = s
            .casey
            .request(Method::POST, &s.doses_path())
            .header("Idempotency-Key", "retry-1")
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let first = send(body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let retry = send(body.clone()).await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(retry.json::<Value>().await.unwrap()["id"], first["id"]);
    let mut different = body;
    different["amount"] = json!(9.0);
    problem(send(different).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        s.casey
            .get_json(&s.doses_path())
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn concurrent_retries_with_one_key_store_one_dose(app: TestApp) {
    let s = setup(&app).await;
    let body = json!({"batch_id": s.assayed, "amount": 1.5, "unit": "g", "taken_at": jiff::Timestamp::now().to_string()});
    let attempts = (0..12).map(|_| {
        let request = s
            .casey
            .request(Method::POST, &s.doses_path())
            .header("Idempotency-Key", "burst")
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap()["id"].clone(),
            )
        }
    });
    let results = futures::future::join_all(attempts).await;
    let created = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(
                |(status, id)| (*status == StatusCode::CREATED || *status == StatusCode::OK)
                    && *id == results[0].1
            ),
        "{results:?}"
    );
    assert_eq!(
        s.casey
            .get_json(&s.doses_path())
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn daily_exposure_follows_patient_local_days_across_daylight_saving(app: TestApp) {
    let s = setup(&app).await;
    // US clocks fell back on 2026-11-01: 23:30 on 31 Oct (CDT) is 04:30Z; 23:30 on 1 Nov (CST) is 05:30Z on 2 Nov.
    for (at, grams) in [
        ("2026-11-01T04:30:00Z", 1.0),
        ("2026-11-01T14:00:00Z", 2.0),
        ("2026-11-02T05:30:00Z", 3.0),
    ] {
        s.log(json!({"batch_id": s.assayed, "amount": grams, "unit": "g", "taken_at": at, "confirm_backdated": true})).await;
    }
    let days = s
        .casey
        .get_json(&format!(
            "/api/v1/patients/{}/exposure/daily?from=2026-10-31&to=2026-11-01",
            s.patient
        ))
        .await;
    let rows: Vec<(String, u64)> = days
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["dose_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("2026-10-31".to_owned(), 1), ("2026-11-01".to_owned(), 2)]
    );
    assert!(close(&days[1]["mitragynine_mg"], 5.0 * 19.5), "{days}");
    assert!(close(&days[1]["hydroxymitragynine_mg"], 0.5), "{days}");
    // 23:30 is within two hours... after a 22:30 bedtime, so not a bedtime dose; 21:45 is.
    assert_eq!(days[0]["bedtime_dose"], false);
    let bedtime = s.log(json!({"batch_id": s.assayed, "amount": 1.0, "unit": "g", "taken_at": "2026-11-10T21:45:00-06:00", "confirm_backdated": true})).await;
    assert_eq!(bedtime["bedtime"], true);
}

async fn a_dose_taken_abroad_counts_on_the_local_day_where_it_was_taken(app: TestApp) {
    let s = setup(&app).await;
    // 03:00Z on 20 Nov is 19 Nov in Chicago but 10:00 on 20 Nov in Bangkok.
    let dose = s
        .log(json!({"batch_id": s.assayed, "amount": 2.0, "unit": "g", "taken_at": "2026-11-20T03:00:00Z", "time_zone": "Asia/Bangkok", "confirm_backdated": true}))
        .await;
    assert_eq!(dose["local_date"], "2026-11-20");
    let days = s
        .casey
        .get_json(&format!(
            "/api/v1/patients/{}/exposure/daily?from=2026-11-19&to=2026-11-20",
            s.patient
        ))
        .await;
    assert_eq!(days[0]["date"], "2026-11-20");
}

async fn corrections_and_deletions_are_soft_need_a_reason_and_are_audited(app: TestApp) {
    let s = setup(&app).await;
    let dose = s
        .log(json!({"batch_id": s.assayed, "amount": 30.0, "unit": "g"}))
        .await;
    let path = format!("{}/{}", s.doses_path(), dose["id"].as_str().unwrap());
    let no_reason = s
        .casey
        .put(
            &path,
            &json!({"reason": " ", "dose": {"batch_id": s.assayed, "amount": 3.0, "unit": "g"}}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(no_reason, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["reason"]
    );
    let corrected: Value = s
        .casey
        .put(&path, &json!({"reason": "meant 3 g, not 30", "dose": {"batch_id": s.assayed, "amount": 3.0, "unit": "g", "taken_at": dose["taken_at"]}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(corrected["corrects_dose_id"], dose["id"]);
    let current = s.casey.get_json(&s.doses_path()).await;
    assert_eq!(current.as_array().unwrap().len(), 1);
    assert!(close(&current[0]["mitragynine_mg"], 58.5));
    let history = s
        .casey
        .get_json(&format!("{}?include_history=true", s.doses_path()))
        .await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    // The superseded original can no longer be changed.
    problem(s.casey.put(&path, &json!({"reason": "again", "dose": {"batch_id": s.assayed, "amount": 1.0, "unit": "g"}})).await, StatusCode::CONFLICT).await;

    let corrected_path = format!("{}/{}", s.doses_path(), corrected["id"].as_str().unwrap());
    let deleted = s
        .casey
        .send(
            Method::DELETE,
            &corrected_path,
            Some(&json!({"reason": "logged for the wrong patient"})),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert!(
        s.casey
            .get_json(&s.doses_path())
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .collect();
    assert!(
        actions.contains(&"dose.correct".to_owned()) && actions.contains(&"dose.delete".to_owned())
    );
}

async fn a_csv_import_previews_every_bad_row_and_writes_nothing_until_committed(app: TestApp) {
    let s = setup(&app).await;
    let csv = "date,time,product,amount,unit,lot,contexts\n\
               2026-11-01,08:30,characterized leaf,3,g,K51,withdrawal_relief|pain\n\
               2026-11-01,21:45,Characterized leaf,2,g,,sleep\n\
               2026-02-30,09:00,Characterized leaf,3,g,,\n\
               2026-11-02,09:00,Unknown powder,3,g,,\n\
               2026-11-02,10:00,Characterized leaf,3,ml,,\n\
               2099-01-01,10:00,Characterized leaf,3,g,,\n";
    let path = format!("{}/import", s.doses_path());
    let preview: Value = s
        .casey
        .post(&path, &json!({"csv": csv}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["committed"], false);
    assert_eq!(preview["rows"].as_array().unwrap().len(), 2, "{preview}");
    let bad_lines: Vec<u64> = preview["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(bad_lines, [4, 5, 6, 7]);
    assert!(
        preview["errors"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("Unknown powder")
    );
    assert!(close(&preview["rows"][0]["mitragynine_mg"], 58.5));
    let from = "?from=2026-10-25&to=2026-11-05";
    assert!(
        s.casey
            .get_json(&format!("{}{from}", s.doses_path()))
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "a preview writes nothing"
    );

    let committed: Value = s
        .casey
        .post(&path, &json!({"csv": csv, "commit": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            committed["imported"].as_u64(),
            committed["already_present"].as_u64()
        ),
        (Some(2), Some(0))
    );
    let again: Value = s
        .casey
        .post(&path, &json!({"csv": csv, "commit": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            again["imported"].as_u64(),
            again["already_present"].as_u64()
        ),
        (Some(0), Some(2)),
        "importing twice writes nothing new"
    );
    let doses = s.casey.get_json(&format!("{}{from}", s.doses_path())).await;
    assert_eq!(doses.as_array().unwrap().len(), 2);
    assert_eq!(doses[0]["local_date"], "2026-11-01");
    assert_eq!(
        doses[1]["bedtime"], true,
        "21:45 is within two hours of a 22:30 bedtime"
    );
}

async fn heavy_metals_are_judged_at_the_patients_own_daily_intake(app: TestApp) {
    let s = setup(&app).await;
    let leaf = product(
        &s.casey,
        json!({"name": "Leaded leaf", "form": "leaf_powder"}),
    )
    .await;
    // Lead 0.5 ppm: 1.5 µg at 3 g/day passes USP <2232>'s 5 µg/day; 15 µg at 30 g/day fails.
    let lot = batch(&s.casey, leaf["id"].as_str().unwrap(), json!({"lot": "PB", "assay": {"mitragynine_mg_per_g": 15.0, "hydroxymitragynine_mg_per_g": 0.1, "heavy_metals": {"lead_ppm": 0.5}}})).await;
    let lot_id = lot["id"].as_str().unwrap();
    let safety_path = format!("/api/v1/patients/{}/product-safety", s.patient);
    let codes = |safety: &Value| -> Vec<String> {
        safety[0]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_owned())
            .collect()
    };
    s.log(json!({"batch_id": lot_id, "amount": 3.0, "unit": "g"}))
        .await;
    let light = s.casey.get_json(&safety_path).await;
    assert!(codes(&light).is_empty(), "{light}");
    for _ in 0..3 {
        s.log(json!({"batch_id": lot_id, "amount": 9.0, "unit": "g"}))
            .await;
    }
    let heavy = s.casey.get_json(&safety_path).await;
    assert!(close(&heavy[0]["max_grams_per_day"], 30.0), "{heavy}");
    assert_eq!(codes(&heavy), ["heavy_metal_over_daily_limit"]);
}

async fn predicted_exposure_follows_the_logged_doses_through_the_pk_model(app: TestApp) {
    let s = setup(&app).await;
    // 2 g of the 19.5 mg/g leaf is 39 mg: Tanna 2022's dose, Cmax ≈ 32.6 ng/mL about an hour later.
    let taken = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(30);
    s.log(
        json!({"batch_id": s.assayed, "amount": 2.0, "unit": "g", "taken_at": taken.to_string()}),
    )
    .await;
    let zone = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let from = (taken - jiff::SignedDuration::from_hours(24))
        .to_zoned_datetime(zone.clone())
        .date();
    let to = jiff::Timestamp::now().to_zoned_datetime(zone).date();
    let predicted = s
        .casey
        .get_json(&format!(
            "/api/v1/patients/{}/exposure/predicted?from={from}&to={to}",
            s.patient
        ))
        .await;
    let points = predicted["points"].as_array().unwrap();
    let peak = points
        .iter()
        .map(|p| p["mitragynine_ng_ml"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!((peak - 32.6).abs() / 32.6 < 0.05, "peak {peak}");
    assert!(
        points
            .iter()
            .all(|p| p["mitragynine_p5_ng_ml"].as_f64().unwrap()
                <= p["mitragynine_p95_ng_ml"].as_f64().unwrap())
    );
    assert!(
        !predicted["bedtime"].as_array().unwrap().is_empty(),
        "the patient has a usual bedtime"
    );
    // After one dose the fast distribution phase (t½ ≈ 1.5 h) takes it below 10 % of the peak within hours.
    let to_ten_percent = predicted["time_to_10pct_after_last_dose_h"]
        .as_f64()
        .unwrap();
    assert!((4.0..12.0).contains(&to_ten_percent), "{to_ten_percent}");
    assert!(
        predicted["caution"]
            .as_str()
            .unwrap()
            .contains("not a dosing recommendation")
    );
    assert_eq!(predicted["doses_excluded"], 0);
}
