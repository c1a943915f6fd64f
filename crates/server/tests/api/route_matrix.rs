//! Every route the router serves, API and pages, is named in an authorization matrix:
//! the API's operations in `authorization.rs`, the pages and the service routes here. The
//! routes are read from the router's own source and each method is probed on the running
//! server, so a route added without a matrix entry fails this test. Every page is then
//! requested as each role, about their own patient, another patient of the clinic and a
//! patient of another clinic, and the answer is checked against the policy.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::authorization::{PUBLIC, operations};
use crate::helpers::{
    Client, PASSWORD, TestApp, create_patient, location, on_both_backends, post_form,
};

on_both_backends!(
    every_route_the_router_serves_is_in_an_authorization_matrix,
    every_page_answers_every_role_as_the_policy_says,
);

/// Who may see a page (`speciosa_core::policy`, as the pages apply it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageScope {
    /// Anyone, signed in or not (sign-in, static files, problem descriptions, probes).
    Public,
    /// Any signed-in user.
    SignedIn,
    /// Staff only (two-factor enrolment).
    Staff,
    /// One organization role's duty.
    Role(&'static [&'static str]),
    /// About one patient, readable by the care team and the patient themself.
    PatientRead,
    /// About one patient, for the care team only.
    CareTeam,
    /// Logging or correcting a patient's doses: the care team and the patient themself.
    PatientDose,
    /// One catalogue item: read by clinicians and patients of its clinic.
    CatalogRead,
    /// Editing a catalogue item: clinicians of its clinic.
    CatalogManage,
    /// One alert: clinicians on its patient's care team.
    AlertReview,
    /// What only the patient themself fills in (the daily check-in); other roles are refused
    /// whatever the patient.
    PatientSelf,
    /// Clinician-rated, for the care team; other roles are refused whatever the patient.
    ClinicianCareTeam,
    /// The patient's home; staff are sent to their own start page.
    PatientHome,
    /// A secret address (a calendar feed): no session needed, and an address that names
    /// no current secret answers 404 to everyone.
    SecretAddress,
}

struct Page {
    method: Method,
    path: &'static str,
    scope: PageScope,
}

/// The pages and the service routes outside `/api/v1`. Forms (POST) are listed with the
/// scope of the use case they call; their role checks are the API matrix's, since pages
/// and API call the same use cases. Here they are checked to refuse an anonymous caller.
fn pages() -> Vec<Page> {
    use PageScope::*;
    let page = |method: Method, path, scope| Page {
        method,
        path,
        scope,
    };
    let (get, post) = (Method::GET, Method::POST);
    vec![
        page(get.clone(), "/", SignedIn),
        page(get.clone(), "/login", Public),
        page(post.clone(), "/login", Public),
        page(post.clone(), "/login/two-factor", Public),
        page(post.clone(), "/logout", SignedIn),
        page(get.clone(), "/patients", Role(&["clinician"])),
        page(post.clone(), "/patients", Role(&["clinician"])),
        page(get.clone(), "/patients/new", Role(&["clinician"])),
        page(get.clone(), "/patients/{id}", PatientRead),
        page(get.clone(), "/patients/{id}/edit", CareTeam),
        page(post.clone(), "/patients/{id}/edit", CareTeam),
        page(post.clone(), "/patients/{id}/care-team", CareTeam),
        page(post.clone(), "/patients/{id}/account", CareTeam),
        page(post.clone(), "/patients/{id}/medications", CareTeam),
        page(
            post.clone(),
            "/patients/{id}/medications/{medication_id}",
            CareTeam,
        ),
        page(
            post.clone(),
            "/patients/{id}/medications/{medication_id}/remove",
            CareTeam,
        ),
        page(post.clone(), "/patients/{id}/appointments", CareTeam),
        page(get.clone(), "/patients/{id}/monitoring", PatientRead),
        page(
            post.clone(),
            "/patients/{id}/monitoring/naloxone",
            PatientDose,
        ),
        page(
            post.clone(),
            "/patients/{id}/monitoring/overdoses",
            PatientDose,
        ),
        page(
            post.clone(),
            "/patients/{id}/monitoring/opioid-use",
            CareTeam,
        ),
        page(post.clone(), "/patients/{id}/monitoring/labs", CareTeam),
        page(post.clone(), "/patients/{id}/monitoring/ecgs", CareTeam),
        page(
            post.clone(),
            "/appointments/{appointment_id}/cancel",
            CareTeam,
        ),
        page(get.clone(), "/patients/{id}/sleep", PatientRead),
        page(post.clone(), "/patients/{id}/sleep/window", CareTeam),
        page(get.clone(), "/patients/{id}/doses", PatientRead),
        page(post.clone(), "/patients/{id}/doses", PatientDose),
        page(get.clone(), "/patients/{id}/doses/new", PatientDose),
        page(get.clone(), "/patients/{id}/doses/import", PatientDose),
        page(post.clone(), "/patients/{id}/doses/import", PatientDose),
        page(
            get.clone(),
            "/patients/{id}/doses/{dose_id}/edit",
            PatientDose,
        ),
        page(
            post.clone(),
            "/patients/{id}/doses/{dose_id}/edit",
            PatientDose,
        ),
        page(
            post.clone(),
            "/patients/{id}/doses/{dose_id}/delete",
            PatientDose,
        ),
        page(get.clone(), "/patients/{id}/checkin", PatientSelf),
        page(post.clone(), "/patients/{id}/checkin", PatientSelf),
        page(get.clone(), "/patients/{id}/urgent", PatientRead),
        page(get.clone(), "/patients/{id}/timeline", PatientRead),
        page(get.clone(), "/patients/{id}/audit", CareTeam),
        page(post.clone(), "/patients/{id}/schedule", CareTeam),
        page(get.clone(), "/patients/{id}/assessments", PatientRead),
        page(post.clone(), "/patients/{id}/assessments", PatientDose),
        page(get.clone(), "/patients/{id}/assessments/new", PatientDose),
        page(get.clone(), "/patients/{id}/cows", ClinicianCareTeam),
        page(post.clone(), "/patients/{id}/cows", ClinicianCareTeam),
        page(get.clone(), "/patients/{id}/plans", PatientRead),
        page(post.clone(), "/patients/{id}/plans", CareTeam),
        page(get.clone(), "/patients/{id}/plans/new", CareTeam),
        page(get.clone(), "/plans/{plan_id}", PatientRead),
        page(post.clone(), "/plans/{plan_id}", CareTeam),
        // A signed version's edit address leads to a new version drawn from it.
        page(get.clone(), "/plans/{plan_id}/edit", CareTeam),
        page(post.clone(), "/plans/{plan_id}/discard", CareTeam),
        page(post.clone(), "/plans/{plan_id}/sign", CareTeam),
        page(post.clone(), "/plans/{plan_id}/adjustments", CareTeam),
        page(get.clone(), "/plans/{plan_id}/diff", PatientRead),
        page(get.clone(), "/products", Role(&["clinician", "patient"])),
        page(post.clone(), "/products", Role(&["clinician", "patient"])),
        page(get.clone(), "/products/{product_id}", CatalogRead),
        page(post.clone(), "/products/{product_id}", CatalogManage),
        page(
            post.clone(),
            "/products/{product_id}/batches",
            CatalogManage,
        ),
        page(get.clone(), "/batches/{batch_id}", CatalogManage),
        page(post.clone(), "/batches/{batch_id}", CatalogManage),
        page(get.clone(), "/home", PatientHome),
        page(get.clone(), "/roster", Role(&["clinician"])),
        page(get.clone(), "/alerts", Role(&["clinician"])),
        page(get.clone(), "/alerts/{alert_id}", AlertReview),
        page(post.clone(), "/alerts/{alert_id}/acknowledge", AlertReview),
        page(post.clone(), "/alerts/{alert_id}/resolve", AlertReview),
        page(get.clone(), "/admin/users", Role(&["admin"])),
        page(post.clone(), "/admin/users", Role(&["admin"])),
        page(
            post.clone(),
            "/admin/users/{user_id}/active",
            Role(&["admin"]),
        ),
        page(
            post.clone(),
            "/admin/users/{user_id}/password",
            Role(&["admin"]),
        ),
        page(
            post.clone(),
            "/admin/organization/two-factor",
            Role(&["admin"]),
        ),
        page(get.clone(), "/admin/audit", Role(&["admin"])),
        page(get.clone(), "/admin/notifications", Role(&["admin"])),
        page(post.clone(), "/admin/notifications/retry", Role(&["admin"])),
        page(post.clone(), "/admin/on-call", Role(&["admin"])),
        page(post.clone(), "/admin/webhook", Role(&["admin"])),
        page(post.clone(), "/admin/webhook/delete", Role(&["admin"])),
        page(get.clone(), "/account/notifications", SignedIn),
        page(post.clone(), "/account/notifications", SignedIn),
        page(get.clone(), "/admin/organization", Role(&["admin"])),
        page(get.clone(), "/admin/knowledge", Role(&["admin"])),
        page(post.clone(), "/admin/knowledge/lexicon", Role(&["admin"])),
        page(
            post.clone(),
            "/admin/knowledge/interactions",
            Role(&["admin"]),
        ),
        page(post.clone(), "/admin/knowledge/legal", Role(&["admin"])),
        page(post.clone(), "/admin/knowledge/revert", Role(&["admin"])),
        page(post.clone(), "/admin/organization", Role(&["admin"])),
        page(get.clone(), "/account", SignedIn),
        page(post.clone(), "/account/password", SignedIn),
        page(get.clone(), "/account/two-factor", Staff),
        page(post.clone(), "/account/two-factor", Staff),
        page(post.clone(), "/account/two-factor/disable", Staff),
        page(post.clone(), "/account/calendar-feed", SignedIn),
        page(post.clone(), "/account/calendar-feed/revoke", SignedIn),
        page(get.clone(), "/calendar/{file}", SecretAddress),
        page(get.clone(), "/static/app.css", Public),
        page(get.clone(), "/static/cows.js", Public),
        page(get.clone(), "/static/push.js", Public),
        page(get.clone(), "/static/offline.js", Public),
        page(get.clone(), "/static/icons/{name}", Public),
        page(get.clone(), "/manifest.webmanifest", Public),
        page(get.clone(), "/sw.js", Public),
        page(get.clone(), "/offline", Public),
        page(get.clone(), "/problems/{slug}", Public),
        page(get.clone(), "/healthz", Public),
        page(get.clone(), "/readyz", Public),
        // Loopback only, or a bearer token (tested in metrics.rs); the test client is on loopback.
        page(get.clone(), "/metrics", Public),
        page(get, "/api/v1/openapi.json", Public),
    ]
}

/// The paths the router is built from, read from its source (outside its tests).
fn router_paths() -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let sources = [
        ("/api/v1", include_str!("../../src/api/mod.rs")),
        ("", include_str!("../../src/pages/mod.rs")),
        ("", include_str!("../../src/app.rs")),
    ];
    for (prefix, source) in sources {
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + ".route(".len()..].trim_start();
            let Some(literal) = rest.strip_prefix('"') else {
                continue;
            };
            let end = literal.find('"').expect("a closing quote");
            paths.insert(format!("{prefix}{}", &literal[..end]));
        }
    }
    paths
}

fn sample(path: &str) -> String {
    let nil = "00000000-0000-0000-0000-000000000000";
    let mut out = String::new();
    for part in path.split('/').skip(1) {
        out.push('/');
        match part {
            "{code}" => out.push_str("phq9"),
            "{slug}" => out.push_str("validation"),
            "{name}" => out.push_str("icon-192.png"),
            p if p.starts_with('{') => out.push_str(nil),
            p => out.push_str(p),
        }
    }
    if out.is_empty() { "/".into() } else { out }
}

async fn every_route_the_router_serves_is_in_an_authorization_matrix(app: TestApp) {
    let anonymous = app.anonymous();
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let mut served = BTreeSet::new();
    let paths = router_paths();
    assert!(
        paths.len() > 80,
        "the router's routes were not found: {paths:?}"
    );
    for path in &paths {
        for method in &methods {
            let status = anonymous
                .send(method.clone(), &sample(path), None)
                .await
                .status();
            if status != StatusCode::METHOD_NOT_ALLOWED {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = operations()
        .iter()
        .map(|op| (op.method.to_string(), op.path.to_owned()))
        .chain(
            PUBLIC
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
        )
        .chain(
            pages()
                .iter()
                .map(|p| (p.method.to_string(), normalise(p.path))),
        )
        .collect();
    let unlisted: Vec<_> = served.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "routes served without an entry in the authorization matrix: {unlisted:?}"
    );
    let stale: Vec<_> = listed.difference(&served).collect();
    assert!(
        stale.is_empty(),
        "matrix entries the router does not serve: {stale:?}"
    );
}

/// The matrix names ids for what they are; the router names them as it likes.
fn normalise(path: &str) -> String {
    path.replace("{product_id}", "{id}")
        .replace("{batch_id}", "{id}")
        .replace("{alert_id}", "{id}")
        .replace("{user_id}", "{id}")
        .replace("{plan_id}", "{id}")
        .replace("{appointment_id}", "{id}")
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
    /// Sent to sign in.
    SignIn,
    /// Sent elsewhere (a start page, the patient's own page): nothing of the target shown.
    Redirected,
    Forbidden,
    NotFound,
    Other,
}

fn expected(role: Option<&str>, scope: PageScope, target: Target) -> Expect {
    use Expect::*;
    if scope == PageScope::Public {
        return Allowed;
    }
    if scope == PageScope::SecretAddress {
        return NotFound;
    }
    let Some(role) = role else {
        return SignIn;
    };
    let care_team_or = |patient_may: bool| match (role, target) {
        (_, Target::OtherClinic) => NotFound,
        ("clinician", Target::Own) => Allowed,
        ("patient", Target::Own) if patient_may => Allowed,
        ("patient", Target::SameClinic) => NotFound,
        _ => Forbidden,
    };
    match scope {
        PageScope::Public | PageScope::SignedIn => Allowed,
        PageScope::Staff if role == "patient" => Forbidden,
        PageScope::Staff => Allowed,
        PageScope::Role(roles) if roles.contains(&role) => Allowed,
        PageScope::Role(_) => Forbidden,
        PageScope::PatientRead | PageScope::PatientDose => care_team_or(true),
        PageScope::CareTeam => care_team_or(false),
        PageScope::CatalogRead | PageScope::CatalogManage => {
            let may = match scope {
                PageScope::CatalogRead => ["clinician", "patient"].contains(&role),
                _ => role == "clinician",
            };
            match (may, target) {
                (false, _) => Forbidden,
                (true, Target::OtherClinic) => NotFound,
                (true, _) => Allowed,
            }
        }
        PageScope::AlertReview => match (role, target) {
            ("clinician", Target::Own) => Allowed,
            ("clinician", Target::OtherClinic) => NotFound,
            _ => Forbidden,
        },
        PageScope::PatientSelf => match (role, target) {
            ("patient", Target::Own) => Allowed,
            ("patient", _) => NotFound,
            _ => Forbidden,
        },
        PageScope::ClinicianCareTeam => match (role, target) {
            ("clinician", Target::Own) => Allowed,
            ("clinician", Target::SameClinic) => Forbidden,
            ("clinician", Target::OtherClinic) => NotFound,
            _ => Forbidden,
        },
        PageScope::PatientHome if role == "patient" => Allowed,
        PageScope::PatientHome => Redirected,
        PageScope::SecretAddress => NotFound,
    }
}

/// Whether `got` answers as `want` requires. A redirect elsewhere (a signed-in visitor sent
/// from the sign-in page to their start page, a patient from their record to their home)
/// shows nothing of the target: it agrees with a refusal and with access alike. What must
/// never happen is a page (2xx) where the policy refuses, or a refusal where it allows.
fn agrees(got: Expect, want: Expect) -> bool {
    got == want
        || (got == Expect::Redirected && matches!(want, Expect::Forbidden | Expect::Allowed))
}

fn classify(response: &reqwest::Response) -> Expect {
    let status = response.status();
    if status.is_redirection() {
        return if location(response).starts_with("/login") {
            Expect::SignIn
        } else {
            Expect::Redirected
        };
    }
    match status {
        StatusCode::UNAUTHORIZED => Expect::SignIn,
        StatusCode::FORBIDDEN => Expect::Forbidden,
        StatusCode::NOT_FOUND => Expect::NotFound,
        s if s.is_success() => Expect::Allowed,
        // Anything else (a form refused as invalid, say) says nothing about access.
        _ => Expect::Other,
    }
}

async fn every_page_answers_every_role_as_the_policy_says(app: TestApp) {
    let north = app.clinic("Northside").await;
    let clinician = app.staff(&north, "clinician", "Casey Doe").await;
    let colleague = app.staff(&north, "clinician", "Robin Roe").await;
    app.staff(&north, "researcher", "Rae Search").await;
    let (own_patient, patient) = app.patient_with_login(&clinician, "Dana Reyes").await;
    let same_clinic_patient = create_patient(&colleague, "Sam Whitfield").await;
    let south = app.clinic("Southside").await;
    let foreign_clinician = app.staff(&south, "clinician", "Fran Foreign").await;
    let foreign_patient = create_patient(&foreign_clinician, "Pat Elsewhere").await;

    let id_of = |response: serde_json::Value| response["id"].as_str().unwrap().to_owned();
    let mut products = Vec::new();
    let mut batches = Vec::new();
    let mut doses = Vec::new();
    let mut alerts = Vec::new();
    let mut medications = Vec::new();
    let mut plans = Vec::new();
    let mut phq9 = serde_json::Map::new();
    for item in 1..=9 {
        phq9.insert(item.to_string(), json!(if item == 9 { 1 } else { 0 }));
    }
    for (who, patient_id) in [
        (&clinician, &own_patient),
        (&colleague, &same_clinic_patient),
        (&foreign_clinician, &foreign_patient),
    ] {
        let product = id_of(
            who.post(
                "/api/v1/products",
                &json!({"name": "Leaf", "form": "leaf_powder"}),
            )
            .await
            .json()
            .await
            .unwrap(),
        );
        let batch = id_of(
            who.post(
                &format!("/api/v1/products/{product}/batches"),
                &json!({"lot": "A1"}),
            )
            .await
            .json()
            .await
            .unwrap(),
        );
        doses.push(id_of(
            who.post(
                &format!("/api/v1/patients/{patient_id}/doses"),
                &json!({"batch_id": batch, "amount": 2.0, "unit": "g"}),
            )
            .await
            .json()
            .await
            .unwrap(),
        ));
        let raised: serde_json::Value = who
            .post(
                &format!("/api/v1/patients/{patient_id}/assessments"),
                &json!({"instrument": "phq9", "answers": phq9}),
            )
            .await
            .json()
            .await
            .unwrap();
        alerts.push(raised["alerts"][0]["id"].as_str().unwrap().to_owned());
        medications.push(id_of(
            who.post(
                &format!("/api/v1/patients/{patient_id}/medications"),
                &json!({"name": "Gabapentin", "class": "gabapentinoid"}),
            )
            .await
            .json()
            .await
            .unwrap(),
        ));
        products.push(product);
        batches.push(batch);
        // Signed, so the patient themself may read it.
        plans.push(crate::plan_pages::signed_plan(who, patient_id).await);
    }
    let users = [colleague.id(), colleague.id(), foreign_clinician.id()];
    let patients = [own_patient, same_clinic_patient, foreign_patient];

    let signed_in: [(Option<&str>, Option<Client>); 5] = [
        (None, None),
        (
            Some("admin"),
            Some(app.sign_in("admin@northside.test", PASSWORD).await),
        ),
        (Some("clinician"), Some(clinician.clone())),
        (Some("patient"), Some(patient.clone())),
        (
            Some("researcher"),
            Some(app.sign_in("rae.search@northside.test", PASSWORD).await),
        ),
    ];
    let mut failures = Vec::new();
    let mut checks = 0;
    for (role, client) in &signed_in {
        for page in pages() {
            // Forms are checked against an anonymous caller only (see `pages`).
            if page.method != Method::GET && role.is_some() {
                continue;
            }
            for (index, target) in [Target::Own, Target::SameClinic, Target::OtherClinic]
                .into_iter()
                .enumerate()
            {
                let path = page
                    .path
                    .replace("{id}", &patients[index])
                    .replace("{product_id}", &products[index])
                    .replace("{batch_id}", &batches[index])
                    .replace("{dose_id}", &doses[index])
                    .replace("{alert_id}", &alerts[index])
                    .replace("{medication_id}", &medications[index])
                    .replace("{user_id}", &users[index])
                    .replace("{plan_id}", &plans[index])
                    .replace("{slug}", "validation")
                    .replace("{name}", "icon-192.png");
                let who = client.clone().unwrap_or_else(|| app.anonymous());
                let response = if page.method == Method::POST {
                    post_form(&who, &path, &[]).await
                } else {
                    who.send(page.method.clone(), &path, None).await
                };
                let got = classify(&response);
                let want = match (role, page.method.as_str(), page.scope) {
                    // An anonymous form post without a session is refused before anything else.
                    (None, "POST", PageScope::Public) => got,
                    (None, "POST", _) => {
                        if matches!(got, Expect::SignIn | Expect::Forbidden) {
                            got
                        } else {
                            Expect::SignIn
                        }
                    }
                    _ => expected(*role, page.scope, target),
                };
                if !agrees(got, want) {
                    failures.push(format!(
                        "{role:?} {} {} ({target:?}): got {} ({got:?}), want {want:?}",
                        page.method,
                        page.path,
                        response.status()
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
