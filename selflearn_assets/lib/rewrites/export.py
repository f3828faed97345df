"""`exports/rewrites/date=D/rewrites.parquet` + `manifest.json` (+ `evaluation.json` once evaluated).

The folder is written next to its final place and renamed into it (`day_folders.atomic_folder_write`), so a
reader never sees half a table; re-exporting a day replaces the folder. The manifest records what was exported
and how (window, parameters, the miner's report, row count and the parquet's sha256).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from selflearn_assets.lib.day_folders import atomic_folder_write, latest_day, sha256
from selflearn_assets.lib.export_pins import PinError, serving_day
from selflearn_assets.lib.markov.normalize import normalize_utterance

TABLE = "rewrites.parquet"
MANIFEST = "manifest.json"
EVALUATION = "evaluation.json"


class RewriteExportError(Exception):
    """No usable rewrite export where one was asked for; the message says where it looked."""


def export_folder(exports_root: str | Path, day: date) -> Path:
    return Path(exports_root) / "rewrites" / f"date={day.isoformat()}"


def write_export(exports_root: str | Path, day: date, table: pl.DataFrame, manifest: dict) -> Path:
    """Write the table and its manifest for `day`, atomically replacing any earlier export of that day."""
    final = export_folder(exports_root, day)
    with atomic_folder_write(final) as staging:
        table.write_parquet(staging / TABLE)
        full = {
            **manifest,
            "date": day.isoformat(),
            "rows": table.height,
            "columns": {c: str(t) for c, t in table.schema.items()},
            "sha256": {TABLE: sha256(staging / TABLE)},
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, default=str) + "\n")
    return final


def read_export(folder: Path) -> tuple[pl.DataFrame, dict]:
    table_path, manifest_path = folder / TABLE, folder / MANIFEST
    if not table_path.exists() or not manifest_path.exists():
        raise RewriteExportError(f"{folder} is not a rewrite export (needs {TABLE} and {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    expected = manifest.get("sha256", {}).get(TABLE)
    if expected and expected != sha256(table_path):
        raise RewriteExportError(f"{table_path} does not match the checksum in its manifest")
    return pl.read_parquet(table_path), manifest


def latest_export(exports_root: str | Path, before: date | None = None, on_or_before: date | None = None) -> Path | None:
    """The newest export folder strictly before `before` (or on or before `on_or_before`), or None."""
    day = latest_day(Path(exports_root) / "rewrites", MANIFEST, before=before, on_or_before=on_or_before)
    return export_folder(exports_root, day) if day is not None else None


def serving_export(exports_root: str | Path) -> Path | None:
    """The table the runtime serves: the pinned day's (`export_pins`, `selflearn pin rewrites DATE`), else the
    newest; None when there is none. A pin whose export is gone is a RewriteExportError. Unlike
    `latest_export`, which the assets use for the export deployed before a day, a pin moves this choice."""
    try:
        day = serving_day(Path(exports_root) / "rewrites", MANIFEST)
    except PinError as err:
        raise RewriteExportError(str(err)) from None
    return export_folder(exports_root, day) if day is not None else None


def lookup(table: pl.DataFrame, text: str) -> dict | None:
    """The rewrite row for a request as the runtime would match it (normalised text), or None."""
    key = normalize_utterance(text)
    hit = table.filter(pl.col("source_text") == key)
    return hit.row(0, named=True) if hit.height else None
