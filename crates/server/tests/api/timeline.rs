//! The patient timeline page, `GET /patients/{id}/timeline`: who may see it, what it shows,
//! and what a bad range gives.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, Clinic, TestApp, on_both_backends};
use crate::products::{batch, product};

on_both_backends!(
    the_care_team_clinician_sees_every_chart_with_the_logged_dose,
    the_patient_sees_their_own_timeline_without_alert_evidence,
    anyone_else_signed_in_is_refused_and_never_redirected,
    a_bad_range_is_a_readable_422_page,
    a_custom_range_names_its_dates_and_leaves_out_doses_outside_it,
);

/// Every chart section of the page, by its anchor.
const SECTIONS: [&str; 13] = [
    "signals",
    "doses",
    "hydroxy",
    "dose-times",
    "predicted",
    "cows",
    "sows",
    "craving",
    "sleep",
    "sleep-time",
    "phq9",
    "gad7",
    "pain",
];

struct Setup {
    clinic: Clinic,
    casey: Client,
    dana: Client,
    patient: String,
    batch: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let details = json!({"display_name": "Dana Reyes", "birth_date": "1988-04-12", "time_zone": "America/Chicago", "usual_bedtime": "22:30"});
    assert_eq!(
        casey
            .put(&format!("/api/v1/patients/{patient}"), &details)
            .await
            .status(),
        StatusCode::OK
    );
    let leaf = product(
        &casey,
        json!({"name": "Characterized leaf", "form": "leaf_powder"}),
    )
    .await;
    // 19.5 mg/g mitragynine: 3 g is 58.5 mg.
    let lot = batch(
        &casey,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}}),
    )
    .await;
    Setup {
        clinic,
        casey,
        dana,
        patient,
        batch: lot["id"].as_str().unwrap().to_owned(),
    }
}

impl Setup {
    fn page(&self) -> String {
        format!("/patients/{}/timeline", self.patient)
    }

    async fn log_dose(&self, taken_at: Option<String>) {
        let mut body =
            json!({"batch_id": self.batch, "amount": 3.0, "unit": "g", "confirm_backdated": true});
        if let Some(at) = taken_at {
            body["taken_at"] = json!(at);
        }
        let response = self
            .casey
            .post(&format!("/api/v1/patients/{}/doses", self.patient), &body)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    async fn phq9(&self, item_nine: u8) {
        let mut answers: serde_json::Map<String, Value> =
            (1..=8).map(|i| (i.to_string(), json!(1))).collect();
        answers.insert("9".into(), json!(item_nine));
        answers.insert("difficulty".into(), json!(1));
        let response = self
            .dana
            .post(
                &format!("/api/v1/patients/{}/assessments", self.patient),
                &json!({"instrument": "phq9", "answers": answers}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

async fn html(client: &Client, path: &str, status: StatusCode) -> String {
    let response = client.get(path).await;
    assert_eq!(response.status(), status, "GET {path}");
    assert!(
        response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html")),
        "a page, not problem+json"
    );
    response.text().await.unwrap()
}

async fn the_care_team_clinician_sees_every_chart_with_the_logged_dose(app: TestApp) {
    let s = setup(&app).await;
    s.log_dose(None).await;
    s.phq9(0).await;
    let page = html(&s.casey, &s.page(), StatusCode::OK).await;
    for section in SECTIONS {
        assert!(
            page.contains(&format!("id=\"{section}\"")),
            "the {section} section is missing"
        );
    }
    // The dose's milligrams, on its bar's tooltip and in the summary.
    assert!(page.contains("MG 58.5 mg, 7-OH 0.3 mg, 1 dose"), "{page}");
    assert!(page.contains("Characterized leaf (lot K51)"));
    // Charts share one axis: every chart draws in the same box, labelled with the same days.
    assert!(page.contains("viewBox=\"0 0 1000 120\""));
    // Thresholds cite their sources; the PK model says how weak its evidence is.
    assert!(page.contains("Kroenke"), "PHQ-9 bands cite their source");
    assert!(page.contains("not a dosing recommendation"));
    assert!(page.contains("Tanna RS et al."));
    assert!(
        page.contains("no published severity bands"),
        "SOWS says it has none"
    );
    let audit = app.audit_actions().await;
    assert!(
        audit
            .iter()
            .any(|(action, outcome, patient)| action == "timeline.read"
                && outcome == "success"
                && patient.as_deref() == Some(s.patient.as_str())),
        "the page view is audited: {audit:?}"
    );
    for read in [
        "exposure.read",
        "dose.list",
        "exposure.predict",
        "assessment.list",
    ] {
        assert!(
            audit.iter().any(|(action, _, _)| action == read),
            "{read} is audited by its service"
        );
    }
    // The patient record links here.
    let record = html(
        &s.casey,
        &format!("/patients/{}", s.patient),
        StatusCode::OK,
    )
    .await;
    assert!(record.contains(&format!("href=\"{}\"", s.page())));
}

async fn the_patient_sees_their_own_timeline_without_alert_evidence(app: TestApp) {
    let s = setup(&app).await;
    s.log_dose(None).await;
    // Item 9 above zero raises an urgent alert.
    s.phq9(1).await;
    let own = html(&s.dana, &s.page(), StatusCode::OK).await;
    assert!(own.contains("Your timeline"));
    assert!(own.contains("your care team has been notified"));
    assert!(own.contains("MG 58.5 mg"));
    assert!(
        !own.contains("item 9 answered"),
        "the alert's evidence is for the care team"
    );
    assert!(!own.contains("href=\"/alerts/"));
    let staff = html(&s.casey, &s.page(), StatusCode::OK).await;
    assert!(staff.contains("item 9 answered"), "{staff}");
    assert!(
        staff.contains("href=\"/alerts/"),
        "alerts link to their page"
    );
}

async fn anyone_else_signed_in_is_refused_and_never_redirected(app: TestApp) {
    let s = setup(&app).await;
    // Before anything is logged the page still answers, saying so.
    let empty = html(&s.casey, &s.page(), StatusCode::OK).await;
    assert!(empty.contains("No doses logged in this range."));
    let outsider = app.staff(&s.clinic, "clinician", "Olu Outside").await;
    let researcher = app.staff(&s.clinic, "researcher", "Rae Search").await;
    let (_, other_patient) = app.patient_with_login(&s.casey, "Ezra Other").await;
    for (who, client, status) in [
        (
            "a clinician not on the care team",
            &outsider,
            StatusCode::FORBIDDEN,
        ),
        ("an admin", &s.clinic.admin, StatusCode::FORBIDDEN),
        ("a researcher", &researcher, StatusCode::FORBIDDEN),
        ("another patient", &other_patient, StatusCode::NOT_FOUND),
    ] {
        let response = client.get(&s.page()).await;
        assert_eq!(response.status(), status, "{who}");
        assert!(response.headers().get(reqwest::header::LOCATION).is_none());
    }
    let denied = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, outcome, _)| action == "timeline.read" && outcome == "denied")
        .count();
    assert_eq!(denied, 4, "each refusal is audited under the page's name");
    // Without a session: to sign in, and back here afterwards.
    let response = app.anonymous().get(&s.page()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.starts_with("/login?next="), "{location}");
    // An address that names no patient is not found either.
    let response = s.casey.get("/patients/not-a-patient/timeline").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

async fn a_bad_range_is_a_readable_422_page(app: TestApp) {
    let s = setup(&app).await;
    for (query, says) in [
        ("?from=2026-11-20&to=2026-11-01", "after the end date"),
        ("?from=2024-01-01&to=2026-01-01", "at most 366 days"),
        ("?days=400", "choose 14, 30 or 90"),
        ("?from=soon&to=2026-11-01", "not a date"),
        ("?from=2026-11-01", "end date is missing"),
    ] {
        let page = html(
            &s.casey,
            &format!("{}{query}", s.page()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(page.contains(says), "{query}: {page}");
        // The range form is shown again to fix it, without charts.
        assert!(page.contains("name=\"from\""));
        assert!(!page.contains("id=\"doses\""));
    }
    // The same refusal order as every page: access is checked before the range.
    let (_, other_patient) = app.patient_with_login(&s.casey, "Ezra Other").await;
    let response = other_patient.get(&format!("{}?days=400", s.page())).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

async fn a_custom_range_names_its_dates_and_leaves_out_doses_outside_it(app: TestApp) {
    let s = setup(&app).await;
    let zone = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(zone.clone())
        .date();
    // A dose at noon 20 days ago, and one today.
    let earlier = today.checked_sub(jiff::Span::new().days(20)).unwrap();
    let noon = earlier
        .at(12, 0, 0, 0)
        .to_zoned_datetime(zone)
        .unwrap()
        .timestamp();
    s.log_dose(Some(noon.to_string())).await;
    s.log_dose(None).await;
    let from = earlier.checked_sub(jiff::Span::new().days(2)).unwrap();
    let to = earlier.checked_add(jiff::Span::new().days(2)).unwrap();
    let page = html(
        &s.casey,
        &format!("{}?from={from}&to={to}", s.page()),
        StatusCode::OK,
    )
    .await;
    assert!(
        page.contains("(5 days)"),
        "the range is named with its length"
    );
    assert!(page.contains(&format!("{}: MG 58.5 mg", earlier.strftime("%a %-d %b %Y"))));
    let today_label = format!("{}: MG", today.strftime("%a %-d %b %Y"));
    assert!(
        !page.contains(&today_label),
        "today's dose is outside the range"
    );
    // Two-week presets are offered as links.
    assert!(page.contains(&format!("{}?days=14", s.page())));
}
