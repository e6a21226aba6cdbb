#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it.
# Starts a throw-away PostgreSQL server (Debian package) so the database tests run against SQLite AND PostgreSQL.
# On CI (CI=true) a PostgreSQL that cannot start is an error; on a developer machine its tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${GAITSCOPE_TEST_PG_URL:-}" ]; then
  if exports=$(bash .ci/postgres.sh 2>/tmp/gaitscope-postgres.log) && [ -n "$exports" ]; then
    eval "$exports"
    echo "PostgreSQL for tests: $GAITSCOPE_TEST_PG_URL"
  else
    cat /tmp/gaitscope-postgres.log >&2 || true
    if [ "${CI:-}" = "true" ]; then echo "PostgreSQL could not be started on CI" >&2; exit 1; fi
    echo "PostgreSQL could not be started: its tests will be skipped" >&2
  fi
fi
# The dashboard's end-to-end test drives Debian's Chromium (never a browser downloaded by a test tool).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/tmp/gaitscope-chromium.log 2>&1 \
    || { cat /tmp/gaitscope-chromium.log >&2; echo "chromium could not be installed: the browser test will be skipped" >&2; }
fi
exec .venv/bin/python -m pytest -q --durations=15 "$@"
