#!/usr/bin/env python3
"""Reference values for speciosa_core::bedtime_effect, computed independently with statsmodels.

Writes crates/core/tests/fixtures/bedtime_effect.json, which the Rust test
crates/core/tests/bedtime_effect_reference.rs checks against. Regenerate with:

    python3 -m venv target/stats-venv
    target/stats-venv/bin/pip install numpy statsmodels
    target/stats-venv/bin/python scripts/bedtime_effect_reference.py

Each case is a series of nights (position in days, regressor x, outcome y). For consecutive
nights statsmodels' OLS with cov_type="HAC" (Bartlett kernel, no small-sample correction,
Student t) is the reference. For series with missing nights, the rows of the missing nights
are filled with zero scores, which is what counting lags in calendar nights means; that case
is computed with numpy from the sandwich formula and cross-checked against statsmodels on
the filled series.
"""

import json
import math
from pathlib import Path

import numpy as np
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.sandwich_covariance import S_hac_simple

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/core/tests/fixtures/bedtime_effect.json"


def nw_lags(n):
    return int(math.floor(4 * (n / 100) ** (2 / 9)))


def statsmodels_fit(x, y, lags):
    X = sm.add_constant(np.asarray(x, dtype=float), has_constant="add")
    res = sm.OLS(np.asarray(y, dtype=float), X).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False}, use_t=True
    )
    low, high = res.conf_int(alpha=0.05)[1]
    return {
        "intercept": float(res.params[0]),
        "slope": float(res.params[1]),
        "slope_se": float(res.bse[1]),
        "ci_low": float(low),
        "ci_high": float(high),
    }


def calendar_fit(nights, x, y, lags):
    """Sandwich with Bartlett weights over calendar-night distances (numpy only)."""
    nights = np.asarray(nights)
    X = np.column_stack([np.ones(len(x)), np.asarray(x, dtype=float)])
    y = np.asarray(y, dtype=float)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    e = y - X @ beta
    g = X * e[:, None]
    dist = np.abs(nights[:, None] - nights[None, :])
    w = np.where(dist <= lags, 1 - dist / (lags + 1), 0.0)
    S = g.T @ w @ g
    # The same meat from statsmodels, with the missing nights as zero-score rows.
    full = np.zeros((nights.max() - nights.min() + 1, 2))
    full[nights - nights.min()] = g
    assert np.allclose(S, S_hac_simple(full, nlags=lags), rtol=1e-12, atol=1e-9)
    inv = np.linalg.inv(X.T @ X)
    V = inv @ S @ inv
    se = math.sqrt(V[1, 1])
    t = stats.t.ppf(0.975, len(y) - 2)
    return {
        "intercept": float(beta[0]),
        "slope": float(beta[1]),
        "slope_se": se,
        "ci_low": float(beta[1] - t * se),
        "ci_high": float(beta[1] + t * se),
    }


def synthetic(seed, n, effect, phi, p_dose, p_missing, x_kind):
    """A synthetic patient: AR(1) night-to-night noise and a planted effect."""
    rng = np.random.default_rng(seed)
    noise = 0.0
    nights, xs, ys = [], [], []
    for day in range(n):
        noise = phi * noise + rng.normal(0, 8)
        dosed = rng.random() < p_dose
        level = (80 + rng.normal(0, 25)) if dosed else max(0.0, rng.normal(20, 10))
        if rng.random() < p_missing:
            continue
        if x_kind == "indicator":
            x = 1.0 if dosed else 0.0
            y = 30 + noise + effect * x
        else:
            x = level / 100.0
            y = 30 + noise + effect * x
        nights.append(day)
        xs.append(x)
        ys.append(float(y))
    return nights, xs, ys


def main():
    cases = []
    specs = [
        ("consecutive nights, indicator, planted -12 min", 11, 60, -12.0, 0.5, 0.45, 0.0, "indicator"),
        ("consecutive nights, indicator, no effect, strong autocorrelation", 12, 30, 0.0, 0.8, 0.5, 0.0, "indicator"),
        ("consecutive nights, concentration slope, planted -6 per 100 ng/mL", 13, 45, -6.0, 0.4, 0.5, 0.0, "level"),
        ("nights with gaps, indicator, planted +8 min", 14, 80, 8.0, 0.6, 0.4, 0.2, "indicator"),
        ("fourteen nights, indicator", 15, 14, -5.0, 0.3, 0.5, 0.0, "indicator"),
    ]
    for name, seed, n, effect, phi, p_dose, p_missing, x_kind in specs:
        nights, xs, ys = synthetic(seed, n, effect, phi, p_dose, p_missing, x_kind)
        lags = nw_lags(len(ys))
        by_calendar = calendar_fit(nights, xs, ys, lags)
        consecutive = all(b - a == 1 for a, b in zip(nights, nights[1:]))
        if consecutive:
            reference = statsmodels_fit(xs, ys, lags)
            for key in reference:
                assert math.isclose(reference[key], by_calendar[key], rel_tol=1e-9, abs_tol=1e-9), (name, key)
            source = "statsmodels OLS cov_type=HAC"
        else:
            reference = by_calendar
            source = "numpy sandwich over calendar nights"
        cases.append(
            {
                "name": name,
                "source": source,
                "planted": effect,
                "lags": lags,
                "nights": nights,
                "x": xs,
                "y": ys,
                **reference,
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"generator": "scripts/bedtime_effect_reference.py", "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
