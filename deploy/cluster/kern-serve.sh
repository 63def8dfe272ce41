#!/usr/bin/env bash
# (Re)start `kern serve` on the Ray head of cluster.yaml (its last head start command), attached to that
# node's Ray, on 0.0.0.0:7777. Settings come from ~/.kern/serve.env (KERN_SERVE_ENV): OS_SECURITY_KEY
# and a postgresql:// KERN_DB_URL are required, since the server is reachable from the network and
# actors on every node write runs. Stops the kern serve it started before (pid file), so a second
# `ray up` works; returns once /health answers (a minute at most), else prints the log's tail and fails.
set -euo pipefail

ENV_FILE="${KERN_SERVE_ENV:-$HOME/.kern/serve.env}"
KERN_DIR="${KERN_DIR:-$HOME/kern}"
PID_FILE="$HOME/kern-serve.pid"
LOG_FILE="$HOME/kern-serve.log"
PORT="${KERN_SERVE_PORT:-7777}"

die() { echo "kern-serve.sh: $*" >&2; exit 1; }

[[ -f "$ENV_FILE" ]] || die "$ENV_FILE is missing (see the top of cluster.yaml)"
set -a
# shellcheck source=/dev/null
. "$ENV_FILE"
set +a
[[ -n "${OS_SECURITY_KEY:-}" ]] \
    || die "OS_SECURITY_KEY is not set in $ENV_FILE: kern serve listens on 0.0.0.0"
[[ "${KERN_DB_URL:-}" =~ ^postgres(ql)?(\+psycopg)?:// ]] \
    || die "KERN_DB_URL in $ENV_FILE must be a postgresql:// URL: SQLite files would be per node"

if [[ -f "$PID_FILE" ]]; then
    pid="$(cat "$PID_FILE")"
    # Only if that pid is still our kern serve (pids are reused).
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kern serve"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    fi
    rm -f "$PID_FILE"
fi

cd "$KERN_DIR"
# RAY_ADDRESS=auto: the Ray started on this node just before.
# KERN_SERVE_TARGET (module:attr, importable from the checkout) names your AgentOS; else the demo team.
RAY_ADDRESS=auto RAY_AUTH_MODE=token setsid nohup .venv/bin/kern serve --host 0.0.0.0 --port "$PORT" \
    ${KERN_SERVE_TARGET:+"$KERN_SERVE_TARGET"} >>"$LOG_FILE" 2>&1 </dev/null &
echo $! >"$PID_FILE"

HEALTH="import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/health', timeout=1)"
for _ in $(seq 300); do
    if .venv/bin/python -c "$HEALTH" 2>/dev/null; then
        echo "kern serve is up on 0.0.0.0:$PORT (log: $LOG_FILE)"
        exit 0
    fi
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break
    sleep 0.2
done
tail -n 20 "$LOG_FILE" >&2
die "kern serve did not answer on port $PORT"
