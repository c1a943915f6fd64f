//! Individual (Bayesian) estimation from measured plasma concentrations (therapeutic drug
//! monitoring): the maximum a-posteriori individual parameters, with the population model as
//! prior, and a Laplace approximation of their uncertainty.
//!
//! Objective (−2 log posterior, constants dropped):
//! Σⱼ (ln yⱼ − ln ŷⱼ(η))² / σ² + ηᵀ Ω⁻¹ η, minimised by Nelder–Mead over η.

use crate::closed_form;
use crate::model::{Dose, Parameters};
use crate::population::{VARYING, Variability};

/// A measured mitragynine concentration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub time_h: f64,
    pub mitragynine_ng_ml: f64,
}

/// The fit: individual parameters, their η (log deviations from typical) and the
/// approximate standard error of each η.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub parameters: Parameters,
    pub eta: [f64; 8],
    pub eta_standard_error: [f64; 8],
    pub objective: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EstimationError {
    #[error("at least one positive concentration is needed")]
    NoObservations,
    #[error("observation {0} must be a positive, finite concentration at a finite time")]
    Observation(usize),
    #[error("the population variability cannot serve as a prior: {0}")]
    Prior(String),
}

/// Residual error on the log scale (≈ 30 % proportional): an assumption, as no assay
/// error model for kratom alkaloids has been published.
pub const LOG_RESIDUAL_SD: f64 = 0.3;

fn individual(typical: &Parameters, eta: &[f64; 8]) -> Parameters {
    let mut p = *typical;
    p.ka *= eta[0].exp();
    p.cl *= eta[1].exp();
    p.vc *= eta[2].exp();
    p.q *= eta[3].exp();
    p.vp *= eta[4].exp();
    let odds = p.fm / (1.0 - p.fm) * eta[5].exp();
    p.fm = odds / (1.0 + odds);
    p.cl_m *= eta[6].exp();
    p.v_m *= eta[7].exp();
    p
}

/// Inverse of a symmetric positive-definite matrix by Gauss–Jordan elimination; `None` if singular.
fn invert(matrix: &[[f64; 8]; 8]) -> Option<[[f64; 8]; 8]> {
    let mut a = *matrix;
    let mut inv = [[0.0; 8]; 8];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-14 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let scale = a[col][col];
        for k in 0..8 {
            a[col][k] /= scale;
            inv[col][k] /= scale;
        }
        for row in 0..8 {
            if row != col {
                let factor = a[row][col];
                for k in 0..8 {
                    a[row][k] -= factor * a[col][k];
                    inv[row][k] -= factor * inv[col][k];
                }
            }
        }
    }
    Some(inv)
}

/// Parameters without variability (ω = 0) are held at their typical values.
fn prior_precision(
    variability: &Variability,
) -> Result<([[f64; 8]; 8], [bool; 8]), EstimationError> {
    let free: [bool; 8] = std::array::from_fn(|i| variability.omega[i] > 0.0);
    let mut cov = [[0.0; 8]; 8];
    for i in 0..8 {
        for j in 0..8 {
            cov[i][j] = if free[i] && free[j] {
                variability.correlation[i][j] * variability.omega[i] * variability.omega[j]
            } else if i == j {
                1.0
            } else {
                0.0
            };
        }
    }
    let precision =
        invert(&cov).ok_or_else(|| EstimationError::Prior("the covariance is singular".into()))?;
    Ok((precision, free))
}

/// Nelder–Mead simplex minimisation (standard coefficients).
fn nelder_mead(
    f: &dyn Fn(&[f64; 8]) -> f64,
    start: [f64; 8],
    step: f64,
    iterations: usize,
) -> ([f64; 8], f64) {
    let mut simplex: Vec<([f64; 8], f64)> = (0..=8)
        .map(|i| {
            let mut x = start;
            if i > 0 {
                x[i - 1] += step;
            }
            (x, f(&x))
        })
        .collect();
    for _ in 0..iterations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        if (simplex[8].1 - simplex[0].1).abs() < 1e-12 {
            break;
        }
        let centroid: [f64; 8] =
            std::array::from_fn(|k| simplex[..8].iter().map(|(x, _)| x[k]).sum::<f64>() / 8.0);
        let towards = |t: f64| -> [f64; 8] {
            std::array::from_fn(|k| centroid[k] + t * (simplex[8].0[k] - centroid[k]))
        };
        let reflected = towards(-1.0);
        let fr = f(&reflected);
        if fr < simplex[0].1 {
            let expanded = towards(-2.0);
            let fe = f(&expanded);
            simplex[8] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[7].1 {
            simplex[8] = (reflected, fr);
        } else {
            let contracted = towards(0.5);
            let fc = f(&contracted);
            if fc < simplex[8].1 {
                simplex[8] = (contracted, fc);
            } else {
                let best = simplex[0].0;
                for entry in simplex.iter_mut().skip(1) {
                    let x: [f64; 8] =
                        std::array::from_fn(|k| best[k] + 0.5 * (entry.0[k] - best[k]));
                    *entry = (x, f(&x));
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex[0]
}

/// The maximum a-posteriori individual parameters given MG concentrations after `doses`.
pub fn estimate(
    typical: &Parameters,
    variability: &Variability,
    doses: &[Dose],
    observations: &[Observation],
) -> Result<Estimate, EstimationError> {
    if observations.is_empty() {
        return Err(EstimationError::NoObservations);
    }
    if let Some(i) = observations.iter().position(|o| {
        !(o.time_h.is_finite() && o.mitragynine_ng_ml.is_finite() && o.mitragynine_ng_ml > 0.0)
    }) {
        return Err(EstimationError::Observation(i));
    }
    let (precision, free) = prior_precision(variability)?;
    let times: Vec<f64> = observations.iter().map(|o| o.time_h).collect();
    let objective = |eta: &[f64; 8]| -> f64 {
        let eta: [f64; 8] = std::array::from_fn(|i| if free[i] { eta[i] } else { 0.0 });
        let p = individual(typical, &eta);
        let predicted = closed_form::simulate(&p, doses, &times);
        let data: f64 = observations
            .iter()
            .zip(&predicted)
            .map(|(o, c)| {
                let predicted = (c.mitragynine * 1000.0).max(1e-12);
                ((o.mitragynine_ng_ml.ln() - predicted.ln()) / LOG_RESIDUAL_SD).powi(2)
            })
            .sum();
        let prior: f64 = (0..8)
            .map(|i| {
                (0..8)
                    .map(|j| eta[i] * precision[i][j] * eta[j])
                    .sum::<f64>()
            })
            .sum();
        data + prior
    };
    // Restarts from the best point so far refine the simplex after it collapses.
    let mut best = ([0.0; 8], objective(&[0.0; 8]));
    for round in 0..4 {
        let candidate = nelder_mead(&objective, best.0, 0.3 / (round + 1) as f64, 4000);
        if candidate.1 <= best.1 {
            best = candidate;
        }
    }
    let eta: [f64; 8] = std::array::from_fn(|i| if free[i] { best.0[i] } else { 0.0 });
    // Laplace approximation: Cov(η) ≈ 2 H⁻¹ of the −2 log posterior at the optimum.
    let h = 1e-3;
    let mut hessian = [[0.0; 8]; 8];
    for i in 0..8 {
        for j in 0..8 {
            if !(free[i] && free[j]) {
                hessian[i][j] = if i == j { 1.0 } else { 0.0 };
                continue;
            }
            let shifted = |di: f64, dj: f64| {
                let mut x = eta;
                x[i] += di;
                x[j] += dj;
                objective(&x)
            };
            hessian[i][j] =
                (shifted(h, h) - shifted(h, -h) - shifted(-h, h) + shifted(-h, -h)) / (4.0 * h * h);
        }
    }
    let covariance = invert(&hessian).unwrap_or([[f64::NAN; 8]; 8]);
    let eta_standard_error: [f64; 8] = std::array::from_fn(|i| {
        if free[i] {
            (2.0 * covariance[i][i]).max(0.0).sqrt()
        } else {
            0.0
        }
    });
    Ok(Estimate {
        parameters: individual(typical, &eta),
        eta,
        eta_standard_error,
        objective: best.1,
    })
}

/// Predictions from an individual fit with their uncertainty: percentile bands over `n`
/// parameter sets drawn from the Laplace approximation (independent normal η around the
/// estimate with its standard errors), reproducibly from `seed`.
pub fn predict(
    typical: &Parameters,
    fit: &Estimate,
    doses: &[Dose],
    times: &[f64],
    n: usize,
    seed: u64,
) -> crate::population::Bands {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let people: Vec<Parameters> = (0..n.max(1))
        .map(|_| {
            let eta: [f64; 8] = std::array::from_fn(|i| {
                let z: f64 = StandardNormal.sample(&mut rng);
                fit.eta[i] + fit.eta_standard_error[i] * z
            });
            individual(typical, &eta)
        })
        .collect();
    crate::population::simulate(&people, doses, times, |_| {})
}

/// Names of the estimated parameters, in the order of [`Estimate::eta`].
pub fn parameter_names() -> [&'static str; 8] {
    VARYING
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypicalParameters;

    #[test]
    fn drug_levels_pull_a_patients_clearance_towards_the_truth() {
        let bundle = TypicalParameters::bundled().unwrap();
        let typical = bundle.parameters;
        // A patient who clears mitragynine 60 % faster than typical (η_CL = ln 1.6).
        let mut truth = typical;
        truth.cl *= 1.6;
        let doses: Vec<Dose> = (0..7)
            .map(|d| Dose {
                time_h: 24.0 * d as f64,
                mitragynine_mg: 39.0,
                hydroxymitragynine_mg: 0.0,
            })
            .collect();
        let times = [145.0, 146.0, 148.0, 152.0, 160.0, 168.0];
        let observations: Vec<Observation> = closed_form::simulate(&truth, &doses, &times)
            .iter()
            .zip(times)
            .map(|(c, t)| Observation {
                time_h: t,
                mitragynine_ng_ml: c.mitragynine * 1000.0,
            })
            .collect();
        let fit = estimate(&typical, &bundle.variability, &doses, &observations).unwrap();
        assert!(
            fit.parameters.cl > typical.cl * 1.3,
            "CL {} (typical {}, true {})",
            fit.parameters.cl,
            typical.cl,
            truth.cl
        );
        // The fitted model reproduces the measured levels far better than the typical one.
        let fitted = closed_form::simulate(&fit.parameters, &doses, &times);
        for (o, c) in observations.iter().zip(&fitted) {
            let ratio = c.mitragynine * 1000.0 / o.mitragynine_ng_ml;
            assert!((0.85..1.15).contains(&ratio), "at {} h: {ratio}", o.time_h);
        }
        assert!(
            fit.eta_standard_error[1] > 0.0 && fit.eta_standard_error[1] < 0.45,
            "{:?}",
            fit.eta_standard_error
        );
    }

    #[test]
    fn without_informative_data_the_estimate_stays_at_the_typical_values() {
        let bundle = TypicalParameters::bundled().unwrap();
        let typical = bundle.parameters;
        let doses = [Dose {
            time_h: 0.0,
            mitragynine_mg: 39.0,
            hydroxymitragynine_mg: 0.0,
        }];
        let typical_level =
            closed_form::simulate(&typical, &doses, &[24.0])[0].mitragynine * 1000.0;
        let fit = estimate(
            &typical,
            &bundle.variability,
            &doses,
            &[Observation {
                time_h: 24.0,
                mitragynine_ng_ml: typical_level,
            }],
        )
        .unwrap();
        assert!(fit.eta.iter().all(|e| e.abs() < 0.05), "{:?}", fit.eta);
        assert_eq!(
            estimate(&typical, &bundle.variability, &doses, &[]),
            Err(EstimationError::NoObservations)
        );
    }
}
