//! The same model as [`crate::closed_form`], solved by carrying its state forward in time
//! instead of summing every dose at every point. The solution is a sum of exponential modes
//! (MG disposition α and β, absorption ka, 7-OH elimination k_m and direct 7-OH absorption
//! ka_m). Each dose adds to the modes' amplitudes, and between two moments every amplitude
//! only decays by `e^{−rate·Δt}`. A schedule therefore costs points + doses, not
//! points × doses, which is what a long plan's preview needs.

use crate::closed_form::Concentrations;
use crate::model::{Dose, Parameters};
use crate::{HYDROXY_MOLAR_MASS, MG_MOLAR_MASS};

/// The modes in a fixed order: α, β, ka, k_m, ka_m.
const MODES: usize = 5;

/// Per mg of a dose, what it adds to each mode's amplitude (mg/L).
struct Unit {
    rates: [f64; MODES],
    /// MG concentration per mg of MG.
    mg_from_mg: [f64; MODES],
    /// 7-OH concentration per mg of MG (formed from it).
    hydroxy_from_mg: [f64; MODES],
    /// 7-OH concentration per mg of 7-OH taken directly.
    hydroxy_from_hydroxy: [f64; MODES],
}

/// Separates a rate from ones it coincides with, as the closed form does: the nudge is far
/// below any measurable difference, and keeps every denominator non-zero.
fn distinct(rate: f64, others: &[f64]) -> f64 {
    let mut rate = rate;
    while others
        .iter()
        .any(|o| (rate - o).abs() < 1e-9 * rate.max(1.0))
    {
        rate *= 1.0 + 1e-8;
    }
    rate
}

fn unit(p: &Parameters) -> Unit {
    let (_, _, k21) = p.micro();
    let (alpha, beta) = p.disposition_rates();
    let ka = distinct(p.ka, &[alpha, beta]);
    let k_m = distinct(p.k_m(), &[alpha, beta, ka]);
    let ka_m = distinct(p.ka_m, &[alpha, beta, ka, k_m]);
    let scale = ka / p.vc;
    let c = [
        scale * (k21 - alpha) / ((ka - alpha) * (beta - alpha)),
        scale * (k21 - beta) / ((ka - beta) * (alpha - beta)),
        scale * (k21 - ka) / ((alpha - ka) * (beta - ka)),
    ];
    let lambdas = [alpha, beta, ka];
    // 7-OH formation: fm × CL × C_MG (mg MG/h), as mg of 7-OH, into its volume.
    let formation = p.fm * p.cl * (HYDROXY_MOLAR_MASS / MG_MOLAR_MASS) / p.v_m;
    let mut hydroxy_from_mg = [0.0; MODES];
    for i in 0..3 {
        // ∫ c e^{−λu} f e^{−k_m(s−u)} du = c f (e^{−λs} − e^{−k_m s}) / (k_m − λ).
        let amplitude = c[i] * formation / (k_m - lambdas[i]);
        hydroxy_from_mg[i] += amplitude;
        hydroxy_from_mg[3] -= amplitude;
    }
    let direct = ka_m / (p.v_m * (ka_m - k_m));
    Unit {
        rates: [alpha, beta, ka, k_m, ka_m],
        mg_from_mg: [c[0], c[1], c[2], 0.0, 0.0],
        hydroxy_from_mg,
        hydroxy_from_hydroxy: [0.0, 0.0, 0.0, direct, -direct],
    }
}

/// Concentrations (mg/L) at each of `times` (h), in the order given, for `doses` in any
/// order. Agrees with [`crate::closed_form::simulate`] to rounding.
pub fn simulate(p: &Parameters, doses: &[Dose], times: &[f64]) -> Vec<Concentrations> {
    let unit = unit(p);
    // Doses act from the end of their lag; both lists are walked in time order.
    let mut arrivals: Vec<(f64, f64, f64)> = doses
        .iter()
        .map(|d| (d.time_h + p.tlag, d.mitragynine_mg, d.hydroxymitragynine_mg))
        .collect();
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[a].total_cmp(&times[b]));

    let mut mg = [0.0; MODES];
    let mut hydroxy = [0.0; MODES];
    let mut now = f64::NEG_INFINITY;
    let mut last_step = f64::NAN;
    let mut decay = [1.0; MODES];
    let mut advance = |mg: &mut [f64; MODES], hydroxy: &mut [f64; MODES], to: f64| {
        if now.is_finite() && to > now {
            let step = to - now;
            // A regular grid reuses one set of factors: five multiplications a point.
            if step != last_step {
                for (factor, rate) in decay.iter_mut().zip(unit.rates) {
                    *factor = (-rate * step).exp();
                }
                last_step = step;
            }
            for j in 0..MODES {
                mg[j] *= decay[j];
                hydroxy[j] *= decay[j];
            }
        }
        now = now.max(to);
    };

    let mut out = vec![
        Concentrations {
            mitragynine: 0.0,
            hydroxymitragynine: 0.0,
        };
        times.len()
    ];
    let mut next_dose = 0;
    for index in order {
        let t = times[index];
        // Doses that arrive strictly before t have begun; one arriving at t adds nothing yet.
        while next_dose < arrivals.len() && arrivals[next_dose].0 < t {
            let (at, dose_mg, dose_hydroxy) = arrivals[next_dose];
            advance(&mut mg, &mut hydroxy, at);
            for j in 0..MODES {
                mg[j] += dose_mg * unit.mg_from_mg[j];
                hydroxy[j] +=
                    dose_mg * unit.hydroxy_from_mg[j] + dose_hydroxy * unit.hydroxy_from_hydroxy[j];
            }
            next_dose += 1;
        }
        advance(&mut mg, &mut hydroxy, t);
        out[index] = Concentrations {
            mitragynine: mg.iter().sum::<f64>().max(0.0),
            hydroxymitragynine: hydroxy.iter().sum::<f64>().max(0.0),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypicalParameters;

    fn dose(time_h: f64, mg: f64, hydroxy: f64) -> Dose {
        Dose {
            time_h,
            mitragynine_mg: mg,
            hydroxymitragynine_mg: hydroxy,
        }
    }

    fn agree(p: &Parameters, doses: &[Dose], times: &[f64], tolerance: f64) {
        let reference = crate::closed_form::simulate(p, doses, times);
        let propagated = simulate(p, doses, times);
        let peak = reference
            .iter()
            .map(|c| c.mitragynine.max(c.hydroxymitragynine))
            .fold(0.0, f64::max);
        for ((t, r), s) in times.iter().zip(&reference).zip(&propagated) {
            for (a, b) in [
                (r.mitragynine, s.mitragynine),
                (r.hydroxymitragynine, s.hydroxymitragynine),
            ] {
                assert!(
                    (a - b).abs() <= tolerance * peak.max(1e-12),
                    "at {t} h: closed form {a}, propagated {b}"
                );
            }
        }
    }

    #[test]
    fn a_twice_daily_regimen_matches_the_closed_form_at_every_point() {
        let p = TypicalParameters::bundled().unwrap().parameters;
        let doses: Vec<Dose> = (0..28)
            .map(|k| dose(f64::from(k) * 12.0 + 0.25, 20.0 + f64::from(k % 3), 0.3))
            .collect();
        let times: Vec<f64> = (0..=14 * 24 * 4).map(|k| f64::from(k) * 0.25).collect();
        agree(&p, &doses, &times, 1e-9);
    }

    #[test]
    fn unsorted_times_and_doses_and_doses_at_a_sample_time_match_the_closed_form() {
        let p = TypicalParameters::bundled().unwrap().parameters;
        let doses = [
            dose(30.0, 15.0, 0.0),
            dose(0.0, 40.0, 1.0),
            dose(12.0, 25.0, 0.0),
        ];
        let times = [48.0, 1.0, 12.0, 0.0, 30.5, 12.0 + p.tlag, 72.0, 2.0];
        agree(&p, &doses, &times, 1e-9);
    }

    #[test]
    fn coinciding_rates_do_not_divide_by_zero() {
        let mut p = TypicalParameters::bundled().unwrap().parameters;
        let (_, beta) = p.disposition_rates();
        p.cl_m = beta * p.v_m; // 7-OH eliminated exactly as fast as MG's terminal phase
        p.ka_m = p.ka;
        let doses = [dose(0.0, 30.0, 2.0), dose(24.0, 30.0, 2.0)];
        let times: Vec<f64> = (0..=96).map(f64::from).collect();
        let out = simulate(&p, &doses, &times);
        assert!(
            out.iter()
                .all(|c| c.mitragynine.is_finite() && c.hydroxymitragynine.is_finite())
        );
        // The closed form takes the exact limit where rates coincide; this one separates
        // them by a part in 10⁸, so the two differ by about that much.
        agree(&p, &doses, &times, 1e-6);
    }

    #[test]
    fn nothing_is_in_the_blood_before_the_first_dose_arrives() {
        let p = TypicalParameters::bundled().unwrap().parameters;
        let out = simulate(&p, &[dose(10.0, 50.0, 1.0)], &[0.0, 5.0, 10.0]);
        assert!(
            out.iter()
                .all(|c| c.mitragynine == 0.0 && c.hydroxymitragynine == 0.0)
        );
    }
}
