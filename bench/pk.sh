#!/usr/bin/env bash
# PK engine throughput: Speciosa's closed form and ODE paths against SciPy's solve_ivp on the
# same model and regimens (a 30-day population regimen; one patient's 90-day history).
#
#   bench/pk.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/bench-venv
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import scipy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check numpy scipy
fi
rust=$(cargo run --quiet --release -p speciosa-pk --example throughput)
python=$("$venv/bin/python" bench/pk_scipy.py)
echo "$rust"
echo "$python"
pop_rust=$(grep "BENCH population_closed_form" <<<"$rust" | sed 's/.*points_per_s=\([0-9]*\).*/\1/')
pop_py=$(grep "BENCH population_scipy" <<<"$python" | sed 's/.*points_per_s=\([0-9]*\).*/\1/')
hist_rust=$(grep "BENCH history_ode" <<<"$rust" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
hist_closed=$(grep "BENCH history_closed_form" <<<"$rust" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
hist_py=$(grep "BENCH history_scipy" <<<"$python" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
echo
echo "== PK throughput (2 cores; compare only runs on the same machine)"
python3 - "$pop_rust" "$pop_py" "$hist_closed" "$hist_rust" "$hist_py" <<'PY'
import sys
pop_rust, pop_py, hist_closed, hist_ode, hist_py = map(float, sys.argv[1:])
print(f"population, 30-day regimen: Speciosa {pop_rust:,.0f} patient-points/s, SciPy {pop_py:,.0f} → {pop_rust / pop_py:,.0f}× faster")
print(f"one 90-day history at 0.1 h: closed form {hist_closed:.3f} s, Speciosa ODE {hist_ode:.3f} s, SciPy {hist_py:.3f} s → {hist_py / hist_closed:,.0f}× (closed form), {hist_py / hist_ode:,.1f}× (ODE)")
PY
