//! Sessions: signing in (throttled, with a second factor when the account has one),
//! finding the session behind a token, signing out, and checking a signed-in user's own
//! password again. Tokens are random; only their hashes are stored.

use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};
use speciosa_core::FieldErrors;
use speciosa_core::account::{Email, Role, SignInThrottle};
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::{PatientId, UserId};
use speciosa_core::two_factor::{RecoveryCode, SecondFactor, TotpCode, TotpSecret};
use speciosa_store::{
    Patient, SessionLimits, SessionRecord, SignInAttempt, StoreError, User, UserCredentials,
};

use crate::{App, AppError, Caller, log_chain, passwords};

/// 256 random bits, hex-encoded.
pub fn new_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How long sessions last, by kind of account (the server's flags set them).
#[derive(Clone, Copy, Debug)]
pub struct SessionDurations {
    pub staff: SessionLimits,
    pub patient: SessionLimits,
}

impl SessionDurations {
    /// Staff sessions idle out sooner and last about one shift; patients keep theirs
    /// longer, since they sign in on their own phones to log doses through the day.
    pub fn for_role(&self, role: Role) -> SessionLimits {
        if role.is_staff() {
            self.staff
        } else {
            self.patient
        }
    }
}

/// The second factor sent with a sign-in, if any.
pub fn second_factor(
    totp_code: Option<&str>,
    recovery_code: Option<&str>,
) -> Result<Option<SecondFactor>, FieldErrors> {
    fn given(value: Option<&str>) -> Option<&str> {
        value.map(str::trim).filter(|v| !v.is_empty())
    }
    match (given(totp_code), given(recovery_code)) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(FieldErrors::single(
            "recovery_code",
            "send either totp_code or recovery_code, not both",
        )),
        (Some(code), None) => TotpCode::parse(code)
            .map(|c| Some(SecondFactor::Totp(c)))
            .map_err(|e| FieldErrors::single("totp_code", e.to_string())),
        (None, Some(code)) => RecoveryCode::parse(code)
            .map(|c| Some(SecondFactor::Recovery(c)))
            .map_err(|e| FieldErrors::single("recovery_code", e.to_string())),
    }
}

/// A new session: the token for the cookie and the CSRF token for forms and the API.
pub struct SignedIn {
    pub token: String,
    pub csrf_token: String,
    pub user: User,
    pub own_patient_id: Option<PatientId>,
}

/// How long a page sign-in may take between its password and its code.
const CHALLENGE_LIFETIME: SignedDuration = SignedDuration::from_mins(5);

fn sign_in_entry(
    user: Option<&User>,
    outcome: Outcome,
    client_addr: &str,
    detail: Option<String>,
) -> AuditEntry {
    AuditEntry {
        actor_user_id: user.map(|u| u.id),
        actor_role: user.map(|u| u.role),
        organization_id: user.map(|u| u.organization_id),
        action: "session.create".into(),
        resource_type: "session".into(),
        resource_id: None,
        patient_id: None,
        outcome,
        client_addr: Some(client_addr.to_owned()),
        detail,
    }
}

/// Takes a throttling slot before anything is checked (see [`SignInThrottle`]); a
/// refusal is audited with `entry` and answered with `throttled`.
async fn reserve_attempt(
    app: &App,
    email: &str,
    client_addr: &str,
    entry: impl FnOnce(Outcome, Option<String>) -> AuditEntry,
    throttled: impl FnOnce(u64) -> AppError,
) -> Result<SignInAttempt, AppError> {
    let reserved = app
        .store
        .reserve_sign_in_attempt(
            email,
            client_addr,
            SignedDuration::from_secs(SignInThrottle::WINDOW_SECONDS),
            SignInThrottle::MAX_FAILURES_PER_ACCOUNT,
            SignInThrottle::MAX_FAILURES_PER_ADDRESS,
        )
        .await?;
    match reserved {
        Some(attempt) => Ok(attempt),
        None => {
            app.store
                .append_audit(entry(
                    Outcome::Denied,
                    Some(format!("throttled; email={email}")),
                ))
                .await?;
            Err(throttled(SignInThrottle::WINDOW_SECONDS as u64))
        }
    }
}

fn sign_in_throttled(retry_after_seconds: u64) -> AppError {
    AppError::SignInThrottled {
        retry_after_seconds,
    }
}

/// Takes a throttling slot, then checks the password and, when the account has
/// two-factor sign-in on, `second`; on success starts a session. A failed check keeps
/// its slot, so at most [`SignInThrottle::MAX_FAILURES_PER_ACCOUNT`] checks per account
/// happen per window however many requests arrive at once.
pub async fn sign_in(
    app: &App,
    email: &str,
    password: String,
    second: Option<SecondFactor>,
    client_addr: &str,
    durations: SessionDurations,
) -> Result<SignedIn, AppError> {
    // A malformed email can match no account; it is throttled and audited like any other miss.
    let email = Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| email.trim().to_ascii_lowercase());
    let credentials = app.store.find_credentials(&email).await?;
    let user = credentials.as_ref().map(|c| &c.user);
    let attempt = reserve_attempt(
        app,
        &email,
        client_addr,
        |o, d| sign_in_entry(user, o, client_addr, d),
        sign_in_throttled,
    )
    .await?;

    let stored_hash = credentials
        .as_ref()
        .filter(|c| c.user.active)
        .map(|c| c.password_hash.clone());
    if !passwords::verify_password(password, stored_hash).await {
        let detail = match user {
            Some(u) if !u.active => format!("account deactivated; email={email}"),
            Some(_) => format!("wrong password; email={email}"),
            None => format!("unknown email; email={email}"),
        };
        app.store
            .append_audit(sign_in_entry(
                user,
                Outcome::Failure,
                client_addr,
                Some(detail),
            ))
            .await?;
        return Err(AppError::InvalidCredentials);
    }
    let Some(credentials) = credentials else {
        return Err(AppError::InvalidCredentials);
    };
    let method = if credentials.totp_secret.is_none() {
        None
    } else {
        let Some(second) = second else {
            // Not a failure: the client learns a code is needed. Only a right password gets here.
            app.store.release_sign_in_attempt(attempt).await?;
            return Err(AppError::SecondFactorRequired {
                user_id: credentials.user.id,
            });
        };
        Some(check_second_factor(app, &credentials, &second, client_addr).await?)
    };
    start_session(app, &email, credentials, client_addr, method, durations).await
}

/// For a page sign-in whose password was right: a token that lets the second step
/// ask only for the code.
pub async fn begin_second_factor(app: &App, user: UserId) -> Result<String, AppError> {
    let token = new_token();
    app.store
        .create_sign_in_challenge(&token_hash(&token), user, CHALLENGE_LIFETIME)
        .await?;
    Ok(token)
}

/// The page sign-in's second step: the code, throttled like a password.
pub async fn complete_second_factor(
    app: &App,
    challenge: &str,
    second: SecondFactor,
    client_addr: &str,
    durations: SessionDurations,
) -> Result<SignedIn, AppError> {
    let challenge_hash = token_hash(challenge);
    let Some(user_id) = app.store.sign_in_challenge(&challenge_hash).await? else {
        return Err(AppError::ChallengeExpired);
    };
    let credentials = app
        .store
        .credentials_of(user_id)
        .await?
        .filter(|c| c.user.active && c.totp_secret.is_some())
        .ok_or(AppError::ChallengeExpired)?;
    let email = credentials.user.email.clone();
    reserve_attempt(
        app,
        &email,
        client_addr,
        |o, d| sign_in_entry(Some(&credentials.user), o, client_addr, d),
        sign_in_throttled,
    )
    .await?;
    let method = check_second_factor(app, &credentials, &second, client_addr).await?;
    app.store.delete_sign_in_challenge(&challenge_hash).await?;
    start_session(
        app,
        &email,
        credentials,
        client_addr,
        Some(method),
        durations,
    )
    .await
}

/// Checks a TOTP code (once per time step) or uses up a recovery code; a miss is
/// audited and keeps its throttling slot.
async fn check_second_factor(
    app: &App,
    credentials: &UserCredentials,
    second: &SecondFactor,
    client_addr: &str,
) -> Result<&'static str, AppError> {
    let user = &credentials.user;
    let accepted = match second {
        SecondFactor::Totp(code) => {
            let secret = credentials
                .totp_secret
                .as_deref()
                .map(TotpSecret::from_base32);
            let now = u64::try_from(Timestamp::now().as_second()).unwrap_or(0);
            match secret {
                Some(Ok(secret)) => match secret.verify(code, now, credentials.totp_last_step) {
                    Some(step) => app.store.accept_totp_step(user.id, step).await?,
                    None => false,
                },
                Some(Err(error)) => {
                    log_chain("reading a stored TOTP secret", &error);
                    false
                }
                None => false,
            }
        }
        SecondFactor::Recovery(code) => app.store.use_recovery_code(user.id, &code.hash()).await?,
    };
    let method = match second {
        SecondFactor::Totp(_) => "totp",
        SecondFactor::Recovery(_) => "recovery code",
    };
    if accepted {
        return Ok(method);
    }
    app.store
        .append_audit(sign_in_entry(
            Some(user),
            Outcome::Failure,
            client_addr,
            Some(format!(
                "wrong two-factor code ({method}); email={})",
                user.email
            )),
        ))
        .await?;
    Err(AppError::InvalidSecondFactor)
}

async fn start_session(
    app: &App,
    email: &str,
    credentials: UserCredentials,
    client_addr: &str,
    second_factor: Option<&'static str>,
    durations: SessionDurations,
) -> Result<SignedIn, AppError> {
    let token = new_token();
    let csrf_token = new_token();
    let limits = durations.for_role(credentials.user.role);
    app.store.clear_sign_in_failures(email).await?;
    let detail = second_factor.map(|method| format!("two-factor: {method}"));
    app.store
        .create_session(
            &token_hash(&token),
            credentials.user.id,
            &csrf_token,
            limits,
            Some(client_addr),
            sign_in_entry(
                Some(&credentials.user),
                Outcome::Success,
                client_addr,
                detail,
            ),
        )
        .await?;
    Ok(SignedIn {
        token,
        csrf_token,
        user: credentials.user,
        own_patient_id: credentials.patient_id,
    })
}

/// Checks a signed-in user's own password (to change it or turn two-factor sign-in
/// off), throttled and audited like a sign-in so a borrowed session cannot guess it.
/// A wrong password is a 422 on `field`.
pub(crate) async fn verify_own_password(
    app: &App,
    caller: &Caller,
    password: String,
    audit_action: &str,
    field: &str,
) -> Result<UserCredentials, AppError> {
    let entry = |outcome, detail| AuditEntry {
        detail,
        ..caller.audit(
            audit_action,
            "user",
            Some(caller.actor.user_id.to_string()),
            None,
            outcome,
        )
    };
    let credentials = app
        .store
        .credentials_of(caller.actor.user_id)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
    let attempt = reserve_attempt(
        app,
        &credentials.user.email,
        &caller.client_addr,
        entry,
        |retry_after_seconds| AppError::PasswordThrottled {
            retry_after_seconds,
        },
    )
    .await?;
    if passwords::verify_password(password, Some(credentials.password_hash.clone())).await {
        app.store.release_sign_in_attempt(attempt).await?;
        Ok(credentials)
    } else {
        app.store
            .append_audit(entry(Outcome::Failure, Some("wrong password".into())))
            .await?;
        Err(AppError::field(field, "this is not your current password"))
    }
}

/// An electronic signature's re-authentication: the caller's own password and, when
/// two-factor sign-in is on, a current TOTP code (or a recovery code). Misses are audited
/// under `audit_action` and throttled like sign-ins.
pub(crate) async fn reauthenticate(
    app: &App,
    caller: &Caller,
    password: String,
    totp_code: Option<&str>,
    audit_action: &str,
) -> Result<(), AppError> {
    if password.is_empty() {
        return Err(AppError::field("password", "enter your password to sign"));
    }
    let credentials = verify_own_password(app, caller, password, audit_action, "password").await?;
    if credentials.totp_secret.is_none() {
        return Ok(());
    }
    let Some(second) = second_factor(totp_code, None)? else {
        return Err(AppError::field(
            "totp_code",
            "two-factor sign-in is on: enter the 6-digit code from your authenticator app",
        ));
    };
    check_second_factor(app, &credentials, &second, &caller.client_addr)
        .await
        .map(|_| ())
        .map_err(|error| match error {
            AppError::InvalidSecondFactor => {
                AppError::field("totp_code", "this code is not right, or was already used")
            }
            other => other,
        })
}

/// The live session behind `token`, if any.
pub async fn load_session(app: &App, token: &str) -> Result<Option<SessionRecord>, AppError> {
    Ok(app.store.load_session(&token_hash(token)).await?)
}

/// For a clinician: the open urgent alerts across the patients whose care team they
/// are on, shown on every page they see. `None` for anyone else.
pub async fn open_urgent_alerts(app: &App, caller: &Caller) -> Result<Option<i64>, AppError> {
    match caller.actor.role {
        Role::Clinician => Ok(Some(
            app.store.open_urgent_count(caller.actor.user_id).await?,
        )),
        _ => Ok(None),
    }
}

/// A patient's own record, read only for the country whose crisis contacts to offer on
/// their pages; `None` for anyone else.
pub async fn own_patient(app: &App, caller: &Caller) -> Result<Option<Patient>, AppError> {
    match caller.actor.own_patient_id {
        Some(id) if caller.actor.role == Role::Patient => Ok(app.store.get_patient(id).await?),
        _ => Ok(None),
    }
}

/// Ends the session behind `token_hash` server-side and records the sign-out.
pub async fn sign_out(app: &App, caller: &Caller, token_hash: &str) -> Result<(), AppError> {
    let entry = caller.audit("session.delete", "session", None, None, Outcome::Success);
    Ok(app.store.delete_session(token_hash, entry).await?)
}

/// Removes idled-out sessions and sign-in failures older than the throttle's window.
pub async fn sweep_expired(app: &App) -> Result<u64, AppError> {
    let keep_failures =
        jiff::SignedDuration::from_secs(speciosa_core::account::SignInThrottle::WINDOW_SECONDS);
    Ok(app.store.sweep_expired(keep_failures).await?)
}
