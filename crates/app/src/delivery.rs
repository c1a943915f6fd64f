//! The workers that reach people: the delivery worker sends the outbox (e-mail over SMTP,
//! signed webhooks, Web Push) with retries and exponential backoff; the pager runs each
//! urgent alert's escalation rounds; the reminder worker turns due reminders into
//! messages. Each claims its work under leases, so several servers on one PostgreSQL
//! share it and a server that dies mid-send hands its work to another.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::UserId;
use speciosa_core::notify::{
    Channel, MAX_ATTEMPTS, MessageKind, local_date, next_daily, retry_delay,
};
use speciosa_store::{Delivery, NewNotification, Notification, PageRound, Patient};
use uuid::Uuid;

use crate::notify::{CHECK_IN_REMINDER, DOSE_REMINDER, next_dose_time};
use crate::{App, AppError};

/// A worker that dies mid-send loses its claim after this; another sends the same message.
const SEND_LEASE: SignedDuration = SignedDuration::from_secs(60);
const BATCH: u32 = 50;
/// How often the pager looks for due rounds: escalations go out within this of their time.
const PAGER_TICK: Duration = Duration::from_secs(5);
const REMINDER_TICK: Duration = Duration::from_secs(15);
/// The delivery worker's poll when nothing wakes it sooner.
const DELIVERY_TICK: Duration = Duration::from_secs(2);

/// Counters on `/metrics`.
pub const NOTIFICATIONS_SENT: &str = "speciosa_notifications_sent_total";
pub const NOTIFICATIONS_FAILED: &str = "speciosa_notifications_failed_total";

/// Why one attempt did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (network, a busy server).
    #[error("{0}")]
    Transient(String),
    /// Will not work by retrying (no address, no channel set up, refused).
    #[error("{0}")]
    Permanent(String),
}

/// The outgoing channels, built once from the settings.
pub struct Channels {
    mailer: Option<AsyncSmtpTransport<Tokio1Executor>>,
    mail_from: Option<lettre::message::Mailbox>,
    http: reqwest::Client,
    public_url: String,
    /// The domain of `Message-ID`s.
    domain: String,
    /// The contact in Web Push's VAPID claims (`mailto:` the sender, else the public URL).
    push_subscriber: String,
}

impl Channels {
    pub fn from_settings(app: &App) -> Result<Self, SendError> {
        let settings = app.settings();
        let mailer = match &settings.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| SendError::Permanent(format!("--smtp-url: {e}")))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
            None => None,
        };
        let mail_from: Option<lettre::message::Mailbox> = match &settings.mail_from {
            Some(from) => Some(
                from.parse()
                    .map_err(|e| SendError::Permanent(format!("--mail-from: {e}")))?,
            ),
            None => None,
        };
        let domain = settings
            .mail_from
            .as_deref()
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| d.trim_end_matches('>').to_owned())
            .unwrap_or_else(|| "speciosa.invalid".to_owned());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let push_subscriber = match &mail_from {
            Some(from) => format!("mailto:{}", from.email),
            None => settings.public_url.trim_end_matches('/').to_owned(),
        };
        Ok(Self {
            push_subscriber,
            mailer,
            mail_from,
            http,
            public_url: settings.public_url.trim_end_matches('/').to_owned(),
            domain,
        })
    }

    fn link(&self, message: &Notification) -> String {
        format!("{}{}", self.public_url, message.link)
    }

    /// The message's identity: the same on every attempt, so receivers deduplicate.
    pub fn message_id(&self, message: &Notification) -> String {
        format!("<{}@{}>", message.id, self.domain)
    }

    async fn send(&self, app: &App, message: &Notification) -> Result<(), SendError> {
        let kind = MessageKind::parse(&message.kind)
            .ok_or_else(|| SendError::Permanent(format!("unknown kind {}", message.kind)))?;
        match message.channel.parse::<Channel>() {
            Ok(Channel::Email) => self.email(message, kind).await,
            Ok(Channel::Webhook) => self.webhook(app, message, kind).await,
            Ok(Channel::Push) => self.push(app, message, kind).await,
            Err(e) => Err(SendError::Permanent(e)),
        }
    }

    async fn email(&self, message: &Notification, kind: MessageKind) -> Result<(), SendError> {
        let (Some(mailer), Some(from)) = (&self.mailer, &self.mail_from) else {
            return Err(SendError::Permanent(
                "e-mail is not set up on this server (--smtp-url and --mail-from)".into(),
            ));
        };
        let to = message.recipient_email.parse().map_err(|_| {
            SendError::Permanent("the recipient's e-mail address is not valid".into())
        })?;
        let text = [
            wrap(kind.body()),
            self.link(message),
            wrap(
                "This message holds no health information: open the link and sign in to see more.",
            ),
            wrap(&format!(
                "Choose how Speciosa reaches you: {}/account/notifications",
                self.public_url
            )),
        ]
        .join("\r\n\r\n")
            + "\r\n";
        // Plain 7-bit text with CRLF lines under RFC 5322's 998: the link stays whole in
        // the raw message (no quoted-printable soft breaks), however long the public URL.
        if !text.is_ascii() || text.split("\r\n").any(|line| line.len() > 998) {
            return Err(SendError::Permanent(
                "the public URL is not plain ASCII or is too long for an e-mail line".into(),
            ));
        }
        let body = lettre::message::Body::dangerous_pre_encoded(
            text.into_bytes(),
            lettre::message::header::ContentTransferEncoding::SevenBit,
        );
        let email = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(kind.title())
            .message_id(Some(self.message_id(message)))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| SendError::Permanent(format!("building the e-mail: {e}")))?;
        match mailer.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Transient(format!("SMTP: {e}"))),
        }
    }

    async fn webhook(
        &self,
        app: &App,
        message: &Notification,
        kind: MessageKind,
    ) -> Result<(), SendError> {
        let Some(hook) = app
            .store
            .webhook(message.organization_id)
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?
        else {
            return Err(SendError::Permanent(
                "the organization has no webhook set up".into(),
            ));
        };
        let body = webhook_body(message, kind, &self.link(message));
        let signature = sign(&hook.secret, body.as_bytes());
        let response = self
            .http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("x-speciosa-event-id", message.id.to_string())
            .header("x-speciosa-signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("webhook: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Transient(format!("webhook answered {status}")))
        } else {
            Err(SendError::Permanent(format!("webhook answered {status}")))
        }
    }

    async fn push(
        &self,
        app: &App,
        message: &Notification,
        kind: MessageKind,
    ) -> Result<(), SendError> {
        use crate::web_push::{PushError, PushMessage, PushUrgency, send_to_user};
        let push = PushMessage {
            id: message.id,
            title: kind.title().to_owned(),
            body: kind.body().to_owned(),
            url: self.link(message),
            // One notification per message on a device, however often it is resent.
            tag: format!("speciosa-{}", message.id),
            urgency: if kind.urgent() {
                PushUrgency::High
            } else {
                PushUrgency::Normal
            },
            // An urgent page is worth little after an hour; a reminder after a few.
            ttl_seconds: if kind.urgent() { 3600 } else { 4 * 3600 },
        };
        match send_to_user(app, message.recipient_id, &push, &self.push_subscriber).await {
            Ok(_) => Ok(()),
            Err(PushError::Transient(e)) => Err(SendError::Transient(e)),
            Err(e @ (PushError::NoSubscription | PushError::Rejected(_))) => {
                Err(SendError::Permanent(e.to_string()))
            }
        }
    }
}

/// Words of `text` on lines of at most 72 characters (CRLF).
fn wrap(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= 72 => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines.join("\r\n")
}

/// The webhook's JSON: the event id (stable across resends), what kind of message, for
/// whom, and the link. No clinical content, no patient.
pub fn webhook_body(message: &Notification, kind: MessageKind, link: &str) -> String {
    serde_json::json!({
        "id": message.id,
        "type": kind.as_str(),
        "urgent": kind.urgent(),
        "created_at": message.created_at.to_string(),
        "recipient": {"id": message.recipient_id, "email": message.recipient_email},
        "title": kind.title(),
        "text": kind.body(),
        "link": link,
    })
    .to_string()
}

/// HMAC-SHA256 of `body` with the organization's secret, hex.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn system_entry(message: &Notification, action: &str, detail: String) -> AuditEntry {
    AuditEntry {
        actor_user_id: None,
        actor_role: None,
        organization_id: Some(message.organization_id),
        action: action.into(),
        resource_type: "notification".into(),
        resource_id: Some(message.id.to_string()),
        patient_id: None,
        outcome: Outcome::Success,
        client_addr: None,
        detail: Some(detail),
    }
}

/// Messages sent at once by one worker: a slow receiver does not hold up the others,
/// and on SQLite their results commit together in the writer's group commits.
const SEND_CONCURRENCY: usize = 8;

/// Sends what is due once; returns how many messages were attempted.
pub async fn deliver_due(
    app: &App,
    channels: &Arc<Channels>,
    worker: Uuid,
) -> Result<usize, AppError> {
    let mut attempted = 0;
    loop {
        let due = app
            .store
            .claim_due_notifications(worker, Timestamp::now(), SEND_LEASE, BATCH)
            .await?;
        let claimed = due.len();
        let mut queue = due.into_iter();
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < SEND_CONCURRENCY {
                let Some(message) = queue.next() else { break };
                attempted += 1;
                let (app, channels) = (app.clone(), channels.clone());
                running.spawn(async move { deliver_one(&app, &channels, worker, message).await });
            }
            match running.join_next().await {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(error))) => return Err(error),
                Some(Err(_)) => {
                    tracing::error!("a delivery task panicked; its lease lapses and it is retried")
                }
            }
        }
        if claimed < BATCH as usize {
            return Ok(attempted);
        }
    }
}

async fn deliver_one(
    app: &App,
    channels: &Channels,
    worker: Uuid,
    message: Notification,
) -> Result<(), AppError> {
    let result = channels.send(app, &message).await;
    let about = format!(
        "{} to {} by {} ({})",
        message.kind, message.recipient_name, message.channel, message.subject_type
    );
    let (outcome, audit) = match result {
        Ok(()) => {
            metrics::counter!(NOTIFICATIONS_SENT, "channel" => message.channel.clone())
                .increment(1);
            (
                Delivery::Sent,
                Some(system_entry(&message, "notification.sent", about)),
            )
        }
        Err(error) => {
            metrics::counter!(NOTIFICATIONS_FAILED, "channel" => message.channel.clone())
                .increment(1);
            tracing::warn!(notification.id = %message.id, channel = %message.channel, %error, "a message was not delivered");
            let attempts = message.attempts + 1;
            match error {
                SendError::Transient(error) if attempts < MAX_ATTEMPTS => (
                    Delivery::Failed {
                        retry_at: Timestamp::now()
                            + retry_delay(
                                u32::try_from(attempts).unwrap_or(u32::MAX),
                                message.urgent,
                            ),
                        error,
                    },
                    None,
                ),
                SendError::Transient(error) | SendError::Permanent(error) => (
                    Delivery::Dead {
                        error: error.clone(),
                    },
                    Some(system_entry(
                        &message,
                        "notification.dead",
                        format!("{about}: {error}"),
                    )),
                ),
            }
        }
    };
    app.store
        .finish_notification(worker, message.id, &outcome, audit)
        .await?;
    Ok(())
}

fn pager_entry() -> AuditEntry {
    AuditEntry {
        actor_user_id: None,
        actor_role: None,
        organization_id: None,
        action: "alert.escalate".into(),
        resource_type: "alert".into(),
        resource_id: None,
        patient_id: None,
        outcome: Outcome::Success,
        client_addr: None,
        detail: None,
    }
}

/// Runs every paging round that is due; returns how many rounds paged someone.
pub async fn page_due(app: &App, worker: Uuid) -> Result<usize, AppError> {
    let now = Timestamp::now();
    let due = app
        .store
        .claim_due_pages(worker, now, SEND_LEASE, BATCH)
        .await?;
    let mut paged = 0;
    for alert in due {
        if let PageRound::Paged { .. } = app
            .store
            .page_round(worker, alert, now, &pager_entry())
            .await?
        {
            paged += 1;
        }
    }
    if paged > 0 {
        app.wake_delivery();
    }
    Ok(paged)
}

/// Visits and sessions are reminded once, the day before: those starting between an hour
/// and a day from now (a later booking still gets its reminder; the dedupe key keeps it to one).
const VISIT_NOTICE: SignedDuration = SignedDuration::from_hours(24);
const VISIT_LATEST: SignedDuration = SignedDuration::from_hours(1);
const VISIT_BATCH: usize = 500;

/// Writes the reminders of visits and sessions starting within the next day, for patients
/// who want them; each once. Reads only that window of appointments.
pub async fn remind_visits(app: &App) -> Result<usize, AppError> {
    let now = Timestamp::now();
    let upcoming = app
        .store
        .appointments_starting_between(now + VISIT_LATEST, now + VISIT_NOTICE, VISIT_BATCH)
        .await?;
    let mut messages = Vec::new();
    for appointment in upcoming {
        // Already written (most passes): a read, so passes do not queue behind writers.
        if !app
            .store
            .notifications_about("appointment", &appointment.id.to_string())
            .await?
            .is_empty()
        {
            continue;
        }
        let Some(patient) = app.store.get_patient(appointment.patient_id).await? else {
            continue;
        };
        let Some(user) = patient.user_id else {
            continue;
        };
        let preferences = match app.store.notification_preferences(user).await? {
            Some(saved) => saved,
            None => speciosa_core::notify::NotificationPreferences::default_for(
                speciosa_core::account::Role::Patient,
            ),
        };
        if !preferences.visit_reminders {
            continue;
        }
        let zone = patient.details.time_zone.to_zone();
        // Held back through quiet hours, but never past the appointment's last hour.
        let send_at = preferences
            .quiet_hours
            .map_or(now, |q| q.defer(now, &zone))
            .min(appointment.starts_at - VISIT_LATEST);
        for channel in &preferences.channels {
            messages.push(NewNotification {
                organization: patient.organization_id,
                recipient: user,
                channel: *channel,
                kind: MessageKind::VisitReminder,
                subject_type: "appointment",
                subject_id: appointment.id.to_string(),
                link: "/home".to_owned(),
                dedupe_key: format!("reminder:visit:{}:{}", appointment.id, channel.as_str()),
                not_before: send_at,
            });
        }
    }
    if messages.is_empty() {
        return Ok(0);
    }
    let written = app.store.enqueue_notifications(&messages, None).await?;
    if written > 0 {
        app.wake_delivery();
    }
    Ok(written)
}

/// Turns due reminders into messages; returns how many reminders ran.
pub async fn remind_due(app: &App, worker: Uuid) -> Result<usize, AppError> {
    let now = Timestamp::now();
    let due = app
        .store
        .claim_due_reminders(worker, now, SEND_LEASE, BATCH)
        .await?;
    let count = due.len();
    for (user, reminder) in due {
        let (next_at, messages) = match reminder_messages(app, user, &reminder, now).await {
            Ok(found) => found,
            Err(error) => {
                // One person's unreadable record must not stop everyone's reminders.
                crate::log_chain("a reminder could not be prepared", &error);
                (Some(now + SignedDuration::from_hours(1)), Vec::new())
            }
        };
        app.store
            .finish_reminder(worker, user, &reminder, next_at, &messages)
            .await?;
    }
    if count > 0 {
        app.wake_delivery();
    }
    Ok(count)
}

/// A due reminder's messages and when it is next due (`None`: no longer wanted).
async fn reminder_messages(
    app: &App,
    user: UserId,
    reminder: &str,
    now: Timestamp,
) -> Result<(Option<Timestamp>, Vec<NewNotification>), AppError> {
    let Some(preferences) = app.store.notification_preferences(user).await? else {
        return Ok((None, Vec::new()));
    };
    let Some(patient) = app.store.patient_of_user(user).await? else {
        return Ok((None, Vec::new()));
    };
    let zone = patient.details.time_zone.to_zone();
    let today = local_date(now, &zone);
    let quiet = preferences
        .quiet_hours
        .is_some_and(|q| q.contains(now.to_zoned_datetime(zone.clone()).time()));
    let message = |kind: MessageKind, key: String, link: &str| -> Vec<NewNotification> {
        preferences
            .channels
            .iter()
            .map(|channel| NewNotification {
                organization: patient.organization_id,
                recipient: user,
                channel: *channel,
                kind,
                subject_type: "patient",
                subject_id: patient.id.to_string(),
                link: link.to_owned(),
                dedupe_key: format!("{key}:{}", channel.as_str()),
                not_before: now,
            })
            .collect()
    };
    match reminder {
        CHECK_IN_REMINDER => {
            let Some(at) = preferences.check_in_reminder else {
                return Ok((None, Vec::new()));
            };
            let next = Some(next_daily(at, &zone, now));
            let done = app
                .store
                .patient_summary(patient.id)
                .await?
                .last_check_in_at
                .is_some_and(|last| local_date(last, &zone) == today);
            if done || quiet {
                return Ok((next, Vec::new()));
            }
            Ok((
                next,
                message(
                    MessageKind::CheckInReminder,
                    format!("reminder:check_in:{}:{today}", patient.id),
                    "/checkin",
                ),
            ))
        }
        DOSE_REMINDER => {
            if !preferences.dose_reminders {
                return Ok((None, Vec::new()));
            }
            let next = next_dose_time(app, &patient, now).await?;
            let Some(slot) = dose_slot_due(app, &patient, now).await? else {
                // No signed plan: look again in a few hours (a plan signed meanwhile
                // reschedules at once).
                return Ok((
                    next.or(Some(now + SignedDuration::from_hours(6))),
                    Vec::new(),
                ));
            };
            if quiet {
                return Ok((next, Vec::new()));
            }
            Ok((
                next,
                message(
                    MessageKind::DoseReminder,
                    format!("reminder:dose:{}:{today}:{slot}", patient.id),
                    "/",
                ),
            ))
        }
        _ => Ok((None, Vec::new())),
    }
}

/// The plan's dose slot falling now (within 10 minutes), if the plan still leaves a dose
/// for it: never a prompt beyond the plan. A slot whose share is nothing today, or whose
/// amount (with the slots before it) is already logged today, is skipped.
async fn dose_slot_due(
    app: &App,
    patient: &Patient,
    now: Timestamp,
) -> Result<Option<String>, AppError> {
    let Some(plan) = app.store.active_plan(patient.id).await? else {
        return Ok(None);
    };
    let zone = patient.details.time_zone.to_zone();
    let local = now.to_zoned_datetime(zone.clone());
    let today = local.date();
    let schedule = &plan.content.schedule;
    let planned = schedule.planned_steps();
    let Some(step) = planned.iter().rev().find(|s| s.from <= today) else {
        return Ok(None);
    };
    let units = schedule.slot_units(step.units);
    let per_unit = if step.units > 0.0 {
        step.planned_mg / step.units
    } else {
        0.0
    };
    let mut planned_mg = 0.0;
    for (slot, units) in schedule.slots.iter().zip(units) {
        planned_mg += units * per_unit;
        let Some(at) = speciosa_core::notify::local_instant(today.to_datetime(slot.time), &zone)
        else {
            continue;
        };
        if (now - at).abs() > SignedDuration::from_mins(10) {
            continue;
        }
        if units <= 0.0 {
            return Ok(None);
        }
        let taken = app
            .store
            .day_totals(patient.id, today, today)
            .await?
            .first()
            .map_or(0.0, |t| t.mitragynine_mg);
        if taken + 1e-9 >= planned_mg {
            return Ok(None);
        }
        return Ok(Some(slot.time.strftime("%H:%M").to_string()));
    }
    Ok(None)
}

/// Runs the delivery worker, the pager and the reminder worker until the task is dropped.
pub async fn run(app: App) {
    let channels = match Channels::from_settings(&app) {
        Ok(channels) => Arc::new(channels),
        Err(error) => {
            tracing::error!(%error, "notifications cannot be sent: check the mail settings");
            return;
        }
    };
    let worker = Uuid::now_v7();
    let pager = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PAGER_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(error) = page_due(&app, worker).await {
                    crate::log_chain("paging urgent alerts", &error);
                }
            }
        })
    };
    let reminders = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REMINDER_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(error) = remind_due(&app, worker).await {
                    crate::log_chain("sending reminders", &error);
                }
                if let Err(error) = remind_visits(&app).await {
                    crate::log_chain("reminding of visits", &error);
                }
            }
        })
    };
    let _guards = (AbortOnDrop(pager), AbortOnDrop(reminders));
    loop {
        if let Err(error) = deliver_due(&app, &channels, worker).await {
            crate::log_chain("delivering notifications", &error);
        }
        let _ = tokio::time::timeout(DELIVERY_TICK, app.delivery_wake.notified()).await;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_text_is_wrapped_at_72_characters_without_splitting_words() {
        let text = wrap(MessageKind::UrgentEscalation.body());
        assert!(text.split("\r\n").all(|line| line.len() <= 72), "{text}");
        assert_eq!(
            text.replace("\r\n", " "),
            MessageKind::UrgentEscalation.body()
        );
    }

    #[test]
    fn a_webhook_signature_is_the_hmac_sha256_of_the_body_with_the_secret() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
