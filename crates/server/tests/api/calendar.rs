//! Calendar feeds: a secret address made and revoked by its owner, fetched without a
//! session, that calendar apps (and an independent parser) read as RFC 5545.

use std::collections::BTreeMap;

use icalendar::parser::{Component, read_calendar, unfold};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, PASSWORD, TestApp, on_both_backends, post_form};

on_both_backends!(
    a_patient_feed_needs_no_session_and_repeats_the_check_in_daily_with_an_alarm,
    the_check_in_stays_at_nine_local_across_the_spring_change,
    revoking_or_making_a_new_address_makes_the_old_one_answer_404,
    the_patient_feed_carries_planned_doses_and_visits_without_amounts_or_names,
    a_clinician_feed_names_patients_by_initials_only,
    the_account_page_shows_a_new_address_once_and_revokes_it,
    a_served_feed_parses_with_pythons_icalendar,
    a_chosen_reminder_time_moves_the_check_in,
);

struct Setup {
    casey: Client,
    patient: String,
    dana: Client,
}

/// Casey, and Dana who lives in New York (daylight saving changes in March and November).
async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Dr Casey Doe").await;
    let created: Value = casey
        .post(
            "/api/v1/patients",
            &json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14",
                    "time_zone": "America/New_York"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let patient = created["id"].as_str().unwrap().to_owned();
    let email = format!("dana.{}@patients.test", &patient[..8]);
    let login = casey
        .post(
            &format!("/api/v1/patients/{patient}/account"),
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::CREATED);
    let dana = app.sign_in(&email, PASSWORD).await;
    Setup {
        casey,
        patient,
        dana,
    }
}

async fn new_feed(who: &Client) -> String {
    let response = who
        .send(reqwest::Method::POST, "/api/v1/account/calendar-feed", None)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["url"].as_str().unwrap().to_owned()
}

/// Fetches a feed as a calendar app does: a plain client, no cookie.
async fn fetch(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("feed request")
}

async fn feed_text(url: &str) -> String {
    let response = fetch(url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "text/calendar; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for line in text.split_terminator("\r\n") {
        assert!(line.len() <= 75, "a line over 75 octets: {line}");
    }
    text
}

/// A parsed component, owned: name, properties (name → (value, params)), children.
#[derive(Clone, Debug)]
struct Part {
    name: String,
    props: Vec<(String, String, BTreeMap<String, String>)>,
    parts: Vec<Part>,
}

impl Part {
    fn of(component: &Component<'_>) -> Part {
        Part {
            name: component.name.as_str().to_owned(),
            props: component
                .properties
                .iter()
                .map(|p| {
                    (
                        p.name.as_str().to_owned(),
                        p.val.as_str().to_owned(),
                        p.params
                            .iter()
                            .map(|q| {
                                (
                                    q.key.as_str().to_owned(),
                                    q.val
                                        .as_ref()
                                        .map(|v| v.as_str().to_owned())
                                        .unwrap_or_default(),
                                )
                            })
                            .collect(),
                    )
                })
                .collect(),
            parts: component.components.iter().map(Part::of).collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
    }

    fn param(&self, name: &str, param: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, _, p)| p.get(param))
            .map(String::as_str)
    }

    fn children(&self, name: &str) -> Vec<&Part> {
        self.parts.iter().filter(|p| p.name == name).collect()
    }
}

fn parse(text: &str) -> Part {
    let unfolded = unfold(text);
    let calendar = read_calendar(&unfolded).expect("the feed parses as iCalendar");
    Part {
        name: "VCALENDAR".into(),
        props: calendar
            .properties
            .iter()
            .map(|p| {
                (
                    p.name.as_str().to_owned(),
                    p.val.as_str().to_owned(),
                    BTreeMap::new(),
                )
            })
            .collect(),
        parts: calendar.components.iter().map(Part::of).collect(),
    }
}

fn event<'a>(calendar: &'a Part, uid_prefix: &str) -> Vec<&'a Part> {
    calendar
        .children("VEVENT")
        .into_iter()
        .filter(|e| e.get("UID").is_some_and(|u| u.starts_with(uid_prefix)))
        .collect()
}

fn assert_alarm(event: &Part, trigger: &str) {
    let alarms = event.children("VALARM");
    assert_eq!(alarms.len(), 1, "one VALARM");
    assert_eq!(alarms[0].get("ACTION"), Some("DISPLAY"));
    assert!(alarms[0].get("DESCRIPTION").is_some_and(|d| !d.is_empty()));
    assert_eq!(alarms[0].get("TRIGGER"), Some(trigger));
}

async fn a_patient_feed_needs_no_session_and_repeats_the_check_in_daily_with_an_alarm(
    app: TestApp,
) {
    let s = setup(&app).await;
    let url = new_feed(&s.dana).await;
    assert!(url.starts_with(&app.base), "{url} under {}", app.base);
    let token = url
        .rsplit('/')
        .next()
        .unwrap()
        .strip_suffix(".ics")
        .unwrap();
    assert!(token.len() >= 32, "at least 128 bits");
    let calendar = parse(&feed_text(&url).await);
    assert_eq!(calendar.get("VERSION"), Some("2.0"));
    let zones = calendar.children("VTIMEZONE");
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].get("TZID"), Some("America/New_York"));
    let check_in = event(&calendar, "checkin-");
    assert_eq!(check_in.len(), 1);
    let check_in = check_in[0];
    assert_eq!(
        check_in.get("UID"),
        Some(format!("checkin-{}@speciosa", s.patient).as_str())
    );
    assert_eq!(check_in.get("RRULE"), Some("FREQ=DAILY"));
    assert_eq!(check_in.param("DTSTART", "TZID"), Some("America/New_York"));
    assert!(check_in.get("DTSTART").unwrap().ends_with("T090000"));
    assert!(check_in.get("DTSTAMP").is_some());
    assert!(
        check_in
            .get("DESCRIPTION")
            .unwrap()
            .contains("set a reminder time in Speciosa to move this")
    );
    assert!(
        check_in
            .get("URL")
            .unwrap()
            .ends_with(&format!("/patients/{}/checkin", s.patient))
    );
    assert_alarm(check_in, "-PT15M");
    let fetched = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _, patient)| {
            action == "calendar.fetch" && patient.as_deref() == Some(s.patient.as_str())
        })
        .count();
    assert_eq!(fetched, 1);
    // Something that is not a token is not found either, and nothing is recorded for it.
    assert_eq!(
        fetch(&format!("{}/calendar/not-a-token.ics", app.base))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// The UTC instant of `local` by the feed's own `VTIMEZONE`: the offset of the latest
/// observance that began at or before it (RFC 5545 §3.6.5), as a calendar app reads it.
fn by_vtimezone(zone: &Part, local: DateTime) -> Timestamp {
    let mut observances: Vec<(DateTime, i32)> = zone
        .parts
        .iter()
        .map(|o| {
            let start = DateTime::strptime("%Y%m%dT%H%M%S", o.get("DTSTART").unwrap()).unwrap();
            let to = o.get("TZOFFSETTO").unwrap();
            let sign = if to.starts_with('-') { -1 } else { 1 };
            let hours: i32 = to[1..3].parse().unwrap();
            let minutes: i32 = to[3..5].parse().unwrap();
            (start, sign * (hours * 3600 + minutes * 60))
        })
        .collect();
    observances.sort();
    let (_, offset) = observances
        .iter()
        .rev()
        .find(|(start, _)| *start <= local)
        .expect("an observance in force");
    let offset = jiff::tz::Offset::from_seconds(*offset).unwrap();
    offset.to_timestamp(local).unwrap()
}

async fn the_check_in_stays_at_nine_local_across_the_spring_change(app: TestApp) {
    let s = setup(&app).await;
    let calendar = parse(&feed_text(&new_feed(&s.dana).await).await);
    let zone = calendar.children("VTIMEZONE")[0];
    let check_in = event(&calendar, "checkin-")[0];
    let first = DateTime::strptime("%Y%m%dT%H%M%S", check_in.get("DTSTART").unwrap()).unwrap();
    assert_eq!(first.time(), Time::constant(9, 0, 0, 0));
    // The next spring change in New York, and the days either side of it.
    let new_york = TimeZone::get("America/New_York").unwrap();
    let change = new_york
        .following(Timestamp::now())
        .find(|t| t.dst().is_dst())
        .unwrap();
    let change_day = change
        .timestamp()
        .to_zoned_datetime(new_york.clone())
        .date();
    for day in [
        change_day.yesterday().unwrap(),
        change_day,
        change_day.tomorrow().unwrap(),
    ] {
        assert!(day >= first.date());
        let nine = day.to_datetime(first.time());
        let expected = nine
            .to_zoned_datetime(new_york.clone())
            .unwrap()
            .timestamp();
        assert_eq!(by_vtimezone(zone, nine), expected, "09:00 on {day}");
    }
    let before: Date = change_day.yesterday().unwrap();
    let after: Date = change_day.tomorrow().unwrap();
    assert_eq!(
        by_vtimezone(zone, after.to_datetime(first.time()))
            .duration_since(by_vtimezone(zone, before.to_datetime(first.time()))),
        SignedDuration::from_hours(47),
        "the day of the change is 23 hours long"
    );
}

async fn revoking_or_making_a_new_address_makes_the_old_one_answer_404(app: TestApp) {
    let s = setup(&app).await;
    let first = new_feed(&s.dana).await;
    assert_eq!(fetch(&first).await.status(), StatusCode::OK);
    let second = new_feed(&s.dana).await;
    assert_ne!(first, second);
    assert_eq!(fetch(&first).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(fetch(&second).await.status(), StatusCode::OK);
    let revoked = s
        .dana
        .send(
            reqwest::Method::DELETE,
            "/api/v1/account/calendar-feed",
            None,
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(fetch(&second).await.status(), StatusCode::NOT_FOUND);
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .filter(|a| a.starts_with("calendar."))
        .collect();
    assert_eq!(
        actions,
        [
            "calendar.create",
            "calendar.fetch",
            "calendar.create",
            "calendar.fetch",
            "calendar.revoke"
        ]
    );
}

/// A month's taper from tomorrow with a morning and a bedtime dose.
fn taper_from_tomorrow() -> Value {
    let tomorrow = Timestamp::now()
        .to_zoned_datetime(TimeZone::get("America/New_York").unwrap())
        .date()
        .tomorrow()
        .unwrap();
    json!({
        "kind": "taper",
        "generator": {"kind": "percent_of_original", "start_mg": 100, "percent": 25,
                      "interval_days": 7, "start_date": tomorrow.to_string()},
        "slots": [{"time": "08:00", "share": 0.5}, {"time": "21:30", "share": 0.5, "bedtime": true}],
        "per_dose_max_mg": 60, "per_day_max_mg": 110,
        "rationale": "Agreed with the patient: a month's taper, weekly steps.",
    })
}

async fn the_patient_feed_carries_planned_doses_and_visits_without_amounts_or_names(app: TestApp) {
    let s = setup(&app).await;
    let plan: Value = s
        .casey
        .post(
            &format!("/api/v1/patients/{}/plans", s.patient),
            &taper_from_tomorrow(),
        )
        .await
        .json()
        .await
        .unwrap();
    let plan_id = plan["id"].as_str().unwrap();
    let signed = s
        .casey
        .post(
            &format!("/api/v1/plans/{plan_id}/sign"),
            &json!({"password": PASSWORD, "statement": "I approve this plan."}),
        )
        .await;
    assert!(signed.status().is_success(), "{}", signed.status());
    let starts_at = (Timestamp::now() + SignedDuration::from_hours(24 * 6))
        .round(jiff::Unit::Minute)
        .unwrap();
    let visit = s
        .casey
        .post(
            &format!("/api/v1/patients/{}/appointments", s.patient),
            &json!({"kind": "visit", "starts_at": starts_at.to_string(), "duration_minutes": 45,
                    "location": "Clinic room 2, first floor"}),
        )
        .await;
    assert_eq!(visit.status(), StatusCode::CREATED);
    let visit: Value = visit.json().await.unwrap();

    let text = feed_text(&new_feed(&s.dana).await).await;
    for secret in ["Dana", "Reyes", "mg", "kratom", "Kratom", "mitragynine"] {
        assert!(!text.contains(secret), "the feed names {secret:?}");
    }
    let calendar = parse(&text);
    let doses = event(&calendar, "dose-");
    assert_eq!(doses.len(), 2, "one event per slot");
    let tomorrow = Timestamp::now()
        .to_zoned_datetime(TimeZone::get("America/New_York").unwrap())
        .date()
        .tomorrow()
        .unwrap();
    for (dose, time) in doses.iter().zip(["080000", "213000"]) {
        assert_eq!(dose.get("SUMMARY"), Some("Planned dose"));
        assert_eq!(dose.get("SEQUENCE"), Some("1"), "the plan's version");
        assert_eq!(
            dose.get("DTSTART"),
            Some(format!("{}T{time}", tomorrow.strftime("%Y%m%d")).as_str())
        );
        assert_eq!(dose.param("DTSTART", "TZID"), Some("America/New_York"));
        let rule = dose.get("RRULE").unwrap();
        assert!(rule.starts_with("FREQ=DAILY;UNTIL="), "{rule}");
        assert!(rule.ends_with('Z'), "UNTIL in UTC: {rule}");
        assert_alarm(dose, "-PT15M");
    }
    let visits = event(&calendar, "visit-");
    assert_eq!(visits.len(), 1);
    assert_eq!(
        visits[0].get("UID"),
        Some(format!("visit-{}@speciosa", visit["id"].as_str().unwrap()).as_str())
    );
    assert_eq!(visits[0].get("SUMMARY"), Some("Visit with Dr Casey Doe"));
    assert_eq!(
        visits[0].get("DTSTART"),
        Some(starts_at.strftime("%Y%m%dT%H%M%SZ").to_string().as_str())
    );
    assert_eq!(visits[0].get("DURATION"), Some("PT45M"));
    assert_eq!(
        visits[0].get("LOCATION"),
        Some("Clinic room 2, first floor")
    );
    assert!(
        text.contains("LOCATION:Clinic room 2\\, first floor\r\n"),
        "escaped"
    );
    assert_alarm(visits[0], "-PT1H");
}

async fn a_clinician_feed_names_patients_by_initials_only(app: TestApp) {
    let s = setup(&app).await;
    let starts_at = (Timestamp::now() + SignedDuration::from_hours(24 * 2))
        .round(jiff::Unit::Minute)
        .unwrap();
    for kind in ["visit", "therapy_session"] {
        let created = s
            .casey
            .post(
                &format!("/api/v1/patients/{}/appointments", s.patient),
                &json!({"kind": kind, "starts_at": starts_at.to_string(), "duration_minutes": 30}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let text = feed_text(&new_feed(&s.casey).await).await;
    assert!(!text.contains("Dana") && !text.contains("Reyes"));
    let calendar = parse(&text);
    let summaries: Vec<&str> = calendar
        .children("VEVENT")
        .iter()
        .map(|e| e.get("SUMMARY").unwrap())
        .collect();
    assert_eq!(summaries, ["Visit (D. R.)", "Therapy session (D. R.)"]);
    assert!(
        event(&calendar, "session-")[0]
            .get("URL")
            .unwrap()
            .ends_with(&format!("/patients/{}", s.patient))
    );
    // The patient's own feed is not the clinician's.
    let dana = parse(&feed_text(&new_feed(&s.dana).await).await);
    assert_eq!(event(&dana, "checkin-").len(), 1);
    assert!(event(&calendar, "checkin-").is_empty());
}

async fn the_account_page_shows_a_new_address_once_and_revokes_it(app: TestApp) {
    let s = setup(&app).await;
    let before = s.dana.get("/account").await.text().await.unwrap();
    assert!(before.contains("Anyone with the link can see the titles and times"));
    assert!(before.contains("You have no calendar feed"));
    let made = post_form(&s.dana, "/account/calendar-feed", &[]).await;
    assert_eq!(made.status(), StatusCode::OK);
    let page = made.text().await.unwrap();
    let start = page.find("/calendar/").expect("the address is shown");
    let end = start + page[start..].find(".ics").unwrap() + 4;
    let path = &page[start..end];
    assert_eq!(fetch(&app.url(path)).await.status(), StatusCode::OK);
    let later = s.dana.get("/account").await.text().await.unwrap();
    assert!(!later.contains(path), "shown only once");
    assert!(later.contains("Your feed was made"));
    let revoked = post_form(&s.dana, "/account/calendar-feed/revoke", &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(fetch(&app.url(path)).await.status(), StatusCode::NOT_FOUND);
}

/// An independent reader: PyPI's `icalendar`, as the acceptance check uses it.
async fn a_served_feed_parses_with_pythons_icalendar(app: TestApp) {
    let Some(python) = std::env::var_os("SPECIOSA_ICAL_PYTHON") else {
        assert!(
            std::env::var_os("SPECIOSA_REQUIRE_ICAL_PARSER").is_none(),
            "SPECIOSA_ICAL_PYTHON is required"
        );
        eprintln!(
            "skipped: set SPECIOSA_ICAL_PYTHON (scripts/test does) to parse feeds with Python's icalendar"
        );
        return;
    };
    let s = setup(&app).await;
    let url = new_feed(&s.dana).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/check_ical.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(&url)
        .output()
        .expect("run the icalendar check");
    assert!(
        output.status.success(),
        "Python's icalendar refused the feed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn a_chosen_reminder_time_moves_the_check_in(app: TestApp) {
    let s = setup(&app).await;
    let saved = s
        .dana
        .put(
            "/api/v1/account/notification-preferences",
            &json!({"channels": ["email"], "quiet_hours": null, "check_in_reminder": "07:45"}),
        )
        .await;
    assert!(saved.status().is_success(), "{}", saved.status());
    let calendar = parse(&feed_text(&new_feed(&s.dana).await).await);
    let check_in = event(&calendar, "checkin-")[0];
    assert!(check_in.get("DTSTART").unwrap().ends_with("T074500"));
    assert!(
        !check_in
            .get("DESCRIPTION")
            .unwrap()
            .contains("set a reminder time")
    );
}
