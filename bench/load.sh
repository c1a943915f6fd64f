#!/usr/bin/env bash
# Load test against a release build, once per storage backend (SQLite under a data
# directory, then a throwaway PostgreSQL cluster with production durability). Scenarios:
#   ceiling      bare single-row insert transactions (`speciosa bench-insert`): the
#                most writes/s the database allows with these durability settings
#   read         GET /api/v1/patients/{id} over every demo patient
#   roster       GET /roster, the clinician's roster page
#   timeline     GET /patients/{id}/timeline, the patient timeline page
#   assessments  POST a SOWS assessment (runs the safety rules before answering)
#   doses        POST a dose (runs the safety rules before answering)
#   history      dose writes for one patient with about 100 prior doses, with
#                BENCH_HISTORY_DOSES spread over years, and with BENCH_RECENT_DOSES
#                more taken in the last two days
#   reads        the older mix of GET /api/v1/patients and /api/v1/patients/{id}
#                (not run unless named)
# Each prints requests/s, p50/p99, the server's CPU milliseconds per request (and
# PostgreSQL's), and requests/s as a share of the ceiling at the same concurrency.
#
#   bench/load.sh
#   BENCH_BACKENDS=sqlite BENCH_SCENARIOS="ceiling history" BENCH_REPEAT=2 bench/load.sh
#
# Knobs (env): BENCH_DURATION (8s), BENCH_CONNECTIONS ("16 32"; each scenario runs
# at each), BENCH_HISTORY_CONNECTIONS (16), BENCH_THREADS (4, wrk threads),
# BENCH_TIMEOUT (5s, wrk's per-request timeout), BENCH_REPEAT (1; best of N runs),
# BENCH_CEILING_REPEAT (2; best of N ceiling runs),
# BENCH_BACKENDS ("sqlite postgres"),
# BENCH_SCENARIOS ("ceiling read roster timeline assessments doses history"),
# BENCH_BASE_DOSES (100), BENCH_HISTORY_DOSES (10000), BENCH_RECENT_DOSES (3000),
# SPECIOSA_BIN (bench this binary instead of building target/release/speciosa).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# shellcheck source=scripts/lib/postgres.sh
source scripts/lib/postgres.sh

DURATION=${BENCH_DURATION:-8s}
THREADS=${BENCH_THREADS:-4}
CONNECTIONS=${BENCH_CONNECTIONS:-16 32}
HISTORY_CONNECTIONS=${BENCH_HISTORY_CONNECTIONS:-16}
TIMEOUT=${BENCH_TIMEOUT:-5s}
REPEAT=${BENCH_REPEAT:-1}
CEILING_REPEAT=${BENCH_CEILING_REPEAT:-2}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
SCENARIOS=${BENCH_SCENARIOS:-ceiling read roster timeline assessments doses history}
BASE_DOSES=${BENCH_BASE_DOSES:-100}
HISTORY_DOSES=${BENCH_HISTORY_DOSES:-10000}
RECENT_DOSES=${BENCH_RECENT_DOSES:-3000}
EMAIL=amara.okafor@demo.speciosa.test
PASSWORD=kratom-demo-2026
CLK_TCK=$(getconf CLK_TCK)

# wrk takes 8s or 1m; bench-insert takes seconds.
case $DURATION in
  *ms) die "BENCH_DURATION must be whole seconds or minutes (8s, 1m)" ;;
  *s) SECONDS_PER_RUN=${DURATION%s} ;;
  *m) SECONDS_PER_RUN=$(( ${DURATION%m} * 60 )) ;;
  *) SECONDS_PER_RUN=$DURATION; DURATION=${DURATION}s ;;
esac
[[ "$SECONDS_PER_RUN" =~ ^[0-9]+$ ]] || die "BENCH_DURATION '$DURATION' is not 8s, 1m or a number of seconds"
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive whole number"
[[ "$CEILING_REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_CEILING_REPEAT must be a positive whole number"

has_scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/speciosa-bench.XXXXXX")
SERVER_PID=
DB_PID=

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

# --- CPU accounting -----------------------------------------------------------------

# ticks PID: user + system CPU of PID and of its children it has waited for, in clock
# ticks (0 if it is gone). Fields counted after the command name, which may hold spaces.
ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  local -a f
  read -ra f <<<"${stat##*) }"
  echo $(( f[11] + f[12] + f[13] + f[14] ))
}

# db_ticks: the PostgreSQL cluster's CPU (postmaster, every backend and worker; backends
# that exited are in the postmaster's children's time). 0 when there is no cluster.
db_ticks() {
  [[ -n "$DB_PID" ]] || { echo 0; return; }
  local total child
  total=$(ticks "$DB_PID")
  for child in $(cat /proc/"$DB_PID"/task/*/children 2>/dev/null); do
    total=$(( total + $(ticks "$child") ))
  done
  echo "$total"
}

# --- results ------------------------------------------------------------------------

declare -A RPS P50 P99 CPU DBCPU NON2XX ERRS REQS
ROWS=()
BAD_RESPONSES=0
SOCKET_ERRORS=0

kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
ms_per_request() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.2f", t * 1000 / hz / n; else print "-" }'; }

# measure BACKEND SCENARIO CONNECTIONS COMMAND...: runs COMMAND (wrk or bench-insert,
# printing a BENCH line) MEASURE_RUNS (default BENCH_REPEAT) times, keeping the run with
# the most requests/s, with the server's and the database's CPU over that run.
measure() {
  local backend=$1 scenario=$2 conns=$3
  shift 3
  local key="$backend|$scenario|$conns" run out line best_rps=-1
  for run in $(seq 1 "${MEASURE_RUNS:-$REPEAT}"); do
    out=$WORK/$backend.$scenario.$conns.$run.out
    local app0 db0 app1 db1
    app0=0; [[ -n "$SERVER_PID" ]] && app0=$(ticks "$SERVER_PID")
    db0=$(db_ticks)
    "$@" | tee "$out"
    app1=0; [[ -n "$SERVER_PID" ]] && app1=$(ticks "$SERVER_PID")
    db1=$(db_ticks)
    line=$(grep '^BENCH ' "$out" | tail -n 1)
    [[ -n "$line" ]] || die "[$backend $scenario c$conns] no BENCH line"
    local rps reqs app_ticks
    rps=$(kv rps "$line"); reqs=$(kv requests "$line")
    # The ceiling runs in its own process, which reports its own CPU.
    app_ticks=$(( app1 - app0 ))
    if [[ -z "$SERVER_PID" ]]; then app_ticks=$(kv cpu_ticks "$line"); fi
    if awk -v a="$rps" -v b="$best_rps" 'BEGIN { exit !(a > b) }'; then
      best_rps=$rps
      RPS[$key]=$rps; REQS[$key]=$reqs
      P50[$key]=$(kv p50_us "$line"); P99[$key]=$(kv p99_us "$line")
      NON2XX[$key]=$(kv non2xx "$line"); ERRS[$key]=$(kv socket_errors "$line")
      CPU[$key]=$(ms_per_request "$app_ticks" "$reqs")
      if [[ -n "$DB_PID" ]]; then DBCPU[$key]=$(ms_per_request $(( db1 - db0 )) "$reqs"); else DBCPU[$key]=-; fi
    fi
  done
  [[ "${NON2XX[$key]}" == 0 ]] || BAD_RESPONSES=1
  [[ "${ERRS[$key]}" == 0 ]] || SOCKET_ERRORS=1
  ROWS+=("$key")
}

wrk_run() { wrk --latency -t"$THREADS" -c"$1" -d"$DURATION" --timeout "$TIMEOUT" "${@:2}"; }

# --- the ceiling --------------------------------------------------------------------

# ceiling BACKEND DATABASE_ARGS...: bare insert transactions in a database of their own,
# on the same filesystem or cluster as the server's, at every concurrency measured.
ceiling() {
  local backend=$1
  shift
  local conns all=" $CONNECTIONS "
  if has_scenario history && [[ "$all" != *" $HISTORY_CONNECTIONS "* ]]; then
    all="$all$HISTORY_CONNECTIONS "
  fi
  "$BIN" migrate "$@" >/dev/null
  for conns in $all; do
    log "[$backend] ceiling: $conns tasks inserting one row per transaction for ${SECONDS_PER_RUN}s"
    # Best of several: under contention SQLite's busy handler sometimes backs off for
    # 100 ms at a time, and a low ceiling would flatter every ratio.
    MEASURE_RUNS=$CEILING_REPEAT measure "$backend" ceiling "$conns" "$BIN" bench-insert "$@" \
      --connections "$conns" --seconds "$SECONDS_PER_RUN"
  done
}

# --- the server ---------------------------------------------------------------------

api() { # api METHOD PATH [JSON_BODY]: prints the response body; fails on non-2xx
  local args=(-sS --fail-with-body -X "$1" -H "Cookie: speciosa_session=$COOKIE"
    -H 'Accept: application/json' "$BASE$2")
  if [[ -n "${3:-}" ]]; then
    args+=(-H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' --data-binary "$3")
  fi
  curl "${args[@]}"
}

json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# new_patient NAME: registers a patient (the demo clinician joins the care team); prints the id.
new_patient() {
  api POST /api/v1/patients "{\"display_name\":\"$1\",\"birth_date\":\"1985-01-01\",\"time_zone\":\"UTC\"}" \
    | json 'd["id"]'
}

# import_doses PATIENT SPREAD RECENT: imports SPREAD doses four a day (08:00, 12:00,
# 16:00, 20:00 UTC) going back from yesterday, so any 28 days hold 112, and RECENT more,
# one a minute going back from an hour ago, through the CSV import in chunks.
import_doses() {
  local patient=$1 dir=$WORK/import.$1
  mkdir -p "$dir"
  python3 - "$dir" "$2" "$3" "$PRODUCT_NAME" "$LOT" <<'PY'
import csv, io, json, sys
from datetime import datetime, timedelta, timezone
out, spread, recent, product, lot = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
now = datetime.now(timezone.utc)
rows = []
for i in range(spread):
    day = (now - timedelta(days=1 + i // 4)).date()
    rows.append((day.isoformat(), ("08:00", "12:00", "16:00", "20:00")[i % 4]))
for i in range(recent):
    # Seconds at :30, so no recent dose shares a time with a spread one.
    t = now - timedelta(minutes=60 + i)
    rows.append((t.date().isoformat(), t.strftime("%H:%M:30")))
chunk = 250  # one import is one request: keep it well inside the request timeout
for n, start in enumerate(range(0, len(rows), chunk)):
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["date", "time", "product", "lot", "amount", "unit"])
    for date, time in rows[start:start + chunk]:
        w.writerow([date, time, product, lot, "0.5", "g"])
    with open(f"{out}/{n:05}.json", "w") as f:
        json.dump({"csv": text.getvalue(), "commit": True}, f)
PY
  # Two at a time: SQLite takes one writer anyway; PostgreSQL overlaps its fsyncs.
  find "$dir" -name '*.json' -print0 | sort -z | xargs -0 -P 2 -I{} \
    curl -sS --fail-with-body -o {}.result -H "Cookie: speciosa_session=$COOKIE" \
      -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' -H 'Accept: application/json' \
      --data-binary @{} "$BASE/api/v1/patients/$patient/doses/import" \
    || die "importing doses for $patient failed: $(cat "$dir"/*.result 2>/dev/null | tail -c 600)"
  local imported
  imported=$(python3 - "$dir" <<'PY'
import glob, json, sys
total = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.result")):
    with open(path) as f:
        r = json.load(f)
    if r["errors"] or r["unusual"]:
        sys.exit("import refused rows: %s %s" % (r["errors"][:3], r["unusual"][:3]))
    total += r["imported"]
print(total)
PY
)
  (( imported == $2 + $3 )) || die "imported $imported doses for $patient, expected $(( $2 + $3 ))"
}

# bench_backend NAME [extra serve args...]
bench_backend() {
  local name=$1
  shift
  local port data=$WORK/$name jar=$WORK/$name.cookies
  port=$(free_port)
  BASE=http://127.0.0.1:$port
  mkdir -p "$data"

  log "[$name] speciosa serve --demo on $BASE"
  "$BIN" serve --demo --data-dir "$data" --listen "127.0.0.1:$port" "$@" \
    >"$WORK/$name.server.log" 2>&1 &
  SERVER_PID=$!
  if ! wait_http_ok "$BASE/readyz" 60 "$SERVER_PID"; then
    tail -n 50 "$WORK/$name.server.log" >&2
    die "[$name] server did not become ready"
  fi

  # Sign in once; every request reuses this session (and its CSRF token for writes).
  local session
  session=$(curl -sS --fail-with-body -c "$jar" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/session") \
    || die "[$name] sign-in failed"
  CSRF=$(json 'd["csrf_token"]' <<<"$session")
  # Netscape cookie jar: tab-separated, name in column 6, value in 7
  # (HttpOnly cookies' lines start with '#HttpOnly_', still tab-separated).
  COOKIE=$(awk -F'\t' '$6 == "speciosa_session" { print $7 }' "$jar" | tail -n 1)
  [[ -n "$COOKIE" ]] || die "[$name] no speciosa_session cookie after sign-in"

  local ids idarr
  ids=$(api GET /api/v1/patients | json '" ".join(str(p["id"]) for p in d)') \
    || die "[$name] could not list patients"
  read -ra idarr <<<"$ids"
  (( ${#idarr[@]} > 0 )) || die "[$name] the demo has no patients"
  # The first assayed batch in the catalogue, for dose writes and imports.
  local batch_line
  batch_line=$(api GET /api/v1/products | python3 -c 'import json, sys
for p in json.load(sys.stdin):
    for b in p["batches"]:
        if b.get("assay"):
            print(b["id"], b["lot"], p["name"], sep="\t"); sys.exit()') \
    || die "[$name] could not list products"
  IFS=$'\t' read -r BATCH LOT PRODUCT_NAME <<<"$batch_line"
  [[ -n "$BATCH" ]] || die "[$name] the demo catalogue has no assayed batch"

  local record_paths=() timeline_paths=() id conns
  for id in "${idarr[@]}"; do
    record_paths+=("/api/v1/patients/$id")
    timeline_paths+=("/patients/$id/timeline")
  done

  # Reads first, then writes (which grow the demo patients' records).
  for scenario in reads read roster timeline assessments doses; do
    has_scenario "$scenario" || continue
    for conns in $CONNECTIONS; do
      log "[$name] $scenario: wrk -t$THREADS -c$conns -d$DURATION (${#idarr[@]} demo patients)"
      case $scenario in
        reads) measure "$name" reads "$conns" wrk_run "$conns" -s bench/patients.lua "$BASE/" \
                 -- "$COOKIE" "${idarr[@]}" ;;
        read) measure "$name" read "$conns" wrk_run "$conns" -s bench/get.lua "$BASE/" \
                -- "$COOKIE" application/json "${record_paths[@]}" ;;
        roster) measure "$name" roster "$conns" wrk_run "$conns" -s bench/get.lua "$BASE/" \
                  -- "$COOKIE" text/html /roster ;;
        timeline) measure "$name" timeline "$conns" wrk_run "$conns" -s bench/get.lua "$BASE/" \
                    -- "$COOKIE" text/html "${timeline_paths[@]}" ;;
        assessments) measure "$name" assessments "$conns" wrk_run "$conns" -s bench/assessments.lua \
                       "$BASE/" -- "$COOKIE" "$CSRF" "${idarr[@]}" ;;
        doses) measure "$name" doses "$conns" wrk_run "$conns" -s bench/doses.lua "$BASE/" \
                 -- "$COOKIE" "$CSRF" "$BATCH" "${idarr[@]}" ;;
      esac
    done
  done

  if has_scenario history; then
    # Three patients of their own, so the demo's records do not change what is measured.
    local few many recent started=$SECONDS
    few=$(new_patient "Bench $BASE_DOSES doses")
    many=$(new_patient "Bench $HISTORY_DOSES doses")
    recent=$(new_patient "Bench $BASE_DOSES+$RECENT_DOSES recent doses")
    log "[$name] importing $BASE_DOSES, $HISTORY_DOSES and $BASE_DOSES+$RECENT_DOSES prior doses"
    import_doses "$few" "$BASE_DOSES" 0
    import_doses "$many" "$HISTORY_DOSES" 0
    import_doses "$recent" "$BASE_DOSES" "$RECENT_DOSES"
    log "[$name] imported in $(( SECONDS - started ))s"
    # A production database's autovacuum has long since analysed such a history; the
    # planner must not be measured on statistics from before the import.
    if [[ -n "${BENCH_DB_URL:-}" ]]; then _pg_psql "$BENCH_DB_URL" -c ANALYZE; fi
    conns=$HISTORY_CONNECTIONS
    local patient label
    for label in "h$BASE_DOSES:$few" "h$HISTORY_DOSES:$many" "h$BASE_DOSES+${RECENT_DOSES}r:$recent"; do
      patient=${label#*:}
      log "[$name] doses for one patient with ${label%%:*} prior doses: wrk -c$conns -d$DURATION"
      measure "$name" "doses-${label%%:*}" "$conns" wrk_run "$conns" -s bench/doses.lua "$BASE/" \
        -- "$COOKIE" "$CSRF" "$BATCH" "$patient"
    done
  fi
  stop_server
}

for backend in $BACKENDS; do
  case $backend in
    sqlite)
      DB_PID=
      has_scenario ceiling && ceiling sqlite --data-dir "$WORK/sqlite-ceiling"
      bench_backend sqlite
      ;;
    postgres)
      # Production durability (fsync, synchronous commit, full page writes), as SQLite
      # runs with synchronous=FULL: the two backends are compared like with like.
      PG_DURABLE=1 pg_start
      DB_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
      has_scenario ceiling && ceiling postgres --database-url "$(pg_createdb speciosa_ceiling)"
      BENCH_DB_URL=$(pg_createdb speciosa_bench)
      bench_backend postgres --database-url "$BENCH_DB_URL"
      BENCH_DB_URL=
      DB_PID=
      pg_stop
      ;;
    *) die "unknown backend '$backend' (sqlite, postgres)" ;;
  esac
done

# --- the report ---------------------------------------------------------------------

# The latency of a run that completed no request is unknown, not zero.
ms() { awk -v u="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", u / 1000; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }

echo
echo "== Speciosa load test: ${DURATION} per run, best of $REPEAT (ceiling: of $CEILING_REPEAT), wrk -t$THREADS; $(nproc) cores shared by wrk, server and database"
echo "   ms cpu/req: the server process; db cpu/req: every PostgreSQL process; x ceiling: requests/s over bare inserts/s at the same connections"
printf '%-8s %-18s %5s %10s %9s %9s %10s %10s %9s %7s %8s %8s\n' \
  backend scenario conns requests/s p50_ms p99_ms cpu_ms/req db_ms/req "x ceiling" non-2xx sock-err requests
for key in "${ROWS[@]}"; do
  IFS='|' read -r backend scenario conns <<<"$key"
  printf '%-8s %-18s %5s %10s %9s %9s %10s %10s %9s %7s %8s %8s\n' "$backend" "$scenario" "$conns" \
    "${RPS[$key]}" "$(ms "${P50[$key]}" "${REQS[$key]}")" "$(ms "${P99[$key]}" "${REQS[$key]}")" \
    "${CPU[$key]}" "${DBCPU[$key]}" "$(ratio "${RPS[$key]}" "${RPS[$backend|ceiling|$conns]:-0}")" \
    "${NON2XX[$key]}" "${ERRS[$key]}" "${REQS[$key]}"
done
if has_scenario history; then
  echo
  echo "== Dose writes as one patient's history grows (c$HISTORY_CONNECTIONS; each run adds its own doses to the patient):"
  for backend in $BACKENDS; do
    base=${RPS[$backend|doses-h$BASE_DOSES|$HISTORY_CONNECTIONS]:-0}
    printf '%-8s %6s spread / %s: %s    %s+%s recent / %s: %s\n' "$backend" \
      "$HISTORY_DOSES" "$BASE_DOSES" "$(ratio "${RPS[$backend|doses-h$HISTORY_DOSES|$HISTORY_CONNECTIONS]:-0}" "$base")" \
      "$BASE_DOSES" "$RECENT_DOSES" "$BASE_DOSES" \
      "$(ratio "${RPS[$backend|doses-h$BASE_DOSES+${RECENT_DOSES}r|$HISTORY_CONNECTIONS]:-0}" "$base")"
  done
fi
if (( SOCKET_ERRORS )); then
  echo "NOTE: sock-err counts requests wrk gave up on (connection errors, and timeouts after" >&2
  echo "      BENCH_TIMEOUT=$TIMEOUT); latencies leave them out, so read those rows' p99 as a floor." >&2
fi
if (( BAD_RESPONSES )); then
  echo "WARNING: some responses were not 2xx: those numbers measure errors, not the work." >&2
  exit 1
fi
