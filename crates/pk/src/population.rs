//! Population simulation: individual parameters drawn log-normally around the typical
//! values (with correlations), deterministic for a given seed, summarised as percentile
//! bands over time.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::closed_form;
use crate::model::{Dose, Parameters};

/// The parameters that vary between people, in this order.
pub const VARYING: [&str; 8] = ["ka", "cl", "vc", "q", "vp", "fm", "cl_m", "v_m"];

/// Log-normal between-subject variability: standard deviations of ln(parameter) and a
/// correlation matrix over [`VARYING`].
#[derive(Clone, Debug, PartialEq)]
pub struct Variability {
    pub omega: [f64; 8],
    pub correlation: [[f64; 8]; 8],
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VariabilityError {
    #[error("omega for {0} must be a finite number ≥ 0")]
    Omega(&'static str),
    #[error(
        "the correlation matrix must be symmetric, with ones on the diagonal and entries in [−1, 1], and positive definite"
    )]
    Correlation,
}

impl Variability {
    /// The lower-triangular factor L of the covariance (Σ = L·Lᵀ). Index loops read like
    /// the textbook algorithm, which matters more here than iterator style.
    #[allow(clippy::needless_range_loop)]
    fn cholesky(&self) -> Result<[[f64; 8]; 8], VariabilityError> {
        for (i, omega) in self.omega.iter().enumerate() {
            if !(omega.is_finite() && *omega >= 0.0) {
                return Err(VariabilityError::Omega(VARYING[i]));
            }
        }
        let mut cov = [[0.0; 8]; 8];
        for i in 0..8 {
            for j in 0..8 {
                let r = self.correlation[i][j];
                if (r - self.correlation[j][i]).abs() > 1e-12
                    || !(-1.0..=1.0).contains(&r)
                    || (i == j && r != 1.0)
                {
                    return Err(VariabilityError::Correlation);
                }
                cov[i][j] = r * self.omega[i] * self.omega[j];
            }
        }
        let mut l = [[0.0; 8]; 8];
        for i in 0..8 {
            for j in 0..=i {
                let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
                if i == j {
                    let d = cov[i][i] - sum;
                    // A parameter without variability has a zero row.
                    if d < -1e-12 {
                        return Err(VariabilityError::Correlation);
                    }
                    l[i][i] = d.max(0.0).sqrt();
                } else if l[j][j] > 0.0 {
                    l[i][j] = (cov[i][j] - sum) / l[j][j];
                }
            }
        }
        Ok(l)
    }

    /// `n` individuals drawn around `typical`, reproducibly from `seed`.
    pub fn sample(
        &self,
        typical: &Parameters,
        n: usize,
        seed: u64,
    ) -> Result<Vec<Parameters>, VariabilityError> {
        let l = self.cholesky()?;
        let mut rng = StdRng::seed_from_u64(seed);
        Ok((0..n)
            .map(|_| {
                let z: [f64; 8] = std::array::from_fn(|_| StandardNormal.sample(&mut rng));
                let eta: [f64; 8] = std::array::from_fn(|i| (0..=i).map(|k| l[i][k] * z[k]).sum());
                let mut p = *typical;
                p.ka *= eta[0].exp();
                p.cl *= eta[1].exp();
                p.vc *= eta[2].exp();
                p.q *= eta[3].exp();
                p.vp *= eta[4].exp();
                // A fraction stays within (0, 1): vary its odds rather than the fraction itself.
                let odds = p.fm / (1.0 - p.fm) * eta[5].exp();
                p.fm = odds / (1.0 + odds);
                p.cl_m *= eta[6].exp();
                p.v_m *= eta[7].exp();
                p
            })
            .collect())
    }
}

/// The 5th, 25th, 50th, 75th and 95th percentiles at each time.
#[derive(Clone, Debug, PartialEq)]
pub struct Bands {
    pub times: Vec<f64>,
    pub mitragynine: Vec<[f64; 5]>,
    pub hydroxymitragynine: Vec<[f64; 5]>,
}

pub const PERCENTILES: [f64; 5] = [5.0, 25.0, 50.0, 75.0, 95.0];

/// Linear-interpolated percentile of sorted values (the "R-7" definition).
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// Simulates every individual and reduces to percentile bands. `progress` is called after
/// each individual (for a progress bar).
pub fn simulate(
    individuals: &[Parameters],
    doses: &[Dose],
    times: &[f64],
    mut progress: impl FnMut(usize),
) -> Bands {
    let mut mg: Vec<Vec<f64>> = vec![Vec::with_capacity(individuals.len()); times.len()];
    let mut oh: Vec<Vec<f64>> = vec![Vec::with_capacity(individuals.len()); times.len()];
    for (done, p) in individuals.iter().enumerate() {
        for (i, c) in closed_form::simulate(p, doses, times)
            .into_iter()
            .enumerate()
        {
            mg[i].push(c.mitragynine);
            oh[i].push(c.hydroxymitragynine);
        }
        progress(done + 1);
    }
    let bands = |columns: &mut Vec<Vec<f64>>| {
        columns
            .iter_mut()
            .map(|column| {
                column.sort_by(f64::total_cmp);
                PERCENTILES.map(|p| percentile(column, p))
            })
            .collect()
    };
    Bands {
        times: times.to_vec(),
        mitragynine: bands(&mut mg),
        hydroxymitragynine: bands(&mut oh),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypicalParameters;

    /// The shipped variability (ω for CL 0.45, CL–Vc correlation 0.4).
    fn variability() -> Variability {
        TypicalParameters::bundled().unwrap().variability
    }

    #[test]
    fn the_same_seed_gives_the_same_people_and_sampled_spread_matches_omega() {
        let typical = TypicalParameters::bundled().unwrap().parameters;
        let a = variability().sample(&typical, 4000, 7).unwrap();
        let b = variability().sample(&typical, 4000, 7).unwrap();
        assert_eq!(a, b);
        let ln_cl: Vec<f64> = a.iter().map(|p| (p.cl / typical.cl).ln()).collect();
        let ln_vc: Vec<f64> = a.iter().map(|p| (p.vc / typical.vc).ln()).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (mc, mv) = (mean(&ln_cl), mean(&ln_vc));
        let sd_cl =
            (ln_cl.iter().map(|x| (x - mc).powi(2)).sum::<f64>() / (ln_cl.len() - 1) as f64).sqrt();
        let sd_vc =
            (ln_vc.iter().map(|x| (x - mv).powi(2)).sum::<f64>() / (ln_vc.len() - 1) as f64).sqrt();
        let r = ln_cl
            .iter()
            .zip(&ln_vc)
            .map(|(x, y)| (x - mc) * (y - mv))
            .sum::<f64>()
            / ((ln_cl.len() - 1) as f64 * sd_cl * sd_vc);
        assert!((sd_cl - 0.45).abs() < 0.03, "{sd_cl}");
        assert!((r - 0.4).abs() < 0.05, "{r}");
        assert!(a.iter().all(|p| p.fm > 0.0 && p.fm < 1.0));
    }

    #[test]
    fn percentile_bands_are_ordered_and_surround_the_typical_curve() {
        let typical = TypicalParameters::bundled().unwrap().parameters;
        let people = variability().sample(&typical, 1000, 11).unwrap();
        let doses = [Dose {
            time_h: 0.0,
            mitragynine_mg: 39.0,
            hydroxymitragynine_mg: 0.0,
        }];
        let times = [0.5, 1.0, 2.0, 6.0, 24.0, 72.0];
        let mut calls = 0;
        let bands = simulate(&people, &doses, &times, |_| calls += 1);
        assert_eq!(calls, 1000);
        let typical_curve = closed_form::simulate(&typical, &doses, &times);
        for (band, typical) in bands.mitragynine.iter().zip(&typical_curve) {
            assert!(band.windows(2).all(|w| w[0] <= w[1]), "{band:?}");
            assert!(
                band[0] < typical.mitragynine && typical.mitragynine < band[4],
                "{band:?} vs {}",
                typical.mitragynine
            );
        }
    }

    #[test]
    fn an_impossible_correlation_is_refused() {
        let mut bad = variability();
        bad.correlation[0][1] = 0.99;
        bad.correlation[1][0] = 0.99;
        bad.correlation[0][2] = -0.99;
        bad.correlation[2][0] = -0.99;
        assert_eq!(
            bad.sample(&TypicalParameters::bundled().unwrap().parameters, 1, 1),
            Err(VariabilityError::Correlation)
        );
    }
}
