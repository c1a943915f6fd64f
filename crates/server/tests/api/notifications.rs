//! Reaching people (issue 13): urgent-alert pages by e-mail through a real SMTP server
//! (PyPI's aiosmtpd), signed webhooks to a local receiver, escalation to the on-call
//! list, the delivery log, and preferences with reminders.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use speciosa_server::ServerConfig;

use crate::helpers::{Backend, Client, TestApp, error_fields, on_both_backends, problem};

on_both_backends!(
    preferences_name_each_invalid_field_and_schedule_the_check_in_reminder_in_the_patients_zone,
    only_active_clinicians_of_the_organization_can_be_put_on_call,
    the_delivery_log_is_for_admins_and_a_dead_message_is_retried_as_the_same_message,
);

/// A real SMTP server on loopback (PyPI's aiosmtpd) delivering into a Maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// `None` (the test is skipped) when aiosmtpd is not installed, unless
    /// `SPECIOSA_REQUIRE_SMTP_SERVER` is set, as `scripts/test` does.
    pub async fn start() -> Option<SmtpServer> {
        let python = std::env::var("SPECIOSA_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let available = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                std::env::var("SPECIOSA_REQUIRE_SMTP_SERVER").is_err(),
                "SPECIOSA_REQUIRE_SMTP_SERVER is set but {python} cannot import aiosmtpd"
            );
            eprintln!("skipped: no aiosmtpd (scripts/test installs it)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("temporary directory");
        let maildir = dir.path().join("maildir");
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(SmtpServer {
            child,
            port,
            maildir,
            _dir: dir,
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                for entry in entries.flatten() {
                    if let Ok(text) = std::fs::read_to_string(entry.path()) {
                        found.push(text);
                    }
                }
            }
        }
        found
    }

    /// Waits up to `limit` for at least `count` messages.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<String> {
        let started = std::time::Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= count || started.elapsed() > limit {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\n\n").next().unwrap_or(message);
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn phq9_positive() -> Value {
    let mut answers = serde_json::Map::new();
    for item in 1..=8 {
        answers.insert(item.to_string(), json!(1));
    }
    answers.insert("9".into(), json!(2));
    Value::Object(answers)
}

async fn user_id(client: &Client) -> String {
    client.get_json("/api/v1/session").await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A patient, two care-team clinicians and a clinician off the team; returns the
/// patient's id and client and the clinicians.
struct Clinic {
    admin: Client,
    casey: Client,
    robin: Client,
    sam: Client,
    patient: String,
    patient_client: Client,
}

async fn clinic(app: &TestApp) -> Clinic {
    let clinic = app.clinic("Harbour Clinic").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let robin = app.staff(&clinic, "clinician", "Robin Okafor").await;
    let sam = app.staff(&clinic, "clinician", "Sam Lind").await;
    let (patient, patient_client) = app.patient_with_login(&casey, "Dana Reyes").await;
    let team = json!({"clinician_ids": [user_id(&casey).await, user_id(&robin).await]});
    let response = casey
        .put(&format!("/api/v1/patients/{patient}/care-team"), &team)
        .await;
    assert_eq!(response.status(), StatusCode::OK, "setting the care team");
    Clinic {
        admin: clinic.admin,
        casey,
        robin,
        sam,
        patient,
        patient_client,
    }
}

async fn urgent_alert(c: &Clinic) -> String {
    let response = c
        .patient_client
        .post(
            &format!("/api/v1/patients/{}/assessments", c.patient),
            &json!({"instrument": "phq9", "answers": phq9_positive()}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["alerts"][0]["severity"], "urgent", "{body}");
    body["alerts"][0]["id"].as_str().unwrap().to_owned()
}

mod an_urgent_check_in_emails_the_care_team_with_neither_the_patients_name_nor_the_rule {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::urgent_email(crate::helpers::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        if std::env::var("SPECIOSA_TEST_DATABASE_URL").is_ok() {
            super::urgent_email(crate::helpers::Backend::Postgres).await
        }
    }
}

async fn urgent_email(backend: Backend) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let app = TestApp::spawn_with(
        backend,
        ServerConfig {
            smtp_url: Some(smtp.url()),
            mail_from: Some("Harbour Clinic <alerts@harbour.test>".into()),
            public_url: Some("https://speciosa.harbour.test".into()),
            ..ServerConfig::default()
        },
    )
    .await;
    let c = clinic(&app).await;
    let alert = urgent_alert(&c).await;

    let mail = smtp.wait_for(2, Duration::from_secs(60)).await;
    assert_eq!(mail.len(), 2, "one e-mail to each care-team clinician");
    let mut recipients: Vec<&str> = mail.iter().filter_map(|m| header(m, "To")).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            "casey.doe@harbourclinic.test",
            "robin.okafor@harbourclinic.test"
        ]
    );
    for message in &mail {
        let lower = message.to_lowercase();
        for secret in ["dana", "reyes", "phq9", "phq-9", "item 9", "self-harm"] {
            assert!(
                !lower.contains(secret),
                "the e-mail says {secret:?}:\n{message}"
            );
        }
        assert!(
            message.contains(&format!("https://speciosa.harbour.test/alerts/{alert}")),
            "the e-mail links to the alert:\n{message}"
        );
        assert_eq!(
            header(message, "Content-Transfer-Encoding"),
            Some("7bit"),
            "plain text, so the link is never broken by soft line breaks"
        );
    }

    // The delivery log and the alert's paging history agree; Message-IDs are the
    // notifications' ids, so a resend is recognisably the same message.
    let paging = c
        .casey
        .get_json(&format!("/api/v1/alerts/{alert}/paging"))
        .await;
    let messages = paging["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{paging}");
    for sent in messages {
        assert_eq!(sent["status"], "sent", "{sent}");
        assert_eq!(sent["channel"], "email");
        let id = sent["id"].as_str().unwrap();
        assert!(
            mail.iter()
                .any(|m| header(m, "Message-ID") == Some(&format!("<{id}@harbour.test>"))),
            "the e-mail's Message-ID is the notification's id {id}"
        );
    }
    assert_eq!(paging["escalation_minutes"], 15);
    assert!(paging["next_escalation_at"].is_string());
    let log = c.admin.get_json("/api/v1/notifications").await;
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "sent")
    );
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .collect();
    assert!(actions.contains(&"alert.page".to_owned()));
    assert_eq!(
        actions.iter().filter(|a| *a == "notification.sent").count(),
        2
    );
    // The patient's page says who was messaged and when the next step comes.
    let page = c
        .patient_client
        .get(&format!(
            "/patients/{}/urgent?reason=mood&alert={alert}",
            c.patient
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("began messaging the 2 clinicians on your care team"),
        "{page}"
    );
    assert!(
        page.contains("(15 minutes later), your care team is messaged again"),
        "without an on-call list the care team is paged again: {page}"
    );
    // Sam, off the care team, was not paged.
    assert!(smtp.messages().iter().all(|m| !m.contains("sam.lind")));
    let _ = &c.sam;
}

async fn preferences_name_each_invalid_field_and_schedule_the_check_in_reminder_in_the_patients_zone(
    app: TestApp,
) {
    let c = clinic(&app).await;
    let defaults = c
        .patient_client
        .get_json("/api/v1/account/notification-preferences")
        .await;
    assert_eq!(defaults["channels"], json!(["email"]));
    assert_eq!(defaults["saved"], false);
    assert!(defaults["check_in_reminder"].is_null());

    let bad = problem(
        c.patient_client
            .put(
                "/api/v1/account/notification-preferences",
                &json!({"channels": ["email", "sms"], "quiet_hours": {"start": "25:00", "end": "07:00"}, "check_in_reminder": "noon"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = error_fields(&bad);
    for field in ["channels[1]", "quiet_hours.start", "check_in_reminder"] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
    let webhook = problem(
        c.patient_client
            .put(
                "/api/v1/account/notification-preferences",
                &json!({"channels": ["webhook"]}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&webhook), ["channels[0]"]);

    let saved = c
        .patient_client
        .put(
            "/api/v1/account/notification-preferences",
            &json!({"channels": ["email"], "quiet_hours": {"start": "22:00", "end": "7.00"}, "check_in_reminder": "8:30"}),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["check_in_reminder"], "08:30");
    assert_eq!(
        saved["quiet_hours"],
        json!({"start": "22:00", "end": "07:00"})
    );
    let next = &saved["next_reminders"][0];
    assert_eq!(next["reminder"], "check_in");
    let at: Timestamp = next["at"].as_str().unwrap().parse().unwrap();
    let zone = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let patient = c
        .casey
        .get_json(&format!("/api/v1/patients/{}", c.patient))
        .await;
    let zone = patient["time_zone"]
        .as_str()
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or(zone);
    let local = at.to_zoned_datetime(zone);
    assert_eq!(local.time(), jiff::civil::time(8, 30, 0, 0));
    assert!(at > Timestamp::now() && at < Timestamp::now() + SignedDuration::from_hours(25));

    // A clinician needs a channel for urgent pages, and has no check-in reminder.
    let none = problem(
        c.casey
            .put(
                "/api/v1/account/notification-preferences",
                &json!({"channels": []}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&none), ["channels"]);
    // A clinician's saved reminder time schedules nothing: staff have no check-in.
    let staff = c
        .casey
        .put(
            "/api/v1/account/notification-preferences",
            &json!({"channels": ["email"], "check_in_reminder": "08:00", "quiet_hours": null}),
        )
        .await;
    assert_eq!(staff.status(), StatusCode::OK);
    let staff: Value = staff.json().await.unwrap();
    assert_eq!(staff["next_reminders"], json!([]));
}

async fn only_active_clinicians_of_the_organization_can_be_put_on_call(app: TestApp) {
    let c = clinic(&app).await;
    let robin = user_id(&c.robin).await;
    let patient_user = user_id(&c.patient_client).await;
    let refused = problem(
        c.admin
            .put(
                "/api/v1/organization/on-call",
                &json!({"user_ids": [robin, patient_user, "0190b5a0-0000-7000-8000-000000000000", robin]}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_fields(&refused),
        ["user_ids[1]", "user_ids[2]", "user_ids[3]"]
    );
    let set = c
        .admin
        .put(
            "/api/v1/organization/on-call",
            &json!({"user_ids": [robin]}),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let listed = c.admin.get_json("/api/v1/organization/on-call").await;
    assert_eq!(listed["user_ids"], json!([robin]));
    assert_eq!(listed["on_call"][0]["display_name"], "Robin Okafor");
    let forbidden = c
        .casey
        .put("/api/v1/organization/on-call", &json!({"user_ids": []}))
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
}

async fn the_delivery_log_is_for_admins_and_a_dead_message_is_retried_as_the_same_message(
    app: TestApp,
) {
    // No SMTP server configured: e-mail pages are dead-lettered with the reason.
    let c = clinic(&app).await;
    let alert = urgent_alert(&c).await;
    let log = wait_for_log(&c.admin, |log| {
        log.len() == 2 && log.iter().all(|n| n["status"] == "dead")
    })
    .await;
    let first = &log[0];
    assert!(
        first["last_error"].as_str().unwrap().contains("--smtp-url"),
        "{first}"
    );
    assert_eq!(first["subject_id"], alert.as_str());
    let dead = c.admin.get_json("/api/v1/notifications?status=dead").await;
    assert_eq!(dead.as_array().unwrap().len(), 2);
    let sent = c.admin.get_json("/api/v1/notifications?status=sent").await;
    assert_eq!(sent.as_array().unwrap().len(), 0);
    let bad = problem(
        c.admin.get("/api/v1/notifications?status=lost").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&bad), ["status"]);
    assert_eq!(
        c.casey.get("/api/v1/notifications").await.status(),
        StatusCode::FORBIDDEN
    );

    let id = first["id"].as_str().unwrap();
    let retried = c
        .admin
        .post(&format!("/api/v1/notifications/{id}/retry"), &json!({}))
        .await;
    assert_eq!(retried.status(), StatusCode::OK);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["id"], id);
    assert_eq!(retried["status"], "queued");
    let again = wait_for_log(&c.admin, |log| {
        log.iter()
            .any(|n| n["id"] == id && n["status"] == "dead" && n["attempts"] == 2)
    })
    .await;
    assert_eq!(again.len(), 2, "a retry is the same message, not a new one");
    let not_dead = c
        .admin
        .post(
            &format!(
                "/api/v1/notifications/{}/retry",
                "0190b5a0-0000-7000-8000-000000000000"
            ),
            &json!({}),
        )
        .await;
    assert_eq!(not_dead.status(), StatusCode::NOT_FOUND);
}

async fn wait_for_log(admin: &Client, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let log = admin.get_json("/api/v1/notifications").await;
        let log = log.as_array().unwrap().clone();
        if done(&log) || started.elapsed() > Duration::from_secs(60) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What a local gateway received: (event id header, signature header, body).
type Received = Arc<Mutex<Vec<(String, String, Bytes)>>>;

/// A webhook receiver that fails its first `failures` deliveries with 503.
async fn receiver(failures: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let seen = received.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                let value = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                seen.push((
                    value("x-speciosa-event-id"),
                    value("x-speciosa-signature"),
                    body,
                ));
                if seen.len() <= failures {
                    AxumStatus::SERVICE_UNAVAILABLE
                } else {
                    AxumStatus::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, received)
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_urgent_alert_escalates_to_on_call_by_signed_webhook_until_acknowledged()
{
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        ServerConfig {
            urgent_escalation: SignedDuration::from_secs(3),
            ..ServerConfig::default()
        },
    )
    .await;
    let c = clinic(&app).await;
    let (url, received) = receiver(1).await;
    let created = c
        .admin
        .put("/api/v1/organization/webhook", &json!({"url": url}))
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let secret = created.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let sam = user_id(&c.sam).await;
    let on_call = c
        .admin
        .put("/api/v1/organization/on-call", &json!({"user_ids": [sam]}))
        .await;
    assert_eq!(on_call.status(), StatusCode::OK);
    let chose = c
        .sam
        .put(
            "/api/v1/account/notification-preferences",
            &json!({"channels": ["webhook"], "quiet_hours": {"start": "00:00", "end": "23:59"}}),
        )
        .await;
    assert_eq!(
        chose.status(),
        StatusCode::OK,
        "urgent pages ignore quiet hours"
    );

    let opened = Timestamp::now();
    let alert = urgent_alert(&c).await;
    // The first escalation reaches Sam's gateway after 3 s (the pager looks every 5 s);
    // the first attempt gets 503 and is resent with the same event id.
    // Escalation rounds follow every 3 s, so other events may arrive in between.
    let resent = |got: &[(String, String, Bytes)]| {
        got.iter()
            .any(|(e, _, _)| got.iter().filter(|(o, _, _)| o == e).count() >= 2)
    };
    let started = std::time::Instant::now();
    while !resent(&received.lock().unwrap()) && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = received.lock().unwrap().clone();
    assert!(
        resent(&got),
        "the event refused with 503 was resent with the same event id"
    );
    for (event, signature, body) in &got {
        assert_eq!(signature, &format!("sha256={}", hmac_hex(&secret, body)));
        let json: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["id"], event.as_str());
        assert_eq!(json["type"], "urgent_escalation");
        assert_eq!(json["recipient"]["id"], sam.as_str());
        let text = String::from_utf8_lossy(body).to_lowercase();
        assert!(!text.contains("dana") && !text.contains("phq"), "{text}");
        assert!(text.contains(&format!("/alerts/{alert}")));
    }
    assert!(Timestamp::now() - opened >= SignedDuration::from_secs(3));

    let acknowledged = c
        .robin
        .post(
            &format!("/api/v1/alerts/{alert}/acknowledge"),
            &json!({"comment": "called her"}),
        )
        .await;
    assert_eq!(acknowledged.status(), StatusCode::OK);
    let paging = c
        .casey
        .get_json(&format!("/api/v1/alerts/{alert}/paging"))
        .await;
    assert!(paging["stopped_at"].is_string(), "{paging}");
    assert!(paging["next_escalation_at"].is_null());
    let rounds_then = rounds(&paging);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let paging = c
        .casey
        .get_json(&format!("/api/v1/alerts/{alert}/paging"))
        .await;
    assert_eq!(
        rounds(&paging),
        rounds_then,
        "acknowledging stops the paging"
    );
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert!(actions.contains(&"alert.escalate".to_owned()));
}

fn rounds(paging: &Value) -> usize {
    paging["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "urgent_escalation")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_claimed_by_a_server_that_died_is_sent_by_another_as_the_same_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = speciosa_app::store::Store::open(
        &speciosa_app::store::DatabaseLocation::DataDir(dir.path().to_owned()),
        &speciosa_app::store::PoolOptions::default(),
    )
    .await
    .unwrap();
    let (organization, user) = seed_user(&store).await;
    let written = store
        .enqueue_notifications(
            &[speciosa_app::store::NewNotification {
                organization,
                recipient: user,
                channel: speciosa_core::notify::Channel::Email,
                kind: speciosa_core::notify::MessageKind::Test,
                subject_type: "test",
                subject_id: "1".into(),
                link: "/".into(),
                dedupe_key: "test:1".into(),
                not_before: Timestamp::now(),
            }],
            None,
        )
        .await
        .unwrap();
    assert_eq!(written, 1);
    let dying = uuid::Uuid::now_v7();
    let claimed = store
        .claim_due_notifications(
            dying,
            Timestamp::now(),
            SignedDuration::from_millis(300),
            10,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let other = uuid::Uuid::now_v7();
    let during = store
        .claim_due_notifications(other, Timestamp::now(), SignedDuration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(during.is_empty(), "a live lease is not taken over");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = store
        .claim_due_notifications(other, Timestamp::now(), SignedDuration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, claimed[0].id, "the same message, the same id");
    // The dead server's late report is ignored; the live one's counts.
    assert!(
        !store
            .finish_notification(
                dying,
                claimed[0].id,
                &speciosa_app::store::Delivery::Sent,
                None
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_notification(
                other,
                after[0].id,
                &speciosa_app::store::Delivery::Sent,
                None
            )
            .await
            .unwrap()
    );
    // Writing the same intent again is a no-op.
    let again = store
        .enqueue_notifications(
            &[speciosa_app::store::NewNotification {
                organization,
                recipient: user,
                channel: speciosa_core::notify::Channel::Email,
                kind: speciosa_core::notify::MessageKind::Test,
                subject_type: "test",
                subject_id: "1".into(),
                link: "/".into(),
                dedupe_key: "test:1".into(),
                not_before: Timestamp::now(),
            }],
            None,
        )
        .await
        .unwrap();
    assert_eq!(again, 0);
    store.close().await;
}

async fn seed_user(
    store: &speciosa_app::store::Store,
) -> (
    speciosa_core::ids::OrganizationId,
    speciosa_core::ids::UserId,
) {
    use speciosa_core::account::{DisplayName, Email, Role};
    use speciosa_core::audit::{AuditEntry, Outcome};
    let organization = store.create_organization("Lease Clinic").await.unwrap();
    let user = store
        .create_user(
            speciosa_app::store::NewUser {
                organization_id: organization.id,
                email: Email::parse("lease@clinic.test").unwrap(),
                display_name: DisplayName::parse("Lee Ase").unwrap(),
                role: Role::Clinician,
                password_hash: "x".into(),
            },
            |u| AuditEntry {
                actor_user_id: None,
                actor_role: None,
                organization_id: Some(u.organization_id),
                action: "user.create".into(),
                resource_type: "user".into(),
                resource_id: Some(u.id.to_string()),
                patient_id: None,
                outcome: Outcome::Success,
                client_addr: None,
                detail: None,
            },
        )
        .await
        .unwrap();
    (organization.id, user.id)
}

on_both_backends!(
    a_due_check_in_reminder_is_sent_unless_the_check_in_is_already_done,
    a_dose_time_reminder_is_sent_only_while_the_plan_leaves_a_dose_for_it,
);

async fn patient_user(app: &TestApp, patient: &str) -> speciosa_core::ids::UserId {
    let id = speciosa_core::ids::PatientId::from_uuid(patient.parse().unwrap());
    app.store
        .get_patient(id)
        .await
        .unwrap()
        .unwrap()
        .user_id
        .unwrap()
}

/// Makes a patient's reminder due now, as the clock reaching its time would.
async fn make_due(app: &TestApp, patient: &str, reminder: &str) {
    let user = patient_user(app, patient).await;
    let preferences = app
        .store
        .notification_preferences(user)
        .await
        .unwrap()
        .expect("saved preferences");
    app.store
        .set_notification_preferences(
            user,
            &preferences,
            &[(reminder.to_owned(), Timestamp::now())],
            speciosa_core::audit::AuditEntry {
                actor_user_id: None,
                actor_role: None,
                organization_id: None,
                action: "test.clock".into(),
                resource_type: "user".into(),
                resource_id: None,
                patient_id: None,
                outcome: speciosa_core::audit::Outcome::Success,
                client_addr: None,
                detail: None,
            },
        )
        .await
        .unwrap();
}

async fn next_reminder(client: &Client) -> Timestamp {
    client
        .get_json("/api/v1/account/notification-preferences")
        .await["next_reminders"][0]["at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn a_due_check_in_reminder_is_sent_unless_the_check_in_is_already_done(app: TestApp) {
    let c = clinic(&app).await;
    let (other, other_client) = app.patient_with_login(&c.casey, "Ola Berg").await;
    for client in [&c.patient_client, &other_client] {
        let saved = client
            .put(
                "/api/v1/account/notification-preferences",
                &json!({"channels": ["email"], "check_in_reminder": "08:30"}),
            )
            .await;
        assert_eq!(saved.status(), StatusCode::OK);
    }
    // Ola has checked in today; Dana has not.
    let checked_in = other_client
        .post(
            &format!("/api/v1/patients/{other}/assessments"),
            &json!({"instrument": "craving", "answers": {"1": 2}}),
        )
        .await;
    assert_eq!(checked_in.status(), StatusCode::CREATED);
    make_due(&app, &c.patient, "check_in").await;
    make_due(&app, &other, "check_in").await;

    let log = wait_for_log(&c.admin, |log| {
        log.iter().any(|n| n["kind"] == "check_in_reminder")
    })
    .await;
    let reminders: Vec<&Value> = log
        .iter()
        .filter(|n| n["kind"] == "check_in_reminder")
        .collect();
    assert_eq!(reminders.len(), 1, "{log:?}");
    assert_eq!(reminders[0]["recipient_name"], "Dana Reyes");
    // Both reminders ran and were set for the next 08:30 in the patient's zone.
    let started = std::time::Instant::now();
    while next_reminder(&other_client).await < Timestamp::now()
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for client in [&c.patient_client, &other_client] {
        let next = next_reminder(client).await;
        assert!(next > Timestamp::now(), "rescheduled: {next}");
        assert!(next < Timestamp::now() + SignedDuration::from_hours(25));
    }
    let log = c.admin.get_json("/api/v1/notifications").await;
    assert_eq!(
        log.as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "check_in_reminder")
            .count(),
        1,
        "Ola, already checked in today, was not reminded"
    );
}

/// Signs a one-slot plan of 20 mg a day for `patient`, its slot at this very minute in
/// the patient's zone, and turns the patient's dose reminders on.
async fn plan_due_now(c: &Clinic, patient: &str, patient_client: &Client) {
    let record = c
        .casey
        .get_json(&format!("/api/v1/patients/{patient}"))
        .await;
    let zone = jiff::tz::TimeZone::get(record["time_zone"].as_str().unwrap()).unwrap();
    let now = Timestamp::now().to_zoned_datetime(zone);
    let plan = c
        .casey
        .post(
            &format!("/api/v1/patients/{patient}/plans"),
            &json!({
                "kind": "maintenance",
                "generator": {"kind": "constant", "start_mg": 20, "start_date": now.date().to_string()},
                "slots": [{"time": now.strftime("%H:%M").to_string()}],
                "per_dose_max_mg": 20, "per_day_max_mg": 20, "rationale": "Agreed at the visit",
            }),
        )
        .await;
    let status = plan.status();
    let plan: Value = plan.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let signed = c
        .casey
        .post(
            &format!("/api/v1/plans/{}/sign", plan["id"].as_str().unwrap()),
            &json!({"password": crate::helpers::PASSWORD, "statement": "I approve this plan."}),
        )
        .await;
    assert!(
        signed.status().is_success(),
        "{}",
        signed.text().await.unwrap()
    );
    let saved = patient_client
        .put(
            "/api/v1/account/notification-preferences",
            &json!({"channels": ["email"], "dose_reminders": true}),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["next_reminders"][0]["reminder"], "dose", "{saved}");
}

async fn a_dose_time_reminder_is_sent_only_while_the_plan_leaves_a_dose_for_it(app: TestApp) {
    let c = clinic(&app).await;
    let (other, other_client) = app.patient_with_login(&c.casey, "Ola Berg").await;
    plan_due_now(&c, &c.patient, &c.patient_client).await;
    plan_due_now(&c, &other, &other_client).await;
    // Ola has already logged the plan's 20 mg today (1.1 g of leaf at 19.5 mg/g).
    let leaf = crate::products::product(
        &c.casey,
        json!({"name": "Characterized leaf", "form": "leaf_powder"}),
    )
    .await;
    let leaf = crate::products::batch(
        &c.casey,
        leaf["id"].as_str().unwrap(),
        json!({"lot": "K51", "assay": {"mitragynine_mg_per_g": 19.5, "hydroxymitragynine_mg_per_g": 0.1}}),
    )
    .await;
    let logged = other_client
        .post(
            &format!("/api/v1/patients/{other}/doses"),
            &json!({"batch_id": leaf["id"], "amount": 1.1, "unit": "g"}),
        )
        .await;
    assert_eq!(logged.status(), StatusCode::CREATED);

    make_due(&app, &c.patient, "dose").await;
    make_due(&app, &other, "dose").await;
    let log = wait_for_log(&c.admin, |log| {
        log.iter().any(|n| n["kind"] == "dose_reminder")
    })
    .await;
    let reminders: Vec<&Value> = log
        .iter()
        .filter(|n| n["kind"] == "dose_reminder")
        .collect();
    assert_eq!(reminders.len(), 1, "{log:?}");
    assert_eq!(reminders[0]["recipient_name"], "Dana Reyes");
    let started = std::time::Instant::now();
    while next_reminder(&other_client).await < Timestamp::now()
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(next_reminder(&other_client).await > Timestamp::now());
    let log = c.admin.get_json("/api/v1/notifications").await;
    assert_eq!(
        log.as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "dose_reminder")
            .count(),
        1,
        "Ola, who has taken what the plan says, is not prompted to take more"
    );
}

on_both_backends!(a_visit_within_a_day_is_reminded_once_to_a_patient_who_wants_it);

async fn a_visit_within_a_day_is_reminded_once_to_a_patient_who_wants_it(app: TestApp) {
    let c = clinic(&app).await;
    let (other, other_client) = app.patient_with_login(&c.casey, "Ola Berg").await;
    let off = other_client
        .put(
            "/api/v1/account/notification-preferences",
            &json!({"channels": ["email"], "visit_reminders": false}),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    for (patient, hours) in [(&c.patient, 3), (&other, 3), (&c.patient, 72)] {
        let starts_at = Timestamp::now() + SignedDuration::from_hours(hours);
        let booked = c
            .casey
            .post(
                &format!("/api/v1/patients/{patient}/appointments"),
                &json!({"kind": "visit", "starts_at": starts_at.to_string(), "duration_minutes": 30}),
            )
            .await;
        assert_eq!(booked.status(), StatusCode::CREATED);
    }
    wait_for_log(&c.admin, |log| {
        log.iter().any(|n| n["kind"] == "visit_reminder")
    })
    .await;
    // Two passes of the reminder worker later, still one: Dana's visit in 3 hours, once.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let log = c.admin.get_json("/api/v1/notifications").await;
    let reminders: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "visit_reminder")
        .collect();
    assert_eq!(reminders.len(), 1, "{log}");
    assert_eq!(reminders[0]["recipient_name"], "Dana Reyes");
    assert_eq!(reminders[0]["subject_type"], "appointment");
}
