//! The demo clinic: an admin, two clinicians, a researcher and five patients with
//! several weeks of history, seeded once so `speciosa serve --demo` shows a
//! working clinic. Every name and detail is invented.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use speciosa_core::account::{DisplayName, Email, NewPassword, Role};
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::dose::{DoseContext, DoseProduct, DoseUnit, Exposure, is_bedtime_dose};
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use speciosa_core::instrument::{Answer, Instruments};
use speciosa_core::medication::{MedicationEntry, MedicationFields};
use speciosa_core::patient::{PatientDetails, PatientFields};
use speciosa_core::product::{
    Alkaloids, Assay, HeavyMetals, Microbial, ProductDetails, ProductFields, ProductForm,
};
use speciosa_core::quality::QualityStandards;
use speciosa_core::safety::{self, AssessmentFact};
use speciosa_core::sleep::DiaryEntry;
use speciosa_store::{
    Batch, BatchContent, NewAssessment, NewDose, NewUser, Patient, Product, Store, StoreError, User,
};

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
    /// Name, class (as `MedicationClass` spells it) and dose, as on the medication list.
    medications: &'static [(&'static str, &'static str, &'static str)],
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
        medications: &[("Sertraline", "antidepressant", "50 mg daily")],
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
        medications: &[
            ("Lisinopril", "other", "10 mg daily"),
            ("Trazodone", "antidepressant", "50 mg at night"),
        ],
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
        medications: &[("Folic acid", "other", "400 µg daily")],
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
        medications: &[("Gabapentin", "gabapentinoid", "300 mg three times daily")],
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
pub async fn seed(app: &crate::App) -> Result<bool, DemoError> {
    let store = &app.store;
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
    // The clinic's staff pages read in its own zone, as an admin would set it.
    if let Some(admin) = staff.iter().find(|u| u.role == Role::Admin) {
        let zone =
            speciosa_core::patient::TimeZoneName::parse("America/Chicago").map_err(invalid)?;
        store
            .set_organization_time_zone(
                organization.id,
                &zone,
                seed_entry(admin, "organization.update", "organization", None),
            )
            .await?;
    }

    let mut patients = Vec::new();
    for patient in &PATIENTS {
        let login = new_user(patient.email, patient.name, Role::Patient)?;
        patients.push(seed_patient(store, organization.id, &staff, patient, login).await?);
    }
    let catalogue = seed_catalogue(store, organization.id, &staff[1]).await?;
    let standards = QualityStandards::bundled().map_err(invalid)?;
    let instruments = Instruments::bundled().map_err(invalid)?;
    for (index, (demo, patient)) in PATIENTS.iter().zip(&patients).enumerate() {
        seed_doses(store, &standards, &catalogue, demo, patient).await?;
        seed_checkins(store, &instruments, &CHECKIN_STORIES[index], demo, patient).await?;
    }
    seed_plan(store, &staff[1], &patients[0].0, &catalogue[0].1).await?;
    seed_appointments(store, &staff[1], &patients[0].0).await?;
    seed_notifications(app, &staff, &patients[0].0, &patients[0].1).await?;
    let seeded: Vec<&Patient> = patients.iter().map(|(p, _)| p).collect();
    seed_monitoring(store, &staff[1], &seeded).await?;
    Ok(true)
}

/// Naloxone for most demo patients (one has none, so the prompt shows), and a liver
/// panel and an ECG for Dana, all unremarkable.
async fn seed_monitoring(
    store: &speciosa_store::Store,
    clinician: &User,
    patients: &[&Patient],
) -> Result<(), DemoError> {
    use speciosa_core::monitoring::{
        LabTest, NaloxoneForm, NaloxoneStatus, NewEcg, NewLabResult, QtcFormula,
    };
    let now = jiff::Timestamp::now();
    let days_ago = |d: i64| now - jiff::SignedDuration::from_hours(24 * d);
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    for (index, patient) in patients.iter().enumerate() {
        let status = match index {
            1 => continue,
            4 => NaloxoneStatus {
                on_hand: false,
                form: None,
                obtained_on: None,
                expires_on: None,
                location: None,
            },
            _ => NaloxoneStatus {
                on_hand: true,
                form: Some(NaloxoneForm::NasalSpray),
                obtained_on: today.checked_sub(jiff::Span::new().days(40)).ok(),
                expires_on: today.checked_add(jiff::Span::new().days(700)).ok(),
                location: Some("Hall cupboard, top shelf".to_owned()),
            },
        };
        store
            .set_naloxone(
                patient.id,
                &status,
                clinician.id,
                seed_entry(clinician, "naloxone.update", "naloxone", Some(patient.id)),
            )
            .await?;
    }
    let dana = patients[0];
    for (test, value, unit, high) in [
        (LabTest::Alt, 28.0, "U/L", 33.0),
        (LabTest::Ast, 24.0, "U/L", 35.0),
        (LabTest::TotalBilirubin, 0.6, "mg/dL", 1.2),
    ] {
        let result = NewLabResult {
            test,
            value,
            unit: unit.to_owned(),
            reference_low: None,
            reference_high: Some(high),
            observed_at: days_ago(12),
        };
        store
            .insert_lab_result(dana.organization_id, dana.id, &result, clinician.id, |_| {
                seed_entry(clinician, "lab_result.create", "lab_result", Some(dana.id))
            })
            .await?;
    }
    let ecg = NewEcg {
        qtc_ms: 432,
        recorded_at: days_ago(26),
        heart_rate_bpm: Some(72),
        formula: Some(QtcFormula::Fridericia),
    };
    store
        .insert_ecg(dana.organization_id, dana.id, &ecg, clinician.id, |_| {
            seed_entry(clinician, "ecg.create", "ecg", Some(dana.id))
        })
        .await?;
    Ok(())
}

/// Dr Lindqvist on call; Dana reminded of her check-in at 09:00 and of her plan's dose
/// times by e-mail and on her devices, quiet from 22:00 to 07:00.
async fn seed_notifications(
    app: &crate::App,
    staff: &[User],
    patient: &Patient,
    login: &User,
) -> Result<(), DemoError> {
    use speciosa_core::notify::{Channel, NotificationPreferences, QuietHours};
    let store = &app.store;
    // The seeded check-ins are history, not live emergencies: nobody is paged about them.
    store
        .stop_all_paging(patient.organization_id, "demo history, not a live alert")
        .await?;
    if let (Some(admin), Some(on_call)) = (staff.first(), staff.get(2)) {
        store
            .set_on_call(
                admin.organization_id,
                &[on_call.id],
                seed_entry(admin, "on_call.update", "organization", None),
            )
            .await?;
    }
    let preferences = NotificationPreferences {
        channels: vec![Channel::Email, Channel::Push],
        quiet_hours: Some(QuietHours {
            start: jiff::civil::time(22, 0, 0, 0),
            end: jiff::civil::time(7, 0, 0, 0),
        }),
        check_in_reminder: Some(jiff::civil::time(9, 0, 0, 0)),
        dose_reminders: true,
        visit_reminders: true,
    };
    let rows =
        crate::notify::reminder_rows(app, Some(patient), &preferences, jiff::Timestamp::now())
            .await
            .map_err(|e| invalid(e.to_string()))?;
    store
        .set_notification_preferences(
            login.id,
            &preferences,
            &rows,
            seed_entry(
                login,
                "notification_preferences.update",
                "user",
                Some(patient.id),
            ),
        )
        .await?;
    Ok(())
}

/// Dana's visit next week and a CBT-I session this week, with Dr Okafor.
async fn seed_appointments(
    store: &Store,
    clinician: &User,
    patient: &Patient,
) -> Result<(), DemoError> {
    use speciosa_core::appointment::{AppointmentFields, NewAppointment};
    let zone = patient.details.time_zone.to_zone();
    let now = jiff::Timestamp::now();
    let today = now.to_zoned_datetime(zone.clone()).date();
    let bookings = [
        ("visit", 7, "10:00", 30, "Clinic room 2"),
        ("therapy_session", 3, "16:00", 50, "Video call (CBT-I)"),
    ];
    for (kind, days, time, minutes, place) in bookings {
        let day = today
            .checked_add(jiff::Span::new().days(days))
            .map_err(invalid)?;
        let starts_at = format!("{day}T{time}");
        let fields = AppointmentFields {
            kind,
            starts_at: &starts_at,
            duration_minutes: Some(minutes),
            location: Some(place),
        };
        let booking = NewAppointment::parse(&fields, &zone, now).map_err(invalid)?;
        store
            .insert_appointment(
                patient.organization_id,
                patient.id,
                clinician.id,
                &booking,
                clinician.id,
                |id| {
                    let mut entry = seed_entry(
                        clinician,
                        "appointment.create",
                        "appointment",
                        Some(patient.id),
                    );
                    entry.resource_id = Some(id.to_string());
                    entry
                },
            )
            .await?;
    }
    Ok(())
}

/// Dana's signed taper, two weeks in: 10 % of the starting dose a week (CDC 2022's
/// shorter-use pace, plans-and-therapy.md §1.1) in grams of the characterized leaf, with the
/// evening dose as her bedtime slot.
async fn seed_plan(
    store: &Store,
    clinician: &User,
    patient: &Patient,
    leaf: &Batch,
) -> Result<(), DemoError> {
    use speciosa_core::plan::{
        self, AssumedBatch, GeneratorInput, PlanFieldsInput, STANDARD_STATEMENT, SlotInput,
    };
    let today = Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let start = today
        .checked_sub(jiff::Span::new().days(14))
        .map_err(invalid)?;
    let mg_per_g = leaf
        .assay
        .as_ref()
        .and_then(|a| a.alkaloids.mitragynine_mg_per_g)
        .unwrap_or(19.5);
    let slot = |time: &str, share: f64, bedtime: bool| SlotInput {
        time: time.into(),
        share: Some(share),
        bedtime,
    };
    let schedule = plan::parse_schedule(
        &GeneratorInput {
            kind: "percent_of_original".into(),
            start_mg: Some(175.0),
            percent: Some(10.0),
            interval_days: Some(7),
            start_date: start.to_string(),
            ..Default::default()
        },
        Some(&[
            slot("07:30", 0.4, false),
            slot("13:00", 0.3, false),
            slot("21:00", 0.3, true),
        ]),
        Some(AssumedBatch {
            batch_id: leaf.id,
            label: format!("Yellow Indonesian leaf (characterized), lot {}", leaf.lot),
            unit: "g".into(),
            mg_per_unit: mg_per_g,
        }),
        Some(0.25),
    )
    .map_err(invalid)?;
    let content = plan::parse_content(
        &PlanFieldsInput {
            kind: "taper".into(),
            per_dose_max_mg: Some(80.0),
            per_day_max_mg: Some(185.0),
            rationale: "Dana wants to stop kratom by spring. Agreed at her visit: 10 % of the \
                        starting dose a week, the evening dose kept as her bedtime dose \
                        until the last steps; review weekly SOWS and her sleep diary."
                .into(),
            ..Default::default()
        },
        schedule,
    )
    .map_err(invalid)?;
    let draft = store
        .insert_plan_draft(
            patient.organization_id,
            patient.id,
            &content,
            clinician.id,
            |id, _| {
                let mut entry = seed_entry(clinician, "plan.create", "plan", Some(patient.id));
                entry.resource_id = Some(id.to_string());
                entry
            },
        )
        .await?;
    let digest = plan::content_digest(&draft.content_json);
    let mut entry = seed_entry(clinician, "plan.sign", "plan", Some(patient.id));
    entry.resource_id = Some(draft.id.to_string());
    entry.detail = Some(format!("version 1, sha256 {digest}"));
    store
        .sign_plan(
            speciosa_store::SignPlan {
                id: draft.id,
                by: clinician.id,
                statement: STANDARD_STATEMENT,
                content_sha256: &digest,
                start_gate_note: None,
            },
            entry,
        )
        .await?;
    Ok(())
}

async fn seed_patient(
    store: &Store,
    organization: OrganizationId,
    staff: &[User],
    demo: &DemoPatient,
    login: NewUser,
) -> Result<(Patient, User), DemoError> {
    let fields = PatientFields {
        display_name: demo.name,
        birth_date: demo.birth_date,
        time_zone: demo.time_zone,
        sex_at_birth: Some(demo.sex),
        usual_bedtime: Some(demo.bedtime),
        jurisdiction: Some(demo.jurisdiction),
        pregnancy_status: Some(demo.pregnancy),
        breastfeeding_status: None,
        research_consent: demo.consent_date.is_some(),
        research_consent_date: demo.consent_date,
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
    let knowledge = speciosa_core::medicines::MedicineKnowledge::bundled()
        .map_err(|e| DemoError::Invalid(e.to_string()))?;
    for (name, class, dose) in demo.medications {
        let entry = MedicationEntry::parse(
            &MedicationFields {
                name,
                class,
                dose_text: Some(dose),
                started_on: None,
                stopped_on: None,
            },
            jiff::civil::date(2100, 1, 1),
            &knowledge,
        )
        .map_err(invalid)?;
        store
            .insert_medication(organization, patient.id, &entry, registrar.id, |id| {
                let mut audit = seed_entry(
                    registrar,
                    "medication.create",
                    "medication",
                    Some(patient.id),
                );
                audit.resource_id = Some(id.to_string());
                audit
            })
            .await?;
    }
    let login = store
        .create_patient_login(
            patient.id,
            login,
            seed_entry(
                registrar,
                "patient.login.create",
                "patient",
                Some(patient.id),
            ),
        )
        .await?;
    Ok((patient, login))
}

/// The demo catalogue, in the order `DosePattern::product` indexes it.
struct DemoProduct {
    request: ProductFields<'static>,
    lot: &'static str,
    assay: Option<Assay>,
}

fn demo_products() -> Vec<DemoProduct> {
    let lab = Some("Demo Analytical Labs (ISO/IEC 17025)".to_owned());
    let tested_on = Some(jiff::civil::date(2026, 9, 15));
    vec![
        // Composition of Tanna 2022's characterized product K51 (pharmacology.md §1b):
        // 7-OH below its 0.124 mg/g limit of quantitation.
        DemoProduct {
            request: ProductFields {
                name: "Yellow Indonesian leaf (characterized)",
                form: "leaf_powder",
                vendor: Some("Demo Botanicals"),
                labelled_strain: Some("yellow"),
                serving_size: Some(3.0),
                teaspoon_g: Some(2.5),
                ..Default::default()
            },
            lot: "K51-2026-09",
            assay: Some(Assay {
                lab: lab.clone(),
                tested_on,
                alkaloids: Alkaloids {
                    mitragynine_mg_per_g: Some(19.5),
                    hydroxymitragynine_mg_per_g: Some(0.0),
                    speciogynine_mg_per_g: Some(3.18),
                    speciociliatine_mg_per_g: Some(5.12),
                    paynantheine_mg_per_g: Some(5.86),
                    ..Default::default()
                },
                hydroxymitragynine_loq_mg_per_g: Some(0.124),
                heavy_metals: HeavyMetals {
                    lead_ppm: Some(0.12),
                    arsenic_ppm: Some(0.2),
                    cadmium_ppm: Some(0.05),
                    mercury_ppm: Some(0.01),
                },
                microbial: Microbial {
                    salmonella_detected: Some(false),
                    e_coli_detected: Some(false),
                    total_aerobic_cfu_per_g: Some(12_000.0),
                    yeast_mold_cfu_per_g: Some(200.0),
                },
                ..Default::default()
            }),
        },
        DemoProduct {
            request: ProductFields {
                name: "Maeng Da 15x extract",
                form: "extract_powder",
                vendor: Some("Demo Extracts Co."),
                labelled_strain: Some("maeng da"),
                serving_size: Some(0.5),
                ..Default::default()
            },
            lot: "MD15-0726",
            assay: Some(Assay {
                lab: lab.clone(),
                tested_on,
                alkaloids: Alkaloids {
                    mitragynine_mg_per_g: Some(120.0),
                    hydroxymitragynine_mg_per_g: Some(1.5),
                    ..Default::default()
                },
                hydroxymitragynine_loq_mg_per_g: Some(0.05),
                heavy_metals: HeavyMetals {
                    lead_ppm: Some(0.9),
                    ..Default::default()
                },
                ..Default::default()
            }),
        },
        DemoProduct {
            request: ProductFields {
                name: "Gas-station green capsules",
                form: "capsule",
                vendor: Some("unknown"),
                labelled_strain: Some("green malay"),
                unit_mass_g: Some(0.5),
                ..Default::default()
            },
            lot: "unlabelled",
            assay: None,
        },
        DemoProduct {
            request: ProductFields {
                name: "\"7-OH Max\" tablets",
                form: "tablet",
                vendor: Some("Demo Enhanced Labs"),
                unit_mass_g: Some(0.3),
                labels_hydroxy_as_ingredient: true,
                ..Default::default()
            },
            lot: "7OH-MAX-31",
            assay: Some(Assay {
                lab,
                tested_on,
                alkaloids: Alkaloids {
                    mitragynine_mg_per_g: Some(5.0),
                    hydroxymitragynine_mg_per_g: Some(50.0),
                    mitragynine_pseudoindoxyl_mg_per_g: Some(2.0),
                    ..Default::default()
                },
                ..Default::default()
            }),
        },
    ]
}

async fn seed_catalogue(
    store: &Store,
    organization: OrganizationId,
    clinician: &User,
) -> Result<Vec<(Product, Batch)>, DemoError> {
    let mut catalogue = Vec::new();
    for demo in demo_products() {
        let details = ProductDetails::parse(&demo.request).map_err(invalid)?;
        let product = store
            .create_product(organization, &details, clinician.id, None, |id| {
                let mut entry = seed_entry(clinician, "product.create", "product", None);
                entry.resource_id = Some(id.to_string());
                entry
            })
            .await?;
        let content = BatchContent {
            lot: demo.lot.to_owned(),
            assay: demo.assay,
            recalled: false,
            recall_reason: None,
        };
        let batch = store
            .create_batch(&product, &content, clinician.id, |id| {
                let mut entry = seed_entry(clinician, "batch.create", "batch", None);
                entry.resource_id = Some(id.to_string());
                entry
            })
            .await?;
        catalogue.push((product, batch));
    }
    Ok(catalogue)
}

/// How one demo patient doses: the same local times each day, the amount drifting
/// linearly from `start` to `end` over the weeks (a taper, or an escalation).
struct DosePattern {
    product: usize,
    times: &'static [(i8, i8)],
    start: f64,
    end: f64,
    contexts: &'static [&'static str],
    /// An occasional second product: (catalogue index, every n days, amount, hour, context).
    extra: Option<(usize, i64, f64, i8, &'static str)>,
}

const DOSE_PATTERNS: [DosePattern; 5] = [
    // Dana: tapering leaf for withdrawal; the evening dose falls before bed.
    DosePattern {
        product: 0,
        times: &[(7, 30), (13, 0), (21, 0)],
        start: 3.5,
        end: 2.5,
        contexts: &["withdrawal_relief"],
        extra: None,
    },
    // Sam: unassayed capsules for back pain, an extract now and then.
    DosePattern {
        product: 2,
        times: &[(8, 0), (18, 30)],
        start: 6.0,
        end: 6.0,
        contexts: &["pain"],
        extra: Some((1, 4, 0.5, 12, "energy")),
    },
    // Priya (pregnant): tapering leaf.
    DosePattern {
        product: 0,
        times: &[(9, 0), (20, 30)],
        start: 2.0,
        end: 1.0,
        contexts: &["withdrawal_relief"],
        extra: None,
    },
    // Leo: escalating extract, and lately "enhanced" 7-OH tablets at night.
    DosePattern {
        product: 1,
        times: &[(10, 0), (16, 0)],
        start: 0.5,
        end: 0.8,
        contexts: &["mood"],
        extra: Some((3, 2, 1.0, 23, "sleep")),
    },
    // June: steady leaf for pain.
    DosePattern {
        product: 0,
        times: &[(8, 30), (14, 0), (20, 0)],
        start: 2.5,
        end: 2.5,
        contexts: &["pain"],
        extra: None,
    },
];

/// A small deterministic wobble (±0.2) so the history looks lived-in.
fn wobble(day: i64, slot: usize) -> f64 {
    let mixed = (day * 7919 + slot as i64 * 104_729).rem_euclid(5);
    (mixed as f64 - 2.0) / 10.0
}

async fn seed_doses(
    store: &Store,
    standards: &QualityStandards,
    catalogue: &[(Product, Batch)],
    demo: &DemoPatient,
    (patient, login): &(Patient, User),
) -> Result<(), DemoError> {
    let index = PATIENTS
        .iter()
        .position(|p| p.email == demo.email)
        .unwrap_or(0);
    let pattern = &DOSE_PATTERNS[index];
    let zone = patient.details.time_zone.to_zone();
    let now = Timestamp::now();
    let today = now.to_zoned_datetime(zone.clone()).date();
    let days = demo.registered_days_ago.min(28);
    let bedtime_window = SignedDuration::from_mins(120);
    for day in 0..=days {
        let Ok(date) = today.checked_sub(jiff::Span::new().days(days - day)) else {
            continue;
        };
        let progress = day as f64 / days.max(1) as f64;
        let mut planned: Vec<(usize, f64, i8, i8, Vec<String>)> = pattern
            .times
            .iter()
            .enumerate()
            .map(|(slot, &(hour, minute))| {
                let base = pattern.start + (pattern.end - pattern.start) * progress;
                let amount = if pattern.product == 2 {
                    base.round()
                } else {
                    ((base + wobble(day, slot)) * 10.0).round() / 10.0
                };
                (
                    pattern.product,
                    amount.max(0.1),
                    hour,
                    minute,
                    pattern.contexts.iter().map(|c| (*c).to_owned()).collect(),
                )
            })
            .collect();
        if let Some((product, every, amount, hour, context)) = pattern.extra {
            // Leo's tablets start in the last week; Sam's extract runs throughout.
            let started = product != 3 || day >= days - 7;
            if started && day % every == 0 {
                planned.push((product, amount, hour, 15, vec![context.to_owned()]));
            }
        }
        for (product_index, amount, mut hour, mut minute, contexts) in planned {
            // Dana takes her evening dose early every third day, so her sleep page has
            // nights without a bedtime dose to compare with.
            if index == 0 && (hour, minute) == (21, 0) && day % 3 == 1 {
                (hour, minute) = (18, 30);
            }
            let Ok(local) = date
                .to_datetime(jiff::civil::time(hour, minute, 0, 0))
                .to_zoned_datetime(zone.clone())
            else {
                continue;
            };
            let taken_at = local.timestamp();
            if taken_at > now {
                continue;
            }
            let (product, batch) = &catalogue[product_index];
            let unit = match product.details.form {
                ProductForm::Capsule => DoseUnit::Capsule,
                ProductForm::Tablet => DoseUnit::Tablet,
                _ => DoseUnit::Grams,
            };
            let dose_product = DoseProduct {
                form: product.details.form,
                unit_mass_g: product.details.unit_mass_g,
                teaspoon_g: product.details.teaspoon_g,
            };
            let material = dose_product.material(amount, unit).map_err(invalid)?;
            let exposure = Exposure::of(
                &material,
                product.details.form,
                batch.assay.as_ref(),
                standards,
            );
            let contexts = contexts
                .iter()
                .filter_map(|c| c.parse::<DoseContext>().ok())
                .collect();
            let new = NewDose {
                organization_id: patient.organization_id,
                patient_id: patient.id,
                batch_id: batch.id,
                taken_at,
                time_zone: patient.details.time_zone.as_str().to_owned(),
                amount,
                unit: unit.as_str().to_owned(),
                grams: material.grams,
                millilitres: material.millilitres,
                mitragynine_mg: exposure.mitragynine_mg,
                hydroxymitragynine_mg: exposure.hydroxymitragynine_mg,
                exposure_basis: exposure.basis,
                mitragynine_mg_low: exposure.mitragynine_mg_low,
                mitragynine_mg_high: exposure.mitragynine_mg_high,
                hydroxymitragynine_mg_low: exposure.hydroxymitragynine_mg_low,
                hydroxymitragynine_mg_high: exposure.hydroxymitragynine_mg_high,
                contexts,
                bedtime: is_bedtime_dose(
                    local.time(),
                    patient.details.usual_bedtime,
                    bedtime_window,
                ),
                note: None,
                entered_by: login.id,
                idempotency: None,
            };
            store
                .insert_dose(&new, |id| {
                    let mut entry = seed_entry(login, "dose.create", "dose", Some(patient.id));
                    entry.resource_id = Some(id.to_string());
                    entry
                })
                .await?;
        }
    }
    Ok(())
}

/// How a demo patient's check-ins move over the weeks: each pair is (first day, last day),
/// interpolated in between, so the scores tell the same story as the doses.
struct CheckInStory {
    craving: (f64, f64),
    pain: (f64, f64),
    sleep_latency_min: (f64, f64),
    phq9: (f64, f64),
    gad7: (f64, f64),
    sows: (f64, f64),
    /// Answer PHQ-9 item 9 with 1 on the last weekly PHQ-9 (raises the urgent alert).
    phq9_item9_last: bool,
}

const CHECKIN_STORIES: [CheckInStory; 5] = [
    // Dana: the taper is working; craving, withdrawal and mood improve, sleep comes faster.
    CheckInStory {
        craving: (6.0, 3.0),
        pain: (3.0, 2.0),
        sleep_latency_min: (40.0, 15.0),
        phq9: (12.0, 6.0),
        gad7: (10.0, 6.0),
        sows: (18.0, 8.0),
        phq9_item9_last: false,
    },
    // Sam: steady back pain, modest craving.
    CheckInStory {
        craving: (4.0, 4.0),
        pain: (6.0, 6.0),
        sleep_latency_min: (25.0, 25.0),
        phq9: (8.0, 8.0),
        gad7: (6.0, 5.0),
        sows: (9.0, 8.0),
        phq9_item9_last: false,
    },
    // Priya: anxious in pregnancy, slowly settling.
    CheckInStory {
        craving: (5.0, 3.0),
        pain: (2.0, 2.0),
        sleep_latency_min: (30.0, 25.0),
        phq9: (10.0, 8.0),
        gad7: (12.0, 9.0),
        sows: (12.0, 7.0),
        phq9_item9_last: false,
    },
    // Leo: escalating use; craving, poor sleep and low mood rise, and the last PHQ-9 needs follow-up.
    CheckInStory {
        craving: (3.0, 7.0),
        pain: (2.0, 3.0),
        sleep_latency_min: (20.0, 60.0),
        phq9: (7.0, 15.0),
        gad7: (6.0, 12.0),
        sows: (10.0, 22.0),
        phq9_item9_last: true,
    },
    // June: steady pain, otherwise well.
    CheckInStory {
        craving: (2.0, 2.0),
        pain: (6.0, 5.0),
        sleep_latency_min: (20.0, 20.0),
        phq9: (5.0, 4.0),
        gad7: (3.0, 3.0),
        sows: (6.0, 5.0),
        phq9_item9_last: false,
    },
];

fn toward((first, last): (f64, f64), progress: f64) -> f64 {
    (first + (last - first) * progress).round()
}

/// `n` item scores of at most `max` each that add up to `total`, spread from the first item.
fn spread(total: f64, n: usize, max: f64) -> Vec<f64> {
    let mut left = total.clamp(0.0, max * n as f64);
    (0..n)
        .map(|i| {
            let share = (left / (n - i) as f64).ceil().min(max);
            left -= share;
            share
        })
        .collect()
}

fn numbered(values: &[f64]) -> BTreeMap<String, Answer> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| ((i + 1).to_string(), Answer::Number(*v)))
        .collect()
}

async fn seed_checkins(
    store: &Store,
    instruments: &Instruments,
    story: &CheckInStory,
    demo: &DemoPatient,
    (patient, login): &(Patient, User),
) -> Result<(), DemoError> {
    let zone = patient.details.time_zone.to_zone();
    let now = Timestamp::now();
    let today = now.to_zoned_datetime(zone.clone()).date();
    let days = demo.registered_days_ago.min(28);
    let sex = Some(patient.details.sex_at_birth)
        .filter(|s| *s != speciosa_core::patient::SexAtBirth::Unknown);
    // Up to yesterday: today's check-in is left for the person trying the demo.
    let weekly_days: Vec<i64> = (0..days).filter(|d| d % 7 == 0).collect();
    for day in 0..days {
        let Ok(morning) = today.checked_sub(jiff::Span::new().days(days - day)) else {
            continue;
        };
        let Ok(local) = morning
            .to_datetime(jiff::civil::time(7, 45, 0, 0))
            .to_zoned_datetime(zone.clone())
        else {
            continue;
        };
        let completed_at = local.timestamp();
        if completed_at > now {
            continue;
        }
        let progress = day as f64 / days.max(1) as f64;
        // Dana's nights without a bedtime dose (see `seed_doses`) take longer to fall asleep.
        let undosed_night = demo.email == PATIENTS[0].email && day >= 1 && (day - 1) % 3 == 1;
        let latency = toward(story.sleep_latency_min, progress)
            + if undosed_night {
                12.0 + (day % 4) as f64
            } else {
                0.0
            };
        let diary: BTreeMap<String, Answer> = [
            ("1", Answer::Text("22:45".into())),
            ("2", Answer::Text("23:00".into())),
            ("3", Answer::Number(latency)),
            ("4", Answer::Number(if latency > 30.0 { 3.0 } else { 1.0 })),
            ("5", Answer::Number((latency / 2.0).round())),
            ("6", Answer::Text("06:45".into())),
            ("7", Answer::Text("07:05".into())),
            (
                "8",
                Answer::Number(if latency > 35.0 {
                    2.0
                } else if latency > 20.0 {
                    3.0
                } else {
                    4.0
                }),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut due = vec![
            ("sleep_diary", diary),
            ("craving", numbered(&[toward(story.craving, progress)])),
            ("pain_nrs", numbered(&[toward(story.pain, progress)])),
            ("red_flags", numbered(&[0.0, 0.0, 0.0, 0.0, 0.0])),
        ];
        if weekly_days.contains(&day) {
            let last_week = weekly_days.last() == Some(&day);
            let mut phq9 = spread(toward(story.phq9, progress), 8, 3.0);
            phq9.push(if last_week && story.phq9_item9_last {
                1.0
            } else {
                0.0
            });
            due.push(("phq9", numbered(&phq9)));
            due.push((
                "gad7",
                numbered(&spread(toward(story.gad7, progress), 7, 3.0)),
            ));
            due.push((
                "sows",
                numbered(&spread(toward(story.sows, progress), 16, 4.0)),
            ));
        }
        for (code, answers) in due {
            let instrument = instruments
                .get(code)
                .ok_or_else(|| invalid(format!("no instrument {code}")))?;
            let scored = instrument.score(&answers, sex).map_err(invalid)?;
            let metrics = match code {
                "sleep_diary" => DiaryEntry::from_answers(&answers, morning)
                    .and_then(|entry| entry.metrics(&zone).ok())
                    .and_then(|m| serde_json::to_value(m).ok()),
                _ => None,
            };
            let findings = |id| {
                let fact = AssessmentFact {
                    id,
                    instrument: code.to_owned(),
                    answers: answers.clone(),
                    total: scored.total,
                    band: scored.band.as_ref().map(|b| b.code.clone()),
                    completed_at,
                };
                safety::evaluate_submission(instrument, &fact)
                    .iter()
                    .map(crate::safety::new_alert)
                    .collect()
            };
            let new = NewAssessment {
                organization_id: patient.organization_id,
                patient_id: patient.id,
                instrument: code.to_owned(),
                answers: answers.clone(),
                total: scored.total,
                band: scored.band.as_ref().map(|b| b.code.clone()),
                metrics,
                completed_at,
                entered_by: login.id,
            };
            store
                .insert_assessment(&new, findings, |id| {
                    let mut entry =
                        seed_entry(login, "assessment.create", "assessment", Some(patient.id));
                    entry.resource_id = Some(id.to_string());
                    entry
                })
                .await?;
        }
    }
    Ok(())
}
