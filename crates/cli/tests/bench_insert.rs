//! `speciosa bench-insert`, the write ceiling `bench/load.sh` compares every scenario with.

use std::process::Command;

use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_speciosa");

/// Runs bench-insert and returns the count from its machine-readable BENCH line.
fn bench_insert(database: &[&str]) -> i64 {
    let output = Command::new(BIN)
        .arg("bench-insert")
        .args(database)
        .args(["--connections", "4", "--seconds", "0.5"])
        .env("SPECIOSA_LOG", "warn")
        .output()
        .expect("run speciosa bench-insert");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|line| line.starts_with("BENCH "))
        .unwrap_or_else(|| panic!("no BENCH line in {stdout}"));
    for field in ["rps=", "p50_us=", "p99_us=", "cpu_ticks="] {
        assert!(line.contains(field), "{line} lacks {field}");
    }
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("requests="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {line}"))
}

#[tokio::test]
async fn every_insert_bench_insert_counts_is_a_committed_row_in_the_sqlite_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let counted = bench_insert(&["--data-dir", dir.path().to_str().unwrap()]);
    assert!(counted > 0, "no insert in half a second");
    let url = format!("sqlite://{}", dir.path().join("speciosa.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_ceiling")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    // One more row: the warm-up insert before the measured window.
    assert_eq!(rows, counted + 1);
}

#[tokio::test]
async fn every_insert_bench_insert_counts_is_a_committed_row_in_postgresql() {
    let Ok(admin_url) = std::env::var("SPECIOSA_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("SPECIOSA_REQUIRE_POSTGRES").is_err(),
            "SPECIOSA_TEST_DATABASE_URL is required"
        );
        return;
    };
    let name = format!("speciosa_bench_insert_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let counted = bench_insert(&["--database-url", &url]);
    assert!(counted > 0, "no insert in half a second");
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_ceiling")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(rows, counted + 1);
    connection.close().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
}
