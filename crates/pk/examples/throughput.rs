//! Throughput figures for bench/pk.sh: a population on a 30-day regimen and one patient's
//! 90-day history, by the closed form and by the ODE path. Prints one `BENCH` line each.

use std::time::Instant;

use speciosa_pk::{Dose, TypicalParameters, closed_form, numerical, population, propagated};

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
}
