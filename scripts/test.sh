#!/usr/bin/env bash
# The README's test command: make the venv if needed, install with the dev extra, run the suite.
# Runs on SQLite; set BLOCKLIST_TEST_DATABASE_URL=postgresql://... to run it on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
exec .venv/bin/python -m pytest -q "$@"
