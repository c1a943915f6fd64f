#!/usr/bin/env bash
# PK engine throughput: Speciosa's closed form, ODE and propagated paths against SciPy on the
# same model and regimens (a 30-day population regimen; one patient's 90-day history; a 26-week
# plan preview for 1,000 virtual patients, issue 12 item 3). Both sides run single-threaded,
# pinned to one core with taskset when it is installed.
#
#   bench/pk.sh
#   PK_SCIPY_PATIENTS=200 bench/pk.sh   # fewer SciPy virtual patients (about 30 ms each)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/bench-venv
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import scipy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check numpy scipy
fi
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi
cargo build --quiet --release -p speciosa-pk --example throughput
rust=$("${pin[@]}" target/release/examples/throughput)
typical=$(grep "BENCH plan_typical" <<<"$rust")
python=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "${pin[@]}" "$venv/bin/python" bench/pk_scipy.py "$typical")
# The typical curve's 2,548 values are for the comparison, not for reading.
grep -v "BENCH plan_typical" <<<"$rust"
echo "${typical%% mg_ng_ml=*}"
echo "$python"
pop_rust=$(grep "BENCH population_closed_form" <<<"$rust" | sed 's/.*points_per_s=\([0-9]*\).*/\1/')
pop_py=$(grep "BENCH population_scipy" <<<"$python" | sed 's/.*points_per_s=\([0-9]*\).*/\1/')
hist_rust=$(grep "BENCH history_ode" <<<"$rust" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
hist_closed=$(grep "BENCH history_closed_form" <<<"$rust" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
hist_py=$(grep "BENCH history_scipy" <<<"$python" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
field() { grep "BENCH $1 " <<<"$2" | sed "s/.* $3=\([^ ]*\).*/\1/"; }
plan_s=$(field plan_preview "$rust" seconds)
plan_rate=$(field plan_preview "$rust" concentrations_per_s)
closed_rate=$(field plan_preview_closed_form "$rust" concentrations_per_s)
closed_patients=$(field plan_preview_closed_form "$rust" patients)
scipy_rate=$(field plan_population_scipy "$python" concentrations_per_s)
scipy_patients=$(field plan_population_scipy "$python" patients)
scipy_agrees=$(field plan_population_scipy "$python" typical_max_relative_difference_vs_rust)
echo
echo "== PK throughput (2 cores; compare only runs on the same machine)"
echo "(pinned: ${pin[*]:-no, taskset not installed})"
python3 - "$pop_rust" "$pop_py" "$hist_closed" "$hist_rust" "$hist_py" "$plan_s" "$plan_rate" "$closed_rate" "$scipy_rate" "$closed_patients" "$scipy_patients" "$scipy_agrees" <<'PY'
import sys
pop_rust, pop_py, hist_closed, hist_ode, hist_py, plan_s, plan_rate, closed_rate, scipy_rate = map(float, sys.argv[1:10])
closed_patients, scipy_patients, scipy_agrees = sys.argv[10:]
print(f"population, 30-day regimen: Speciosa {pop_rust:,.0f} patient-points/s, SciPy {pop_py:,.0f} → {pop_rust / pop_py:,.0f}× faster")
print(f"one 90-day history at 0.1 h: closed form {hist_closed:.3f} s, Speciosa ODE {hist_ode:.3f} s, SciPy {hist_py:.3f} s → {hist_py / hist_closed:,.0f}× (closed form), {hist_py / hist_ode:,.1f}× (ODE)")
verdict = "under" if plan_s < 0.3 else "NOT under"
print(
    f"plan preview, 26 weeks × 1,000 virtual patients: Speciosa {plan_s:.3f} s ({plan_rate / 1e6:,.1f} M conc/s/core), "
    f"closed form {closed_rate / 1e6:,.2f} M conc/s ({closed_patients} patients sampled), "
    f"SciPy {scipy_rate / 1e6:,.3f} M conc/s ({scipy_patients} patients; typical curve within {scipy_agrees} of Speciosa's) "
    f"→ {plan_rate / closed_rate:,.0f}× the closed form, {plan_rate / scipy_rate:,.0f}× SciPy; "
    f"{verdict} the 0.3 s target, {'above' if plan_rate >= 1e7 else 'below'} the 10 M conc/s/core aim"
)
PY
