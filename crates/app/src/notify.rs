//! Reaching people (issue 13): each user's notification preferences and reminders, the
//! organization's on-call list and webhook, the admins' delivery log, an alert's paging
//! history, and what the patient's urgent page may truthfully promise.
//! The workers that send the messages live in [`crate::delivery`].

use jiff::civil::Time;
use jiff::{SignedDuration, Timestamp};
use speciosa_core::account::Role;
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::{AlertId, PatientId, UserId};
use speciosa_core::notify::{
    Channel, NotificationPreferences, PreferencesInput, next_daily, parse_preferences,
};
use speciosa_core::policy::{OrganizationAction, PatientAction};
use speciosa_store::{Notification, Paging, Patient, Webhook};
use uuid::Uuid;

use crate::{App, AppError, Caller, access};

/// The reminder rows' names.
pub(crate) const CHECK_IN_REMINDER: &str = "check_in";
pub(crate) const DOSE_REMINDER: &str = "dose";

/// A user's preferences as they stand, and what follows from them.
#[derive(Clone, Debug)]
pub struct PreferencesView {
    pub preferences: NotificationPreferences,
    /// False while the user has never saved any (the defaults apply).
    pub saved: bool,
    /// (reminder, next due), soonest first.
    pub reminders: Vec<(String, Timestamp)>,
    pub organization_has_webhook: bool,
    /// E-mail can be sent from this server (`--smtp-url`).
    pub email_configured: bool,
    /// The patient's zone, for showing times (patients only).
    pub time_zone: Option<String>,
}

async fn preferences_of(
    app: &App,
    user: UserId,
    role: Role,
) -> Result<(NotificationPreferences, bool), AppError> {
    Ok(match app.store.notification_preferences(user).await? {
        Some(saved) => (saved, true),
        None => (NotificationPreferences::default_for(role), false),
    })
}

/// The caller's own preferences (any signed-in user).
pub async fn my_preferences(app: &App, caller: &Caller) -> Result<PreferencesView, AppError> {
    let (preferences, saved) = preferences_of(app, caller.actor.user_id, caller.actor.role).await?;
    view(app, caller, preferences, saved).await
}

async fn view(
    app: &App,
    caller: &Caller,
    preferences: NotificationPreferences,
    saved: bool,
) -> Result<PreferencesView, AppError> {
    let reminders = app.store.reminders_of(caller.actor.user_id).await?;
    let organization_has_webhook = app
        .store
        .webhook(caller.actor.organization_id)
        .await?
        .is_some();
    let time_zone = match caller.actor.own_patient_id {
        Some(id) => app
            .store
            .get_patient(id)
            .await?
            .map(|p| p.details.time_zone.as_str().to_owned()),
        None => None,
    };
    Ok(PreferencesView {
        preferences,
        saved,
        reminders,
        organization_has_webhook,
        email_configured: app.settings.smtp_url.is_some(),
        time_zone,
    })
}

/// Saves the caller's channels, quiet hours and reminder times, and schedules their
/// reminders in their own zone. A webhook channel needs the organization's webhook;
/// reminders are for patients.
pub async fn set_my_preferences(
    app: &App,
    caller: &Caller,
    input: &PreferencesInput<'_>,
) -> Result<PreferencesView, AppError> {
    let role = caller.actor.role;
    let preferences = parse_preferences(input, role).map_err(AppError::Invalid)?;
    if preferences.channels.contains(&Channel::Webhook)
        && app
            .store
            .webhook(caller.actor.organization_id)
            .await?
            .is_none()
    {
        let index = preferences
            .channels
            .iter()
            .position(|c| *c == Channel::Webhook)
            .unwrap_or(0);
        return Err(AppError::field(
            &format!("channels[{index}]"),
            "your organization has no webhook (pager or SMS gateway) set up; ask an admin, or choose another channel",
        ));
    }
    // Reminder times are kept for anyone, but only a patient's schedule reminders: staff
    // have no check-in or plan of their own.
    let patient = own_patient(app, caller).await?;
    let reminders = reminder_rows(app, patient.as_ref(), &preferences, Timestamp::now()).await?;
    let audit = AuditEntry {
        detail: Some(format!(
            "channels={}; quiet_hours={}; check_in_reminder={}; dose_reminders={}; visit_reminders={}",
            preferences
                .channels
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(","),
            preferences
                .quiet_hours
                .map_or("off".to_owned(), |q| format!("{}-{}", q.start, q.end)),
            preferences
                .check_in_reminder
                .map_or("off".to_owned(), |t| t.to_string()),
            preferences.dose_reminders,
            preferences.visit_reminders,
        )),
        ..caller.audit(
            "notification_preferences.update",
            "user",
            Some(caller.actor.user_id.to_string()),
            caller.actor.own_patient_id,
            Outcome::Success,
        )
    };
    app.store
        .set_notification_preferences(caller.actor.user_id, &preferences, &reminders, audit)
        .await?;
    view(app, caller, preferences, true).await
}

async fn own_patient(app: &App, caller: &Caller) -> Result<Option<Patient>, AppError> {
    Ok(match caller.actor.own_patient_id {
        Some(id) => app.store.get_patient(id).await?,
        None => None,
    })
}

/// When each of a patient's reminders is next due, from their preferences.
pub(crate) async fn reminder_rows(
    app: &App,
    patient: Option<&Patient>,
    preferences: &NotificationPreferences,
    now: Timestamp,
) -> Result<Vec<(String, Timestamp)>, AppError> {
    let Some(patient) = patient else {
        return Ok(Vec::new());
    };
    let zone = patient.details.time_zone.to_zone();
    let mut rows = Vec::new();
    if let Some(at) = preferences.check_in_reminder {
        rows.push((CHECK_IN_REMINDER.to_owned(), next_daily(at, &zone, now)));
    }
    if preferences.dose_reminders
        && let Some(next) = next_dose_time(app, patient, now).await?
    {
        rows.push((DOSE_REMINDER.to_owned(), next));
    }
    Ok(rows)
}

/// The next of the signed plan's dose times after `now`, in the patient's zone; `None`
/// without a signed plan.
pub(crate) async fn next_dose_time(
    app: &App,
    patient: &Patient,
    now: Timestamp,
) -> Result<Option<Timestamp>, AppError> {
    let Some(plan) = app.store.active_plan(patient.id).await? else {
        return Ok(None);
    };
    let zone = patient.details.time_zone.to_zone();
    Ok(plan
        .content
        .schedule
        .slots
        .iter()
        .map(|slot| next_daily(slot.time, &zone, now))
        .min())
}

/// After a plan is signed: a patient with dose reminders on is reminded at the new
/// plan's dose times.
pub(crate) async fn plan_changed(app: &App, patient: &Patient) -> Result<(), AppError> {
    let Some(user) = patient.user_id else {
        return Ok(());
    };
    let Some(preferences) = app.store.notification_preferences(user).await? else {
        return Ok(());
    };
    if !preferences.dose_reminders {
        return Ok(());
    }
    let rows = reminder_rows(app, Some(patient), &preferences, Timestamp::now()).await?;
    let audit = AuditEntry {
        actor_user_id: None,
        actor_role: None,
        organization_id: Some(patient.organization_id),
        action: "notification_preferences.reschedule".into(),
        resource_type: "user".into(),
        resource_id: Some(user.to_string()),
        patient_id: Some(patient.id),
        outcome: Outcome::Success,
        client_addr: None,
        detail: Some("dose reminders follow the newly signed plan".into()),
    };
    app.store
        .set_notification_preferences(user, &preferences, &rows, audit)
        .await?;
    Ok(())
}

/// Whether a patient's reminders are on, for their care team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReminderStatus {
    pub has_login: bool,
    pub channels: Vec<Channel>,
    pub check_in_reminder: Option<Time>,
    pub dose_reminders: bool,
    pub visit_reminders: bool,
}

pub async fn patient_reminders(
    app: &App,
    caller: &Caller,
    patient: PatientId,
) -> Result<ReminderStatus, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        patient,
        PatientAction::Read,
        "notification_preferences.read",
    )
    .await?;
    let Some(user) = patient.user_id else {
        return Ok(ReminderStatus {
            has_login: false,
            channels: Vec::new(),
            check_in_reminder: None,
            dose_reminders: false,
            visit_reminders: false,
        });
    };
    let (preferences, _) = preferences_of(app, user, Role::Patient).await?;
    Ok(ReminderStatus {
        has_login: true,
        channels: preferences.channels,
        check_in_reminder: preferences.check_in_reminder,
        dose_reminders: preferences.dose_reminders,
        visit_reminders: preferences.visit_reminders,
    })
}

async fn configure(app: &App, caller: &Caller, audit_action: &str) -> Result<(), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ConfigureOrganization,
        audit_action,
        "organization",
    )
    .await
}

/// The organization's on-call list (admins): (user, name), in paging order.
pub async fn on_call(app: &App, caller: &Caller) -> Result<Vec<(UserId, String)>, AppError> {
    configure(app, caller, "on_call.read").await?;
    Ok(app.store.on_call(caller.actor.organization_id).await?)
}

/// Replaces the on-call list: active clinicians of the organization, each once.
pub async fn set_on_call(
    app: &App,
    caller: &Caller,
    users: &[UserId],
) -> Result<Vec<(UserId, String)>, AppError> {
    configure(app, caller, "on_call.update").await?;
    let mut errors = speciosa_core::FieldErrors::new();
    let mut seen = Vec::new();
    for (i, id) in users.iter().enumerate() {
        let field = format!("user_ids[{i}]");
        if seen.contains(id) {
            errors.push(field, "this user is already on the list");
            continue;
        }
        seen.push(*id);
        match app.store.get_user(*id).await? {
            Some(user)
                if user.organization_id == caller.actor.organization_id
                    && user.active
                    && user.role == Role::Clinician => {}
            Some(user) if user.organization_id == caller.actor.organization_id && !user.active => {
                errors.push(field, "this account is deactivated")
            }
            Some(user) if user.organization_id == caller.actor.organization_id => errors.push(
                field,
                "only clinicians can be on call: urgent alerts need someone who can open them",
            ),
            _ => errors.push(field, "no such user in your organization"),
        }
    }
    if users.len() > 50 {
        errors.push("user_ids", "at most 50 people can be on call");
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let audit = AuditEntry {
        detail: Some(format!("{} on call", users.len())),
        ..caller.audit(
            "on_call.update",
            "organization",
            Some(caller.actor.organization_id.to_string()),
            None,
            Outcome::Success,
        )
    };
    app.store
        .set_on_call(caller.actor.organization_id, users, audit)
        .await?;
    Ok(app.store.on_call(caller.actor.organization_id).await?)
}

/// The organization's webhook URL (admins); its secret is shown only when set.
pub async fn webhook_url(app: &App, caller: &Caller) -> Result<Option<String>, AppError> {
    configure(app, caller, "webhook.read").await?;
    Ok(app
        .store
        .webhook(caller.actor.organization_id)
        .await?
        .map(|w| w.url))
}

/// Sets the organization's webhook to `url` with a fresh signing secret, returned once.
pub async fn set_webhook(app: &App, caller: &Caller, url: &str) -> Result<Webhook, AppError> {
    configure(app, caller, "webhook.update").await?;
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).map_err(|_| {
        AppError::field(
            "url",
            "give the gateway's full address, e.g. https://pager.example/hooks/speciosa",
        )
    })?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        return Err(AppError::field(
            "url",
            "the webhook must use https:// (plain http only on this machine)",
        ));
    }
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let webhook = Webhook {
        url: url.to_owned(),
        secret: hex::encode(secret),
    };
    let audit = AuditEntry {
        detail: Some(format!("url={url}")),
        ..caller.audit(
            "webhook.update",
            "organization",
            Some(caller.actor.organization_id.to_string()),
            None,
            Outcome::Success,
        )
    };
    app.store
        .set_webhook(caller.actor.organization_id, Some(&webhook), audit)
        .await?;
    Ok(webhook)
}

pub async fn remove_webhook(app: &App, caller: &Caller) -> Result<(), AppError> {
    configure(app, caller, "webhook.delete").await?;
    let audit = caller.audit(
        "webhook.delete",
        "organization",
        Some(caller.actor.organization_id.to_string()),
        None,
        Outcome::Success,
    );
    app.store
        .set_webhook(caller.actor.organization_id, None, audit)
        .await?;
    Ok(())
}

/// The delivery log's statuses.
pub const STATUSES: [&str; 4] = ["queued", "sent", "failed", "dead"];

/// The organization's delivery log (admins), newest first, `limit` at a time before
/// `before`. Messages carry no clinical content, so admins may see them.
pub async fn delivery_log(
    app: &App,
    caller: &Caller,
    status: Option<&str>,
    before: Option<Timestamp>,
    limit: u32,
) -> Result<Vec<Notification>, AppError> {
    if let Some(status) = status
        && !STATUSES.contains(&status)
    {
        return Err(AppError::field(
            "status",
            "use one of queued, sent, failed, dead",
        ));
    }
    configure(app, caller, "notification.list").await?;
    Ok(app
        .store
        .list_notifications(caller.actor.organization_id, status, before, limit)
        .await?)
}

/// Sends a failed or dead message again now (admins); the same message, same id.
pub async fn retry(app: &App, caller: &Caller, id: Uuid) -> Result<Notification, AppError> {
    configure(app, caller, "notification.retry").await?;
    let audit = caller.audit(
        "notification.retry",
        "notification",
        Some(id.to_string()),
        None,
        Outcome::Success,
    );
    match app
        .store
        .retry_notification(caller.actor.organization_id, id, audit)
        .await?
    {
        Some(notification) => {
            app.wake_delivery();
            Ok(notification)
        }
        None => match app.store.get_notification(id).await? {
            Some(n) if n.organization_id == caller.actor.organization_id => {
                Err(AppError::Conflict(format!(
                    "only a failed or dead message can be retried; this one is {}",
                    n.status
                )))
            }
            _ => Err(AppError::NotFound("notification")),
        },
    }
}

/// An alert's paging: the schedule and every message written about it, for anyone who
/// may read the alert.
#[derive(Clone, Debug)]
pub struct PagingHistory {
    pub paging: Option<Paging>,
    pub messages: Vec<Notification>,
}

pub async fn paging_history(
    app: &App,
    caller: &Caller,
    alert: AlertId,
) -> Result<PagingHistory, AppError> {
    let found = app
        .store
        .get_alert(alert)
        .await?
        .ok_or(AppError::NotFound("alert"))?;
    access::patient(
        app,
        caller,
        found.patient_id,
        PatientAction::Read,
        "alert.read",
    )
    .await?;
    Ok(PagingHistory {
        paging: app.store.paging(alert).await?,
        messages: app
            .store
            .notifications_about("alert", &alert.to_string())
            .await?,
    })
}

/// What the patient's urgent page may promise: who was sent a message, and when the
/// on-call list follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrgentPromise {
    /// Care-team clinicians a message was written to.
    pub care_team_messaged: usize,
    /// Of those messages, how many can leave this server (a channel set up here).
    pub deliverable: bool,
    pub escalation: SignedDuration,
    /// The organization has people on call.
    pub on_call: bool,
}

/// For the patient's own urgent page, after their answers opened `alert`.
pub async fn urgent_promise(
    app: &App,
    caller: &Caller,
    alert: AlertId,
) -> Result<UrgentPromise, AppError> {
    let history = paging_history(app, caller, alert).await?;
    let first_round: Vec<&Notification> = history
        .messages
        .iter()
        .filter(|m| m.kind == "urgent_alert")
        .collect();
    let mut people: Vec<UserId> = first_round.iter().map(|m| m.recipient_id).collect();
    people.sort();
    people.dedup();
    let webhook = app.store.webhook(caller.actor.organization_id).await?;
    let mut deliverable = false;
    for m in &first_round {
        deliverable |= match m.channel.as_str() {
            "email" => app.settings.smtp_url.is_some(),
            "webhook" => webhook.is_some(),
            "push" => !app
                .store
                .push_subscriptions_for_user(m.recipient_id)
                .await?
                .is_empty(),
            _ => false,
        };
        if deliverable {
            break;
        }
    }
    let escalation = history
        .paging
        .as_ref()
        .map_or(app.settings.urgent_escalation, |p| p.interval);
    Ok(UrgentPromise {
        care_team_messaged: people.len(),
        deliverable,
        escalation,
        on_call: !app
            .store
            .on_call(caller.actor.organization_id)
            .await?
            .is_empty(),
    })
}
