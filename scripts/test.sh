#!/usr/bin/env bash
# Set up and run the test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check selflearn_assets selflearn_assets_tests bench
exec .venv/bin/python -m pytest -q "$@"
