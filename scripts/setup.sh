#!/usr/bin/env bash
# Sets up everything the project and its tests need on a fresh Debian machine:
# the package with its dev extras (pytest, mypy, ruff, localstripe...), Debian's chromium
# for the HTML report test, and Debian's postgresql (the ledger tests start a throwaway server
# from its binaries; no cluster is created or started here). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --upgrade pip >/dev/null
python -m pip install -e ".[dev]"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
MISSING=""
if ! command -v chromium >/dev/null 2>&1; then MISSING="$MISSING chromium"; fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then MISSING="$MISSING postgresql"; fi
if [ -n "$MISSING" ]; then
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $MISSING
  # Debian starts a system cluster on install; the tests do not use it.
  if command -v pg_lsclusters >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in /etc/postgresql/*/; do
      $SUDO pg_ctlcluster "$(basename "$version")" main stop 2>/dev/null || true
    done
  fi
fi
