"""Exports roots for the serving tests: copies of the hand-made world's bundle (conftest's `online_world`) under
other days, and small rewrite tables, written as the platform writes them (staged, then renamed)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl

from selflearn_assets.lib.day_folders import atomic_folder_write
from selflearn_assets.lib.markov.mine import rewrite_id
from selflearn_assets.lib.markov.normalize import normalize_utterance
from selflearn_assets.lib.online.bundle import MANIFEST, bundle_folder
from selflearn_assets.lib.rewrites.export import write_export

BUNDLE_DAY = date(2026, 3, 4)  # the fixture's bundle
KITCHEN = "turn on the kitchen light"  # a request only the tables know


def copy_bundle(source: Path, exports: Path, day: date) -> Path:
    """The fixture's bundle as the export of `day` under `exports` (manifest's date set to it), atomically."""
    final = bundle_folder(exports, day)
    with atomic_folder_write(final) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        manifest = json.loads((staging / MANIFEST).read_text())
        manifest["date"] = day.isoformat()
        (staging / MANIFEST).write_text(json.dumps(manifest))
    return final


def write_table(exports: Path, day: date, target: str, support_users: int = 7) -> Path:
    """A one-row rewrite table for `day`: KITCHEN -> `target`."""
    source = normalize_utterance(KITCHEN)
    frame = pl.DataFrame(
        {
            "source_text": [source],
            "rewrite_text": [target],
            "rewrite_id": [rewrite_id(source, target)],
            "confidence": [0.9],
            "support_users": [support_users],
        }
    )
    return write_export(exports, day, frame, {"window_start": str(day), "window_end": str(day)})
