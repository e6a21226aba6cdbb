#!/usr/bin/env bash
# Start a throw-away PostgreSQL cluster for the database tests and print the URL to use.
#
#   eval "$(.ci/postgres.sh)"            # start (installing Debian's postgresql if missing), export the URL
#   .venv/bin/pytest tests/db            # the db suite now runs on SQLite AND PostgreSQL
#   .ci/postgres.sh stop                 # stop the cluster (data dir is kept; `.ci/postgres.sh clean` removes it)
#
# Only the `export GAITSCOPE_TEST_PG_URL=...` line goes to stdout; progress goes to stderr.
# The cluster lives in $GAITSCOPE_PG_DIR (default /tmp/gaitscope-pg), listens on 127.0.0.1:$GAITSCOPE_PG_PORT
# (default 55432, away from a system cluster on 5432) and runs with fsync=off: it is for tests only.
# The role `gaitscope` has CREATEDB because each test gets a fresh database.
set -euo pipefail

PGDIR="${GAITSCOPE_PG_DIR:-/tmp/gaitscope-pg}"
PORT="${GAITSCOPE_PG_PORT:-55432}"
DB_USER="${GAITSCOPE_PG_USER:-gaitscope}"
DB_PASS="${GAITSCOPE_PG_PASSWORD:-gaitscope}"
DB_NAME="${GAITSCOPE_PG_DB:-gaitscope}"
log() { echo "[postgres.sh] $*" >&2; }

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    return 1
}

BINDIR="$(find_bindir || true)"
if [ -z "$BINDIR" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "PostgreSQL is not installed and this is not root: install the 'postgresql' package first."; exit 1
    fi
    log "installing Debian's postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2 && apt-get install -y postgresql >&2
    BINDIR="$(find_bindir)"
fi

# PostgreSQL refuses to run as root: run the server as the `postgres` user when we are root.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
stop)
    if [ -f "$PGDIR/data/postmaster.pid" ]; then as_pg "$BINDIR/pg_ctl" -D "$PGDIR/data" -m fast -w stop >&2; fi
    exit 0 ;;
clean)
    if [ -f "$PGDIR/data/postmaster.pid" ]; then as_pg "$BINDIR/pg_ctl" -D "$PGDIR/data" -m fast -w stop >&2 || true; fi
    rm -rf "$PGDIR"; exit 0 ;;
start) ;;
*) log "usage: $0 [start|stop|clean]"; exit 2 ;;
esac

mkdir -p "$PGDIR"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PGDIR"; fi
if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
    log "initdb $PGDIR/data ($BINDIR)"
    as_pg "$BINDIR/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --no-locale >&2
fi
if ! as_pg "$BINDIR/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
    log "starting on 127.0.0.1:$PORT"
    as_pg "$BINDIR/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
        -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2
fi

PSQL=("$BINDIR/psql" -h "$PGDIR" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [ "$(as_pg "${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != "1" ]; then
    as_pg "${PSQL[@]}" -d postgres -c "CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASS'" >&2
fi
if [ "$(as_pg "${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]; then
    as_pg "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >&2
fi
log "ready: $("$BINDIR/postgres" --version)"
echo "export GAITSCOPE_TEST_PG_URL=postgresql+psycopg://$DB_USER:$DB_PASS@127.0.0.1:$PORT/$DB_NAME"
