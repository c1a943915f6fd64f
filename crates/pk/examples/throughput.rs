//! Throughput figures for bench/pk.sh: a population on a 30-day regimen and one patient's
//! 90-day history, by the closed form and by the ODE path, and a 26-week plan's preview for
//! 1,000 virtual patients. Prints one `BENCH` line each. Everything runs on one thread;
//! bench/pk.sh also pins the process to one core with `taskset`.

use std::time::Instant;

use speciosa_pk::plan::{self, Slot, Step};
use speciosa_pk::{Dose, TypicalParameters, closed_form, numerical, population, propagated};

/// The plan bench/pk_scipy.py repeats: 26 weekly steps from 180 mg a day down by 6 mg a
/// week, in three slots (08:00 40 %, 14:00 30 %, 21:30 30 %), bedtime 22:30, the last step a
/// week long.
fn plan_schedule() -> (Vec<Step>, Vec<Slot>, f64, u32) {
    let steps = (0..26)
        .map(|week| Step {
            day: week * 7,
            daily_mg: 180.0 - 6.0 * f64::from(week),
        })
        .collect();
    let slots = vec![
        Slot {
            hour: 8.0,
            share: 0.4,
        },
        Slot {
            hour: 14.0,
            share: 0.3,
        },
        Slot {
            hour: 21.5,
            share: 0.3,
        },
    ];
    (steps, slots, 22.5, 7)
}

/// The times `plan::preview` samples: each step's last day every 15 minutes (97 points),
/// then its bedtime. Rebuilt here so the closed form can be timed on the same grid.
fn preview_times(steps: &[Step], bedtime: f64, last_step_days: u32) -> Vec<f64> {
    let end_day = steps.last().map_or(0, |s| s.day + last_step_days);
    let mut times = Vec::new();
    for index in 0..steps.len() {
        let step_end = steps.get(index + 1).map_or(end_day, |next| next.day);
        let first_h = f64::from(step_end - 1) * 24.0;
        times.extend((0..=96).map(|k| first_h + f64::from(k) * 0.25));
        times.push(first_h + bedtime);
    }
    times
}

fn main() {
    let typical = TypicalParameters::bundled().expect("parameters");
    let p = typical.parameters;

    // 30 days of 3 doses a day, hourly output, 1000 virtual patients.
    let regimen: Vec<Dose> = (0..90)
        .map(|i| Dose {
            time_h: (i / 3) as f64 * 24.0 + [8.0, 14.0, 21.0][i % 3],
            mitragynine_mg: 40.0,
            hydroxymitragynine_mg: 0.0,
        })
        .collect();
    let hourly: Vec<f64> = (0..=24 * 30).map(|h| h as f64).collect();
    let people = typical.variability.sample(&p, 1000, 1).expect("sample");
    let started = Instant::now();
    let bands = population::simulate(&people, &regimen, &hourly, |_| {});
    let seconds = started.elapsed().as_secs_f64();
    let points = (people.len() * hourly.len()) as f64;
    println!(
        "BENCH population_closed_form patients=1000 points={} seconds={seconds:.4} points_per_s={:.0} median_end={:.4}",
        hourly.len(),
        points / seconds,
        bands.mitragynine.last().map(|b| b[2]).unwrap_or(0.0)
    );

    // One patient: 90 days of irregular doses, output every 0.1 h.
    let history: Vec<Dose> = (0..270)
        .map(|i| Dose {
            time_h: (i / 3) as f64 * 24.0 + [7.5, 13.25, 21.0][i % 3] + (i % 7) as f64 * 0.1,
            mitragynine_mg: 30.0 + (i % 5) as f64 * 5.0,
            hydroxymitragynine_mg: 0.0,
        })
        .collect();
    let fine: Vec<f64> = (0..=24 * 90 * 10).map(|k| k as f64 * 0.1).collect();
    let started = Instant::now();
    let exact = closed_form::simulate(&p, &history, &fine);
    let closed_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let numeric = numerical::simulate(&p, &history, &fine).expect("ode");
    let ode_seconds = started.elapsed().as_secs_f64();
    let worst = exact
        .iter()
        .zip(&numeric)
        .filter(|(a, _)| a.mitragynine > 1e-9)
        .map(|(a, b)| (a.mitragynine - b.mitragynine).abs() / a.mitragynine)
        .fold(0.0, f64::max);
    println!(
        "BENCH history_closed_form days=90 points={} seconds={closed_seconds:.4}",
        fine.len()
    );
    println!(
        "BENCH history_ode days=90 points={} seconds={ode_seconds:.4} max_relative_difference={worst:.2e} end_ng_ml={:.6}",
        fine.len(),
        numeric
            .last()
            .map(|c| c.mitragynine * 1000.0)
            .unwrap_or(0.0)
    );

    // The same 90-day history carried forward state by state (points + doses, not points × doses).
    let started = Instant::now();
    let carried = propagated::simulate(&p, &history, &fine);
    let carried_seconds = started.elapsed().as_secs_f64();
    let differs = exact
        .iter()
        .zip(&carried)
        .filter(|(a, _)| a.mitragynine > 1e-9)
        .map(|(a, b)| (a.mitragynine - b.mitragynine).abs() / a.mitragynine)
        .fold(0.0, f64::max);
    println!(
        "BENCH history_propagated days=90 points={} seconds={carried_seconds:.4} max_relative_difference={differs:.2e}",
        fine.len()
    );

    // A 26-week plan, three doses a day, every 15 minutes, for 1,000 virtual patients:
    // what a plan preview's population band costs on one core.
    let plan: Vec<Dose> = (0..26 * 7 * 3)
        .map(|i| Dose {
            time_h: (i / 3) as f64 * 24.0 + [8.0, 14.0, 21.5][i % 3],
            mitragynine_mg: 60.0 * (1.0 - (i / 21) as f64 / 30.0),
            hydroxymitragynine_mg: 0.0,
        })
        .collect();
    let quarter_hours: Vec<f64> = (0..=26 * 7 * 24 * 4).map(|k| k as f64 * 0.25).collect();
    let started = Instant::now();
    let mut total = 0.0;
    for person in &people {
        let curve = propagated::simulate(person, &plan, &quarter_hours);
        total += curve.last().map(|c| c.mitragynine).unwrap_or(0.0);
    }
    let plan_seconds = started.elapsed().as_secs_f64();
    let concentrations = (people.len() * quarter_hours.len() * 2) as f64;
    println!(
        "BENCH plan_population_propagated weeks=26 patients={} points={} seconds={plan_seconds:.4} concentrations_per_s={:.0} mean_end={:.6}",
        people.len(),
        quarter_hours.len(),
        concentrations / plan_seconds,
        total / people.len() as f64
    );

    // Issue 12 item 3: the plan preview end to end (`plan::preview`: the typical patient and
    // 1,000 virtual patients simulated from the plan's start, each step's trough, peak,
    // bedtime and 5–95 % band), on one thread. A concentration is MG or 7-OH at one sample
    // time for one simulated patient (both are computed). Best of three runs.
    let (steps, slots, bedtime, last_step_days) = plan_schedule();
    let times = preview_times(&steps, bedtime, last_step_days);
    let end_day = steps.last().map_or(0, |s| s.day + last_step_days);
    let schedule = plan::doses(&steps, &slots, end_day);
    let mut preview_seconds = f64::INFINITY;
    let mut preview = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        preview = plan::preview(&p, &people, &steps, &slots, Some(bedtime), last_step_days);
        preview_seconds = preview_seconds.min(started.elapsed().as_secs_f64());
    }
    let simulated = people.len() + 1;
    let preview_concentrations = (simulated * times.len() * 2) as f64;
    let last = preview.last().copied().expect("a step");
    println!(
        "BENCH plan_preview weeks=26 steps={} doses={} patients={} points={} threads=1 seconds={preview_seconds:.4} concentrations_per_s={:.0} last_bedtime_ng_ml={:.4} band_5_95_ng_ml={:.4}..{:.4}",
        steps.len(),
        schedule.len(),
        people.len(),
        times.len(),
        preview_concentrations / preview_seconds,
        last.bedtime_ng_ml.unwrap_or(f64::NAN),
        last.band_5_ng_ml,
        last.band_95_ng_ml
    );

    // The same schedule and sample times by the closed form (points × doses), for the first
    // 50 virtual patients only (all 1,000 would take most of a minute); concentrations/s
    // is comparable, the seconds for 1,000 are extrapolated.
    let subset = &people[..50];
    let started = Instant::now();
    let mut sink = 0.0;
    for person in subset {
        let curve = closed_form::simulate(person, &schedule, &times);
        sink += curve.last().map_or(0.0, |c| c.mitragynine);
    }
    let closed_seconds = started.elapsed().as_secs_f64();
    let closed_rate = (subset.len() * times.len() * 2) as f64 / closed_seconds;
    println!(
        "BENCH plan_preview_closed_form weeks=26 patients={} sampled_of=1000 points={} threads=1 seconds={closed_seconds:.4} concentrations_per_s={closed_rate:.0} seconds_for_1000={:.2} propagation_over_closed_form={:.1} checksum={sink:.6}",
        subset.len(),
        times.len(),
        preview_concentrations / closed_rate,
        preview_concentrations / preview_seconds / closed_rate
    );

    // The typical patient's curve at every sample time, by both Rust paths, for
    // bench/pk_scipy.py to compare against (ng/mL of MG).
    let typical_curve = propagated::simulate(&p, &schedule, &times);
    let reference = closed_form::simulate(&p, &schedule, &times);
    let agreement = typical_curve
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a.mitragynine - b.mitragynine).abs() / b.mitragynine)
        .fold(0.0, f64::max);
    // The rebuilt grid is the preview's: its last point is the last step's bedtime.
    let bedtime_check = typical_curve
        .last()
        .map_or(f64::NAN, |c| c.mitragynine * 1000.0)
        / last.bedtime_ng_ml.unwrap_or(f64::NAN)
        - 1.0;
    println!(
        "BENCH plan_typical points={} propagated_vs_closed_form={agreement:.2e} grid_vs_preview={bedtime_check:.1e} mg_ng_ml={}",
        times.len(),
        typical_curve
            .iter()
            .map(|c| format!("{:.9e}", c.mitragynine * 1000.0))
            .collect::<Vec<_>>()
            .join(",")
    );
}
