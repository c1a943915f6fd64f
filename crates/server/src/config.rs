//! Server settings, filled from the command line and `SPECIOSA_…` variables by the CLI.

use std::net::SocketAddr;
use std::time::Duration;

use jiff::SignedDuration;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Set when clients reach Speciosa over HTTPS (usually a TLS-terminating proxy):
    /// the session cookie is then `__Host-speciosa_session`, `Secure`, and responses
    /// carry `Strict-Transport-Security`.
    pub secure_cookies: bool,
    /// Idle time after which a staff session (admin, clinician, researcher) ends.
    pub staff_idle_timeout: SignedDuration,
    /// Idle time after which a patient's session ends; longer, since patients
    /// sign in on their own phones to log doses through the day.
    pub patient_idle_timeout: SignedDuration,
    /// A staff session ends this long after sign-in, however busy: about one shift.
    pub staff_session_lifetime: SignedDuration,
    /// A patient's session ends this long after sign-in, however busy.
    pub patient_session_lifetime: SignedDuration,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How many trusted proxies append to `X-Forwarded-For` in front of Speciosa: the
    /// client is the entry this many places from the right (see `extract::forwarded_client`).
    pub trusted_proxy_hops: usize,
    /// Doses taken this long before the patient's usual bedtime count as bedtime doses.
    /// A clinic setting: no published cut-off exists.
    pub bedtime_window: SignedDuration,
    /// How often time-based safety rules are re-checked for every patient.
    pub safety_check_interval: Duration,
    /// A bearer token that opens `/metrics` to scrapers off this host; without it
    /// only loopback peers may read the metrics.
    pub metrics_token: Option<String>,
    /// Sequence the audit log into its Merkle tree and sign checkpoints (key and
    /// checkpoint file outside the database); `None` leaves events unsequenced.
    pub audit_sealer: Option<speciosa_app::SealerConfig>,
    /// An unacknowledged urgent alert pages the on-call list this long after it opened,
    /// and again at each further interval.
    pub urgent_escalation: SignedDuration,
    /// Links in messages and feeds start with this; by default `http://` + `listen`.
    pub public_url: Option<String>,
    /// `smtp://host:port` to send e-mail through; none sends no e-mail.
    pub smtp_url: Option<String>,
    /// The sender address of e-mail.
    pub mail_from: Option<String>,
}

impl ServerConfig {
    /// Where people reach this server.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            secure_cookies: false,
            staff_idle_timeout: SignedDuration::from_mins(30),
            patient_idle_timeout: SignedDuration::from_hours(12),
            staff_session_lifetime: SignedDuration::from_hours(12),
            patient_session_lifetime: SignedDuration::from_hours(30 * 24),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 256 * 1024,
            trust_forwarded_for: false,
            trusted_proxy_hops: 1,
            bedtime_window: SignedDuration::from_mins(120),
            safety_check_interval: Duration::from_secs(300),
            metrics_token: None,
            audit_sealer: None,
            urgent_escalation: SignedDuration::from_mins(15),
            public_url: None,
            smtp_url: None,
            mail_from: None,
        }
    }
}
