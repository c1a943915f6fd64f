//! The authorization matrix: every API operation × every role × (own patient,
//! another patient in the same clinic, a patient in another clinic).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Client, PASSWORD, TestApp, create_patient, on_both_backends};

on_both_backends!(every_operation_answers_every_role_as_the_policy_says);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Needs only a session.
    AnySignedIn,
    /// The caller's own account, for staff only (two-factor sign-in).
    Staff,
    /// An organization duty of one role.
    Organization(&'static [&'static str]),
    /// About one patient; writes are not open to the patient themself.
    PatientRead,
    PatientWrite,
    /// About one user of the organization (admins only).
    OrgUser,
    /// One product or batch of the catalogue: read by clinicians and patients, managed by clinicians.
    CatalogRead,
    CatalogManage,
    /// Logging, correcting or deleting a patient's doses: the care team and the patient themself.
    PatientDose,
    /// The patient's audit trail with its detail: only clinicians on the care team
    /// (not the patient themself, nor admins).
    CareTeamRead,
    /// Acknowledging or resolving a patient's alert: only clinicians on the care team;
    /// every other role is refused whoever the alert concerns.
    AlertReview,
    /// One message of the organization's delivery log (admins only).
    OrgNotification,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Own,
    SameClinic,
    OtherClinic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Allowed,
    Unauthenticated,
    Forbidden,
    NotFound,
}

pub(crate) struct Operation {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    scope: Scope,
}

pub(crate) fn operations() -> Vec<Operation> {
    use Scope::*;
    let op = |method: Method, path, scope| Operation {
        method,
        path,
        scope,
    };
    vec![
        op(Method::GET, "/api/v1/session", AnySignedIn),
        op(Method::DELETE, "/api/v1/session", AnySignedIn),
        op(Method::PUT, "/api/v1/account/password", AnySignedIn),
        // Before enrolment starts there is nothing to confirm (409, counted as allowed),
        // so confirming is listed first and never turns two-factor sign-in on here.
        op(Method::POST, "/api/v1/account/totp/activate", Staff),
        op(Method::POST, "/api/v1/account/totp", Staff),
        op(Method::DELETE, "/api/v1/account/totp", Staff),
        op(Method::GET, "/api/v1/push/vapid-public-key", AnySignedIn),
        // Each browser subscription saved here is removed by the DELETE after it.
        op(
            Method::POST,
            "/api/v1/account/push-subscriptions",
            AnySignedIn,
        ),
        op(
            Method::DELETE,
            "/api/v1/account/push-subscriptions",
            AnySignedIn,
        ),
        op(Method::POST, "/api/v1/account/calendar-feed", AnySignedIn),
        op(Method::DELETE, "/api/v1/account/calendar-feed", AnySignedIn),
        op(
            Method::GET,
            "/api/v1/organization",
            Organization(&["admin"]),
        ),
        op(
            Method::PATCH,
            "/api/v1/organization",
            Organization(&["admin"]),
        ),
        op(Method::POST, "/api/v1/users", Organization(&["admin"])),
        op(Method::GET, "/api/v1/users", Organization(&["admin"])),
        op(Method::GET, "/api/v1/users/{id}", OrgUser),
        op(Method::PATCH, "/api/v1/users/{id}", OrgUser),
        op(Method::PUT, "/api/v1/users/{id}/password", OrgUser),
        op(
            Method::GET,
            "/api/v1/clinicians",
            Organization(&["clinician"]),
        ),
        op(
            Method::POST,
            "/api/v1/patients",
            Organization(&["clinician"]),
        ),
        op(
            Method::GET,
            "/api/v1/patients",
            Organization(&["clinician", "patient"]),
        ),
        op(Method::GET, "/api/v1/patients/{id}", PatientRead),
        op(Method::PUT, "/api/v1/patients/{id}", PatientWrite),
        op(Method::GET, "/api/v1/patients/{id}/care-team", PatientRead),
        op(Method::PUT, "/api/v1/patients/{id}/care-team", PatientWrite),
        op(Method::POST, "/api/v1/patients/{id}/account", PatientWrite),
        op(
            Method::GET,
            "/api/v1/audit-events",
            Organization(&["admin"]),
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/audit-events",
            CareTeamRead,
        ),
        op(
            Method::POST,
            "/api/v1/products",
            Organization(&["clinician", "patient"]),
        ),
        op(
            Method::GET,
            "/api/v1/products",
            Organization(&["clinician", "patient"]),
        ),
        op(Method::GET, "/api/v1/products/{id}", CatalogRead),
        op(Method::PUT, "/api/v1/products/{id}", CatalogManage),
        op(Method::POST, "/api/v1/products/{id}/batches", CatalogManage),
        op(Method::GET, "/api/v1/batches/{id}", CatalogRead),
        op(Method::PUT, "/api/v1/batches/{id}", CatalogManage),
        op(Method::PATCH, "/api/v1/batches/{id}", CatalogManage),
        op(Method::POST, "/api/v1/patients/{id}/doses", PatientDose),
        op(Method::GET, "/api/v1/patients/{id}/doses", PatientRead),
        op(
            Method::PUT,
            "/api/v1/patients/{id}/doses/{dose_id}",
            PatientDose,
        ),
        op(
            Method::DELETE,
            "/api/v1/patients/{id}/doses/{dose_id}",
            PatientDose,
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/exposure/daily",
            PatientRead,
        ),
        op(
            Method::POST,
            "/api/v1/patients/{id}/doses/import",
            PatientDose,
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/product-safety",
            PatientRead,
        ),
        op(Method::GET, "/api/v1/instruments", AnySignedIn),
        op(Method::GET, "/api/v1/legal-status", AnySignedIn),
        op(Method::GET, "/api/v1/instruments/{code}", AnySignedIn),
        op(
            Method::POST,
            "/api/v1/patients/{id}/assessments",
            PatientDose,
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/assessments",
            PatientRead,
        ),
        op(Method::GET, "/api/v1/patients/{id}/alerts", PatientRead),
        op(Method::GET, "/api/v1/patients/{id}/schedule", PatientRead),
        op(
            Method::GET,
            "/api/v1/patients/{id}/exposure/predicted",
            PatientRead,
        ),
        op(
            Method::PUT,
            "/api/v1/instruments/{code}/bands",
            Organization(&["clinician"]),
        ),
        op(Method::PUT, "/api/v1/patients/{id}/schedule", PatientWrite),
        op(
            Method::GET,
            "/api/v1/patients/{id}/sleep/nights",
            PatientRead,
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/sleep/bedtime-effect",
            PatientRead,
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/sleep/window",
            PatientRead,
        ),
        // Proposing and approving a sleep window are the care team's (a patient gets 403).
        op(
            Method::GET,
            "/api/v1/patients/{id}/sleep/window/proposal",
            PatientWrite,
        ),
        op(
            Method::POST,
            "/api/v1/patients/{id}/sleep/window",
            PatientWrite,
        ),
        op(
            Method::GET,
            "/api/v1/organization/sleep-window-settings",
            Organization(&["clinician"]),
        ),
        op(
            Method::PUT,
            "/api/v1/organization/sleep-window-settings",
            Organization(&["clinician"]),
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/assessments/{assessment_id}/fhir",
            PatientRead,
        ),
        op(Method::GET, "/api/v1/alerts", Organization(&["clinician"])),
        op(Method::GET, "/api/v1/alerts/{id}", PatientRead),
        op(Method::POST, "/api/v1/alerts/{id}/acknowledge", AlertReview),
        op(Method::POST, "/api/v1/alerts/{id}/resolve", AlertReview),
        op(Method::GET, "/api/v1/alerts/{id}/paging", PatientRead),
        op(
            Method::GET,
            "/api/v1/account/notification-preferences",
            AnySignedIn,
        ),
        op(
            Method::PUT,
            "/api/v1/account/notification-preferences",
            AnySignedIn,
        ),
        op(
            Method::GET,
            "/api/v1/organization/on-call",
            Organization(&["admin"]),
        ),
        op(
            Method::PUT,
            "/api/v1/organization/on-call",
            Organization(&["admin"]),
        ),
        op(
            Method::GET,
            "/api/v1/organization/webhook",
            Organization(&["admin"]),
        ),
        op(
            Method::PUT,
            "/api/v1/organization/webhook",
            Organization(&["admin"]),
        ),
        op(
            Method::DELETE,
            "/api/v1/organization/webhook",
            Organization(&["admin"]),
        ),
        op(
            Method::GET,
            "/api/v1/notifications",
            Organization(&["admin"]),
        ),
        op(
            Method::POST,
            "/api/v1/notifications/{id}/retry",
            OrgNotification,
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/medications",
            PatientRead,
        ),
        op(
            Method::POST,
            "/api/v1/patients/{id}/medications",
            PatientWrite,
        ),
        op(
            Method::PUT,
            "/api/v1/patients/{id}/medications/{medication_id}",
            PatientWrite,
        ),
        op(
            Method::DELETE,
            "/api/v1/patients/{id}/medications/{medication_id}",
            PatientWrite,
        ),
        op(Method::GET, "/api/v1/patients/{id}/plans", PatientRead),
        op(Method::POST, "/api/v1/patients/{id}/plans", PatientWrite),
        op(
            Method::POST,
            "/api/v1/patients/{id}/plans/preview",
            PatientWrite,
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/plans/current",
            PatientRead,
        ),
        op(
            Method::GET,
            "/api/v1/patients/{id}/plans/adherence",
            PatientRead,
        ),
        // The plan ids below are each patient's signed plan: a change answers 409 (allowed).
        op(Method::GET, "/api/v1/plans/{id}", PatientRead),
        op(Method::PATCH, "/api/v1/plans/{id}", PatientWrite),
        op(Method::DELETE, "/api/v1/plans/{id}", PatientWrite),
        op(Method::POST, "/api/v1/plans/{id}/sign", PatientWrite),
        op(Method::POST, "/api/v1/plans/{id}/adjustments", PatientWrite),
        op(Method::GET, "/api/v1/plans/{id}/report", PatientRead),
        op(
            Method::GET,
            "/api/v1/patients/{id}/appointments",
            PatientRead,
        ),
        op(
            Method::POST,
            "/api/v1/patients/{id}/appointments",
            PatientWrite,
        ),
        // Each patient's own appointment; cancelling one already cancelled answers 204 too.
        op(Method::DELETE, "/api/v1/appointments/{id}", PatientWrite),
        op(Method::GET, "/api/v1/patients/{id}/monitoring", PatientRead),
        op(
            Method::POST,
            "/api/v1/patients/{id}/lab-results",
            PatientWrite,
        ),
        op(Method::POST, "/api/v1/patients/{id}/ecgs", PatientWrite),
        op(
            Method::POST,
            "/api/v1/patients/{id}/opioid-use",
            PatientWrite,
        ),
        // The patient says where their own naloxone is and reports their own overdoses.
        op(Method::PUT, "/api/v1/patients/{id}/naloxone", PatientDose),
        // Read after the write above, so every allowed caller finds a record.
        op(Method::GET, "/api/v1/patients/{id}/naloxone", PatientRead),
        op(Method::POST, "/api/v1/patients/{id}/overdoses", PatientDose),
    ]
}

/// A small taper any clinician may save for a patient.
pub(crate) fn plan_body() -> Value {
    json!({
        "kind": "taper",
        "generator": {"kind": "percent_of_original", "start_mg": 60, "percent": 25,
                      "interval_days": 7, "start_date": "2026-11-02"},
        "per_dose_max_mg": 60, "per_day_max_mg": 60, "rationale": "Agreed at the visit",
    })
}

/// A signed plan for `patient`, saved and signed by `clinician` (on its care team).
pub(crate) async fn signed_plan(clinician: &Client, patient: &str) -> String {
    let plan = json_id(
        clinician
            .post(&format!("/api/v1/patients/{patient}/plans"), &plan_body())
            .await,
    )
    .await;
    let signed = clinician
        .post(
            &format!("/api/v1/plans/{plan}/sign"),
            &json!({"password": PASSWORD, "statement": "I approve this plan."}),
        )
        .await;
    assert!(
        signed.status().is_success(),
        "signing failed: {}",
        signed.status()
    );
    plan
}

/// A browser's push keys (RFC 8291 Appendix A's user agent).
pub(crate) const PUSH_P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
pub(crate) const PUSH_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
/// A visit a week from now, as any care-team clinician may schedule it.
pub(crate) fn appointment_body() -> Value {
    let starts_at = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(7 * 24);
    json!({"kind": "visit", "starts_at": starts_at.to_string(), "duration_minutes": 30})
}

/// Signing in needs no session; it is tested on its own.
pub(crate) const PUBLIC: [(&str, &str); 1] = [("POST", "/api/v1/session")];

fn expected(role: Option<&str>, scope: Scope, target: Target) -> Expect {
    use Expect::*;
    let Some(role) = role else {
        return Unauthenticated;
    };
    match scope {
        Scope::AnySignedIn => Allowed,
        Scope::Staff if role == "patient" => Forbidden,
        Scope::Staff => Allowed,
        Scope::Organization(roles) => {
            if roles.contains(&role) {
                Allowed
            } else {
                Forbidden
            }
        }
        Scope::OrgUser | Scope::OrgNotification => match (role, target) {
            ("admin", Target::OtherClinic) => NotFound,
            ("admin", _) => Allowed,
            _ => Forbidden,
        },
        Scope::CatalogRead | Scope::CatalogManage => {
            let may = match scope {
                Scope::CatalogRead => ["clinician", "patient"].contains(&role),
                _ => role == "clinician",
            };
            match (may, target) {
                (false, _) => Forbidden,
                (true, Target::OtherClinic) => NotFound,
                (true, _) => Allowed,
            }
        }
        Scope::AlertReview => match (role, target) {
            ("clinician", Target::Own) => Allowed,
            ("clinician", Target::OtherClinic) => NotFound,
            _ => Forbidden,
        },
        Scope::PatientRead | Scope::PatientWrite | Scope::PatientDose | Scope::CareTeamRead => {
            match (role, target) {
                (_, Target::OtherClinic) => NotFound,
                ("clinician", Target::Own) => Allowed,
                ("patient", Target::Own)
                    if matches!(scope, Scope::PatientRead | Scope::PatientDose) =>
                {
                    Allowed
                }
                ("patient", Target::SameClinic) => NotFound,
                _ => Forbidden,
            }
        }
    }
}

fn classify(status: StatusCode) -> Expect {
    match status {
        StatusCode::UNAUTHORIZED => Expect::Unauthenticated,
        StatusCode::FORBIDDEN => Expect::Forbidden,
        StatusCode::NOT_FOUND => Expect::NotFound,
        // 409: authorized, but the patient already has a login.
        s if s.is_success() || s == StatusCode::CONFLICT => Expect::Allowed,
        other => panic!("unexpected status {other}"),
    }
}

fn patient_body(name: &str) -> Value {
    json!({"display_name": name, "birth_date": "1985-03-14", "time_zone": "America/Chicago"})
}

async fn every_operation_answers_every_role_as_the_policy_says(app: TestApp) {
    // The matrix must name every operation the API describes.
    let spec = app.anonymous().get_json("/api/v1/openapi.json").await;
    let described: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let covered: BTreeSet<(String, String)> = operations()
        .iter()
        .map(|op| (op.method.to_string(), op.path.to_owned()))
        .chain(
            PUBLIC
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
        )
        .collect();
    assert_eq!(
        described, covered,
        "the matrix and the OpenAPI description disagree"
    );

    let north = app.clinic("Northside").await;
    let clinician = app.staff(&north, "clinician", "Casey Doe").await;
    let colleague = app.staff(&north, "clinician", "Robin Roe").await;
    app.staff(&north, "researcher", "Rae Search").await;
    let (own_patient, _) = app.patient_with_login(&clinician, "Dana Reyes").await;
    let same_clinic_patient = create_patient(&colleague, "Sam Whitfield").await;
    let south = app.clinic("Southside").await;
    let foreign_clinician = app.staff(&south, "clinician", "Fran Foreign").await;
    let foreign_patient = create_patient(&foreign_clinician, "Pat Elsewhere").await;
    // Catalogue items in each clinic, and a dose for each patient.
    let create = |client: &Client, path: String, body: Value| {
        let client = client.clone();
        async move { json_id(client.post(&path, &body).await).await }
    };
    let leaf = |name: &str| json!({"name": name, "form": "leaf_powder"});
    let own_product = create(&clinician, "/api/v1/products".into(), leaf("Leaf")).await;
    let own_batch = create(
        &clinician,
        format!("/api/v1/products/{own_product}/batches"),
        json!({"lot": "A1"}),
    )
    .await;
    let same_clinic_product =
        create(&colleague, "/api/v1/products".into(), leaf("Other leaf")).await;
    let same_clinic_batch = create(
        &colleague,
        format!("/api/v1/products/{same_clinic_product}/batches"),
        json!({"lot": "B1"}),
    )
    .await;
    let foreign_product = create(
        &foreign_clinician,
        "/api/v1/products".into(),
        leaf("Far leaf"),
    )
    .await;
    let foreign_batch = create(
        &foreign_clinician,
        format!("/api/v1/products/{foreign_product}/batches"),
        json!({"lot": "C1"}),
    )
    .await;
    let dose = |batch: &String| json!({"batch_id": batch, "amount": 2.0, "unit": "g"});
    let own_dose = create(
        &clinician,
        format!("/api/v1/patients/{own_patient}/doses"),
        dose(&own_batch),
    )
    .await;
    let same_clinic_dose = create(
        &colleague,
        format!("/api/v1/patients/{same_clinic_patient}/doses"),
        dose(&same_clinic_batch),
    )
    .await;
    let foreign_dose = create(
        &foreign_clinician,
        format!("/api/v1/patients/{foreign_patient}/doses"),
        dose(&foreign_batch),
    )
    .await;

    let craving = json!({"instrument": "craving", "answers": {"1": 2}});
    let own_assessment = create(
        &clinician,
        format!("/api/v1/patients/{own_patient}/assessments"),
        craving.clone(),
    )
    .await;
    let same_clinic_assessment = create(
        &colleague,
        format!("/api/v1/patients/{same_clinic_patient}/assessments"),
        craving.clone(),
    )
    .await;
    let foreign_assessment = create(
        &foreign_clinician,
        format!("/api/v1/patients/{foreign_patient}/assessments"),
        craving.clone(),
    )
    .await;

    // A PHQ-9 with item 9 answered opens an alert for each patient.
    let mut phq9 = serde_json::Map::new();
    for item in 1..=9 {
        phq9.insert(item.to_string(), json!(if item == 9 { 1 } else { 0 }));
    }
    let phq9 = json!({"instrument": "phq9", "answers": phq9});
    let mut alert_ids = Vec::new();
    for (client, patient) in [
        (&clinician, &own_patient),
        (&colleague, &same_clinic_patient),
        (&foreign_clinician, &foreign_patient),
    ] {
        let body: Value = client
            .post(&format!("/api/v1/patients/{patient}/assessments"), &phq9)
            .await
            .json()
            .await
            .unwrap();
        alert_ids.push(
            body["alerts"][0]["id"]
                .as_str()
                .expect("an alert")
                .to_owned(),
        );
    }
    let [own_alert, same_clinic_alert, foreign_alert] = <[String; 3]>::try_from(alert_ids).unwrap();
    // Urgent alerts page their care teams: one message each in the delivery logs.
    let message_about = |alert: String| {
        let store = app.store.clone();
        async move {
            store.notifications_about("alert", &alert).await.unwrap()[0]
                .id
                .to_string()
        }
    };
    let own_message = message_about(own_alert.clone()).await;
    let foreign_message = message_about(foreign_alert.clone()).await;
    let gabapentin = json!({"name": "Gabapentin", "class": "gabapentinoid"});
    let own_medication = create(
        &clinician,
        format!("/api/v1/patients/{own_patient}/medications"),
        gabapentin.clone(),
    )
    .await;
    let same_clinic_medication = create(
        &colleague,
        format!("/api/v1/patients/{same_clinic_patient}/medications"),
        gabapentin.clone(),
    )
    .await;
    let foreign_medication = create(
        &foreign_clinician,
        format!("/api/v1/patients/{foreign_patient}/medications"),
        gabapentin.clone(),
    )
    .await;

    let own_plan = signed_plan(&clinician, &own_patient).await;
    let same_clinic_plan = signed_plan(&colleague, &same_clinic_patient).await;
    let foreign_plan = signed_plan(&foreign_clinician, &foreign_patient).await;

    let own_appointment = create(
        &clinician,
        format!("/api/v1/patients/{own_patient}/appointments"),
        appointment_body(),
    )
    .await;
    let same_clinic_appointment = create(
        &colleague,
        format!("/api/v1/patients/{same_clinic_patient}/appointments"),
        appointment_body(),
    )
    .await;
    let foreign_appointment = create(
        &foreign_clinician,
        format!("/api/v1/patients/{foreign_patient}/appointments"),
        appointment_body(),
    )
    .await;

    let patient_email = clinician
        .get_json(&format!("/api/v1/patients/{own_patient}"))
        .await["login_email"]
        .as_str()
        .unwrap()
        .to_owned();

    let logins: [(Option<&str>, Option<String>); 5] = [
        (None, None),
        (Some("admin"), Some("admin@northside.test".to_owned())),
        (
            Some("clinician"),
            Some("casey.doe@northside.test".to_owned()),
        ),
        (Some("patient"), Some(patient_email)),
        (
            Some("researcher"),
            Some("rae.search@northside.test".to_owned()),
        ),
    ];
    let mut failures = Vec::new();
    let mut checks = 0;
    for (role, email) in &logins {
        for op in operations() {
            for target in [Target::Own, Target::SameClinic, Target::OtherClinic] {
                // Each request gets a fresh session, so signing out cannot spoil the next.
                let client: Client = match email {
                    Some(email) => app.sign_in(email, PASSWORD).await,
                    None => app.anonymous(),
                };
                let pick = |own: &String, same: &String, foreign: &String| match target {
                    Target::Own => own.clone(),
                    Target::SameClinic => same.clone(),
                    Target::OtherClinic => foreign.clone(),
                };
                let id = match (op.scope, target) {
                    (Scope::OrgUser, Target::OtherClinic) => foreign_clinician.id(),
                    (Scope::OrgUser, _) => colleague.id(),
                    (Scope::OrgNotification, Target::OtherClinic) => foreign_message.clone(),
                    (Scope::OrgNotification, _) => own_message.clone(),
                    (Scope::CatalogRead | Scope::CatalogManage, _)
                        if op.path.starts_with("/api/v1/batches") =>
                    {
                        pick(&own_batch, &same_clinic_batch, &foreign_batch)
                    }
                    (Scope::CatalogRead | Scope::CatalogManage, _) => {
                        pick(&own_product, &same_clinic_product, &foreign_product)
                    }
                    _ if op.path.starts_with("/api/v1/alerts/") => {
                        pick(&own_alert, &same_clinic_alert, &foreign_alert)
                    }
                    _ if op.path.starts_with("/api/v1/plans/") => {
                        pick(&own_plan, &same_clinic_plan, &foreign_plan)
                    }
                    _ if op.path.starts_with("/api/v1/appointments/") => pick(
                        &own_appointment,
                        &same_clinic_appointment,
                        &foreign_appointment,
                    ),
                    (_, Target::Own) => own_patient.clone(),
                    (_, Target::SameClinic) => same_clinic_patient.clone(),
                    (_, Target::OtherClinic) => foreign_patient.clone(),
                };
                let dose_id = pick(&own_dose, &same_clinic_dose, &foreign_dose);
                let path = op
                    .path
                    .replace("{id}", &id)
                    .replace("{dose_id}", &dose_id)
                    .replace(
                        "{medication_id}",
                        &pick(
                            &own_medication,
                            &same_clinic_medication,
                            &foreign_medication,
                        ),
                    )
                    .replace(
                        "{assessment_id}",
                        &pick(
                            &own_assessment,
                            &same_clinic_assessment,
                            &foreign_assessment,
                        ),
                    )
                    .replace(
                        "{code}",
                        if op.path.ends_with("/bands") {
                            "sows"
                        } else {
                            "phq9"
                        },
                    );
                let path = if op.path == "/api/v1/legal-status" {
                    format!("{path}?jurisdiction=US-AL")
                } else {
                    path
                };
                // One browser per role and target, so each DELETE finds its own.
                let push_endpoint = format!(
                    "https://push.example/{}/{target:?}",
                    role.unwrap_or("anonymous")
                );
                let body = match (op.method.as_str(), op.path) {
                    // The same password again, so every later sign-in still works.
                    ("PUT", "/api/v1/account/password") => {
                        json!({"current_password": PASSWORD, "new_password": PASSWORD})
                    }
                    ("POST", "/api/v1/account/totp/activate") => json!({"code": "000000"}),
                    ("POST", "/api/v1/account/totp") => json!({}),
                    ("DELETE", "/api/v1/account/totp") => json!({"password": PASSWORD}),
                    ("POST", "/api/v1/account/push-subscriptions") => json!({
                        "endpoint": push_endpoint,
                        "keys": {"p256dh": PUSH_P256DH, "auth": PUSH_AUTH},
                    }),
                    ("DELETE", "/api/v1/account/push-subscriptions") => {
                        json!({"endpoint": push_endpoint})
                    }
                    ("POST", "/api/v1/account/calendar-feed") => Value::Null,
                    ("POST", "/api/v1/patients/{id}/appointments") => appointment_body(),
                    ("POST", "/api/v1/patients/{id}/lab-results") => json!({
                        "loinc": "1742-6", "value": 30, "unit": "U/L",
                        "observed_at": "2026-11-30T08:00:00Z",
                    }),
                    ("POST", "/api/v1/patients/{id}/ecgs") => {
                        json!({"qtc_ms": 420, "recorded_at": "2026-11-30T08:00:00Z"})
                    }
                    ("POST", "/api/v1/patients/{id}/opioid-use") => json!({
                        "used_on": "2026-11-29", "substance": "heroin", "source": "patient_report",
                    }),
                    ("PUT", "/api/v1/patients/{id}/naloxone") => json!({"on_hand": true}),
                    ("POST", "/api/v1/patients/{id}/overdoses") => json!({
                        "occurred_at": "2026-11-30T08:00:00Z", "substances": ["unknown"],
                        "naloxone_used": false,
                    }),
                    // Left off, so nobody is sent to enrol mid-matrix.
                    ("PATCH", "/api/v1/organization") => json!({"require_staff_totp": false}),
                    ("PUT", "/api/v1/users/{id}/password") => {
                        json!({"temporary_password": PASSWORD})
                    }
                    ("POST", "/api/v1/users") => {
                        json!({"email": format!("new{checks}@northside.test"), "password": PASSWORD, "role": "researcher", "display_name": "New"})
                    }
                    ("PATCH", "/api/v1/batches/{id}") => json!({"recalled": false}),
                    ("PATCH", "/api/v1/plans/{id}") => json!({"rationale": "Revised"}),
                    ("POST", "/api/v1/patients/{id}/plans")
                    | ("POST", "/api/v1/patients/{id}/plans/preview") => plan_body(),
                    ("POST", "/api/v1/plans/{id}/adjustments") => {
                        json!({"kind": "hold", "on": "2026-11-10", "days": 7})
                    }
                    ("POST", "/api/v1/plans/{id}/sign") => {
                        json!({"password": PASSWORD, "statement": "I approve this plan."})
                    }
                    ("PATCH", _) => json!({"active": true}),
                    ("PUT", "/api/v1/account/notification-preferences") => {
                        json!({"channels": ["email"]})
                    }
                    ("PUT", "/api/v1/organization/on-call") => json!({"user_ids": []}),
                    ("PUT", "/api/v1/organization/webhook") => {
                        json!({"url": "https://pager.example/hooks/speciosa"})
                    }
                    ("POST", "/api/v1/notifications/{id}/retry") => json!({}),
                    ("POST", "/api/v1/patients") => patient_body("Newly Registered"),
                    ("PUT", "/api/v1/patients/{id}") => patient_body("Renamed Patient"),
                    ("POST", "/api/v1/products") => leaf(&format!("Product {checks}")),
                    ("PUT", "/api/v1/products/{id}") => leaf("Renamed product"),
                    ("POST", "/api/v1/products/{id}/batches") => {
                        json!({"lot": format!("LOT-{checks}")})
                    }
                    ("PUT", "/api/v1/batches/{id}") => json!({"lot": format!("RELOT-{checks}")}),
                    ("POST", "/api/v1/patients/{id}/doses") => dose(&own_batch),
                    ("PUT", "/api/v1/instruments/{code}/bands") => {
                        json!({"bands": [{"code": "all", "label": "All", "min": 0, "max": 64}]})
                    }
                    ("POST", "/api/v1/patients/{id}/sleep/window") => {
                        json!({"time_in_bed_min": 360, "rise_time": "07:00"})
                    }
                    ("PUT", "/api/v1/organization/sleep-window-settings") => json!({
                        "floor_min": 300, "extend_at_pct": 90, "shrink_below_pct": 85,
                        "step_min": 15, "goal_min": 480
                    }),
                    ("PUT", "/api/v1/patients/{id}/schedule") => {
                        json!({"frequencies": {"sows": "daily"}})
                    }
                    ("POST", "/api/v1/patients/{id}/assessments") => {
                        json!({"instrument": "craving", "answers": {"1": 3}})
                    }
                    ("POST", "/api/v1/patients/{id}/doses/import") => {
                        json!({"csv": "date,time,product,amount,unit\n2026-11-01,08:00,Leaf,2,g\n"})
                    }
                    ("PUT", "/api/v1/patients/{id}/doses/{dose_id}") => {
                        json!({"reason": "typo", "dose": dose(&own_batch)})
                    }
                    ("DELETE", "/api/v1/patients/{id}/doses/{dose_id}") => {
                        json!({"reason": "entered twice"})
                    }
                    ("POST", "/api/v1/alerts/{id}/acknowledge") => {
                        json!({"comment": "Called the patient"})
                    }
                    ("POST", "/api/v1/alerts/{id}/resolve") => {
                        json!({"comment": "Safety plan agreed"})
                    }
                    ("POST", "/api/v1/patients/{id}/medications")
                    | ("PUT", "/api/v1/patients/{id}/medications/{medication_id}") => {
                        gabapentin.clone()
                    }
                    ("DELETE", "/api/v1/patients/{id}/medications/{medication_id}") => {
                        json!({"reason": "entered for the wrong patient"})
                    }
                    ("PUT", _) => json!({"clinician_ids": [clinician.id()]}),
                    ("POST", _) => {
                        json!({"email": format!("login{checks}@patients.test"), "password": PASSWORD})
                    }
                    _ => Value::Null,
                };
                let body = (!body.is_null()).then_some(&body);
                let status = client.send(op.method.clone(), &path, body).await.status();
                let want = expected(*role, op.scope, target);
                if classify(status) != want {
                    failures.push(format!(
                        "{role:?} {} {} ({target:?}): got {status}, want {want:?}",
                        op.method, op.path
                    ));
                }
                checks += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn json_id(response: reqwest::Response) -> String {
    assert!(
        response.status().is_success(),
        "setup request failed: {}",
        response.status()
    );
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("an id").to_owned()
}
