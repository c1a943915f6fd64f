# shellcheck shell=bash
# Throwaway PostgreSQL cluster for tests and benchmarks. Source, don't run.
#
#   pg_start        start a cluster; sets PG_PORT, PG_DIR, PG_URL (…/postgres db)
#   pg_createdb N   create database N; prints its URL
#   pg_stop         stop the cluster and delete its directory (idempotent; use in a trap)
#
# The cluster lives in a mktemp dir, listens on 127.0.0.1 only (socket in the
# temp dir too), trusts every local connection and has a superuser `speciosa`.
# Durability is switched off (the data is thrown away anyway) unless PG_DURABLE=1,
# which benchmarks set so they measure with the fsync that production uses.

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_DIR=
PG_PORT=
PG_URL=
PG_BINDIR=
_PG_RUN=()

# Find initdb/pg_ctl/postgres: PATH first, then Debian's versioned dir
# (newest version wins). Install the server package if they are nowhere.
_pg_find_bindir() {
  local d
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    PG_BINDIR=$(dirname "$(command -v initdb)")
    return 0
  fi
  for d in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -t/ -k5 -V -r); do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
      PG_BINDIR=$d
      return 0
    fi
  done
  return 1
}

_pg_ensure_server() {
  _pg_find_bindir && return 0
  log "PostgreSQL server binaries not found; installing Debian's postgresql"
  apt_install postgresql
  _pg_find_bindir || die "installed postgresql but still cannot find initdb"
}

# initdb refuses to run as root, so as root everything server-side runs as the
# `postgres` system user (created if this machine has none).
_pg_setup_runas() {
  if is_root; then
    if ! id -u postgres >/dev/null 2>&1; then
      log "creating system user postgres"
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin postgres
    fi
    _PG_RUN=(runuser -u postgres --)
  else
    _PG_RUN=()
  fi
}

# Run a server-side command as the cluster's OS user, from inside the cluster
# dir (postgres cannot read root's cwd and would warn about it).
_pg_as() { (cd "$PG_DIR" && "${_PG_RUN[@]}" "$@"); }

# psql: Debian's /usr/bin/psql wrapper if present, else the one beside initdb.
_pg_psql() {
  local psql=psql
  command -v psql >/dev/null 2>&1 || psql="$PG_BINDIR/psql"
  "$psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

pg_start() {
  _pg_ensure_server
  _pg_setup_runas
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/speciosa-pg.XXXXXX")
  if is_root; then chown postgres: "$PG_DIR"; fi

  log "initdb in $PG_DIR ($PG_BINDIR)"
  # --auth=trust: local socket and 127.0.0.1/::1 host lines all trust.
  # -U speciosa: the bootstrap superuser is our role (the OS user stays postgres).
  _pg_as "$PG_BINDIR/initdb" -D "$PG_DIR/data" -U speciosa --auth=trust \
    --encoding=UTF8 --locale=C --no-sync --no-instructions >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }

  # A racing process may take the port between free_port and bind: retry.
  local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if [[ "${PG_DURABLE:-0}" == 1 ]]; then
    durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
  fi

  local attempt
  for attempt in 1 2 3; do
    PG_PORT=$(free_port)
    if _pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR \
            $durability \
            -c max_connections=300" start >/dev/null; then
      PG_URL="postgres://speciosa@127.0.0.1:$PG_PORT/postgres"
      log "PostgreSQL up on 127.0.0.1:$PG_PORT"
      return 0
    fi
    log "PostgreSQL failed to start on port $PG_PORT (attempt $attempt)"
  done
  cat "$PG_DIR/server.log" >&2 || true
  die "could not start PostgreSQL"
}

pg_createdb() {
  local name=$1
  [[ -n "$PG_URL" ]] || die "pg_createdb: cluster not started"
  _pg_psql "$PG_URL" -c "CREATE DATABASE \"$name\"" >&2
  echo "postgres://speciosa@127.0.0.1:$PG_PORT/$name"
}

pg_stop() {
  [[ -n "$PG_DIR" ]] || return 0
  if [[ -f "$PG_DIR/data/postmaster.pid" ]]; then
    # immediate: no checkpoint, the data is about to be deleted anyway.
    _pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=
  PG_URL=
}
