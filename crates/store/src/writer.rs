//! Group commit on SQLite. One connection does all the writing; concurrent write
//! transactions each run in a savepoint of one shared batch transaction, and the batch
//! commits once (one fsync) before any of them is told it committed.
//!
//! Requests queue on a FIFO mutex over the connection. A request that commits releases
//! its savepoint, joins the batch and wakes the committer task, which queues behind
//! everyone already waiting and commits once they have all had their turn: a lone
//! write commits at once, and under load a batch grows to what arrived during the
//! previous commit. No timer is involved.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteQueryResult, SqliteRow};
use sqlx::{Either, Execute, Executor, Sqlite};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot};

use crate::{Result, StoreError};

/// A batch holds at most this many requests; the next one starts a new batch.
const MAX_BATCH: usize = 64;

/// How many write transactions committed, in how many batches (SQLite's group commit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Batch transactions committed.
    pub batches: u64,
    /// Write transactions acknowledged as committed.
    pub requests: u64,
}

/// An SQLite database: a pool of read-only connections, and the one writer.
#[derive(Clone, Debug)]
pub(crate) struct SqliteDb {
    pub(crate) read: SqlitePool,
    pub(crate) writer: Writer,
    /// For connections that are neither (a backup's `VACUUM INTO` writes a file).
    pub(crate) options: sqlx::sqlite::SqliteConnectOptions,
}

/// The writer connection, shared by clones of a store.
#[derive(Clone)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("stats", &self.stats())
            .finish()
    }
}

struct Shared {
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    batches: AtomicU64,
    requests: AtomicU64,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Lets the committer see that the store is gone, and end.
        self.wake.notify_one();
    }
}

type Outcome = std::result::Result<(), String>;

struct State {
    conn: SqliteConnection,
    /// Transaction rollbacks SQLite has reported on `conn` (explicit or forced by an
    /// error); a change since `BEGIN` means the batch is lost.
    rollbacks: Arc<AtomicU64>,
    rollbacks_at_begin: u64,
    in_batch: bool,
    /// A request's savepoint may be open: it was dropped without committing.
    savepoint_open: bool,
    /// Requests whose savepoints were released into the open batch, awaiting its commit.
    members: Vec<oneshot::Sender<Outcome>>,
    closed: bool,
}

impl Writer {
    /// Takes over `conn` (already migrated) and starts its committer task.
    pub(crate) async fn start(mut conn: SqliteConnection) -> Result<Writer> {
        let rollbacks = Arc::new(AtomicU64::new(0));
        {
            let counter = rollbacks.clone();
            conn.lock_handle().await?.set_rollback_hook(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            state: Arc::new(Mutex::new(State {
                conn,
                rollbacks,
                rollbacks_at_begin: 0,
                in_batch: false,
                savepoint_open: false,
                members: Vec::new(),
                closed: false,
            })),
            wake: wake.clone(),
            batches: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        });
        tokio::spawn(commit_batches(Arc::downgrade(&shared), wake));
        Ok(Writer { shared })
    }

    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            batches: self.shared.batches.load(Ordering::Relaxed),
            requests: self.shared.requests.load(Ordering::Relaxed),
        }
    }

    /// Waits its turn at the connection and opens a savepoint for one request.
    pub(crate) async fn begin(&self) -> Result<SqliteWrite> {
        let mut state = self.shared.state.clone().lock_owned().await;
        if state.closed {
            return Err(StoreError::Database(sqlx::Error::PoolClosed));
        }
        state.settle().await;
        if state.members.len() >= MAX_BATCH || state.batch_lost() {
            state.finish_batch(&self.shared).await;
        }
        if !state.in_batch {
            state.rollbacks_at_begin = state.rollbacks.load(Ordering::SeqCst);
            state.in_batch = true;
            // Set first: if this is cancelled half-way, the next holder rolls it back.
            state.savepoint_open = true;
            let begun = sqlx::raw_sql("BEGIN IMMEDIATE; SAVEPOINT request")
                .execute(&mut state.conn)
                .await;
            if let Err(error) = begun {
                // No transaction is open (or a half-open one goes with the rollback).
                state.in_batch = false;
                state.savepoint_open = false;
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut state.conn).await;
                return Err(error.into());
            }
        } else {
            state.savepoint_open = true;
            sqlx::raw_sql("SAVEPOINT request")
                .execute(&mut state.conn)
                .await?;
        }
        Ok(SqliteWrite {
            state,
            shared: self.shared.clone(),
            finished: false,
        })
    }

    /// Commits whatever is pending and refuses further writes.
    pub(crate) async fn close(&self) {
        let mut state = self.shared.state.lock().await;
        state.settle().await;
        state.finish_batch(&self.shared).await;
        state.closed = true;
    }
}

/// Runs until the store is dropped: each wake-up commits the batch open by then.
async fn commit_batches(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        // FIFO: every request queued before this point adds to the batch first.
        let mut state = shared.state.lock().await;
        state.settle().await;
        state.finish_batch(&shared).await;
    }
}

impl State {
    fn batch_lost(&self) -> bool {
        self.in_batch && self.rollbacks.load(Ordering::SeqCst) != self.rollbacks_at_begin
    }

    /// Rolls back the savepoint of a request that ended without committing.
    async fn settle(&mut self) {
        if !self.savepoint_open {
            return;
        }
        self.savepoint_open = false;
        // Fails only if the savepoint never opened, or the whole batch was rolled back
        // (which `batch_lost` then reports).
        let _ = sqlx::raw_sql("ROLLBACK TO request; RELEASE request")
            .execute(&mut self.conn)
            .await;
    }

    /// Commits the open batch once and tells each member how it went.
    async fn finish_batch(&mut self, shared: &Shared) {
        if !self.in_batch {
            return;
        }
        self.in_batch = false;
        let members = std::mem::take(&mut self.members);
        let started = Instant::now();
        let outcome = if self.batch_lost() {
            Err("the batch transaction was rolled back".to_owned())
        } else {
            sqlx::raw_sql("COMMIT")
                .execute(&mut self.conn)
                .await
                .map(|_| ())
                .map_err(|error| error.to_string())
        };
        match &outcome {
            Ok(()) if !members.is_empty() => {
                shared.batches.fetch_add(1, Ordering::Relaxed);
                shared
                    .requests
                    .fetch_add(members.len() as u64, Ordering::Relaxed);
                metrics::histogram!("speciosa_write_batch_size").record(members.len() as f64);
                metrics::histogram!("speciosa_write_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            Ok(()) => {}
            Err(error) => {
                tracing::error!(%error, requests = members.len(), "a write batch failed to commit");
                // Whatever is left of the transaction goes, so the next batch starts clean.
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut self.conn).await;
            }
        }
        for member in members {
            let _ = member.send(outcome.clone());
        }
    }
}

/// One request's write transaction on SQLite: a savepoint in the shared batch. Derefs
/// to the connection; dropped without [`SqliteWrite::commit`], its savepoint is rolled back.
pub(crate) struct SqliteWrite {
    state: OwnedMutexGuard<State>,
    shared: Arc<Shared>,
    finished: bool,
}

impl SqliteWrite {
    /// Keeps this request's writes and returns once the batch holding them is durable.
    pub(crate) async fn commit(mut self) -> Result<()> {
        sqlx::raw_sql("RELEASE request")
            .execute(&mut self.state.conn)
            .await?;
        self.state.savepoint_open = false;
        self.join_batch().await
    }

    /// Discards this request's writes, then waits until the batch it saw is durable, so
    /// whatever it found there (a conflicting row, say) can be read back from then on.
    pub(crate) async fn rollback(mut self) -> Result<()> {
        sqlx::raw_sql("ROLLBACK TO request; RELEASE request")
            .execute(&mut self.state.conn)
            .await?;
        self.state.savepoint_open = false;
        self.join_batch().await
    }

    async fn join_batch(mut self) -> Result<()> {
        let (sender, receiver) = oneshot::channel();
        self.state.members.push(sender);
        self.finished = true;
        let shared = self.shared.clone();
        drop(self);
        shared.wake.notify_one();
        match receiver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(batch_failed(&error)),
            Err(_) => Err(batch_failed("the writer stopped")),
        }
    }
}

fn batch_failed(error: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::other(format!(
        "the write batch failed to commit: {error}"
    ))))
}

impl Drop for SqliteWrite {
    fn drop(&mut self) {
        if !self.finished {
            // The next holder of the connection rolls the savepoint back; the committer
            // is woken so batch-mates do not wait for another request to come along.
            self.shared.wake.notify_one();
        }
    }
}

impl Deref for SqliteWrite {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.state.conn
    }
}

impl DerefMut for SqliteWrite {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.state.conn
    }
}

/// Reads go to the read pool, so `on_pool!` bodies use an [`SqliteDb`] as they would a pool.
impl<'p> Executor<'p> for &'_ SqliteDb {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, std::result::Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        (&self.read).fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, std::result::Result<Option<SqliteRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        (&self.read).fetch_optional(query)
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [sqlx::sqlite::SqliteTypeInfo],
    ) -> BoxFuture<'e, std::result::Result<sqlx::sqlite::SqliteStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.read).prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, std::result::Result<sqlx::Describe<Sqlite>, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.read).describe(sql)
    }
}
