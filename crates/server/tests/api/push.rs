//! Web Push. Browsers subscribe and unsubscribe over the API; a message sent to a user
//! reaches a local push service that checks the VAPID token (RFC 8292) and decrypts the
//! message with the browser's own keys (RFC 8291), as a real push service and browser do.
//! The decryption here is written from the RFCs with RustCrypto's primitives, apart from
//! the sending code, and is itself checked against RFC 8291's worked example.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use speciosa_app::web_push::{PushError, PushMessage, PushReport, PushUrgency, send_to_user};
use speciosa_core::ids::UserId;
use uuid::Uuid;

use crate::helpers::{Client, TestApp, error_fields, on_both_backends, problem};

on_both_backends!(
    a_browser_subscribes_and_the_same_endpoint_again_updates_it,
    a_browser_unsubscribes_and_then_has_nothing_to_remove,
    an_endpoint_that_is_not_https_or_on_this_machine_is_refused_naming_the_field,
    another_user_cannot_remove_my_subscription,
    every_server_of_a_deployment_gives_browsers_the_same_vapid_key,
    a_message_reaches_the_push_service_signed_and_readable_only_with_the_browsers_keys,
    a_browser_the_push_service_calls_gone_is_forgotten,
    a_failing_push_service_is_a_transient_error_and_the_browser_is_kept,
    a_payload_too_large_for_a_push_message_and_a_user_without_browsers_are_refused,
);

const SUBSCRIBER: &str = "mailto:alerts@clinic.example";
const SUBSCRIPTIONS: &str = "/api/v1/account/push-subscriptions";

/// A browser: its own key pair and authentication secret, as `pushManager.subscribe` makes.
struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
    endpoint: String,
}

impl Browser {
    fn new(endpoint: String) -> Self {
        let mut auth = [0_u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut auth);
        Self {
            secret: p256::SecretKey::random(&mut rand::rngs::OsRng),
            auth,
            endpoint,
        }
    }

    fn public_key(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// `PushSubscription.toJSON()`.
    fn subscription(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {"p256dh": B64.encode(self.public_key()), "auth": B64.encode(self.auth)},
        })
    }

    async fn subscribe(&self, who: &Client) -> Value {
        let response = who.post(SUBSCRIPTIONS, &self.subscription()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "subscribing");
        response.json().await.expect("json")
    }

    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        decrypt(&self.secret, &self.auth, body)
    }
}

/// Decrypts an `aes128gcm` push message (RFC 8188 §2, keys per RFC 8291 §3.4).
fn decrypt(ua_secret: &p256::SecretKey, auth: &[u8], body: &[u8]) -> Vec<u8> {
    let plain = open(ua_secret, auth, body).expect("the message decrypts with the browser's keys");
    // The last record's content ends with the delimiter 2, then zero padding.
    let end = plain.iter().rposition(|b| *b != 0).expect("a delimiter");
    assert_eq!(plain[end], 2, "the last record's delimiter");
    plain[..end].to_vec()
}

/// The record's content with its padding, or an error when these keys cannot open it.
fn open(ua_secret: &p256::SecretKey, auth: &[u8], body: &[u8]) -> Result<Vec<u8>, aes_gcm::Error> {
    // Header: salt (16) | record size (4) | key id length (1) | key id (the sender's public key).
    let salt = &body[..16];
    let record_size = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
    let id_length = usize::from(body[20]);
    assert_eq!(id_length, 65, "the key id is the sender's P-256 point");
    let as_public_bytes = &body[21..21 + id_length];
    let record = &body[21 + id_length..];
    assert!(record.len() <= record_size, "a push message is one record");
    let as_public = p256::PublicKey::from_sec1_bytes(as_public_bytes).expect("a P-256 point");
    let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_public.as_affine());
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_secret.public_key().to_encoded_point(false).as_bytes());
    key_info.extend_from_slice(as_public_bytes);
    let mut ikm = [0_u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes().as_slice())
        .expand(&key_info, &mut ikm)
        .expect("32 bytes");
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0_u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .expect("16 bytes");
    let mut nonce = [0_u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes");
    Aes128Gcm::new_from_slice(&cek)
        .expect("a 128-bit key")
        .decrypt(Nonce::from_slice(&nonce), record)
}

/// RFC 8292 §2–3: checks `Authorization: vapid t=…, k=…` and returns `k`.
fn check_vapid(headers: &HeaderMap, audience: &str) -> String {
    let value = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .expect("an Authorization header");
    let parameters = value.strip_prefix("vapid ").expect("the vapid scheme");
    let mut token = None;
    let mut key = None;
    for parameter in parameters.split(',') {
        match parameter.trim().split_once('=') {
            Some(("t", v)) => token = Some(v.to_owned()),
            Some(("k", v)) => key = Some(v.to_owned()),
            _ => {}
        }
    }
    let (token, key) = (token.expect("t="), key.expect("k="));
    let verifying = VerifyingKey::from_sec1_bytes(&B64.decode(&key).expect("base64url k"))
        .expect("k is a P-256 public key");
    let (signing_input, signature) = token.rsplit_once('.').expect("a JWS");
    let signature =
        Signature::from_slice(&B64.decode(signature).expect("base64url")).expect("r || s");
    verifying
        .verify(signing_input.as_bytes(), &signature)
        .expect("the token is signed (ES256) with the key in k");
    let (header, claims) = signing_input.split_once('.').expect("header.claims");
    let header: Value = serde_json::from_slice(&B64.decode(header).expect("base64url")).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&B64.decode(claims).expect("base64url")).unwrap();
    assert_eq!(claims["aud"], audience, "aud is the push service's origin");
    assert_eq!(claims["sub"], SUBSCRIBER);
    let exp = claims["exp"].as_i64().expect("exp in seconds");
    let now = jiff::Timestamp::now().as_second();
    assert!(exp > now, "not expired");
    assert!(exp <= now + 24 * 60 * 60, "valid at most 24 hours");
    key
}

struct Received {
    device: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A push service on this machine: records every message and answers each device's
/// endpoint with the status set for it (201 Created unless told otherwise).
#[derive(Clone, Default)]
struct PushService {
    origin: String,
    received: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<HashMap<String, u16>>>,
}

impl PushService {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let service = PushService {
            origin: format!("http://{}", listener.local_addr().expect("address")),
            ..Default::default()
        };
        let router = Router::new()
            .route("/push/{device}", post(receive))
            .with_state(service.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        service
    }

    fn endpoint(&self, device: &str) -> String {
        format!("{}/push/{device}", self.origin)
    }

    fn answer(&self, device: &str, status: u16) {
        self.answers
            .lock()
            .unwrap()
            .insert(device.to_owned(), status);
    }

    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

async fn receive(
    State(service): State<PushService>,
    Path(device): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let status = service
        .answers
        .lock()
        .unwrap()
        .get(&device)
        .copied()
        .unwrap_or(201);
    service.received.lock().unwrap().push(Received {
        device,
        headers,
        body: body.to_vec(),
    });
    StatusCode::from_u16(status).expect("a status")
}

fn application(app: &TestApp) -> speciosa_server::App {
    speciosa_server::App::with_store(app.store.clone(), speciosa_server::AppSettings::default())
        .expect("bundled data loads")
}

fn user_id(client: &Client) -> UserId {
    UserId::from_str(&client.id()).expect("a user id")
}

fn message(tag: &str) -> PushMessage {
    PushMessage {
        id: Uuid::now_v7(),
        title: "Speciosa: urgent alert".into(),
        body: "An alert needs your attention.".into(),
        url: "https://clinic.example/alerts/0190".into(),
        tag: tag.into(),
        urgency: PushUrgency::High,
        ttl_seconds: 3600,
    }
}

async fn clinician(app: &TestApp) -> Client {
    let clinic = app.clinic("Northside").await;
    app.staff(&clinic, "clinician", "Casey Doe").await
}

async fn a_browser_subscribes_and_the_same_endpoint_again_updates_it(app: TestApp) {
    let casey = clinician(&app).await;
    let browser = Browser::new("https://push.example/send/abc".into());
    // A cookie alone is not enough: the session's CSRF token is required.
    let mut forged = casey.clone();
    forged.csrf = None;
    let refused = forged.post(SUBSCRIPTIONS, &browser.subscription()).await;
    let refused = problem(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(refused["type"], "/problems/csrf");
    let first = browser.subscribe(&casey).await;
    let again = Browser {
        endpoint: browser.endpoint.clone(),
        ..Browser::new(String::new())
    };
    let response = casey.post(SUBSCRIPTIONS, &again.subscription()).await;
    assert_eq!(response.status(), StatusCode::OK, "the same endpoint again");
    let second: Value = response.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    let events = app
        .store
        .list_audit_events(&speciosa_app::store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let subscribed: Vec<_> = events
        .iter()
        .filter(|e| e.action == "push.subscribe")
        .collect();
    assert_eq!(subscribed.len(), 2, "each save is audited");
    for event in subscribed {
        assert_eq!(event.resource_type, "push_subscription");
        assert_eq!(event.resource_id.as_deref(), first["id"].as_str());
        assert_eq!(event.detail, None, "no keys in the audit log");
    }
}

async fn a_browser_unsubscribes_and_then_has_nothing_to_remove(app: TestApp) {
    let casey = clinician(&app).await;
    let browser = Browser::new("https://push.example/send/abc".into());
    browser.subscribe(&casey).await;
    let endpoint = json!({"endpoint": browser.endpoint});
    let removed = casey
        .send(reqwest::Method::DELETE, SUBSCRIPTIONS, Some(&endpoint))
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let again = casey
        .send(reqwest::Method::DELETE, SUBSCRIPTIONS, Some(&endpoint))
        .await;
    problem(again, StatusCode::NOT_FOUND).await;
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(action, ..)| action)
        .collect();
    assert!(actions.contains(&"push.unsubscribe".to_owned()));
}

async fn an_endpoint_that_is_not_https_or_on_this_machine_is_refused_naming_the_field(
    app: TestApp,
) {
    let casey = clinician(&app).await;
    for endpoint in [
        "http://push.example/send/abc",
        "http://169.254.169.254/latest/meta-data",
        "ftp://push.example/x",
        "push.example/x",
    ] {
        let browser = Browser::new(endpoint.into());
        let response = casey.post(SUBSCRIPTIONS, &browser.subscription()).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), ["endpoint"], "{endpoint}");
    }
    let bad_keys = json!({
        "endpoint": "https://push.example/send/abc",
        "keys": {"p256dh": B64.encode([4_u8; 65]), "auth": "short"},
    });
    let response = casey.post(SUBSCRIPTIONS, &bad_keys).await;
    let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["keys.p256dh", "keys.auth"]);
}

async fn another_user_cannot_remove_my_subscription(app: TestApp) {
    let clinic = app.clinic("Northside").await;
    let casey = app.staff(&clinic, "clinician", "Casey Doe").await;
    let robin = app.staff(&clinic, "clinician", "Robin Roe").await;
    let browser = Browser::new("https://push.example/send/casey".into());
    browser.subscribe(&casey).await;
    let endpoint = json!({"endpoint": browser.endpoint});
    let theirs = robin
        .send(reqwest::Method::DELETE, SUBSCRIPTIONS, Some(&endpoint))
        .await;
    problem(theirs, StatusCode::NOT_FOUND).await;
    let mine = casey
        .send(reqwest::Method::DELETE, SUBSCRIPTIONS, Some(&endpoint))
        .await;
    assert_eq!(
        mine.status(),
        StatusCode::NO_CONTENT,
        "still mine to remove"
    );
}

async fn every_server_of_a_deployment_gives_browsers_the_same_vapid_key(app: TestApp) {
    let casey = clinician(&app).await;
    let sibling = app.sibling(speciosa_server::ServerConfig::default()).await;
    let there = sibling
        .sign_in("casey.doe@northside.test", crate::helpers::PASSWORD)
        .await;
    // Both servers need the key at once, before either has made one.
    let (here_key, there_key) = tokio::join!(
        casey.get_json("/api/v1/push/vapid-public-key"),
        there.get_json("/api/v1/push/vapid-public-key"),
    );
    let key = here_key["public_key"]
        .as_str()
        .expect("public_key")
        .to_owned();
    assert_eq!(there_key["public_key"], key.as_str(), "one key for both");
    let bytes = B64.decode(&key).expect("base64url");
    assert_eq!(bytes.len(), 65);
    assert_eq!(bytes[0], 4, "an uncompressed point");
    p256::PublicKey::from_sec1_bytes(&bytes).expect("on the P-256 curve");
    assert_eq!(
        casey.get_json("/api/v1/push/vapid-public-key").await["public_key"],
        key.as_str(),
        "kept"
    );
}

async fn a_message_reaches_the_push_service_signed_and_readable_only_with_the_browsers_keys(
    app: TestApp,
) {
    let service = PushService::start().await;
    let casey = clinician(&app).await;
    let (_, patient) = app.patient_with_login(&casey, "Dana Reyes").await;
    let browser = Browser::new(service.endpoint("dana-phone"));
    browser.subscribe(&patient).await;
    let vapid_key = patient.get_json("/api/v1/push/vapid-public-key").await["public_key"].clone();

    let sent = message("alert-0190");
    let report = send_to_user(&application(&app), user_id(&patient), &sent, SUBSCRIBER)
        .await
        .expect("delivered");
    assert_eq!(
        report,
        PushReport {
            delivered: 1,
            removed_gone: 0
        }
    );

    let received = service.take();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.device, "dana-phone");
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("ttl"), Some("3600"));
    assert_eq!(header("urgency"), Some("high"));
    assert_eq!(header("content-encoding"), Some("aes128gcm"));
    let key = check_vapid(&request.headers, &service.origin);
    assert_eq!(
        key,
        vapid_key.as_str().unwrap(),
        "k is the key browsers got"
    );

    let payload: Value =
        serde_json::from_slice(&browser.decrypt(&request.body)).expect("JSON inside");
    assert_eq!(
        payload,
        json!({
            "id": sent.id,
            "title": "Speciosa: urgent alert",
            "body": "An alert needs your attention.",
            "url": "https://clinic.example/alerts/0190",
            "tag": "alert-0190",
        })
    );
    // Another browser's keys cannot read it.
    let stranger = Browser::new(String::new());
    assert!(
        open(&stranger.secret, &stranger.auth, &request.body).is_err(),
        "only the subscribed browser can decrypt"
    );
}

async fn a_browser_the_push_service_calls_gone_is_forgotten(app: TestApp) {
    let service = PushService::start().await;
    let casey = clinician(&app).await;
    let phone = Browser::new(service.endpoint("phone"));
    let laptop = Browser::new(service.endpoint("laptop"));
    phone.subscribe(&casey).await;
    laptop.subscribe(&casey).await;
    service.answer("laptop", 410);
    let application = application(&app);
    let casey_id = user_id(&casey);

    let report = send_to_user(&application, casey_id, &message("a"), SUBSCRIBER)
        .await
        .expect("the phone accepted it");
    assert_eq!(
        report,
        PushReport {
            delivered: 1,
            removed_gone: 1
        }
    );
    assert_eq!(service.take().len(), 2);

    send_to_user(&application, casey_id, &message("b"), SUBSCRIBER)
        .await
        .expect("delivered");
    let devices: Vec<String> = service.take().into_iter().map(|r| r.device).collect();
    assert_eq!(devices, ["phone"], "the gone laptop is not tried again");

    service.answer("phone", 404);
    let last = send_to_user(&application, casey_id, &message("c"), SUBSCRIBER).await;
    assert!(
        matches!(last, Err(PushError::NoSubscription)),
        "every browser gone: {last:?}"
    );
    let after = send_to_user(&application, casey_id, &message("d"), SUBSCRIBER).await;
    assert!(matches!(after, Err(PushError::NoSubscription)));
    assert_eq!(service.take().len(), 1, "nothing left to try");
}

async fn a_failing_push_service_is_a_transient_error_and_the_browser_is_kept(app: TestApp) {
    let service = PushService::start().await;
    let casey = clinician(&app).await;
    let phone = Browser::new(service.endpoint("phone"));
    phone.subscribe(&casey).await;
    let application = application(&app);

    service.answer("phone", 500);
    let failed = send_to_user(&application, user_id(&casey), &message("a"), SUBSCRIBER).await;
    assert!(
        matches!(&failed, Err(PushError::Transient(_))),
        "500 is worth retrying: {failed:?}"
    );
    service.answer("phone", 429);
    let busy = send_to_user(&application, user_id(&casey), &message("a"), SUBSCRIBER).await;
    assert!(matches!(&busy, Err(error) if error.is_transient()));
    service.answer("phone", 400);
    let refused = send_to_user(&application, user_id(&casey), &message("a"), SUBSCRIBER).await;
    assert!(
        matches!(&refused, Err(PushError::Rejected(_))),
        "{refused:?}"
    );

    service.answer("phone", 201);
    let retried = send_to_user(&application, user_id(&casey), &message("a"), SUBSCRIBER)
        .await
        .expect("the browser was kept");
    assert_eq!(retried.delivered, 1);
}

async fn a_payload_too_large_for_a_push_message_and_a_user_without_browsers_are_refused(
    app: TestApp,
) {
    let service = PushService::start().await;
    let casey = clinician(&app).await;
    let application = application(&app);
    let none = send_to_user(&application, user_id(&casey), &message("a"), SUBSCRIBER).await;
    assert!(matches!(none, Err(PushError::NoSubscription)), "{none:?}");

    Browser::new(service.endpoint("phone"))
        .subscribe(&casey)
        .await;
    let mut large = message("a");
    large.body = "x".repeat(4000);
    let refused = send_to_user(&application, user_id(&casey), &large, SUBSCRIBER).await;
    assert!(
        matches!(refused, Err(PushError::Rejected(_))),
        "{refused:?}"
    );
    let unsigned = send_to_user(&application, user_id(&casey), &message("a"), "alerts").await;
    assert!(
        matches!(unsigned, Err(PushError::Rejected(_))),
        "{unsigned:?}"
    );
    assert!(service.take().is_empty(), "nothing was sent");
}

/// The test push service's decryption reproduces RFC 8291 Appendix A.
#[test]
fn the_test_push_service_decrypts_the_example_of_rfc_8291() {
    let decode = |text: &str| B64.decode(text).expect("base64url");
    let ua_secret =
        p256::SecretKey::from_slice(&decode("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
            .unwrap();
    let auth = decode("BTBZMqHH6r4Tts7J_aSIgg");
    let message = decode(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    );
    assert_eq!(
        decrypt(&ua_secret, &auth, &message),
        b"When I grow up, I want to be a watermelon"
    );
}
