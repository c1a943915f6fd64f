//! What an operator does from the command line, outside any user's session: bootstrap an
//! organization's first admin, back up and restore, verify and prove the audit log, rebuild
//! the summaries and measure the write ceiling. A change to data is audited as the command
//! line's (no user acted).

use std::path::Path;

use speciosa_core::account::{DisplayName, Email, Role};
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::checkpoint::NoteVerifier;
use speciosa_store::{NewUser, Organization, Store, User};

pub use speciosa_store::{
    AuditAnchors, AuditReport, BackupError, BackupReport, Ceiling, ProvenEvent, RebuildReport,
    RestoreError, RestoreReport, SealError, StoreError, load_verifier,
};

use crate::{App, AppError, AppSettings, DatabaseLocation, OpenError, PoolOptions};

impl App {
    /// Opens a database that must already exist (a backup must not create an empty one).
    pub async fn open_existing(
        location: &DatabaseLocation,
        options: &PoolOptions,
    ) -> Result<Self, OpenError> {
        let store = Store::open_existing(location, options).await?;
        Self::with_store(store, AppSettings::default())
    }
}

/// Creates `org_name` if it does not exist, and an admin in it.
pub async fn create_admin(
    app: &App,
    org_name: &DisplayName,
    email: Email,
    display_name: DisplayName,
    password_hash: String,
) -> Result<(User, Organization), AppError> {
    let organization = match app
        .store
        .find_organization_by_name(org_name.as_str())
        .await?
    {
        Some(existing) => existing,
        None => app.store.create_organization(org_name.as_str()).await?,
    };
    let new = NewUser {
        organization_id: organization.id,
        email,
        display_name,
        role: Role::Admin,
        password_hash,
    };
    let organization_id = organization.id;
    let admin = app
        .store
        .create_user(new, |user| AuditEntry {
            actor_user_id: None,
            actor_role: None,
            organization_id: Some(organization_id),
            action: "user.create".into(),
            resource_type: "user".into(),
            resource_id: Some(user.id.to_string()),
            patient_id: None,
            outcome: Outcome::Success,
            client_addr: Some("cli".into()),
            detail: Some("speciosa admin create".into()),
        })
        .await?;
    Ok((admin, organization))
}

/// Checks every audit event against the Merkle tree and every signed checkpoint.
pub async fn verify_audit(app: &App, anchors: &AuditAnchors) -> Result<AuditReport, SealError> {
    app.store.verify_audit(anchors).await
}

/// An inclusion proof of one event against the latest checkpoint.
pub async fn prove_audit_event(
    app: &App,
    event_id: i64,
    verifier: &NoteVerifier,
    checkpoint_path: &Path,
) -> Result<ProvenEvent, SealError> {
    app.store
        .prove_audit_event(event_id, verifier, checkpoint_path)
        .await
}

/// Recomputes every per-patient summary from the records.
pub async fn rebuild_summaries(app: &App) -> Result<RebuildReport, StoreError> {
    app.store.rebuild_summaries().await
}

/// A consistent copy of the live SQLite database.
pub async fn backup_to(app: &App, out: &Path) -> Result<BackupReport, BackupError> {
    app.store.backup_to(out).await
}

/// Loads a backup into an empty data directory, after checking it.
pub async fn restore_backup(from: &Path, data_dir: &Path) -> Result<RestoreReport, RestoreError> {
    Store::restore_backup(from, data_dir).await
}

/// The benchmark's write ceiling: bare inserts, each committed on its own.
pub async fn ceiling(app: &App, connections: u32) -> Result<Ceiling, StoreError> {
    app.store.ceiling(connections).await
}
