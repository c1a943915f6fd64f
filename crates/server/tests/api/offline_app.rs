//! The patient app offline (issue 13): what the browser installs (manifest, icons, service
//! worker), which pages it may keep, and check-ins replayed from the device's queue with
//! their idempotency keys, stored exactly once.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::helpers::{
    Client, TestApp, error_fields, location, on_both_backends, post_form, problem,
};

on_both_backends!(
    the_manifest_icons_and_service_worker_are_served_with_their_types,
    only_the_patients_own_pages_may_be_kept_offline,
    the_offline_page_keeps_the_patients_crisis_line,
    a_check_in_sent_again_with_its_key_is_stored_once,
    a_red_flag_check_in_sent_again_still_leads_to_urgent_help,
    an_assessment_retried_with_the_same_idempotency_key_returns_the_original,
);

fn header(response: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A PNG's width and height, read from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

async fn the_manifest_icons_and_service_worker_are_served_with_their_types(app: TestApp) {
    let anonymous = app.anonymous();

    let manifest = anonymous.get("/manifest.webmanifest").await;
    assert_eq!(manifest.status(), StatusCode::OK);
    assert_eq!(header(&manifest, CONTENT_TYPE), "application/manifest+json");
    let manifest: Value = serde_json::from_str(&manifest.text().await.unwrap()).unwrap();
    assert_eq!(manifest["short_name"], "Speciosa");
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    assert_eq!(manifest["theme_color"], "#0b5c73", "app.css --accent");
    let icons = manifest["icons"].as_array().unwrap();
    let mut sizes = Vec::new();
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        let response = anonymous.get(src).await;
        assert_eq!(response.status(), StatusCode::OK, "{src}");
        assert_eq!(header(&response, CONTENT_TYPE), "image/png");
        let (width, height) = png_size(&response.bytes().await.unwrap());
        assert_eq!(
            icon["sizes"].as_str().unwrap(),
            format!("{width}x{height}"),
            "{src} is the size the manifest says"
        );
        sizes.push((width, icon["purpose"].as_str().unwrap().to_owned()));
    }
    assert!(sizes.contains(&(192, "any".into())) && sizes.contains(&(512, "any".into())));
    assert!(sizes.contains(&(512, "maskable".into())), "{sizes:?}");
    assert_eq!(
        anonymous.get("/static/icons/nothing.png").await.status(),
        StatusCode::NOT_FOUND
    );

    let worker = anonymous.get("/sw.js").await;
    assert_eq!(worker.status(), StatusCode::OK);
    assert_eq!(
        header(&worker, CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(&worker, CACHE_CONTROL),
        "no-cache",
        "a new worker is found on the next visit"
    );
    let source = worker.text().await.unwrap();
    assert!(
        !source.contains("__ASSETS_VERSION__"),
        "the cache names carry this build's version"
    );
    for event in ["\"push\"", "\"notificationclick\"", "\"fetch\""] {
        assert!(source.contains(event), "the worker handles {event}");
    }
    let script = anonymous.get("/static/offline.js").await;
    assert_eq!(
        header(&script, CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );

    // Every page names the manifest and the theme colour.
    let sign_in = anonymous.get("/login").await.text().await.unwrap();
    assert!(sign_in.contains("<link rel=\"manifest\" href=\"/manifest.webmanifest\">"));
    assert!(sign_in.contains("<meta name=\"theme-color\" content=\"#0b5c73\">"));
}

const OFFLINE_COPY: &str = "speciosa-offline-copy";

async fn kept(client: &Client, path: &str) -> bool {
    let response = client.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.headers().contains_key(OFFLINE_COPY)
}

async fn only_the_patients_own_pages_may_be_kept_offline(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;

    for path in [
        "/home".to_owned(),
        format!("/patients/{patient}/checkin"),
        format!("/patients/{patient}/doses/new"),
        format!("/patients/{patient}/urgent?reason=asked"),
        "/offline".to_owned(),
    ] {
        assert!(
            kept(&dana, &path).await,
            "the patient's {path} opens offline"
        );
    }
    for path in [
        format!("/patients/{patient}/doses"),
        format!("/patients/{patient}/timeline"),
        "/account".to_owned(),
    ] {
        assert!(!kept(&dana, &path).await, "{path} is not kept");
    }
    // The same forms seen by the clinician are never kept on a staff device.
    for path in [
        format!("/patients/{patient}/doses/new"),
        format!("/patients/{patient}/urgent"),
        "/roster".to_owned(),
        "/offline".to_owned(),
    ] {
        assert!(
            !kept(&casey, &path).await,
            "the clinician's {path} is not kept"
        );
    }
    let api = dana.get(&format!("/api/v1/patients/{patient}/doses")).await;
    assert!(!api.headers().contains_key(OFFLINE_COPY));

    // The patient's pages load the offline script; the clinician's do not.
    let home = dana.get("/home").await.text().await.unwrap();
    assert!(home.contains("<script src=\"/static/offline.js\" defer></script>"));
    let roster = casey.get("/roster").await.text().await.unwrap();
    assert!(!roster.contains("offline.js"));
    // The forms the queue may keep are marked, each with a key.
    let form = dana
        .get(&format!("/patients/{patient}/checkin"))
        .await
        .text()
        .await
        .unwrap();
    assert!(form.contains("data-offline=\"checkin\""), "{form}");
    assert!(form.contains("name=\"idempotency_key\" value=\""), "{form}");
    let dose_form = casey
        .get(&format!("/patients/{patient}/doses/new"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !dose_form.contains("data-offline"),
        "a clinician's entry is never queued"
    );
}

async fn the_offline_page_keeps_the_patients_crisis_line(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (_, dana) = app.patient_with_login(&casey, "Dana Reyes").await;

    let response = dana.get("/offline").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(body.contains("class=\"help-bar\""), "{body}");
    assert!(
        body.contains("href=\"tel:"),
        "the crisis line is a tel: link: {body}"
    );
    assert!(body.contains("You are offline"));

    let anonymous = app.anonymous().get("/offline").await;
    assert_eq!(anonymous.status(), StatusCode::OK);
    let body = anonymous.text().await.unwrap();
    assert!(!body.contains("help-bar") && body.contains("emergency number"));
}

async fn assessments(client: &Client, patient: &str) -> Vec<Value> {
    client
        .get_json(&format!("/api/v1/patients/{patient}/assessments"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn a_check_in_sent_again_with_its_key_is_stored_once(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let checkin = format!("/patients/{patient}/checkin");
    // As the device's queue sends it: with the time it was answered.
    let answered =
        jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 90 * 60).unwrap();
    let answered_text = answered.to_string();
    let fields = [
        ("instruments", "craving"),
        ("instruments", "pain_nrs"),
        ("craving.1", "4"),
        ("pain_nrs.1", "2"),
        ("idempotency_key", "device-entry-1"),
        ("completed_at", answered_text.as_str()),
    ];

    let first = post_form(&dana, &checkin, &fields).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&first), "/home?saved=checkin");
    let stored = assessments(&dana, &patient).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    let completed: jiff::Timestamp = stored[0]["completed_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(completed, answered, "stored with the time it was answered");

    // Sent again (the answer was lost on the way back): the same page, nothing new.
    let again = post_form(&dana, &checkin, &fields).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&again), "/home?saved=checkin");
    let after: Vec<String> = assessments(&dana, &patient)
        .await
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let before: Vec<String> = stored
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(after, before, "each section is stored exactly once");
    let replays = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "assessment.create")
        .count();
    assert_eq!(replays, 2, "a replay writes no second assessment");

    // The same key with other answers (the form re-sent after going back and changing
    // them) is not taken for the first: the page says so and keeps the answers.
    let changed = [
        ("instruments", "craving"),
        ("craving.1", "9"),
        ("idempotency_key", "device-entry-1"),
        ("completed_at", answered_text.as_str()),
    ];
    let refused = post_form(&dana, &checkin, &changed).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("already saved different answers"), "{page}");
    assert!(
        !page.contains("value=\"device-entry-1\""),
        "a fresh key lets them be saved on purpose"
    );
    assert_eq!(assessments(&dana, &patient).await.len(), 2);

    // Without a key (no JavaScript, an old form) each submission is its own, as before.
    let plain = [("instruments", "craving"), ("craving.1", "3")];
    for _ in 0..2 {
        let response = post_form(&dana, &checkin, &plain).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(assessments(&dana, &patient).await.len(), 4);
}

async fn a_red_flag_check_in_sent_again_still_leads_to_urgent_help(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let checkin = format!("/patients/{patient}/checkin");
    let fields = [
        ("instruments", "red_flags"),
        ("red_flags.1", "0"),
        ("red_flags.2", "0"),
        ("red_flags.3", "0"),
        ("red_flags.4", "0"),
        ("red_flags.5", "1"),
        ("idempotency_key", "device-entry-red"),
    ];
    let urgent = format!("/patients/{patient}/urgent?reason=symptoms");

    let first = post_form(&dana, &checkin, &fields).await;
    assert!(
        location(&first).starts_with(&urgent),
        "{}",
        location(&first)
    );
    // The first answer was lost on the way back; the queue sends it again.
    let again = post_form(&dana, &checkin, &fields).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&again).starts_with(&urgent),
        "the help page still comes first: {}",
        location(&again)
    );
    assert_eq!(assessments(&dana, &patient).await.len(), 1, "stored once");
    let alerts = casey
        .get_json(&format!("/api/v1/patients/{patient}/alerts"))
        .await;
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
}

async fn an_assessment_retried_with_the_same_idempotency_key_returns_the_original(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let path = format!("/api/v1/patients/{patient}/assessments");
    let body = json!({"instrument": "craving", "answers": {"1": 5}});
    let send = |key: &'static str, body: Value| {
        let dana = dana.clone();
        let path = path.clone();
        async move {
            dana.request(reqwest::Method::POST, &path)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    let first = send("retry-1", body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let retry = send("retry-1", body.clone()).await;
    assert_eq!(
        retry.status(),
        StatusCode::OK,
        "a retry returns the original"
    );
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    assert_eq!(assessments(&dana, &patient).await.len(), 1);

    // Two retries racing each other still store one.
    let (a, b) = tokio::join!(send("burst", body.clone()), send("burst", body.clone()));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED]);
    assert_eq!(assessments(&dana, &patient).await.len(), 2);

    // The key of another assessment is refused, naming the header.
    let other = send(
        "retry-1",
        json!({"instrument": "craving", "answers": {"1": 7}}),
    )
    .await;
    let problem = problem(other, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["Idempotency-Key"]);
    let blank = send(" ", body.clone()).await;
    let problem = problem_of(blank).await;
    assert_eq!(error_fields(&problem), ["Idempotency-Key"]);
    assert_eq!(assessments(&dana, &patient).await.len(), 2);
}

async fn problem_of(response: reqwest::Response) -> Value {
    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await
}
