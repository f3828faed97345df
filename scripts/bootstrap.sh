#!/usr/bin/env bash
# Create .venv (Python 3.11) and install selflearn with its extras; a no-op when pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$candidate; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "selflearn needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.selflearn-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing selflearn[dev,pretrained] into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch is pinned to 2.13.0 (CPU build); see README.
  .venv/bin/python -m pip install --quiet -e '.[dev,pretrained]'
  echo "$want" > "$stamp"
fi
