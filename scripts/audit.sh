#!/usr/bin/env bash
# Dependency audit: every package installed in .venv (callmon's dependencies and the dev tools)
# against PyPI's vulnerability data, through pip-audit's default PyPI service (nothing but PyPI
# needs to be reachable). Fails on any known vulnerability not listed, with its reason, in
# scripts/audit-ignore.txt, and on an audit that could not check every package
# (--allow-unaudited: list those and go on). See scripts/audit_check.py for why a second step.
# Usage: scripts/audit.sh [--allow-unaudited]     (run scripts/bootstrap.sh --dev first)
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
.venv/bin/pip-audit --progress-spinner off --skip-editable --format json --output "$report" || status=$?
if [ ! -s "$report" ]; then
    echo "pip-audit failed (exit $status) without a report" >&2
    exit 2
fi
exec .venv/bin/python scripts/audit_check.py "$report" "$@"
