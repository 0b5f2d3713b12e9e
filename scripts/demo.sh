#!/usr/bin/env bash
# The main job on the embedded default: set up .venv, replay the bundled real Asterisk
# captures into SQLite (var/demo.db) and print the per-operator answer statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p var
DB="sqlite:///$(pwd)/var/demo.db"
.venv/bin/callmon replay tests/fixtures/asterisk/ami-capture-*.raw --db "$DB"
.venv/bin/callmon stats --db "$DB"
