//! Anyone's own account page (a researcher's start page): details, changing the
//! password, and for staff two-factor sign-in. These pages stay open while a
//! temporary password or a required enrolment blocks every other page.

use askama::Template;
use axum::extract::State;
use axum::extract::rejection::QueryRejection;
use axum::response::{IntoResponse, Redirect, Response};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;
use speciosa_app::account::{self, TotpEnrolment};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::time::Clock;
use crate::pages::{FormErrors, Nav, Notice, home_path, render};

const PASSWORD_LABELS: &[(&str, &str)] = &[
    ("current_password", "Current password"),
    ("new_password", "New password"),
];
const TWO_FACTOR_LABELS: &[(&str, &str)] = &[("code", "Code"), ("password", "Password")];

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    name: String,
    email: String,
    role: &'static str,
    organization: String,
    since: String,
    is_staff: bool,
    password_change_required: bool,
    totp_enabled: bool,
    totp_required: bool,
    errors: FormErrors,
    notice: Option<&'static str>,
    /// When the current calendar feed was made, if there is one.
    calendar_since: Option<String>,
    /// A feed address just made, shown this once.
    calendar_url: Option<String>,
}

async fn account_page(
    state: &AppState,
    user: &Authenticated,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    account_page_with_feed(state, user, errors, notice, None).await
}

/// The account page, with a calendar-feed address just made shown once.
pub(super) async fn account_page_with_feed(
    state: &AppState,
    user: &Authenticated,
    errors: FormErrors,
    notice: Option<&'static str>,
    calendar_url: Option<String>,
) -> Result<Response, PageError> {
    let account = &user.session.user;
    let organization = account::own_organization(&state.app, user).await?;
    let clock = organization
        .as_ref()
        .map_or_else(Clock::utc, |o| Clock::named(o.time_zone.as_str()));
    let organization = organization.map(|o| o.name).unwrap_or_default();
    let calendar_since = speciosa_app::calendar::feed_created(&state.app, user)
        .await?
        .map(|at| clock.minute(at));
    let status = errors.status;
    let page = AccountPage {
        nav: Nav::for_user(user).at("/account"),
        name: account.display_name.clone(),
        email: account.email.clone(),
        role: account.role.as_str(),
        organization,
        since: clock.minute(account.created_at),
        is_staff: account.role.is_staff(),
        password_change_required: account.password_change_required,
        totp_enabled: account.totp_enabled,
        totp_required: account.organization_requires_totp,
        errors,
        notice,
        calendar_since,
        calendar_url,
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<axum::extract::Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("password") => Some("Password changed. You have been signed out everywhere else."),
        Some("two-factor-off") => Some("Two-factor sign-in is off."),
        Some("calendar-revoked") => Some("Calendar feed revoked. Its address no longer works."),
        _ => None,
    };
    account_page(&state, &user, FormErrors::none(), notice).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    submitted: PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    let changed = account::change_own_password(
        &state.app,
        &user,
        form.current_password,
        &form.new_password,
        &user.session.token_hash,
    )
    .await;
    match changed {
        // Someone who had to change a temporary password goes on to their work.
        Ok(()) if user.session.user.password_change_required => {
            Ok(Redirect::to(home_path(user.actor.role)).into_response())
        }
        Ok(()) => Ok(Redirect::to("/account?saved=password#main").into_response()),
        Err(error) => {
            let errors = FormErrors::from_api(ApiError::from(error), PASSWORD_LABELS)?;
            account_page(&state, &user, errors, None).await
        }
    }
}

/// The two-factor page: enrolment (secret, QR code, code field), the recovery codes
/// right after, or, once on, how many recovery codes are left and turning it off.
#[derive(Template)]
#[template(path = "account_two_factor.html")]
struct TwoFactorPage {
    nav: Nav,
    enabled: bool,
    required: bool,
    enrolment: Option<EnrolmentView>,
    /// Shown once, right after turning two-factor sign-in on.
    recovery_codes: Vec<String>,
    unused_recovery_codes: i64,
    errors: FormErrors,
}

struct EnrolmentView {
    /// The base32 secret in groups of four, for typing.
    secret_grouped: String,
    otpauth_uri: String,
    /// An inline SVG QR code of the URI, drawn on the server.
    qr_svg: String,
}

impl EnrolmentView {
    fn new(view: TotpEnrolment) -> Self {
        let secret_grouped = view
            .secret
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        EnrolmentView {
            secret_grouped,
            qr_svg: qr_svg(&view.otpauth_uri),
            otpauth_uri: view.otpauth_uri,
        }
    }
}

/// The URI as an SVG element (no XML prolog, so it can sit inside the page); empty
/// if it cannot be encoded, since the secret is shown as text as well.
fn qr_svg(uri: &str) -> String {
    let Ok(code) = QrCode::new(uri.as_bytes()) else {
        return String::new();
    };
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    image
        .find("<svg")
        .map(|start| image[start..].to_owned())
        .unwrap_or_default()
}

async fn two_factor_page(
    state: &AppState,
    user: &Authenticated,
    recovery_codes: Vec<String>,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let account = &user.session.user;
    let enabled = account.totp_enabled || !recovery_codes.is_empty();
    let status_now = account::two_factor_status(&state.app, user, enabled).await?;
    let enrolment = status_now.enrolment.map(EnrolmentView::new);
    let unused_recovery_codes = status_now.unused_recovery_codes;
    let status = errors.status;
    let page = TwoFactorPage {
        nav: Nav::for_user(user).at("/account"),
        enabled,
        required: account.organization_requires_totp,
        enrolment,
        recovery_codes,
        unused_recovery_codes,
        errors,
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn two_factor(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Response, PageError> {
    two_factor_page(&state, &user, Vec::new(), FormErrors::none()).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn activate_two_factor(
    State(state): State<AppState>,
    submitted: PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    match account::activate_totp(&state.app, &user, &form.code).await {
        Ok(codes) => two_factor_page(&state, &user, codes, FormErrors::none()).await,
        Err(error) => {
            let errors = FormErrors::from_api(ApiError::from(error), TWO_FACTOR_LABELS)?;
            two_factor_page(&state, &user, Vec::new(), errors).await
        }
    }
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    password: String,
}

pub async fn disable_two_factor(
    State(state): State<AppState>,
    submitted: PageForm<DisableForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    match account::disable_totp(&state.app, &user, form.password).await {
        Ok(()) => Ok(Redirect::to("/account?saved=two-factor-off#main").into_response()),
        Err(error) => {
            let errors = FormErrors::from_api(ApiError::from(error), TWO_FACTOR_LABELS)?;
            two_factor_page(&state, &user, Vec::new(), errors).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg_element_without_an_xml_prolog() {
        let svg =
            qr_svg("otpauth://totp/Speciosa:a%40b.test?secret=JBSWY3DPEHPK3PXP&issuer=Speciosa");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<?xml"));
    }
}
