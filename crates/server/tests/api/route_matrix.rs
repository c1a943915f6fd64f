//! The page-route matrix: every route of the pages router, called as each kind of
//! visitor, answers as `speciosa_core::policy` says; a route added to the router without
//! an entry here fails the test. (The API's own matrix is `authorization.rs`.)

use std::collections::BTreeSet;

use reqwest::StatusCode;
use speciosa_core::account::Role;
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use speciosa_core::policy::{
    self, Actor, Decision, OrganizationAction, PatientAction, PatientScope,
};

use crate::helpers::{Client, TestApp, location, on_both_backends, post_form};

on_both_backends!(every_page_route_refuses_whom_the_policy_refuses);

/// What a route is about, which decides who must be refused.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// Open to anyone, signed in or not.
    Public,
    /// Any signed-in visitor (their own account, the start pages).
    SignedIn,
    /// One patient's record: refused to whoever may not read it.
    Patient,
    /// An organization duty.
    Organization(OrganizationAction),
}

const PAGES: &[(&str, &str, Scope)] = {
    use OrganizationAction as O;
    use Scope::*;
    &[
        ("GET", "/", Public),
        ("GET", "/login", Public),
        ("POST", "/login", Public),
        ("POST", "/login/two-factor", Public),
        ("POST", "/logout", SignedIn),
        ("GET", "/patients", Organization(O::ListPatients)),
        ("POST", "/patients", Organization(O::CreatePatient)),
        ("GET", "/patients/new", Organization(O::CreatePatient)),
        ("GET", "/patients/{id}", Patient),
        ("GET", "/patients/{id}/edit", Patient),
        ("POST", "/patients/{id}/edit", Patient),
        ("POST", "/patients/{id}/care-team", Patient),
        ("POST", "/patients/{id}/account", Patient),
        ("POST", "/patients/{id}/medications", Patient),
        (
            "POST",
            "/patients/{id}/medications/{medication_id}",
            Patient,
        ),
        (
            "POST",
            "/patients/{id}/medications/{medication_id}/remove",
            Patient,
        ),
        ("GET", "/patients/{id}/doses", Patient),
        ("POST", "/patients/{id}/doses", Patient),
        ("GET", "/patients/{id}/doses/new", Patient),
        ("GET", "/patients/{id}/doses/import", Patient),
        ("POST", "/patients/{id}/doses/import", Patient),
        ("GET", "/patients/{id}/doses/{dose_id}/edit", Patient),
        ("POST", "/patients/{id}/doses/{dose_id}/edit", Patient),
        ("POST", "/patients/{id}/doses/{dose_id}/delete", Patient),
        ("GET", "/patients/{id}/checkin", Patient),
        ("POST", "/patients/{id}/checkin", Patient),
        ("GET", "/patients/{id}/urgent", Patient),
        ("GET", "/patients/{id}/timeline", Patient),
        ("GET", "/patients/{id}/audit", Patient),
        ("POST", "/patients/{id}/schedule", Patient),
        ("GET", "/patients/{id}/assessments", Patient),
        ("POST", "/patients/{id}/assessments", Patient),
        ("GET", "/patients/{id}/assessments/new", Patient),
        ("GET", "/patients/{id}/cows", Patient),
        ("POST", "/patients/{id}/cows", Patient),
        ("GET", "/products", Organization(O::ReadCatalog)),
        ("POST", "/products", SignedIn),
        ("GET", "/products/{id}", Organization(O::ReadCatalog)),
        ("POST", "/products/{id}", Organization(O::ManageCatalog)),
        (
            "POST",
            "/products/{id}/batches",
            Organization(O::ManageCatalog),
        ),
        ("GET", "/batches/{id}", Organization(O::ManageCatalog)),
        ("POST", "/batches/{id}", Organization(O::ManageCatalog)),
        ("GET", "/home", SignedIn),
        ("GET", "/roster", SignedIn),
        ("GET", "/alerts", Organization(O::ReviewAlerts)),
        ("GET", "/alerts/{id}", Organization(O::ReviewAlerts)),
        (
            "POST",
            "/alerts/{id}/acknowledge",
            Organization(O::ReviewAlerts),
        ),
        (
            "POST",
            "/alerts/{id}/resolve",
            Organization(O::ReviewAlerts),
        ),
        ("GET", "/admin/users", Organization(O::ManageUsers)),
        ("POST", "/admin/users", Organization(O::ManageUsers)),
        (
            "POST",
            "/admin/users/{id}/active",
            Organization(O::ManageUsers),
        ),
        (
            "POST",
            "/admin/users/{id}/password",
            Organization(O::ManageUsers),
        ),
        (
            "POST",
            "/admin/organization/two-factor",
            Organization(O::ManageUsers),
        ),
        ("GET", "/admin/audit", Organization(O::ReadAuditLog)),
        (
            "GET",
            "/admin/organization",
            Organization(O::ConfigureOrganization),
        ),
        (
            "POST",
            "/admin/organization",
            Organization(O::ConfigureOrganization),
        ),
        ("GET", "/account", SignedIn),
        ("POST", "/account/password", SignedIn),
        ("GET", "/account/two-factor", SignedIn),
        ("POST", "/account/two-factor", SignedIn),
        ("POST", "/account/two-factor/disable", SignedIn),
        ("GET", "/static/app.css", Public),
        ("GET", "/static/cows.js", Public),
        ("GET", "/problems/{slug}", Public),
    ]
};

/// The routes the pages router declares, read from its source: every `.route("path",
/// method(…).method(…))`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/pages/mod.rs");
    let mut routes = BTreeSet::new();
    for chunk in source.split(".route(").skip(1) {
        let Some(start) = chunk.find('"') else {
            continue;
        };
        let rest = &chunk[start + 1..];
        let Some(end) = rest.find('"') else { continue };
        let path = &rest[..end];
        // The handlers run to the closing parenthesis of `.route(`.
        let mut depth = 1;
        let mut handlers = String::new();
        for c in rest[end + 1..].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break;
            }
            handlers.push(c);
        }
        for (method, call) in [
            ("GET", "get("),
            ("POST", "post("),
            ("PUT", "put("),
            ("PATCH", "patch("),
            ("DELETE", "delete("),
        ] {
            let called = handlers.match_indices(call).any(|(i, _)| {
                i == 0 || !handlers[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if called {
                routes.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    routes
}

/// Who calls, and the actor the policy sees.
struct Visitor {
    name: &'static str,
    client: Client,
    actor: Option<Actor>,
}

fn actor_of(client: &Client, own_patient: Option<&str>) -> Actor {
    Actor {
        user_id: client.user["id"]
            .as_str()
            .expect("user id")
            .parse::<UserId>()
            .expect("user id"),
        organization_id: client.user["organization_id"]
            .as_str()
            .expect("organization id")
            .parse::<OrganizationId>()
            .expect("organization id"),
        role: client.user["role"]
            .as_str()
            .expect("role")
            .parse::<Role>()
            .expect("role"),
        own_patient_id: own_patient.map(|p| p.parse::<PatientId>().expect("patient id")),
    }
}

/// Whether the policy refuses `actor` this route about `patient`.
fn refused(actor: &Actor, scope: Scope, patient: &PatientScope) -> bool {
    match scope {
        Scope::Public | Scope::SignedIn => false,
        Scope::Patient => {
            policy::authorize_patient(actor, PatientAction::Read, patient) != Decision::Allow
        }
        Scope::Organization(action) => {
            policy::authorize_organization(actor, action, actor.organization_id) != Decision::Allow
        }
    }
}

fn is_refusal(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_REQUEST
            | StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
    )
}

async fn every_page_route_refuses_whom_the_policy_refuses(app: TestApp) {
    let listed: BTreeSet<(String, String)> = PAGES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        declared_routes(),
        listed,
        "the page router and this matrix disagree: give every page route a scope here"
    );

    let north = app.clinic("Northside").await;
    let clinician = app.staff(&north, "clinician", "Casey Doe").await;
    let colleague = app.staff(&north, "clinician", "Robin Roe").await;
    let researcher = app.staff(&north, "researcher", "Rae Search").await;
    let (own_id, own_patient) = app.patient_with_login(&clinician, "Dana Reyes").await;
    let (other_id, other_patient) = app.patient_with_login(&colleague, "Sam Whitfield").await;
    let south = app.clinic("Southside").await;
    let patient_scope = PatientScope {
        patient_id: own_id.parse().expect("patient id"),
        organization_id: actor_of(&clinician, None).organization_id,
        actor_on_care_team: false,
    };
    let visitors = [
        Visitor {
            name: "anonymous",
            client: app.anonymous(),
            actor: None,
        },
        Visitor {
            name: "the patient themself",
            actor: Some(actor_of(&own_patient, Some(&own_id))),
            client: own_patient,
        },
        Visitor {
            name: "another patient",
            actor: Some(actor_of(&other_patient, Some(&other_id))),
            client: other_patient,
        },
        Visitor {
            name: "a clinician on the care team",
            actor: Some(actor_of(&clinician, None)),
            client: clinician,
        },
        Visitor {
            name: "a clinician off the care team",
            actor: Some(actor_of(&colleague, None)),
            client: colleague,
        },
        Visitor {
            name: "a researcher",
            actor: Some(actor_of(&researcher, None)),
            client: researcher,
        },
        Visitor {
            name: "the organization's admin",
            actor: Some(actor_of(&north.admin, None)),
            client: north.admin,
        },
        Visitor {
            name: "another organization's admin",
            actor: Some(actor_of(&south.admin, None)),
            client: south.admin,
        },
    ];
    let unknown = "0190a0a0-0000-7000-8000-000000000000";
    let mut breaches = Vec::new();
    let mut checked = 0;
    for (method, path, scope) in PAGES {
        let address = path
            .replace(
                "{id}",
                if path.starts_with("/patients") {
                    &own_id
                } else {
                    unknown
                },
            )
            .replace("{medication_id}", unknown)
            .replace("{dose_id}", unknown)
            .replace("{slug}", "validation");
        for visitor in &visitors {
            let on_team = visitor.name == "a clinician on the care team";
            let scope_for = PatientScope {
                actor_on_care_team: on_team,
                ..patient_scope
            };
            let must_refuse = match (&visitor.actor, scope) {
                (_, Scope::Public) => false,
                (None, _) => true,
                (Some(actor), scope) => refused(actor, *scope, &scope_for),
            };
            if !must_refuse {
                continue;
            }
            let response = match *method {
                "GET" => visitor.client.get(&address).await,
                _ => post_form(&visitor.client, &address, &[]).await,
            };
            let status = response.status();
            checked += 1;
            let answered_as_policy = match &visitor.actor {
                None => {
                    status == StatusCode::SEE_OTHER && location(&response).starts_with("/login")
                }
                Some(_) => is_refusal(status),
            };
            if !answered_as_policy {
                breaches.push(format!("{method} {path} as {}: {status}", visitor.name));
            }
        }
    }
    // Every visitor but the care team's clinician is refused something.
    assert!(checked > 200, "only {checked} refusals were checked");
    assert!(
        breaches.is_empty(),
        "routes that did not refuse whom the policy refuses:\n{}",
        breaches.join("\n")
    );
}
