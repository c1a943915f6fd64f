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
