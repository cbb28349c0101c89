#!/usr/bin/env bash
# One command: set up, build the demo database (SpatiaLite, ./grid.db) from data/boundaries,
# add sample incidents at several ladder stages and serve the API and maps.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/grid demo --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" "$@"
