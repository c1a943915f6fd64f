//! Copies of the embedded SQLite database. A backup is taken online with `VACUUM INTO`,
//! which reads one snapshot of a live database (writers carry on under WAL) and writes
//! it as a compact, self-contained file. A restore checks that a file is an intact
//! Speciosa database before it becomes a data directory's `speciosa.db`.
//! PostgreSQL is backed up with its own tools (`pg_dump`, `pg_basebackup`).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Row};

use crate::{Backend, DATABASE_FILE, DatabaseLocation, PoolOptions, Store, StoreError};

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "speciosa backup copies the embedded SQLite database; back up PostgreSQL with its own tools \
         (pg_dump, or pg_basebackup with WAL archiving): see the README's \"Backups\" section"
    )]
    Postgres,
    #[error("{0} already exists; choose a new file name (a backup never overwrites a file)")]
    OutputExists(PathBuf),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("copying the database")]
    Database(#[from] sqlx::Error),
}

impl BackupError {
    /// The request cannot be carried out as asked (as opposed to failing midway).
    pub fn is_refusal(&self) -> bool {
        matches!(self, BackupError::Postgres | BackupError::OutputExists(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "speciosa restore loads a backup of the embedded SQLite database; restore PostgreSQL with \
         its own tools (pg_restore or psql for a pg_dump; a base backup plus WAL for \
         pg_basebackup): see the README's \"Backups\" section"
    )]
    Postgres,
    #[error(
        "{0} is not empty: restore only into an empty or new data directory, so nothing is overwritten"
    )]
    NotEmpty(PathBuf),
    #[error("{0} is a file, not a data directory")]
    NotADirectory(PathBuf),
    #[error("{0} is not a SQLite database")]
    NotADatabase(PathBuf),
    #[error(
        "{0} has a write-ahead log beside it: it is a live database, not a backup; make one with `speciosa backup`"
    )]
    LiveDatabase(PathBuf),
    #[error("{path} is damaged: {problems}")]
    Damaged { path: PathBuf, problems: String },
    #[error("{path} is a SQLite database but not a Speciosa one ({why})")]
    NotSpeciosa { path: PathBuf, why: String },
    #[error(
        "{path} was made by a newer Speciosa (it has migration {version}, which this version does not know); restore it with that version or a later one"
    )]
    NewerSchema { path: PathBuf, version: i64 },
    #[error(transparent)]
    File(#[from] FileError),
    #[error("opening the restored database")]
    Store(#[from] StoreError),
}

impl RestoreError {
    /// The backup or the directory was refused (as opposed to failing midway).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, RestoreError::File(_) | RestoreError::Store(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreReport {
    pub database: PathBuf,
    pub bytes: u64,
    /// Migrations the backup predates, applied after restoring it.
    pub migrations_applied: usize,
}

/// A file operation that failed: what was being done, and where.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}")]
pub struct FileError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_owned();
    move |source| FileError {
        action,
        path,
        source,
    }
}

/// Flushes a file, or a directory's entries, to stable storage.
fn sync_path(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}

/// A sibling of `path` for work in progress, renamed over `path` when complete, so
/// an interrupted copy never looks like a finished one.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

impl Store {
    /// Opens an existing database without creating or migrating it (for backups, which
    /// must neither invent an empty database nor change a live one's schema).
    pub async fn open_existing(
        location: &DatabaseLocation,
        options: &PoolOptions,
    ) -> crate::Result<Self> {
        match location {
            DatabaseLocation::DataDir(dir) => {
                let file = dir.join(DATABASE_FILE);
                if !file.is_file() {
                    return Err(StoreError::Missing(file));
                }
                Self::open_sqlite(SqliteConnectOptions::new().filename(file), false).await
            }
            DatabaseLocation::Url(url) if url.starts_with("sqlite:") => {
                let connect: SqliteConnectOptions = url.parse()?;
                Self::open_sqlite(connect, false).await
            }
            DatabaseLocation::Url(_) => Self::connect(location, options).await,
        }
    }

    /// Writes a consistent copy of the whole SQLite database to `out`, which must not
    /// exist, while the database stays in use.
    pub async fn backup_to(&self, out: &Path) -> Result<BackupReport, BackupError> {
        let Backend::Sqlite(db) = &self.backend else {
            return Err(BackupError::Postgres);
        };
        if out.symlink_metadata().is_ok() {
            return Err(BackupError::OutputExists(out.to_owned()));
        }
        let dir = parent_dir(out);
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let partial = partial_path(out);
        let Some(target) = partial.to_str() else {
            return Err(io("writing", out)(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path is not valid UTF-8",
            ))
            .into());
        };
        // A leftover from an interrupted run of this same process id would block VACUUM INTO.
        let _ = std::fs::remove_file(&partial);
        let written = async {
            // One read transaction: the copy is the database as of its start, whatever
            // is written meanwhile.
            // Its own connection: the read pool's cannot write, even to another file.
            let mut connection = db.options.connect().await?;
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(&mut connection)
                .await?;
            connection.close().await?;
            sync_path(&partial).map_err(io("flushing", &partial))?;
            if out.symlink_metadata().is_ok() {
                return Err(BackupError::OutputExists(out.to_owned()));
            }
            std::fs::rename(&partial, out).map_err(io("writing", out))?;
            sync_path(&dir).map_err(io("flushing", &dir))?;
            let bytes = std::fs::metadata(out).map_err(io("reading", out))?.len();
            Ok(BackupReport { bytes })
        }
        .await;
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    }

    /// Makes `from` (a backup written by [`Store::backup_to`]) the database of the
    /// empty or new directory `data_dir`, after checking that it is an intact Speciosa
    /// database no newer than this version, then applies any migrations it predates.
    pub async fn restore_backup(
        from: &Path,
        data_dir: &Path,
    ) -> Result<RestoreReport, RestoreError> {
        match std::fs::read_dir(data_dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(RestoreError::NotEmpty(data_dir.to_owned()));
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(RestoreError::NotADirectory(data_dir.to_owned()));
            }
            Err(error) => return Err(io("reading", data_dir)(error).into()),
        }
        check_header(from)?;
        let wal = PathBuf::from(format!("{}-wal", from.display()));
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            return Err(RestoreError::LiveDatabase(from.to_owned()));
        }
        let created = !data_dir.exists();
        std::fs::create_dir_all(data_dir).map_err(io("creating", data_dir))?;
        let database = data_dir.join(DATABASE_FILE);
        let partial = partial_path(&database);
        let restored = async {
            std::fs::copy(from, &partial).map_err(io("copying", from))?;
            // Checks run on the copy, so the backup itself is only ever read.
            let migrations_applied = check_copy(from, &partial).await?;
            sync_path(&partial).map_err(io("flushing", &partial))?;
            std::fs::rename(&partial, &database).map_err(io("writing", &database))?;
            sync_path(data_dir).map_err(io("flushing", data_dir))?;
            let bytes = std::fs::metadata(&database)
                .map_err(io("reading", &database))?
                .len();
            let store = Store::open(
                &DatabaseLocation::DataDir(data_dir.to_owned()),
                &PoolOptions::default(),
            )
            .await?;
            store.close().await;
            Ok(RestoreReport {
                database: database.clone(),
                bytes,
                migrations_applied,
            })
        }
        .await;
        if restored.is_err() {
            for leftover in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{leftover}", partial.display()));
            }
            if created {
                let _ = std::fs::remove_dir(data_dir);
            }
        }
        restored
    }
}

fn check_header(from: &Path) -> Result<(), RestoreError> {
    let mut header = [0_u8; 16];
    let mut file = File::open(from).map_err(io("reading", from))?;
    match file.read_exact(&mut header) {
        Ok(()) if &header == SQLITE_HEADER => Ok(()),
        Ok(()) => Err(RestoreError::NotADatabase(from.to_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(RestoreError::NotADatabase(from.to_owned()))
        }
        Err(error) => Err(io("reading", from)(error).into()),
    }
}

async fn connect_file(path: &Path) -> Result<SqliteConnection, sqlx::Error> {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path)).await
}

/// Integrity, then the migrations: each one this copy records must be one of ours,
/// unchanged and complete. Answers how many of ours it predates.
async fn check_copy(from: &Path, copy: &Path) -> Result<usize, RestoreError> {
    let damaged = |problems: String| RestoreError::Damaged {
        path: from.to_owned(),
        problems,
    };
    let mut connection = connect_file(copy)
        .await
        .map_err(|error| damaged(error.to_string()))?;
    let checked = async {
        let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut connection)
            .await
            .map_err(|error| damaged(error.to_string()))?;
        if problems != ["ok"] {
            return Err(damaged(problems.join("; ")));
        }
        let has_migrations: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&mut connection)
        .await
        .map_err(|error| damaged(error.to_string()))?;
        let not_speciosa = |why: &str| RestoreError::NotSpeciosa {
            path: from.to_owned(),
            why: why.to_owned(),
        };
        if !has_migrations {
            return Err(not_speciosa("it records no migrations"));
        }
        let rows = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut connection)
            .await
            .map_err(|error| damaged(error.to_string()))?;
        if rows.is_empty() {
            return Err(not_speciosa("it records no migrations"));
        }
        let ours = crate::sqlite_migrator();
        let recorded = rows.len();
        for row in rows {
            let version: i64 = row.try_get("version").map_err(|e| damaged(e.to_string()))?;
            let checksum: Vec<u8> = row.try_get("checksum").map_err(|e| damaged(e.to_string()))?;
            let success: bool = row.try_get("success").map_err(|e| damaged(e.to_string()))?;
            let Some(known) = ours.iter().find(|m| m.version == version) else {
                // Ours all start with the year; an unknown old version is someone else's schema.
                let newest = ours.iter().map(|m| m.version).max().unwrap_or(0);
                return Err(if version > newest {
                    RestoreError::NewerSchema {
                        path: from.to_owned(),
                        version,
                    }
                } else {
                    not_speciosa(&format!("migration {version} is not one of Speciosa's"))
                });
            };
            if *known.checksum != checksum[..] {
                return Err(not_speciosa(&format!(
                    "its migration {version} differs from Speciosa's"
                )));
            }
            if !success {
                return Err(damaged(format!("migration {version} was left half-applied")));
            }
        }
        Ok(ours.iter().count().saturating_sub(recorded))
    }
    .await;
    let _ = connection.close().await;
    checked
}
