//! Who sees what of the audit log: administrators see that something happened, never
//! what; the patient's care team reads the patient's own trail in full.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use speciosa_core::instrument::Instruments;
use speciosa_core::safety::Rule;

use crate::helpers::{Client, TestApp, create_patient, on_both_backends};

on_both_backends!(
    administrators_see_who_did_what_kind_of_thing_but_no_clinical_detail,
    the_care_team_reads_the_patients_own_trail_in_full_and_no_one_else_does,
);

const CORRECTION_REASON: &str = "Dana said two and a half, not two";
const DELETION_REASON: &str = "Logged twice by the front desk";
const MEDICATION_REASON: &str = "Belongs to the brother of Dana";
const ACKNOWLEDGEMENT: &str = "Phoned Dana; safety plan reviewed";
const MEDICATION_NAME: &str = "Neurontin";
const MEDICATION_CLASS: &str = "gabapentinoid";

/// What the care team writes about Dana: every kind of event that carries clinical detail.
struct Story {
    patient: String,
    casey: Client,
}

async fn json_id(response: reqwest::Response) -> String {
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("an id").to_owned()
}

async fn tell_the_story(app: &TestApp, clinic: &crate::helpers::Clinic) -> Story {
    let casey = app.staff(clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let product = json_id(
        casey
            .post(
                "/api/v1/products",
                &json!({"name": "Leaf", "form": "leaf_powder"}),
            )
            .await,
    )
    .await;
    let batch = json_id(
        casey
            .post(
                &format!("/api/v1/products/{product}/batches"),
                &json!({"lot": "A1"}),
            )
            .await,
    )
    .await;
    let doses = format!("/api/v1/patients/{patient}/doses");
    let dose = json_id(
        dana.post(
            &doses,
            &json!({"batch_id": batch, "amount": 2.0, "unit": "g"}),
        )
        .await,
    )
    .await;
    let corrected = json_id(
        casey
            .put(
                &format!("{doses}/{dose}"),
                &json!({"reason": CORRECTION_REASON, "dose": {"batch_id": batch, "amount": 2.5, "unit": "g"}}),
            )
            .await,
    )
    .await;
    let deleted = casey
        .send(
            Method::DELETE,
            &format!("{doses}/{corrected}"),
            Some(&json!({"reason": DELETION_REASON})),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let chicago = jiff::tz::TimeZone::get("America/Chicago").expect("zone");
    let yesterday = jiff::Timestamp::now()
        .to_zoned_datetime(chicago)
        .date()
        .yesterday()
        .expect("a date");
    let imported: Value = casey
        .post(
            &format!("{doses}/import"),
            &json!({"csv": format!("date,time,product,amount,unit\n{yesterday},08:00,Leaf,2,g\n"), "commit": true}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(imported["imported"], 1, "{imported}");

    let mut phq9 = serde_json::Map::new();
    for item in 1..=9 {
        phq9.insert(item.to_string(), json!(if item == 9 { 2 } else { 1 }));
    }
    let answered: Value = dana
        .post(
            &format!("/api/v1/patients/{patient}/assessments"),
            &json!({"instrument": "phq9", "answers": phq9}),
        )
        .await
        .json()
        .await
        .expect("json");
    let alert = answered["alerts"][0]["id"].as_str().expect("an alert");
    let acknowledged = casey
        .post(
            &format!("/api/v1/alerts/{alert}/acknowledge"),
            &json!({"comment": ACKNOWLEDGEMENT}),
        )
        .await;
    assert_eq!(acknowledged.status(), StatusCode::OK);
    assert_eq!(
        dana.post(
            &format!("/api/v1/patients/{patient}/assessments"),
            &json!({"instrument": "craving", "answers": {"1": 2}}),
        )
        .await
        .status(),
        StatusCode::CREATED
    );

    let medications = format!("/api/v1/patients/{patient}/medications");
    let medication = json_id(
        casey
            .post(
                &medications,
                &json!({"name": MEDICATION_NAME, "class": MEDICATION_CLASS, "dose_text": "300 mg"}),
            )
            .await,
    )
    .await;
    let removed = casey
        .send(
            Method::DELETE,
            &format!("{medications}/{medication}"),
            Some(&json!({"reason": MEDICATION_REASON})),
        )
        .await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(
        casey
            .put(
                &format!("/api/v1/patients/{patient}/schedule"),
                &json!({"frequencies": {"sows": "daily", "phq9": "weekly"}}),
            )
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        casey
            .put(
                "/api/v1/instruments/sows/bands",
                &json!({"bands": [{"code": "all", "label": "All", "min": 0, "max": 64}]}),
            )
            .await
            .status(),
        StatusCode::OK
    );
    Story { patient, casey }
}

/// Everything an administrator must never read: rule codes, instrument codes, the
/// medication's name and class, and the free text people typed.
fn clinical_words() -> Vec<String> {
    let instruments = Instruments::bundled().expect("instruments");
    Rule::ALL
        .iter()
        .map(|r| r.code().to_owned())
        .chain(instruments.all().iter().map(|i| i.code.clone()))
        .chain(
            [
                MEDICATION_NAME,
                MEDICATION_CLASS,
                CORRECTION_REASON,
                DELETION_REASON,
                MEDICATION_REASON,
                ACKNOWLEDGEMENT,
            ]
            .map(str::to_owned),
        )
        .collect()
}

fn leaked(text: &str) -> Vec<String> {
    let text = text.to_lowercase();
    clinical_words()
        .into_iter()
        .filter(|word| text.contains(&word.to_lowercase()))
        .collect()
}

async fn administrators_see_who_did_what_kind_of_thing_but_no_clinical_detail(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let story = tell_the_story(&app, &clinic).await;

    let page = clinic
        .admin
        .get_json("/api/v1/audit-events?limit=1000")
        .await;
    assert!(page["next_before_id"].is_null(), "one page holds the log");
    let events = page["events"].as_array().expect("events");
    let actions: BTreeSet<&str> = events
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    for expected in [
        "dose.create",
        "dose.correct",
        "dose.delete",
        "dose.import",
        "assessment.create",
        "alert.raise",
        "alert.acknowledge",
        "medication.create",
        "medication.remove",
        "schedule.update",
        "instrument.bands.update",
        "session.create",
    ] {
        assert!(
            actions.contains(expected),
            "{expected} is logged: {actions:?}"
        );
    }
    // That something happened, to whom and by whom, stays visible.
    let correction = events
        .iter()
        .find(|e| e["action"] == "dose.correct")
        .expect("the correction");
    assert_eq!(correction["patient_id"], story.patient.as_str());
    assert_eq!(correction["actor_user_id"], story.casey.id().as_str());
    assert_eq!(correction["outcome"], "success");
    assert_eq!(correction["client_addr"], "127.0.0.1");
    assert!(correction["occurred_at"].is_string());
    for event in events {
        assert!(event.get("hash").is_none() && event.get("prev_hash").is_none());
    }
    let serialized = serde_json::to_string(&page).unwrap();
    assert_eq!(leaked(&serialized), Vec::<String>::new(), "{serialized}");
    // Filtering by patient shows the same projection.
    let about_dana = clinic
        .admin
        .get(&format!(
            "/api/v1/audit-events?patient_id={}",
            story.patient
        ))
        .await;
    let about_dana = about_dana.text().await.unwrap();
    assert!(about_dana.contains("dose.correct"));
    assert_eq!(leaked(&about_dana), Vec::<String>::new(), "{about_dana}");

    // The admin page, every page of it.
    let mut path = "/admin/audit".to_owned();
    let mut pages = 0;
    let mut seen = String::new();
    loop {
        let response = clinic.admin.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        let html = response.text().await.unwrap();
        assert_eq!(leaked(&html), Vec::<String>::new(), "{path}: {html}");
        seen.push_str(&html);
        pages += 1;
        let Some(end) = html.find("\">Older events</a>") else {
            break;
        };
        let start = html[..end].rfind("href=\"").expect("the link") + "href=\"".len();
        path = html[start..end].replace("&amp;", "&");
        assert!(pages < 20, "paging ends");
    }
    for action in ["dose.correct", "alert.raise", "medication.remove"] {
        assert!(seen.contains(action), "{action} is on the page");
    }
}

async fn the_care_team_reads_the_patients_own_trail_in_full_and_no_one_else_does(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let Story { patient, casey } = tell_the_story(&app, &clinic).await;
    let trail_path = format!("/api/v1/patients/{patient}/audit-events");

    let trail = casey.get_json(&format!("{trail_path}?limit=1000")).await;
    let events = trail["events"].as_array().expect("events");
    assert!(events.iter().all(|e| e["patient_id"] == patient.as_str()));
    let serialized = serde_json::to_string(&trail).unwrap();
    for detail in [
        CORRECTION_REASON,
        DELETION_REASON,
        MEDICATION_REASON,
        "phq9_item9",
        MEDICATION_CLASS,
    ] {
        assert!(
            serialized.contains(detail),
            "the care team reads {detail:?}"
        );
    }
    let raised = events
        .iter()
        .find(|e| e["action"] == "alert.raise")
        .expect("the alert");
    assert!(raised["hash"].is_string(), "every column: {raised}");

    // Paging back.
    let first = casey.get_json(&format!("{trail_path}?limit=2")).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    let before = first["next_before_id"].as_i64().expect("an older page");
    let second = casey
        .get_json(&format!("{trail_path}?limit=2&before_id={before}"))
        .await;
    assert!(second["events"][0]["id"].as_i64().unwrap() < before);
    let bad = casey.get(&format!("{trail_path}?limit=0")).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The page, linked from the record.
    let record = casey.get(&format!("/patients/{patient}")).await;
    assert!(
        record
            .text()
            .await
            .unwrap()
            .contains(&format!("href=\"/patients/{patient}/audit\""))
    );
    let page = casey.get(&format!("/patients/{patient}/audit")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for detail in [CORRECTION_REASON, "phq9_item9", "Casey Doe", "Dana Reyes"] {
        assert!(html.contains(detail), "the page shows {detail:?}");
    }

    // Nobody outside the care team reads it.
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    let rae = app.staff(&clinic, "researcher", "Rae Search").await;
    let south = app.clinic("Southside").await;
    let fran = app.staff(&south, "clinician", "Fran Foreign").await;
    let (own_id, dana) = app.patient_with_login(&casey, "Dana Two").await;
    for (who, client, status) in [
        (
            "a clinician outside the team",
            &robin,
            StatusCode::FORBIDDEN,
        ),
        ("a researcher", &rae, StatusCode::FORBIDDEN),
        ("the admin", &clinic.admin, StatusCode::FORBIDDEN),
        ("another clinic's clinician", &fran, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(client.get(&trail_path).await.status(), status, "{who}");
        assert_eq!(
            client
                .get(&format!("/patients/{patient}/audit"))
                .await
                .status(),
            status,
            "{who} on the page"
        );
    }
    // A patient does not read their own trail either: it names the staff who read it.
    assert_eq!(
        dana.get(&format!("/api/v1/patients/{own_id}/audit-events"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let someone_else = create_patient(&robin, "Sam Whitfield").await;
    assert_eq!(
        casey
            .get(&format!("/api/v1/patients/{someone_else}/audit-events"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Reading the trail, and trying to, is itself audited.
    let reads = clinic
        .admin
        .get_json("/api/v1/audit-events?action=patient_audit.read&limit=1000")
        .await;
    let outcomes: Vec<(&str, &str)> = reads["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor_user_id"].as_str().unwrap_or_default(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let casey_id = casey.id();
    let robin_id = robin.id();
    assert!(outcomes.contains(&(casey_id.as_str(), "success")));
    assert!(outcomes.contains(&(robin_id.as_str(), "denied")));
}
