//! The demo clinic: an admin, two clinicians, a researcher and five patients with
//! several weeks of history, seeded once so `speciosa serve --demo` shows a
//! working clinic. Every name and detail is invented.

use jiff::{SignedDuration, Timestamp};
use speciosa_core::account::{DisplayName, Email, NewPassword, Role};
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use speciosa_core::patient::{PatientDetails, PatientFields};
use speciosa_store::{NewUser, Store, StoreError, User};

use crate::passwords::hash_password;

pub const ORGANIZATION: &str = "Riverside Recovery Clinic (demo)";
/// Shared by every demo account; printed at start-up. Demo data only.
pub const PASSWORD: &str = "kratom-demo-2026";

/// A demo sign-in to print.
#[derive(Clone, Debug)]
pub struct DemoLogin {
    pub role: Role,
    pub email: &'static str,
    pub display_name: &'static str,
}

const STAFF: [DemoLogin; 4] = [
    DemoLogin {
        role: Role::Admin,
        email: "admin@demo.speciosa.test",
        display_name: "Morgan Ellis",
    },
    DemoLogin {
        role: Role::Clinician,
        email: "amara.okafor@demo.speciosa.test",
        display_name: "Dr Amara Okafor",
    },
    DemoLogin {
        role: Role::Clinician,
        email: "jonas.lindqvist@demo.speciosa.test",
        display_name: "Dr Jonas Lindqvist",
    },
    DemoLogin {
        role: Role::Researcher,
        email: "researcher@demo.speciosa.test",
        display_name: "Riley Chen",
    },
];

struct DemoPatient {
    email: &'static str,
    name: &'static str,
    birth_date: &'static str,
    sex: &'static str,
    time_zone: &'static str,
    bedtime: &'static str,
    jurisdiction: &'static str,
    pregnancy: &'static str,
    consent_date: Option<&'static str>,
    medications: &'static [&'static str],
    /// Which clinicians (indexes into STAFF) are on the care team; the first registered them.
    care_team: &'static [usize],
    registered_days_ago: i64,
}

const PATIENTS: [DemoPatient; 5] = [
    DemoPatient {
        email: "dana.reyes@demo.speciosa.test",
        name: "Dana Reyes",
        birth_date: "1988-04-12",
        sex: "female",
        time_zone: "America/Chicago",
        bedtime: "22:30",
        jurisdiction: "US-TX",
        pregnancy: "not_pregnant",
        consent_date: Some("2026-10-05"),
        medications: &["sertraline 50 mg daily"],
        care_team: &[1],
        registered_days_ago: 42,
    },
    DemoPatient {
        email: "sam.whitfield@demo.speciosa.test",
        name: "Sam Whitfield",
        birth_date: "1975-09-30",
        sex: "male",
        time_zone: "America/New_York",
        bedtime: "23:00",
        jurisdiction: "US-NC",
        pregnancy: "not_applicable",
        consent_date: None,
        medications: &["lisinopril 10 mg daily", "trazodone 50 mg at night"],
        care_team: &[1, 2],
        registered_days_ago: 35,
    },
    DemoPatient {
        email: "priya.natarajan@demo.speciosa.test",
        name: "Priya Natarajan",
        birth_date: "1992-01-18",
        sex: "female",
        time_zone: "Europe/London",
        bedtime: "22:00",
        jurisdiction: "GB",
        pregnancy: "pregnant",
        consent_date: None,
        medications: &["folic acid 400 µg daily"],
        care_team: &[2],
        registered_days_ago: 28,
    },
    DemoPatient {
        email: "leo.marchetti@demo.speciosa.test",
        name: "Leo Marchetti",
        birth_date: "1983-06-02",
        sex: "male",
        time_zone: "America/Denver",
        bedtime: "00:30",
        jurisdiction: "US-CO",
        pregnancy: "not_applicable",
        consent_date: Some("2026-09-20"),
        medications: &[],
        care_team: &[1],
        registered_days_ago: 21,
    },
    DemoPatient {
        email: "june.abernathy@demo.speciosa.test",
        name: "June Abernathy",
        birth_date: "1969-11-11",
        sex: "female",
        time_zone: "America/Los_Angeles",
        bedtime: "21:45",
        jurisdiction: "US-CA",
        pregnancy: "not_applicable",
        consent_date: Some("2026-10-28"),
        medications: &["gabapentin 300 mg three times daily"],
        care_team: &[2, 1],
        registered_days_ago: 14,
    },
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("demo data is invalid: {0}")]
    Invalid(String),
}

/// Every demo sign-in, staff first.
pub fn logins() -> Vec<DemoLogin> {
    let patients = PATIENTS.iter().map(|p| DemoLogin {
        role: Role::Patient,
        email: p.email,
        display_name: p.name,
    });
    STAFF.iter().cloned().chain(patients).collect()
}

fn invalid(error: impl std::fmt::Display) -> DemoError {
    DemoError::Invalid(error.to_string())
}

fn seed_entry(
    actor: &User,
    action: &str,
    resource: &str,
    patient: Option<PatientId>,
) -> AuditEntry {
    AuditEntry {
        actor_user_id: Some(actor.id),
        actor_role: Some(actor.role),
        organization_id: Some(actor.organization_id),
        action: action.to_owned(),
        resource_type: resource.to_owned(),
        resource_id: patient.map(|p| p.to_string()),
        patient_id: patient,
        outcome: Outcome::Success,
        client_addr: Some("demo-seed".to_owned()),
        detail: Some("demo data".to_owned()),
    }
}

/// Seeds the demo clinic unless it already exists. Returns whether it seeded.
pub async fn seed(store: &Store) -> Result<bool, DemoError> {
    if store
        .find_organization_by_name(ORGANIZATION)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let organization = store.create_organization(ORGANIZATION).await?;
    let password = NewPassword::parse(PASSWORD).map_err(invalid)?;
    let password_hash = hash_password(&password).map_err(invalid)?;
    let new_user = |email: &str, name: &str, role: Role| -> Result<NewUser, DemoError> {
        Ok(NewUser {
            organization_id: organization.id,
            email: Email::parse(email).map_err(invalid)?,
            display_name: DisplayName::parse(name).map_err(invalid)?,
            role,
            password_hash: password_hash.clone(),
        })
    };

    let mut staff: Vec<User> = Vec::new();
    for login in &STAFF {
        let created = store
            .create_user(
                new_user(login.email, login.display_name, login.role)?,
                |u| {
                    let creator = staff.first().unwrap_or(u);
                    seed_entry(creator, "user.create", "user", None)
                },
            )
            .await?;
        staff.push(created);
    }

    for patient in &PATIENTS {
        seed_patient(
            store,
            organization.id,
            &staff,
            patient,
            new_user(patient.email, patient.name, Role::Patient)?,
        )
        .await?;
    }
    Ok(true)
}

async fn seed_patient(
    store: &Store,
    organization: OrganizationId,
    staff: &[User],
    demo: &DemoPatient,
    login: NewUser,
) -> Result<(), DemoError> {
    let medications: Vec<String> = demo.medications.iter().map(|m| (*m).to_owned()).collect();
    let fields = PatientFields {
        display_name: demo.name,
        birth_date: demo.birth_date,
        time_zone: demo.time_zone,
        sex_at_birth: Some(demo.sex),
        usual_bedtime: Some(demo.bedtime),
        jurisdiction: Some(demo.jurisdiction),
        pregnancy_status: Some(demo.pregnancy),
        research_consent: demo.consent_date.is_some(),
        research_consent_date: demo.consent_date,
        concomitant_medications: &medications,
    };
    let details = PatientDetails::parse(&fields, jiff::civil::date(2100, 1, 1)).map_err(invalid)?;
    let registrar = &staff[demo.care_team[0]];
    let registered_at =
        Timestamp::now() - SignedDuration::from_hours(24 * demo.registered_days_ago);
    let patient = store
        .create_patient(organization, &details, registrar.id, registered_at, |id| {
            seed_entry(registrar, "patient.create", "patient", Some(id))
        })
        .await?;
    if demo.care_team.len() > 1 {
        let team: Vec<UserId> = demo.care_team.iter().map(|&i| staff[i].id).collect();
        store
            .replace_care_team(
                patient.id,
                organization,
                &team,
                registrar.id,
                seed_entry(registrar, "care_team.update", "care_team", Some(patient.id)),
            )
            .await?;
    }
    store
        .create_patient_login(
            patient.id,
            login,
            seed_entry(registrar, "patient.login.create", "user", Some(patient.id)),
        )
        .await?;
    Ok(())
}
