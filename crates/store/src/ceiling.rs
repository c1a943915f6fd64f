//! The write ceiling `bench/load.sh` compares every scenario with: one bare row per
//! write transaction, through the server's own pool and durability settings (SQLite
//! in WAL with `synchronous=FULL`, taking the write lock up front; PostgreSQL as
//! configured), so the only difference from a real request is the work around it.

use crate::{Backend, BeginWrite, Result, Store};

impl Store {
    /// Creates the ceiling's table. It is not part of the schema: only the benchmark's
    /// throwaway databases have it.
    pub async fn ceiling_prepare(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS bench_ceiling (
                        id INTEGER PRIMARY KEY,
                        payload TEXT NOT NULL,
                        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
                )
                .execute(pool)
                .await?;
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
            }
        }
        Ok(())
    }

    /// Inserts one row in a write transaction of its own and commits it durably.
    pub async fn ceiling_insert(&self, payload: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                sqlx::query("INSERT INTO bench_ceiling (payload) VALUES (?)")
                    .bind(payload)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin_write().await?;
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
