//! Pages that never strand anyone (issue 10, items 9 and 10): error pages keep the
//! navigation and a patient's crisis bar, times name their zone, one dose figure reads
//! the same everywhere, the patient's pages speak plainly, and the check-in saves part by part.

use reqwest::StatusCode;

use crate::helpers::{Client, TestApp, on_both_backends};

on_both_backends!(
    an_unknown_address_is_a_404_page_with_the_visitors_navigation,
    an_error_page_keeps_the_navigation_and_a_patients_help_bar,
);

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
