#!/usr/bin/env bash
# One command: install what the tests need (PostGIS, Chromium included) and run the whole
# suite on SpatiaLite and PostGIS. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

# PostgreSQL must be up; start the cluster if it is installed but stopped (no systemd here).
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  cluster=$(ls /etc/postgresql | head -n1)
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || pg_ctlcluster "$cluster" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
# Tests create and drop their own grid_test_* databases. Use trusted TCP as postgres if the
# server allows it, else a superuser role for root over the local socket (peer auth).
if [[ -z "${GRID_TEST_POSTGRES_URL:-}" ]]; then
  if psql -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1" >/dev/null 2>&1; then
    export GRID_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:5432/postgres"
  else
    runuser -u postgres -- psql -Atqc "select 1 from pg_roles where rolname='root'" | grep -q 1 \
      || runuser -u postgres -- createuser --superuser root
    export GRID_TEST_POSTGRES_URL="postgresql:///postgres?host=/var/run/postgresql"
  fi
fi
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
