//! Who is acting: the policy's actor and where the request came from, which every audit
//! event records. Adapters build one per request from the session (or the CLI's operator).

use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::PatientId;
use speciosa_core::policy::Actor;

#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    /// The client's address as the adapter determined it (socket peer or trusted proxy).
    pub client_addr: String,
}

impl Caller {
    pub fn new(actor: Actor, client_addr: impl Into<String>) -> Self {
        Self {
            actor,
            client_addr: client_addr.into(),
        }
    }

    /// An audit entry for something this caller did.
    pub fn audit(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: Option<String>,
        patient_id: Option<PatientId>,
        outcome: Outcome,
    ) -> AuditEntry {
        AuditEntry {
            actor_user_id: Some(self.actor.user_id),
            actor_role: Some(self.actor.role),
            organization_id: Some(self.actor.organization_id),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id,
            patient_id,
            outcome,
            client_addr: Some(self.client_addr.clone()),
            detail: None,
        }
    }
}
