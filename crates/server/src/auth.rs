//! Sessions: random bearer tokens in an HttpOnly cookie, stored hashed in the
//! database; sign-in with throttling; sign-out that ends the session server-side.

use axum::http::{HeaderMap, HeaderValue, header};
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};
use speciosa_core::account::{Email, Role, SignInThrottle};
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::{PatientId, UserId};
use speciosa_core::two_factor::{SecondFactor, TotpSecret};
use speciosa_store::{
    SessionLimits, SessionRecord, SignInAttempt, StoreError, User, UserCredentials,
};

use crate::app::AppState;
use speciosa_app::passwords;

pub const SESSION_COOKIE: &str = "speciosa_session";
/// The name over HTTPS. Browsers accept a `__Host-` cookie only with `Secure`,
/// `Path=/` and no `Domain`, so no subdomain or plain-HTTP page can set or shadow it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-speciosa_session";

/// The session cookie's name in this mode (`--secure-cookies` or not).
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// 256 random bits, hex-encoded.
pub fn new_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    let name = session_cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={token}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clearing_cookie(secure: bool) -> HeaderValue {
    let name = session_cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session token from the request's `Cookie` headers, if any. Only the cookie
/// name of the current mode counts: over HTTPS an unprefixed `speciosa_session`,
/// which any subdomain could have planted, is ignored.
pub fn session_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    let wanted = session_cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == wanted && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub struct SignedIn {
    pub token: String,
    pub csrf_token: String,
    pub user: User,
    pub own_patient_id: Option<PatientId>,
}

#[derive(Debug)]
pub enum SignInError {
    InvalidCredentials,
    Throttled {
        retry_after_seconds: u64,
    },
    /// The password was right; the account also needs a TOTP or recovery code.
    SecondFactorRequired {
        user_id: UserId,
    },
    /// The second factor was wrong, expired or already used.
    InvalidSecondFactor,
    /// A page sign-in's second step came too late (or its challenge is unknown).
    ChallengeExpired,
    Store(StoreError),
}

impl From<StoreError> for SignInError {
    fn from(error: StoreError) -> Self {
        SignInError::Store(error)
    }
}

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

/// How long a page sign-in may take between its password and its code.
const CHALLENGE_LIFETIME: SignedDuration = SignedDuration::from_mins(5);

/// Takes a throttling slot before anything is checked (see [`SignInThrottle`]); a
/// refusal is audited.
async fn reserve_attempt(
    state: &AppState,
    email: &str,
    user: Option<&User>,
    client_addr: &str,
    entry: impl FnOnce(Option<&User>, Outcome, Option<String>) -> AuditEntry,
) -> Result<SignInAttempt, SignInError> {
    let reserved = state
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
            state
                .store
                .append_audit(entry(
                    user,
                    Outcome::Denied,
                    Some(format!("throttled; email={email}")),
                ))
                .await?;
            Err(SignInError::Throttled {
                retry_after_seconds: SignInThrottle::WINDOW_SECONDS as u64,
            })
        }
    }
}

/// Takes a throttling slot, then checks the password and, when the account has
/// two-factor sign-in on, `second`; on success starts a session. A failed check keeps
/// its slot, so at most [`SignInThrottle::MAX_FAILURES_PER_ACCOUNT`] checks per account
/// happen per window however many requests arrive at once.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: String,
    second: Option<SecondFactor>,
    client_addr: &str,
) -> Result<SignedIn, SignInError> {
    // A malformed email can match no account; it is throttled and audited like any other miss.
    let email = Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| email.trim().to_ascii_lowercase());
    let credentials = state.store.find_credentials(&email).await?;
    let user = credentials.as_ref().map(|c| &c.user);
    let attempt = reserve_attempt(state, &email, user, client_addr, |u, o, d| {
        sign_in_entry(u, o, client_addr, d)
    })
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
        state
            .store
            .append_audit(sign_in_entry(
                user,
                Outcome::Failure,
                client_addr,
                Some(detail),
            ))
            .await?;
        return Err(SignInError::InvalidCredentials);
    }
    let Some(credentials) = credentials else {
        return Err(SignInError::InvalidCredentials);
    };
    let method = if credentials.totp_secret.is_none() {
        None
    } else {
        let Some(second) = second else {
            // Not a failure: the client learns a code is needed. Only a right password gets here.
            state.store.release_sign_in_attempt(attempt).await?;
            return Err(SignInError::SecondFactorRequired {
                user_id: credentials.user.id,
            });
        };
        Some(check_second_factor(state, &credentials, &second, client_addr).await?)
    };
    start_session(state, &email, credentials, client_addr, method).await
}

/// For a page sign-in whose password was right: a token that lets the second step
/// ask only for the code.
pub async fn begin_second_factor(state: &AppState, user: UserId) -> Result<String, StoreError> {
    let token = new_token();
    state
        .store
        .create_sign_in_challenge(&token_hash(&token), user, CHALLENGE_LIFETIME)
        .await?;
    Ok(token)
}

/// The page sign-in's second step: the code, throttled like a password.
pub async fn complete_second_factor(
    state: &AppState,
    challenge: &str,
    second: SecondFactor,
    client_addr: &str,
) -> Result<SignedIn, SignInError> {
    let challenge_hash = token_hash(challenge);
    let Some(user_id) = state.store.sign_in_challenge(&challenge_hash).await? else {
        return Err(SignInError::ChallengeExpired);
    };
    let credentials = state
        .store
        .credentials_of(user_id)
        .await?
        .filter(|c| c.user.active && c.totp_secret.is_some())
        .ok_or(SignInError::ChallengeExpired)?;
    let email = credentials.user.email.clone();
    reserve_attempt(
        state,
        &email,
        Some(&credentials.user),
        client_addr,
        |u, o, d| sign_in_entry(u, o, client_addr, d),
    )
    .await?;
    let method = check_second_factor(state, &credentials, &second, client_addr).await?;
    state
        .store
        .delete_sign_in_challenge(&challenge_hash)
        .await?;
    start_session(state, &email, credentials, client_addr, Some(method)).await
}

/// Checks a TOTP code (once per time step) or uses up a recovery code; a miss is
/// audited and keeps its throttling slot.
async fn check_second_factor(
    state: &AppState,
    credentials: &UserCredentials,
    second: &SecondFactor,
    client_addr: &str,
) -> Result<&'static str, SignInError> {
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
                    Some(step) => state.store.accept_totp_step(user.id, step).await?,
                    None => false,
                },
                Some(Err(error)) => {
                    crate::error::log_chain("reading a stored TOTP secret", &error);
                    false
                }
                None => false,
            }
        }
        SecondFactor::Recovery(code) => {
            state.store.use_recovery_code(user.id, &code.hash()).await?
        }
    };
    let method = match second {
        SecondFactor::Totp(_) => "totp",
        SecondFactor::Recovery(_) => "recovery code",
    };
    if accepted {
        return Ok(method);
    }
    state
        .store
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
    Err(SignInError::InvalidSecondFactor)
}

async fn start_session(
    state: &AppState,
    email: &str,
    credentials: UserCredentials,
    client_addr: &str,
    second_factor: Option<&'static str>,
) -> Result<SignedIn, SignInError> {
    let token = new_token();
    let csrf_token = new_token();
    let limits = session_limits_for(state, credentials.user.role);
    state.store.clear_sign_in_failures(email).await?;
    let detail = second_factor.map(|method| format!("two-factor: {method}"));
    state
        .store
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

/// Why a signed-in user's password, asked for again, was not accepted.
#[derive(Debug)]
pub enum PasswordCheckError {
    Wrong,
    Throttled { retry_after_seconds: u64 },
    Store(StoreError),
}

impl From<StoreError> for PasswordCheckError {
    fn from(error: StoreError) -> Self {
        PasswordCheckError::Store(error)
    }
}

/// Checks a signed-in user's own password (to change it or turn two-factor sign-in
/// off), throttled and audited like a sign-in so a borrowed session cannot guess it.
pub async fn verify_own_password(
    state: &AppState,
    user: &crate::extract::Authenticated,
    password: String,
    audit_action: &str,
) -> Result<UserCredentials, PasswordCheckError> {
    let entry = |outcome, detail| AuditEntry {
        detail,
        ..user.audit(
            audit_action,
            "user",
            Some(user.actor.user_id.to_string()),
            None,
            outcome,
        )
    };
    let email = user.session.user.email.clone();
    let attempt = match reserve_attempt(
        state,
        &email,
        Some(&user.session.user),
        &user.client_addr,
        |_, outcome, detail| entry(outcome, detail),
    )
    .await
    {
        Ok(attempt) => attempt,
        Err(SignInError::Throttled {
            retry_after_seconds,
        }) => {
            return Err(PasswordCheckError::Throttled {
                retry_after_seconds,
            });
        }
        Err(SignInError::Store(error)) => return Err(error.into()),
        Err(_) => return Err(PasswordCheckError::Wrong),
    };
    let credentials = state
        .store
        .credentials_of(user.actor.user_id)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
    if passwords::verify_password(password, Some(credentials.password_hash.clone())).await {
        state.store.release_sign_in_attempt(attempt).await?;
        Ok(credentials)
    } else {
        state
            .store
            .append_audit(entry(Outcome::Failure, Some("wrong password".into())))
            .await?;
        Err(PasswordCheckError::Wrong)
    }
}

/// Staff sessions idle out sooner and last about one shift; patients keep theirs
/// longer, since they sign in on their own phones to log doses through the day.
pub fn session_limits_for(state: &AppState, role: Role) -> SessionLimits {
    let config = &state.config;
    if role.is_staff() {
        SessionLimits {
            idle: config.staff_idle_timeout,
            lifetime: config.staff_session_lifetime,
        }
    } else {
        SessionLimits {
            idle: config.patient_idle_timeout,
            lifetime: config.patient_session_lifetime,
        }
    }
}

/// Ends the session server-side and records the sign-out.
pub async fn sign_out(
    state: &AppState,
    session: &SessionRecord,
    client_addr: &str,
) -> Result<(), StoreError> {
    let entry = AuditEntry {
        actor_user_id: Some(session.user.id),
        actor_role: Some(session.user.role),
        organization_id: Some(session.user.organization_id),
        action: "session.delete".into(),
        resource_type: "session".into(),
        resource_id: None,
        patient_id: None,
        outcome: Outcome::Success,
        client_addr: Some(client_addr.to_owned()),
        detail: None,
    };
    state.store.delete_session(&session.token_hash, entry).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; speciosa_session=abc123; x=1"),
        );
        assert_eq!(session_token(&headers, false).as_deref(), Some("abc123"));
    }

    #[test]
    fn only_the_cookie_name_of_the_current_mode_is_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("speciosa_session=plain"),
        );
        assert_eq!(session_token(&headers, true), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-speciosa_session=prefixed"),
        );
        assert_eq!(session_token(&headers, false), None);
        assert_eq!(session_token(&headers, true).as_deref(), Some("prefixed"));
    }

    #[test]
    fn cookies_are_secure_only_when_configured() {
        assert!(
            !session_cookie("t", false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
        let secure = session_cookie("t", true);
        let text = secure.to_str().unwrap();
        assert!(text.starts_with("__Host-speciosa_session=t;"), "{text}");
        assert!(text.contains("; Secure") && text.contains("HttpOnly") && text.contains("Path=/"));
        assert!(!text.contains("Domain"));
        let cleared = clearing_cookie(true);
        assert!(
            cleared
                .to_str()
                .unwrap()
                .starts_with("__Host-speciosa_session=;")
        );
    }

    #[test]
    fn constant_time_comparison_matches_only_equal_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
