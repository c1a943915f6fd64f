//! One storage API over two databases: embedded SQLite (the default) and PostgreSQL.
//!
//! Each backend keeps its own migrations (`migrations/sqlite`, `migrations/postgres`).
//! Queries are written once in SQL both databases accept (`$1` parameters work in
//! SQLite too) and run against whichever pool is configured via [`on_pool!`]; the
//! integration suite runs every test against both.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Postgres, Sqlite, Transaction};

mod alerts;
mod appointments;
mod assessments;
mod audit;
mod audit_seal;
mod backup;
mod ceiling;
mod checks;
mod doses;
mod knowledge;
mod medications;
mod monitoring;
mod notify;
mod organizations;
mod patients;
mod plans;
mod products;
mod push;
mod sessions;
mod sleep;
mod summaries;
mod two_factor;
mod types;
mod users;
mod writer;

pub use alerts::{Alert, AlertAction, AlertChange, InboxAlert, NewAlert, Review, ReviewOutcome};
pub use appointments::{APPOINTMENT_READ_LIMIT, Appointment};
pub use assessments::{Assessment, AssessmentInsert, NewAssessment};
pub use audit::{
    AuditFilter, AuditVerification, InclusionProof, SequenceReport, SequencingLag,
    StoredCheckpoint, TreeCheck,
};
pub use audit_seal::{
    AuditAnchors, AuditReport, AuditSealer, CHECKPOINT_FILE, KEY_FILE, PUBLIC_KEY_FILE,
    ProvenEvent, SealError, SealerConfig, load_or_create_signer, load_verifier, open_checkpoint,
    read_checkpoint_file, sign_checkpoint,
};
pub use backup::{BackupError, BackupReport, FileError, RestoreError, RestoreReport};
pub use ceiling::Ceiling;
pub use checks::CheckQueue;
pub use doses::{Dose, DoseInsert, NewDose};
pub use knowledge::{KnowledgeOverride, OVERRIDE_HISTORY_LIMIT};
pub use medications::Medication;
pub use monitoring::{Ecg, LabResult, MONITORING_READ_LIMIT, NaloxoneRecord, OpioidUse, Overdose};
pub use notify::{
    Delivery, NOTIFICATION_PAGE_LIMIT, NewNotification, Notification, PageRound, Paging, Webhook,
};
pub use organizations::Organization;
pub use patients::{CareTeamMember, Patient, PatientSummary, UnreadablePatient};
pub use plans::{PLAN_HISTORY_LIMIT, PlanRecord, PlanSignature, SignPlan};
pub use products::{Batch, BatchContent, Product};
pub use push::{NewPushSubscription, PUSH_SUBSCRIPTIONS_PER_USER, PushSubscription, VapidKeys};
pub use sessions::{SessionLimits, SessionRecord, SignInAttempt};
pub use sleep::{NewSleepWindow, SLEEP_WINDOW_READ_LIMIT, SleepWindow};
pub use summaries::{
    AlertCounts, BatchDay, DayTotal, LatestResult, PatientSummaryRow, RebuildReport, RosterEntry,
    RosterWindow, SummarySnapshot,
};
pub use types::{DbDate, DbTime};
pub use users::{NewUser, User, UserCredentials};
pub use writer::WriteStats;

use writer::{SqliteDb, SqliteWrite, Writer};

/// Runs `$body` with `$pool` bound to the configured backend's pool. The body is
/// compiled once per backend, so it must be SQL both databases accept. On SQLite,
/// `$pool` reads from the read-only pool and `begin_write` joins the group commit.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A stored row could not be decoded (written around the application, or by an older
    /// version). Names where, never the value: the value may be health data.
    #[error("stored data is unreadable: {table}.{column}")]
    Unreadable {
        table: &'static str,
        column: String,
        #[source]
        source: sqlx::error::BoxDynError,
    },
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A uniqueness rule refused the write (e.g. an email already in use).
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    #[error("no database at {0}")]
    Missing(PathBuf),
    #[error("cannot create data directory {path}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StoreError {
    /// The database could not be reached (as opposed to refusing or failing a query).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        reading("a row")(error)
    }
}

/// Maps a failure reading rows of `table`: a column that cannot be decoded becomes
/// [`StoreError::Unreadable`], so callers can tell one bad record from a failing database.
pub(crate) fn reading(table: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| match error {
        sqlx::Error::ColumnDecode { index, source } => StoreError::Unreadable {
            table,
            column: index,
            source,
        },
        sqlx::Error::Decode(source) => StoreError::Unreadable {
            table,
            column: "?".into(),
            source,
        },
        other => StoreError::Database(other),
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// The embedded default: `DIR/speciosa.db`, created on first use.
    DataDir(PathBuf),
    /// `postgres://…` or `sqlite://…`.
    Url(String),
}

impl DatabaseLocation {
    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseLocation::Url(url)
            if url.starts_with("postgres://") || url.starts_with("postgresql://"))
    }

    pub fn describe(&self) -> String {
        match self {
            DatabaseLocation::DataDir(dir) => {
                format!("SQLite at {}", dir.join(DATABASE_FILE).display())
            }
            DatabaseLocation::Url(url) if url.starts_with("sqlite") => format!("SQLite at {url}"),
            DatabaseLocation::Url(url) => format!("PostgreSQL at {}", redact_password(url)),
        }
    }
}

pub const DATABASE_FILE: &str = "speciosa.db";

fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

/// The storage API every handler calls. Cheap to clone (pools are shared).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
    /// How long an urgent alert waits for an acknowledgement before each escalation.
    pub(crate) paging_interval: jiff::SignedDuration,
    /// Signalled after a commit that wrote to the outbox (an alert raised), so the
    /// delivery worker sends at once instead of at its next poll.
    pub(crate) outbox: std::sync::Arc<tokio::sync::Notify>,
}

/// The default escalation interval of urgent alerts (`--urgent-escalation-minutes`).
pub const DEFAULT_PAGING_INTERVAL: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// Pool sizes; PostgreSQL's is configurable because several app servers share one database.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    pub max_connections: u32,
}

/// A moment's view of the connection pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub async fn open(location: &DatabaseLocation, options: &PoolOptions) -> Result<Self> {
        let store = match location {
            DatabaseLocation::DataDir(dir) => Self::open_sqlite_dir(dir).await?,
            DatabaseLocation::Url(url) if url.starts_with("sqlite:") => {
                let connect = SqliteConnectOptions::from_str(url)?;
                Self::open_sqlite(connect, true).await?
            }
            DatabaseLocation::Url(_) => Self::connect(location, options).await?,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to PostgreSQL as configured; `location` must be a `postgres://` URL.
    async fn connect(location: &DatabaseLocation, options: &PoolOptions) -> Result<Self> {
        match location {
            DatabaseLocation::Url(url) if location.is_postgres() => {
                let connect = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(connect)
                    .await?;
                Ok(Store {
                    backend: Backend::Postgres(pool),
                    paging_interval: DEFAULT_PAGING_INTERVAL,
                    outbox: Default::default(),
                })
            }
            DatabaseLocation::Url(url) => Err(StoreError::UnsupportedUrl(url.clone())),
            DatabaseLocation::DataDir(dir) => {
                Err(StoreError::UnsupportedUrl(dir.display().to_string()))
            }
        }
    }

    async fn open_sqlite_dir(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        Self::open_sqlite(
            SqliteConnectOptions::new().filename(dir.join(DATABASE_FILE)),
            true,
        )
        .await
    }

    async fn open_sqlite(connect: SqliteConnectOptions, create: bool) -> Result<Self> {
        let connect = connect
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write survives power loss, not just a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(15));
        // The one writer; migrations run on it before any reader opens.
        let mut write = connect.clone().connect().await?;
        sqlite_migrator().run(&mut write).await?;
        let writer = Writer::start(write).await?;
        let options = connect.clone();
        // Readers cannot write: a write on the read pool fails instead of bypassing the batch.
        let read = SqlitePoolOptions::new()
            .max_connections(read_connections())
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(connect.create_if_missing(false).pragma("query_only", "ON"))
            .await?;
        Ok(Store {
            backend: Backend::Sqlite(SqliteDb {
                read,
                writer,
                options,
            }),
            paging_interval: DEFAULT_PAGING_INTERVAL,
            outbox: Default::default(),
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            // Migrated when opened, on the writer connection.
            Backend::Sqlite(_) => {}
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        self.rebuild_summaries_if_never_built().await
    }

    /// Notified whenever a commit may have written messages to the outbox.
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    pub(crate) fn signal_outbox(&self, changes: &[AlertChange]) {
        if changes.iter().any(|c| matches!(c, AlertChange::Raised(_))) {
            self.outbox.notify_one();
        }
    }

    /// The same store, escalating unacknowledged urgent alerts every `interval`.
    pub fn with_paging_interval(mut self, interval: jiff::SignedDuration) -> Self {
        self.paging_interval = interval;
        self
    }

    /// On SQLite, how many write transactions have committed in how many batches.
    pub fn write_stats(&self) -> Option<WriteStats> {
        match &self.backend {
            Backend::Sqlite(db) => Some(db.writer.stats()),
            Backend::Postgres(_) => None,
        }
    }

    /// For `/readyz`: can we reach the database right now?
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Connections the pool holds now, and how many of them are idle (for `/metrics`).
    pub fn pool_stats(&self) -> PoolStats {
        match &self.backend {
            Backend::Sqlite(db) => PoolStats {
                size: db.read.size(),
                idle: db.read.num_idle(),
            },
            Backend::Postgres(pool) => PoolStats {
                size: pool.size(),
                idle: pool.num_idle(),
            },
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.writer.close().await;
                db.read.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

/// SQLite reads are CPU-bound: a couple of connections per core keeps the cores busy
/// without piling up threads that only contend.
fn read_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores * 2).unwrap_or(16).clamp(4, 16)
}

/// The SQLite schema's migrations, embedded in the binary.
pub(crate) fn sqlite_migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations/sqlite")
}

/// Write transactions: derefs to the connection, `commit()` returns once the writes
/// are durable, and dropping one uncommitted rolls it back. On SQLite it is a savepoint
/// in a group-committed batch (see `writer`); on PostgreSQL an ordinary transaction.
pub(crate) trait BeginWrite {
    type Db: WriteDb;
    async fn begin_write(&self) -> Result<WriteTx<Self::Db>>;
}

/// The write transaction type of each backend.
pub(crate) trait WriteDb {
    type Tx;
}

impl WriteDb for Sqlite {
    type Tx = SqliteWrite;
}

impl WriteDb for Postgres {
    type Tx = Transaction<'static, Postgres>;
}

pub(crate) type WriteTx<DB> = <DB as WriteDb>::Tx;

impl BeginWrite for SqliteDb {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<SqliteWrite> {
        self.writer.begin().await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.begin().await?)
    }
}

/// A connection for a run of reads (on SQLite, from the read-only pool).
pub(crate) trait ReadConnection {
    type Db: sqlx::Database;
    async fn read_connection(&self) -> Result<sqlx::pool::PoolConnection<Self::Db>>;
}

impl ReadConnection for SqliteDb {
    type Db = Sqlite;
    async fn read_connection(&self) -> Result<sqlx::pool::PoolConnection<Sqlite>> {
        Ok(self.read.acquire().await?)
    }
}

impl ReadConnection for PgPool {
    type Db = Postgres;
    async fn read_connection(&self) -> Result<sqlx::pool::PoolConnection<Postgres>> {
        Ok(self.acquire().await?)
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict_on_unique(message: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(message.to_owned())
        }
        _ => StoreError::Database(error),
    }
}

pub(crate) fn parse_column<T: FromStr>(column: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} holds {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_described_without_their_password() {
        let location = DatabaseLocation::Url("postgres://speciosa:hunter2@db:5432/speciosa".into());
        assert_eq!(
            location.describe(),
            "PostgreSQL at postgres://speciosa:***@db:5432/speciosa"
        );
    }
}
