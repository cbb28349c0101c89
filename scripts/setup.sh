#!/usr/bin/env bash
# Installs what the project needs on Debian 12 (as root): system libraries via apt, Python
# packages in .venv. Usage: scripts/setup.sh [--test]   (--test adds PostGIS and Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3 python3-venv libsqlite3-mod-spatialite)
if [[ "${1:-}" == "--test" ]]; then
  # fonts-wqy-zenhei: Chinese glyphs in the browser tests' screenshots (else empty boxes).
  packages+=(postgresql postgresql-15-postgis-3 chromium fonts-wqy-zenhei)
  # wrk: the HTTP load tool of benchmarks/workflow_post_bench.py.
  packages+=(wrk)
  # gdal-bin: ogrinfo (GDAL's OAPIF driver) reads /ogc in tests/test_ogc_clients.py.
  # (also ogr2ogr, the peer of benchmarks/load_bench.py; time: GNU time, its peak RSS)
  packages+=(gdal-bin time)
fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "==> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
extras=""; extra_names=()
[[ "${1:-}" == "--test" ]] && extras="[test]" && extra_names=(test)
# Checked, not trusted: the install is redone whenever a declared package is missing or off.
if ! .venv/bin/python scripts/check_install.py "${extra_names[@]}"; then
  echo "==> pip install -e .${extras}"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".${extras}"
  .venv/bin/python scripts/check_install.py "${extra_names[@]}"
fi
