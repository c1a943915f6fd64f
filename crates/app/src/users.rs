//! Accounts of an organization: admins create and manage them; clinicians list their
//! colleagues for care teams.

use speciosa_core::FieldErrors;
use speciosa_core::account::{DisplayName, Email, NewPassword, Role};
use speciosa_core::audit::Outcome;
use speciosa_core::ids::UserId;
use speciosa_core::policy::OrganizationAction;
use speciosa_store::{NewUser, StoreError, User};

use crate::{App, AppError, Caller, access, passwords};

/// Parsed sign-up fields shared by staff accounts and patient logins.
pub struct AccountFields {
    pub email: Email,
    pub password: NewPassword,
}

pub fn parse_account(
    email: &str,
    password: &str,
    errors: &mut FieldErrors,
) -> Option<AccountFields> {
    let email = errors.check("email", Email::parse(email));
    let password = errors.check("password", NewPassword::parse(password));
    Some(AccountFields {
        email: email?,
        password: password?,
    })
}

/// A staff account as an admin typed it (checked here, each error naming its field).
pub struct NewStaffUser<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub role: &'a str,
    pub display_name: &'a str,
}

async fn manage_users(app: &App, caller: &Caller, audit_action: &str) -> Result<(), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ManageUsers,
        audit_action,
        "user",
    )
    .await
}

fn hashing_failed(error: impl std::fmt::Display) -> AppError {
    AppError::Internal(StoreError::Corrupt(error.to_string()))
}

/// Validates and creates a staff account in the admin's organization.
pub async fn create_user(
    app: &App,
    caller: &Caller,
    input: NewStaffUser<'_>,
) -> Result<User, AppError> {
    manage_users(app, caller, "user.create").await?;
    let mut errors = FieldErrors::new();
    let account = parse_account(input.email, input.password, &mut errors);
    let role = errors.check("role", input.role.parse::<Role>()).and_then(|role| {
        if role == Role::Patient {
            errors.push("role", "patient logins are created from the patient's record (POST /api/v1/patients/{id}/account)");
            None
        } else {
            Some(role)
        }
    });
    let display_name = errors.check("display_name", DisplayName::parse(input.display_name));
    let (Some(account), Some(role), Some(display_name)) = (account, role, display_name) else {
        return Err(errors.into());
    };
    let password_hash = passwords::hash_password_blocking(account.password)
        .await
        .map_err(hashing_failed)?;
    let new = NewUser {
        organization_id: caller.actor.organization_id,
        email: account.email,
        display_name,
        role,
        password_hash,
    };
    Ok(app
        .store
        .create_user(new, |created| {
            caller.audit(
                "user.create",
                "user",
                Some(created.id.to_string()),
                None,
                Outcome::Success,
            )
        })
        .await?)
}

/// The organization's users, optionally of one role (`role` as sent; 422 if unknown).
pub async fn list_users(
    app: &App,
    caller: &Caller,
    role: Option<&str>,
) -> Result<Vec<User>, AppError> {
    manage_users(app, caller, "user.list").await?;
    let role = role
        .map(|r| r.parse::<Role>())
        .transpose()
        .map_err(|e| AppError::field("role", e.to_string()))?;
    Ok(app
        .store
        .list_users(caller.actor.organization_id, role)
        .await?)
}

async fn organization_user(app: &App, caller: &Caller, id: UserId) -> Result<User, AppError> {
    app.store
        .get_user(id)
        .await?
        .filter(|found| found.organization_id == caller.actor.organization_id)
        .ok_or(AppError::NotFound("user"))
}

pub async fn read_user(app: &App, caller: &Caller, id: UserId) -> Result<User, AppError> {
    manage_users(app, caller, "user.read").await?;
    organization_user(app, caller, id).await
}

/// Activates or deactivates an account (deactivating ends its sessions).
pub async fn set_user_active(
    app: &App,
    caller: &Caller,
    id: UserId,
    active: bool,
) -> Result<User, AppError> {
    manage_users(app, caller, "user.update").await?;
    organization_user(app, caller, id).await?;
    if id == caller.actor.user_id && !active {
        return Err(AppError::field(
            "active",
            "you cannot deactivate your own account",
        ));
    }
    let action = if active {
        "user.activate"
    } else {
        "user.deactivate"
    };
    Ok(app
        .store
        .set_user_active(
            caller.actor.organization_id,
            id,
            active,
            caller.audit(action, "user", Some(id.to_string()), None, Outcome::Success),
        )
        .await?)
}

/// Gives a user of the admin's organization a temporary password, which they must
/// change at their next sign-in; their sessions end.
pub async fn set_temporary_password(
    app: &App,
    caller: &Caller,
    id: UserId,
    temporary_password: &str,
) -> Result<User, AppError> {
    manage_users(app, caller, "user.password.set_temporary").await?;
    organization_user(app, caller, id).await?;
    if id == caller.actor.user_id {
        return Err(AppError::field(
            "temporary_password",
            "change your own password from your account (PUT /api/v1/account/password)",
        ));
    }
    let password = NewPassword::parse(temporary_password)
        .map_err(|e| AppError::field("temporary_password", e.to_string()))?;
    let password_hash = passwords::hash_password_blocking(password)
        .await
        .map_err(hashing_failed)?;
    Ok(app
        .store
        .set_temporary_password(
            caller.actor.organization_id,
            id,
            &password_hash,
            caller.audit(
                "user.password.set_temporary",
                "user",
                Some(id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?)
}

/// The clinicians of the caller's organization: the active ones (for care teams), or
/// with `include_inactive` every one (to name who did what in a trail).
pub async fn list_clinicians(
    app: &App,
    caller: &Caller,
    include_inactive: bool,
) -> Result<Vec<User>, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ListClinicians,
        "clinician.list",
        "user",
    )
    .await?;
    let clinicians = app
        .store
        .list_users(caller.actor.organization_id, Some(Role::Clinician))
        .await?;
    Ok(clinicians
        .into_iter()
        .filter(|c| include_inactive || c.active)
        .collect())
}
