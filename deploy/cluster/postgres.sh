#!/usr/bin/env bash
# PostgreSQL on the Ray head of cluster.yaml (a head setup command), for kern's runs: with
# KERN_HEAD_POSTGRES=1 in ~/.kern/serve.env (KERN_SERVE_ENV), installs Debian's `postgresql` package if
# needed and makes the role, password and database of KERN_DB_URL, reachable from the nodes' networks
# (pg_hba `samenet`, or KERN_PG_HBA_ADDRESS) with scram-sha-256 passwords, on the package's port (5432).
# Idempotent: run on every `ray up`, it sets the password and settings again and restarts the server
# only when a setting needs it. Without KERN_HEAD_POSTGRES=1 it does nothing (KERN_DB_URL names your own
# server). Needs passwordless sudo.
set -euo pipefail

ENV_FILE="${KERN_SERVE_ENV:-$HOME/.kern/serve.env}"

die() { echo "postgres.sh: $*" >&2; exit 1; }

[[ -f "$ENV_FILE" ]] || die "$ENV_FILE is missing (see the top of cluster.yaml)"
set -a
# shellcheck source=/dev/null
. "$ENV_FILE"
set +a
if [[ "${KERN_HEAD_POSTGRES:-0}" != 1 ]]; then
    echo "postgres.sh: KERN_HEAD_POSTGRES is not 1: using the server of KERN_DB_URL"
    exit 0
fi
[[ "${KERN_DB_URL:-}" =~ ^postgres(ql)?(\+psycopg)?:// ]] || die "KERN_DB_URL must be a postgresql:// URL"

# User, password (quoted for psql's \set), database and port of the URL, one per line.
mapfile -t PARTS < <(python3 - "$KERN_DB_URL" <<'PY'
import sys
from urllib.parse import unquote, urlsplit

url = urlsplit(sys.argv[1])
password = unquote(url.password or "")
quoted = "'" + password.replace("\\", "\\\\").replace("'", "''") + "'" if password else ""
print(unquote(url.username or ""), quoted, url.path.lstrip("/"), url.port or 5432, sep="\n")
PY
)
DB_USER="${PARTS[0]}" DB_PASSWORD="${PARTS[1]}" DB_NAME="${PARTS[2]}" DB_PORT="${PARTS[3]}"
[[ -n "$DB_USER" && -n "$DB_PASSWORD" && -n "$DB_NAME" ]] \
    || die "KERN_DB_URL must name a user, a password and a database (postgresql://USER:PASSWORD@HEAD:PORT/DB)"

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi

# As the postgres superuser; the password goes through standard input, never a command line.
psql_admin() { sudo -u postgres psql -X -q -tA -v ON_ERROR_STOP=1 "$@"; }
SERVER_PORT="$(psql_admin -c 'SHOW port')"
[[ "$SERVER_PORT" == "$DB_PORT" ]] \
    || die "KERN_DB_URL names port $DB_PORT; the head's PostgreSQL listens on $SERVER_PORT"
LISTENING_ON="$(psql_admin -c 'SHOW listen_addresses')"
HBA_FILE="$(psql_admin -c 'SHOW hba_file')"
RULE="host $DB_NAME $DB_USER ${KERN_PG_HBA_ADDRESS:-samenet} scram-sha-256"
sudo grep -qxF "$RULE" "$HBA_FILE" || echo "$RULE" | sudo tee -a "$HBA_FILE" >/dev/null

{ printf '\\set password %s\n' "$DB_PASSWORD"; cat <<'SQL'
ALTER SYSTEM SET listen_addresses = '*';
ALTER SYSTEM SET password_encryption = 'scram-sha-256';
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', :'user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user')
\gexec
ALTER ROLE :"user" LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SELECT pg_reload_conf() \g /dev/null
SQL
} | psql_admin -v user="$DB_USER" -v db="$DB_NAME"
# listen_addresses takes a restart (the first time); pg_hba.conf and the rest a reload.
if [[ "$LISTENING_ON" != "*" ]]; then
    sudo service postgresql restart
fi
echo "postgres.sh: PostgreSQL serves database $DB_NAME to $DB_USER on port $DB_PORT"
