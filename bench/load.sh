#!/usr/bin/env bash
# Load test, driven by wrk against a release build, once per storage backend:
#   reads  a signed-in clinician reading the patient list and patient records
#   doses  a signed-in clinician logging doses (each runs the patient's safety rules
#          before answering)
#
#   bench/load.sh                       # SQLite, then PostgreSQL; reads, then doses
#   BENCH_BACKENDS=postgres BENCH_SCENARIOS=doses bench/load.sh
#
# Knobs (env): BENCH_DURATION (15s), BENCH_THREADS (4), BENCH_CONNECTIONS (32),
# BENCH_TIMEOUT (5s, wrk's per-request timeout), BENCH_BACKENDS ("sqlite postgres"),
# BENCH_SCENARIOS ("reads doses"),
# SPECIOSA_BIN (bench this binary instead of building target/release/speciosa).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# shellcheck source=scripts/lib/postgres.sh
source scripts/lib/postgres.sh

DURATION=${BENCH_DURATION:-15s}
THREADS=${BENCH_THREADS:-4}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
TIMEOUT=${BENCH_TIMEOUT:-5s}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
SCENARIOS=${BENCH_SCENARIOS:-reads doses}
EMAIL=amara.okafor@demo.speciosa.test
PASSWORD=kratom-demo-2026

WORK=$(mktemp -d "${TMPDIR:-/tmp}/speciosa-bench.XXXXXX")
SERVER_PID=

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # Give it 10 s to shut down cleanly, then insist.
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
cleanup() { stop_server; pg_stop; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v curl >/dev/null 2>&1 || apt_install curl

# SPECIOSA_BIN benches a prebuilt binary instead (e.g. an older build to compare).
if [[ -n "${SPECIOSA_BIN:-}" ]]; then
  BIN=$SPECIOSA_BIN
else
  log "cargo build --release --bin speciosa"
  cargo build --release --bin speciosa
  BIN=$ROOT/target/release/speciosa
fi

SUMMARY=()
BAD_RESPONSES=0

# bench_backend NAME [extra serve args...]
bench_backend() {
  local name=$1
  shift
  local port base data=$WORK/$name jar=$WORK/$name.cookies out=$WORK/$name.wrk
  port=$(free_port)
  base=http://127.0.0.1:$port
  mkdir -p "$data"

  log "[$name] speciosa serve --demo on $base"
  "$BIN" serve --demo --data-dir "$data" --listen "127.0.0.1:$port" "$@" \
    >"$WORK/$name.server.log" 2>&1 &
  SERVER_PID=$!
  if ! wait_http_ok "$base/readyz" 60 "$SERVER_PID"; then
    tail -n 50 "$WORK/$name.server.log" >&2
    die "[$name] server did not become ready"
  fi

  # Sign in once; every wrk request reuses this session (and its CSRF token for writes).
  local session
  session=$(curl -sS --fail-with-body -c "$jar" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$base/api/v1/session") \
    || die "[$name] sign-in failed"
  local csrf
  csrf=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["csrf_token"])' <<<"$session")
  # Netscape cookie jar: tab-separated, name in column 6, value in 7
  # (HttpOnly cookies' lines start with '#HttpOnly_', still tab-separated).
  local cookie
  cookie=$(awk -F'\t' '$6 == "speciosa_session" { print $7 }' "$jar" | tail -n 1)
  [[ -n "$cookie" ]] || die "[$name] no speciosa_session cookie after sign-in"

  local ids idarr
  ids=$(curl -sS --fail-with-body -H "Cookie: speciosa_session=$cookie" "$base/api/v1/patients" \
    | python3 -c 'import json, sys; print(" ".join(str(p["id"]) for p in json.load(sys.stdin)))') \
    || die "[$name] could not list patients"
  read -ra idarr <<<"$ids"
  (( ${#idarr[@]} > 0 )) || die "[$name] the demo has no patients to read"
  # The first assayed batch in the catalogue, for the dose scenario.
  local batch
  batch=$(curl -sS --fail-with-body -H "Cookie: speciosa_session=$cookie" "$base/api/v1/products" \
    | python3 -c 'import json, sys
for p in json.load(sys.stdin):
    for b in p["batches"]:
        if b.get("assay"):
            print(b["id"]); sys.exit()') || die "[$name] could not list products"

  local scenario
  for scenario in $SCENARIOS; do
    local out=$WORK/$name.$scenario.wrk
    case $scenario in
      reads)
        log "[$name] reads: wrk -t$THREADS -c$CONNECTIONS -d$DURATION over /api/v1/patients and ${#idarr[@]} patient records"
        wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$TIMEOUT" \
          -s bench/patients.lua "$base/" -- "$cookie" "${idarr[@]}" | tee "$out"
        ;;
      doses)
        log "[$name] doses: wrk -t$THREADS -c$CONNECTIONS -d$DURATION POSTing doses for ${#idarr[@]} patients"
        wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$TIMEOUT" \
          -s bench/doses.lua "$base/" -- "$cookie" "$csrf" "$batch" "${idarr[@]}" | tee "$out"
        ;;
      *) die "unknown scenario '$scenario' (reads, doses)" ;;
    esac
    summarize "$name" "$scenario" "$out"
  done
  stop_server
}

# summarize BACKEND SCENARIO WRK_OUTPUT: the BENCH line from the wrk script's done().
summarize() {
  local line rps p50 p99 non2xx errs reqs
  line=$(grep '^BENCH ' "$3" | tail -n 1)
  [[ -n "$line" ]] || die "[$1 $2] wrk printed no BENCH line"
  kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  rps=$(kv rps); p50=$(kv p50_us); p99=$(kv p99_us); non2xx=$(kv non2xx)
  errs=$(kv socket_errors); reqs=$(kv requests)
  (( non2xx == 0 )) || BAD_RESPONSES=1
  SUMMARY+=("$(printf '%-10s %-8s %12s %10s %10s %9s %9s %9s' "$1" "$2" "$rps" \
    "$(awk -v u="$p50" 'BEGIN { printf "%.2fms", u / 1000 }')" \
    "$(awk -v u="$p99" 'BEGIN { printf "%.2fms", u / 1000 }')" \
    "$non2xx" "$errs" "$reqs")")
}

for backend in $BACKENDS; do
  case $backend in
    sqlite)
      bench_backend sqlite
      ;;
    postgres)
      # Production durability (fsync, synchronous commit), as SQLite runs with
      # synchronous=FULL: the two backends are compared like with like.
      PG_DURABLE=1 pg_start
      bench_backend postgres --database-url "$(pg_createdb speciosa_bench)"
      pg_stop
      ;;
    *) die "unknown backend '$backend' (sqlite, postgres)" ;;
  esac
done

echo
echo "== Speciosa load test: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores shared by wrk and server"
printf '%-10s %-8s %12s %10s %10s %9s %9s %9s\n' backend scenario "requests/s" p50 p99 non-2xx sock-err requests
printf '%s\n' "${SUMMARY[@]}"
if (( BAD_RESPONSES )); then
  echo "WARNING: some responses were not 2xx: those numbers measure errors, not the work." >&2
  exit 1
fi
