//! The catalogue of problem types (RFC 9457 `type`). Each is a stable URI path
//! that also serves a short human explanation at `/problems/{slug}`.

use axum::http::StatusCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProblemType {
    pub slug: &'static str,
    pub title: &'static str,
    pub status: StatusCode,
    pub explanation: &'static str,
}

macro_rules! problems {
    ($($name:ident = $slug:literal, $status:ident, $title:literal, $explanation:literal;)+) => {
        $(pub const $name: ProblemType = ProblemType {
            slug: $slug,
            title: $title,
            status: StatusCode::$status,
            explanation: $explanation,
        };)+
        pub const ALL: &[ProblemType] = &[$($name),+];
    };
}

problems! {
    MALFORMED_REQUEST = "malformed-request", BAD_REQUEST, "Malformed request",
        "The request body is not well-formed JSON (or form data), or a query parameter could not be read.";
    VALIDATION = "validation", UNPROCESSABLE_ENTITY, "Invalid input",
        "The request was well-formed but one or more fields are invalid. `errors` lists each field and why.";
    UNAUTHENTICATED = "unauthenticated", UNAUTHORIZED, "Sign-in required",
        "This route needs a session. Sign in with POST /api/v1/session and send the session cookie.";
    INVALID_CREDENTIALS = "invalid-credentials", UNAUTHORIZED, "Email or password did not match",
        "The email and password did not match an active account.";
    CSRF = "csrf", FORBIDDEN, "Missing or wrong CSRF token",
        "State-changing requests made with a session cookie must carry the session's CSRF token in X-CSRF-Token (API) or the csrf_token form field (pages).";
    FORBIDDEN = "forbidden", FORBIDDEN, "Not permitted",
        "Your role, or your place on the patient's care team, does not allow this.";
    NOT_FOUND = "not-found", NOT_FOUND, "Not found",
        "There is no such resource, or it is outside what you may see.";
    METHOD_NOT_ALLOWED = "method-not-allowed", METHOD_NOT_ALLOWED, "Method not allowed",
        "This route does not accept that HTTP method.";
    CONFLICT = "conflict", CONFLICT, "Conflict",
        "The request conflicts with existing data, such as an email address already in use.";
    PAYLOAD_TOO_LARGE = "payload-too-large", PAYLOAD_TOO_LARGE, "Request body too large",
        "The request body exceeds the server's limit.";
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type",
        "Send JSON with Content-Type: application/json.";
    TOO_MANY_SIGN_IN_FAILURES = "too-many-sign-in-failures", TOO_MANY_REQUESTS, "Too many failed sign-ins",
        "Sign-in is paused after repeated failures for this account or from this address. Wait for the time in Retry-After.";
    TIMEOUT = "timeout", REQUEST_TIMEOUT, "Request timed out",
        "The server did not finish the request in time. Nothing was half-written; retrying is safe.";
    UNAVAILABLE = "unavailable", SERVICE_UNAVAILABLE, "Service unavailable",
        "The database cannot be reached right now.";
    INTERNAL = "internal", INTERNAL_SERVER_ERROR, "Internal error",
        "Something failed on the server. It has been logged; nothing was half-written.";
    SECOND_FACTOR_REQUIRED = "second-factor-required", UNAUTHORIZED, "Two-factor code required",
        "The email and password were right, and this account signs in with two factors: send them again with `totp_code` (the 6-digit code from the authenticator app) or `recovery_code` (one of the recovery codes shown at enrolment).";
    INVALID_SECOND_FACTOR = "invalid-second-factor", UNAUTHORIZED, "Two-factor code did not match",
        "The two-factor code was wrong, too old, or already used (each code works once). Wait for the next code, or use a recovery code. Failed codes count towards sign-in throttling.";
    PASSWORD_CHANGE_REQUIRED = "password-change-required", FORBIDDEN, "Password change required",
        "An administrator set a temporary password for this account. Change it with PUT /api/v1/account/password (or on the /account page) before doing anything else.";
    TWO_FACTOR_ENROLMENT_REQUIRED = "two-factor-enrolment-required", FORBIDDEN, "Two-factor sign-in required",
        "Your organization requires staff to sign in with two factors. Turn it on with POST /api/v1/account/totp and POST /api/v1/account/totp/activate (or on the /account/two-factor page) before doing anything else.";
}

impl ProblemType {
    pub fn uri(&self) -> String {
        format!("/problems/{}", self.slug)
    }

    pub fn for_status(status: StatusCode) -> ProblemType {
        ALL.iter()
            .copied()
            .find(|p| p.status == status)
            .unwrap_or(ProblemType {
                slug: "http-error",
                title: "Request failed",
                status,
                explanation: "The request failed.",
            })
    }

    pub fn by_slug(slug: &str) -> Option<ProblemType> {
        ALL.iter().copied().find(|p| p.slug == slug)
    }
}
