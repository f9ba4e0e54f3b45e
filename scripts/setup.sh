#!/usr/bin/env bash
# Sets up everything the project and its tests need on a fresh Debian machine:
# the package with its dev extras (pytest, mypy, ruff, localstripe...), and Debian's chromium
# for the HTML report test. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --upgrade pip >/dev/null
python -m pip install -e ".[dev]"
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
fi
