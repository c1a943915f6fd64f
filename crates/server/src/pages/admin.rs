//! Administrators' pages: accounts and the audit log.

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::time::Clock;
use crate::pages::{Choice, FormErrors, Nav, Notice, render};
use crate::problems;
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_app::audit::{self, AuditCriteria};
use speciosa_app::organization;
use speciosa_app::records::User;
use speciosa_app::users::{self, NewStaffUser};
use speciosa_core::FieldErrors;
use speciosa_core::account::Role;
use speciosa_core::audit::AdminAuditEvent;
use speciosa_core::ids::UserId;

const USER_LABELS: &[(&str, &str)] = &[
    ("display_name", "Name"),
    ("email", "Email"),
    ("role", "Role"),
    ("password", "Password"),
    ("active", "Active"),
    ("temporary_password", "Temporary password"),
];
const AUDIT_LABELS: &[(&str, &str)] = &[
    ("action", "Action"),
    ("outcome", "Outcome"),
    ("patient_id", "Patient id"),
    ("actor_user_id", "Actor user id"),
    ("since", "From"),
    ("until", "To"),
    ("before_id", "Older than event"),
    ("limit", "Page size"),
];

struct UserRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    active: bool,
    created: String,
    is_you: bool,
    totp_enabled: bool,
    password_change_required: bool,
}

/// The create-account form as typed; the password is never shown back.
#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserRow>,
    form: NewUserForm,
    roles: Vec<Choice>,
    errors: FormErrors,
    /// A refused activation, deactivation or temporary password.
    row_errors: FormErrors,
    notice: Option<String>,
    /// The organization requires staff to sign in with two factors.
    require_staff_totp: bool,
}

async fn users_page(
    state: &AppState,
    user: &Authenticated,
    form: NewUserForm,
    errors: FormErrors,
    row_errors: FormErrors,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let mut users = users::list_users(&state.app, user, None).await?;
    users.sort_by_key(|u| (u.role.as_str(), u.display_name.to_lowercase()));
    let require_staff_totp = organization::read_organization(&state.app, user)
        .await?
        .require_staff_totp;
    let status = errors.status.max(row_errors.status);
    let page = UsersPage {
        nav: Nav::for_user(user).at("/admin/users"),
        users: users.iter().map(|u| user_row(u, user)).collect(),
        // Never echo a password.
        form: NewUserForm {
            password: String::new(),
            ..form
        },
        roles: Choice::from_codes(
            [Role::Clinician, Role::Researcher, Role::Admin].map(Role::as_str),
        ),
        errors,
        row_errors,
        notice,
        require_staff_totp,
    };
    Ok((status, render(&page)?).into_response())
}

fn user_row(u: &User, viewer: &Authenticated) -> UserRow {
    UserRow {
        id: u.id.to_string(),
        name: u.display_name.clone(),
        email: u.email.clone(),
        role: u.role.as_str(),
        active: u.active,
        created: u.created_at.strftime("%Y-%m-%d").to_string(),
        is_you: u.id == viewer.actor.user_id,
        totp_enabled: u.totp_enabled,
        password_change_required: u.password_change_required,
    }
}

pub async fn users(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("created") => {
            Some("Account created. Give the person their password privately.".to_owned())
        }
        Some("activated") => Some("Account activated.".to_owned()),
        Some("deactivated") => Some("Account deactivated and its sessions ended.".to_owned()),
        Some("temporary-password") => Some(
            "Temporary password set and the person's sessions ended. Give it to them privately: they must choose their own when they next sign in."
                .to_owned(),
        ),
        Some("two-factor-required") => Some(
            "Two-factor sign-in is now required for staff. Staff without it are asked to set it up when they next open a page."
                .to_owned(),
        ),
        Some("two-factor-optional") => {
            Some("Two-factor sign-in is no longer required for staff.".to_owned())
        }
        _ => None,
    };
    users_page(
        &state,
        &user,
        NewUserForm::default(),
        FormErrors::none(),
        FormErrors::none(),
        notice,
    )
    .await
}

pub async fn create_user(
    State(state): State<AppState>,
    submitted: PageForm<NewUserForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    let created = users::create_user(
        &state.app,
        &user,
        NewStaffUser {
            email: &form.email,
            password: &form.password,
            role: &form.role,
            display_name: &form.display_name,
        },
    )
    .await;
    match created {
        Ok(_) => Ok(Redirect::to("/admin/users?saved=created#main").into_response()),
        Err(error) => {
            let errors = FormErrors::from_api(error.into(), USER_LABELS)?;
            users_page(&state, &user, form, errors, FormErrors::none(), None).await
        }
    }
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
}

pub async fn set_user_active(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<ActiveForm>,
) -> Result<Response, PageError> {
    let id: UserId = id.parse().map_err(|_| ApiError::not_found("user"))?;
    let PageForm { user, form, .. } = submitted;
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(
                ApiError::new(problems::MALFORMED_REQUEST, "active must be true or false").into(),
            );
        }
    };
    match users::set_user_active(&state.app, &user, id, active).await {
        Ok(_) => {
            let saved = if active { "activated" } else { "deactivated" };
            Ok(Redirect::to(&format!("/admin/users?saved={saved}#main")).into_response())
        }
        Err(error) => {
            let row_errors = FormErrors::from_api(error.into(), USER_LABELS)?;
            users_page(
                &state,
                &user,
                NewUserForm::default(),
                FormErrors::none(),
                row_errors,
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct TemporaryPasswordForm {
    #[serde(default)]
    temporary_password: String,
}

pub async fn set_user_password(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<TemporaryPasswordForm>,
) -> Result<Response, PageError> {
    let id: UserId = id.parse().map_err(|_| ApiError::not_found("user"))?;
    let PageForm { user, form, .. } = submitted;
    match users::set_temporary_password(&state.app, &user, id, &form.temporary_password).await {
        Ok(_) => Ok(Redirect::to("/admin/users?saved=temporary-password#main").into_response()),
        Err(error) => {
            let row_errors = FormErrors::from_api(error.into(), USER_LABELS)?;
            users_page(
                &state,
                &user,
                NewUserForm::default(),
                FormErrors::none(),
                row_errors,
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct RequireTwoFactorForm {
    #[serde(default)]
    require_staff_totp: String,
}

pub async fn set_require_two_factor(
    State(state): State<AppState>,
    submitted: PageForm<RequireTwoFactorForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    let required = match form.require_staff_totp.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(ApiError::new(
                problems::MALFORMED_REQUEST,
                "require_staff_totp must be true or false",
            )
            .into());
        }
    };
    organization::set_require_staff_totp(&state.app, &user, required).await?;
    let saved = if required {
        "two-factor-required"
    } else {
        "two-factor-optional"
    };
    Ok(Redirect::to(&format!("/admin/users?saved={saved}#main")).into_response())
}

/// The audit filter form as typed.
#[derive(Deserialize, Default, Clone)]
pub struct AuditFilterForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    actor_user_id: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    before_id: String,
}

impl AuditFilterForm {
    fn to_query(&self) -> Result<AuditCriteria, FieldErrors> {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let before_id = match text(&self.before_id) {
            None => None,
            Some(raw) => Some(
                raw.parse::<i64>()
                    .map_err(|_| FieldErrors::single("before_id", "must be an event number"))?,
            ),
        };
        Ok(AuditCriteria {
            action: text(&self.action),
            outcome: text(&self.outcome),
            patient_id: text(&self.patient_id),
            actor_user_id: text(&self.actor_user_id),
            since: text(&self.since),
            until: text(&self.until),
            before_id,
            limit: Some(50),
        })
    }

    /// This page's address with the same filters and another `before_id`.
    fn href(&self, before_id: Option<i64>) -> String {
        let before = before_id.map(|id| id.to_string()).unwrap_or_default();
        let pairs: Vec<(&str, &str)> = [
            ("action", self.action.trim()),
            ("outcome", self.outcome.trim()),
            ("patient_id", self.patient_id.trim()),
            ("actor_user_id", self.actor_user_id.trim()),
            ("since", self.since.trim()),
            ("until", self.until.trim()),
            ("before_id", before.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        if query.is_empty() {
            "/admin/audit".to_owned()
        } else {
            format!("/admin/audit?{query}")
        }
    }

    fn is_filtered(&self) -> bool {
        [
            &self.action,
            &self.outcome,
            &self.patient_id,
            &self.actor_user_id,
            &self.since,
            &self.until,
        ]
        .iter()
        .any(|v| !v.trim().is_empty())
    }
}

/// A UUID written short for reading: its last 12 hex digits (the random part of a
/// UUIDv7; its first digits are a timestamp, shared by ids made together).
fn short_id(id: &str) -> String {
    match id.rsplit_once('-') {
        Some((_, tail)) if id.len() == 36 => format!("…{tail}"),
        _ => id.to_owned(),
    }
}

struct EventRow {
    id: i64,
    at: String,
    actor_id: String,
    actor_short: String,
    actor_name: String,
    actor_role: String,
    actor_href: String,
    action: String,
    resource_type: String,
    resource_id: String,
    resource_short: String,
    patient_id: String,
    patient_short: String,
    patient_href: String,
    outcome: String,
    client_addr: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    nav: Nav,
    filters: AuditFilterForm,
    outcomes: Vec<Choice>,
    errors: FormErrors,
    events: Vec<EventRow>,
    filtered: bool,
    paged: bool,
    newest_href: String,
    older_href: Option<String>,
    clear_href: &'static str,
    /// The zone the date filter and the times are read in.
    zone_name: String,
}

fn event_row(event: &AdminAuditEvent, users: &[User], clock: &Clock) -> EventRow {
    let actor = event
        .actor_user_id
        .and_then(|id| users.iter().find(|u| u.id == id));
    let actor_id = event
        .actor_user_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let patient_id = event
        .patient_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let resource_id = event.resource_id.clone().unwrap_or_default();
    let filter = |name: &str, value: &str| {
        format!(
            "/admin/audit?{}",
            serde_urlencoded::to_string([(name, value)]).unwrap_or_default()
        )
    };
    EventRow {
        id: event.id,
        at: clock.second(event.occurred_at),
        actor_short: short_id(&actor_id),
        actor_href: filter("actor_user_id", &actor_id),
        actor_id,
        actor_name: actor.map(|u| u.display_name.clone()).unwrap_or_default(),
        actor_role: event.actor_role.clone().unwrap_or_default(),
        action: event.action.clone(),
        resource_type: event.resource_type.clone(),
        resource_short: short_id(&resource_id),
        resource_id,
        patient_short: short_id(&patient_id),
        patient_href: filter("patient_id", &patient_id),
        patient_id,
        outcome: event.outcome.clone(),
        client_addr: event.client_addr.clone().unwrap_or_default(),
        detail: event.detail.clone().unwrap_or_default(),
    }
}

pub async fn audit(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    query: Result<Query<AuditFilterForm>, QueryRejection>,
) -> Result<Response, PageError> {
    let filters = query
        .map(|Query(f)| f)
        .map_err(|rejection| ApiError::new(problems::MALFORMED_REQUEST, rejection.body_text()))?;
    let result = match filters.to_query() {
        Ok(criteria) => audit::browse_audit_log(&state.app, &user, &criteria)
            .await
            .map_err(ApiError::from),
        Err(error) => {
            // Bad paging alone still goes through the policy before the form is shown.
            audit::may_read_audit_log(&state.app, &user).await?;
            Err(ApiError::from(error))
        }
    };
    let (events, next_before_id, errors) = match result {
        Ok(page) => (page.events, page.next_before_id, FormErrors::none()),
        Err(error) => (Vec::new(), None, FormErrors::from_api(error, AUDIT_LABELS)?),
    };
    // Names make the log readable; ids stay for filtering.
    let users = users::list_users(&state.app, &user, None).await?;
    // Events read in the organization's zone, named on each.
    let clock = Clock::organization(&state, &user).await?;
    let page = AuditPage {
        nav: Nav::for_user(&user).at("/admin/audit"),
        outcomes: Choice::from_codes(["success", "denied", "failure"]),
        events: events
            .iter()
            .map(|e| event_row(e, &users, &clock))
            .collect(),
        filtered: filters.is_filtered(),
        paged: !filters.before_id.trim().is_empty(),
        newest_href: filters.href(None),
        older_href: next_before_id.map(|id| filters.href(Some(id))),
        clear_href: "/admin/audit",
        zone_name: clock.zone_name().to_owned(),
        errors,
        filters,
    };
    Ok((page.errors.status, render(&page)?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_links_keep_the_filters_and_drop_empty_ones() {
        let filters = AuditFilterForm {
            action: "patient.".into(),
            outcome: "denied".into(),
            ..Default::default()
        };
        assert_eq!(
            filters.href(Some(42)),
            "/admin/audit?action=patient.&outcome=denied&before_id=42"
        );
        assert_eq!(AuditFilterForm::default().href(None), "/admin/audit");
    }

    #[test]
    fn ids_are_shortened_to_their_random_tail() {
        assert_eq!(
            short_id("01a20eae-067f-774a-9b9e-d7db9f7880c6"),
            "…d7db9f7880c6"
        );
        assert_eq!(short_id("session"), "session");
    }
}
