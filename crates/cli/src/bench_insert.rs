//! `speciosa bench-insert` (hidden): the write ceiling for `bench/load.sh`. N tasks each
//! insert one bare row per write transaction for S seconds through the server's own pool
//! and durability settings; it prints inserts/s and latency percentiles.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::DatabaseArgs;

#[derive(Args)]
pub struct BenchInsertArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Concurrent tasks, each running one transaction at a time (like wrk's connections).
    #[arg(long, default_value_t = 16, value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// How long to measure.
    #[arg(long, default_value_t = 8.0, value_name = "S")]
    pub seconds: f64,
}

pub async fn run(args: BenchInsertArgs) -> Result<()> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number");
    }
    let store = args.database.open().await?;
    let ceiling = speciosa_app::operations::ceiling(&store, args.connections)
        .await
        .context("creating the ceiling table")?;
    // Warm the pool so connection set-up is not measured.
    ceiling.insert("warm-up").await?;

    let window = Duration::from_secs_f64(args.seconds);
    let cpu_before = process_cpu_ticks();
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..args.connections {
        let ceiling = ceiling.clone();
        tasks.spawn(async move {
            let payload = format!("task {task}");
            let mut latencies_us: Vec<u32> = Vec::new();
            while Instant::now() < deadline {
                let begun = Instant::now();
                ceiling.insert(&payload).await?;
                let micros = begun.elapsed().as_micros();
                latencies_us.push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
            anyhow::Ok(latencies_us)
        });
    }
    let mut latencies: Vec<u32> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined.context("an insert task failed")??);
    }
    let elapsed = started.elapsed();
    let cpu_ticks = match (cpu_before, process_cpu_ticks()) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    store.close().await;

    latencies.sort_unstable();
    let count = latencies.len();
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "{}: {count} single-row insert transactions in {:.2} s from {} tasks: {rate:.1}/s, p50 {:.2} ms, p99 {:.2} ms",
        args.database.location().describe(),
        elapsed.as_secs_f64(),
        args.connections,
        f64::from(percentile(&latencies, 50.0)) / 1000.0,
        f64::from(percentile(&latencies, 99.0)) / 1000.0,
    );
    // The same machine-readable line as bench/*.lua's done(), plus this process's CPU.
    println!(
        "BENCH requests={count} duration_us={} rps={rate:.1} p50_us={} p90_us={} p99_us={} max_us={} non2xx=0 socket_errors=0 cpu_ticks={}",
        elapsed.as_micros(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0),
        cpu_ticks.map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
    );
    Ok(())
}

/// Nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// User plus system CPU time of this process in clock ticks, from /proc (Linux only).
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), 50);
        assert_eq!(percentile(&values, 99.0), 99);
        assert_eq!(percentile(&values, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
