use reqwest::StatusCode;
use serde_json::json;
use speciosa_app::store::AuditVerification;

use crate::helpers::{TestApp, create_patient, on_both_backends};

on_both_backends!(
    reads_writes_and_refusals_of_patient_data_are_audited_with_who_and_where,
    sign_ins_failed_sign_ins_and_sign_outs_are_audited,
    admins_filter_the_audit_log_and_page_back_through_it,
    the_chain_stays_intact_under_concurrent_requests,
);

async fn reads_writes_and_refusals_of_patient_data_are_audited_with_who_and_where(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    let id = create_patient(&casey, "Dana Reyes").await;
    casey.get_json(&format!("/api/v1/patients/{id}")).await;
    robin.get(&format!("/api/v1/patients/{id}")).await;

    let page = clinic
        .admin
        .get_json(&format!("/api/v1/audit-events?patient_id={id}"))
        .await;
    let events = page["events"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = events
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["actor_user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "patient.create".to_owned(),
                "success".to_owned(),
                casey.id()
            ),
            ("patient.read".to_owned(), "success".to_owned(), casey.id()),
            ("patient.read".to_owned(), "denied".to_owned(), robin.id()),
        ]
    );
    for event in events {
        assert_eq!(event["client_addr"], "127.0.0.1");
        assert_eq!(
            event["organization_id"],
            clinic.admin.user["organization_id"]
        );
        assert_eq!(event["patient_id"], id.as_str());
    }
}

async fn sign_ins_failed_sign_ins_and_sign_outs_are_audited(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    app.anonymous()
        .post(
            "/api/v1/session",
            &json!({"email": "admin@northside.test", "password": "wrong password"}),
        )
        .await;
    clinic.admin.delete("/api/v1/session").await;
    let actions = app.audit_actions().await;
    let sessions: Vec<(&str, &str)> = actions
        .iter()
        .filter(|(action, _, _)| action.starts_with("session."))
        .map(|(action, outcome, _)| (action.as_str(), outcome.as_str()))
        .collect();
    assert_eq!(
        sessions,
        [
            ("session.create", "success"),
            ("session.create", "failure"),
            ("session.delete", "success")
        ]
    );
}

async fn admins_filter_the_audit_log_and_page_back_through_it(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let id = create_patient(&casey, "Dana Reyes").await;
    for _ in 0..5 {
        casey.get_json(&format!("/api/v1/patients/{id}")).await;
    }
    let first = clinic
        .admin
        .get_json("/api/v1/audit-events?action=patient.read&limit=3")
        .await;
    assert_eq!(first["events"].as_array().unwrap().len(), 3);
    let before = first["next_before_id"].as_i64().expect("another page");
    let second = clinic
        .admin
        .get_json(&format!(
            "/api/v1/audit-events?action=patient.read&limit=3&before_id={before}"
        ))
        .await;
    assert_eq!(second["events"].as_array().unwrap().len(), 2);
    let prefix = clinic
        .admin
        .get_json("/api/v1/audit-events?action=patient.&outcome=success")
        .await;
    assert_eq!(prefix["events"].as_array().unwrap().len(), 6);
    let invalid = clinic
        .admin
        .get("/api/v1/audit-events?outcome=maybe&since=2026-02-30")
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Another organization's admin sees none of it.
    let other = app.clinic("Southside").await;
    let theirs = other
        .admin
        .get_json("/api/v1/audit-events?action=patient.")
        .await;
    assert!(theirs["events"].as_array().unwrap().is_empty());
}

async fn the_chain_stays_intact_under_concurrent_requests(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let id = create_patient(&casey, "Dana Reyes").await;
    let requests = (0..40).map(|n| {
        let casey = casey.clone();
        let id = id.clone();
        async move {
            if n % 4 == 0 {
                let body = json!({"display_name": format!("Dana {n}"), "birth_date": "1988-04-12", "time_zone": "UTC"});
                casey.put(&format!("/api/v1/patients/{id}"), &body).await.status()
            } else {
                casey.get(&format!("/api/v1/patients/{id}")).await.status()
            }
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    match app.store.verify_audit_chain().await.unwrap() {
        AuditVerification::Intact { events } => assert!(events >= 44, "{events} events"),
        AuditVerification::Broken(broken) => panic!("chain broken: {broken}"),
    }
}
