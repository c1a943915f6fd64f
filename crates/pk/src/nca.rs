//! Non-compartmental analysis of a sampled curve: Cmax, Tmax, AUC by the linear-up /
//! log-down trapezoidal rule, the terminal rate constant λz by log-linear regression
//! (chosen by adjusted R² over the last three or more points after Cmax), t½ and AUC∞.

/// NCA results for one curve. Concentrations in the caller's units.
#[derive(Clone, Debug, PartialEq)]
pub struct Nca {
    pub cmax: f64,
    pub tmax: f64,
    /// From the first to the last sample.
    pub auc_last: f64,
    /// Extrapolated to infinity with λz; `None` without a usable terminal phase.
    pub auc_inf: Option<f64>,
    pub lambda_z: Option<f64>,
    pub half_life: Option<f64>,
    /// The sample times the terminal regression used.
    pub lambda_z_times: Vec<f64>,
}

/// Area under the curve between two samples: linear while rising or flat, logarithmic
/// while falling (exact for exponential decline).
pub fn segment_auc(t1: f64, c1: f64, t2: f64, c2: f64) -> f64 {
    let dt = t2 - t1;
    if c2 < c1 && c2 > 0.0 && c1 > 0.0 {
        dt * (c1 - c2) / (c1 / c2).ln()
    } else {
        dt * (c1 + c2) / 2.0
    }
}

pub fn auc(times: &[f64], concentrations: &[f64]) -> f64 {
    times
        .windows(2)
        .zip(concentrations.windows(2))
        .map(|(t, c)| segment_auc(t[0], c[0], t[1], c[1]))
        .sum()
}

/// Analyses a curve sampled at ascending `times`.
pub fn analyse(times: &[f64], concentrations: &[f64]) -> Nca {
    let (imax, cmax) =
        concentrations
            .iter()
            .copied()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (i, c)| {
                if c > best.1 { (i, c) } else { best }
            });
    let tmax = times.get(imax).copied().unwrap_or(0.0);
    let auc_last = auc(times, concentrations);
    // Terminal candidates: positive samples after Cmax; try the last 3, 4, … and keep the
    // best adjusted R² (ties favour more points), as WinNonlin's "best fit" does.
    let tail: Vec<(f64, f64)> = times
        .iter()
        .zip(concentrations)
        .skip(imax + 1)
        .filter(|(_, c)| **c > 0.0)
        .map(|(t, c)| (*t, *c))
        .collect();
    // Sums for the regression grow one point at a time from the end: linear in the samples.
    let mut best: Option<(f64, f64, usize)> = None;
    let (mut sx, mut sy, mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (k, (t, c)) in tail.iter().rev().enumerate() {
        let y = c.ln();
        sx += t;
        sy += y;
        sxx += t * t;
        sxy += t * y;
        syy += y * y;
        let n = (k + 1) as f64;
        if k + 1 < 3 {
            continue;
        }
        let (vxx, vxy, vyy) = (sxx - sx * sx / n, sxy - sx * sy / n, syy - sy * sy / n);
        if vxx <= 0.0 {
            continue;
        }
        let slope = vxy / vxx;
        let r2 = if vyy <= 0.0 {
            1.0
        } else {
            (vxy * vxy) / (vxx * vyy)
        };
        let adjusted = 1.0 - (1.0 - r2) * (n - 1.0) / (n - 2.0);
        if slope < 0.0 && best.is_none_or(|(_, b, _)| adjusted >= b - 1e-4) {
            best = Some((slope, adjusted, k + 1));
        }
    }
    let lambda_z = best.map(|(slope, _, _)| -slope);
    let lambda_z_times = best
        .map(|(_, _, n)| tail[tail.len() - n..].iter().map(|(t, _)| *t).collect())
        .unwrap_or_default();
    let c_last = concentrations.last().copied().unwrap_or(0.0);
    Nca {
        cmax,
        tmax,
        auc_last,
        auc_inf: lambda_z.map(|l| auc_last + c_last / l),
        lambda_z,
        half_life: lambda_z.map(|l| std::f64::consts::LN_2 / l),
        lambda_z_times,
    }
}

/// Accumulation ratio: AUC over a dosing interval at (or near) steady state divided by
/// the AUC over the first interval.
pub fn accumulation_ratio(
    times: &[f64],
    concentrations: &[f64],
    first: (f64, f64),
    later: (f64, f64),
) -> Option<f64> {
    let window = |(from, to): (f64, f64)| {
        let pairs: Vec<(f64, f64)> = times
            .iter()
            .zip(concentrations)
            .filter(|(t, _)| **t >= from - 1e-9 && **t <= to + 1e-9)
            .map(|(t, c)| (*t, *c))
            .collect();
        let (ts, cs): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
        auc(&ts, &cs)
    };
    let first_auc = window(first);
    (first_auc > 0.0).then(|| window(later) / first_auc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(end: f64, step: f64) -> Vec<f64> {
        (0..=((end / step).round() as usize))
            .map(|i| i as f64 * step)
            .collect()
    }

    #[test]
    fn a_monoexponential_curve_has_its_exact_auc_and_half_life() {
        // C = 10·e^(−0.1 t): AUC∞ = 10 / 0.1 = 100, t½ = ln 2 / 0.1.
        let times = grid(48.0, 2.0);
        let concentrations: Vec<f64> = times.iter().map(|t| 10.0 * (-0.1 * t).exp()).collect();
        let nca = analyse(&times, &concentrations);
        assert_eq!((nca.cmax, nca.tmax), (10.0, 0.0));
        assert!((nca.lambda_z.unwrap() - 0.1).abs() < 1e-12);
        assert!(
            (nca.auc_inf.unwrap() - 100.0).abs() < 1e-9,
            "{:?}",
            nca.auc_inf
        );
        assert!((nca.half_life.unwrap() - std::f64::consts::LN_2 / 0.1).abs() < 1e-9);
    }

    #[test]
    fn a_bateman_curve_gives_its_analytic_cmax_auc_and_terminal_rate() {
        // One-compartment oral: C = D·ka/(V(ka−k))·(e^(−kt) − e^(−ka t)), D = 100, V = 10, ka = 1, k = 0.1.
        // AUC∞ = D/(V·k) = 100; tmax = ln(ka/k)/(ka−k) ≈ 2.558 h.
        let (ka, k) = (1.0, 0.1);
        let times = grid(96.0, 0.01);
        let concentrations: Vec<f64> = times
            .iter()
            .map(|t| 10.0 * ka / (ka - k) * ((-k * t).exp() - (-ka * t).exp()))
            .collect();
        let nca = analyse(&times, &concentrations);
        let tmax = (ka / k).ln() / (ka - k);
        assert!((nca.tmax - tmax).abs() <= 0.01);
        assert!(
            (nca.auc_inf.unwrap() - 100.0).abs() < 1e-3,
            "{:?}",
            nca.auc_inf
        );
        // Best-fit selection admits early points where e^(−ka t) still adds a trace.
        assert!(
            (nca.lambda_z.unwrap() - k).abs() / k < 1e-3,
            "{:?}",
            nca.lambda_z
        );
        assert!(nca.lambda_z_times.len() >= 3);
    }

    #[test]
    fn a_once_daily_regimen_accumulates_as_theory_predicts() {
        // One-compartment bolus every τ = 24 h with k = ln2/24: R = 1/(1 − e^(−kτ)) = 2.
        let k = std::f64::consts::LN_2 / 24.0;
        let times = grid(24.0 * 20.0, 0.05);
        let concentrations: Vec<f64> = times
            .iter()
            .map(|t| {
                (0..20)
                    .map(|n| n as f64 * 24.0)
                    .filter(|d| d <= t)
                    .map(|d| (-k * (t - d)).exp())
                    .sum()
            })
            .collect();
        // Windows stop just before the next dose so its jump is not counted.
        let ratio = accumulation_ratio(
            &times,
            &concentrations,
            (0.0, 23.95),
            (24.0 * 19.0, 24.0 * 20.0 - 0.05),
        )
        .unwrap();
        assert!((ratio - 2.0).abs() < 1e-3, "{ratio}");
    }
}
