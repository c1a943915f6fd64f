//! A mistyped dose is never silently multiplied: decimal commas are read as decimals,
//! digit grouping is refused, and an amount far above the patient's usual dose is asked
//! about (API, pages, corrections and CSV import) before it is saved.

use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, error_fields, on_both_backends, post_form, problem};
use crate::products::{batch, product};

on_both_backends!(
    a_dose_typed_with_a_decimal_comma_is_saved_as_a_decimal,
    digit_grouping_in_an_amount_is_refused_naming_amount,
    an_unusual_amount_is_refused_until_confirmed,
    with_fewer_than_three_recent_doses_no_amount_is_unusual,
    a_correction_is_judged_against_the_other_doses_and_needs_confirmation,
    a_csv_import_reports_unusual_rows_by_line_until_they_are_confirmed,
    the_dose_form_reads_an_amount_typed_with_a_decimal_comma,
    the_dose_form_asks_about_an_unusual_amount_and_keeps_what_was_typed,
    the_correction_form_asks_about_an_unusual_amount,
    log_the_same_dose_never_offers_a_refused_amount,
    the_import_page_lists_unusual_rows_to_tick,
    the_openapi_document_describes_text_amounts_and_the_confirmation,
);

struct Setup {
    casey: Client,
    dana: Client,
    patient: String,
    /// 19.5 mg/g mitragynine: 2 g is 39 mg, 10 g is 195 mg.
    batch: String,
}

async fn setup(app: &TestApp) -> Setup {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let (patient, dana) = app.patient_with_login(&casey, "Dana Reyes").await;
    let leaf = product(
        &casey,
        json!({"name": "Characterized leaf", "form": "leaf_powder"}),
    )
    .await;
    let lot = batch(
        &casey,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}}),
    )
    .await;
    Setup {
        casey,
        dana,
        patient,
        batch: lot["id"].as_str().unwrap().to_owned(),
    }
}

fn hours_ago(hours: i64) -> String {
    (Timestamp::now() - SignedDuration::from_hours(hours)).to_string()
}

impl Setup {
    fn doses_path(&self) -> String {
        format!("/api/v1/patients/{}/doses", self.patient)
    }

    fn dose(&self, amount: Value, hours: i64) -> Value {
        json!({"batch_id": self.batch, "amount": amount, "unit": "g", "taken_at": hours_ago(hours), "confirm_backdated": true})
    }

    async fn log(&self, body: Value) -> Value {
        let response = self.casey.post(&self.doses_path(), &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "logging {body}");
        response.json().await.unwrap()
    }

    /// Three 2 g doses (39 mg each) over the last days: a usual dose of 39 mg.
    async fn usual_doses(&self) {
        for hours in [50, 26, 3] {
            self.log(self.dose(json!(2), hours)).await;
        }
    }

    async fn current_doses(&self) -> Vec<Value> {
        self.casey
            .get_json(&self.doses_path())
            .await
            .as_array()
            .unwrap()
            .clone()
    }
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-9)
}

/// The `value` of the element with `id`, as the page rendered it.
fn value_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let tag_end = at + html[at..].find('>')?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..tag_end];
    let value = tag.split(" value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_owned())
}

async fn a_dose_typed_with_a_decimal_comma_is_saved_as_a_decimal(app: TestApp) {
    let s = setup(&app).await;
    let dose = s
        .log(json!({"batch_id": s.batch, "amount": "1,5", "unit": "g"}))
        .await;
    assert!(close(&dose["amount"], 1.5), "{dose}");
    assert!(close(&dose["mitragynine_mg"], 29.25), "{dose}");
    let point = s
        .log(json!({"batch_id": s.batch, "amount": " 2.5 ", "unit": "g"}))
        .await;
    assert!(close(&point["amount"], 2.5), "{point}");
    let number = s
        .log(json!({"batch_id": s.batch, "amount": 3, "unit": "g"}))
        .await;
    assert!(close(&number["amount"], 3.0), "{number}");
}

async fn digit_grouping_in_an_amount_is_refused_naming_amount(app: TestApp) {
    let s = setup(&app).await;
    for grouped in ["1,500", "1.500", "1 500", "1.500,5", "1,500.5"] {
        let response = s
            .casey
            .post(
                &s.doses_path(),
                &json!({"batch_id": s.batch, "amount": grouped, "unit": "g"}),
            )
            .await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&body), ["amount"], "{grouped}: {body}");
        assert!(
            body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("use a decimal point or comma, no thousands separators"),
            "{grouped}: {body}"
        );
    }
    for wrong in [json!("1,5 g"), json!(true), json!(""), json!("-2")] {
        let response = s
            .casey
            .post(
                &s.doses_path(),
                &json!({"batch_id": s.batch, "amount": wrong, "unit": "g"}),
            )
            .await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&body), ["amount"], "{wrong}: {body}");
    }
    assert!(s.current_doses().await.is_empty(), "nothing was saved");
}

async fn an_unusual_amount_is_refused_until_confirmed(app: TestApp) {
    let s = setup(&app).await;
    s.usual_doses().await;
    // 10 g is 195 mg: five times the usual 39 mg.
    let refused = s
        .casey
        .post(
            &s.doses_path(),
            &json!({"batch_id": s.batch, "amount": 10, "unit": "g"}),
        )
        .await;
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["amount"], "{body}");
    let detail = body["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("195 mg") && detail.contains("39 mg") && detail.contains("3 times"),
        "both numbers: {detail}"
    );
    assert!(detail.contains("confirm_unusual_amount"), "{detail}");
    assert_eq!(s.current_doses().await.len(), 3, "nothing was saved");

    // Exactly three times the usual is not unusual.
    s.log(json!({"batch_id": s.batch, "amount": 6, "unit": "g"}))
        .await;
    let confirmed = s
        .casey
        .post(
            &s.doses_path(),
            &json!({"batch_id": s.batch, "amount": 10, "unit": "g", "confirm_unusual_amount": true}),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::CREATED);
    let dose: Value = confirmed.json().await.unwrap();
    assert!(close(&dose["mitragynine_mg"], 195.0), "{dose}");
    // The patient is asked too, in their own session.
    let theirs = s
        .dana
        .post(
            &s.doses_path(),
            &json!({"batch_id": s.batch, "amount": "15", "unit": "g"}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(theirs, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["amount"]
    );
    let audit = app
        .store
        .list_audit_events(&speciosa_app::store::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit.iter().any(|e| e.action == "dose.create"
            && e.detail.as_deref() == Some("unusual amount confirmed")),
        "the confirmation is in the audit trail"
    );
}

async fn with_fewer_than_three_recent_doses_no_amount_is_unusual(app: TestApp) {
    let s = setup(&app).await;
    // Three usual doses, but older than 14 days: they are not the usual dose any more.
    for days in [20, 19, 18] {
        s.log(s.dose(json!(2), days * 24)).await;
    }
    s.log(s.dose(json!(2), 5)).await;
    s.log(s.dose(json!(2), 4)).await;
    // Two recent doses are too few to say what is usual.
    s.log(json!({"batch_id": s.batch, "amount": 10, "unit": "g"}))
        .await;
    // Now there are three (39, 39, 195 mg; median 39): 10 g again is asked about.
    let again = s
        .casey
        .post(
            &s.doses_path(),
            &json!({"batch_id": s.batch, "amount": 10, "unit": "g"}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(again, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["amount"]
    );
}

async fn a_correction_is_judged_against_the_other_doses_and_needs_confirmation(app: TestApp) {
    let s = setup(&app).await;
    s.log(s.dose(json!(2), 30)).await;
    s.log(s.dose(json!(2), 20)).await;
    // Logged with two earlier doses, so not checked: 195 mg.
    let big = s.log(s.dose(json!(10), 10)).await;
    let big_path = format!("{}/{}", s.doses_path(), big["id"].as_str().unwrap());
    // Corrected to 7 g (136.5 mg): the dose being replaced is not part of the usual
    // amount, which leaves two doses and no check.
    let corrected: Value = s
        .casey
        .put(
            &big_path,
            &json!({"reason": "it was 7 g", "dose": s.dose(json!("7"), 10)}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(close(&corrected["amount"], 7.0), "{corrected}");

    let small = s.log(s.dose(json!(2), 2)).await;
    let small_path = format!("{}/{}", s.doses_path(), small["id"].as_str().unwrap());
    // Against 39, 39 and 136.5 mg (median 39), 10 g is unusual.
    let refused = s
        .casey
        .put(
            &small_path,
            &json!({"reason": "it was 10 g", "dose": s.dose(json!("10"), 2)}),
        )
        .await;
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&body), ["amount"], "{body}");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("195 mg"),
        "{body}"
    );
    let mut confirmed_dose = s.dose(json!("10"), 2);
    confirmed_dose["confirm_unusual_amount"] = json!(true);
    let confirmed = s
        .casey
        .put(
            &small_path,
            &json!({"reason": "it was 10 g", "dose": confirmed_dose}),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let grouped = s
        .casey
        .put(
            &format!("{}/{}", s.doses_path(), corrected["id"].as_str().unwrap()),
            &json!({"reason": "typo", "dose": s.dose(json!("1.500,5"), 10)}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(grouped, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["amount"]
    );
}

async fn a_csv_import_reports_unusual_rows_by_line_until_they_are_confirmed(app: TestApp) {
    let s = setup(&app).await;
    s.usual_doses().await;
    let zone = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let local = |hours: i64| {
        (Timestamp::now() - SignedDuration::from_hours(hours))
            .to_zoned_datetime(zone.clone())
            .strftime("%Y-%m-%d,%H:%M")
            .to_string()
    };
    let csv = format!(
        "date,time,product,amount,unit\n\
         {},Characterized leaf,2,g\n\
         {},Characterized leaf,10,g\n\
         {},Characterized leaf,\"1,5\",g\n\
         {},Characterized leaf,\"1,500\",g\n",
        local(80),
        local(79),
        local(78),
        local(77)
    );
    let path = format!("{}/import", s.doses_path());
    let preview: Value = s
        .casey
        .post(&path, &json!({"csv": csv}))
        .await
        .json()
        .await
        .unwrap();
    let lines = |list: &Value| -> Vec<u64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(lines(&preview["rows"]), [2, 4], "{preview}");
    assert!(close(&preview["rows"][1]["amount"], 1.5), "{preview}");
    assert_eq!(lines(&preview["unusual"]), [3], "{preview}");
    assert!(close(&preview["unusual"][0]["mitragynine_mg"], 195.0));
    assert!(close(&preview["unusual"][0]["usual_mitragynine_mg"], 39.0));
    assert_eq!(lines(&preview["errors"]), [5], "{preview}");
    assert!(
        preview["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no thousands separators"),
        "{preview}"
    );

    let unconfirmed: Value = s
        .casey
        .post(&path, &json!({"csv": csv, "commit": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unconfirmed["imported"], 2, "{unconfirmed}");
    assert_eq!(lines(&unconfirmed["unusual"]), [3]);
    assert_eq!(
        s.current_doses().await.len(),
        5,
        "the unusual row was not written"
    );

    let confirmed: Value = s
        .casey
        .post(
            &path,
            &json!({"csv": csv, "commit": true, "confirm_unusual_lines": [3]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            confirmed["imported"].as_u64(),
            confirmed["already_present"].as_u64()
        ),
        (Some(1), Some(2)),
        "{confirmed}"
    );
    assert!(confirmed["unusual"].as_array().unwrap().is_empty());
    let row = confirmed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line"] == 3)
        .unwrap();
    assert_eq!(row["unusual_amount_confirmed"], true);
    let doses = s.current_doses().await;
    assert_eq!(doses.len(), 6);
    assert!(doses.iter().any(|d| close(&d["amount"], 10.0)));
}

async fn the_dose_form_reads_an_amount_typed_with_a_decimal_comma(app: TestApp) {
    let s = setup(&app).await;
    let form_path = format!("/patients/{}/doses", s.patient);
    let response = post_form(
        &s.dana,
        &form_path,
        &[("batch_id", &s.batch), ("amount", "1,5"), ("unit", "g")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Sent by hand, unencoded, as a careless client might.
    let csrf = s.dana.csrf.clone().unwrap();
    let raw = s
        .dana
        .request(Method::POST, &form_path)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(format!(
            "csrf_token={csrf}&batch_id={}&amount=2,5&unit=g",
            s.batch
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::SEE_OTHER);
    let amounts: Vec<f64> = s
        .current_doses()
        .await
        .iter()
        .map(|d| d["amount"].as_f64().unwrap())
        .collect();
    assert_eq!(amounts.len(), 2);
    assert!(
        amounts.contains(&1.5) && amounts.contains(&2.5),
        "{amounts:?}"
    );

    let grouped = post_form(
        &s.dana,
        &form_path,
        &[("batch_id", &s.batch), ("amount", "1.500"), ("unit", "g")],
    )
    .await;
    assert_eq!(grouped.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = grouped.text().await.unwrap();
    assert!(html.contains("no thousands separators"), "{html}");
    assert_eq!(value_of(&html, "amount").as_deref(), Some("1.500"));
    let form = s
        .dana
        .get(&format!("{form_path}/new"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        form.contains(r#"id="amount" name="amount" type="text" inputmode="decimal""#),
        "the amount is typed as text, so the browser keeps a decimal comma"
    );
}

async fn the_dose_form_asks_about_an_unusual_amount_and_keeps_what_was_typed(app: TestApp) {
    let s = setup(&app).await;
    s.usual_doses().await;
    let form_path = format!("/patients/{}/doses", s.patient);
    let typed = [
        ("batch_id", s.batch.as_str()),
        ("amount", "10"),
        ("unit", "g"),
        ("note", "after the long shift"),
        ("contexts", "pain"),
        ("idempotency_key", "form-1"),
    ];
    let asked = post_form(&s.dana, &form_path, &typed).await;
    assert_eq!(asked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = asked.text().await.unwrap();
    assert!(
        html.contains(
            "Is 10 g right? That is 195 mg mitragynine, more than 3 times your usual 39 mg."
        ),
        "{html}"
    );
    assert_eq!(value_of(&html, "amount").as_deref(), Some("10"));
    assert!(html.contains(">after the long shift</textarea>"));
    assert!(html.contains(r#"id="context-pain" name="contexts" value="pain" checked"#));
    let signature = value_of(&html, "confirm_unusual_amount").expect("a confirmation box");
    assert_eq!(s.current_doses().await.len(), 3, "nothing was saved");

    // A confirmation of 10 g does not carry over to an amount changed to 100 g.
    let mut changed = typed.to_vec();
    changed[1] = ("amount", "100");
    changed.push(("confirm_unusual_amount", &signature));
    let stale = post_form(&s.dana, &form_path, &changed).await;
    assert_eq!(stale.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stale.text().await.unwrap().contains("Is 100 g right?"));

    let mut confirmed = typed.to_vec();
    confirmed.push(("confirm_unusual_amount", &signature));
    let saved = post_form(&s.dana, &form_path, &confirmed).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let doses = s.current_doses().await;
    assert_eq!(doses.len(), 4);
    assert!(
        doses
            .iter()
            .any(|d| close(&d["amount"], 10.0) && d["note"] == "after the long shift")
    );

    // A clinician logging on the patient's behalf is asked in the patient's name.
    let theirs = post_form(&s.casey, &form_path, &typed[..3]).await;
    assert!(
        theirs
            .text()
            .await
            .unwrap()
            .contains("more than 3 times Dana Reyes’s usual")
    );
}

async fn the_correction_form_asks_about_an_unusual_amount(app: TestApp) {
    let s = setup(&app).await;
    s.usual_doses().await;
    let last = s.log(s.dose(json!(2), 1)).await;
    let edit = format!(
        "/patients/{}/doses/{}/edit",
        s.patient,
        last["id"].as_str().unwrap()
    );
    let fields = [
        ("batch_id", s.batch.as_str()),
        ("amount", "10"),
        ("unit", "g"),
        ("reason", "it was more"),
    ];
    let asked = post_form(&s.casey, &edit, &fields).await;
    assert_eq!(asked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = asked.text().await.unwrap();
    assert!(
        html.contains("Is 10 g right? That is 195 mg mitragynine"),
        "{html}"
    );
    assert!(html.contains(">it was more</textarea>"));
    let signature = value_of(&html, "confirm_unusual_amount").unwrap();
    let mut confirmed = fields.to_vec();
    confirmed.push(("confirm_unusual_amount", &signature));
    let saved = post_form(&s.casey, &edit, &confirmed).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(
        s.current_doses()
            .await
            .iter()
            .any(|d| close(&d["amount"], 10.0))
    );
}

async fn log_the_same_dose_never_offers_a_refused_amount(app: TestApp) {
    let s = setup(&app).await;
    s.usual_doses().await;
    let form_path = format!("/patients/{}/doses", s.patient);
    let refused = post_form(
        &s.dana,
        &form_path,
        &[("batch_id", &s.batch), ("amount", "15"), ("unit", "g")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let repeat = repeat_form(
        &s.dana
            .get(&format!("{form_path}/new"))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert!(repeat.contains("<strong>2 g of"), "{repeat}");
    assert_eq!(hidden(&repeat, "amount").as_deref(), Some("2"), "{repeat}");
    assert!(
        !repeat.contains("15 g") && !repeat.contains(r#"value="15""#),
        "the refused 15 g is never offered: {repeat}"
    );

    // A confirmed unusual dose offered again is asked about again, not saved silently.
    let confirmed = s
        .dana
        .post(
            &s.doses_path(),
            &json!({"batch_id": s.batch, "amount": 15, "unit": "g", "confirm_unusual_amount": true}),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::CREATED);
    let repeat = repeat_form(
        &s.dana
            .get(&format!("{form_path}/new"))
            .await
            .text()
            .await
            .unwrap(),
    );
    let fields: Vec<(String, String)> = ["batch_id", "amount", "unit", "idempotency_key"]
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                hidden(&repeat, name).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(fields[1].1, "15");
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let again = post_form(&s.dana, &form_path, &fields).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.text().await.unwrap().contains("Is 15 g right?"));
    assert_eq!(s.current_doses().await.len(), 4);
}

/// The "Same as last time?" form of the dose page.
fn repeat_form(html: &str) -> String {
    let start = html.find("Same as last time?").expect("a repeat offer");
    let end = start + html[start..].find("</form>").expect("the repeat form");
    html[start..end].to_owned()
}

/// The value of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let at = html.find(&marker)? + marker.len();
    Some(html[at..at + html[at..].find('"')?].to_owned())
}

async fn the_import_page_lists_unusual_rows_to_tick(app: TestApp) {
    let s = setup(&app).await;
    s.usual_doses().await;
    let zone = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let when = (Timestamp::now() - SignedDuration::from_hours(60))
        .to_zoned_datetime(zone)
        .strftime("%Y-%m-%d,%H:%M")
        .to_string();
    let csv = format!(
        "date,time,product,amount,unit\n{when},Characterized leaf,10,g\n{when},Characterized leaf,\"2,5\",g\n"
    );
    let path = format!("/patients/{}/doses/import", s.patient);
    let preview = post_form(&s.casey, &path, &[("csv", &csv), ("action", "preview")]).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let html = preview.text().await.unwrap();
    assert!(html.contains("Rows with an unusual amount"), "{html}");
    assert!(html.contains(r#"name="confirm_line" value="2""#), "{html}");
    assert!(html.contains("<td>195</td><td>39</td>"), "{html}");
    let committed = post_form(
        &s.casey,
        &path,
        &[("csv", &csv), ("action", "commit"), ("confirm_line", "2")],
    )
    .await;
    assert_eq!(committed.status(), StatusCode::OK);
    let amounts: Vec<f64> = s
        .current_doses()
        .await
        .iter()
        .map(|d| d["amount"].as_f64().unwrap())
        .collect();
    assert!(
        amounts.contains(&10.0) && amounts.contains(&2.5),
        "{amounts:?}"
    );
}

async fn the_openapi_document_describes_text_amounts_and_the_confirmation(app: TestApp) {
    let s = setup(&app).await;
    let document = s.casey.get_json("/api/v1/openapi.json").await;
    let request = &document["components"]["schemas"]["DoseRequest"]["properties"];
    let kinds: Vec<&str> = request["amount"]["oneOf"]
        .as_array()
        .expect("amount is a number or a string")
        .iter()
        .filter_map(|s| s["type"].as_str())
        .collect();
    assert_eq!(kinds, ["number", "string"], "{}", request["amount"]);
    assert_eq!(request["confirm_unusual_amount"]["type"], "boolean");
    assert!(
        request["confirm_unusual_amount"]["description"]
            .as_str()
            .unwrap()
            .contains("3 times")
    );
    let import = &document["components"]["schemas"]["ImportRequest"]["properties"];
    assert_eq!(import["confirm_unusual_lines"]["type"], "array");
}
