#!/usr/bin/env bash
# The main job: set up, simulate a few days of logs, materialize every asset for them, print where results are.
# Extra arguments go to `selflearn demo` (e.g. --days 14 --users 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/selflearn demo "$@"
