//! The address this server is reached at, for links that leave it (calendar feeds).
//! Read from the request's `Host` header (checked to be a plain host and port), with
//! `https` when the server sets secure cookies, else from the listen address.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::app::AppState;

/// `scheme://host[:port]`, without a trailing slash.
#[derive(Clone, Debug)]
pub struct PublicBase(pub String);

impl FromRequestParts<AppState> for PublicBase {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let scheme = if state.config.secure_cookies {
            "https"
        } else {
            "http"
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| is_authority(h))
            .map_or_else(|| state.config.listen.to_string(), str::to_owned);
        Ok(PublicBase(format!("{scheme}://{host}")))
    }
}

/// A host name or address with an optional port, and nothing else (no user info, path or
/// spaces), so a forged header cannot turn the link into something else.
fn is_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::is_authority;

    #[test]
    fn only_a_host_and_port_make_a_base_address() {
        assert!(is_authority("clinic.example:8443"));
        assert!(is_authority("[::1]:3000"));
        assert!(!is_authority("evil.example/path"));
        assert!(!is_authority("user@clinic.example"));
        assert!(!is_authority(""));
    }
}
