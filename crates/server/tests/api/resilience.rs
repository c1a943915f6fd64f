//! One bad record never breaks anyone else, and no input panics: dates and instants
//! outside 1900–2100 (clinical events before 1990) and NUL characters are refused with a
//! 422 naming the field on both backends; a patient whose stored records cannot be read
//! is reported in their place while the roster and the scheduled check go on.

use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use speciosa_server::ServerConfig;

use crate::helpers::{
    Backend, Client, TestApp, error_fields, on_both_backends, post_form, problem,
};
use crate::products::{batch, product};

on_both_backends!(
    out_of_range_dates_in_bodies_are_refused_naming_the_field,
    out_of_range_dates_in_query_strings_are_refused_naming_the_field,
    a_range_at_the_end_of_the_calendar_is_refused_and_the_connection_kept,
    out_of_range_dates_on_pages_get_a_readable_answer,
    nul_characters_in_bodies_forms_and_query_strings_are_refused_naming_the_field,
    the_roster_lists_everyone_and_says_which_record_could_not_be_read,
    the_scheduled_check_reaches_patients_after_one_whose_records_cannot_be_read,
);

struct Setup {
    clinic: crate::helpers::Clinic,
    casey: Client,
    patient: String,
    dana: Client,
    batch: String,
    product: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let leaf = product(&casey, json!({"name": "Leaf", "form": "leaf_powder"})).await;
    let product_id = leaf["id"].as_str().unwrap().to_owned();
    let lot = batch(
        &casey,
        &product_id,
        json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}}),
    )
    .await;
    Setup {
        clinic,
        casey,
        patient,
        dana,
        batch: lot["id"].as_str().unwrap().to_owned(),
        product: product_id,
    }
}

/// Checks a 422 that names exactly `field`.
async fn refused(response: reqwest::Response, field: &str, what: &str) {
    let status = response.status();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
    let body = problem(response, status).await;
    assert_eq!(error_fields(&body), [field], "{what}: {body}");
}

async fn out_of_range_dates_in_bodies_are_refused_naming_the_field(app: TestApp) {
    let s = setup(&app).await;
    let patient = format!("/api/v1/patients/{}", s.patient);
    let doses = format!("{patient}/doses");
    let assessments = format!("{patient}/assessments");
    let medications = format!("{patient}/medications");
    let batches = format!("/api/v1/products/{}/batches", s.product);
    let person = |birth: &str| json!({"display_name": "Ana Lima", "birth_date": birth, "time_zone": "America/Chicago"});
    let dose = |at: &str| json!({"batch_id": s.batch, "amount": 2, "unit": "g", "taken_at": at, "confirm_backdated": true});
    let answer =
        |at: &str| json!({"instrument": "craving", "answers": {"1": 3}, "completed_at": at});
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::POST,
            "/api/v1/patients".into(),
            person("1899-12-31"),
            "birth_date",
        ),
        (
            Method::POST,
            "/api/v1/patients".into(),
            person("-009999-01-02"),
            "birth_date",
        ),
        (
            Method::PUT,
            patient.clone(),
            person("0026-11-24"),
            "birth_date",
        ),
        (
            Method::POST,
            "/api/v1/patients".into(),
            json!({"display_name": "Ana Lima", "birth_date": "1980-01-01", "time_zone": "UTC",
                   "research_consent": true, "research_consent_date": "1899-12-31"}),
            "research_consent_date",
        ),
        (
            Method::POST,
            doses.clone(),
            dose("1989-12-31T23:59:59Z"),
            "taken_at",
        ),
        (
            Method::POST,
            doses.clone(),
            dose("-009999-01-02T02:00:00Z"),
            "taken_at",
        ),
        (
            Method::POST,
            assessments.clone(),
            answer("-009999-01-02T02:00:00Z"),
            "completed_at",
        ),
        (
            Method::POST,
            assessments.clone(),
            answer("1989-12-31T12:00:00-06:00"),
            "completed_at",
        ),
        (
            Method::POST,
            medications.clone(),
            json!({"name": "Sertraline", "class": "antidepressant", "started_on": "1989-12-31"}),
            "started_on",
        ),
        (
            Method::POST,
            medications.clone(),
            json!({"name": "Sertraline", "class": "antidepressant", "stopped_on": "2101-01-01"}),
            "stopped_on",
        ),
        (
            Method::POST,
            batches.clone(),
            json!({"lot": "K52", "assay": {"mitragynine_mg_per_g": 19.5, "tested_on": "1899-12-31"}}),
            "assay.tested_on",
        ),
    ];
    for (method, path, body, field) in cases {
        let response = s.casey.send(method.clone(), &path, Some(&body)).await;
        refused(response, field, &format!("{method} {path} {body}")).await;
    }
    // A patient's own assessment, as in the report.
    let response = s
        .dana
        .post(&assessments, &answer("-009999-01-02T02:00:00Z"))
        .await;
    refused(response, "completed_at", "the patient's own assessment").await;
    // The edges of the bounds are accepted.
    let response = s
        .casey
        .post("/api/v1/patients", &person("1900-01-01"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = s
        .casey
        .post(
            &medications,
            &json!({"name": "Sertraline", "class": "antidepressant", "started_on": "1990-01-01", "stopped_on": "2100-12-31"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // Nothing refused was written.
    let history = s.casey.get_json(&assessments).await;
    assert_eq!(history.as_array().unwrap().len(), 0);
}

async fn out_of_range_dates_in_query_strings_are_refused_naming_the_field(app: TestApp) {
    let s = setup(&app).await;
    let patient = format!("/api/v1/patients/{}", s.patient);
    let cases: Vec<(&Client, String, &str)> = vec![
        (
            &s.casey,
            format!("{patient}/doses?from=1989-12-31&to=1990-01-05"),
            "from",
        ),
        (&s.casey, format!("{patient}/doses?to=2101-01-01"), "to"),
        (
            &s.casey,
            format!("{patient}/exposure/daily?from=2026-01-01&to=9999-12-30"),
            "to",
        ),
        (
            &s.casey,
            format!("{patient}/exposure/predicted?from=-009999-01-01&to=2026-01-01"),
            "from",
        ),
        (
            &s.casey,
            format!("{patient}/doses?include_history=maybe"),
            "include_history",
        ),
        (
            &s.clinic.admin,
            "/api/v1/audit-events?since=1899-12-31".into(),
            "since",
        ),
        (
            &s.clinic.admin,
            "/api/v1/audit-events?until=2101-01-01".into(),
            "until",
        ),
        (
            &s.clinic.admin,
            "/api/v1/audit-events?limit=many".into(),
            "limit",
        ),
    ];
    for (client, path, field) in cases {
        refused(client.get(&path).await, field, &path).await;
    }
    // The first and last clinical days are a valid range.
    let days = s
        .casey
        .get(&format!(
            "{patient}/exposure/daily?from=2100-12-01&to=2100-12-31"
        ))
        .await;
    assert_eq!(days.status(), StatusCode::OK);
    let days = s
        .casey
        .get(&format!("{patient}/doses?from=1990-01-01&to=1990-01-31"))
        .await;
    assert_eq!(days.status(), StatusCode::OK);
}

async fn a_range_at_the_end_of_the_calendar_is_refused_and_the_connection_kept(app: TestApp) {
    let s = setup(&app).await;
    let patient = format!("/api/v1/patients/{}", s.patient);
    for route in ["exposure/daily", "doses", "exposure/predicted"] {
        let path = format!("{patient}/{route}?from=9999-12-29&to=9999-12-30");
        let response = s.casey.get(&path).await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&body), ["to", "from"], "{path}: {body}");
    }
    // The server is still answering (a panic used to drop the connection).
    let days = s.casey.get(&format!("{patient}/exposure/daily")).await;
    assert_eq!(days.status(), StatusCode::OK);
}

async fn out_of_range_dates_on_pages_get_a_readable_answer(app: TestApp) {
    let s = setup(&app).await;
    let patient = format!("/patients/{}", s.patient);
    for path in [
        format!("{patient}/timeline?from=9999-12-29&to=9999-12-30"),
        format!("{patient}/doses?from=9999-12-29&to=9999-12-30"),
        format!("{patient}/doses?to=1989-12-31"),
    ] {
        let response = s.casey.get(&path).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("out of range"), "{path}: {html}");
    }
    // The medication form shows the bounds beside the field.
    let response = post_form(
        &s.casey,
        &format!("{patient}/medications"),
        &[
            ("name", "Sertraline"),
            ("class", "antidepressant"),
            ("started_on", "1989-12-31"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("1990-01-01"), "{html}");
}

async fn nul_characters_in_bodies_forms_and_query_strings_are_refused_naming_the_field(
    app: TestApp,
) {
    let s = setup(&app).await;
    let patient = format!("/api/v1/patients/{}", s.patient);
    let cases: Vec<(String, Value, &str)> = vec![
        (
            "/api/v1/patients".into(),
            json!({"display_name": "Ana\u{0}Lima", "birth_date": "1980-01-01", "time_zone": "UTC"}),
            "display_name",
        ),
        (
            "/api/v1/patients".into(),
            json!({"display_name": "Ana Lima", "birth_date": "1980-01-01", "time_zone": "UTC",
                   "jurisdiction": "US\u{0}TX"}),
            "jurisdiction",
        ),
        (
            format!("{patient}/doses"),
            json!({"batch_id": s.batch, "amount": 2, "unit": "g", "note": "\u{0}"}),
            "note",
        ),
        (
            format!("{patient}/doses/import"),
            json!({"csv": "date,time,product,amount,unit\n2026-11-01,08:00,Leaf\u{0},2,g\n"}),
            "csv",
        ),
        (
            format!("{patient}/medications"),
            json!({"name": "Sertra\u{0}line", "class": "antidepressant"}),
            "name",
        ),
        (
            "/api/v1/session".into(),
            json!({"email": "casey.doe@northside.test\u{0}", "password": "x"}),
            "email",
        ),
    ];
    for (path, body, field) in cases {
        refused(s.casey.post(&path, &body).await, field, &path).await;
    }
    // Keys are text too.
    let response = s
        .casey
        .put(
            &format!("{patient}/schedule"),
            &json!({"frequencies": {"phq\u{0}9": "daily"}}),
        )
        .await;
    refused(response, "frequencies.phq\u{0}9", "a schedule key").await;
    // Escaped backslashes are not NUL: `\\u0000` is six ordinary characters.
    let response = s
        .casey
        .post(
            "/api/v1/patients",
            &json!({"display_name": "Ana \\u0000 Lima", "birth_date": "1980-01-01", "time_zone": "UTC"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Query strings, on the API and on pages.
    let response = s.clinic.admin.get("/api/v1/audit-events?action=%00").await;
    refused(response, "action", "an audit filter").await;
    let response = s.clinic.admin.get("/admin/audit?action=a%00b").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("NUL"), "{html}");

    // A form field.
    let response = post_form(
        &s.casey,
        &format!("/patients/{}/medications", s.patient),
        &[("name", "Sertra\u{0}line"), ("class", "antidepressant")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("NUL"), "{html}");
    let response = app
        .anonymous()
        .request(Method::POST, "/login")
        .form(&[("email", "a\u{0}@b.test"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Nothing was written.
    let meds = s.casey.get_json(&format!("{patient}/medications")).await;
    assert_eq!(meds.as_array().unwrap().len(), 0, "{meds}");
}

async fn the_roster_lists_everyone_and_says_which_record_could_not_be_read(app: TestApp) {
    let s = setup(&app).await;
    // Three patients; Bea's check-in is then damaged behind the application's back.
    let alma = crate::helpers::create_patient(&s.casey, "Alma Ortiz").await;
    let bea = crate::helpers::create_patient(&s.casey, "Bea Quinn").await;
    for id in [&alma, &bea, &s.patient] {
        let response = s
            .casey
            .post(
                &format!("/api/v1/patients/{id}/assessments"),
                &json!({"instrument": "craving", "answers": {"1": 3}}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    corrupt_assessments_of(&app, &bea).await;

    let response = s.casey.get("/roster").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("record could not be read"), "{html}");
    assert!(
        html.contains(r#"data-patient="Bea Quinn" class="unreadable""#),
        "{html}"
    );
    for name in ["Alma Ortiz", "Dana Reyes"] {
        assert!(
            html.contains(&format!(r#"<tr data-patient="{name}">"#)),
            "{name} keeps a full row: {html}"
        );
    }
    // The failed read is in the audit log, like every read of patient data.
    let failed = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, outcome, p)| {
            action == "roster.read" && outcome == "failure" && p.as_deref() == Some(bea.as_str())
        })
        .count();
    assert_eq!(failed, 1);
    // The other lists across patients still answer.
    let patients = s.casey.get_json("/api/v1/patients").await;
    assert_eq!(patients.as_array().unwrap().len(), 3);
    assert_eq!(s.casey.get("/alerts").await.status(), StatusCode::OK);
    assert_eq!(
        s.casey.get("/api/v1/alerts?status=all").await.status(),
        StatusCode::OK
    );
    // Bea's own record fails alone, as a logged 500, never a dropped connection.
    let response = s
        .casey
        .get(&format!("/api/v1/patients/{bea}/assessments"))
        .await;
    problem(response, StatusCode::INTERNAL_SERVER_ERROR).await;
}

async fn the_scheduled_check_reaches_patients_after_one_whose_records_cannot_be_read(app: TestApp) {
    let s = setup(&app).await;
    // Patients are checked in id order: the damaged one is registered first.
    let first = crate::helpers::create_patient(&s.casey, "Abel First").await;
    let later = crate::helpers::create_patient(&s.casey, "Zoe Later").await;
    assert!(first < later);
    let response = s
        .casey
        .post(
            &format!("/api/v1/patients/{first}/assessments"),
            &json!({"instrument": "craving", "answers": {"1": 3}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    corrupt_assessments_of(&app, &first).await;
    // Zoe last checked in five days ago, written behind the rules' back.
    let later_id: speciosa_core::ids::PatientId = later.parse().unwrap();
    let stored = app.store.get_patient(later_id).await.unwrap().unwrap();
    app.store
        .insert_assessment(
            &speciosa_app::store::NewAssessment {
                organization_id: stored.organization_id,
                patient_id: later_id,
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
                entered_by: speciosa_core::ids::UserId::from_uuid(s.casey.id().parse().unwrap()),
            },
            |_| Vec::new(),
            |id| speciosa_core::audit::AuditEntry {
                actor_user_id: None,
                actor_role: None,
                organization_id: Some(stored.organization_id),
                action: "assessment.create".into(),
                resource_type: "assessment".into(),
                resource_id: Some(id.to_string()),
                patient_id: Some(later_id),
                outcome: speciosa_core::audit::Outcome::Success,
                client_addr: None,
                detail: Some("test fixture".into()),
            },
        )
        .await
        .unwrap();
    let missed = || async {
        s.casey
            .get_json(&format!("/api/v1/patients/{later}/alerts"))
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == "missed_checkins")
            .count()
    };
    assert_eq!(missed().await, 0, "no write ran the rules");
    let _checker = app
        .sibling(ServerConfig {
            safety_check_interval: std::time::Duration::from_millis(200),
            ..ServerConfig::default()
        })
        .await;
    let mut found = 0;
    for _ in 0..100 {
        found = missed().await;
        if found > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found, 1, "the schedule went past the unreadable patient");
}

/// Damages a patient's stored assessments the way the old bug did: on SQLite a time
/// text that cannot be parsed back, on PostgreSQL a time no client type can hold.
async fn corrupt_assessments_of(app: &TestApp, patient: &str) {
    let patient: uuid::Uuid = patient.parse().unwrap();
    match (&app.backend, &app.location) {
        (Backend::Sqlite, speciosa_app::store::DatabaseLocation::DataDir(dir)) => {
            let url = format!("sqlite://{}", dir.join("speciosa.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(
                "UPDATE assessments SET completed_at = '-9999-01-02T02:00:00.000000Z' WHERE patient_id = $1",
            )
            .bind(patient)
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        (Backend::Postgres, speciosa_app::store::DatabaseLocation::Url(url)) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query("UPDATE assessments SET completed_at = 'infinity' WHERE patient_id = $1")
                .bind(patient)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        other => panic!("unexpected test database {other:?}"),
    }
}
