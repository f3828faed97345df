"""The exports of a forgotten customer: their rows leave every published label release and online bundle.

A folder is written again whole, beside its place, and renamed into it (`day_folders.atomic_folder_write`, as
the assets write them): a reader, and a running `selflearn serve`, sees the folder before or after, never half
of it, and the runtime's next poll finds the bundle it serves changed and loads it again.

- **Label releases** `exports/labels/date=D/`: the rows of the customer's turns of day D leave
  `labels.parquet`; the manifest's row counts and sha256s follow, the data card is rendered again, and
  `forgotten` records when and how many rows left (no id). The other rows are the published ones, unchanged;
  the gates are not evaluated again (the release passed them; the turns it still accounts for are the clean
  turns the warehouse keeps).
- **Online bundles** `exports/online/date=D/`: the customer's rows leave `personal_entries.parquet` and their
  vectors `personal_vectors.npy`; the manifest's `personal_entries`, `personal_users` and the two files'
  sha256s follow, with `forgotten`. The other files are hard links to the previous folder's (copies where a
  link cannot be made). The global layer holds no pseudonym (see forget.py for what aggregates keep).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from selflearn_assets.lib.day_folders import atomic_folder_write, sha256
from selflearn_assets.lib.online.bundle import MANIFEST as BUNDLE_MANIFEST
from selflearn_assets.lib.releases.datacard import render_datacard
from selflearn_assets.lib.releases.publish import DATACARD, MANIFEST, TABLE, row_counts

PERSONAL_ENTRIES, PERSONAL_VECTORS = "personal_entries.parquet", "personal_vectors.npy"
REWRITTEN = (PERSONAL_ENTRIES, PERSONAL_VECTORS, BUNDLE_MANIFEST)  # a bundle's files that forgetting changes


@dataclass(frozen=True)
class FolderChange:
    folder: Path
    day: date
    rows: int  # rows of the customer that left it (or would leave it, in a dry run)


def _day_folders(root: Path, marker: str) -> list[tuple[date, Path]]:
    found = []
    for folder in sorted(root.glob("date=*")) if root.is_dir() else []:
        try:
            day = date.fromisoformat(folder.name.removeprefix("date="))
        except ValueError:
            continue
        if (folder / marker).is_file():
            found.append((day, folder))
    return found


def _note(manifest: dict, rows: int) -> None:
    """Append to the manifest's record of forgetting: when, and how many rows left (never whose)."""
    at = datetime.now(UTC).isoformat(timespec="seconds")
    manifest["forgotten"] = [*manifest.get("forgotten", []), {"at": at, "rows_removed": rows}]


def forget_in_releases(exports_root: Path, events: dict[date, set[str]], dry_run: bool) -> list[FolderChange]:
    """Republish each release folder holding rows of `events` (day -> the customer's event ids), without
    them."""
    changes = []
    for day, folder in _day_folders(Path(exports_root) / "labels", MANIFEST):
        ids = events.get(day)
        if not ids:
            continue
        table = pl.read_parquet(folder / TABLE)
        theirs = table["event_id"].is_in(sorted(ids))
        removed = int(theirs.sum())
        if not removed:
            continue
        changes.append(FolderChange(folder, day, removed))
        if not dry_run:
            _republish(folder, table.filter(~theirs), removed)
    return changes


def _republish(folder: Path, kept: pl.DataFrame, removed: int) -> None:
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest.pop("sha256", None)
    manifest.update(rows=kept.height, row_counts=row_counts(kept))
    _note(manifest, removed)
    with atomic_folder_write(folder) as staging:
        kept.write_parquet(staging / TABLE)
        (staging / DATACARD).write_text(render_datacard(manifest), encoding="utf-8")
        manifest["sha256"] = {TABLE: sha256(staging / TABLE), DATACARD: sha256(staging / DATACARD)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")


def forget_in_bundles(exports_root: Path, pseudonyms: list[str], dry_run: bool) -> list[FolderChange]:
    """Write each online bundle holding personal entries of `pseudonyms` again without them."""
    changes = []
    for day, folder in _day_folders(Path(exports_root) / "online", BUNDLE_MANIFEST):
        entries = pl.read_parquet(folder / PERSONAL_ENTRIES)
        theirs = entries["user_id"].is_in(pseudonyms)
        removed = int(theirs.sum())
        if not removed:
            continue
        changes.append(FolderChange(folder, day, removed))
        if not dry_run:
            _rewrite_bundle(folder, entries, theirs.to_numpy(), removed)
    return changes


def _rewrite_bundle(folder: Path, entries: pl.DataFrame, theirs: np.ndarray, removed: int) -> None:
    manifest = json.loads((folder / BUNDLE_MANIFEST).read_text())
    vectors = np.load(folder / PERSONAL_VECTORS)
    kept = entries.filter(pl.Series(~theirs))
    with atomic_folder_write(folder) as staging:
        for path in sorted(folder.rglob("*")):
            target = staging / path.relative_to(folder)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif path.parent != folder or path.name not in REWRITTEN:
                _link_or_copy(path, target)  # the same bytes: a hard link
        kept.write_parquet(staging / PERSONAL_ENTRIES)
        np.save(staging / PERSONAL_VECTORS, vectors[~theirs])
        files = manifest.setdefault("files", {})  # the files the manifest checks: only these two changed
        for name in (PERSONAL_ENTRIES, PERSONAL_VECTORS):
            if name in files:
                files[name] = sha256(staging / name)
        manifest.update(personal_entries=kept.height, personal_users=kept["user_id"].n_unique())
        _note(manifest, removed)
        (staging / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
