//! Medicines by name (the drug lexicon), the interaction alerts fed by the interaction
//! table, the confirm step on the record page, curation on /admin/knowledge, and the
//! start-up migration of the retired "Other medications" text.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, create_patient, location, on_both_backends, post_form};
use crate::products::{batch, product};

on_both_backends!(
    a_name_without_a_class_resolves_to_its_ingredient_and_an_unknown_one_is_kept_as_typed,
    quetiapine_with_kratom_raises_the_cns_and_the_interaction_alert_listing_their_rows,
    the_record_page_asks_to_confirm_a_name_typed_without_a_class_before_saving,
    an_admin_override_is_used_for_that_organization_only_and_a_revert_restores_the_shipped_row,
    text_from_the_retired_other_medications_field_becomes_list_entries_at_start_up,
);

fn path(patient: &str) -> String {
    format!("/api/v1/patients/{patient}/medications")
}

async fn add(who: &Client, patient: &str, body: Value) -> Value {
    let response = who.post(&path(patient), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "adding {body}");
    response.json().await.unwrap()
}

async fn a_name_without_a_class_resolves_to_its_ingredient_and_an_unknown_one_is_kept_as_typed(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;

    let xanax = add(&casey, &patient, json!({"name": "Xanax 0.5 mg"})).await;
    assert_eq!(xanax["ingredient"], "alprazolam");
    assert_eq!(xanax["class"], "benzodiazepine");
    assert_eq!(xanax["recognised"], true);
    assert_eq!(xanax["strength"], "0.5 mg");
    assert_eq!(xanax["name"], "Xanax 0.5 mg");
    assert_eq!(xanax["cns_depressant"], true);

    let suboxone = add(&casey, &patient, json!({"name": "suboxone"})).await;
    assert_eq!(suboxone["ingredient"], "buprenorphine");
    let consider = suboxone["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["mechanism"] == "cns_depression")
        .unwrap()["consider"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(consider.contains("never advise tapering"), "{consider}");

    let unknown = add(&casey, &patient, json!({"name": "Grandma's tonic"})).await;
    assert_eq!(unknown["recognised"], false);
    assert_eq!(unknown["name"], "Grandma's tonic");
    assert_eq!(unknown["class"], "other");
    assert_eq!(unknown["interactions"], json!([]));

    // An explicit class is kept (an existing client's request still works).
    let chosen = add(
        &casey,
        &patient,
        json!({"name": "Gabapentin 300mg tablets", "class": "gabapentinoid"}),
    )
    .await;
    assert_eq!(chosen["ingredient"], "gabapentin");
    assert_eq!(chosen["strength"], "300mg");
}

async fn quetiapine_with_kratom_raises_the_cns_and_the_interaction_alert_listing_their_rows(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let leaf = product(&casey, json!({"name": "Leaf", "form": "leaf_powder"})).await;
    let lot = batch(
        &casey,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}}),
    )
    .await;
    let dose = dana
        .post(
            &format!("/api/v1/patients/{patient}/doses"),
            &json!({"batch_id": lot["id"], "amount": 2, "unit": "g"}),
        )
        .await;
    assert_eq!(dose.status(), StatusCode::CREATED);
    let seroquel = add(&casey, &patient, json!({"name": "Seroquel 100 mg"})).await;
    assert_eq!(seroquel["ingredient"], "quetiapine");

    let open = casey.get_json("/api/v1/alerts?status=open").await;
    let of = |rule: &str| -> Vec<Value> {
        open.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == rule)
            .cloned()
            .collect()
    };
    let mechanisms = |alert: &Value| -> Vec<String> {
        alert["evidence"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["mechanism"].as_str().unwrap().to_owned())
            .collect()
    };
    let cns = of("cns_depressant_combination");
    let interaction = of("interaction");
    assert_eq!((cns.len(), interaction.len()), (1, 1), "{open}");
    assert_eq!(mechanisms(&cns[0]), ["cns_depression"]);
    assert_eq!(mechanisms(&interaction[0]), ["cyp3a_inhibition"]);
    assert_eq!(interaction[0]["source_id"], seroquel["id"]);
    assert!(
        interaction[0]["evidence"]["rows"][0]["source"]
            .as_str()
            .unwrap()
            .contains("pharmacology.md §4")
    );
}

async fn the_record_page_asks_to_confirm_a_name_typed_without_a_class_before_saving(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let form = format!("/patients/{patient}/medications");

    let asked = post_form(&casey, &form, &[("name", "Xanax 0.5 mg"), ("class", "")]).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let html = asked.text().await.unwrap();
    assert!(
        html.contains("Xanax 0.5 mg → alprazolam (Benzodiazepine) — is this right?"),
        "{html}"
    );
    assert!(html.contains("name=\"confirmed\" value=\"Xanax 0.5 mg\""));
    let listed = casey.get_json(&path(&patient)).await;
    assert_eq!(listed, json!([]), "nothing is saved before confirming");

    let saved = post_form(
        &casey,
        &form,
        &[
            ("name", "Xanax 0.5 mg"),
            ("class", ""),
            ("confirmed", "Xanax 0.5 mg"),
        ],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(location(&saved).contains("saved=medication-added"));

    // Unknown names are named as unchecked; choosing a class saves at once.
    let unknown = post_form(&casey, &form, &[("name", "Grandma's tonic")]).await;
    let html = unknown.text().await.unwrap();
    assert!(html.contains("not checked against interactions"), "{html}");
    let chosen = post_form(
        &casey,
        &form,
        &[("name", "Grandma's tonic"), ("class", "other")],
    )
    .await;
    assert_eq!(chosen.status(), StatusCode::SEE_OTHER);

    let record = casey.get(&format!("/patients/{patient}")).await;
    let html = record.text().await.unwrap();
    assert!(html.contains("Interactions with kratom"));
    assert!(html.contains("Xanax 0.5 mg (alprazolam)"));
    assert!(
        html.contains("Not recognised, so not checked against interactions: Grandma"),
        "{html}"
    );
    let listed = casey.get_json(&path(&patient)).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

async fn an_admin_override_is_used_for_that_organization_only_and_a_revert_restores_the_shipped_row(
    app: TestApp,
) {
    let north = app.clinic("Northside").await;
    let south = app.clinic("Southside").await;
    let casey = app.staff(&north, "clinician", "Casey Doe").await;
    let sam = app.staff(&south, "clinician", "Sam Roe").await;

    let page = north.admin.get("/admin/knowledge").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("midazolam-cyp3a") && html.contains("data/legal/status.toml"));
    assert_eq!(
        casey.get("/admin/knowledge").await.status(),
        StatusCode::FORBIDDEN
    );

    let refused = post_form(
        &north.admin,
        "/admin/knowledge/lexicon",
        &[
            ("ingredient", "kava"),
            ("class", "other"),
            ("brands", "Kava Kava"),
            ("reason", ""),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let saved = post_form(
        &north.admin,
        "/admin/knowledge/lexicon",
        &[
            ("ingredient", "sertraline"),
            ("class", "antidepressant"),
            ("brands", "Zoloft, Kalmorex"),
            ("misspellings", ""),
            ("reason", "a local brand our patients use"),
        ],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let row = post_form(
        &north.admin,
        "/admin/knowledge/interactions",
        &[
            ("id", "sertraline-serotonergic"),
            ("drug", "sertraline"),
            ("class", ""),
            ("mechanism", "serotonergic"),
            ("severity", "major"),
            ("evidence", "mechanistic"),
            ("effect", "Local review rates this higher."),
            ("consider", "Review with the pharmacist."),
            ("source", "pharmacology.md §3 Serotonergic"),
            ("reason", "clinic pharmacist review"),
        ],
    )
    .await;
    assert_eq!(row.status(), StatusCode::SEE_OTHER);

    let north_patient = create_patient(&casey, "Dana Reyes").await;
    let south_patient = create_patient(&sam, "Ana Lima").await;
    let north_med = add(&casey, &north_patient, json!({"name": "Kalmorex 50 mg"})).await;
    assert_eq!(north_med["ingredient"], "sertraline");
    assert_eq!(north_med["interactions"][0]["severity"], "major");
    let south_med = add(&sam, &south_patient, json!({"name": "Kalmorex 50 mg"})).await;
    assert_eq!(south_med["recognised"], false);

    let reverted = post_form(
        &north.admin,
        "/admin/knowledge/revert",
        &[("kind", "interaction"), ("key", "sertraline-serotonergic")],
    )
    .await;
    assert_eq!(reverted.status(), StatusCode::SEE_OTHER);
    let again = add(&casey, &north_patient, json!({"name": "Zoloft"})).await;
    assert_eq!(again["interactions"][0]["severity"], "moderate");
    let audit = north.admin.get("/admin/audit").await.text().await.unwrap();
    assert!(audit.contains("knowledge.override") && audit.contains("knowledge.revert"));
}

async fn text_from_the_retired_other_medications_field_becomes_list_entries_at_start_up(
    app: TestApp,
) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let patient = create_patient(&casey, "Dana Reyes").await;
    let id: speciosa_core::ids::PatientId = patient.parse().unwrap();
    app.store
        .seed_retired_concomitant_text(
            id,
            &[
                "buprenorphine 8 mg; Xanax 0.5mg".to_owned(),
                "grandma's tonic".to_owned(),
            ],
        )
        .await
        .unwrap();

    let started = speciosa_server::App::with_store(
        app.store.clone(),
        speciosa_server::AppSettings::default(),
    )
    .unwrap();
    let report = started.migrate_data().await.unwrap();
    assert_eq!((report.patients_moved, report.entries_moved), (1, 3));
    // A second start finds nothing left to move.
    let report = started.migrate_data().await.unwrap();
    assert_eq!(report.entries_moved, 0);

    let listed = casey.get_json(&path(&patient)).await;
    let mut entries: Vec<(String, Value, Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["ingredient"].clone(),
                m["recognised"].clone(),
            )
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        entries,
        [
            ("Xanax 0.5mg".to_owned(), json!("alprazolam"), json!(true)),
            (
                "buprenorphine 8 mg".to_owned(),
                json!("buprenorphine"),
                json!(true)
            ),
            ("grandma's tonic".to_owned(), Value::Null, json!(false)),
        ]
    );
    let fetched = casey.get_json(&format!("/api/v1/patients/{patient}")).await;
    assert!(fetched.get("concomitant_medications").is_none());
}
