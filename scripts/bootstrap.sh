#!/usr/bin/env bash
# Create (or refresh) the virtual environment in .venv and install callmon into it.
# Usage: scripts/bootstrap.sh [--dev]   (--dev adds the test and lint tools)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "callmon needs Python 3.11 or newer")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
# setuptools too: Python 3.11 seeds a venv with setuptools 65.5, which has known vulnerabilities (scripts/audit.sh)
.venv/bin/python -m pip install --quiet --upgrade pip setuptools
.venv/bin/python -m pip install --quiet -e ".${extra}"
