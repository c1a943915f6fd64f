//! The clinician's plan pages: the editor previews without saving, saves a draft, the
//! version page signs it (re-entering the password), a signed version refuses changes,
//! patients never see drafts, and two versions compare field by field.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Client, PASSWORD, TestApp, create_patient, location, on_both_backends, post_form,
};

on_both_backends!(
    a_clinician_previews_saves_and_signs_a_plan_from_the_pages,
    a_wrong_password_is_shown_on_the_form_and_the_plan_stays_a_draft,
    a_signed_version_edited_through_the_form_is_refused_with_a_readable_page,
    a_patient_sees_signed_versions_and_never_a_draft,
    the_diff_shows_a_changed_figure_and_refuses_another_patients_version,
    a_starting_dose_typed_with_a_decimal_comma_is_read_as_a_decimal,
    a_naltrexone_start_after_recent_kratom_asks_for_a_challenge_or_a_reason,
);

/// A capsule batch of 12 mg mitragynine per capsule (0.5 g at 24 mg/g).
async fn capsule_batch(clinician: &Client) -> String {
    let product: Value = clinician
        .post(
            "/api/v1/products",
            &json!({"name": "Caps", "form": "capsule", "unit_mass_g": 0.5}),
        )
        .await
        .json()
        .await
        .unwrap();
    let batch: Value = clinician
        .post(
            &format!(
                "/api/v1/products/{}/batches",
                product["id"].as_str().unwrap()
            ),
            &json!({"lot": "C12", "assay": {"mitragynine_mg_per_g": 24.0}}),
        )
        .await
        .json()
        .await
        .unwrap();
    batch["id"].as_str().unwrap().to_owned()
}

/// The editor's fields for a maintenance plan of `start_mg` mg a day in mg.
fn maintenance<'a>(start_mg: &'a str, intent: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("intent", intent),
        ("kind", "maintenance"),
        ("transition_to", ""),
        ("generator.kind", "constant"),
        ("generator.start_mg", start_mg),
        ("generator.interval_days", "7"),
        ("generator.start_date", "2026-12-01"),
        ("batch_id", ""),
        ("round_to", ""),
        ("slot_time", "08:00"),
        ("slot_share", ""),
        ("slot_bedtime", ""),
        ("per_dose_max_mg", "200"),
        ("per_day_max_mg", "200"),
        ("rationale", "Steady while sleep settles."),
        ("holds.within_days", "14"),
        ("holds.sows_rise", "10"),
        ("holds.cows_at_least", "13"),
        ("holds.craving_rise", "3"),
        ("holds.sleep_efficiency_drop", "10"),
    ]
}

/// Saves a draft through the editor; its id.
async fn save_draft(who: &Client, patient: &str, fields: &[(&str, &str)]) -> String {
    let response = post_form(who, &format!("/patients/{patient}/plans"), fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "saving a draft");
    let to = location(&response);
    let id = to
        .strip_prefix("/plans/")
        .and_then(|rest| rest.split('?').next())
        .expect("the draft's page")
        .to_owned();
    assert_eq!(to, format!("/plans/{id}?saved=draft"));
    id
}

/// Signs a draft through its page.
pub async fn sign(who: &Client, plan: &str) {
    let response = post_form(
        who,
        &format!("/plans/{plan}/sign"),
        &[
            ("password", PASSWORD),
            ("totp_code", ""),
            ("statement", "I approve this plan."),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "signing");
    assert_eq!(location(&response), format!("/plans/{plan}?saved=signed"));
}

/// A signed maintenance plan for `patient`, drawn and signed through the pages.
pub async fn signed_plan(who: &Client, patient: &str) -> String {
    let id = save_draft(who, patient, &maintenance("40", "save")).await;
    sign(who, &id).await;
    id
}

async fn page(who: &Client, path: &str) -> (StatusCode, String) {
    let response = who.get(path).await;
    (response.status(), response.text().await.unwrap())
}

async fn a_clinician_previews_saves_and_signs_a_plan_from_the_pages(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let batch = capsule_batch(&casey).await;

    let (status, editor) = page(&casey, &format!("/patients/{patient}/plans/new")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        editor.contains("a design proposal with no published source")
            || editor.contains("A design proposal with no published source")
    );
    assert!(
        editor.contains("Caps, lot C12 (12 mg mitragynine per capsule)"),
        "the assayed batch is offered"
    );

    // 100 mg is 8.33 capsules of 12 mg, rounded to 8.
    let fields = vec![
        ("kind", "taper"),
        ("generator.kind", "percent_of_original"),
        ("generator.start_mg", "100"),
        ("generator.percent", "25"),
        ("generator.interval_days", "7"),
        ("generator.start_date", "2026-12-01"),
        ("batch_id", batch.as_str()),
        ("round_to", "1"),
        ("slot_time", "08:00"),
        ("slot_share", "75"),
        ("slot_time", "21:30"),
        ("slot_share", "25"),
        ("slot_time", ""),
        ("slot_share", ""),
        ("slot_bedtime", "1"),
        ("per_dose_max_mg", "80"),
        ("per_day_max_mg", "100"),
        ("rationale", "Agreed at the visit."),
        ("holds.within_days", "14"),
        ("holds.sows_rise", "10"),
        ("holds.cows_at_least", "13"),
        ("holds.craving_rise", "3"),
        ("holds.sleep_efficiency_drop", "10"),
    ];
    let mut previewing = fields.clone();
    previewing.push(("intent", "preview"));
    let response = post_form(&casey, &format!("/patients/{patient}/plans"), &previewing).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(body.contains("What the model predicts"), "{body}");
    assert!(
        body.contains("Predictions use the population PK model"),
        "the model's caution is shown"
    );
    assert!(
        body.contains("exact 8.33 capsules → 8"),
        "exact and rounded side by side: {body}"
    );
    assert!(
        body.contains("6 capsules at 08:00 and 2 at 21:30 (bedtime)"),
        "{body}"
    );
    assert!(
        body.contains("<svg class=\"dc-plot\""),
        "the whole-plan curve is drawn"
    );
    assert!(
        body.contains("value=\"100\""),
        "the form is shown again as typed"
    );
    let (_, history) = page(&casey, &format!("/patients/{patient}/plans")).await;
    assert!(
        history.contains("No versions yet"),
        "a preview saves nothing"
    );

    let mut saving = fields.clone();
    saving.push(("intent", "save"));
    let id = save_draft(&casey, &patient, &saving).await;
    let (status, draft) = page(&casey, &format!("/plans/{id}?saved=draft")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(draft.contains("Draft saved"));
    assert!(draft.contains("Sign plan") && draft.contains("if two-factor sign-in is on"));
    assert!(
        draft.contains("I have reviewed this plan with the patient"),
        "the standard statement is offered"
    );
    assert!(draft.contains("exact 8.33 capsules → 8"));

    sign(&casey, &id).await;
    let (status, signed) = page(&casey, &format!("/plans/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(signed.contains("Signed, active"));
    assert!(signed.contains("SHA-256") && signed.contains("Casey Doe"));
    let digest = signed
        .split("<code class=\"full-digest\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the full digest");
    assert_eq!(digest.len(), 64);
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        !signed.contains("Sign plan"),
        "a signed version offers no signing form"
    );

    let (_, history) = page(&casey, &format!("/patients/{patient}/plans")).await;
    assert!(history.contains(&format!("/plans/{id}")) && history.contains(&digest[..12]));
    let (_, drawn) = page(&casey, &format!("/patients/{patient}/plans/new?from={id}")).await;
    assert!(
        drawn.contains(&format!("value=\"{batch}\" selected")),
        "a new version keeps the assumed batch"
    );
    assert!(drawn.contains("value=\"75\"") && drawn.contains("value=\"21:30\""));
    let (_, record) = page(&casey, &format!("/patients/{patient}")).await;
    assert!(
        record.contains(&format!(
            "href=\"/patients/{patient}/plans\">Plan</a>: Version 1: Taper"
        )),
        "the record links to the plan with its summary"
    );
}

async fn a_wrong_password_is_shown_on_the_form_and_the_plan_stays_a_draft(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let id = save_draft(&casey, &patient, &maintenance("40", "save")).await;

    let response = post_form(
        &casey,
        &format!("/plans/{id}/sign"),
        &[
            ("password", "not my password at all"),
            ("statement", "I approve this plan."),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.text().await.unwrap();
    assert!(body.contains("This is not your current password"), "{body}");
    assert!(
        body.contains("I approve this plan."),
        "the statement is kept"
    );
    assert!(
        !body.contains("not my password at all"),
        "a password is never shown back"
    );
    let (_, again) = page(&casey, &format!("/plans/{id}")).await;
    assert!(again.contains("badge plan-draft") && again.contains("Sign plan"));

    let response = post_form(
        &casey,
        &format!("/plans/{id}/sign"),
        &[("password", PASSWORD), ("statement", "  ")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Affirm what your signature means")
    );
}

async fn a_signed_version_edited_through_the_form_is_refused_with_a_readable_page(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let id = signed_plan(&casey, &patient).await;

    let response = post_form(&casey, &format!("/plans/{id}"), &maintenance("30", "save")).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("a signed plan never changes; draw a new version instead"),
        "{body}"
    );
    assert!(body.contains("value=\"30\""), "the typed change is kept");
    assert!(
        body.contains(&format!("action=\"/patients/{patient}/plans\"")),
        "saving it makes a new version"
    );
    let (_, signed) = page(&casey, &format!("/plans/{id}")).await;
    assert!(signed.contains("40 mg") && signed.contains("Signed, active"));

    // The edit address of a signed version leads to a new version drawn from it.
    let response = casey.get(&format!("/plans/{id}/edit")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        format!("/patients/{patient}/plans/new?from={id}")
    );
}

async fn a_patient_sees_signed_versions_and_never_a_draft(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let draft = save_draft(&casey, &patient, &maintenance("40", "save")).await;

    let (status, _) = page(&dana, &format!("/plans/{draft}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, history) = page(&dana, &format!("/patients/{patient}/plans")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!history.contains(&draft) && history.contains("No signed plan yet"));
    assert!(!history.contains("New plan"), "patients draw no plans");
    let (status, _) = page(&dana, &format!("/patients/{patient}/plans/new")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    sign(&casey, &draft).await;
    let (status, signed) = page(&dana, &format!("/plans/{draft}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(signed.contains("Signed, active") && !signed.contains("Sign plan"));
    let response = post_form(
        &dana,
        &format!("/plans/{draft}/sign"),
        &[("password", PASSWORD), ("statement", "x")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

async fn the_diff_shows_a_changed_figure_and_refuses_another_patients_version(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let first = signed_plan(&casey, &patient).await;

    let (status, drawn) = page(
        &casey,
        &format!("/patients/{patient}/plans/new?from={first}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        drawn.contains("value=\"40\""),
        "the new version starts from the signed one"
    );
    let second = save_draft(&casey, &patient, &maintenance("35", "save")).await;

    let (_, version) = page(&casey, &format!("/plans/{second}")).await;
    assert!(
        version.contains(&format!("/plans/{second}/diff?against={first}")),
        "a link compares with the previous version"
    );
    let (status, diff) = page(&casey, &format!("/plans/{second}/diff?against={first}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(diff.contains("Version 1 → version 2"), "{diff}");
    assert!(
        diff.contains("<del>40 mg</del>") && diff.contains("<ins>35 mg</ins>"),
        "{diff}"
    );
    assert!(diff.contains("class=\"changed\""));
    let (_, by_default) = page(&casey, &format!("/plans/{second}/diff")).await;
    assert!(
        by_default.contains("<ins>35 mg</ins>"),
        "the previous version by default"
    );

    let other = create_patient(&casey, "Sam Whitfield").await;
    let theirs = signed_plan(&casey, &other).await;
    let (status, _) = page(&casey, &format!("/plans/{second}/diff?against={theirs}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_starting_dose_typed_with_a_decimal_comma_is_read_as_a_decimal(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let id = save_draft(&casey, &patient, &maintenance("62,5", "save")).await;
    let (_, draft) = page(&casey, &format!("/plans/{id}")).await;
    assert!(draft.contains("62.5 mg"), "{draft}");

    let response = post_form(
        &casey,
        &format!("/patients/{patient}/plans"),
        &maintenance("1,500", "save"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("href=\"#generator.start_mg\""),
        "the field is named: {body}"
    );
}

async fn a_naltrexone_start_after_recent_kratom_asks_for_a_challenge_or_a_reason(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let batch = capsule_batch(&casey).await;
    let logged = casey
        .post(
            &format!("/api/v1/patients/{patient}/doses"),
            &json!({"batch_id": batch, "amount": 2, "unit": "capsule"}),
        )
        .await;
    assert_eq!(logged.status(), StatusCode::CREATED);
    let mut fields = maintenance("40", "save");
    for field in fields.iter_mut() {
        match field.0 {
            "kind" => field.1 = "transition",
            "transition_to" => field.1 = "naltrexone",
            _ => {}
        }
    }
    let id = save_draft(&casey, &patient, &fields).await;

    let (_, draft) = page(&casey, &format!("/plans/{id}")).await;
    assert!(draft.contains("Naltrexone start gate"), "{draft}");
    assert!(draft.contains("kratom was logged on 1 day(s)"));
    assert!(
        draft.contains("name=\"naloxone_challenge\"") && draft.contains("name=\"override_reason\"")
    );

    let response = post_form(
        &casey,
        &format!("/plans/{id}/sign"),
        &[
            ("password", PASSWORD),
            ("statement", "I approve this plan."),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("href=\"#naloxone_challenge\"")
    );

    let response = post_form(
        &casey,
        &format!("/plans/{id}/sign"),
        &[
            ("password", PASSWORD),
            ("statement", "I approve this plan."),
            ("override_reason", "Inpatient start under observation."),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, signed) = page(&casey, &format!("/plans/{id}")).await;
    assert!(signed.contains("override: Inpatient start under observation."));
    assert!(signed.contains("Transition to naltrexone"));
}
