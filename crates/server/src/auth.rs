//! Sessions on the wire: the bearer token in an HttpOnly cookie and the durations the
//! server's flags give them. Signing in and out are use cases in `speciosa_app::sessions`.

use axum::http::{HeaderMap, HeaderValue, header};
use speciosa_app::records::SessionLimits;
use speciosa_app::sessions::SessionDurations;

use crate::app::AppState;

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

/// How long sessions last under this server's flags.
pub fn session_durations(state: &AppState) -> SessionDurations {
    let config = &state.config;
    SessionDurations {
        staff: SessionLimits {
            idle: config.staff_idle_timeout,
            lifetime: config.staff_session_lifetime,
        },
        patient: SessionLimits {
            idle: config.patient_idle_timeout,
            lifetime: config.patient_session_lifetime,
        },
    }
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
