"""The same MG/7-OH model solved with SciPy's solve_ivp (LSODA), as an independent
implementation to compare throughput and results with Speciosa's engine. Reads the typical
parameters from data/pk/typical.toml. Prints BENCH lines like the Rust example."""
import time
import tomllib
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

root = Path(__file__).resolve().parent.parent
p = tomllib.loads((root / "data/pk/typical.toml").read_text())["typical"]
k10, k12, k21 = p["cl"] / p["vc"], p["q"] / p["vc"], p["q"] / p["vp"]
formation = p["fm"] * k10 * 414.5 / 398.5
k_m = p["cl_m"] / p["v_m"]


def rhs(_t, y):
    return [
        -p["ka"] * y[0],
        p["ka"] * y[0] - (k10 + k12) * y[1] + k21 * y[2],
        k12 * y[1] - k21 * y[2],
        -p["ka_m"] * y[3],
        p["ka_m"] * y[3] + formation * y[1] - k_m * y[4],
    ]


def simulate(doses, times):
    """Piecewise integration between doses, output at `times` (ng/mL of MG)."""
    y = np.zeros(5)
    out = np.zeros(len(times))
    edges = sorted(set([d[0] for d in doses] + [times[-1]]))
    now = 0.0
    pending = sorted(doses)
    for edge in edges:
        mask = (times >= now) & (times <= edge)
        if edge > now:
            # One integration per interval: the output times plus the interval's end,
            # whose state carries on to the next dose.
            wanted = times[mask]
            t_eval = wanted if len(wanted) and wanted[-1] == edge else np.append(wanted, edge)
            sol = solve_ivp(rhs, (now, edge), y, method="LSODA", rtol=1e-10, atol=1e-13, t_eval=t_eval)
            out[mask] = sol.y[1][: len(wanted)] / p["vc"] * 1000.0
            y = sol.y[:, -1].copy()
        now = edge
        while pending and pending[0][0] <= edge:
            y[0] += pending.pop(0)[1]
    return out


history = [((i // 3) * 24.0 + [7.5, 13.25, 21.0][i % 3] + (i % 7) * 0.1, 30.0 + (i % 5) * 5.0) for i in range(270)]
fine = np.arange(0, 24 * 90 * 10 + 1) * 0.1
start = time.perf_counter()
curve = simulate(history, fine)
seconds = time.perf_counter() - start
print(f"BENCH history_scipy days=90 points={len(fine)} seconds={seconds:.4f} end_ng_ml={curve[-1]:.6f}")

regimen = [((i // 3) * 24.0 + [8.0, 14.0, 21.0][i % 3], 40.0) for i in range(90)]
hourly = np.arange(0, 24 * 30 + 1, dtype=float)
patients = 20
start = time.perf_counter()
for _ in range(patients):
    simulate(regimen, hourly)
seconds = time.perf_counter() - start
points = patients * len(hourly)
print(f"BENCH population_scipy patients={patients} points={len(hourly)} seconds={seconds:.4f} points_per_s={points / seconds:.0f}")

# Issue 12 item 3: the 26-week plan preview of crates/pk/examples/throughput.rs
# (`plan_schedule`, `plan::preview`) for the typical patient and N virtual patients: the same
# steps, slots, sample times and model, each step's trough, peak, bedtime and 5–95 % band.
# SciPy's fastest honest path found (other two timed below): solve_ivp (DOP853, rtol 1e-10,
# atol 1e-13) on the whole population at once, one vectorised linear ODE of 5 × (N + 1)
# states integrated from dose to dose, with t_eval at the preview's sample times.
import os
import sys

from scipy import signal
from scipy.linalg import expm

STEPS = [(week * 7, 180.0 - 6.0 * week) for week in range(26)]
SLOTS = [(8.0, 0.4), (14.0, 0.3), (21.5, 0.3)]
BEDTIME, LAST_STEP_DAYS = 22.5, 7
END_DAY = STEPS[-1][0] + LAST_STEP_DAYS


def step_end(index):
    return STEPS[index + 1][0] if index + 1 < len(STEPS) else END_DAY


def plan_doses():
    return [
        (day * 24.0 + hour, mg * share)
        for index, (start, mg) in enumerate(STEPS)
        for day in range(start, step_end(index))
        for hour, share in SLOTS
        if mg * share > 0
    ]


def preview_times():
    """Each step's last day every 15 minutes (97 points), then its bedtime, as plan::preview."""
    times = []
    for index in range(len(STEPS)):
        first = (step_end(index) - 1) * 24.0
        times += [first + k * 0.25 for k in range(97)] + [first + BEDTIME]
    return np.array(times)


def population(n, seed):
    """n virtual patients around the typical one, from [variability] (log-normal, correlated;
    fm varies on the odds scale), as speciosa_pk::population::Variability::sample."""
    variability = tomllib.loads((root / "data/pk/typical.toml").read_text())["variability"]
    names = ["ka", "cl", "vc", "q", "vp", "fm", "cl_m", "v_m"]
    omega = np.array([variability["omega"][k] for k in names])
    correlation = np.eye(len(names))
    for c in variability["correlations"]:
        a, b = names.index(c["a"]), names.index(c["b"])
        correlation[a, b] = correlation[b, a] = c["r"]
    eta = np.random.default_rng(seed).standard_normal((n, len(names))) @ np.linalg.cholesky(
        correlation * np.outer(omega, omega)
    ).T
    people = []
    for row in eta:
        q = dict(p)
        for name, e in zip(names, row):
            if name == "fm":
                odds = p["fm"] / (1 - p["fm"]) * np.exp(e)
                q["fm"] = odds / (1 + odds)
            else:
                q[name] = p[name] * np.exp(e)
        people.append(q)
    return people


def model_matrix(q):
    """dy/dt = A y for y = (MG gut, MG central, MG peripheral, 7-OH gut, 7-OH), mg."""
    k10, k12, k21 = q["cl"] / q["vc"], q["q"] / q["vc"], q["q"] / q["vp"]
    a = np.zeros((5, 5))
    a[0, 0] = -q["ka"]
    a[1, 0], a[1, 1], a[1, 2] = q["ka"], -(k10 + k12), k21
    a[2, 1], a[2, 2] = k12, -k21
    a[3, 3] = -q["ka_m"]
    a[4, 1], a[4, 3], a[4, 4] = q["fm"] * k10 * 414.5 / 398.5, q["ka_m"], -q["cl_m"] / q["v_m"]
    return a


def simulate_population(people, doses, times):
    """MG and 7-OH (ng/mL) of every person at `times` (any order), shape (people, times)."""
    n = len(people)
    matrices = np.stack([model_matrix(q) for q in people])
    vc = np.array([q["vc"] for q in people])[:, None]
    v_m = np.array([q["v_m"] for q in people])[:, None]
    grid, inverse = np.unique(times, return_inverse=True)

    def rhs(_t, y):
        return np.einsum("nij,nj->ni", matrices, y.reshape(n, 5)).ravel()

    y = np.zeros(5 * n)
    states = np.zeros((n, 5, len(grid)))
    now, pending = 0.0, sorted(doses)
    for edge in sorted(set([d[0] for d in doses if d[0] < grid[-1]] + [grid[-1]])):
        # A dose at a sample time is not yet in the blood at that time (as in Rust).
        mask = (grid > now) & (grid <= edge)
        wanted = grid[mask]
        t_eval = wanted if len(wanted) and wanted[-1] == edge else np.append(wanted, edge)
        sol = solve_ivp(rhs, (now, edge), y, method="DOP853", rtol=1e-10, atol=1e-13, t_eval=t_eval)
        states[:, :, mask] = sol.y[:, : len(wanted)].reshape(n, 5, -1)
        y = sol.y[:, -1].copy()
        now = edge
        while pending and pending[0][0] <= edge:
            y[0::5] += pending.pop(0)[1]
    mg = states[:, 1, :] / vc * 1000.0
    hydroxy = states[:, 4, :] / v_m * 1000.0
    return mg[:, inverse], hydroxy[:, inverse]


def preview(people, doses, times):
    """Each step's typical trough, peak, bedtime and the band's 5th/95th percentiles of
    bedtime (people[0] is the typical patient)."""
    mg, _ = simulate_population(people, doses, times)
    out, width = [], 98
    for index in range(len(STEPS)):
        window = mg[:, index * width : index * width + 97]
        bedtime = mg[:, index * width + 97]
        band = np.percentile(bedtime[1:], [5, 95])
        out.append((window[0].min(), window[0].max(), bedtime[0], band[0], band[1]))
    return out, mg[0]


doses, times = plan_doses(), preview_times()
patients = int(os.environ.get("PK_SCIPY_PATIENTS", "1000"))
people = [p] + population(patients, 1)
start = time.perf_counter()
steps, typical_curve = preview(people, doses, times)
seconds = time.perf_counter() - start
concentrations = len(people) * len(times) * 2
agreement = "n/a"
if len(sys.argv) > 1 and "mg_ng_ml=" in sys.argv[1]:
    rust = np.array([float(v) for v in sys.argv[1].split("mg_ng_ml=")[1].split()[0].split(",")])
    agreement = f"{np.max(np.abs(typical_curve - rust) / rust):.2e}"
last = steps[-1]
print(
    f"BENCH plan_population_scipy method=solve_ivp_DOP853_batched weeks=26 doses={len(doses)} "
    f"patients={patients} points={len(times)} seconds={seconds:.4f} "
    f"concentrations_per_s={concentrations / seconds:.0f} last_bedtime_ng_ml={last[2]:.4f} "
    f"band_5_95_ng_ml={last[3]:.4f}..{last[4]:.4f} typical_max_relative_difference_vs_rust={agreement}"
)

# The other SciPy paths, per patient on the typical patient (3 runs each, extrapolated):
# solve_ivp LSODA dose to dose, and scipy.signal.dlsim on the exact 15-minute
# discretisation (scipy.linalg.expm), doses as impulses on the grid (they fall on it).
grid, inverse = np.unique(times, return_inverse=True)


def lsoda_one():
    return simulate(doses, grid)[inverse]


def dlsim_one():
    a = expm(model_matrix(p) * 0.25)
    c = np.zeros((2, 5))
    c[0, 1], c[1, 4] = 1000.0 / p["vc"], 1000.0 / p["v_m"]
    u = np.zeros(int(round(times.max() / 0.25)) + 1)
    for t, mg in doses:
        u[int(round(t / 0.25))] += mg
    _, y, _ = signal.dlsim((a, a[:, [0]], c, np.zeros((2, 1)), 0.25), u)
    return y[np.rint(times / 0.25).astype(int), 0]


for name, run in [("solve_ivp_LSODA_per_patient", lsoda_one), ("dlsim_per_patient", dlsim_one)]:
    start = time.perf_counter()
    for _ in range(3):
        curve = run()
    each = (time.perf_counter() - start) / 3
    difference = np.max(np.abs(curve - typical_curve) / typical_curve)
    print(
        f"BENCH plan_population_scipy_alternative method={name} seconds_per_patient={each:.4f} "
        f"concentrations_per_s={len(times) * 2 / each:.0f} seconds_for_1000={each * 1001:.1f} "
        f"max_relative_difference={difference:.2e}"
    )
