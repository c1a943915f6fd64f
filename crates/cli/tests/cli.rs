//! The `speciosa` binary as an operator uses it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_speciosa");

fn speciosa(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("SPECIOSA_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run speciosa");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for speciosa")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn create_admin(dir: &Path, org: &str, email: &str, password_line: &str) -> Output {
    let dir = dir.to_str().expect("utf-8 path");
    speciosa(
        &[
            "admin",
            "create",
            "--data-dir",
            dir,
            "--org",
            org,
            "--email",
            email,
            "--password-stdin",
        ],
        password_line,
    )
}

async fn count(database: &Path, query: &str) -> i64 {
    let url = format!("sqlite://{}", database.display());
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the database");
    sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_one(&mut connection)
        .await
        .expect("count")
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Starts `speciosa serve` on `data` and waits until it is ready.
async fn serve(data: &Path) -> (std::process::Child, String) {
    serve_with(&["--data-dir", path_text(data)]).await
}

/// Starts `speciosa serve` with `args` and waits until it is ready.
async fn serve_with(args: &[&str]) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .args(["--listen", &listen])
        .env("SPECIOSA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await
            && response.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, base)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A signed-in API client: the session cookie, and the CSRF token for writes.
#[derive(Clone)]
struct Session {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Session {
    async fn sign_in(base: &str, email: &str, password: &str) -> Session {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/api/v1/session"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "signing in as {email}");
        let cookie = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.split(';').next().filter(|c| c.contains("session")))
            .expect("a session cookie")
            .to_owned();
        let body: serde_json::Value = response.json().await.unwrap();
        Session {
            http,
            base: base.to_owned(),
            cookie,
            csrf: body["csrf_token"]
                .as_str()
                .expect("a csrf token")
                .to_owned(),
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn create(&self, path: &str, body: serde_json::Value) -> String {
        let response = self.post(path, body).await;
        assert_eq!(response.status(), 201, "POST {path}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_str().expect("an id").to_owned()
    }
}

#[test]
fn every_command_explains_itself_with_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "create", "--help"],
        vec!["audit", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["audit", "prove", "--help"],
        vec!["migrate", "--help"],
        vec!["simulate", "--help"],
        vec!["backup", "--help"],
        vec!["restore", "--help"],
    ] {
        let output = speciosa(&args, "");
        assert!(output.status.success(), "{args:?}");
        assert!(text(&output.stdout).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn admin_create_makes_the_database_the_organization_and_its_admin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let output = create_admin(
        &data,
        "Riverside",
        "owner@riverside.test",
        "correct horse battery\n",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(data.join("speciosa.db").exists());
    assert!(text(&output.stdout).contains("owner@riverside.test"));
    // A second admin joins the existing organization; a repeated email is refused.
    assert!(
        create_admin(
            &data,
            "Riverside",
            "second@riverside.test",
            "another long password"
        )
        .status
        .success()
    );
    let again = create_admin(
        &data,
        "Riverside",
        "owner@riverside.test",
        "correct horse battery\n",
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already in use"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn admin_create_refuses_a_short_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let output = create_admin(dir.path(), "Riverside", "owner@riverside.test", "short\n");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("at least 12"),
        "{}",
        text(&output.stderr)
    );
}

/// Runs several statements against a stopped server's SQLite database.
async fn tamper(dir: &Path, statements: &str) {
    let url = format!("sqlite://{}", dir.join("speciosa.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the database");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_owned()))
        .execute(&mut connection)
        .await
        .expect("tamper");
}

fn verify(dir: &Path) -> Output {
    speciosa(&["audit", "verify", "--data-dir", path_text(dir)], "")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A data directory whose log a server sequenced and checkpointed at shutdown: an
/// admin, a clinician they created, and a few sign-ins.
async fn sealed_log(dir: &Path) {
    let password = "correct horse battery";
    assert!(
        create_admin(dir, "Riverside", "owner@riverside.test", password)
            .status
            .success()
    );
    let (server, base) = serve(dir).await;
    let admin = Session::sign_in(&base, "owner@riverside.test", password).await;
    admin
        .create(
            "/api/v1/users",
            serde_json::json!({"email": "casey@riverside.test", "password": password, "role": "clinician", "display_name": "Casey Doe"}),
        )
        .await;
    for _ in 0..3 {
        Session::sign_in(&base, "casey@riverside.test", password).await;
    }
    stop(server);
}

/// Forges the log the way an administrator of the database could: rewrites rows, then
/// rebuilds the whole tree with Speciosa's own sequencer so every hash is consistent.
async fn rewrite_consistently(dir: &Path, statements: &str) {
    tamper(
        dir,
        &format!(
            "{statements}; UPDATE audit_events SET leaf_hash = NULL, leaf_index = NULL; \
             DELETE FROM audit_tree_nodes; \
             UPDATE audit_tree_head SET tree_size = 0, \
             root_hash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'"
        ),
    )
    .await;
    let store = speciosa_store::Store::open(
        &speciosa_store::DatabaseLocation::DataDir(dir.to_owned()),
        &speciosa_store::PoolOptions::default(),
    )
    .await
    .unwrap();
    store.sequence_audit(100_000).await.unwrap();
    match store.verify_audit_chain().await.unwrap() {
        speciosa_store::AuditVerification::Intact { .. } => {}
        speciosa_store::AuditVerification::Broken(broken) => {
            panic!("the forgery should be internally consistent: {broken}")
        }
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_passes_an_untouched_log_and_exits_2_after_any_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    sealed_log(&original).await;

    // A graceful shutdown sequenced everything and signed a checkpoint, in the file and the database.
    let log = std::fs::read_to_string(original.join("audit-checkpoints.log")).unwrap();
    assert!(log.starts_with("speciosa/audit/"), "{log}");
    assert_eq!(
        count(
            &original.join("speciosa.db"),
            "SELECT COUNT(*) FROM audit_checkpoints"
        )
        .await,
        1
    );
    let events = count(
        &original.join("speciosa.db"),
        "SELECT COUNT(*) FROM audit_events",
    )
    .await;
    assert!(events >= 6, "{events} events");
    let intact = verify(&original);
    assert!(intact.status.success(), "{}", text(&intact.stderr));
    let summary = text(&intact.stdout);
    assert!(summary.contains(&format!("{events} events")), "{summary}");
    assert!(
        summary.contains("1 signed checkpoints verified"),
        "{summary}"
    );
    assert!(summary.contains("0 not yet checkpointed"), "{summary}");

    let content = "occurred_at, actor_user_id, actor_role, organization_id, action, \
                   resource_type, resource_id, patient_id, outcome, client_addr, detail";
    let cases: Vec<(&str, String)> = vec![
        (
            "a detail altered",
            "UPDATE audit_events SET detail = 'nothing happened' WHERE id = 2".into(),
        ),
        (
            "an event deleted",
            "DELETE FROM audit_events WHERE id = 3".into(),
        ),
        (
            "two events' contents swapped",
            format!(
                "CREATE TEMP TABLE pair AS SELECT * FROM audit_events WHERE id IN (2, 3); \
                 UPDATE audit_events SET ({content}) = \
                 (SELECT {content} FROM pair WHERE pair.id = 5 - audit_events.id) WHERE id IN (2, 3)"
            ),
        ),
        (
            "an event inserted in the middle",
            format!(
                "UPDATE audit_events SET leaf_index = leaf_index + 1000 WHERE leaf_index >= 2; \
                 UPDATE audit_events SET leaf_index = leaf_index - 999 WHERE leaf_index >= 1000; \
                 INSERT INTO audit_events ({content}, leaf_hash, leaf_index) \
                 SELECT {content}, leaf_hash, 2 FROM audit_events WHERE id = 1"
            ),
        ),
        (
            "the tail truncated",
            "DELETE FROM audit_events WHERE id > (SELECT MAX(id) - 2 FROM audit_events)".into(),
        ),
        (
            "a tree node altered",
            "UPDATE audit_tree_nodes SET hash = \
             CASE WHEN substr(hash, 1, 1) = '0' THEN '1' ELSE '0' END || substr(hash, 2) \
             WHERE level = 1 AND node_index = 0"
                .into(),
        ),
    ];
    for (n, (case, statements)) in cases.iter().enumerate() {
        let copy = dir.path().join(format!("case-{n}"));
        copy_dir(&original, &copy);
        tamper(&copy, statements).await;
        let output = verify(&copy);
        assert_eq!(output.status.code(), Some(2), "{case} went unnoticed");
        assert!(
            text(&output.stderr).contains("TAMPERED"),
            "{case}: {}",
            text(&output.stderr)
        );
    }

    // Every hash recomputed and the tree rebuilt: only the signed checkpoint tells.
    for (n, statements) in [
        "UPDATE audit_events SET detail = 'nothing happened' WHERE id = 2",
        "DELETE FROM audit_events WHERE id > (SELECT MAX(id) - 2 FROM audit_events)",
        "DELETE FROM audit_events WHERE id = 3; DELETE FROM audit_checkpoints",
    ]
    .iter()
    .enumerate()
    {
        let copy = dir.path().join(format!("rewrite-{n}"));
        copy_dir(&original, &copy);
        rewrite_consistently(&copy, statements).await;
        let output = verify(&copy);
        assert_eq!(
            output.status.code(),
            Some(2),
            "rewrite {statements} went unnoticed"
        );
    }

    // The checkpoint file edited, or cut short.
    let edited = dir.path().join("edited-checkpoints");
    copy_dir(&original, &edited);
    let lines: Vec<&str> = log.lines().collect();
    let forged = log.replacen(&format!("\n{}\n", lines[1]), "\n1\n", 1);
    std::fs::write(edited.join("audit-checkpoints.log"), forged).unwrap();
    assert_eq!(verify(&edited).status.code(), Some(2));
    let emptied = dir.path().join("emptied-checkpoints");
    copy_dir(&original, &emptied);
    std::fs::write(emptied.join("audit-checkpoints.log"), "").unwrap();
    assert_eq!(verify(&emptied).status.code(), Some(2));

    // Another Speciosa database, sealed by its own server, put in this one's place.
    let other = dir.path().join("other");
    sealed_log(&other).await;
    assert!(verify(&other).status.success());
    let replaced = dir.path().join("replaced");
    copy_dir(&original, &replaced);
    std::fs::copy(other.join("speciosa.db"), replaced.join("speciosa.db")).unwrap();
    let output = verify(&replaced);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stdout));

    // Appended after the last checkpoint: reported, and still fine.
    assert!(
        create_admin(
            &original,
            "Riverside",
            "late@riverside.test",
            "correct horse battery\n"
        )
        .status
        .success()
    );
    let later = verify(&original);
    assert!(later.status.success(), "{}", text(&later.stderr));
    assert!(
        text(&later.stdout).contains("1 not yet sequenced"),
        "{}",
        text(&later.stdout)
    );
}

fn python3() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs scripts/verify-audit-proof.py on `json`; true when it accepts the proof.
fn script_accepts(json: &str) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/verify-audit-proof.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    output.status.success()
}

fn check_proof(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", text(&output.stderr));
    let proof: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let keys: Vec<&str> = proof
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [
            "checkpoint",
            "leaf_hash",
            "leaf_index",
            "proof",
            "root_hash",
            "tree_size"
        ]
        .into()
    );
    let hex = |v: &serde_json::Value| {
        let s = v.as_str().unwrap();
        s.len() == 64
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    assert!(hex(&proof["leaf_hash"]) && hex(&proof["root_hash"]));
    assert!(proof["proof"].as_array().unwrap().iter().all(hex));
    assert!(
        proof["checkpoint"]["signed_text"]
            .as_str()
            .unwrap()
            .contains(&format!("\n{}\n", proof["tree_size"]))
    );
    if python3() {
        assert!(
            script_accepts(&proof.to_string()),
            "the script refuses {proof}"
        );
        let mut forged = proof.clone();
        forged["leaf_hash"] = forged["root_hash"].clone();
        assert!(
            !script_accepts(&forged.to_string()),
            "the script accepts a forged leaf"
        );
    }
    proof
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_prove_prints_an_inclusion_proof_that_the_script_checks_independently() {
    let dir = tempfile::tempdir().unwrap();
    sealed_log(dir.path()).await;
    let events = count(
        &dir.path().join("speciosa.db"),
        "SELECT COUNT(*) FROM audit_events",
    )
    .await;
    for id in [1, 2, events] {
        let output = speciosa(
            &[
                "audit",
                "prove",
                "--data-dir",
                path_text(dir.path()),
                &id.to_string(),
            ],
            "",
        );
        let proof = check_proof(&output);
        assert_eq!(proof["leaf_index"], id - 1);
        assert_eq!(proof["tree_size"], events);
    }
    let missing = speciosa(
        &[
            "audit",
            "prove",
            "--data-dir",
            path_text(dir.path()),
            "99999",
        ],
        "",
    );
    assert!(!missing.status.success());
}

#[test]
fn admin_create_and_audit_verify_work_on_postgresql() {
    let Ok(admin_url) = std::env::var("SPECIOSA_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("SPECIOSA_REQUIRE_POSTGRES").is_err(),
            "SPECIOSA_TEST_DATABASE_URL is required"
        );
        return;
    };
    let name = format!("speciosa_cli_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut connection = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .unwrap();
    });
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let args = [
        "admin",
        "create",
        "--database-url",
        &url,
        "--org",
        "Riverside",
        "--email",
        "a@r.test",
        "--password-stdin",
    ];
    let output = speciosa(&args, "correct horse battery\n");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let verify = speciosa(&["audit", "verify", "--database-url", &url], "");
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    assert!(text(&verify.stdout).contains("1 events"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_sealed_verified_and_proven_on_postgresql() {
    let Ok(admin_url) = std::env::var("SPECIOSA_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("SPECIOSA_REQUIRE_POSTGRES").is_err(),
            "SPECIOSA_TEST_DATABASE_URL is required"
        );
        return;
    };
    let name = format!("speciosa_cli_seal_{}", std::process::id());
    let mut connection = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let data = path_text(dir.path());
    let password = "correct horse battery";
    let created = speciosa(
        &[
            "admin",
            "create",
            "--database-url",
            &url,
            "--org",
            "Riverside",
            "--email",
            "owner@riverside.test",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let (server, base) = serve_with(&["--database-url", &url, "--data-dir", data]).await;
    for _ in 0..4 {
        Session::sign_in(&base, "owner@riverside.test", password).await;
    }
    stop(server);
    assert!(dir.path().join("audit-signing.key").exists());
    let args = [
        "audit",
        "verify",
        "--database-url",
        &url,
        "--data-dir",
        data,
    ];
    let intact = speciosa(&args, "");
    assert!(intact.status.success(), "{}", text(&intact.stderr));
    assert!(
        text(&intact.stdout).contains("1 signed checkpoints verified"),
        "{}",
        text(&intact.stdout)
    );

    let proof = speciosa(
        &[
            "audit",
            "prove",
            "--database-url",
            &url,
            "--data-dir",
            data,
            "3",
        ],
        "",
    );
    assert_eq!(check_proof(&proof)["leaf_index"], 2);

    let mut database = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_events SET client_addr = '10.9.9.9' WHERE id = 2")
        .execute(&mut database)
        .await
        .unwrap();
    let altered = speciosa(&args, "");
    assert_eq!(altered.status.code(), Some(2), "{}", text(&altered.stdout));
    assert!(
        text(&altered.stderr).contains("audit event 2"),
        "{}",
        text(&altered.stderr)
    );
}

#[tokio::test]
async fn serve_answers_health_checks_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--listen",
            &listen,
        ])
        .env("SPECIOSA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("http://{listen}/readyz")).send().await
            && response.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client
            .get(format!("http://{listen}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let signed_in = client
        .post(format!("http://{listen}/api/v1/session"))
        .json(&serde_json::json!({"email": "amara.okafor@demo.speciosa.test", "password": "kratom-demo-2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200, "the demo clinician signs in");

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "serve did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "serve exited with {status}");
    let output = child.wait_with_output().unwrap();
    assert!(
        text(&output.stdout).contains("amara.okafor@demo.speciosa.test"),
        "the demo logins are printed"
    );

    // The demo is seeded once: a restart keeps the data and seeds nothing new.
    let again = speciosa(
        &[
            "audit",
            "verify",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        "",
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
}

#[test]
fn simulate_writes_the_curve_and_summary_for_a_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let regimen = dir.path().join("daily.toml");
    std::fs::write(
        &regimen,
        "duration_h = 480\n[schedule]\nmitragynine_mg = 39\nevery_h = 24\ncount = 20\n",
    )
    .unwrap();
    let out = dir.path().join("out/nested");
    let output = speciosa(
        &[
            "simulate",
            "--regimen",
            regimen.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let csv = std::fs::read_to_string(out.join("curve.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("time_h,mitragynine_ng_ml,hydroxymitragynine_ng_ml")
    );
    let times: Vec<f64> = lines
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(times.first(), Some(&0.0));
    assert!((times.last().unwrap() - 480.0).abs() < 1e-9);
    assert!(times.windows(2).all(|w| w[1] - w[0] <= 0.1 + 1e-9));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    for key in ["cmax_ng_ml", "tmax_h", "auc_ng_h_ml", "half_life_h"] {
        assert!(summary["mitragynine"][key].is_f64(), "mitragynine.{key}");
    }
    // Twenty doses of 39 mg: AUC∞ = 780 mg / 233 L/h.
    assert!(
        (summary["mitragynine"]["auc_ng_h_ml"].as_f64().unwrap() - 780.0 / 233.0 * 1000.0).abs()
            < 1e-6
    );
    let svg = std::fs::read_to_string(out.join("curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 2);
    let ninety = summary["time_to_90pct_steady_state_h"].as_f64().unwrap();
    assert!(ninety == 144.0 || ninety == 168.0, "{ninety}");
}

#[test]
fn simulate_refuses_an_invalid_regimen_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    for (body, named) in [
        (
            "[[dose]]\ntime_h = 0\nmitragynine_mg = -39\n",
            "mitragynine_mg",
        ),
        (
            "[[dose]]\ntime_h = 0\nmitragynine_mg = inf\n",
            "mitragynine_mg",
        ),
        (
            "[[dose]]\ntime_h = 0\nmitragynine_mg = 39\nstrain = \"red\"\n",
            "strain",
        ),
    ] {
        let regimen = dir.path().join("bad.toml");
        std::fs::write(&regimen, body).unwrap();
        let out = dir.path().join("out");
        let output = speciosa(
            &[
                "simulate",
                "--regimen",
                regimen.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            "",
        );
        assert!(!output.status.success(), "{body}");
        assert!(
            text(&output.stderr).contains(named),
            "{body}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn simulate_with_a_population_writes_reproducible_percentile_bands() {
    let dir = tempfile::tempdir().unwrap();
    let regimen = dir.path().join("single.toml");
    std::fs::write(
        &regimen,
        "duration_h = 48\n[[dose]]\ntime_h = 0\nmitragynine_mg = 39\n",
    )
    .unwrap();
    let run = |out: &str| {
        let out = dir.path().join(out);
        let args = [
            "simulate",
            "--regimen",
            regimen.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--population",
            "300",
            "--seed",
            "9",
        ];
        let output = speciosa(&args, "");
        assert!(output.status.success(), "{}", text(&output.stderr));
        std::fs::read_to_string(out.join("population.csv")).unwrap()
    };
    let first = run("a");
    assert_eq!(first, run("b"), "the same seed gives the same bands");
    let header = first.lines().next().unwrap();
    assert!(
        header
            .starts_with("time_h,mitragynine_p5_ng_ml,mitragynine_p25_ng_ml,mitragynine_p50_ng_ml")
    );
    let at_one_hour: Vec<f64> = first
        .lines()
        .find(|l| l.starts_with("1.0000,"))
        .unwrap()
        .split(',')
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        at_one_hour[..5].windows(2).all(|w| w[0] <= w[1]),
        "{at_one_hour:?}"
    );
    assert!(
        at_one_hour[0] < 32.6 && 32.6 < at_one_hour[4],
        "the typical Cmax lies inside the 5–95 % band"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_copies_a_live_database_while_the_server_writes_and_restore_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let password = "correct horse battery";
    assert!(
        create_admin(&live, "Riverside", "owner@riverside.test", password)
            .status
            .success()
    );
    let (server, base) = serve(&live).await;
    let admin = Session::sign_in(&base, "owner@riverside.test", password).await;
    admin
        .create(
            "/api/v1/users",
            serde_json::json!({"email": "casey@riverside.test", "password": password, "role": "clinician", "display_name": "Casey Doe"}),
        )
        .await;
    let casey = Session::sign_in(&base, "casey@riverside.test", password).await;
    let patient = casey
        .create(
            "/api/v1/patients",
            serde_json::json!({"display_name": "Dana Reyes", "birth_date": "1988-04-12", "time_zone": "America/Chicago"}),
        )
        .await;
    let product = casey
        .create(
            "/api/v1/products",
            serde_json::json!({"name": "Leaf", "form": "leaf_powder"}),
        )
        .await;
    let batch = casey
        .create(
            &format!("/api/v1/products/{product}/batches"),
            serde_json::json!({"lot": "A1"}),
        )
        .await;

    // Three writers log doses throughout; every one must be answered 201.
    const PER_WRITER: usize = 40;
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let casey = casey.clone();
            let path = format!("/api/v1/patients/{patient}/doses");
            let body = serde_json::json!({"batch_id": batch, "amount": 2.0, "unit": "g"});
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                for _ in 0..PER_WRITER {
                    let status = casey.post(&path, body.clone()).await.status();
                    assert_eq!(status, 201, "a dose logged during the backup");
                    acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 15 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "doses are logged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before_backup = acknowledged.load(std::sync::atomic::Ordering::SeqCst) as i64;
    let backup_file = dir.path().join("backups/riverside.db");
    let args = [
        "backup",
        "--data-dir",
        path_text(&live),
        "--out",
        path_text(&backup_file),
    ]
    .map(str::to_owned);
    let backed_up = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        speciosa(&args, "")
    })
    .await
    .unwrap();
    assert!(backed_up.status.success(), "{}", text(&backed_up.stderr));
    assert!(text(&backed_up.stdout).contains("Backed up"));
    for writer in writers {
        writer.await.expect("every write was acknowledged");
    }
    stop(server);
    let total = (3 * PER_WRITER) as i64;
    assert_eq!(
        count(&live.join("speciosa.db"), "SELECT COUNT(*) FROM doses").await,
        total
    );

    let restored = dir.path().join("restored");
    let output = speciosa(
        &[
            "restore",
            "--data-dir",
            path_text(&restored),
            "--from",
            path_text(&backup_file),
        ],
        "",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let verify = speciosa(&["audit", "verify", "--data-dir", path_text(&restored)], "");
    assert!(verify.status.success(), "{}", text(&verify.stderr));

    // One snapshot: each dose with the audit event written in its transaction, and at
    // least every dose acknowledged before the backup began.
    let database = restored.join("speciosa.db");
    let doses = count(&database, "SELECT COUNT(*) FROM doses").await;
    let events = count(
        &database,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'dose.create'",
    )
    .await;
    assert_eq!(doses, events);
    assert!(
        (before_backup..=total).contains(&doses),
        "{doses} doses, {before_backup} acknowledged before the backup"
    );
    // The restored copy serves: its users sign in.
    let (server, base) = serve(&restored).await;
    Session::sign_in(&base, "casey@riverside.test", password).await;
    stop(server);
}

/// Group commit answers a write only once its batch is durable: killing the server
/// mid-batch may lose writes nobody was told about, never one that was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_write_keeps_every_acknowledged_dose_and_its_audit_event() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let password = "correct horse battery";
    assert!(
        create_admin(&live, "Riverside", "owner@riverside.test", password)
            .status
            .success()
    );
    let (mut server, base) = serve(&live).await;
    let admin = Session::sign_in(&base, "owner@riverside.test", password).await;
    admin
        .create(
            "/api/v1/users",
            serde_json::json!({"email": "casey@riverside.test", "password": password, "role": "clinician", "display_name": "Casey Doe"}),
        )
        .await;
    let casey = Session::sign_in(&base, "casey@riverside.test", password).await;
    let patient = casey
        .create(
            "/api/v1/patients",
            serde_json::json!({"display_name": "Dana Reyes", "birth_date": "1988-04-12", "time_zone": "America/Chicago"}),
        )
        .await;
    let product = casey
        .create(
            "/api/v1/products",
            serde_json::json!({"name": "Leaf", "form": "leaf_powder"}),
        )
        .await;
    let batch = casey
        .create(
            &format!("/api/v1/products/{product}/batches"),
            serde_json::json!({"lot": "A1"}),
        )
        .await;

    // Eight writers log doses until the server dies, keeping the id of each 201.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let casey = casey.clone();
            let path = format!("/api/v1/patients/{patient}/doses");
            let body = serde_json::json!({"batch_id": batch, "amount": 2.0, "unit": "g"});
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                loop {
                    let sent = casey
                        .http
                        .post(format!("{}{path}", casey.base))
                        .header(reqwest::header::COOKIE, &casey.cookie)
                        .header("X-CSRF-Token", &casey.csrf)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(response) = sent else { return };
                    if response.status() != 201 {
                        return;
                    }
                    let Ok(dose) = response.json::<serde_json::Value>().await else {
                        return;
                    };
                    let id = dose["id"].as_str().expect("an id").to_owned();
                    acknowledged.lock().unwrap().push(id);
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 60 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "doses are logged"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().expect("SIGKILL the server");
    server.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }

    let database = live.join("speciosa.db");
    let url = format!("sqlite://{}", database.display());
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the database");
    let stored: Vec<String> = sqlx::query_scalar("SELECT lower(hex(id)) FROM doses")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    for id in &acknowledged {
        assert!(
            stored.contains(&id.replace('-', "")),
            "acknowledged dose {id} survived the crash"
        );
    }
    connection.close().await.unwrap();
    let events = count(
        &database,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'dose.create'",
    )
    .await;
    assert_eq!(
        events,
        stored.len() as i64,
        "each stored dose has its audit event"
    );
    let verify = speciosa(&["audit", "verify", "--data-dir", path_text(&live)], "");
    assert!(verify.status.success(), "{}", text(&verify.stderr));
}

#[tokio::test]
async fn restore_refuses_a_non_empty_directory_and_anything_but_an_intact_speciosa_database() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    assert!(
        create_admin(&live, "Riverside", "a@r.test", "correct horse battery\n")
            .status
            .success()
    );
    let backup_file = dir.path().join("backup.db");
    let backup = || {
        speciosa(
            &[
                "backup",
                "--data-dir",
                path_text(&live),
                "--out",
                path_text(&backup_file),
            ],
            "",
        )
    };
    assert!(backup().status.success());
    let again = backup();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

    let restore = |target: &Path, from: &Path| {
        speciosa(
            &[
                "restore",
                "--data-dir",
                path_text(target),
                "--from",
                path_text(from),
            ],
            "",
        )
    };
    let refused = |output: &Output, says: &str| {
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        assert!(
            text(&output.stderr).contains(says),
            "{says:?} in {}",
            text(&output.stderr)
        );
    };

    // A directory with anything in it is left alone.
    let occupied = dir.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), "keep me").unwrap();
    refused(&restore(&occupied, &backup_file), "not empty");
    assert_eq!(std::fs::read_dir(&occupied).unwrap().count(), 1);
    refused(&restore(&live, &backup_file), "not empty");

    // Files that are not intact Speciosa databases, each refused without leaving a directory behind.
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "not a database at all").unwrap();
    let mut damaged = std::fs::read(&backup_file).unwrap();
    assert!(damaged.len() > 4 * 4096);
    damaged[2 * 4096..3 * 4096].fill(0xAB);
    let damaged_file = dir.path().join("damaged.db");
    std::fs::write(&damaged_file, damaged).unwrap();
    let foreign_file = dir.path().join("foreign.db");
    {
        let url = format!("sqlite://{}?mode=rwc", foreign_file.display());
        let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE notes (body TEXT)")
            .execute(&mut connection)
            .await
            .unwrap();
    }
    let target = dir.path().join("new");
    for (file, says) in [
        (&text_file, "not a SQLite database"),
        (&damaged_file, "damaged"),
        (&foreign_file, "not a Speciosa one"),
    ] {
        refused(&restore(&target, file), says);
        assert!(!target.exists(), "{says}: nothing is left behind");
    }

    // PostgreSQL has its own tools.
    let postgres = "postgres://speciosa@127.0.0.1:9/speciosa";
    refused(
        &speciosa(
            &[
                "backup",
                "--database-url",
                postgres,
                "--out",
                path_text(&dir.path().join("pg.db")),
            ],
            "",
        ),
        "pg_dump",
    );
    refused(
        &speciosa(
            &[
                "restore",
                "--database-url",
                postgres,
                "--data-dir",
                path_text(&target),
                "--from",
                path_text(&backup_file),
            ],
            "",
        ),
        "pg_restore",
    );
    // A data directory without a database is not backed up as an empty one.
    refused(
        &speciosa(
            &[
                "backup",
                "--data-dir",
                path_text(&target),
                "--out",
                path_text(&dir.path().join("empty.db")),
            ],
            "",
        ),
        "no Speciosa database",
    );
    assert!(!target.exists());

    // The intact backup restores.
    let restored = restore(&target, &backup_file);
    assert!(restored.status.success(), "{}", text(&restored.stderr));
}

#[test]
fn data_check_passes_the_shipped_files_and_names_a_broken_one() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let ok = speciosa(&["data", "check", "--dir", shipped.to_str().unwrap()], "");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("ok      medicines/lexicon.toml"));
    assert!(text(&ok.stdout).contains("ok      legal/status.toml"));

    let copy = tempfile::tempdir().expect("temporary directory");
    copy_tree(&shipped, copy.path());
    let interactions = copy.path().join("medicines/interactions.toml");
    let broken = std::fs::read_to_string(&interactions)
        .unwrap()
        .replacen("date = \"2026-12-02\"", "date = \"second of December\"", 1)
        .replacen("id = \"opioid-cns\"", "id = \"benzodiazepine-cns\"", 1);
    std::fs::write(&interactions, broken).unwrap();
    let failed = speciosa(
        &["data", "check", "--dir", copy.path().to_str().unwrap()],
        "",
    );
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    assert!(
        stderr.contains("INVALID medicines/lexicon.toml + medicines/interactions.toml")
            && stderr.contains("second of December"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of "), "{stderr}");
}

/// Copies a directory and its subdirectories.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn legal_check_prints_what_applies_in_tennessee_and_why() {
    let out = speciosa(
        &[
            "legal",
            "check",
            "--jurisdiction",
            "US-TN",
            "--date",
            "2026-01-15",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("US-TN → US"), "{printed}");
    assert!(printed.contains("regulated"), "{printed}");
    assert!(printed.contains("aged 21"), "{printed}");
    assert!(printed.contains("source ("), "{printed}");
    assert!(printed.contains("Pending, not law"), "{printed}");
    let unknown = speciosa(&["legal", "check", "--jurisdiction", "ZZ"], "");
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("does not know"));
}
