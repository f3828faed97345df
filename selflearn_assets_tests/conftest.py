"""Shared fixtures: a temporary SELFLEARN_HOME with a raw root, and helpers to write raw lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# The project's daily partitions start where the raw data does (defs/partitions.py), computed once, when defs
# are first imported; the tests' days are fixed dates of 2026: pin the start for every test and the processes
# they start (tests of the rule itself pass their own settings).
os.environ["SELFLEARN_PARTITIONS_START"] = "2026-01-01"
# Everything runs in process, never on Ray (the Ray tests pass their own ComputeConfig or start a cluster).
os.environ["SELFLEARN_RAY"] = "off"


@pytest.fixture
def selflearn_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    raw = home / "raw"
    raw.mkdir(parents=True)
    monkeypatch.setenv("SELFLEARN_HOME", str(home))
    monkeypatch.setenv("SELFLEARN_RAW_ROOT", str(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home


def write_lines(path: Path, records: list) -> Path:
    """Write records (dicts become JSON, str and bytes are written as they are) one per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for r in records:
            if isinstance(r, dict):
                r = json.dumps(r)
            f.write(r if isinstance(r, bytes) else r.encode())
            f.write(b"\n")
    return path
