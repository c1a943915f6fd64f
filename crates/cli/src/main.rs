//! `speciosa`: the one binary. It parses arguments, builds configuration and calls
//! into the library crates, where all the logic lives.
#![forbid(unsafe_code)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use jiff::SignedDuration;
use speciosa_core::account::{DisplayName, Email, NewPassword};
use speciosa_server::{ServerConfig, demo};
mod bench_insert;
mod data_check;

use speciosa_app::operations::{
    self, AuditAnchors, BackupError, ProvenEvent, RestoreError, StoreError,
};
use speciosa_app::{
    App, AppError, AppSettings, DatabaseLocation, OpenError, PoolOptions, SealerConfig,
};

/// Speciosa: supervised, measurement-based recovery care for people whose opioid
/// recovery involves kratom. It supports medical supervision and never replaces it.
#[derive(Parser)]
#[command(name = "speciosa", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (API under /api/v1 and the web pages).
    Serve(ServeArgs),
    /// Manage accounts from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate(DatabaseArgs),
    /// Write a consistent copy of the live SQLite database to a new file, while it
    /// stays in use (PostgreSQL: use pg_dump; see the README).
    Backup(BackupArgs),
    /// Load a backup into an empty data directory, after checking it is an intact
    /// Speciosa database.
    Restore(RestoreArgs),
    /// Predict mitragynine and 7-OH concentrations for a regimen (typical patient).
    Simulate(SimulateArgs),
    /// The write ceiling for bench/load.sh: bare single-row insert transactions.
    #[command(hide = true)]
    BenchInsert(bench_insert::BenchInsertArgs),
    /// Maintain the per-patient summaries (daily totals, latest results, alert counts).
    #[command(subcommand)]
    Summaries(SummariesCommand),
    /// Look at the safety rules' output across the clinic.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Check Speciosa's reference data files.
    #[command(subcommand)]
    Data(DataCommand),
    /// Kratom's legal status by jurisdiction, from the bundled dataset (data/legal/status.toml).
    #[command(subcommand)]
    Legal(LegalCommand),
}

#[derive(Subcommand)]
enum LegalCommand {
    /// Print what applies in a jurisdiction on a date and why: each rule in force there
    /// and in its enclosing jurisdictions, with sources, conflicts and pending bills.
    Check(LegalCheckArgs),
}

#[derive(Args)]
struct LegalCheckArgs {
    /// ISO 3166 code (US, US-TN, TH) or a locality code (US-CA:city:san-diego).
    #[arg(long)]
    jurisdiction: String,
    /// The date to answer for, YYYY-MM-DD (default: today, UTC).
    #[arg(long)]
    date: Option<String>,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Validate every data file under the data directory (schema, versions and dates,
    /// sources, duplicate keys and names); exits non-zero naming each problem.
    Check(DataCheckArgs),
}

#[derive(Args)]
struct DataCheckArgs {
    /// The data directory of a Speciosa checkout.
    #[arg(long, default_value = "data")]
    dir: PathBuf,
}

fn data_check(args: DataCheckArgs) -> Result<ExitCode> {
    let results = data_check::check(&args.dir);
    let mut failed = 0;
    for result in &results {
        match &result.problem {
            None => println!("ok      {}", result.file),
            Some(problem) => {
                failed += 1;
                eprintln!("INVALID {}: {problem}", result.file);
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} data files failed their checks",
            results.len()
        );
        Ok(ExitCode::FAILURE)
    } else {
        println!("all {} data files are valid", results.len());
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Replay the last days' records through today's rules, evening by evening, and
    /// print how many alerts each rule would have raised (counts only; writes nothing).
    Replay(ReplayArgs),
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// How many patient-local days to replay, today included.
    #[arg(long, default_value_t = 28, value_parser = clap::value_parser!(i64).range(1..=366), value_name = "N")]
    days: i64,
    /// Seed the demo clinic first when the database does not have it yet.
    #[arg(long)]
    demo: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum SummariesCommand {
    /// Recompute every summary from the records, and say whether they had drifted.
    Rebuild(DatabaseArgs),
}

/// Regimen file (TOML): `[[dose]]` tables with `time_h` and `mitragynine_mg` (optional
/// `hydroxymitragynine_mg`), or a `[schedule]` with `mitragynine_mg`, `every_h`, `count`
/// (first dose at 0 h); optional top-level `duration_h` (default: a week after the last dose).
#[derive(Args)]
struct SimulateArgs {
    /// The regimen file.
    #[arg(long, value_name = "FILE")]
    regimen: PathBuf,
    /// Directory for curve.csv and summary.json (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Curve resolution in hours.
    #[arg(long, default_value_t = 0.1, value_name = "H")]
    step_h: f64,
    /// Also simulate N virtual patients (assumed between-subject variability, see
    /// data/pk/typical.toml) and write percentile bands to population.csv.
    #[arg(long, value_name = "N")]
    population: Option<usize>,
    /// Random seed for --population, so runs are reproducible.
    #[arg(long, default_value_t = 1, value_name = "SEED")]
    seed: u64,
}

/// Where the data lives: embedded SQLite under --data-dir, or --database-url.
#[derive(Args, Clone)]
struct DatabaseArgs {
    /// Directory for the embedded SQLite database (speciosa.db), created if missing.
    #[arg(
        long,
        env = "SPECIOSA_DATA_DIR",
        default_value = "./speciosa-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Use this database instead (postgres://user:pass@host/db or sqlite://path).
    #[arg(
        long,
        env = "SPECIOSA_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Largest PostgreSQL connection pool per server process.
    #[arg(
        long,
        env = "SPECIOSA_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        value_name = "N"
    )]
    db_max_connections: u32,
}

impl DatabaseArgs {
    fn location(&self) -> DatabaseLocation {
        match &self.database_url {
            Some(url) => DatabaseLocation::Url(url.clone()),
            None => DatabaseLocation::DataDir(self.data_dir.clone()),
        }
    }

    async fn open(&self) -> Result<App> {
        let location = self.location();
        App::open(
            &location,
            &PoolOptions {
                max_connections: self.db_max_connections,
            },
            AppSettings::default(),
        )
        .await
        .with_context(|| format!("opening {}", location.describe()))
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Address and port to listen on.
    #[arg(
        long,
        env = "SPECIOSA_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    listen: SocketAddr,
    /// Seed the demo clinic (once) and print its sign-ins.
    #[arg(long, env = "SPECIOSA_DEMO")]
    demo: bool,
    /// Clients reach Speciosa over HTTPS (typically through a TLS-terminating proxy): the
    /// session cookie becomes `__Host-speciosa_session` with `Secure`, and responses carry HSTS.
    #[arg(long, env = "SPECIOSA_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Minutes of inactivity after which staff sessions end.
    #[arg(
        long,
        env = "SPECIOSA_STAFF_IDLE_MINUTES",
        default_value_t = 30,
        value_name = "MIN",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    staff_idle_minutes: u32,
    /// Minutes of inactivity after which patient sessions end.
    #[arg(
        long,
        env = "SPECIOSA_PATIENT_IDLE_MINUTES",
        default_value_t = 720,
        value_name = "MIN",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    patient_idle_minutes: u32,
    /// Hours after sign-in at which a staff session ends, however busy.
    #[arg(
        long,
        env = "SPECIOSA_STAFF_SESSION_HOURS",
        default_value_t = 12,
        value_name = "HOURS",
        value_parser = clap::value_parser!(u32).range(1..=24 * 366)
    )]
    staff_session_hours: u32,
    /// Days after sign-in at which a patient's session ends, however busy.
    #[arg(
        long,
        env = "SPECIOSA_PATIENT_SESSION_DAYS",
        default_value_t = 30,
        value_name = "DAYS",
        value_parser = clap::value_parser!(u32).range(1..=366)
    )]
    patient_session_days: u32,
    /// Seconds a request may take before it is abandoned with 408.
    #[arg(
        long,
        env = "SPECIOSA_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30,
        value_name = "SEC"
    )]
    request_timeout_seconds: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "SPECIOSA_MAX_BODY_BYTES", default_value_t = 256 * 1024, value_name = "BYTES")]
    max_body_bytes: usize,
    /// Take client addresses from X-Forwarded-For (only behind a proxy you trust, and
    /// only when Speciosa cannot be reached except through it).
    #[arg(long, env = "SPECIOSA_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// With --trust-forwarded-for: how many proxies you run in front of Speciosa, each
    /// appending to X-Forwarded-For. The client is the entry this many places from the right.
    #[arg(
        long,
        env = "SPECIOSA_TRUSTED_PROXY_HOPS",
        default_value_t = 1,
        value_name = "N",
        value_parser = clap::value_parser!(u8).range(1..=16)
    )]
    trusted_proxy_hops: u8,
    /// Doses taken up to this many minutes before a patient's usual bedtime count as bedtime doses.
    #[arg(
        long,
        env = "SPECIOSA_BEDTIME_WINDOW_MINUTES",
        default_value_t = 120,
        value_name = "MIN"
    )]
    bedtime_window_minutes: u32,
    /// How often the time-based safety rules (missed check-ins, escalation) are re-checked for every patient.
    #[arg(
        long,
        env = "SPECIOSA_SAFETY_CHECK_INTERVAL_SECONDS",
        default_value_t = 300,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    safety_check_interval_seconds: u64,
    /// Minutes an urgent alert waits for an acknowledgement before the organization's
    /// on-call list is paged, and again every this many minutes until someone acknowledges.
    #[arg(
        long,
        env = "SPECIOSA_URGENT_ESCALATION_MINUTES",
        default_value_t = 15,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=24 * 60)
    )]
    urgent_escalation_minutes: u32,
    /// Send e-mail (urgent-alert pages, reminders) through this SMTP server:
    /// smtp://HOST:PORT (plain or STARTTLS when offered), smtps://HOST (TLS),
    /// smtp://USER:PASS@HOST:PORT?tls=required.
    #[arg(
        long,
        env = "SPECIOSA_SMTP_URL",
        value_name = "URL",
        requires = "mail_from",
        hide_env_values = true
    )]
    smtp_url: Option<String>,
    /// The sender of Speciosa's e-mail, e.g. "Riverside Clinic <alerts@clinic.example>".
    #[arg(long, env = "SPECIOSA_MAIL_FROM", value_name = "ADDRESS")]
    mail_from: Option<String>,
    /// The address people reach Speciosa at (links in e-mail, push and calendar feeds);
    /// by default http:// + the listen address.
    #[arg(long, env = "SPECIOSA_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Bearer token that lets a scraper off this host read GET /metrics (loopback needs none).
    #[arg(
        long,
        env = "SPECIOSA_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    metrics_token: Option<String>,
    #[command(flatten)]
    audit: AuditFileArgs,
    /// Seconds between signed audit checkpoints (signed only when the log grew; one is
    /// always signed at shutdown).
    #[arg(
        long,
        env = "SPECIOSA_AUDIT_CHECKPOINT_INTERVAL_SECONDS",
        default_value_t = 60,
        value_name = "SEC",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    checkpoint_interval: u64,
    /// POST each signed checkpoint (text/plain signed note) to this witness; failures are logged.
    #[arg(long, env = "SPECIOSA_AUDIT_WITNESS_URL", value_name = "URL")]
    audit_witness_url: Option<String>,
}

/// The audit log's anchors outside the database. Both default to files in --data-dir,
/// also with PostgreSQL (where the directory then holds only these).
#[derive(Args, Clone)]
struct AuditFileArgs {
    /// The Ed25519 key that signs audit checkpoints (created, mode 0600, on first serve)
    /// [default: DIR/audit-signing.key].
    #[arg(long, env = "SPECIOSA_AUDIT_KEY", value_name = "FILE")]
    audit_key: Option<PathBuf>,
    /// The file signed checkpoints are appended to [default: DIR/audit-checkpoints.log].
    #[arg(long, env = "SPECIOSA_AUDIT_CHECKPOINTS", value_name = "FILE")]
    audit_checkpoints: Option<PathBuf>,
}

impl AuditFileArgs {
    fn sealer(&self, data_dir: &std::path::Path) -> SealerConfig {
        let mut config = SealerConfig::in_dir(data_dir);
        if let Some(key) = &self.audit_key {
            config.key_path = key.clone();
        }
        if let Some(checkpoints) = &self.audit_checkpoints {
            config.checkpoint_path = checkpoints.clone();
        }
        config
    }
}

#[derive(Args)]
struct AuditVerifyArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    audit: AuditFileArgs,
    /// Check signatures with this public key (`name+id+key`, as in DIR/audit-signing.pub)
    /// instead of the signing key.
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
}

#[derive(Args)]
struct AuditProveArgs {
    #[command(flatten)]
    verify: AuditVerifyArgs,
    /// The audit event's id.
    #[arg(value_name = "EVENT_ID")]
    event_id: i64,
}

#[derive(Args)]
struct BackupArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The backup file to write; it must not exist yet.
    #[arg(long, env = "SPECIOSA_BACKUP_OUT", value_name = "FILE")]
    out: PathBuf,
}

#[derive(Args)]
struct RestoreArgs {
    /// The data directory to restore into: it must be empty or not exist yet.
    #[arg(long, env = "SPECIOSA_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// The backup file, as written by `speciosa backup`.
    #[arg(long, env = "SPECIOSA_RESTORE_FROM", value_name = "FILE")]
    from: PathBuf,
    /// Refused when it names PostgreSQL, which is restored with its own tools.
    #[arg(
        long,
        env = "SPECIOSA_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an organization (if it does not exist) and an admin account in it.
    Create(AdminCreateArgs),
}

#[derive(Args)]
struct AdminCreateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The organization (clinic) name.
    #[arg(long, value_name = "NAME")]
    org: String,
    #[arg(long, value_name = "EMAIL")]
    email: String,
    /// Name shown in the interface (defaults to the email).
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
    /// Read the password from standard input's first line (required: passwords never go on the command line).
    #[arg(long, required = true)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every event against the Merkle tree and every signed checkpoint; exit 2 on
    /// any tampering.
    Verify(AuditVerifyArgs),
    /// Print an event's inclusion proof against the latest signed checkpoint, as JSON.
    Prove(AuditProveArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPECIOSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Admin(AdminCommand::Create(args)) => create_admin(args).await,
        Command::Audit(AuditCommand::Verify(args)) => verify_audit(args).await,
        Command::Audit(AuditCommand::Prove(args)) => prove_audit(args).await,
        Command::Simulate(args) => simulate(args),
        Command::BenchInsert(args) => bench_insert::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Backup(args) => backup(args).await,
        Command::Restore(args) => restore(args).await,
        Command::Summaries(SummariesCommand::Rebuild(args)) => rebuild_summaries(args).await,
        Command::Alerts(AlertsCommand::Replay(args)) => replay_alerts(args).await,
        Command::Data(DataCommand::Check(args)) => data_check(args),
        Command::Legal(LegalCommand::Check(args)) => legal_check(&args),
        Command::Migrate(args) => {
            let app = args.open().await?;
            println!("{} is up to date", args.location().describe());
            app.close().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<ExitCode> {
    let app = args.database.open().await?;
    if args.demo {
        let seeded = demo::seed(&app).await.context("seeding the demo clinic")?;
        print_demo_logins(seeded);
    }
    let config = ServerConfig {
        listen: args.listen,
        secure_cookies: args.secure_cookies,
        staff_idle_timeout: SignedDuration::from_mins(args.staff_idle_minutes.into()),
        patient_idle_timeout: SignedDuration::from_mins(args.patient_idle_minutes.into()),
        staff_session_lifetime: SignedDuration::from_hours(args.staff_session_hours.into()),
        patient_session_lifetime: SignedDuration::from_hours(
            i64::from(args.patient_session_days) * 24,
        ),
        request_timeout: Duration::from_secs(args.request_timeout_seconds),
        max_body_bytes: args.max_body_bytes,
        trust_forwarded_for: args.trust_forwarded_for,
        trusted_proxy_hops: args.trusted_proxy_hops.into(),
        bedtime_window: SignedDuration::from_mins(args.bedtime_window_minutes.into()),
        safety_check_interval: Duration::from_secs(args.safety_check_interval_seconds),
        metrics_token: args.metrics_token.filter(|token| !token.is_empty()),
        urgent_escalation: SignedDuration::from_mins(args.urgent_escalation_minutes.into()),
        public_url: args.public_url.filter(|url| !url.is_empty()),
        smtp_url: args.smtp_url.filter(|url| !url.is_empty()),
        mail_from: args.mail_from.filter(|from| !from.is_empty()),
        audit_sealer: Some(SealerConfig {
            checkpoint_interval: Duration::from_secs(args.checkpoint_interval),
            witness_url: args.audit_witness_url.filter(|url| !url.is_empty()),
            ..args.audit.sealer(&args.database.data_dir)
        }),
    };
    tracing::info!(
        "Speciosa listening on http://{} ({})",
        args.listen,
        args.database.location().describe()
    );
    speciosa_server::serve(app, config)
        .await
        .with_context(|| format!("serving on {}", args.listen))?;
    Ok(ExitCode::SUCCESS)
}

fn print_demo_logins(seeded: bool) {
    let state = if seeded { "seeded" } else { "already present" };
    println!(
        "Demo clinic \"{}\" {state}. Every demo account's password is: {}",
        demo::ORGANIZATION,
        demo::PASSWORD
    );
    for login in demo::logins() {
        println!(
            "  {:<11} {:<38} {}",
            login.role.as_str(),
            login.email,
            login.display_name
        );
    }
}

async fn create_admin(args: AdminCreateArgs) -> Result<ExitCode> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    let password = NewPassword::parse(password).context("the password on standard input")?;
    let email = Email::parse(&args.email).with_context(|| format!("--email {:?}", args.email))?;
    let display_name = DisplayName::parse(args.display_name.as_deref().unwrap_or(email.as_str()))
        .context("--display-name")?;
    let org_name = DisplayName::parse(&args.org).context("--org")?;

    let app = args.database.open().await?;
    let password_hash = speciosa_server::hash_password(&password)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let (admin, organization) =
        match operations::create_admin(&app, &org_name, email, display_name, password_hash).await {
            Ok(created) => created,
            Err(AppError::Conflict(reason)) => bail!("{reason}: {}", args.email),
            Err(other) => return Err(other.into()),
        };
    println!(
        "Created admin {} ({}) in \"{}\"",
        admin.email, admin.id, organization.name
    );
    app.close().await;
    Ok(ExitCode::SUCCESS)
}

impl AuditVerifyArgs {
    fn anchors(&self) -> Result<AuditAnchors> {
        let files = self.audit.sealer(&self.database.data_dir);
        let verifier = operations::load_verifier(&files.key_path, self.public_key.as_deref())?;
        Ok(AuditAnchors {
            verifier,
            key_path: self.public_key.clone().unwrap_or(files.key_path),
            checkpoint_path: files.checkpoint_path,
        })
    }
}

async fn verify_audit(args: AuditVerifyArgs) -> Result<ExitCode> {
    let anchors = args.anchors()?;
    let app = args.database.open().await?;
    let report = operations::verify_audit(&app, &anchors)
        .await
        .context("reading the audit log")?;
    app.close().await;
    if let Some(broken) = &report.broken {
        eprintln!("audit log TAMPERED: {broken}");
        return Ok(ExitCode::from(REFUSED));
    }
    let tree = &report.tree;
    let anchored = match &report.latest {
        Some(latest) => format!(
            "{} signed checkpoints verified (latest: {} events at {})",
            report.checkpoints, latest.tree_size, latest.time
        ),
        None => "no signed checkpoint yet".to_owned(),
    };
    println!(
        "audit log intact: {} events, Merkle tree of {} (root {}), {anchored}; {} not yet checkpointed, {} not yet sequenced",
        tree.events,
        tree.tree_size,
        tree.root_hash,
        report.not_checkpointed(),
        tree.unsequenced
    );
    Ok(ExitCode::SUCCESS)
}

async fn prove_audit(args: AuditProveArgs) -> Result<ExitCode> {
    let anchors = args.verify.anchors()?;
    let Some(verifier) = anchors.verifier else {
        bail!(
            "no key to check checkpoints with: {} does not exist",
            anchors.key_path.display()
        );
    };
    let app = args.verify.database.open().await?;
    let proven =
        operations::prove_audit_event(&app, args.event_id, &verifier, &anchors.checkpoint_path)
            .await
            .context("reading the audit log")?;
    app.close().await;
    let (proof, checkpoint, note) = match proven {
        ProvenEvent::Proven {
            proof,
            checkpoint,
            note,
        } => (proof, checkpoint, note),
        ProvenEvent::NotCheckpointed => {
            eprintln!(
                "error: audit event {} is not among the latest checkpoint's events (no such event, or not yet checkpointed)",
                args.event_id
            );
            return Ok(ExitCode::FAILURE);
        }
        ProvenEvent::TreeMismatch => {
            eprintln!(
                "audit log TAMPERED: the stored tree does not have the latest checkpoint's root (run speciosa audit verify)"
            );
            return Ok(ExitCode::from(REFUSED));
        }
        ProvenEvent::NoCheckpoint => {
            eprintln!("error: there is no signed checkpoint yet");
            return Ok(ExitCode::FAILURE);
        }
    };
    let (text, signature) = verifier.open(&note).context("the checkpoint's signature")?;
    let output = serde_json::json!({
        "leaf_index": proof.leaf_index,
        "leaf_hash": proof.leaf_hash.to_hex(),
        "tree_size": proof.tree_size,
        "root_hash": proof.root_hash.to_hex(),
        "proof": proof.proof.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
        "checkpoint": {
            "origin": checkpoint.origin,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash.to_hex(),
            "time": checkpoint.time.to_string(),
            "signed_text": text,
            "signature": signature,
            "note": note,
            "public_key": verifier.public_key_hex(),
            "verifier_key": verifier.to_string(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}

async fn rebuild_summaries(args: DatabaseArgs) -> Result<ExitCode> {
    let app = args.open().await?;
    let report = operations::rebuild_summaries(&app)
        .await
        .context("rebuilding the summaries");
    app.close().await;
    let report = report?;
    println!(
        "summaries rebuilt: {} patient-days, {} batch-days, {} latest results, {} patients; {}",
        report.day_totals,
        report.batch_days,
        report.latest_results,
        report.patients,
        if report.changed {
            "they differed from the ones kept as data arrived, and are now corrected"
        } else {
            "they matched the ones kept as data arrived"
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn replay_alerts(args: ReplayArgs) -> Result<ExitCode> {
    let app = args.database.open().await?;
    if args.demo {
        demo::seed(&app).await.context("seeding the demo clinic")?;
    }
    let report = speciosa_app::replay::alert_volume(&app, args.days, jiff::Timestamp::now()).await;
    app.close().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} patients, last {} days{}",
        report.patients,
        report.days,
        if report.unreadable > 0 {
            format!(" ({} unreadable, skipped)", report.unreadable)
        } else {
            String::new()
        }
    );
    println!("{:<28} {:>7} {:>11}", "rule", "alerts", "alert-days");
    for (rule, volume) in &report.rules {
        println!("{rule:<28} {:>7} {:>11}", volume.alerts, volume.alert_days);
    }
    println!(
        "{:<28} {:>7} {:>11}",
        "total",
        report.total_alerts(),
        report.total_alert_days()
    );
    Ok(ExitCode::SUCCESS)
}

/// Exit status for a request refused as asked (as `audit verify` uses for a broken chain).
const REFUSED: u8 = 2;

fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

async fn backup(args: BackupArgs) -> Result<ExitCode> {
    let location = args.database.location();
    if location.is_postgres() {
        eprintln!("error: {}", BackupError::Postgres);
        return Ok(ExitCode::from(REFUSED));
    }
    let options = PoolOptions {
        max_connections: args.database.db_max_connections,
    };
    let app = match App::open_existing(&location, &options).await {
        Ok(app) => app,
        Err(OpenError::Store(StoreError::Missing(path))) => {
            eprintln!(
                "error: no Speciosa database at {} (check --data-dir)",
                path.display()
            );
            return Ok(ExitCode::from(REFUSED));
        }
        Err(error) => {
            return Err(error).with_context(|| format!("opening {}", location.describe()));
        }
    };
    let bar = spinner(format!("backing up {}", location.describe()));
    let written = operations::backup_to(&app, &args.out).await;
    bar.finish_and_clear();
    app.close().await;
    match written {
        Ok(report) => {
            println!(
                "Backed up {} to {} ({} bytes)",
                location.describe(),
                args.out.display(),
                report.bytes
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(refused) if refused.is_refusal() => {
            eprintln!("error: {refused}");
            Ok(ExitCode::from(REFUSED))
        }
        Err(error) => Err(error).with_context(|| format!("writing {}", args.out.display())),
    }
}

async fn restore(args: RestoreArgs) -> Result<ExitCode> {
    if let Some(url) = &args.database_url {
        let refusal = if DatabaseLocation::Url(url.clone()).is_postgres() {
            RestoreError::Postgres.to_string()
        } else {
            "speciosa restore writes into --data-dir; unset --database-url (SPECIOSA_DATABASE_URL)"
                .to_owned()
        };
        eprintln!("error: {refusal}");
        return Ok(ExitCode::from(REFUSED));
    }
    let bar = spinner(format!("restoring {}", args.from.display()));
    let restored = operations::restore_backup(&args.from, &args.data_dir).await;
    bar.finish_and_clear();
    match restored {
        Ok(report) => {
            println!(
                "Restored {} into {} ({} bytes; integrity checked{})",
                args.from.display(),
                report.database.display(),
                report.bytes,
                match report.migrations_applied {
                    0 => String::new(),
                    n => format!("; {n} newer migrations applied"),
                }
            );
            println!(
                "Check its audit log with: speciosa audit verify --data-dir {}",
                args.data_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(refused) if refused.is_refusal() => {
            eprintln!("error: {refused}");
            Ok(ExitCode::from(REFUSED))
        }
        Err(error) => Err(error).with_context(|| format!("restoring {}", args.from.display())),
    }
}

fn legal_check(args: &LegalCheckArgs) -> Result<ExitCode> {
    let dataset = speciosa_core::legal::LegalDataset::bundled()?;
    let date = match &args.date {
        Some(text) => text
            .parse::<jiff::civil::Date>()
            .map_err(|_| anyhow::anyhow!("--date {text:?} is not a date of the form YYYY-MM-DD"))?,
        None => jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date(),
    };
    let Some(answer) = dataset.rules_in_force(&args.jurisdiction, date) else {
        anyhow::bail!(
            "the legal dataset does not know the jurisdiction {:?}",
            args.jurisdiction
        );
    };
    for line in answer.explain() {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn simulate(args: SimulateArgs) -> Result<ExitCode> {
    use speciosa_pk::regimen::Regimen;
    use speciosa_pk::summary::{grid, summarise};
    use std::io::Write;

    if !(args.step_h.is_finite() && args.step_h > 0.0 && args.step_h <= 0.1) {
        bail!("--step-h must be a positive number of hours no larger than 0.1");
    }
    let text = std::fs::read_to_string(&args.regimen)
        .with_context(|| format!("reading {}", args.regimen.display()))?;
    let regimen =
        Regimen::parse(&text).with_context(|| format!("in {}", args.regimen.display()))?;
    let typical = speciosa_pk::TypicalParameters::bundled().context("loading the PK parameters")?;
    let times = grid(regimen.duration_h, args.step_h);
    let (curve, summary) = summarise(&typical.parameters, &regimen, &times);

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let curve_path = args.out.join("curve.csv");
    let mut csv = std::io::BufWriter::new(
        std::fs::File::create(&curve_path)
            .with_context(|| format!("writing {}", curve_path.display()))?,
    );
    writeln!(csv, "time_h,mitragynine_ng_ml,hydroxymitragynine_ng_ml")?;
    for (t, c) in times.iter().zip(&curve) {
        writeln!(
            csv,
            "{t:.4},{:.6},{:.6}",
            c.mitragynine, c.hydroxymitragynine
        )?;
    }
    csv.flush()?;
    let svg_path = args.out.join("curve.svg");
    std::fs::write(&svg_path, curve_svg(&times, &curve))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    let summary_path = args.out.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    println!(
        "{} doses over {} h: mitragynine Cmax {:.2} ng/mL at {:.1} h, AUC {:.1} ng·h/mL, t½ {:.1} h; 7-OH Cmax {:.2} ng/mL",
        summary.doses,
        summary.duration_h,
        summary.mitragynine.cmax_ng_ml,
        summary.mitragynine.tmax_h,
        summary.mitragynine.auc_ng_h_ml,
        summary.mitragynine.half_life_h,
        summary.hydroxymitragynine.cmax_ng_ml
    );
    if let Some(n) = args.population {
        write_population(&typical, &regimen, &times, n, args.seed, &args.out)?;
    }
    println!(
        "Typical-patient prediction ({}); not a dosing recommendation.",
        typical.source
    );
    println!(
        "Wrote {}, {} and {}",
        curve_path.display(),
        svg_path.display(),
        summary_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Simulates `n` virtual patients with a progress bar and writes percentile bands.
fn write_population(
    typical: &speciosa_pk::TypicalParameters,
    regimen: &speciosa_pk::regimen::Regimen,
    times: &[f64],
    n: usize,
    seed: u64,
    out: &std::path::Path,
) -> Result<()> {
    use std::io::Write;

    if !(1..=100_000).contains(&n) {
        bail!("--population must be from 1 to 100000");
    }
    let people = typical
        .variability
        .sample(&typical.parameters, n, seed)
        .context("sampling virtual patients")?;
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} patients ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("simulating");
    let bands = speciosa_pk::population::simulate(&people, &regimen.doses, times, |done| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    let path = out.join("population.csv");
    let mut csv = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?,
    );
    let names: Vec<String> = ["mitragynine", "hydroxymitragynine"]
        .iter()
        .flat_map(|a| {
            speciosa_pk::population::PERCENTILES
                .iter()
                .map(move |p| format!("{a}_p{p:.0}_ng_ml"))
        })
        .collect();
    writeln!(csv, "time_h,{}", names.join(","))?;
    for (i, t) in bands.times.iter().enumerate() {
        let values: Vec<String> = bands.mitragynine[i]
            .iter()
            .chain(&bands.hydroxymitragynine[i])
            .map(|v| format!("{:.6}", v * 1000.0))
            .collect();
        writeln!(csv, "{t:.4},{}", values.join(","))?;
    }
    csv.flush()?;
    println!(
        "Wrote {} ({n} virtual patients; variability: {})",
        path.display(),
        typical.variability_note
    );
    Ok(())
}

/// A plain SVG line chart of both analytes (ng/mL against hours), readable without any viewer
/// but a browser.
fn curve_svg(times: &[f64], curve: &[speciosa_pk::closed_form::Concentrations]) -> String {
    let (width, height, left, bottom, top, right) = (800.0, 400.0, 60.0, 40.0, 20.0, 20.0);
    let t_max = times.last().copied().unwrap_or(1.0).max(1e-9);
    let c_max = curve
        .iter()
        .map(|c| c.mitragynine.max(c.hydroxymitragynine))
        .fold(0.0, f64::max)
        .max(1e-9);
    let x = |t: f64| left + (width - left - right) * t / t_max;
    let y = |c: f64| height - bottom - (height - bottom - top) * c / c_max;
    let line = |value: &dyn Fn(&speciosa_pk::closed_form::Concentrations) -> f64| {
        // Thin the points to about a thousand: the eye cannot see more on 720 pixels.
        let every = (times.len() / 1000).max(1);
        times
            .iter()
            .zip(curve)
            .step_by(every)
            .map(|(t, c)| format!("{:.1},{:.1}", x(*t), y(value(c))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">
<title>Predicted concentrations (typical patient)</title>
<rect width="{width}" height="{height}" fill="white"/>
<line x1="{left}" y1="{base}" x2="{xr}" y2="{base}" stroke="#444"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#444"/>
<text x="{left}" y="{label_y}">0</text><text x="{xr}" y="{label_y}" text-anchor="end">{t_max:.0} h</text>
<text x="{tick_x}" y="{ty}" text-anchor="end">{c_max:.1}</text><text x="{tick_x}" y="{base}" text-anchor="end">0</text>
<polyline fill="none" stroke="#0b5d72" stroke-width="1.5" points="{mg}"/>
<polyline fill="none" stroke="#b3541e" stroke-width="1.5" points="{oh}"/>
<text x="{lx}" y="{ly1}" fill="#0b5d72">mitragynine (ng/mL)</text>
<text x="{lx}" y="{ly2}" fill="#b3541e">7-hydroxymitragynine (ng/mL)</text>
</svg>
"##,
        base = height - bottom,
        xr = width - right,
        label_y = height - bottom + 16.0,
        tick_x = left - 6.0,
        ty = top + 4.0,
        mg = line(&|c| c.mitragynine),
        oh = line(&|c| c.hydroxymitragynine),
        lx = width - right - 220.0,
        ly1 = top + 16.0,
        ly2 = top + 32.0,
    )
}
