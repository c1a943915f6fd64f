//! The audit log's events and their tamper evidence: each event's leaf hash covers
//! every column of the event (RFC 9162 leaf hashing, see [`crate::merkle`]); the store
//! sequences events into an append-only Merkle tree whose signed checkpoints
//! ([`crate::checkpoint`]) are kept outside the database.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;

use crate::account::Role;
use crate::ids::{OrganizationId, PatientId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// The policy refused the request.
    Denied,
    /// The request was allowed but failed (bad credentials, invalid input, conflict).
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Outcome::Success),
            "denied" => Ok(Outcome::Denied),
            "failure" => Ok(Outcome::Failure),
            other => Err(format!("unknown audit outcome {other:?}")),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, before it is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor_user_id: Option<UserId>,
    pub actor_role: Option<Role>,
    pub organization_id: Option<OrganizationId>,
    /// Dotted verb, e.g. `patient.read`, `session.create`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<PatientId>,
    pub outcome: Outcome,
    pub client_addr: Option<String>,
    /// Context for the patient's care team (a rule code, a correction's reason, the
    /// email a failed sign-in tried). Administrators see it only for account events
    /// (see [`AuditEvent::admin_view`]).
    pub detail: Option<String>,
}

/// An event as stored, with its leaf hash and (once sequenced) its place in the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    /// Truncated to microseconds, the precision both databases keep.
    pub occurred_at: Timestamp,
    pub actor_user_id: Option<UserId>,
    pub actor_role: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<PatientId>,
    pub outcome: String,
    pub client_addr: Option<String>,
    pub detail: Option<String>,
    /// The RFC 9162 leaf hash of [`AuditEvent::leaf_data`], lowercase hex.
    pub hash: String,
    /// The event's leaf in the Merkle tree, once the sequencer has placed it.
    pub leaf_index: Option<i64>,
}

impl AuditEvent {
    /// Records `entry` as event `id`, hashing its content.
    pub fn seal(entry: AuditEntry, id: i64, occurred_at: Timestamp) -> Self {
        let occurred_at = truncate_to_microseconds(occurred_at);
        let mut event = AuditEvent {
            id,
            occurred_at,
            actor_user_id: entry.actor_user_id,
            actor_role: entry.actor_role.map(|r| r.as_str().to_owned()),
            organization_id: entry.organization_id,
            action: entry.action,
            resource_type: entry.resource_type,
            resource_id: entry.resource_id,
            patient_id: entry.patient_id,
            outcome: entry.outcome.as_str().to_owned(),
            client_addr: entry.client_addr,
            detail: entry.detail,
            hash: String::new(),
            leaf_index: None,
        };
        event.hash = event.compute_hash();
        event
    }

    /// The leaf's data: every column but the hashes and the leaf index, each
    /// length-prefixed so that no two different events encode to the same bytes.
    pub fn leaf_data(&self) -> Vec<u8> {
        let mut data = b"speciosa-audit-event-v1;".to_vec();
        let mut field = |value: Option<&str>| match value {
            None => data.extend_from_slice(b"-;"),
            Some(text) => {
                data.extend_from_slice(text.len().to_string().as_bytes());
                data.push(b':');
                data.extend_from_slice(text.as_bytes());
                data.push(b';');
            }
        };
        field(Some(&self.id.to_string()));
        field(Some(&self.occurred_at.as_microsecond().to_string()));
        field(self.actor_user_id.map(|id| id.to_string()).as_deref());
        field(self.actor_role.as_deref());
        field(self.organization_id.map(|id| id.to_string()).as_deref());
        field(Some(&self.action));
        field(Some(&self.resource_type));
        field(self.resource_id.as_deref());
        field(self.patient_id.map(|id| id.to_string()).as_deref());
        field(Some(&self.outcome));
        field(self.client_addr.as_deref());
        field(self.detail.as_deref());
        data
    }

    /// The leaf hash of this event's columns as they are now, lowercase hex.
    pub fn compute_hash(&self) -> String {
        crate::merkle::leaf_hash(&self.leaf_data()).to_hex()
    }
}

/// Actions whose `detail` is about an account, never about health: administrators
/// need it to investigate sign-ins (which email was tried, why it failed).
const ACCOUNT_ACTION_PREFIXES: [&str; 2] = ["session.", "user."];

/// An event as administrators and other readers outside the patient's care team see
/// it: who, when, which kind of action on which kind of resource, the outcome and the
/// address; never what was recorded (rule codes, instruments, medications, reasons).
///
/// Built field by field from [`AuditEvent`], so a column added there stays hidden
/// here until someone decides it is safe. The chain hashes are left out too: a hash
/// over a short detail such as a rule code can be reversed by trying every code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdminAuditEvent {
    pub id: i64,
    pub occurred_at: Timestamp,
    pub actor_user_id: Option<UserId>,
    pub actor_role: Option<String>,
    pub organization_id: Option<OrganizationId>,
    /// A fixed verb from the code (`dose.correct`), never built from data.
    pub action: String,
    pub resource_type: String,
    /// Present only when it is an opaque id (a UUID): some resources are named by
    /// clinical codes (an instrument's bands), and those stay hidden.
    pub resource_id: Option<String>,
    /// The opaque patient id, so an access can be accounted for; nothing about the record.
    pub patient_id: Option<PatientId>,
    pub outcome: String,
    pub client_addr: Option<String>,
    /// Only for sign-in, session and account events.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// The administrators' projection of this event (see [`AdminAuditEvent`]).
    pub fn admin_view(&self) -> AdminAuditEvent {
        let account_event = ACCOUNT_ACTION_PREFIXES
            .iter()
            .any(|prefix| self.action.starts_with(prefix));
        AdminAuditEvent {
            id: self.id,
            occurred_at: self.occurred_at,
            actor_user_id: self.actor_user_id,
            actor_role: self.actor_role.clone(),
            organization_id: self.organization_id,
            action: self.action.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self
                .resource_id
                .clone()
                .filter(|id| uuid::Uuid::parse_str(id).is_ok()),
            patient_id: self.patient_id,
            outcome: self.outcome.clone(),
            client_addr: self.client_addr.clone(),
            detail: self.detail.clone().filter(|_| account_event),
        }
    }
}

pub fn truncate_to_microseconds(at: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(at.as_microsecond()).unwrap_or(at)
}

/// Where and why the audit log fails verification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct AuditBreak {
    /// The first event that cannot be trusted, when the fault is in one event.
    pub event_id: Option<i64>,
    pub reason: String,
}

impl fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event_id {
            Some(id) => write!(f, "audit event {id}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            actor_user_id: Some(UserId::new()),
            actor_role: Some(Role::Clinician),
            organization_id: Some(OrganizationId::new()),
            action: action.into(),
            resource_type: "patient".into(),
            resource_id: None,
            patient_id: Some(PatientId::new()),
            outcome: Outcome::Success,
            client_addr: Some("127.0.0.1".into()),
            detail: None,
        }
    }

    #[test]
    fn altering_any_column_changes_the_leaf_hash() {
        let original = AuditEvent::seal(entry("patient.read"), 3, Timestamp::now());
        assert_eq!(original.compute_hash(), original.hash);
        let alterations: Vec<fn(&mut AuditEvent)> = vec![
            |e| e.id = 4,
            |e| e.action = "patient.update".into(),
            |e| e.outcome = "denied".into(),
            |e| e.client_addr = None,
            |e| e.detail = Some("x".into()),
            |e| e.patient_id = None,
            |e| e.occurred_at += jiff::SignedDuration::from_micros(1),
        ];
        for alter in alterations {
            let mut event = original.clone();
            alter(&mut event);
            assert_ne!(event.compute_hash(), original.hash);
        }
    }

    #[test]
    fn moving_text_between_columns_changes_the_leaf_hash() {
        let mut a = AuditEvent::seal(entry("patient.read"), 1, Timestamp::now());
        a.resource_id = Some("ab".into());
        a.detail = None;
        let mut b = a.clone();
        b.resource_id = Some("a".into());
        b.detail = Some("b".into());
        assert_ne!(a.compute_hash(), b.compute_hash());
    }

    #[test]
    fn the_leaf_hash_is_rfc_9162_leaf_hashing_of_the_leaf_data() {
        let event = AuditEvent::seal(entry("patient.read"), 1, Timestamp::now());
        let mut prefixed = vec![0_u8];
        prefixed.extend(event.leaf_data());
        assert_eq!(event.hash, hex::encode(Sha256::digest(&prefixed)));
    }

    fn sealed(entry: AuditEntry) -> AuditEvent {
        AuditEvent::seal(entry, 1, Timestamp::now())
    }

    #[test]
    fn administrators_see_who_when_and_what_kind_but_no_clinical_detail() {
        let alert = sealed(AuditEntry {
            action: "alert.raise".into(),
            resource_type: "alert".into(),
            resource_id: Some(uuid::Uuid::now_v7().to_string()),
            detail: Some("phq9_item9 (urgent)".into()),
            ..entry("alert.raise")
        });
        let view = alert.admin_view();
        assert_eq!(view.action, "alert.raise");
        assert_eq!(view.resource_type, "alert");
        assert_eq!(view.resource_id, alert.resource_id);
        assert_eq!(view.patient_id, alert.patient_id);
        assert_eq!(view.actor_user_id, alert.actor_user_id);
        assert_eq!(view.client_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(view.detail, None);
        let json = serde_json::to_string(&view).unwrap();
        assert!(!json.contains("phq9"), "{json}");
        assert!(
            !json.contains(&alert.hash),
            "the hash could be reversed: {json}"
        );
    }

    #[test]
    fn a_resource_named_by_a_code_rather_than_an_id_is_withheld_from_administrators() {
        let bands = sealed(AuditEntry {
            action: "instrument.bands.update".into(),
            resource_type: "instrument".into(),
            resource_id: Some("sows".into()),
            detail: Some("mild 0–20".into()),
            ..entry("instrument.bands.update")
        });
        let view = bands.admin_view();
        assert_eq!(view.resource_type, "instrument");
        assert_eq!(view.resource_id, None);
        assert_eq!(view.detail, None);
    }

    #[test]
    fn administrators_keep_the_detail_of_sign_in_and_account_events() {
        for (action, detail) in [
            ("session.create", "wrong password; email=a@b.test"),
            ("user.create", "speciosa admin create"),
        ] {
            let event = sealed(AuditEntry {
                detail: Some(detail.into()),
                ..entry(action)
            });
            assert_eq!(
                event.admin_view().detail.as_deref(),
                Some(detail),
                "{action}"
            );
        }
        // A prefix must match a whole segment.
        let event = sealed(AuditEntry {
            detail: Some("reason: typo".into()),
            ..entry("sessions_note.create")
        });
        assert_eq!(event.admin_view().detail, None);
    }
}
