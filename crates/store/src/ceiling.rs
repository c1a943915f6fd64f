//! The write ceiling `bench/load.sh` compares every scenario with: one bare row per
//! write transaction, each committed on its own, with the server's durability settings
//! (SQLite in WAL with `synchronous=FULL`, taking the write lock up front; PostgreSQL as
//! configured). On SQLite it deliberately bypasses the group-commit writer: the ceiling
//! is what one fsync per transaction allows on this filesystem.

use std::time::Duration;

use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{PgPool, SqlitePool};

use crate::{Backend, BeginWrite, Result, Store};

/// Connections for the ceiling's inserts (cheap to clone).
#[derive(Clone, Debug)]
pub struct Ceiling {
    backend: CeilingBackend,
}

#[derive(Clone, Debug)]
enum CeilingBackend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Creates the ceiling's table (not part of the schema: only the benchmark's throwaway
    /// databases have it) and the connections `connections` concurrent inserters use.
    pub async fn ceiling(&self, connections: u32) -> Result<Ceiling> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let mut tx = db.begin_write().await?;
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS bench_ceiling (
                        id INTEGER PRIMARY KEY,
                        payload TEXT NOT NULL,
                        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                let pool = SqlitePoolOptions::new()
                    .max_connections(connections.clamp(1, 64))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(db.options.clone())
                    .await?;
                Ok(Ceiling {
                    backend: CeilingBackend::Sqlite(pool),
                })
            }
            Backend::Postgres(pool) => {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS bench_ceiling (
                        id BIGSERIAL PRIMARY KEY,
                        payload TEXT NOT NULL,
                        created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                )
                .execute(pool)
                .await?;
                Ok(Ceiling {
                    backend: CeilingBackend::Postgres(pool.clone()),
                })
            }
        }
    }
}

impl Ceiling {
    /// Inserts one row in a write transaction of its own and commits it durably.
    pub async fn insert(&self, payload: &str) -> Result<()> {
        match &self.backend {
            CeilingBackend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query("INSERT INTO bench_ceiling (payload) VALUES (?)")
                    .bind(payload)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            CeilingBackend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO bench_ceiling (payload) VALUES ($1)")
                    .bind(payload)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}
