//! Typed helpers for driving a real Speciosa server in tests.

use std::sync::atomic::{AtomicU32, Ordering};

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use speciosa_app::store::{DatabaseLocation, NewUser, PoolOptions, Store};
use speciosa_core::account::{DisplayName, Email, NewPassword, Role};
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_server::{ServerConfig, hash_password};
use sqlx::Connection;
use tokio::net::TcpListener;

pub const PASSWORD: &str = "a long enough password";

/// Declares tests that run once per backend: `name::on_sqlite` and `name::on_postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$name(crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some(app) = crate::helpers::TestApp::spawn_postgres().await {
                    super::$name(app).await
                }
            }
        }
    )+};
}
pub(crate) use on_both_backends;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub location: DatabaseLocation,
    pub backend: Backend,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

static DATABASE_COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, ServerConfig::default()).await
    }

    /// The PostgreSQL variant, or `None` (skipped) when no server is configured
    /// and `SPECIOSA_REQUIRE_POSTGRES` is unset.
    pub async fn spawn_postgres() -> Option<TestApp> {
        if std::env::var("SPECIOSA_TEST_DATABASE_URL").is_err() {
            assert!(
                std::env::var("SPECIOSA_REQUIRE_POSTGRES").is_err(),
                "SPECIOSA_REQUIRE_POSTGRES is set but SPECIOSA_TEST_DATABASE_URL is not"
            );
            eprintln!(
                "skipped: set SPECIOSA_TEST_DATABASE_URL (or run scripts/test) for the PostgreSQL variant"
            );
            return None;
        }
        Some(Self::spawn(Backend::Postgres).await)
    }

    pub async fn spawn_with(backend: Backend, config: ServerConfig) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let location = match backend {
            Backend::Sqlite => DatabaseLocation::DataDir(dir.path().to_owned()),
            Backend::Postgres => DatabaseLocation::Url(fresh_postgres_database().await),
        };
        Self::spawn_on(backend, location, config, dir).await
    }

    /// A second server sharing this one's database (as app servers behind a load balancer do).
    pub async fn sibling(&self, config: ServerConfig) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self::spawn_on(self.backend, self.location.clone(), config, dir).await
    }

    async fn spawn_on(
        backend: Backend,
        location: DatabaseLocation,
        config: ServerConfig,
        dir: tempfile::TempDir,
    ) -> TestApp {
        let store = Store::open(&location, &PoolOptions { max_connections: 8 })
            .await
            .expect("open the store");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let config = ServerConfig {
            listen: listener.local_addr().expect("local address"),
            ..config
        };
        let app = speciosa_server::App::with_store(
            store.clone(),
            speciosa_server::AppSettings::default(),
        )
        .expect("bundled data loads");
        tokio::spawn(speciosa_server::serve_on(listener, app, config));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        TestApp {
            base,
            store,
            location,
            backend,
            http,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client with no session.
    pub fn anonymous(&self) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            cookie: None,
            csrf: None,
            user: Value::Null,
        }
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Client {
        let response = self
            .http
            .post(self.url("/api/v1/session"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("sign-in request");
        assert_eq!(response.status(), StatusCode::OK, "signing in as {email}");
        let cookie = session_cookie(&response).expect("a session cookie");
        let body: Value = response.json().await.expect("json");
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            cookie: Some(cookie),
            csrf: body["csrf_token"].as_str().map(str::to_owned),
            user: body["user"].clone(),
        }
    }

    /// A new organization with its first admin, made as `speciosa admin create` does.
    pub async fn clinic(&self, name: &str) -> Clinic {
        let organization = self
            .store
            .create_organization(name)
            .await
            .expect("create organization");
        let slug: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_lowercase();
        let admin_email = format!("admin@{slug}.test");
        let new = NewUser {
            organization_id: organization.id,
            email: Email::parse(&admin_email).expect("email"),
            display_name: DisplayName::parse("Admin").expect("name"),
            role: Role::Admin,
            password_hash: hash_password(&NewPassword::parse(PASSWORD).expect("password"))
                .expect("hash"),
        };
        self.store
            .create_user(new, |u| AuditEntry {
                actor_user_id: None,
                actor_role: None,
                organization_id: Some(u.organization_id),
                action: "user.create".into(),
                resource_type: "user".into(),
                resource_id: Some(u.id.to_string()),
                patient_id: None,
                outcome: Outcome::Success,
                client_addr: Some("test".into()),
                detail: None,
            })
            .await
            .expect("create admin");
        let admin = self.sign_in(&admin_email, PASSWORD).await;
        Clinic { slug, admin }
    }

    /// Signs in as a new user of `role` created by the clinic's admin.
    pub async fn staff(&self, clinic: &Clinic, role: &str, name: &str) -> Client {
        let email = format!(
            "{}@{}.test",
            name.to_lowercase().replace(' ', "."),
            clinic.slug
        );
        let response = clinic
            .admin
            .post(
                "/api/v1/users",
                &json!({"email": email, "password": PASSWORD, "role": role, "display_name": name}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "creating {role} {name}"
        );
        self.sign_in(&email, PASSWORD).await
    }

    /// A patient registered by `clinician`, with a login; returns the patient's id and client.
    pub async fn patient_with_login(&self, clinician: &Client, name: &str) -> (String, Client) {
        let id = create_patient(clinician, name).await;
        let email = format!(
            "{}.{}@patients.test",
            name.to_lowercase().replace(' ', "."),
            &id[..8]
        );
        let response = clinician
            .post(
                &format!("/api/v1/patients/{id}/account"),
                &json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "creating a login for {name}"
        );
        (id, self.sign_in(&email, PASSWORD).await)
    }

    pub async fn audit_actions(&self) -> Vec<(String, String, Option<String>)> {
        let events = self
            .store
            .list_audit_events(&speciosa_app::store::AuditFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("audit events");
        events
            .into_iter()
            .rev()
            .map(|e| (e.action, e.outcome, e.patient_id.map(|p| p.to_string())))
            .collect()
    }
}

pub async fn create_patient(clinician: &Client, name: &str) -> String {
    let response = clinician
        .post("/api/v1/patients", &json!({"display_name": name, "birth_date": "1985-03-14", "time_zone": "America/Chicago"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "registering {name}");
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("patient id").to_owned()
}

pub struct Clinic {
    pub slug: String,
    pub admin: Client,
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        // `__Host-speciosa_session` when the server runs with secure cookies.
        .find(|v| v.starts_with("speciosa_session=") || v.starts_with("__Host-speciosa_session="))
        .map(str::to_owned)
}

/// A signed-in (or anonymous) HTTP client that sends its session cookie and, on
/// state-changing requests, its CSRF token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub user: Value,
}

impl Client {
    pub fn id(&self) -> String {
        self.user["id"].as_str().unwrap_or_default().to_owned()
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            let pair = cookie.split(';').next().unwrap_or_default().to_owned();
            request = request.header(reqwest::header::COOKIE, pair);
        }
        if let (true, Some(csrf)) = (method != Method::GET, &self.csrf) {
            request = request.header("X-CSRF-Token", csrf);
        }
        request
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(Method::GET, path, None).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("json")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.send(Method::DELETE, path, None).await
    }
}

/// Reads a problem+json response, checking its media type and status field.
pub async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/")),
        "stable type: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "a detail: {body}"
    );
    body
}

/// The fields named in a validation problem.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh, empty database on the test PostgreSQL server.
async fn fresh_postgres_database() -> String {
    let admin_url =
        std::env::var("SPECIOSA_TEST_DATABASE_URL").expect("SPECIOSA_TEST_DATABASE_URL");
    let name = format!(
        "speciosa_test_{}_{}_{}",
        std::process::id(),
        DATABASE_COUNTER.fetch_add(1, Ordering::SeqCst),
        jiff::Timestamp::now().as_microsecond()
    );
    let mut connection = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("create the test database");
    let _ = connection.close().await;
    let (prefix, _) = admin_url
        .rsplit_once('/')
        .expect("a database name in the URL");
    format!("{prefix}/{name}")
}

pub fn short_idle(seconds: i64) -> ServerConfig {
    ServerConfig {
        staff_idle_timeout: SignedDuration::from_secs(seconds),
        ..ServerConfig::default()
    }
}

/// Posts a page form as `who`, with the session's CSRF token.
pub async fn post_form(who: &Client, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = who.csrf.clone().unwrap_or_default();
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    who.request(Method::POST, path)
        .form(&form)
        .send()
        .await
        .expect("form request")
}

/// A redirect's target, or "" when there is none.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
