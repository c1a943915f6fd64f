//! Web Push to the browsers people turned notifications on in: subscriptions (each
//! user's own), the deployment's VAPID key, and sending one message to all of a user's
//! browsers. Messages are encrypted for each browser (RFC 8291, aes128gcm), signed for
//! the push service (RFC 8292, VAPID) and posted to it (RFC 8030).
//!
//! A message leaves the protected system, so callers put no clinical content and no
//! patient name in it: only that something needs attention and a link.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use serde::Serialize;
use speciosa_core::FieldErrors;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::UserId;
use speciosa_store::{NewPushSubscription, PushSubscription, StoreError, VapidKeys};
use uuid::Uuid;

use crate::{App, AppError, Caller, log_chain};

/// The largest payload one push message carries: 4096 bytes of record (RFC 8291 §4)
/// less the 86-byte header, the 16-byte tag and the padding delimiter.
pub const MAX_PAYLOAD_BYTES: usize = 3993;

/// How long a VAPID token is valid: RFC 8292 §2 allows at most 24 hours.
const VAPID_VALIDITY_SECONDS: i64 = 12 * 60 * 60;

/// Endpoints are capability URLs issued by push services; longer ones are not real.
const MAX_ENDPOINT_LENGTH: usize = 2048;

const MAX_USER_AGENT_CHARS: usize = 256;

/// Base64url as browsers send it (unpadded), accepting padding too.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How soon the push service should deliver (RFC 8030 §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushUrgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl PushUrgency {
    pub fn as_header(self) -> &'static str {
        match self {
            PushUrgency::VeryLow => "very-low",
            PushUrgency::Low => "low",
            PushUrgency::Normal => "normal",
            PushUrgency::High => "high",
        }
    }
}

/// One notification for every browser of one user. `id` and `tag` stay the same when a
/// message is resent, so a device shows it once.
#[derive(Clone, Debug)]
pub struct PushMessage {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub url: String,
    pub tag: String,
    pub urgency: PushUrgency,
    /// How long the push service keeps the message for a browser that is offline.
    pub ttl_seconds: u32,
}

/// What the service worker receives once the browser has decrypted the message.
#[derive(Serialize)]
struct Payload<'a> {
    id: Uuid,
    title: &'a str,
    body: &'a str,
    url: &'a str,
    tag: &'a str,
}

impl PushMessage {
    fn payload(&self) -> Vec<u8> {
        let payload = Payload {
            id: self.id,
            title: &self.title,
            body: &self.body,
            url: &self.url,
            tag: &self.tag,
        };
        // Serializing plain strings and a uuid cannot fail.
        serde_json::to_vec(&payload).unwrap_or_default()
    }
}

/// A send that at least one browser's push service accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    pub delivered: usize,
    /// Subscriptions the push service said are gone (404/410), now deleted.
    pub removed_gone: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The user has no browser subscribed (or every one turned out to be gone).
    #[error("the user has no push subscription")]
    NoSubscription,
    /// The message or the request was refused and would be refused again.
    #[error("the push message was refused: {0}")]
    Rejected(String),
    /// A network failure, a busy or failing push service, or our database: retry later.
    #[error("the push message could not be sent now: {0}")]
    Transient(String),
}

impl PushError {
    /// Whether sending the same message later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, PushError::Transient(_))
    }
}

/// A browser's `PushSubscription` as the adapters received it.
#[derive(Clone, Debug)]
pub struct SubscriptionInput {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    /// The browser's `User-Agent`, to tell the user's devices apart.
    pub user_agent: Option<String>,
}

/// A saved subscription and whether it is new (else the same endpoint was updated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscribed {
    pub id: Uuid,
    pub created: bool,
}

/// Saves the caller's browser subscription; the same endpoint again takes the new keys
/// and the caller as its owner (a shared device now belongs to whoever signed in).
pub async fn subscribe(
    app: &App,
    caller: &Caller,
    input: SubscriptionInput,
) -> Result<Subscribed, AppError> {
    let keys = parse_subscription(&input)?;
    let subscription = NewPushSubscription {
        user_id: caller.actor.user_id,
        organization_id: caller.actor.organization_id,
        endpoint: input.endpoint,
        p256dh: keys.p256dh,
        auth: keys.auth,
        user_agent: input
            .user_agent
            .map(|agent| shorten(&agent, MAX_USER_AGENT_CHARS)),
    };
    // The audit names the subscription, never its keys or endpoint.
    let (id, created) = app
        .store
        .save_push_subscription(&subscription, |id| {
            caller.audit(
                "push.subscribe",
                "push_subscription",
                Some(id.to_string()),
                None,
                Outcome::Success,
            )
        })
        .await?;
    Ok(Subscribed { id, created })
}

/// Removes the caller's subscription at `endpoint`; `NotFound` when the caller has none
/// there (whoever else may).
pub async fn unsubscribe(app: &App, caller: &Caller, endpoint: &str) -> Result<(), AppError> {
    if endpoint.is_empty() {
        return Err(AppError::field(
            "endpoint",
            "give the subscription's endpoint",
        ));
    }
    app.store
        .delete_push_subscription(caller.actor.user_id, endpoint, |id| {
            caller.audit(
                "push.unsubscribe",
                "push_subscription",
                Some(id.to_string()),
                None,
                Outcome::Success,
            )
        })
        .await?;
    Ok(())
}

/// The deployment's VAPID public key (base64url, uncompressed P-256 point), the
/// `applicationServerKey` browsers subscribe with. Generated on first use.
pub async fn vapid_public_key(app: &App, _caller: &Caller) -> Result<String, AppError> {
    Ok(vapid_keys(app).await?.public_key)
}

/// Sends `message` to every browser `user` subscribed. `subscriber` is the VAPID `sub`
/// claim, a contact for the push service's operators (`mailto:` or `https:`).
/// Ok when at least one push service accepted the message.
pub async fn send_to_user(
    app: &App,
    user: UserId,
    message: &PushMessage,
    subscriber: &str,
) -> Result<PushReport, PushError> {
    check_subscriber(subscriber)?;
    let payload = message.payload();
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(PushError::Rejected(format!(
            "the payload is {} bytes; a push message holds at most {MAX_PAYLOAD_BYTES}",
            payload.len()
        )));
    }
    let subscriptions = app
        .store
        .push_subscriptions_for_user(user)
        .await
        .map_err(database_failure)?;
    if subscriptions.is_empty() {
        return Err(PushError::NoSubscription);
    }
    let signer = VapidSigner::load(app).await?;
    let client = http_client()?;
    let mut report = PushReport::default();
    let mut transient = None;
    let mut rejected = None;
    for subscription in &subscriptions {
        match deliver(client, &signer, subscription, message, &payload, subscriber).await {
            Delivery::Accepted => {
                report.delivered += 1;
                if let Err(error) = app.store.mark_push_delivered(subscription.id).await {
                    log_chain("recording a push delivery", &error);
                }
            }
            Delivery::Gone => {
                report.removed_gone += 1;
                if let Err(error) = app
                    .store
                    .remove_gone_push_subscription(subscription.id)
                    .await
                {
                    log_chain("removing a gone push subscription", &error);
                }
            }
            Delivery::Transient(reason) => transient = Some(reason),
            Delivery::Rejected(reason) => rejected = Some(reason),
        }
    }
    if report.delivered > 0 {
        Ok(report)
    } else if report.removed_gone == subscriptions.len() {
        Err(PushError::NoSubscription)
    } else if let Some(reason) = transient {
        Err(PushError::Transient(reason))
    } else {
        Err(PushError::Rejected(rejected.unwrap_or_default()))
    }
}

enum Delivery {
    Accepted,
    Gone,
    Transient(String),
    Rejected(String),
}

async fn deliver(
    client: &reqwest::Client,
    signer: &VapidSigner,
    subscription: &PushSubscription,
    message: &PushMessage,
    payload: &[u8],
    subscriber: &str,
) -> Delivery {
    // Checked again here: a stored row is sent to only if it would be accepted today.
    let endpoint = match check_endpoint(&subscription.endpoint) {
        Ok(endpoint) => endpoint,
        Err(reason) => return Delivery::Rejected(format!("stored endpoint {reason}")),
    };
    let keys = match BrowserKeys::decode(&subscription.p256dh, &subscription.auth) {
        Ok(keys) => keys,
        Err(errors) => return Delivery::Rejected(format!("stored keys are invalid: {errors:?}")),
    };
    let body = match web_push_native::encrypt(payload.to_vec(), &keys.public, &keys.auth) {
        Ok(body) => body,
        Err(error) => return Delivery::Rejected(format!("encryption failed: {error}")),
    };
    let host = endpoint.host_str().unwrap_or_default().to_owned();
    let response = client
        .post(endpoint.clone())
        .header("TTL", message.ttl_seconds)
        .header("Urgency", message.urgency.as_header())
        .header(CONTENT_ENCODING, "aes128gcm")
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(AUTHORIZATION, signer.authorization(&endpoint, subscriber))
        .body(body)
        .send()
        .await;
    let status = match response {
        Ok(response) => response.status(),
        // Without the URL: an endpoint is a capability and stays out of logs.
        Err(error) => {
            return Delivery::Transient(format!("{host}: {}", error.without_url()));
        }
    };
    let reason = format!("{host} answered {status}");
    match status.as_u16() {
        200..=299 => Delivery::Accepted,
        404 | 410 => Delivery::Gone,
        408 | 429 | 500..=599 => Delivery::Transient(reason),
        _ => Delivery::Rejected(reason),
    }
}

/// One client for all sends: time-limited, and never following a redirect elsewhere.
fn http_client() -> Result<&'static reqwest::Client, PushError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .redirect(reqwest::redirect::Policy::none())
                // No idle connections: this client outlives the runtime that opened them
                // (tests run one runtime each), and push traffic is light.
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|error| PushError::Transient(format!("no HTTP client: {error}")))
}

fn database_failure(error: StoreError) -> PushError {
    log_chain("reading push subscriptions", &error);
    PushError::Transient("the database is unavailable".into())
}

/// The VAPID key pair, generated and stored by the first server that needs it; a
/// concurrent first use on another server yields to whichever was stored.
async fn vapid_keys(app: &App) -> Result<VapidKeys, StoreError> {
    if let Some(keys) = app.store.vapid_keys().await? {
        return Ok(keys);
    }
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let candidate = VapidKeys {
        private_key: BASE64URL.encode(secret.to_bytes()),
        public_key: BASE64URL.encode(secret.public_key().to_encoded_point(false).as_bytes()),
    };
    app.store.vapid_keys_or_insert(&candidate).await
}

/// Signs VAPID tokens (RFC 8292 §2: a JWT signed with ES256).
struct VapidSigner {
    key: SigningKey,
    public_key: String,
}

impl VapidSigner {
    async fn load(app: &App) -> Result<Self, PushError> {
        let keys = vapid_keys(app).await.map_err(|error| {
            log_chain("loading the VAPID key", &error);
            PushError::Transient("the VAPID key could not be read".into())
        })?;
        let secret = BASE64URL
            .decode(&keys.private_key)
            .ok()
            .and_then(|bytes| p256::SecretKey::from_slice(&bytes).ok())
            .ok_or_else(|| PushError::Rejected("the stored VAPID key is unreadable".into()))?;
        Ok(Self {
            key: SigningKey::from(&secret),
            public_key: keys.public_key,
        })
    }

    /// `Authorization: vapid t=…, k=…` (RFC 8292 §3) for a request to `endpoint`.
    fn authorization(&self, endpoint: &Url, subscriber: &str) -> String {
        let header = BASE64URL.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": jiff::Timestamp::now().as_second() + VAPID_VALIDITY_SECONDS,
            "sub": subscriber,
        });
        let signing_input = format!("{header}.{}", BASE64URL.encode(claims.to_string()));
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!(
            "vapid t={signing_input}.{}, k={}",
            BASE64URL.encode(signature.to_bytes()),
            self.public_key
        )
    }
}

/// RFC 8292 §2.1: the contact is a `mailto:` or `https:` URI.
fn check_subscriber(subscriber: &str) -> Result<(), PushError> {
    let valid = (subscriber.starts_with("mailto:") || subscriber.starts_with("https://"))
        && subscriber.len() <= 256
        && !subscriber.chars().any(char::is_control);
    if valid {
        Ok(())
    } else {
        Err(PushError::Rejected(
            "the VAPID subject must be a mailto: or https: URI".into(),
        ))
    }
}

/// The push service's address: `https://` anywhere; `http://` only on this machine (a
/// local push service in tests). Anything else could point the server at an internal
/// address, so it is refused.
fn check_endpoint(endpoint: &str) -> Result<Url, &'static str> {
    if endpoint.len() > MAX_ENDPOINT_LENGTH {
        return Err("is too long to be a push service's address");
    }
    let url = Url::parse(endpoint).map_err(|_| "must be an absolute https:// URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err("must be an https:// address of a push service"),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// A browser's keys, decoded (RFC 8291 §3: `p256dh` a P-256 point, `auth` 16 bytes).
struct BrowserKeys {
    public: p256::PublicKey,
    auth: web_push_native::Auth,
}

/// The keys re-encoded in the one form we store.
struct StoredKeys {
    p256dh: String,
    auth: String,
}

impl BrowserKeys {
    fn decode(p256dh: &str, auth: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let public = BASE64URL
            .decode(p256dh)
            .ok()
            .filter(|bytes| bytes.len() == 65 && bytes[0] == 4)
            .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok());
        if public.is_none() {
            errors.push(
                "keys.p256dh",
                "must be the browser's P-256 public key: 65 bytes, base64url",
            );
        }
        let auth = BASE64URL
            .decode(auth)
            .ok()
            .filter(|bytes| bytes.len() == 16);
        if auth.is_none() {
            errors.push(
                "keys.auth",
                "must be the browser's authentication secret: 16 bytes, base64url",
            );
        }
        match (public, auth) {
            (Some(public), Some(auth)) => Ok(Self {
                public,
                auth: web_push_native::Auth::clone_from_slice(&auth),
            }),
            _ => Err(errors),
        }
    }
}

fn parse_subscription(input: &SubscriptionInput) -> Result<StoredKeys, FieldErrors> {
    let mut errors = FieldErrors::new();
    if let Err(reason) = check_endpoint(&input.endpoint) {
        errors.push("endpoint", reason);
    }
    let keys = match BrowserKeys::decode(&input.p256dh, &input.auth) {
        Ok(keys) => Some(keys),
        Err(key_errors) => {
            errors.errors.extend(key_errors.errors);
            None
        }
    };
    match keys {
        Some(keys) if errors.is_empty() => Ok(StoredKeys {
            p256dh: BASE64URL.encode(keys.public.to_encoded_point(false).as_bytes()),
            auth: BASE64URL.encode(keys.auth),
        }),
        _ => Err(errors),
    }
}

fn shorten(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8291 Appendix A: the user agent's public key and authentication secret.
    const P256DH: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    fn input(endpoint: &str) -> SubscriptionInput {
        SubscriptionInput {
            endpoint: endpoint.into(),
            p256dh: P256DH.into(),
            auth: AUTH.into(),
            user_agent: None,
        }
    }

    fn fields(result: Result<StoredKeys, FieldErrors>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(errors) => errors.errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn https_endpoints_anywhere_and_http_on_loopback_are_accepted() {
        for endpoint in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://updates.push.services.mozilla.com/wpush/v2/xyz",
            "http://127.0.0.1:8080/push/1",
            "http://localhost/push",
            "http://[::1]:9000/push",
        ] {
            assert!(
                fields(parse_subscription(&input(endpoint))).is_empty(),
                "{endpoint}"
            );
        }
    }

    #[test]
    fn http_to_another_host_and_other_schemes_are_refused_as_the_endpoint() {
        for endpoint in [
            "http://example.com/push",
            "http://10.0.0.5/push",
            "http://169.254.169.254/latest/meta-data",
            "ftp://push.example/x",
            "file:///etc/passwd",
            "https://user:secret@push.example/x",
            "not a url",
            "",
        ] {
            assert_eq!(
                fields(parse_subscription(&input(endpoint))),
                ["endpoint"],
                "{endpoint}"
            );
        }
    }

    #[test]
    fn keys_that_are_not_a_p256_point_and_a_16_byte_secret_are_refused_by_name() {
        let mut wrong = input("https://push.example/x");
        wrong.p256dh = BASE64URL.encode([4_u8; 65]);
        wrong.auth = BASE64URL.encode([1_u8; 15]);
        assert_eq!(
            fields(parse_subscription(&wrong)),
            ["keys.p256dh", "keys.auth"]
        );
    }

    #[test]
    fn padded_keys_are_accepted_and_stored_unpadded() {
        let mut padded = input("https://push.example/x");
        padded.auth = format!("{AUTH}==");
        let stored = parse_subscription(&padded).expect("valid");
        assert_eq!(stored.auth, AUTH);
        assert_eq!(stored.p256dh, P256DH);
    }

    #[test]
    fn the_vapid_audience_is_the_endpoints_origin_with_its_port() {
        let endpoint = check_endpoint("http://127.0.0.1:4567/push/a?x=1").expect("valid");
        assert_eq!(
            endpoint.origin().ascii_serialization(),
            "http://127.0.0.1:4567"
        );
        let endpoint = check_endpoint("https://fcm.googleapis.com:443/fcm/send/a").expect("valid");
        assert_eq!(
            endpoint.origin().ascii_serialization(),
            "https://fcm.googleapis.com"
        );
    }

    #[test]
    fn the_vapid_subject_must_be_a_mailto_or_https_uri() {
        assert!(check_subscriber("mailto:alerts@clinic.example").is_ok());
        assert!(check_subscriber("https://clinic.example/contact").is_ok());
        assert!(check_subscriber("alerts@clinic.example").is_err());
        assert!(check_subscriber("").is_err());
    }

    #[test]
    fn the_payload_holds_only_the_agreed_fields() {
        let message = PushMessage {
            id: Uuid::nil(),
            title: "Speciosa: urgent alert".into(),
            body: "An alert needs your attention.".into(),
            url: "https://clinic.example/alerts/1".into(),
            tag: "alert-1".into(),
            urgency: PushUrgency::High,
            ttl_seconds: 3600,
        };
        let payload: serde_json::Value = serde_json::from_slice(&message.payload()).expect("json");
        let mut keys: Vec<&str> = payload
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["body", "id", "tag", "title", "url"]);
    }
}
