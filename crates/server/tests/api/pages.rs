//! Pages that never strand anyone (issue 10, items 9 and 10): error pages keep the
//! navigation and a patient's crisis bar, times name their zone, one dose figure reads
//! the same everywhere, the patient's pages speak plainly, and the check-in saves part by part.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, location, on_both_backends, post_form};
use crate::products::{batch, product};

on_both_backends!(
    an_unknown_address_is_a_404_page_with_the_visitors_navigation,
    an_error_page_keeps_the_navigation_and_a_patients_help_bar,
    times_on_a_record_name_the_patients_zone_and_across_patients_the_organizations,
    the_roster_timeline_and_home_give_the_same_mitragynine_per_day,
    the_patients_timeline_and_home_speak_plainly,
    the_check_in_says_its_length_and_keeps_a_section_saved_on_its_own,
    a_safety_answer_saved_on_its_own_alerts_at_once_and_shows_crisis_contacts,
    the_audit_logs_date_filter_reads_days_in_the_organizations_zone,
);

/// `21:30 CST`: how `at` reads in `zone`, zone named.
fn clock_time(at: Timestamp, zone: &str) -> String {
    at.to_zoned_datetime(TimeZone::get(zone).unwrap())
        .strftime("%H:%M %Z")
        .to_string()
}

/// A batch of assayed leaf (19.5 mg/g mitragynine: 3 g is 58.5 mg).
async fn leaf_batch(clinician: &Client) -> String {
    let leaf = product(
        clinician,
        json!({"name": "Characterized leaf", "form": "leaf_powder"}),
    )
    .await;
    let lot = batch(
        clinician,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}}),
    )
    .await;
    lot["id"].as_str().unwrap().to_owned()
}

async fn log_dose(clinician: &Client, patient: &str, batch: &str, grams: f64, at: Timestamp) {
    let response = clinician
        .post(
            &format!("/api/v1/patients/{patient}/doses"),
            &json!({"batch_id": batch, "amount": grams, "unit": "g", "taken_at": at.to_string(), "confirm_backdated": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "logging a dose");
}

/// PHQ-9 with item 9 above zero, which raises an urgent alert.
async fn phq9_with_item_nine(patient_client: &Client, patient: &str) {
    let mut answers: serde_json::Map<String, Value> =
        (1..=9).map(|i| (i.to_string(), json!(1))).collect();
    answers.insert("difficulty".into(), json!(1));
    let response = patient_client
        .post(
            &format!("/api/v1/patients/{patient}/assessments"),
            &json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// A page's status and text, checking it is HTML.
async fn page(client: &Client, path: &str) -> (StatusCode, String) {
    let response = client.get(path).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "GET {path} is a page, not {content_type}"
    );
    (status, response.text().await.expect("body"))
}

const NAVIGATION: &str = "<nav class=\"site-nav\"";
const HELP_BAR: &str = "class=\"help-bar\"";

async fn an_unknown_address_is_a_404_page_with_the_visitors_navigation(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (_, dana) = app.patient_with_login(&casey, "Dana Reyes").await;

    let (status, body) = page(&casey, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Page not found"), "{body}");
    assert!(
        body.contains(NAVIGATION),
        "the clinician keeps their navigation: {body}"
    );
    assert!(
        body.contains("href=\"/roster\""),
        "with the clinician's links"
    );
    assert!(body.contains("Casey Doe"));
    assert!(!body.contains(HELP_BAR), "the crisis bar is the patient's");

    let (status, body) = page(&dana, "/patients/not-a-page/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains(NAVIGATION) && body.contains("href=\"/home\""),
        "{body}"
    );
    assert!(
        body.contains(HELP_BAR) && body.contains("Need help now?"),
        "{body}"
    );
    assert!(
        body.contains("tel:988"),
        "the patient's crisis line is one tap away: {body}"
    );

    let (status, body) = page(&clinic.admin, "/admin/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("href=\"/admin/users\""), "{body}");

    // Signed out: no navigation, a way to sign in.
    let (status, body) = page(&app.anonymous(), "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains(NAVIGATION) && !body.contains(HELP_BAR));
    assert!(body.contains("href=\"/login\""), "{body}");

    // Under /api the answer stays problem+json.
    let response = casey.get("/api/no-such-route").await;
    crate::helpers::problem(response, StatusCode::NOT_FOUND).await;
    let response = casey.get("/api/v1/no-such-route").await;
    crate::helpers::problem(response, StatusCode::NOT_FOUND).await;
}

async fn an_error_page_keeps_the_navigation_and_a_patients_help_bar(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (dana_id, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let (other_id, _) = app.patient_with_login(&casey, "Ezra Other").await;

    // A patient who is not on the clinician's list, and another patient's record.
    let (status, body) = page(&casey, "/patients/0193a1b2-0000-7000-8000-000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains(NAVIGATION) && body.contains("href=\"/roster\""),
        "{body}"
    );
    assert!(
        body.contains("href=\"/alerts\""),
        "with the urgent-alert count's link"
    );

    let (status, body) = page(&dana, &format!("/patients/{other_id}/timeline")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(NAVIGATION), "{body}");
    assert!(
        body.contains(&format!("/patients/{dana_id}/urgent?reason=asked")),
        "{body}"
    );

    // A refusal (403) and a wrong method (405) keep them too.
    let (status, body) = page(&dana, "/roster").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains(NAVIGATION) && body.contains(HELP_BAR),
        "{body}"
    );
    let (status, body) = page(&casey, "/logout").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.contains(NAVIGATION), "{body}");
}

async fn times_on_a_record_name_the_patients_zone_and_across_patients_the_organizations(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    // Registered in America/Chicago.
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let lot = leaf_batch(&casey).await;
    let taken = Timestamp::now() - jiff::SignedDuration::from_hours(50);
    log_dose(&casey, &patient, &lot, 3.0, taken).await;
    phq9_with_item_nine(&dana, &patient).await;

    // The dose log, the patient's own and the clinician's: the patient's zone, named.
    let chicago = clock_time(taken, "America/Chicago");
    for who in [&casey, &dana] {
        let (status, body) = page(who, &format!("/patients/{patient}/doses")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(&chicago), "the dose at {chicago}: {body}");
    }
    // The alert on the record: raised in the patient's zone.
    let (_, record) = page(&casey, &format!("/patients/{patient}")).await;
    let alert = app
        .store
        .list_alerts(patient.parse().unwrap())
        .await
        .unwrap();
    let raised = alert[0].raised_at;
    let on_record = raised
        .to_zoned_datetime(TimeZone::get("America/Chicago").unwrap())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string();
    assert!(record.contains(&on_record), "raised {on_record}: {record}");

    // The inbox reads in the organization's zone: UTC until an admin sets one.
    let in_utc = raised.strftime("%Y-%m-%d %H:%M UTC").to_string();
    let (_, inbox) = page(&casey, "/alerts").await;
    assert!(inbox.contains(&in_utc), "{in_utc}: {inbox}");

    // Only an admin sets it, and only to a zone that exists.
    let response = post_form(
        &casey,
        "/admin/organization",
        &[("time_zone", "Asia/Tokyo")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = post_form(
        &clinic.admin,
        "/admin/organization",
        &[("time_zone", "Mars/Base")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.text().await.unwrap();
    assert!(body.contains("not a known IANA time zone"), "{body}");
    let response = post_form(
        &clinic.admin,
        "/admin/organization",
        &[("time_zone", "Asia/Tokyo")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, settings) = page(&clinic.admin, "/admin/organization").await;
    assert!(settings.contains("value=\"Asia/Tokyo\""), "{settings}");

    let in_tokyo = raised
        .to_zoned_datetime(TimeZone::get("Asia/Tokyo").unwrap())
        .strftime("%Y-%m-%d %H:%M JST")
        .to_string();
    let (_, inbox) = page(&casey, "/alerts").await;
    assert!(inbox.contains(&in_tokyo), "{in_tokyo}: {inbox}");
    // The record keeps the patient's zone whatever the organization's.
    let (_, record) = page(&casey, &format!("/patients/{patient}")).await;
    assert!(record.contains(&on_record));
    // The audit log reads in the organization's zone, and records the change.
    let (_, audit) = page(&clinic.admin, "/admin/audit").await;
    assert!(audit.contains(" JST"), "{audit}");
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(action, outcome, _)| action == "organization.update" && outcome == "success")
    );
}

/// Noon, `days` ago, in Chicago.
fn noon_days_ago(days: i64) -> Timestamp {
    let zone = TimeZone::get("America/Chicago").unwrap();
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();
    today
        .checked_sub(jiff::Span::new().days(days))
        .unwrap()
        .at(12, 0, 0, 0)
        .to_zoned_datetime(zone)
        .unwrap()
        .timestamp()
}

async fn the_roster_timeline_and_home_give_the_same_mitragynine_per_day(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let lot = leaf_batch(&casey).await;
    // 58.5 mg two and three days ago (117 mg over the last 7 full days: 16.7 per day),
    // 58.5 mg nine days ago (the week before: 8.36 per day), and today's, not yet counted.
    for days in [2, 3, 9] {
        log_dose(&casey, &patient, &lot, 3.0, noon_days_ago(days)).await;
    }
    log_dose(&casey, &patient, &lot, 3.0, Timestamp::now()).await;

    let figure = "16.7 mg per day";
    let (_, roster) = page(&casey, "/roster").await;
    assert!(
        roster.contains(figure),
        "the roster's dose column: {roster}"
    );
    assert!(roster.contains("8.36 mg per day"), "and the week before");
    let timeline = format!("/patients/{patient}/timeline");
    let (_, staff) = page(&casey, &timeline).await;
    assert!(staff.contains(figure), "the clinician's timeline: {staff}");
    let (_, own) = page(&dana, &timeline).await;
    assert!(own.contains(figure), "the patient's timeline: {own}");
    let (_, home) = page(&dana, "/home").await;
    assert!(home.contains(figure), "the patient's home: {home}");
    // No page gives the old figures: a bare 7-day total (a safety alert may cite one, and
    // says so), or a mean that counts today.
    for (which, body) in [
        ("roster", &roster),
        ("timeline", &staff),
        ("own timeline", &own),
        ("home", &home),
    ] {
        assert!(!body.contains("25.1 mg"), "{which} counts today");
        let totals = body.matches("117 mg").count();
        let labelled = body.matches("117 mg in the last 7 days").count();
        assert_eq!(totals, labelled, "{which} gives an unlabelled 7-day total");
    }
}

/// Words that belong on the care team's pages, not the patient's.
const JARGON: [&str; 7] = [
    ".md",
    "§",
    "compartment",
    "Cmax",
    "5–95",
    "percentile",
    "n = 5",
];

async fn the_patients_timeline_and_home_speak_plainly(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let lot = leaf_batch(&casey).await;
    for days in [1, 2, 3] {
        log_dose(&casey, &patient, &lot, 3.0, noon_days_ago(days)).await;
    }
    phq9_with_item_nine(&dana, &patient).await;
    let timeline = format!("/patients/{patient}/timeline");
    let (_, own) = page(&dana, &timeline).await;
    let (_, home) = page(&dana, "/home").await;
    for (which, body) in [("timeline", &own), ("home", &home)] {
        for word in JARGON {
            let at = body
                .find(word)
                .map(|i| &body[i.saturating_sub(200)..(i + 60).min(body.len())]);
            assert!(at.is_none(), "the patient's {which} says {word:?}: {at:?}");
        }
    }
    // The predicted level is still there, in plain words, with its caution.
    assert!(own.contains("Estimated mitragynine level in your blood"));
    assert!(own.contains("It is not advice about how much to take"));
    // The care team keeps the model, its evidence and the citations.
    let (_, staff) = page(&casey, &timeline).await;
    for kept in [
        "Tanna RS et al.",
        ".md",
        "5–95 % range under assumed variability",
        "Kroenke",
    ] {
        assert!(
            staff.contains(kept),
            "the clinician's timeline keeps {kept:?}"
        );
    }
}

/// The form fields of a fully answered sleep diary.
const SLEEP_DIARY: [(&str, &str); 8] = [
    ("sleep_diary.1", "22:30"),
    ("sleep_diary.2", "22:45"),
    ("sleep_diary.3", "20"),
    ("sleep_diary.4", "1"),
    ("sleep_diary.5", "10"),
    ("sleep_diary.6", "06:30"),
    ("sleep_diary.7", "06:50"),
    ("sleep_diary.8", "3"),
];

/// Every section of a new patient's first check-in, as the form lists them.
const ALL_SECTIONS: [(&str, &str); 8] = [
    ("instruments", "sleep_diary"),
    ("instruments", "craving"),
    ("instruments", "pain_nrs"),
    ("instruments", "red_flags"),
    ("instruments", "opioid_use"),
    ("instruments", "sows"),
    ("instruments", "phq9"),
    ("instruments", "gad7"),
];

fn length_of(codes: &[&str]) -> String {
    let instruments = speciosa_core::instrument::Instruments::bundled().unwrap();
    speciosa_core::checkin::CheckinLength::of(codes.iter().map(|c| instruments.get(c).unwrap()))
        .describe()
}

async fn the_check_in_says_its_length_and_keeps_a_section_saved_on_its_own(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let checkin = format!("/patients/{patient}/checkin");

    // A first check-in holds every daily and weekly section.
    let (status, form) = page(&dana, &checkin).await;
    assert_eq!(status, StatusCode::OK);
    let all: Vec<&str> = ALL_SECTIONS.iter().map(|(_, c)| *c).collect();
    let length = length_of(&all);
    assert!(
        length.starts_with("8 sections, 53 questions, about "),
        "{length}"
    );
    assert!(form.contains(&length), "the form says {length}: {form}");
    assert_eq!(
        form.matches("name=\"save\"").count(),
        8,
        "a save button per section"
    );
    let (_, home) = page(&dana, "/home").await;
    assert!(home.contains(&length), "home says how long it is too");

    // The diary and the craving rating answered, the sleep diary's own button pressed; the
    // rest untouched. Both answered sections are saved, and the page asks for the rest.
    let mut fields: Vec<(&str, &str)> = ALL_SECTIONS.to_vec();
    fields.extend(SLEEP_DIARY);
    fields.extend([("craving.1", "4"), ("save", "sleep_diary")]);
    let response = post_form(&dana, &checkin, &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        location,
        format!("{checkin}?saved=sleep_diary%2Ccraving#saved")
    );
    let saved: Vec<String> = dana
        .get_json(&format!("/api/v1/patients/{patient}/assessments"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["instrument"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(saved.contains(&"sleep_diary".into()) && saved.contains(&"craving".into()));

    // Coming back, the page says what is done and asks only the rest.
    let (_, back) = page(&dana, &location).await;
    assert!(back.contains("Saved: Sleep diary, Craving"), "{back}");
    assert!(back.contains("Done today:"), "{back}");
    assert!(!back.contains("id=\"sleep_diary\"") && !back.contains("id=\"craving\""));
    assert!(back.contains("id=\"pain_nrs\"") && back.contains("id=\"gad7\""));
    let rest = length_of(&[
        "pain_nrs",
        "red_flags",
        "opioid_use",
        "sows",
        "phq9",
        "gad7",
    ]);
    assert!(rest.starts_with("6 sections, 43 questions"), "{rest}");
    assert!(back.contains(&rest), "{back}");
    let (_, later) = page(&dana, &checkin).await;
    assert!(later.contains("Done today:") && !later.contains("id=\"sleep_diary\""));
    let (_, home) = page(&dana, "/home").await;
    assert!(
        home.contains("Finish today's check-in") && home.contains(&rest),
        "{home}"
    );

    // A half-answered section is kept as typed, without errors, when another is saved.
    let fields = [
        ("instruments", "pain_nrs"),
        ("instruments", "sows"),
        ("pain_nrs.1", "3"),
        ("sows.1", "2"),
        ("save", "pain_nrs"),
    ];
    let response = post_form(&dana, &checkin, &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(body.contains("Saved: Pain NRS"), "{body}");
    assert!(
        !body.contains("error-summary"),
        "nothing to correct yet: {body}"
    );
    assert!(
        body.contains("name=\"sows.1\" value=\"2\" checked"),
        "the answer is kept: {body}"
    );
}

async fn a_safety_answer_saved_on_its_own_alerts_at_once_and_shows_crisis_contacts(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let checkin = format!("/patients/{patient}/checkin");
    let urgent_alerts = || async {
        app.store
            .list_alerts(patient.parse().unwrap())
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.severity == "urgent")
            .map(|a| a.rule)
            .collect::<Vec<_>>()
    };

    // A red flag saved on its own while the diary is half done: alerted, contacts shown,
    // and the diary's answers kept.
    let mut fields: Vec<(&str, &str)> = ALL_SECTIONS.to_vec();
    fields.extend([
        ("sleep_diary.1", "22:30"),
        ("red_flags.1", "0"),
        ("red_flags.2", "1"),
        ("red_flags.3", "0"),
        ("red_flags.4", "0"),
        ("red_flags.5", "0"),
        ("save", "red_flags"),
    ]);
    let response = post_form(&dana, &checkin, &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Some of your answers need attention today"),
        "{body}"
    );
    assert!(body.contains("tel:988"), "{body}");
    assert!(
        body.contains("value=\"22:30\""),
        "the diary's answer is kept"
    );
    assert_eq!(urgent_alerts().await, ["red_flag_symptom"]);

    // PHQ-9 item 9 saved with nothing else typed: straight to urgent help.
    let mut fields: Vec<(&str, &str)> = vec![("instruments", "phq9"), ("instruments", "gad7")];
    let items: Vec<String> = (1..=9).map(|i| format!("phq9.{i}")).collect();
    for item in &items {
        fields.push((item.as_str(), "1"));
    }
    fields.extend([("phq9.difficulty", "1"), ("save", "phq9")]);
    let response = post_form(&dana, &checkin, &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let urgent = location(&response);
    assert!(
        urgent.starts_with(&format!("/patients/{patient}/urgent?reason=mood&alert=")),
        "{urgent}"
    );
    // The page says what happens, and only what is true: this server sends no e-mail,
    // so the care team sees the alert in Speciosa. The crisis contacts come first.
    let page = dana.get(&urgent).await.text().await.unwrap();
    let crisis = page.find("tel:988").expect("the crisis line");
    let next = page.find("What happens next").expect("what happens next");
    assert!(crisis < next, "the crisis contacts come first");
    assert!(
        page.contains("Messages to them could not be sent from here right now"),
        "{page}"
    );
    assert!(!page.contains("They will contact you"));
    let mut rules = urgent_alerts().await;
    rules.sort();
    assert_eq!(rules, ["phq9_item9", "red_flag_symptom"]);

    // A "yes" to a red flag in a section not yet complete: the contacts are shown at once.
    let fields = [
        ("instruments", "craving"),
        ("instruments", "red_flags"),
        ("craving.1", "5"),
        ("red_flags.2", "1"),
        ("save", "craving"),
    ];
    let response = post_form(&dana, &checkin, &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Please finish and save that section"),
        "{body}"
    );
    assert!(body.contains("tel:988"));
}

async fn the_audit_logs_date_filter_reads_days_in_the_organizations_zone(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    // UTC+14: at any hour, its date differs from UTC's or its day starts 14 h earlier,
    // so reading the filter's days as UTC days would either miss or keep these events.
    let zone = "Pacific/Kiritimati";
    let response = post_form(&clinic.admin, "/admin/organization", &[("time_zone", zone)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let today = Timestamp::now()
        .to_zoned_datetime(TimeZone::get(zone).unwrap())
        .date();
    let yesterday = today.yesterday().unwrap();
    let events = |since: String, until: String| {
        let admin = &clinic.admin;
        async move {
            admin
                .get_json(&format!(
                    "/api/v1/audit-events?action=organization.update&since={since}&until={until}"
                ))
                .await["events"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(events(today.to_string(), today.to_string()).await, 1);
    assert_eq!(
        events(yesterday.to_string(), yesterday.to_string()).await,
        0
    );
    let (status, audit) = page(&clinic.admin, "/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        audit.contains("From (date in Pacific/Kiritimati)"),
        "{audit}"
    );
}
