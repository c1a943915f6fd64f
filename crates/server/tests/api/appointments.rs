//! Visits and therapy sessions: scheduling rules, who may see and change them, and the
//! record and home pages that show them.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Client, TestApp, create_patient, error_fields, location, on_both_backends, post_form, problem,
};

on_both_backends!(
    a_local_start_is_read_in_the_patients_zone_and_the_patient_sees_the_visit,
    scheduling_names_each_field_it_refuses,
    only_the_care_team_schedules_and_only_they_and_the_patient_see,
    a_cancelled_visit_leaves_the_list_and_the_cancellation_is_audited,
    the_record_page_schedules_and_cancels_and_the_home_shows_what_is_coming_up,
);

struct Setup {
    casey: Client,
    colleague: Client,
    patient: String,
    dana: Client,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Dr Casey Doe").await;
    let colleague = app.staff(&clinic, "clinician", "Robin Roe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    Setup {
        casey,
        colleague,
        patient,
        dana,
    }
}

impl Setup {
    fn path(&self) -> String {
        format!("/api/v1/patients/{}/appointments", self.patient)
    }
}

/// `days` from today at `time` in Chicago (the helpers' patients live there), as typed
/// into the form: `YYYY-MM-DDTHH:MM`, and the instant it stands for.
fn chicago(days: i64, time: Time) -> (String, Timestamp) {
    let zone = TimeZone::get("America/Chicago").unwrap();
    let day = (Timestamp::now() + SignedDuration::from_hours(24 * days))
        .to_zoned_datetime(zone.clone())
        .date();
    let local = day.to_datetime(time);
    let at = local.to_zoned_datetime(zone).unwrap().timestamp();
    (local.strftime("%Y-%m-%dT%H:%M").to_string(), at)
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    response.json().await.expect("json")
}

async fn a_local_start_is_read_in_the_patients_zone_and_the_patient_sees_the_visit(app: TestApp) {
    let s = setup(&app).await;
    let (typed, at) = chicago(7, Time::constant(10, 30, 0, 0));
    let created = json_of(
        s.casey
            .post(
                &s.path(),
                &json!({"kind": "visit", "starts_at": typed, "duration_minutes": 45,
                        "location": "Clinic room 2"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["starts_at"], at.to_string());
    assert!(
        created["starts_at_local"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{typed}:00-0")),
        "{created}"
    );
    assert_eq!(created["time_zone"], "America/Chicago");
    assert_eq!(created["clinician_name"], "Dr Casey Doe");
    assert_eq!(created["status"], "scheduled");
    // An instant with an offset is taken as given.
    let session_at = Timestamp::now() + SignedDuration::from_hours(24 * 10);
    let session = json_of(
        s.casey
            .post(
                &s.path(),
                &json!({"kind": "therapy_session", "starts_at": session_at.round(jiff::Unit::Second).unwrap().to_string(),
                        "duration_minutes": 60, "location": "Video call"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let listed = json_of(s.dana.get(&s.path()).await, StatusCode::OK).await;
    let kinds: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["visit", "therapy_session"]);
    assert_eq!(listed[1]["id"], session["id"]);
    // A window that ends before the session leaves it out.
    let until = (at + SignedDuration::from_hours(24)).to_string();
    let windowed = json_of(
        s.casey
            .get(&format!("{}?to={}", s.path(), until.replace('+', "%2B")))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(windowed.as_array().unwrap().len(), 1);
}

async fn scheduling_names_each_field_it_refuses(app: TestApp) {
    let s = setup(&app).await;
    let (yesterday, _) = chicago(-1, Time::constant(10, 0, 0, 0));
    let refused = s
        .casey
        .post(
            &s.path(),
            &json!({"kind": "appointment", "starts_at": yesterday, "duration_minutes": 4,
                    "location": "x".repeat(201)}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["kind", "starts_at", "duration_minutes", "location"]
    );
    let (next_week, _) = chicago(7, Time::constant(10, 0, 0, 0));
    let not_on_team = s
        .casey
        .post(
            &s.path(),
            &json!({"kind": "visit", "starts_at": next_week, "duration_minutes": 30,
                    "clinician_id": s.colleague.id()}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(not_on_team, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["clinician_id"]
    );
    let garbled = s
        .casey
        .post(
            &s.path(),
            &json!({"kind": "visit", "starts_at": "tomorrow at ten", "duration_minutes": 30}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(garbled, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["starts_at"]
    );
    let too_long = s
        .casey
        .get(&format!(
            "{}?from=2027-01-01T00:00:00Z&to=2028-06-01T00:00:00Z",
            s.path()
        ))
        .await;
    assert_eq!(
        error_fields(&problem(too_long, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["to"]
    );
}

async fn only_the_care_team_schedules_and_only_they_and_the_patient_see(app: TestApp) {
    let s = setup(&app).await;
    let (next_week, _) = chicago(7, Time::constant(10, 0, 0, 0));
    let body = json!({"kind": "visit", "starts_at": next_week, "duration_minutes": 30});
    // A clinician of the clinic who is not on the care team.
    problem(
        s.colleague.post(&s.path(), &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(s.colleague.get(&s.path()).await, StatusCode::FORBIDDEN).await;
    // The patient reads their own but does not schedule.
    problem(s.dana.post(&s.path(), &body).await, StatusCode::FORBIDDEN).await;
    // Another patient's appointments are not there at all for Dana.
    let other = create_patient(&s.casey, "Sam Whitfield").await;
    let other_path = format!("/api/v1/patients/{other}/appointments");
    let visit = json_of(s.casey.post(&other_path, &body).await, StatusCode::CREATED).await;
    problem(s.dana.get(&other_path).await, StatusCode::NOT_FOUND).await;
    problem(
        s.dana
            .delete(&format!(
                "/api/v1/appointments/{}",
                visit["id"].as_str().unwrap()
            ))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        s.colleague
            .delete(&format!(
                "/api/v1/appointments/{}",
                visit["id"].as_str().unwrap()
            ))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let denied = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, outcome, _)| action.starts_with("appointment.") && outcome == "denied")
        .count();
    assert_eq!(denied, 6);
}

async fn a_cancelled_visit_leaves_the_list_and_the_cancellation_is_audited(app: TestApp) {
    let s = setup(&app).await;
    let (next_week, _) = chicago(7, Time::constant(10, 0, 0, 0));
    let visit = json_of(
        s.casey
            .post(
                &s.path(),
                &json!({"kind": "visit", "starts_at": next_week, "duration_minutes": 30}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/appointments/{}", visit["id"].as_str().unwrap());
    assert_eq!(s.casey.delete(&path).await.status(), StatusCode::NO_CONTENT);
    let listed = json_of(s.dana.get(&s.path()).await, StatusCode::OK).await;
    assert_eq!(listed, json!([]));
    // Again: nothing left to cancel, and nothing more recorded.
    assert_eq!(s.casey.delete(&path).await.status(), StatusCode::NO_CONTENT);
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _, patient)| {
            action.starts_with("appointment.") && patient.as_deref() == Some(s.patient.as_str())
        })
        .map(|(action, _, _)| action)
        .collect();
    assert_eq!(
        actions,
        [
            "appointment.create",
            "appointment.cancel",
            "appointment.list"
        ]
    );
}

async fn the_record_page_schedules_and_cancels_and_the_home_shows_what_is_coming_up(app: TestApp) {
    let s = setup(&app).await;
    let record = format!("/patients/{}", s.patient);
    let (typed, _) = chicago(3, Time::constant(14, 0, 0, 0));
    // A refused form comes back with the field named and what was typed kept.
    let refused = post_form(
        &s.casey,
        &format!("{record}/appointments"),
        &[
            ("kind", "therapy_session"),
            ("starts_at", &typed),
            ("duration_minutes", "1000"),
            ("location", "Group room"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("between 5 and 480 minutes"), "{page}");
    assert!(page.contains("value=\"Group room\""));
    let saved = post_form(
        &s.casey,
        &format!("{record}/appointments"),
        &[
            ("kind", "therapy_session"),
            ("starts_at", &typed),
            ("duration_minutes", "50"),
            ("location", "Group room"),
            ("clinician_id", &s.casey.id()),
        ],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(location(&saved).starts_with(&format!("{record}?saved=appointment")));
    let page = s.casey.get(&record).await.text().await.unwrap();
    assert!(page.contains("Visits and sessions"));
    assert!(page.contains("America/Chicago"));
    assert!(
        page.contains(&format!("{}:00 C", &typed[11..13])),
        "14:00 CST/CDT shown"
    );
    assert!(page.contains("Yes, cancel it"));

    let home = s.dana.get("/home").await.text().await.unwrap();
    assert!(home.contains("Coming up"), "{home}");
    assert!(home.contains("Therapy session with Dr Casey Doe"));

    let listed = json_of(s.casey.get(&s.path()).await, StatusCode::OK).await;
    let id = listed[0]["id"].as_str().unwrap();
    let cancelled = post_form(&s.casey, &format!("/appointments/{id}/cancel"), &[]).await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    let home = s.dana.get("/home").await.text().await.unwrap();
    assert!(!home.contains("Coming up"));
}
