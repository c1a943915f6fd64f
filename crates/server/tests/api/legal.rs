use reqwest::StatusCode;

use crate::helpers::{TestApp, error_fields, on_both_backends, problem};

on_both_backends!(
    alabama_answers_its_ban_with_source_and_verification_date,
    a_known_jurisdiction_with_nothing_in_force_answers_with_no_such_rule_and_pending_bills_apart,
    a_state_answer_includes_federal_rules_and_dates_bound_the_rules,
    an_unknown_jurisdiction_is_not_found_and_a_bad_date_names_its_field,
    legal_status_fires_at_enrolment_on_a_jurisdiction_change_and_for_a_restricted_dose,
    the_record_shows_the_status_where_the_patient_lives_with_its_source_and_verification,
    a_clinic_legal_row_is_used_for_its_patients_only_and_fires_the_rule,
    a_clinic_override_replaces_a_shipped_rule_until_reverted,
    a_legal_row_with_mistakes_is_refused_with_each_field_named_and_only_admins_curate,
    a_dose_of_a_lot_over_the_seven_oh_limit_of_a_regulating_state_warns,
);

async fn a_dose_of_a_lot_over_the_seven_oh_limit_of_a_regulating_state_warns(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let created: serde_json::Value = casey
        .post(
            "/api/v1/patients",
            &serde_json::json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14",
                "time_zone": "America/Chicago", "jurisdiction": "US-TX"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let leaf = crate::products::product(
        &casey,
        serde_json::json!({"name": "Leaf", "form": "leaf_powder"}),
    )
    .await;
    let natural = crate::products::batch(
        &casey,
        leaf["id"].as_str().unwrap(),
        serde_json::json!({"lot": "N1", "assay": {"mitragynine_mg_per_g": 15.0, "hydroxymitragynine_mg_per_g": 0.2}}),
    )
    .await;
    let dose = |lot: serde_json::Value, amount: f64, unit: &'static str| {
        let casey = &casey;
        let id = &id;
        async move {
            let response = casey
                .post(
                    &format!("/api/v1/patients/{id}/doses"),
                    &serde_json::json!({"batch_id": lot["id"], "amount": amount, "unit": unit}),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
        }
    };
    dose(natural, 3.0, "g").await;
    let over_limit = |alerts: &serde_json::Value| {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == "legal_status" && a["evidence"]["limits_exceeded"].is_array())
            .count()
    };
    let alerts = casey
        .get_json(&format!("/api/v1/patients/{id}/alerts"))
        .await;
    assert_eq!(
        over_limit(&alerts),
        0,
        "natural leaf is within Texas's limit"
    );

    // Texas regulates kratom and caps 7-OH at 2 % of alkaloids; this lot is 91 %.
    let tabs = crate::products::product(
        &casey,
        serde_json::json!({"name": "7-OH Max", "form": "tablet", "unit_mass_g": 0.3}),
    )
    .await;
    let enhanced = crate::products::batch(
        &casey,
        tabs["id"].as_str().unwrap(),
        serde_json::json!({"lot": "M1", "assay": {"mitragynine_mg_per_g": 5.0,
            "hydroxymitragynine_mg_per_g": 50.0, "confirm_implausible": true}}),
    )
    .await;
    dose(enhanced, 1.0, "tablet").await;
    let alerts = casey
        .get_json(&format!("/api/v1/patients/{id}/alerts"))
        .await;
    assert_eq!(over_limit(&alerts), 1, "{alerts}");
    let alert = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["evidence"]["limits_exceeded"].is_array())
        .unwrap();
    assert_eq!(alert["severity"], "warning");
    assert!(
        alert["summary"].as_str().unwrap().contains("2% limit"),
        "{alert}"
    );
}

fn legal_row<'a>(
    jurisdiction: &'a str,
    scope: &'a str,
    status: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("rule_id", ""),
        ("jurisdiction", jurisdiction),
        ("substance_scope", scope),
        ("status", status),
        ("effective_from", "2026-07-01"),
        ("effective_to", ""),
        ("min_age", ""),
        ("max_hydroxy_mg_per_serving", ""),
        ("max_hydroxy_percent_w_w", ""),
        ("source_url", "https://county.example.gov/ordinance-2026-14"),
        ("source_title", "County ordinance 2026-14"),
        ("source_grade", "primary_law"),
        ("source_published", "2026-06"),
        ("last_verified", "2026-11-30"),
        ("notes", ""),
        (
            "reason",
            "the county board passed it after the dataset was compiled",
        ),
    ]
}

fn rules_of<'a>(answer: &'a serde_json::Value, jurisdiction: &str) -> Vec<&'a serde_json::Value> {
    answer["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["jurisdiction"] == jurisdiction)
        .collect()
}

async fn a_clinic_legal_row_is_used_for_its_patients_only_and_fires_the_rule(app: TestApp) {
    let north = app.clinic("Northside").await;
    let south = app.clinic("Southside").await;
    let casey = app.staff(&north, "clinician", "Casey Doe").await;
    let sam = app.staff(&south, "clinician", "Sam Roe").await;
    // Iowa has no ban in force in the shipped dataset (only a bill).
    let saved = crate::helpers::post_form(
        &north.admin,
        "/admin/knowledge/legal",
        &legal_row("us-ia", "7_OH_concentrated", "controlled_banned"),
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);

    let iowa = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-IA&date=2026-11-24")
        .await;
    let ours: Vec<_> = rules_of(&iowa, "US-IA")
        .into_iter()
        .filter(|r| r["origin"] == "clinic")
        .collect();
    assert_eq!(ours.len(), 1, "{iowa}");
    assert_eq!(ours[0]["status"], "controlled_banned");
    assert_eq!(ours[0]["substance_scope"], "7_OH_concentrated");
    assert_eq!(ours[0]["last_verified"], "2026-11-30");
    assert_eq!(ours[0]["sources"][0]["title"], "County ordinance 2026-14");
    // Not before it took effect, and not for another organization.
    let june = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-IA&date=2026-06-30")
        .await;
    assert!(
        june["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["origin"] == "shipped")
    );
    let elsewhere = sam
        .get_json("/api/v1/legal-status?jurisdiction=US-IA&date=2026-11-24")
        .await;
    assert!(
        elsewhere["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["origin"] == "shipped"),
        "{elsewhere}"
    );

    // A north patient in Iowa logging a 7-OH tablet gets the warning.
    let created: serde_json::Value = casey
        .post(
            "/api/v1/patients",
            &serde_json::json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14",
                "time_zone": "America/Chicago", "jurisdiction": "US-IA"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let tabs = crate::products::product(
        &casey,
        serde_json::json!({"name": "7-OH tabs", "form": "tablet", "unit_mass_g": 0.3,
            "labels_hydroxy_as_ingredient": true}),
    )
    .await;
    let lot = crate::products::batch(
        &casey,
        tabs["id"].as_str().unwrap(),
        serde_json::json!({"lot": "T1"}),
    )
    .await;
    let dose = casey
        .post(
            &format!("/api/v1/patients/{id}/doses"),
            &serde_json::json!({"batch_id": lot["id"], "amount": 1, "unit": "tablet"}),
        )
        .await;
    assert_eq!(dose.status(), StatusCode::CREATED);
    let rules = alert_rules(&casey, &id).await;
    assert!(
        rules.contains(&("legal_status".to_owned(), "warning".to_owned())),
        "{rules:?}"
    );

    // The admin page lists the row with its source, and a look-up marks it as the clinic's.
    let page = north
        .admin
        .get("/admin/knowledge?legal_jurisdiction=US-IA")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("County ordinance 2026-14"), "{page}");
    assert!(
        page.contains("your clinic&#x27;s row") || page.contains("your clinic&#39;s row"),
        "{page}"
    );
    let audit = north
        .admin
        .get_json("/api/v1/audit-events?action=knowledge.override")
        .await;
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["outcome"], "success");
}

async fn a_clinic_override_replaces_a_shipped_rule_until_reverted(app: TestApp) {
    let north = app.clinic("Northside").await;
    let casey = app.staff(&north, "clinician", "Casey Doe").await;
    // The form starts from the shipped rule.
    let start = north
        .admin
        .get("/admin/knowledge?legal_jurisdiction=US-AL&override_rule=US-AL.all")
        .await
        .text()
        .await
        .unwrap();
    assert!(start.contains("Override rule US-AL.all"), "{start}");
    assert!(start.contains(r#"value="2016-05-10""#), "{start}");

    let mut fields = legal_row("US-AL", "all_kratom_alkaloids", "regulated");
    fields[0] = ("rule_id", "US-AL.all");
    fields[4] = ("effective_from", "2016-05-10");
    fields[6] = ("min_age", "21");
    let saved = crate::helpers::post_form(&north.admin, "/admin/knowledge/legal", &fields).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let alabama = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-AL&date=2026-11-24")
        .await;
    let rules = rules_of(&alabama, "US-AL");
    let all: Vec<_> = rules.iter().filter(|r| r["id"] == "US-AL.all").collect();
    assert_eq!(all.len(), 1, "one rule with the id, not two: {alabama}");
    assert_eq!(all[0]["status"], "regulated");
    assert_eq!(all[0]["origin"], "clinic_override");
    assert_eq!(all[0]["conditions"]["min_age"], 21);

    // An override cannot move the rule to another place.
    let mut moved = fields.clone();
    moved[1] = ("jurisdiction", "US-TN");
    let refused = crate::helpers::post_form(&north.admin, "/admin/knowledge/legal", &moved).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let reverted = crate::helpers::post_form(
        &north.admin,
        "/admin/knowledge/revert",
        &[("kind", "legal"), ("key", "US-AL.all")],
    )
    .await;
    assert_eq!(reverted.status(), StatusCode::SEE_OTHER);
    let back = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-AL&date=2026-11-24")
        .await;
    let all: Vec<_> = rules_of(&back, "US-AL")
        .into_iter()
        .filter(|r| r["id"] == "US-AL.all")
        .collect();
    assert_eq!(all[0]["status"], "controlled_banned");
    assert_eq!(all[0]["origin"], "shipped");
    let audit = north
        .admin
        .get_json("/api/v1/audit-events?action=knowledge.revert")
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "{audit}");
}

async fn a_legal_row_with_mistakes_is_refused_with_each_field_named_and_only_admins_curate(
    app: TestApp,
) {
    let north = app.clinic("Northside").await;
    let casey = app.staff(&north, "clinician", "Casey Doe").await;
    let mut fields = legal_row("XX-QQ", "leaf", "banned");
    fields[4] = ("effective_from", "2026-13-01");
    fields[8] = ("max_hydroxy_percent_w_w", "1,500.5");
    fields[9] = ("source_url", "the county website");
    fields[13] = ("last_verified", "2999-01-01");
    let refused = crate::helpers::post_form(&north.admin, "/admin/knowledge/legal", &fields).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    for expected in [
        "href=\"#jurisdiction\"",
        "href=\"#substance_scope\"",
        "href=\"#status\"",
        "href=\"#effective_from\"",
        "href=\"#max_hydroxy_percent_w_w\"",
        "href=\"#source_url\"",
        "href=\"#last_verified\"",
    ] {
        assert!(html.contains(expected), "{expected} missing");
    }
    // What was typed is kept.
    assert!(html.contains(r#"value="the county website""#));
    // A clash with a shipped rule names the rule to override.
    let clash = crate::helpers::post_form(
        &north.admin,
        "/admin/knowledge/legal",
        &legal_row("US-AL", "all_kratom_alkaloids", "regulated"),
    )
    .await;
    assert_eq!(clash.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(clash.text().await.unwrap().contains("US-AL.all"));

    let denied = crate::helpers::post_form(
        &casey,
        "/admin/knowledge/legal",
        &legal_row("US-IA", "7_OH_concentrated", "controlled_banned"),
    )
    .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let iowa = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-IA&date=2026-11-24")
        .await;
    assert!(
        iowa["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["origin"] == "shipped")
    );
}

async fn the_record_shows_the_status_where_the_patient_lives_with_its_source_and_verification(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = crate::helpers::create_patient(&casey, "Dana Reyes").await;
    let response = casey
        .put(
            &format!("/api/v1/patients/{patient}"),
            &serde_json::json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14", "time_zone": "America/Chicago", "jurisdiction": "US-AL"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = casey.get(&format!("/patients/{patient}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Kratom&#x27;s legal status") || html.contains("Kratom's legal status"),
        "{html}"
    );
    assert!(html.contains("last verified 2026-11-24"), "{html}");
    assert!(html.contains("since 2016-05-10"), "{html}");
}

async fn alabama_answers_its_ban_with_source_and_verification_date(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let body = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-AL&date=2026-01-15")
        .await;
    assert_eq!(body["jurisdiction"], "US-AL");
    let rules = body["rules"].as_array().unwrap();
    let ban = rules
        .iter()
        .find(|r| r["jurisdiction"] == "US-AL")
        .expect("Alabama's own rule");
    assert_eq!(ban["substance_scope"], "all_kratom_alkaloids");
    assert_eq!(ban["status"], "controlled_banned");
    assert_eq!(ban["effective_from"], "2016-05-10");
    assert_eq!(ban["last_verified"], "2026-11-24");
    assert!(
        ban["sources"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("http")
    );
    assert!(ban["sources"][0]["grade"].is_string());
    // Before the ban took effect it is not in force.
    let before = casey
        .get_json("/api/v1/legal-status?jurisdiction=us-al&date=2016-05-09")
        .await;
    assert!(
        before["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "controlled_banned")
    );
}

async fn a_known_jurisdiction_with_nothing_in_force_answers_with_no_such_rule_and_pending_bills_apart(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    // Iowa's ban is only a bill: nothing banned is in force, the bill is listed apart.
    let iowa = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-IA&date=2026-11-24")
        .await;
    assert!(
        iowa["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "controlled_banned"),
        "{iowa}"
    );
    let bills = iowa["pending_bills"].as_array().unwrap();
    assert!(bills.iter().any(|b| b["id"] == "ia-hf-2133"));
    // Louisiana before its statewide ban has no state rule at all.
    let louisiana = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-LA&date=2025-07-31")
        .await;
    assert!(
        louisiana["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["jurisdiction"] != "US-LA")
    );
}

async fn a_state_answer_includes_federal_rules_and_dates_bound_the_rules(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let tn = casey
        .get_json("/api/v1/legal-status?jurisdiction=US-TN&date=2026-01-15")
        .await;
    assert_eq!(tn["chain"], serde_json::json!(["US-TN", "US"]));
    let from: Vec<&str> = tn["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["jurisdiction"].as_str().unwrap())
        .collect();
    assert!(from.contains(&"US") && from.contains(&"US-TN"), "{from:?}");
    // Conflicts between sources are shown.
    assert!(!tn["conflicts"].as_array().unwrap().is_empty());
}

async fn an_unknown_jurisdiction_is_not_found_and_a_bad_date_names_its_field(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let unknown = casey
        .get("/api/v1/legal-status?jurisdiction=XX-QQ&date=2026-01-15")
        .await;
    problem(unknown, StatusCode::NOT_FOUND).await;
    let bad_date = casey
        .get("/api/v1/legal-status?jurisdiction=US-AL&date=2026-02-30")
        .await;
    assert_eq!(
        error_fields(&problem(bad_date, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["date"]
    );
    let missing = casey.get("/api/v1/legal-status").await;
    assert_eq!(
        error_fields(&problem(missing, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["jurisdiction"]
    );
    let anonymous = app
        .anonymous()
        .get("/api/v1/legal-status?jurisdiction=US-AL")
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn alert_rules(clinician: &crate::helpers::Client, patient: &str) -> Vec<(String, String)> {
    let alerts = clinician
        .get_json(&format!("/api/v1/patients/{patient}/alerts"))
        .await;
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap_or_default().to_owned(),
                a["severity"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn legal_status_fires_at_enrolment_on_a_jurisdiction_change_and_for_a_restricted_dose(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let created: serde_json::Value = casey
        .post(
            "/api/v1/patients",
            &serde_json::json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14",
                "time_zone": "America/Chicago", "jurisdiction": "US-TN"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        alert_rules(&casey, &id).await,
        [("legal_status".to_owned(), "info".to_owned())]
    );
    let moved = casey
        .put(
            &format!("/api/v1/patients/{id}"),
            &serde_json::json!({"display_name": "Dana Reyes", "birth_date": "1985-03-14",
                "time_zone": "America/Chicago", "jurisdiction": "US-FL"}),
        )
        .await;
    assert!(moved.status().is_success(), "{}", moved.status());
    let rules = alert_rules(&casey, &id).await;
    assert_eq!(
        rules.iter().filter(|(r, _)| r == "legal_status").count(),
        2,
        "{rules:?}"
    );
    // A dose of a 7-OH tablet, banned in Florida as concentrated 7-OH.
    let tabs = crate::products::product(
        &casey,
        serde_json::json!({"name": "7-OH tabs", "form": "tablet", "unit_mass_g": 0.3,
            "labels_hydroxy_as_ingredient": true}),
    )
    .await;
    let lot = crate::products::batch(
        &casey,
        tabs["id"].as_str().unwrap(),
        serde_json::json!({"lot": "T1"}),
    )
    .await;
    let dose = casey
        .post(
            &format!("/api/v1/patients/{id}/doses"),
            &serde_json::json!({"batch_id": lot["id"], "amount": 1, "unit": "tablet"}),
        )
        .await;
    assert_eq!(dose.status(), StatusCode::CREATED);
    let rules = alert_rules(&casey, &id).await;
    assert!(
        rules.contains(&("legal_status".to_owned(), "warning".to_owned())),
        "{rules:?}"
    );
}
