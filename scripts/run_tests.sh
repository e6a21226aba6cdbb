#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it.
# Starts a throw-away PostgreSQL server (Debian package) so the database tests run against SQLite AND PostgreSQL.
# On CI (CI=true) a PostgreSQL that cannot start is an error; on a developer machine its tests are skipped.
#
# The server is this run's own: a fresh folder (mktemp -d) and a free port, so two runs side by side do not
# collide, and it is stopped and its folder removed when the script ends, whether the tests pass, fail or are
# interrupted (trap on EXIT). With GAITSCOPE_TEST_PG_URL already set, that server is used and nothing is started.
# PYTHON_FOR_TESTS overrides the interpreter (default .venv/bin/python, as `make install` creates it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON_FOR_TESTS:-.venv/bin/python}"

SCRATCH="$(mktemp -d -t gaitscope-tests.XXXXXX)"
PG_STARTED=""
cleanup() {
  local rc=$?
  if [ -n "$PG_STARTED" ]; then
    GAITSCOPE_PG_DIR="$PG_STARTED" bash .ci/postgres.sh clean 2>>"$SCRATCH/postgres.log" \
      || echo "could not stop the test PostgreSQL in $PG_STARTED (see $SCRATCH/postgres.log)" >&2
  fi
  rm -rf "$SCRATCH"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {  # a port nobody listens on now (the kernel's choice of an ephemeral port)
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ -z "${GAITSCOPE_TEST_PG_URL:-}" ]; then
  started=""
  for attempt in 1 2 3; do  # another program may take the free port before the server binds it: try another
    pgdir="$(mktemp -d -t gaitscope-pg.XXXXXX)"
    PG_STARTED="$pgdir"
    if exports=$(GAITSCOPE_PG_DIR="$pgdir" GAITSCOPE_PG_PORT="$(free_port)" bash .ci/postgres.sh start \
                 2>>"$SCRATCH/postgres.log") && [ -n "$exports" ]; then
      started=1
      break
    fi
    GAITSCOPE_PG_DIR="$pgdir" bash .ci/postgres.sh clean 2>>"$SCRATCH/postgres.log" || true
    PG_STARTED=""
    if [ ! -x "$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r | head -n 1)/initdb" ]; then break; fi
  done
  if [ -n "$started" ]; then
    eval "$exports"
    echo "PostgreSQL for tests: $GAITSCOPE_TEST_PG_URL (in $PG_STARTED, stopped and removed at the end)"
  else
    cat "$SCRATCH/postgres.log" >&2 || true
    if [ "${CI:-}" = "true" ]; then echo "PostgreSQL could not be started on CI" >&2; exit 1; fi
    echo "PostgreSQL could not be started: its tests will be skipped" >&2
  fi
fi
# The dashboard's end-to-end test drives Debian's Chromium (never a browser downloaded by a test tool).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >"$SCRATCH/chromium.log" 2>&1 \
    || { cat "$SCRATCH/chromium.log" >&2; echo "chromium could not be installed: the browser test will be skipped" >&2; }
fi
# Not `exec`: this shell stays to stop the server when pytest ends.
"$PY" -m pytest -q --durations=15 "$@"
