//! The signed-in user's own account: changing the password and two-factor sign-in.
//! These stay open while a temporary password or a required enrolment blocks the rest.

use rand::RngCore;
use speciosa_core::FieldErrors;
use speciosa_core::account::NewPassword;
use speciosa_core::audit::Outcome;
use speciosa_core::two_factor::{
    RECOVERY_CODE_BYTES, RECOVERY_CODE_COUNT, RecoveryCode, SECRET_BYTES, TotpCode, TotpSecret,
};
use speciosa_store::{Organization, StoreError};

use crate::sessions::verify_own_password;
use crate::{App, AppError, Caller, passwords};

/// The caller's own organization, for their account page (its name and clock).
pub async fn own_organization(
    app: &App,
    caller: &Caller,
) -> Result<Option<Organization>, AppError> {
    Ok(app
        .store
        .get_organization(caller.actor.organization_id)
        .await?)
}

/// Checks the current password (throttled like a sign-in), stores the new one and
/// ends the user's other sessions; `session_token_hash` names the one that continues.
pub async fn change_own_password(
    app: &App,
    caller: &Caller,
    current: String,
    new: &str,
    session_token_hash: &str,
) -> Result<(), AppError> {
    let mut errors = FieldErrors::new();
    if current.is_empty() {
        errors.push("current_password", "enter your current password");
    }
    let new_password = errors.check("new_password", NewPassword::parse(new));
    let (Some(new_password), true) = (new_password, errors.is_empty()) else {
        return Err(errors.into());
    };
    let credentials = verify_own_password(
        app,
        caller,
        current,
        "account.password.change",
        "current_password",
    )
    .await?;
    if credentials.user.password_change_required
        && passwords::verify_password(new.to_owned(), Some(credentials.password_hash)).await
    {
        return Err(AppError::field(
            "new_password",
            "choose a new password of your own, not the temporary one",
        ));
    }
    let hash = passwords::hash_password_blocking(new_password)
        .await
        .map_err(defect)?;
    app.store
        .change_password(
            caller.actor.user_id,
            &hash,
            session_token_hash,
            caller.audit(
                "account.password.change",
                "user",
                Some(caller.actor.user_id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    Ok(())
}

/// A failure that is a defect (hashing, a stored secret that cannot be read).
fn defect(error: impl std::fmt::Display) -> AppError {
    AppError::Internal(StoreError::Corrupt(error.to_string()))
}

/// Two-factor sign-in is for staff; patients sign in on their own phones.
pub async fn require_staff(app: &App, caller: &Caller, audit_action: &str) -> Result<(), AppError> {
    if caller.actor.role.is_staff() {
        return Ok(());
    }
    app.store
        .append_audit(caller.audit(audit_action, "user", None, None, Outcome::Denied))
        .await?;
    Err(AppError::Forbidden(
        "two-factor sign-in is for staff accounts (admins, clinicians, researchers)".into(),
    ))
}

/// A secret being enrolled: as base32 to type, and as an `otpauth://` URI.
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// Starts (or restarts) enrolment: a new secret kept as pending until a code confirms it.
pub async fn begin_totp(app: &App, caller: &Caller) -> Result<TotpEnrolment, AppError> {
    require_staff(app, caller, "account.totp.enrolment.start").await?;
    start_enrolment(app, caller).await
}

async fn start_enrolment(app: &App, caller: &Caller) -> Result<TotpEnrolment, AppError> {
    let mut bytes = [0_u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = TotpSecret::from_random(bytes);
    app.store
        .set_pending_totp_secret(caller.actor.user_id, &secret.to_base32())
        .await?;
    app.store
        .append_audit(caller.audit(
            "account.totp.enrolment.start",
            "user",
            Some(caller.actor.user_id.to_string()),
            None,
            Outcome::Success,
        ))
        .await?;
    enrolment(app, caller, &secret).await
}

async fn enrolment(
    app: &App,
    caller: &Caller,
    secret: &TotpSecret,
) -> Result<TotpEnrolment, AppError> {
    let user = app
        .store
        .get_user(caller.actor.user_id)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let otpauth_uri = secret.otpauth_uri(&user.email).map_err(defect)?;
    Ok(TotpEnrolment {
        secret: secret.to_base32(),
        otpauth_uri,
    })
}

/// What the two-factor page shows: the enrolment under way (the pending secret, so a
/// reload keeps what the app may have scanned, else a new one), or once on, how many
/// recovery codes are left.
pub struct TwoFactorStatus {
    pub enrolment: Option<TotpEnrolment>,
    pub unused_recovery_codes: i64,
}

pub async fn two_factor_status(
    app: &App,
    caller: &Caller,
    enabled: bool,
) -> Result<TwoFactorStatus, AppError> {
    require_staff(app, caller, "account.totp.read").await?;
    if enabled {
        return Ok(TwoFactorStatus {
            enrolment: None,
            unused_recovery_codes: app
                .store
                .unused_recovery_codes(caller.actor.user_id)
                .await?,
        });
    }
    let enrolment = match app.store.pending_totp_secret(caller.actor.user_id).await? {
        Some(pending) => {
            let secret = TotpSecret::from_base32(&pending).map_err(defect)?;
            enrolment(app, caller, &secret).await?
        }
        None => start_enrolment(app, caller).await?,
    };
    Ok(TwoFactorStatus {
        enrolment: Some(enrolment),
        unused_recovery_codes: 0,
    })
}

/// Confirms enrolment with a code for the pending secret and issues recovery codes
/// (returned for showing once; only their hashes are kept).
pub async fn activate_totp(
    app: &App,
    caller: &Caller,
    code: &str,
) -> Result<Vec<String>, AppError> {
    require_staff(app, caller, "account.totp.enable").await?;
    let code = TotpCode::parse(code).map_err(|e| AppError::field("code", e.to_string()))?;
    let pending = app
        .store
        .pending_totp_secret(caller.actor.user_id)
        .await?
        .ok_or_else(|| {
            AppError::Conflict(
                "there is no enrolment to confirm: start one with POST /api/v1/account/totp".into(),
            )
        })?;
    let secret = TotpSecret::from_base32(&pending).map_err(defect)?;
    let now = u64::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0);
    let step = secret.verify(&code, now, None).ok_or_else(|| {
        AppError::field(
            "code",
            "this code does not match the new secret; check the app's clock and enter the current code",
        )
    })?;
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0_u8; RECOVERY_CODE_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            RecoveryCode::from_random(bytes)
        })
        .collect();
    let hashes: Vec<String> = codes.iter().map(RecoveryCode::hash).collect();
    app.store
        .activate_totp(
            caller.actor.user_id,
            &pending,
            step,
            &hashes,
            caller.audit(
                "account.totp.enable",
                "user",
                Some(caller.actor.user_id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    Ok(codes.iter().map(RecoveryCode::display).collect())
}

/// Turns two-factor sign-in off once the password is confirmed (nothing to do if it was off).
pub async fn disable_totp(app: &App, caller: &Caller, password: String) -> Result<(), AppError> {
    require_staff(app, caller, "account.totp.disable").await?;
    if password.is_empty() {
        return Err(AppError::field("password", "enter your password"));
    }
    verify_own_password(app, caller, password, "account.totp.disable", "password").await?;
    app.store
        .disable_totp(
            caller.actor.user_id,
            caller.audit(
                "account.totp.disable",
                "user",
                Some(caller.actor.user_id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    Ok(())
}
