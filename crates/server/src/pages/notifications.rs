//! How Speciosa reaches people, as pages: each user's channels, quiet hours and
//! reminders (`/account/notifications`), and the admins' on-call list, webhook and
//! delivery log (`/admin/notifications`).

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;
use speciosa_app::notify::{self, PreferencesView};
use speciosa_app::records::Notification;
use speciosa_core::account::Role;
use speciosa_core::ids::UserId;
use speciosa_core::notify::{Channel, PreferencesInput, format_clock};

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::time::Clock;
use crate::pages::{FormErrors, Nav, NoFields, Notice, render};

const PREFERENCE_LABELS: &[(&str, &str)] = &[
    ("channels", "Channels"),
    ("quiet_hours.start", "Quiet hours start"),
    ("quiet_hours.end", "Quiet hours end"),
    ("check_in_reminder", "Check-in reminder"),
    ("dose_reminders", "Dose reminders"),
];

struct ChannelChoice {
    value: &'static str,
    label: &'static str,
    hint: &'static str,
    checked: bool,
    available: bool,
}

#[derive(Template)]
#[template(path = "account_notifications.html")]
struct PreferencesPage {
    nav: Nav,
    is_patient: bool,
    is_clinician: bool,
    channels: Vec<ChannelChoice>,
    quiet_start: String,
    quiet_end: String,
    check_in_reminder: String,
    dose_reminders: bool,
    visit_reminders: bool,
    /// "Check-in reminder: Thu 3 Dec, 08:30 (Europe/Berlin)".
    next: Vec<String>,
    time_zone: String,
    escalation_minutes: i64,
    email_configured: bool,
    errors: FormErrors,
    notice: Option<&'static str>,
}

fn page_of(
    state: &AppState,
    user: &Authenticated,
    view: &PreferencesView,
    typed: Option<&Typed>,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> PreferencesPage {
    let p = &view.preferences;
    let chosen = |c: Channel| match typed {
        Some(t) => t.channels.iter().any(|v| v == c.as_str()),
        None => p.channels.contains(&c),
    };
    let channels = vec![
        ChannelChoice {
            value: "email",
            label: "E-mail",
            hint: "To the address you sign in with.",
            checked: chosen(Channel::Email),
            available: true,
        },
        ChannelChoice {
            value: "push",
            label: "Notifications on your devices",
            hint: "Turn them on below, on each phone or computer where you want them.",
            checked: chosen(Channel::Push),
            available: true,
        },
        ChannelChoice {
            value: "webhook",
            label: "Pager or text message",
            hint: "Through your clinic's paging or SMS gateway.",
            checked: chosen(Channel::Webhook),
            available: view.organization_has_webhook,
        },
    ];
    let zone = view.time_zone.clone().unwrap_or_default();
    let clock = if zone.is_empty() {
        Clock::utc()
    } else {
        Clock::named(&zone)
    };
    let next = view
        .reminders
        .iter()
        .map(|(reminder, at)| {
            let what = match reminder.as_str() {
                "check_in" => "Check-in reminder",
                "dose" => "Dose-time reminder",
                other => other,
            };
            format!("{what}: {}", clock.minute(*at))
        })
        .collect();
    let text = |typed: Option<&String>, saved: Option<jiff::civil::Time>| match typed {
        Some(t) => t.clone(),
        None => saved.map(format_clock).unwrap_or_default(),
    };
    PreferencesPage {
        nav: Nav::for_user(user).at("/account"),
        is_patient: user.actor.role == Role::Patient,
        is_clinician: user.actor.role == Role::Clinician,
        channels,
        quiet_start: text(
            typed.map(|t| &t.quiet_start),
            p.quiet_hours.map(|q| q.start),
        ),
        quiet_end: text(typed.map(|t| &t.quiet_end), p.quiet_hours.map(|q| q.end)),
        check_in_reminder: text(typed.map(|t| &t.check_in), p.check_in_reminder),
        dose_reminders: typed.map_or(p.dose_reminders, |t| t.dose),
        visit_reminders: typed.map_or(p.visit_reminders, |t| t.visit),
        next,
        time_zone: zone,
        escalation_minutes: state.app.settings().urgent_escalation.as_mins(),
        email_configured: view.email_configured,
        errors,
        notice,
    }
}

/// The form as typed, to show again with its errors.
struct Typed {
    channels: Vec<String>,
    quiet_start: String,
    quiet_end: String,
    check_in: String,
    dose: bool,
    visit: bool,
}

impl Typed {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let one = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        Typed {
            channels: pairs
                .iter()
                .filter(|(k, _)| k == "channels")
                .map(|(_, v)| v.clone())
                .collect(),
            quiet_start: one("quiet_start"),
            quiet_end: one("quiet_end"),
            check_in: one("check_in_reminder"),
            dose: pairs.iter().any(|(k, _)| k == "dose_reminders"),
            visit: pairs.iter().any(|(k, _)| k == "visit_reminders"),
        }
    }
}

pub async fn preferences(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("notifications") => Some("Saved. Reminders are scheduled in your time zone."),
        _ => None,
    };
    let view = notify::my_preferences(&state.app, &user).await?;
    Ok(render(&page_of(
        &state,
        &user,
        &view,
        None,
        FormErrors::none(),
        notice,
    ))?
    .into_response())
}

pub async fn save_preferences(
    State(state): State<AppState>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    let PageForm { user, pairs, .. } = submitted;
    let typed = Typed::from_pairs(&pairs);
    let input = PreferencesInput {
        channels: typed.channels.iter().map(String::as_str).collect(),
        quiet_start: Some(typed.quiet_start.as_str()),
        quiet_end: Some(typed.quiet_end.as_str()),
        check_in_reminder: Some(typed.check_in.as_str()),
        dose_reminders: typed.dose,
        visit_reminders: typed.visit,
    };
    match notify::set_my_preferences(&state.app, &user, &input).await {
        Ok(_) => {
            Ok(Redirect::to("/account/notifications?saved=notifications#main").into_response())
        }
        Err(error) => {
            let errors = FormErrors::from_api(ApiError::from(error), PREFERENCE_LABELS)?;
            let status = errors.status;
            let view = notify::my_preferences(&state.app, &user).await?;
            let page = page_of(&state, &user, &view, Some(&typed), errors, None);
            Ok((status, render(&page)?).into_response())
        }
    }
}

// ---------------------------------------------------------------------------
// The admins' page.

struct LogRow {
    id: String,
    when: String,
    recipient: String,
    channel: String,
    kind: String,
    status: String,
    attempts: i64,
    problem: String,
    retryable: bool,
}

impl LogRow {
    fn new(n: &Notification, clock: &Clock) -> Self {
        LogRow {
            id: n.id.to_string(),
            when: clock.minute(n.created_at),
            recipient: n.recipient_name.clone(),
            channel: n
                .channel
                .parse::<Channel>()
                .map_or(n.channel.clone(), |c| c.label().to_owned()),
            kind: n.kind.replace('_', " "),
            status: n.status.clone(),
            attempts: n.attempts,
            problem: n.last_error.clone().unwrap_or_default(),
            retryable: matches!(n.status.as_str(), "failed" | "dead"),
        }
    }
}

struct Clinician {
    id: String,
    name: String,
    on_call: bool,
}

#[derive(Template)]
#[template(path = "admin_notifications.html")]
struct AdminPage {
    nav: Nav,
    clinicians: Vec<Clinician>,
    escalation_minutes: i64,
    webhook: Option<String>,
    /// Shown once, right after setting the webhook.
    new_secret: Option<String>,
    log: Vec<LogRow>,
    status: String,
    /// The cursor for older messages.
    older: Option<String>,
    errors: FormErrors,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    saved: String,
}

const LOG_PAGE: u32 = 50;

async fn admin_page(
    state: &AppState,
    user: &Authenticated,
    query: &LogQuery,
    new_secret: Option<String>,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let status = Some(query.status.as_str()).filter(|s| notify::STATUSES.contains(s));
    let before = query.before.parse::<Timestamp>().ok();
    let log = notify::delivery_log(&state.app, user, status, before, LOG_PAGE).await?;
    let organization = speciosa_app::account::own_organization(&state.app, user).await?;
    let clock = organization
        .as_ref()
        .map_or_else(Clock::utc, |o| Clock::named(o.time_zone.as_str()));
    let on_call = notify::on_call(&state.app, user).await?;
    let clinicians = speciosa_app::users::list_users(&state.app, user, Some("clinician"))
        .await?
        .into_iter()
        .filter(|u| u.active)
        .map(|u| Clinician {
            on_call: on_call.iter().any(|(id, _)| *id == u.id),
            id: u.id.to_string(),
            name: u.display_name,
        })
        .collect();
    let older = (log.len() == LOG_PAGE as usize)
        .then(|| log.last().map(|n| n.created_at.to_string()))
        .flatten();
    let http_status = errors.status;
    let page = AdminPage {
        nav: Nav::for_user(user).at("/admin/notifications"),
        clinicians,
        escalation_minutes: state.app.settings().urgent_escalation.as_mins(),
        webhook: notify::webhook_url(&state.app, user).await?,
        new_secret,
        log: log.iter().map(|n| LogRow::new(n, &clock)).collect(),
        status: status.unwrap_or_default().to_owned(),
        older,
        errors,
        notice,
    };
    Ok((http_status, render(&page)?).into_response())
}

pub async fn admin(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let query = query.map(|q| q.0).unwrap_or_default();
    let notice = match query.saved.as_str() {
        "on-call" => Some("The on-call list is saved."),
        "retry" => Some(
            "The message is queued again; it keeps its id, so receivers can tell it is the same message.",
        ),
        "webhook-removed" => Some("The webhook is removed."),
        _ => None,
    };
    admin_page(&state, &user, &query, None, FormErrors::none(), notice).await
}

#[derive(Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    id: String,
}

pub async fn retry(
    State(state): State<AppState>,
    submitted: PageForm<RetryForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    let retried = match form.id.trim().parse::<uuid::Uuid>() {
        Ok(id) => notify::retry(&state.app, &user, id).await,
        Err(_) => Err(speciosa_app::AppError::field(
            "id",
            "choose a message in the log to retry",
        )),
    };
    match retried {
        Ok(_) => Ok(Redirect::to("/admin/notifications?saved=retry#log").into_response()),
        Err(error) => {
            let errors = FormErrors::from_api(ApiError::from(error), &[])?;
            admin_page(&state, &user, &LogQuery::default(), None, errors, None).await
        }
    }
}

pub async fn save_on_call(
    State(state): State<AppState>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    let PageForm { user, pairs, .. } = submitted;
    let mut ids = Vec::new();
    for (key, value) in &pairs {
        if key == "user_ids"
            && let Ok(id) = value.parse::<uuid::Uuid>()
        {
            ids.push(UserId::from_uuid(id));
        }
    }
    match notify::set_on_call(&state.app, &user, &ids).await {
        Ok(_) => Ok(Redirect::to("/admin/notifications?saved=on-call#on-call").into_response()),
        Err(error) => {
            let errors = FormErrors::from_api(ApiError::from(error), &[("user_ids", "On call")])?;
            admin_page(&state, &user, &LogQuery::default(), None, errors, None).await
        }
    }
}

#[derive(Deserialize)]
pub struct WebhookForm {
    #[serde(default)]
    url: String,
}

pub async fn save_webhook(
    State(state): State<AppState>,
    submitted: PageForm<WebhookForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    match notify::set_webhook(&state.app, &user, &form.url).await {
        // The secret is shown once, on this response (never in a URL).
        Ok(hook) => {
            admin_page(
                &state,
                &user,
                &LogQuery::default(),
                Some(hook.secret),
                FormErrors::none(),
                Some("The webhook is set. Copy its secret now: it is not shown again."),
            )
            .await
        }
        Err(error) => {
            let errors = FormErrors::from_api(ApiError::from(error), &[("url", "Webhook URL")])?;
            admin_page(&state, &user, &LogQuery::default(), None, errors, None).await
        }
    }
}

pub async fn remove_webhook(
    State(state): State<AppState>,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    notify::remove_webhook(&state.app, &submitted.user).await?;
    Ok(Redirect::to("/admin/notifications?saved=webhook-removed#webhook").into_response())
}
