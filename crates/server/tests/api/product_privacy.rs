//! Which patient uses which product is clinical information: a patient's additions to
//! the catalogue are seen only by them and their care team until reviewed, and who
//! added a product only by them ever after.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, on_both_backends, problem};
use crate::products::product;

on_both_backends!(
    a_patients_addition_is_seen_only_by_them_and_their_care_team_until_reviewed,
    after_review_the_product_is_the_clinics_but_who_added_it_stays_with_the_care_team,
);

const TYPED_NAME: &str = "Dana's gas-station shot from Main St";

async fn names(client: &Client) -> Vec<Value> {
    client
        .get_json("/api/v1/products")
        .await
        .as_array()
        .unwrap()
        .clone()
}

fn find<'a>(products: &'a [Value], id: &str) -> Option<&'a Value> {
    products.iter().find(|p| p["id"] == id)
}

struct Clinic {
    casey: Client,
    robin: Client,
    dana_id: String,
    dana: Client,
    eli: Client,
    shot_id: String,
    batch_id: String,
    leaf_id: String,
}

/// Casey looks after Dana, Robin after Eli; Dana adds a product as labelled, and the
/// clinic's catalogue holds one leaf powder.
async fn clinic(app: &TestApp) -> Clinic {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    let (dana_id, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let (_, eli) = app.patient_with_login(&robin, "Eli Stone").await;
    let leaf = product(
        &casey,
        json!({"name": "Green Malay", "form": "leaf_powder"}),
    )
    .await;
    let shot = product(
        &dana,
        json!({"name": TYPED_NAME, "form": "liquid", "serving_size": 15.0}),
    )
    .await;
    Clinic {
        casey,
        robin,
        dana_id,
        dana,
        eli,
        shot_id: shot["id"].as_str().unwrap().to_owned(),
        batch_id: shot["batches"][0]["id"].as_str().unwrap().to_owned(),
        leaf_id: leaf["id"].as_str().unwrap().to_owned(),
    }
}

async fn a_patients_addition_is_seen_only_by_them_and_their_care_team_until_reviewed(app: TestApp) {
    let c = clinic(&app).await;
    for (who, reader) in [("Dana", &c.dana), ("Casey", &c.casey)] {
        let products = names(reader).await;
        let shot = find(&products, &c.shot_id).unwrap_or_else(|| panic!("{who} sees it"));
        assert_eq!(shot["added_by_patient_id"], c.dana_id.as_str(), "{who}");
        assert!(find(&products, &c.leaf_id).is_some(), "{who}");
    }
    for (who, reader) in [("Robin", &c.robin), ("Eli", &c.eli)] {
        let products = names(reader).await;
        assert!(
            find(&products, &c.shot_id).is_none(),
            "{who} sees Dana's addition"
        );
        assert!(find(&products, &c.leaf_id).is_some(), "{who}");
        assert!(
            !serde_json::to_string(&products)
                .unwrap()
                .contains(&c.dana_id),
            "{who}"
        );
        let page = reader.get("/products").await.text().await.unwrap();
        assert!(page.contains("Green Malay"), "{who}");
        assert!(!page.contains("gas-station shot"), "{who}'s page names it");
        for path in [
            format!("/api/v1/products/{}", c.shot_id),
            format!("/api/v1/batches/{}", c.batch_id),
        ] {
            problem(reader.get(&path).await, StatusCode::NOT_FOUND).await;
        }
        assert_eq!(
            reader
                .get(&format!("/products/{}", c.shot_id))
                .await
                .status(),
            StatusCode::NOT_FOUND,
            "{who}"
        );
    }
    // Robin can neither review it nor add batches to it.
    problem(
        c.robin
            .put(
                &format!("/api/v1/products/{}", c.shot_id),
                &json!({"name": "x", "form": "liquid", "reviewed": true}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        c.robin
            .post(
                &format!("/api/v1/products/{}/batches", c.shot_id),
                &json!({"lot": "L1"}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let casey_page = c.casey.get("/products").await.text().await.unwrap();
    assert!(casey_page.contains("gas-station shot"));
}

async fn after_review_the_product_is_the_clinics_but_who_added_it_stays_with_the_care_team(
    app: TestApp,
) {
    let c = clinic(&app).await;
    let path = format!("/api/v1/products/{}", c.shot_id);
    let reviewed = c
        .casey
        .put(
            &path,
            &json!({"name": "Kratom shot (brand K)", "form": "liquid", "serving_size": 15.0, "reviewed": true}),
        )
        .await;
    assert_eq!(reviewed.status(), StatusCode::OK);
    let reviewed: Value = reviewed.json().await.unwrap();
    assert_eq!(reviewed["added_by_patient_id"], c.dana_id.as_str());

    for (who, reader) in [("Robin", &c.robin), ("Eli", &c.eli)] {
        let products = names(reader).await;
        let shot = find(&products, &c.shot_id).unwrap_or_else(|| panic!("{who} sees it"));
        assert_eq!(shot["review_status"], "reviewed");
        assert!(shot["added_by_patient_id"].is_null(), "{who}: {shot}");
        assert!(reader.get_json(&path).await["added_by_patient_id"].is_null());
    }
    // Robin may edit a reviewed catalogue product, and still is not told its origin.
    let edited: Value = c
        .robin
        .put(
            &path,
            &json!({"name": "Kratom shot (brand K)", "form": "liquid", "serving_size": 20.0}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(edited["serving_size"], 20.0);
    assert!(edited["added_by_patient_id"].is_null(), "{edited}");
    let page = c
        .robin
        .get(&format!("/products/{}", c.shot_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Kratom shot (brand K)"));
    assert!(!page.contains("added by a patient"), "Robin's page tells");
    let page = c
        .casey
        .get(&format!("/products/{}", c.shot_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("first added by a patient"));
    assert_eq!(
        c.dana.get_json(&path).await["added_by_patient_id"],
        c.dana_id.as_str()
    );
}
