//! The audit log's tamper evidence: each event's hash covers every column of the
//! event plus the previous event's hash, so altering, reordering or removing any
//! event breaks the chain at a point [`ChainVerifier`] can name.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::account::Role;
use crate::ids::{OrganizationId, PatientId, UserId};

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// What happened, before it is placed in the chain.
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

/// An event as stored: its place in the chain and its hashes.
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
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// Places `entry` after the event whose hash is `prev_hash`.
    pub fn seal(entry: AuditEntry, id: i64, occurred_at: Timestamp, prev_hash: String) -> Self {
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
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }

    /// SHA-256 over every column but `hash`, each length-prefixed so that no two
    /// different events encode to the same bytes.
    pub fn compute_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut field = |value: Option<&str>| match value {
            None => hasher.update(b"-;"),
            Some(text) => {
                hasher.update(text.len().to_string().as_bytes());
                hasher.update(b":");
                hasher.update(text.as_bytes());
                hasher.update(b";");
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
        field(Some(&self.prev_hash));
        hex::encode(hasher.finalize())
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

/// Where and why the chain broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit event {event_id}: {reason}")]
pub struct ChainBreak {
    /// The first event that cannot be trusted (or, for a missing tail, the last one expected).
    pub event_id: i64,
    pub reason: String,
}

/// Checks events one at a time, in id order, so the whole log never has to be in memory.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_id: i64,
    previous_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_id: 1,
            previous_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn check(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let broken = |reason: String| {
            Err(ChainBreak {
                event_id: event.id,
                reason,
            })
        };
        if event.id != self.expected_id {
            return broken(format!(
                "expected event {} next; events {}..{} are missing",
                self.expected_id,
                self.expected_id,
                event.id - 1
            ));
        }
        if event.prev_hash != self.previous_hash {
            return broken("its prev_hash does not match the previous event's hash".into());
        }
        if event.compute_hash() != event.hash {
            return broken("its contents do not match its hash (the event was altered)".into());
        }
        self.expected_id += 1;
        self.previous_hash = event.hash.clone();
        Ok(())
    }

    /// Compares the end of the chain with the head the store keeps separately, which
    /// catches events removed from the end.
    pub fn finish(self, head_id: i64, head_hash: &str) -> Result<u64, ChainBreak> {
        let last_id = self.expected_id - 1;
        if last_id != head_id {
            return Err(ChainBreak {
                event_id: head_id.max(last_id),
                reason: format!(
                    "the log ends at event {last_id} but {head_id} events were recorded"
                ),
            });
        }
        if self.previous_hash != head_hash {
            return Err(ChainBreak {
                event_id: last_id,
                reason: "the last event's hash does not match the recorded chain head".into(),
            });
        }
        Ok(last_id as u64)
    }
}

#[cfg(test)]
mod tests {
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

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|id| {
                let event =
                    AuditEvent::seal(entry("patient.read"), id, Timestamp::now(), prev.clone());
                prev = event.hash.clone();
                event
            })
            .collect()
    }

    fn verify(events: &[AuditEvent], head_id: i64, head_hash: &str) -> Result<u64, ChainBreak> {
        let mut verifier = ChainVerifier::new();
        for event in events {
            verifier.check(event)?;
        }
        verifier.finish(head_id, head_hash)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let events = chain(5);
        assert_eq!(verify(&events, 5, &events[4].hash), Ok(5));
    }

    #[test]
    fn an_empty_chain_verifies_against_the_genesis_head() {
        assert_eq!(verify(&[], 0, GENESIS_HASH), Ok(0));
    }

    #[test]
    fn altering_any_column_names_that_event() {
        let original = chain(4);
        let head = original[3].hash.clone();
        let alterations: Vec<fn(&mut AuditEvent)> = vec![
            |e| e.action = "patient.update".into(),
            |e| e.outcome = "denied".into(),
            |e| e.client_addr = None,
            |e| e.detail = Some("x".into()),
            |e| e.patient_id = None,
            |e| e.occurred_at += jiff::SignedDuration::from_micros(1),
        ];
        for alter in alterations {
            let mut events = original.clone();
            alter(&mut events[2]);
            assert_eq!(verify(&events, 4, &head).unwrap_err().event_id, 3);
        }
    }

    #[test]
    fn removing_an_event_from_the_middle_or_the_end_is_detected() {
        let events = chain(4);
        let mut middle_removed = events.clone();
        middle_removed.remove(1);
        assert_eq!(
            verify(&middle_removed, 4, &events[3].hash)
                .unwrap_err()
                .event_id,
            3
        );

        let tail_removed = &events[..3];
        assert_eq!(
            verify(tail_removed, 4, &events[3].hash)
                .unwrap_err()
                .event_id,
            4
        );
    }

    fn sealed(entry: AuditEntry) -> AuditEvent {
        AuditEvent::seal(entry, 1, Timestamp::now(), GENESIS_HASH.to_owned())
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

    #[test]
    fn a_rehashed_forgery_still_breaks_the_link_to_the_next_event() {
        let mut events = chain(3);
        events[1].action = "patient.delete".into();
        events[1].hash = events[1].compute_hash();
        assert_eq!(verify(&events, 3, &events[2].hash).unwrap_err().event_id, 3);
    }
}
