//! Extractors: who is asking ([`ApiUser`], [`PageUser`]), from where ([`ClientAddr`]),
//! and request bodies parsed strictly ([`ApiJson`], [`PageForm`]) with failures
//! mapped to problem+json or a readable page.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use serde::de::DeserializeOwned;

use speciosa_app::Caller;
use speciosa_app::records::SessionRecord;
use speciosa_core::policy::Actor;
use speciosa_core::{FieldError, FieldErrors};

use crate::app::AppState;
use crate::auth;
use crate::error::{ApiError, PageError};
use crate::problems;

/// The client's address: the socket peer, or, when the server is configured to trust
/// its proxies, the `X-Forwarded-For` entry the outermost trusted proxy added.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts, state)))
    }
}

fn client_addr(parts: &Parts, state: &AppState) -> String {
    client_addr_of(&parts.headers, &parts.extensions, state)
}

/// The client's address for a whole request (for middleware).
pub fn request_client_addr(request: &Request, state: &AppState) -> String {
    client_addr_of(request.headers(), request.extensions(), state)
}

fn client_addr_of(
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    state: &AppState,
) -> String {
    if state.config.trust_forwarded_for {
        let headers = headers.get_all("x-forwarded-for");
        if let Some(addr) = forwarded_client(headers, state.config.trusted_proxy_hops) {
            return addr.to_string();
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The client as `hops` trusted proxies report it. Each proxy appends the address it
/// received the request from, so the rightmost `hops` entries are the proxies' own and
/// the `hops`-th from the right is whoever reached the outermost one; everything to its
/// left came from the client and may be forged. Several header lines are one list, in
/// order. `None` (use the socket peer) when any trusted entry is not an IP address, or
/// when there are fewer entries than hops: the request then bypassed a proxy, and the
/// entries present may all be the client's own.
pub fn forwarded_client<'a>(
    headers: impl IntoIterator<Item = &'a HeaderValue>,
    hops: usize,
) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    let joined = headers
        .into_iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(",");
    if joined.trim().is_empty() {
        return None;
    }
    let entries: Vec<&str> = joined.split(',').map(str::trim).collect();
    let trusted = entries.get(entries.len().checked_sub(hops)?..)?;
    let addresses: Vec<IpAddr> = trusted
        .iter()
        .map(|entry| forwarded_ip(entry))
        .collect::<Option<_>>()?;
    addresses.first().copied()
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, also as some proxies write
/// it with a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
}

/// A signed-in user, their session, and where they are calling from.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub session: SessionRecord,
    /// Who acts and from where: what every use case is given.
    pub caller: Caller,
    /// For clinicians on pages: open urgent alerts across their patients, shown on
    /// every page they see.
    pub open_urgent_alerts: Option<i64>,
}

impl Authenticated {
    pub(crate) fn from_session(session: SessionRecord, client_addr: String) -> Self {
        let actor = Actor {
            user_id: session.user.id,
            organization_id: session.user.organization_id,
            role: session.user.role,
            own_patient_id: session.own_patient_id,
        };
        Self {
            session,
            caller: Caller::new(actor, client_addr),
            open_urgent_alerts: None,
        }
    }
}

/// Use cases take the caller; a handler passes its `&Authenticated` as it is.
impl std::ops::Deref for Authenticated {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

async fn load_session(parts: &Parts, state: &AppState) -> Result<Option<Authenticated>, ApiError> {
    let Some(token) = auth::session_token(&parts.headers, state.config.secure_cookies) else {
        return Ok(None);
    };
    let session = speciosa_app::sessions::load_session(&state.app, &token).await?;
    Ok(session.map(|s| Authenticated::from_session(s, client_addr(parts, state))))
}

/// What a signed-in user must do before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountGate {
    /// An admin set a temporary password.
    ChangePassword,
    /// The organization requires staff to use two-factor sign-in, and this user has not.
    EnrolTwoFactor,
}

/// Where a gated user may still go: their own account, their session and signing out.
const UNGATED_PATHS: [&str; 4] = ["/api/v1/session", "/api/v1/account", "/account", "/logout"];

impl AccountGate {
    pub fn for_user(user: &speciosa_app::records::User) -> Option<AccountGate> {
        if user.password_change_required {
            Some(AccountGate::ChangePassword)
        } else if user.must_enrol_totp() {
            Some(AccountGate::EnrolTwoFactor)
        } else {
            None
        }
    }

    fn blocking(user: &Authenticated, path: &str) -> Option<AccountGate> {
        let ungated = UNGATED_PATHS.iter().any(|open| {
            path.strip_prefix(open)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if ungated {
            None
        } else {
            Self::for_user(&user.session.user)
        }
    }

    /// The page that resolves the gate.
    pub fn page(self) -> &'static str {
        match self {
            AccountGate::ChangePassword => "/account#change-password",
            AccountGate::EnrolTwoFactor => "/account/two-factor",
        }
    }

    fn problem(self) -> ApiError {
        match self {
            AccountGate::ChangePassword => ApiError::new(
                problems::PASSWORD_CHANGE_REQUIRED,
                "password change required: an administrator set a temporary password; change it with PUT /api/v1/account/password first",
            ),
            AccountGate::EnrolTwoFactor => ApiError::new(
                problems::TWO_FACTOR_ENROLMENT_REQUIRED,
                "two-factor sign-in required: your organization requires it for staff; turn it on with POST /api/v1/account/totp first",
            ),
        }
    }
}

/// The request's path as the client sent it (nested routers see it without their prefix).
fn full_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|uri| uri.0.path())
        .unwrap_or_else(|| parts.uri.path())
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// An API caller with a live session. State-changing requests must also carry
/// the session's CSRF token in `X-CSRF-Token`.
#[derive(Clone, Debug)]
pub struct ApiUser(pub Authenticated);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = load_session(parts, state)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if let Some(gate) = AccountGate::blocking(&user, full_path(parts)) {
            return Err(gate.problem());
        }
        if is_state_changing(&parts.method) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !auth::constant_time_eq(sent, &user.session.csrf_token) {
                return Err(ApiError::new(
                    problems::CSRF,
                    "send the session's csrf_token (returned at sign-in) in the X-CSRF-Token header",
                ));
            }
        }
        Ok(ApiUser(user))
    }
}

/// A page visitor with a live session; anyone else is sent to sign in.
#[derive(Clone, Debug)]
pub struct PageUser(pub Authenticated);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match load_session(parts, state).await? {
            Some(mut user) => {
                if let Some(gate) = AccountGate::blocking(&user, full_path(parts)) {
                    return Err(PageError::Redirect(gate.page()));
                }
                user.open_urgent_alerts =
                    speciosa_app::sessions::open_urgent_alerts(&state.app, &user).await?;
                Ok(PageUser(user))
            }
            None => {
                let next = if parts.method == Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                Err(PageError::SignIn { next })
            }
        }
    }
}

/// The visitor's session if there is one (for the sign-in page).
pub struct MaybePageUser(pub Option<Authenticated>);

impl FromRequestParts<AppState> for MaybePageUser {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybePageUser(load_session(parts, state).await?))
    }
}

/// A JSON body parsed strictly: wrong content type, malformed JSON, wrong types,
/// missing or unknown fields and oversize bodies each get a clear 4xx.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || v.to_ascii_lowercase().ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                problems::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul_in_json(bytes)?;
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".to_owned() } else { path };
                ApiError::from(FieldErrors {
                    errors: vec![FieldError {
                        field,
                        detail: inner.to_string(),
                    }],
                })
            }
            _ => ApiError::new(
                problems::MALFORMED_REQUEST,
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })
}

/// NUL can reach a JSON string only as the escape `\u0000`; PostgreSQL cannot store it
/// in text and SQLite would, so it is refused before either sees it, naming where it is.
fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    let escaped = bytes
        .windows(6)
        .any(|w| w[..2] == *b"\\u" && w[2..].iter().all(|b| *b == b'0'));
    if !escaped {
        return Ok(());
    }
    // Malformed JSON is reported by the typed parse that follows.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match nul_path(&value, String::new()) {
        None => Ok(()),
        Some(path) => Err(nul_error(if path.is_empty() {
            "body".into()
        } else {
            path
        })),
    }
}

/// The path (as `serde_path_to_error` spells it: `a.b[2]`) of the first string or key
/// holding a NUL character.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            let inner = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(inner)
            } else {
                nul_path(item, inner)
            }
        }),
        _ => None,
    }
}

/// The 422 for a field holding a NUL character.
pub fn nul_error(field: impl Into<String>) -> ApiError {
    FieldErrors::single(field, "text must not contain NUL characters").into()
}

/// The first of `pairs` (form fields, query parameters) whose name or value holds NUL.
pub fn nul_field(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.as_str())
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            problems::PAYLOAD_TOO_LARGE,
            "the request body is larger than the server accepts",
        )
    } else {
        ApiError::new(problems::MALFORMED_REQUEST, rejection.body_text())
    }
}

/// Query parameters, with a problem+json for unreadable ones.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Reads query parameters; a value that does not fit its field (an out-of-range date, a
/// word where a number belongs) is a 422 naming the parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if query.contains("%00") {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        if let Some(field) = nul_field(&pairs) {
            return Err(nul_error(field));
        }
    }
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let detail = error.into_inner().to_string();
        if path == "." {
            ApiError::new(
                problems::MALFORMED_REQUEST,
                format!("the query string could not be read: {detail}"),
            )
        } else {
            FieldErrors::single(path, detail).into()
        }
    })
}

/// A path parameter; one that does not parse (not a UUID) names nothing, so 404.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| ApiError::new(problems::NOT_FOUND, "nothing exists at this address"))
    }
}

/// A submitted page form from a signed-in user, with its CSRF token checked.
pub struct PageForm<T> {
    pub user: Authenticated,
    pub form: T,
    /// Every field in order, for repeated names such as checkbox groups.
    pub pairs: Vec<(String, String)>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let PageUser(user) = PageUser::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(body_rejection)?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            ApiError::new(
                problems::MALFORMED_REQUEST,
                format!("the form could not be read: {e}"),
            )
        })?;
        let sent = pairs
            .iter()
            .find(|(k, _)| k == "csrf_token")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !auth::constant_time_eq(sent, &user.session.csrf_token) {
            return Err(ApiError::new(
                problems::CSRF,
                "this form has expired or did not come from Speciosa; go back, reload the page and try again",
            )
            .into());
        }
        if let Some(field) = nul_field(&pairs) {
            return Err(nul_error(field).into());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            ApiError::new(
                problems::MALFORMED_REQUEST,
                format!("the form could not be read: {e}"),
            )
        })?;
        Ok(PageForm { user, form, pairs })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use speciosa_core::time::ClinicalDate;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Range {
        from: Option<ClinicalDate>,
        #[serde(default)]
        include_history: bool,
    }

    fn fields(error: &ApiError) -> Vec<&str> {
        error.errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_query_value_that_does_not_fit_its_field_is_a_422_naming_it() {
        let error = parse_query::<Range>("from=9999-12-29").unwrap_err();
        assert_eq!(error.kind, problems::VALIDATION);
        assert_eq!(fields(&error), ["from"]);
        assert!(error.errors[0].detail.contains("out of range"));
        let error = parse_query::<Range>("include_history=maybe").unwrap_err();
        assert_eq!(fields(&error), ["include_history"]);
        let error = parse_query::<Range>("from=2026-01-01&x=%00").unwrap_err();
        assert_eq!(fields(&error), ["x"]);
        let range = parse_query::<Range>("from=2026-01-01").unwrap();
        assert!(range.from.is_some() && !range.include_history);
    }

    #[test]
    fn nul_anywhere_in_a_json_body_is_refused_at_its_path() {
        #[derive(Debug, Deserialize)]
        struct Body {
            #[allow(dead_code)]
            answers: serde_json::Value,
        }
        let body = br#"{"answers": {"items": [1, "a\u0000b"]}}"#;
        let error = parse_json::<Body>(body).unwrap_err();
        assert_eq!(fields(&error), ["answers.items[1]"]);
        let error = parse_json::<serde_json::Value>(br#""\u0000""#).unwrap_err();
        assert_eq!(fields(&error), ["body"]);
        // An escaped backslash followed by "u0000" is text, not NUL.
        assert!(parse_json::<Body>(br#"{"answers": "\\u0000"}"#).is_ok());
    }

    #[test]
    fn form_pairs_name_the_field_holding_nul() {
        let pairs = vec![
            ("name".to_owned(), "ok".to_owned()),
            ("note".to_owned(), "a\0b".to_owned()),
        ];
        assert_eq!(nul_field(&pairs), Some("note"));
        assert_eq!(nul_field(&pairs[..1]), None);
    }

    fn client(lines: &[&str], hops: usize) -> Option<String> {
        let values: Vec<HeaderValue> = lines
            .iter()
            .map(|l| HeaderValue::from_str(l).unwrap())
            .collect();
        forwarded_client(&values, hops).map(|ip| ip.to_string())
    }

    #[test]
    fn behind_one_proxy_the_rightmost_entry_is_the_client_and_forged_ones_are_ignored() {
        assert_eq!(
            client(&["198.51.100.7"], 1).as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(
            client(&["203.0.113.66, 10.9.9.9, 198.51.100.7"], 1).as_deref(),
            Some("198.51.100.7")
        );
    }

    #[test]
    fn behind_two_proxies_the_second_entry_from_the_right_is_the_client() {
        assert_eq!(
            client(&["203.0.113.66, 198.51.100.7, 10.0.0.2"], 2).as_deref(),
            Some("198.51.100.7")
        );
    }

    #[test]
    fn fewer_entries_than_proxies_means_the_socket_peer_is_used() {
        assert_eq!(client(&["203.0.113.66"], 2), None);
        assert_eq!(client(&[], 1), None);
        assert_eq!(client(&["  "], 1), None);
    }

    #[test]
    fn a_trusted_entry_that_is_not_an_address_means_the_socket_peer_is_used() {
        assert_eq!(client(&["198.51.100.7, unknown"], 1), None);
        assert_eq!(client(&["198.51.100.7, "], 1), None);
        assert_eq!(client(&["<script>, 198.51.100.7"], 2), None);
        assert_eq!(client(&["198.51.100.7, 10.0.0.2, nonsense"], 2), None);
        // Garbage the client put further left does not matter.
        assert_eq!(
            client(&["<script>, 198.51.100.7"], 1).as_deref(),
            Some("198.51.100.7")
        );
    }

    #[test]
    fn several_header_lines_are_read_as_one_list_in_order() {
        assert_eq!(
            client(&["203.0.113.66", "198.51.100.7"], 1).as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(
            client(&["203.0.113.66, 198.51.100.7", "10.0.0.2"], 2).as_deref(),
            Some("198.51.100.7")
        );
    }

    #[test]
    fn ipv6_and_addresses_with_ports_are_read_as_addresses() {
        assert_eq!(client(&["2001:db8::1"], 1).as_deref(), Some("2001:db8::1"));
        assert_eq!(
            client(&["[2001:db8::1]:4711"], 1).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(client(&["192.0.2.1:4711"], 1).as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn non_ascii_bytes_from_the_client_do_not_hide_the_proxy_entry() {
        let values = [
            HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.66").unwrap(),
            HeaderValue::from_static("198.51.100.7"),
        ];
        assert_eq!(
            forwarded_client(&values, 1)
                .map(|ip| ip.to_string())
                .as_deref(),
            Some("198.51.100.7")
        );
    }
}
