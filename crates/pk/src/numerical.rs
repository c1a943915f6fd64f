//! The same model solved numerically (Dormand–Prince 8(5,3) from the `ode_solvers` crate),
//! with doses as events. An independent check on the closed form, and the route for
//! future non-linear extensions.

use ode_solvers::dop853::Dop853;
use ode_solvers::{System, Vector5};

use crate::closed_form::Concentrations;
use crate::model::{Dose, Parameters};
use crate::{HYDROXY_MOLAR_MASS, MG_MOLAR_MASS};

type State = Vector5<f64>;

/// Amounts (mg): MG depot, MG central, MG peripheral, 7-OH depot, 7-OH central.
#[derive(Clone, Copy)]
struct Model {
    ka: f64,
    k10: f64,
    k12: f64,
    k21: f64,
    formation: f64,
    k_m: f64,
    ka_m: f64,
}

impl System<f64, State> for Model {
    fn system(&self, _t: f64, y: &State, dy: &mut State) {
        dy[0] = -self.ka * y[0];
        dy[1] = self.ka * y[0] - (self.k10 + self.k12) * y[1] + self.k21 * y[2];
        dy[2] = self.k12 * y[1] - self.k21 * y[2];
        dy[3] = -self.ka_m * y[3];
        dy[4] = self.ka_m * y[3] + self.formation * y[1] - self.k_m * y[4];
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the ODE solver failed: {0}")]
pub struct SolverError(String);

/// Relative and absolute tolerances: tight enough that the two solution paths agree to 1e-6.
const RTOL: f64 = 1e-11;
const ATOL: f64 = 1e-14;

/// Concentrations at each of `times` (sorted ascending), solving the ODEs between events.
pub fn simulate(
    p: &Parameters,
    doses: &[Dose],
    times: &[f64],
) -> Result<Vec<Concentrations>, SolverError> {
    let (k10, k12, k21) = p.micro();
    let model = Model {
        ka: p.ka,
        k10,
        k12,
        k21,
        formation: p.fm * k10 * HYDROXY_MOLAR_MASS / MG_MOLAR_MASS,
        k_m: p.k_m(),
        ka_m: p.ka_m,
    };
    let mut events: Vec<(f64, f64, f64)> = doses
        .iter()
        .map(|d| (d.time_h + p.tlag, d.mitragynine_mg, d.hydroxymitragynine_mg))
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut state = State::zeros();
    let mut now = 0.0_f64;
    let mut next_event = 0;
    let mut out = Vec::with_capacity(times.len());
    for &target in times {
        // Apply every event due at or before the target, integrating up to each.
        while next_event < events.len() && events[next_event].0 <= target {
            let (at, mg, oh) = events[next_event];
            state = advance(&model, state, now, at)?;
            now = now.max(at);
            state[0] += mg;
            state[3] += oh;
            next_event += 1;
        }
        state = advance(&model, state, now, target)?;
        now = now.max(target);
        out.push(Concentrations {
            mitragynine: state[1] / p.vc,
            hydroxymitragynine: state[4] / p.v_m,
        });
    }
    Ok(out)
}

fn advance(model: &Model, state: State, from: f64, to: f64) -> Result<State, SolverError> {
    // Sample and dose times that differ only by rounding (21.2 vs 212 × 0.1) are the same
    // instant; a step that short would underflow the solver.
    if to - from < 1e-9 || state.iter().all(|v| *v == 0.0) {
        return Ok(state);
    }
    // Sparse output: the solution at each accepted step, the last one exactly at `to`.
    let mut stepper = Dop853::from_param(
        *model,
        from,
        to,
        to - from,
        state,
        RTOL,
        ATOL,
        0.9,
        0.0,
        0.333,
        6.0,
        to - from,
        0.0,
        1_000_000,
        1000,
        ode_solvers::dop_shared::OutputType::Sparse,
    );
    stepper
        .integrate()
        .map_err(|e| SolverError(format!("{e:?}")))?;
    stepper
        .y_out()
        .last()
        .copied()
        .ok_or_else(|| SolverError("no output".into()))
}
