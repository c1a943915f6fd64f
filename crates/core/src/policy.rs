//! The one place that decides who may do what. Every handler asks [`authorize`];
//! nothing else grants access.
//!
//! The rules (DESIGN.md, "Care team"): a clinician reaches only the patients whose
//! care team they are on; a patient reaches only themself; a researcher reaches no
//! identifiable data; an admin manages users and the organization but not clinical
//! content; nobody crosses organizations.

use crate::account::Role;
use crate::ids::{OrganizationId, PatientId, UserId};

/// The signed-in person asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub role: Role,
    /// For a `patient` user, the patient record their login is linked to.
    pub own_patient_id: Option<PatientId>,
}

/// What a patient-scoped request is about, as the store found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatientScope {
    pub patient_id: PatientId,
    pub organization_id: OrganizationId,
    /// Whether the asking user is on this patient's care team.
    pub actor_on_care_team: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrganizationAction {
    /// Create, list, deactivate users of the organization.
    ManageUsers,
    /// Browse and filter the audit log.
    ReadAuditLog,
    /// Register a new patient record.
    CreatePatient,
    /// List the patients the actor may see (the store filters; this gates the role).
    ListPatients,
    /// See the organization's clinicians, to build care teams.
    ListClinicians,
    /// See the product catalogue and batch certificates (to log doses against them).
    ReadCatalog,
    /// Add and edit products and batches, record assays and recalls, review patient additions.
    ManageCatalog,
    /// Add a product "as labelled" for a clinician to review later.
    SuggestProduct,
    /// Set the organization's own bands for instruments that publish none (SOWS).
    ConfigureInstruments,
    /// See the alert inbox and roster across the clinician's patients.
    ReviewAlerts,
    /// Change the organization's own settings, such as the time zone its staff pages use.
    ConfigureOrganization,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatientAction {
    Read,
    UpdateDetails,
    ManageCareTeam,
    /// Create or replace the patient's own sign-in.
    ManageLogin,
    /// Log, correct or delete doses (patients log their own).
    RecordDose,
    /// Submit an instrument (patients answer their own; clinicians may submit any).
    SubmitAssessment,
    /// Acknowledge or resolve the patient's safety alerts.
    ReviewAlerts,
    /// Add, stop or correct entries on the medication list.
    ManageMedications,
    /// Read the patient's audit trail with its clinical detail (care team only).
    ReadAuditTrail,
    /// Draft, edit, preview and sign the patient's plan (care team clinicians only; the
    /// patient reads signed versions through `Read`).
    ManagePlans,
    /// Schedule or cancel visits and therapy sessions (care team clinicians; the patient
    /// sees theirs through `Read`).
    ManageAppointments,
    /// Record lab results, ECGs and observed non-prescribed opioid use (care team
    /// clinicians; the patient sees theirs through `Read`).
    RecordClinicalMeasures,
    /// Record an overdose (the patient reports their own; clinicians record any).
    ReportOverdose,
    /// Say whether naloxone is on hand, where and until when (the patient or a clinician).
    UpdateNaloxone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The role may never do this (HTTP 403).
    Forbidden,
    /// The resource is outside the actor's reach; its existence is not confirmed (HTTP 404).
    NotFound,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

pub fn authorize_organization(
    actor: &Actor,
    action: OrganizationAction,
    organization: OrganizationId,
) -> Decision {
    if actor.organization_id != organization {
        return Decision::NotFound;
    }
    use OrganizationAction::*;
    let allowed = match action {
        ManageUsers | ReadAuditLog | ConfigureOrganization => actor.role == Role::Admin,
        CreatePatient | ListClinicians => actor.role == Role::Clinician,
        // A patient's list holds only themself; the store applies that filter.
        ListPatients | ReadCatalog => matches!(actor.role, Role::Clinician | Role::Patient),
        ManageCatalog | ConfigureInstruments | ReviewAlerts => actor.role == Role::Clinician,
        SuggestProduct => actor.role == Role::Patient,
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

pub fn authorize_patient(actor: &Actor, action: PatientAction, patient: &PatientScope) -> Decision {
    if actor.organization_id != patient.organization_id {
        return Decision::NotFound;
    }
    match actor.role {
        Role::Clinician if patient.actor_on_care_team => Decision::Allow,
        Role::Clinician => Decision::Forbidden,
        Role::Patient if actor.own_patient_id == Some(patient.patient_id) => match action {
            PatientAction::Read
            | PatientAction::RecordDose
            | PatientAction::SubmitAssessment
            | PatientAction::ReportOverdose
            | PatientAction::UpdateNaloxone => Decision::Allow,
            PatientAction::UpdateDetails
            | PatientAction::ManageCareTeam
            | PatientAction::ManageLogin
            | PatientAction::ReviewAlerts
            | PatientAction::ManageMedications
            | PatientAction::ReadAuditTrail
            | PatientAction::ManagePlans
            | PatientAction::ManageAppointments
            | PatientAction::RecordClinicalMeasures => Decision::Forbidden,
        },
        Role::Patient => Decision::NotFound,
        Role::Admin | Role::Researcher => Decision::Forbidden,
    }
}

/// Where a catalogue product came from, as it bears on who may see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProductOrigin {
    /// The patient who added it "as labelled", if a patient did.
    pub added_by_patient: Option<PatientId>,
    /// A clinician has checked it; it is then part of the clinic's catalogue.
    pub reviewed: bool,
    /// Whether the asking user is on the adding patient's care team.
    pub actor_on_care_team: bool,
}

/// How much of a catalogue product a reader sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductVisibility {
    /// Everything, including which patient added it.
    Full,
    /// The product, but not who added it.
    WithoutOrigin,
    /// Nothing: not listed, and 404 when asked for.
    Hidden,
}

/// That a patient uses a product is clinical information about them. Only the patient
/// and their care team see which patient added a product; an addition waiting for
/// review (the patient's own free text) is seen by nobody else at all. Once a clinician
/// has reviewed it, it is an ordinary catalogue product for the whole clinic, with its
/// origin left out.
pub fn product_visibility(actor: &Actor, origin: &ProductOrigin) -> ProductVisibility {
    let Some(patient) = origin.added_by_patient else {
        return ProductVisibility::Full;
    };
    let is_own_or_team = match actor.role {
        Role::Patient => actor.own_patient_id == Some(patient),
        Role::Clinician => origin.actor_on_care_team,
        Role::Admin | Role::Researcher => false,
    };
    if is_own_or_team {
        ProductVisibility::Full
    } else if origin.reviewed {
        ProductVisibility::WithoutOrigin
    } else {
        ProductVisibility::Hidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENT_ACTIONS: [PatientAction; 14] = [
        PatientAction::Read,
        PatientAction::UpdateDetails,
        PatientAction::ManageCareTeam,
        PatientAction::ManageLogin,
        PatientAction::RecordDose,
        PatientAction::SubmitAssessment,
        PatientAction::ReviewAlerts,
        PatientAction::ManageMedications,
        PatientAction::ReadAuditTrail,
        PatientAction::ManagePlans,
        PatientAction::ManageAppointments,
        PatientAction::RecordClinicalMeasures,
        PatientAction::ReportOverdose,
        PatientAction::UpdateNaloxone,
    ];
    const ORG_ACTIONS: [OrganizationAction; 11] = [
        OrganizationAction::ManageUsers,
        OrganizationAction::ReadAuditLog,
        OrganizationAction::CreatePatient,
        OrganizationAction::ListPatients,
        OrganizationAction::ListClinicians,
        OrganizationAction::ReadCatalog,
        OrganizationAction::ManageCatalog,
        OrganizationAction::SuggestProduct,
        OrganizationAction::ConfigureInstruments,
        OrganizationAction::ReviewAlerts,
        OrganizationAction::ConfigureOrganization,
    ];

    fn actor(role: Role, org: OrganizationId, own: Option<PatientId>) -> Actor {
        Actor {
            user_id: UserId::new(),
            organization_id: org,
            role,
            own_patient_id: own,
        }
    }

    /// Every role × every patient action × (own or care-team patient, other patient
    /// in the same clinic, patient in another clinic), against the expected answer.
    #[test]
    fn the_patient_policy_matches_the_care_team_rules_exhaustively() {
        let org = OrganizationId::new();
        let other_org = OrganizationId::new();
        let own = PatientId::new();
        let mine = PatientScope {
            patient_id: own,
            organization_id: org,
            actor_on_care_team: true,
        };
        let not_mine = PatientScope {
            patient_id: PatientId::new(),
            organization_id: org,
            actor_on_care_team: false,
        };
        let elsewhere = PatientScope {
            patient_id: PatientId::new(),
            organization_id: other_org,
            actor_on_care_team: true,
        };

        for role in Role::ALL {
            let actor = actor(role, org, (role == Role::Patient).then_some(own));
            for action in PATIENT_ACTIONS {
                let expected_mine = match (role, action) {
                    (Role::Clinician, _) => Decision::Allow,
                    (
                        Role::Patient,
                        PatientAction::Read
                        | PatientAction::RecordDose
                        | PatientAction::SubmitAssessment
                        | PatientAction::ReportOverdose
                        | PatientAction::UpdateNaloxone,
                    ) => Decision::Allow,
                    _ => Decision::Forbidden,
                };
                let expected_not_mine = match role {
                    Role::Patient => Decision::NotFound,
                    _ => Decision::Forbidden,
                };
                assert_eq!(
                    authorize_patient(&actor, action, &mine),
                    expected_mine,
                    "{role} {action:?} own"
                );
                assert_eq!(
                    authorize_patient(&actor, action, &not_mine),
                    expected_not_mine,
                    "{role} {action:?} other"
                );
                assert_eq!(
                    authorize_patient(&actor, action, &elsewhere),
                    Decision::NotFound,
                    "{role} {action:?} other org"
                );
            }
        }
    }

    #[test]
    fn the_organization_policy_gives_each_role_only_its_own_duties() {
        let org = OrganizationId::new();
        for role in Role::ALL {
            let actor = actor(role, org, None);
            for action in ORG_ACTIONS {
                use OrganizationAction::*;
                let allowed = match action {
                    ManageUsers | ReadAuditLog | ConfigureOrganization => role == Role::Admin,
                    CreatePatient | ListClinicians => role == Role::Clinician,
                    ListPatients | ReadCatalog => matches!(role, Role::Clinician | Role::Patient),
                    ManageCatalog | ConfigureInstruments | ReviewAlerts => role == Role::Clinician,
                    SuggestProduct => role == Role::Patient,
                };
                let expected = if allowed {
                    Decision::Allow
                } else {
                    Decision::Forbidden
                };
                assert_eq!(
                    authorize_organization(&actor, action, org),
                    expected,
                    "{role} {action:?}"
                );
                assert_eq!(
                    authorize_organization(&actor, action, OrganizationId::new()),
                    Decision::NotFound,
                    "{role} {action:?} in another organization"
                );
            }
        }
    }

    /// Every role × (own or care-team patient's, another patient's) × reviewed or not,
    /// plus products no patient added.
    #[test]
    fn only_the_patient_and_their_care_team_see_who_added_a_product() {
        use ProductVisibility::*;
        let org = OrganizationId::new();
        let own = PatientId::new();
        for role in Role::ALL {
            let actor = actor(role, org, (role == Role::Patient).then_some(own));
            for reviewed in [false, true] {
                let clinic = ProductOrigin {
                    added_by_patient: None,
                    reviewed,
                    actor_on_care_team: false,
                };
                assert_eq!(
                    product_visibility(&actor, &clinic),
                    Full,
                    "{role} clinic product"
                );
                let mine = ProductOrigin {
                    added_by_patient: Some(own),
                    reviewed,
                    actor_on_care_team: role == Role::Clinician,
                };
                let expected_mine = match role {
                    Role::Patient | Role::Clinician => Full,
                    _ if reviewed => WithoutOrigin,
                    _ => Hidden,
                };
                assert_eq!(
                    product_visibility(&actor, &mine),
                    expected_mine,
                    "{role} own or care-team patient's, reviewed {reviewed}"
                );
                let others = ProductOrigin {
                    added_by_patient: Some(PatientId::new()),
                    reviewed,
                    actor_on_care_team: false,
                };
                let expected_others = if reviewed { WithoutOrigin } else { Hidden };
                assert_eq!(
                    product_visibility(&actor, &others),
                    expected_others,
                    "{role} another patient's, reviewed {reviewed}"
                );
            }
        }
    }
}
