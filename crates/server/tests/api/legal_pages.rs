//! Kratom's legal status on the dose pages and the product page.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, create_patient, on_both_backends};

on_both_backends!(
    the_dose_form_shows_the_status_where_the_patient_lives_with_its_source_and_last_verification,
    a_product_whose_scope_is_restricted_where_the_patient_lives_is_named_on_the_dose_pages,
    a_patient_without_a_jurisdiction_is_told_in_one_line_and_the_clinician_how_to_set_it,
    a_rule_past_its_review_date_shows_the_stale_badge_on_the_product_page,
    the_product_page_lookup_explains_an_unknown_code_and_a_bad_date_readably,
    the_product_page_lists_the_distinct_places_patients_live_without_names,
    a_patient_cannot_read_another_patients_status_through_the_dose_pages,
    the_product_page_names_a_lot_over_the_seven_oh_limit_where_patients_live,
);

async fn the_product_page_names_a_lot_over_the_seven_oh_limit_where_patients_live(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let dana = create_patient(&casey, "Dana Reyes").await;
    living_in(&casey, &dana, "Dana Reyes", "US-TX").await;
    let tabs = crate::products::product(
        &casey,
        json!({"name": "Max Tabs", "form": "tablet", "unit_mass_g": 0.3}),
    )
    .await;
    let tabs_id = tabs["id"].as_str().unwrap().to_owned();
    // Texas caps 7-OH at 2 % of alkaloids: M1 is 91 %, M2 under 2 %.
    crate::products::batch(
        &casey,
        &tabs_id,
        json!({"lot": "M1", "assay": {"mitragynine_mg_per_g": 5.0,
            "hydroxymitragynine_mg_per_g": 50.0, "confirm_implausible": true}}),
    )
    .await;
    crate::products::batch(
        &casey,
        &tabs_id,
        json!({"lot": "M2", "assay": {"mitragynine_mg_per_g": 150.0,
            "hydroxymitragynine_mg_per_g": 1.0, "confirm_implausible": true}}),
    )
    .await;
    let (status, html) = page(&casey, &format!("/products/{tabs_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("over the local 7-OH limit"), "{html}");
    assert!(html.contains("Lot M1 exceeds the 7-OH limit"), "{html}");
    assert!(html.contains("over the 2% limit"), "{html}");
    assert!(!html.contains("Lot M2 exceeds"), "{html}");
}

async fn living_in(clinician: &Client, id: &str, name: &str, jurisdiction: &str) {
    let response = clinician
        .put(
            &format!("/api/v1/patients/{id}"),
            &json!({"display_name": name, "birth_date": "1985-03-14",
                "time_zone": "America/Chicago", "jurisdiction": jurisdiction}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "moving {name}");
}

/// A leaf powder and a 7-OH tablet, each with one batch: (leaf, tablets) product ids and
/// the tablets' batch id.
async fn leaf_and_tablets(clinician: &Client) -> (String, String, String) {
    let leaf = crate::products::product(
        clinician,
        json!({"name": "Green Leaf Powder", "form": "leaf_powder"}),
    )
    .await;
    let leaf_id = leaf["id"].as_str().unwrap().to_owned();
    crate::products::batch(clinician, &leaf_id, json!({"lot": "L1"})).await;
    let tabs = crate::products::product(
        clinician,
        json!({"name": "Seven Tabs", "form": "tablet", "unit_mass_g": 0.3,
            "labels_hydroxy_as_ingredient": true}),
    )
    .await;
    let tabs_id = tabs["id"].as_str().unwrap().to_owned();
    let lot: Value = crate::products::batch(clinician, &tabs_id, json!({"lot": "T1"})).await;
    (leaf_id, tabs_id, lot["id"].as_str().unwrap().to_owned())
}

async fn page(who: &Client, path: &str) -> (StatusCode, String) {
    let response = who.get(path).await;
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// The legal section of a page: from its heading to the end.
fn legal_part(html: &str) -> &str {
    let start = html
        .find("Kratom's legal status")
        .unwrap_or_else(|| panic!("no legal section in {html}"));
    &html[start..]
}

async fn the_dose_form_shows_the_status_where_the_patient_lives_with_its_source_and_last_verification(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    living_in(&casey, &patient, "Dana Reyes", "US-TN").await;
    leaf_and_tablets(&casey).await;
    let (status, html) = page(&casey, &format!("/patients/{patient}/doses/new")).await;
    assert_eq!(status, StatusCode::OK);
    let legal = legal_part(&html);
    assert!(legal.contains("Tennessee"), "{legal}");
    assert!(legal.contains("(US-TN)"), "{legal}");
    // Each rule with its source (linked by title) and when it was last verified.
    assert!(legal.contains("Source: <a href=\"http"), "{legal}");
    assert!(legal.contains("last verified 2026-11-24"), "{legal}");
    assert!(legal.contains("all kratom products: regulated"), "{legal}");
    // Where sources disagree, that is shown; Tennessee's rule has such a conflict.
    assert!(legal.contains("Sources disagree"), "{legal}");
    // The federal scheduling recommendation is a proposal, listed apart and never counted.
    assert!(legal.contains("Pending, not law"), "{legal}");
    let log = page(&casey, &format!("/patients/{patient}/doses")).await;
    assert_eq!(log.0, StatusCode::OK);
    assert!(
        legal_part(&log.1).contains("last verified 2026-11-24"),
        "{}",
        log.1
    );
}

async fn a_product_whose_scope_is_restricted_where_the_patient_lives_is_named_on_the_dose_pages(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    living_in(&casey, &patient, "Dana Reyes", "US-FL").await;
    let (_, _, tabs_lot) = leaf_and_tablets(&casey).await;

    // Florida bans concentrated 7-OH: the tablets are named, the leaf powder is not.
    let (_, html) = page(&dana, &format!("/patients/{patient}/doses/new")).await;
    let legal = legal_part(&html);
    let notice_start = legal.find("legal-products").expect("a restricted product");
    let notice = &legal[notice_start..legal[notice_start..].find("</div>").unwrap() + notice_start];
    assert!(notice.contains("Seven Tabs"), "{notice}");
    assert!(
        notice.contains("concentrated 7-OH is controlled / banned in US-FL"),
        "{notice}"
    );
    assert!(!notice.contains("Green Leaf Powder"), "{notice}");
    // Neutral information for the patient, never advice.
    assert!(
        legal.contains("not advice to use or to buy any product"),
        "{legal}"
    );

    // The log names it once a dose of it is in the window, and not before.
    let (_, log) = page(&dana, &format!("/patients/{patient}/doses")).await;
    assert!(!legal_part(&log).contains("Seven Tabs"), "{log}");
    let dose = dana
        .post(
            &format!("/api/v1/patients/{patient}/doses"),
            &json!({"batch_id": tabs_lot, "amount": 1, "unit": "tablet"}),
        )
        .await;
    assert_eq!(dose.status(), StatusCode::CREATED);
    let (_, log) = page(&casey, &format!("/patients/{patient}/doses")).await;
    let legal = legal_part(&log);
    assert!(
        legal.contains(
            "<strong>Seven Tabs</strong>: concentrated 7-OH is controlled / banned in US-FL"
        ),
        "{legal}"
    );
    let audit = app.audit_actions().await;
    assert!(
        audit
            .iter()
            .any(|(action, outcome, who)| action == "legal_status.read"
                && outcome == "success"
                && who.as_deref() == Some(patient.as_str())),
        "{audit:?}"
    );
}

async fn a_patient_without_a_jurisdiction_is_told_in_one_line_and_the_clinician_how_to_set_it(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    leaf_and_tablets(&casey).await;
    let (_, html) = page(&casey, &format!("/patients/{patient}/doses/new")).await;
    let legal = legal_part(&html);
    assert!(
        legal.contains("No jurisdiction is recorded for this patient"),
        "{legal}"
    );
    assert!(
        legal.contains(&format!("href=\"/patients/{patient}/edit\"")),
        "{legal}"
    );
    let (_, html) = page(&dana, &format!("/patients/{patient}/doses")).await;
    let legal = legal_part(&html);
    assert!(
        legal.contains("Your record does not say where you live"),
        "{legal}"
    );
    assert!(!legal.contains("/edit"), "{legal}");
}

async fn a_rule_past_its_review_date_shows_the_stale_badge_on_the_product_page(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (_, tabs, _) = leaf_and_tablets(&casey).await;
    // Florida's emergency rule on 7-OH is due for review 30 days after its last
    // verification (2026-11-24): by 2027-03-01 it is past review; on 2026-12-01 it is not.
    let (status, html) = page(
        &casey,
        &format!("/products/{tabs}?jurisdiction=us-fl&date=2027-03-01"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let legal = legal_part(&html);
    assert!(legal.contains("Florida"), "{legal}");
    assert!(
        legal.contains("concentrated 7-OH: controlled / banned"),
        "{legal}"
    );
    assert!(legal.contains("stale — past review"), "{legal}");
    let (_, html) = page(
        &casey,
        &format!("/products/{tabs}?jurisdiction=US-FL&date=2026-12-01"),
    )
    .await;
    let legal = legal_part(&html);
    assert!(legal.contains("last verified 2026-11-24"), "{legal}");
    assert!(!legal.contains("stale — past review"), "{legal}");
}

async fn the_product_page_lookup_explains_an_unknown_code_and_a_bad_date_readably(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (leaf, _, _) = leaf_and_tablets(&casey).await;
    let (status, html) = page(&casey, &format!("/products/{leaf}?jurisdiction=XX-QQ")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("The look-up could not be done"), "{html}");
    assert!(
        html.contains("is not in the legal dataset") && html.contains("XX-QQ"),
        "{html}"
    );
    // The form is shown again with what was typed.
    assert!(html.contains("value=\"XX-QQ\""), "{html}");
    let (status, html) = page(
        &casey,
        &format!("/products/{leaf}?jurisdiction=US-TN&date=2026-02-30"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("is not a date of the form YYYY-MM-DD"),
        "{html}"
    );
    let (status, html) = page(&casey, &format!("/products/{leaf}?date=2026-02-01")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("give an ISO 3166 code"), "{html}");
}

async fn the_product_page_lists_the_distinct_places_patients_live_without_names(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (leaf, _, _) = leaf_and_tablets(&casey).await;
    let (dana_id, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    living_in(&casey, &dana_id, "Dana Reyes", "US-TN").await;
    for name in ["Ari Moss", "Bea Lund"] {
        let id = create_patient(&casey, name).await;
        living_in(&casey, &id, name, "US-FL").await;
    }
    let (status, html) = page(&casey, &format!("/products/{leaf}")).await;
    assert_eq!(status, StatusCode::OK);
    let places_start = html.find("legal-places\"").expect("the places list");
    let places = &html[places_start..places_start + html[places_start..].find("</ul>").unwrap()];
    assert_eq!(places.matches("(US-FL").count(), 1, "{places}");
    assert_eq!(places.matches("(US-TN").count(), 1, "{places}");
    for name in ["Ari Moss", "Bea Lund", "Dana Reyes"] {
        assert!(!html.contains(name), "{name} named on the product page");
    }
    assert!(places.contains("last verified 2026-11-24"), "{places}");
    // A patient sees only where they live.
    let (status, html) = page(&dana, &format!("/products/{leaf}")).await;
    assert_eq!(status, StatusCode::OK);
    let places_start = html.find("legal-places\"").expect("the places list");
    let places = &html[places_start..places_start + html[places_start..].find("</ul>").unwrap()];
    assert!(places.contains("(US-TN"), "{places}");
    assert!(!places.contains("(US-FL"), "{places}");
}

async fn a_patient_cannot_read_another_patients_status_through_the_dose_pages(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (_, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let other = create_patient(&casey, "Eli Park").await;
    living_in(&casey, &other, "Eli Park", "US-AL").await;
    for path in [
        format!("/patients/{other}/doses/new"),
        format!("/patients/{other}/doses"),
    ] {
        let (status, html) = page(&dana, &path).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{path}: {status}"
        );
        assert!(!html.contains("Alabama"), "{path}: {html}");
    }
}
