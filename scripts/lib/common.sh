# shellcheck shell=bash
# Small helpers shared by scripts/test and bench/load.sh. Source, don't run.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# apt_install PKG...: install Debian packages, running `apt-get update` at most
# once per script run (a fresh machine's package lists may be empty or stale).
_APT_UPDATED=
apt_install() {
  is_root || die "need Debian package(s) '$*' but not root: install them (apt-get install -y $*) and re-run"
  if [[ -z "$_APT_UPDATED" ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    _APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}

# free_port: print a TCP port on 127.0.0.1 that nobody is listening on right now.
# (Another process could grab it before we bind; callers that care retry.)
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  # Fallback: probe random high ports until a connect is refused.
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "could not find a free TCP port"
}

# wait_http_ok URL TIMEOUT_SECONDS [PID]: poll until URL answers 200.
# Gives up early if PID (the server) has exited.
wait_http_ok() {
  local url=$1 timeout=$2 pid=${3:-} deadline=$(( SECONDS + $2 ))
  while (( SECONDS < deadline )); do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "server (pid $pid) exited before $url was ready" >&2
      return 1
    fi
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" == 200 ]]; then
      return 0
    fi
    sleep 0.2
  done
  echo "timed out after ${timeout}s waiting for $url" >&2
  return 1
}
