#!/usr/bin/env bash
# Make a local PostgreSQL server available for kern's tests and print its URL on the last line.
#
#   URL=$(scripts/postgres.sh | tail -n 1)
#
# The server listens on 127.0.0.1:${KERN_PG_PORT:-55432} with its data directory in
# ${KERN_PG_DATA:-/tmp/kern-pg-$PORT}; it has a role `kern` (password `kern`) owning a database
# `kern_test`. Idempotent: if the server already runs, it only prints the URL. Installs Debian's
# `postgresql` package when no server binaries are found. Never stops or touches any other server.
# Progress goes to stderr; stdout carries only the URL.
set -euo pipefail

PORT="${KERN_PG_PORT:-55432}"
DATA="${KERN_PG_DATA:-/tmp/kern-pg-${PORT}}"
URL="postgresql://kern:kern@127.0.0.1:${PORT}/kern_test"
export PGCONNECT_TIMEOUT=5

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# One invocation at a time per port (bounded wait); the server itself must not inherit fd 9.
LOCK="/tmp/kern-pg-${PORT}.lock"
exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
    flock -w 120 9 || die "timed out waiting for $LOCK"
fi

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$d/pg_ctl" && -x "$d/initdb" && -x "$d/postgres" ]]; then
            echo "$d"
            return 0
        fi
    done
    if command -v pg_ctl >/dev/null 2>&1; then
        d="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
        if [[ -x "$d/initdb" && -x "$d/postgres" ]]; then
            echo "$d"
            return 0
        fi
    fi
    return 1
}

psql_ok() {
    # Whether the URL accepts a connection (needs a client: psql from the server's bindir or PATH).
    "$PSQL" "$URL" -qAtX -c 'select 1' >/dev/null 2>&1
}

BIN="$(find_bindir || true)"
if [[ -z "$BIN" ]]; then
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL server binaries not found; install the 'postgresql' package"
    log "installing PostgreSQL (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
    timeout 900 apt-get install -y -qq postgresql >&2 || die "apt-get install postgresql failed"
    BIN="$(find_bindir || true)"
    [[ -n "$BIN" ]] || die "PostgreSQL server binaries still not found after installing"
fi
PSQL="$BIN/psql"
[[ -x "$PSQL" ]] || PSQL="$(command -v psql || true)"
[[ -n "$PSQL" ]] || die "psql not found"

# Already running (ours, or set up by an earlier call): just print the URL.
if psql_ok; then
    echo "$URL"
    exit 0
fi
if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1; then
    if [[ ! -f "$DATA/postmaster.pid" ]]; then
        die "another server already listens on 127.0.0.1:$PORT; set KERN_PG_PORT to another port"
    fi
fi

# Run server commands as the `postgres` system user when we are root (postgres refuses root).
if [[ "$(id -u)" == 0 ]]; then
    if ! id -u postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres \
            || die "cannot create the postgres system user"
    fi
    AS_PG=(runuser -u postgres --)
else
    AS_PG=()
fi

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initialising $DATA"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    chmod 700 "$DATA"
    [[ "$(id -u)" == 0 ]] && chown postgres: "$DATA"
    pwfile="$(mktemp)"
    echo "postgres" >"$pwfile"
    [[ "$(id -u)" == 0 ]] && chown postgres: "$pwfile"
    timeout 120 "${AS_PG[@]}" "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile" --no-sync >&2 \
        || { rm -f "$pwfile"; die "initdb failed"; }
    rm -f "$pwfile"
    cat >>"$DATA/postgresql.conf" <<EOF

# kern test server
port = ${PORT}
listen_addresses = '127.0.0.1'
unix_socket_directories = '${DATA}'
max_connections = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

if ! "${AS_PG[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "starting the server on 127.0.0.1:$PORT"
    timeout 60 "${AS_PG[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 30 start >&2 9>&- \
        || { tail -n 20 "$DATA/server.log" >&2 || true; die "the server did not start"; }
fi

# Role and database (as the superuser over the server's own Unix socket).
SQL=("${AS_PG[@]}" "$PSQL" -h "$DATA" -p "$PORT" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1)
if [[ "$("${SQL[@]}" -c "select 1 from pg_roles where rolname = 'kern'")" != 1 ]]; then
    "${SQL[@]}" -c "create role kern login password 'kern'" >&2 || die "cannot create role kern"
fi
if [[ "$("${SQL[@]}" -c "select 1 from pg_database where datname = 'kern_test'")" != 1 ]]; then
    "${SQL[@]}" -c "create database kern_test owner kern" >&2 || die "cannot create database kern_test"
fi

psql_ok || die "the server runs but $URL does not accept connections"
echo "$URL"
