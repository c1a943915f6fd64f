//! Sessions: random bearer tokens in an HttpOnly cookie, stored hashed in the
//! database; sign-in with throttling; sign-out that ends the session server-side.

use axum::http::{HeaderMap, HeaderValue, header};
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};
use speciosa_core::account::{Email, Role, SignInThrottle};
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::PatientId;
use speciosa_store::{SessionLimits, SessionRecord, StoreError, User};

use crate::app::AppState;
use crate::passwords;

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
    Throttled { retry_after_seconds: u64 },
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

/// Checks throttling, then the password; on success starts a session.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: String,
    client_addr: &str,
) -> Result<SignedIn, SignInError> {
    // A malformed email can match no account; it is throttled and audited like any other miss.
    let email = Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| email.trim().to_ascii_lowercase());
    let since = Timestamp::now() - SignedDuration::from_secs(SignInThrottle::WINDOW_SECONDS);
    let failures = state
        .store
        .sign_in_failures_since(&email, client_addr, since)
        .await?;
    let credentials = state.store.find_credentials(&email).await?;
    let user = credentials.as_ref().map(|c| &c.user);

    if SignInThrottle::is_throttled(failures.for_account, failures.from_address) {
        state
            .store
            .append_audit(sign_in_entry(
                user,
                Outcome::Denied,
                client_addr,
                Some(format!("throttled; email={email}")),
            ))
            .await?;
        return Err(SignInError::Throttled {
            retry_after_seconds: SignInThrottle::WINDOW_SECONDS as u64,
        });
    }

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
            .record_sign_in_failure(
                &email,
                client_addr,
                sign_in_entry(user, Outcome::Failure, client_addr, Some(detail)),
            )
            .await?;
        return Err(SignInError::InvalidCredentials);
    }

    let Some(credentials) = credentials else {
        return Err(SignInError::InvalidCredentials);
    };
    let token = new_token();
    let csrf_token = new_token();
    let limits = session_limits_for(state, credentials.user.role);
    state.store.clear_sign_in_failures(&email).await?;
    state
        .store
        .create_session(
            &token_hash(&token),
            credentials.user.id,
            &csrf_token,
            limits,
            Some(client_addr),
            sign_in_entry(Some(&credentials.user), Outcome::Success, client_addr, None),
        )
        .await?;
    Ok(SignedIn {
        token,
        csrf_token,
        user: credentials.user,
        own_patient_id: credentials.patient_id,
    })
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
