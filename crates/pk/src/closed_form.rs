//! Closed-form solution by superposition: each dose's concentration curve is a sum of
//! exponentials (Gibaldi & Perrier's two-compartment oral solution; the 7-OH formed from
//! it is the convolution with 7-OH elimination), and the curves of all doses add up.

use crate::HYDROXY_MOLAR_MASS;
use crate::MG_MOLAR_MASS;
use crate::model::{Dose, Parameters};

/// Concentrations (mg/L) at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concentrations {
    pub mitragynine: f64,
    pub hydroxymitragynine: f64,
}

/// The exponential terms of a unit MG dose in the central compartment: C(s) = Σ cᵢ e^{−λᵢ s}.
struct MgTerms {
    coefficients: [f64; 3],
    rates: [f64; 3],
}

/// Separates rates that coincide exactly, where the textbook formulas divide by zero; the
/// nudge is far below any measurable difference.
fn distinct(rate: f64, others: &[f64]) -> f64 {
    if others
        .iter()
        .any(|o| (rate - o).abs() < 1e-12 * rate.max(1.0))
    {
        rate * (1.0 + 1e-9)
    } else {
        rate
    }
}

fn mg_terms(p: &Parameters) -> MgTerms {
    let (_, _, k21) = p.micro();
    let (alpha, beta) = p.disposition_rates();
    let ka = distinct(p.ka, &[alpha, beta]);
    let scale = ka / p.vc;
    MgTerms {
        coefficients: [
            scale * (k21 - alpha) / ((ka - alpha) * (beta - alpha)),
            scale * (k21 - beta) / ((ka - beta) * (alpha - beta)),
            scale * (k21 - ka) / ((alpha - ka) * (beta - ka)),
        ],
        rates: [alpha, beta, ka],
    }
}

/// ∫₀ˢ e^{−λ u} e^{−k (s−u)} du = (e^{−λ s} − e^{−k s}) / (k − λ), with its limit when λ = k.
fn convolved(lambda: f64, k: f64, s: f64) -> f64 {
    if (k - lambda).abs() < 1e-12 * k.max(1.0) {
        s * (-k * s).exp()
    } else {
        ((-lambda * s).exp() - (-k * s).exp()) / (k - lambda)
    }
}

/// Concentrations at each of `times` (h) after the doses, by superposition.
pub fn simulate(p: &Parameters, doses: &[Dose], times: &[f64]) -> Vec<Concentrations> {
    let terms = mg_terms(p);
    let k_m = p.k_m();
    let mass_ratio = HYDROXY_MOLAR_MASS / MG_MOLAR_MASS;
    // 7-OH formation: fm × CL × C_MG (mg MG/h), converted to mg of 7-OH.
    let formation = p.fm * p.cl * mass_ratio / p.v_m;
    let ka_m = distinct(p.ka_m, &[k_m]);
    times
        .iter()
        .map(|&t| {
            let mut concentrations = Concentrations {
                mitragynine: 0.0,
                hydroxymitragynine: 0.0,
            };
            for dose in doses {
                let s = t - dose.time_h - p.tlag;
                if s <= 0.0 {
                    continue;
                }
                for (c, rate) in terms.coefficients.iter().zip(terms.rates) {
                    concentrations.mitragynine += dose.mitragynine_mg * c * (-rate * s).exp();
                    concentrations.hydroxymitragynine +=
                        dose.mitragynine_mg * formation * c * convolved(rate, k_m, s);
                }
                if dose.hydroxymitragynine_mg > 0.0 {
                    concentrations.hydroxymitragynine += dose.hydroxymitragynine_mg * ka_m
                        / (p.v_m * (ka_m - k_m))
                        * ((-k_m * s).exp() - (-ka_m * s).exp());
                }
            }
            concentrations
        })
        .collect()
}
