//! The caller's own organization: its security and clock settings.

use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::patient::TimeZoneName;
use speciosa_core::policy::OrganizationAction;
use speciosa_store::Organization;

use crate::{App, AppError, Caller, access};

async fn own(app: &App, caller: &Caller) -> Result<Organization, AppError> {
    app.store
        .get_organization(caller.actor.organization_id)
        .await?
        .ok_or(AppError::NotFound("organization"))
}

/// The caller's organization, once managing its accounts is allowed (admins): its
/// security settings are part of running them.
pub async fn read_organization(app: &App, caller: &Caller) -> Result<Organization, AppError> {
    manage(app, caller, "organization.read").await
}

async fn manage(app: &App, caller: &Caller, audit_action: &str) -> Result<Organization, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ManageUsers,
        audit_action,
        "organization",
    )
    .await?;
    own(app, caller).await
}

/// Turns the staff two-factor requirement on or off.
pub async fn set_require_staff_totp(
    app: &App,
    caller: &Caller,
    required: bool,
) -> Result<Organization, AppError> {
    manage(app, caller, "organization.update").await?;
    let audit = AuditEntry {
        detail: Some(format!("require_staff_totp={required}")),
        ..caller.audit(
            "organization.update",
            "organization",
            Some(caller.actor.organization_id.to_string()),
            None,
            Outcome::Success,
        )
    };
    Ok(app
        .store
        .set_require_staff_totp(caller.actor.organization_id, required, audit)
        .await?)
}

/// The organization's settings, once configuring it is allowed.
pub async fn read_settings(app: &App, caller: &Caller) -> Result<Organization, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ConfigureOrganization,
        "organization.read",
        "organization",
    )
    .await?;
    own(app, caller).await
}

/// Sets the time zone staff pages show times in; an unknown zone is a 422 on `time_zone`.
pub async fn set_time_zone(app: &App, caller: &Caller, time_zone: &str) -> Result<(), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ConfigureOrganization,
        "organization.update",
        "organization",
    )
    .await?;
    let organization = own(app, caller).await?;
    let zone =
        TimeZoneName::parse(time_zone).map_err(|detail| AppError::field("time_zone", detail))?;
    let mut entry = caller.audit(
        "organization.update",
        "organization",
        Some(organization.id.to_string()),
        None,
        Outcome::Success,
    );
    entry.detail = Some(format!("time_zone={}", zone.as_str()));
    app.store
        .set_organization_time_zone(organization.id, &zone, entry)
        .await?;
    Ok(())
}
