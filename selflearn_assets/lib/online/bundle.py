"""`exports/online/date=D/`: everything the runtime loads, written atomically with a manifest of sha256s.

| file                      | what                                                                    |
|---------------------------|-------------------------------------------------------------------------|
| global_entries.parquet    | `entries.GLOBAL_COLUMNS`, one row per text said by >= min_users users   |
| global_vectors.npy        | float16 unit vectors, row-aligned with the entries (memory-mapped)      |
| global.usearch            | the ANN index over the candidate rows (memory-mapped on load)           |
| global_char.usearch       | the character-trigram index over the same rows (`char_channel`)         |
| personal_entries.parquet  | `entries.PERSONAL_COLUMNS`, user_id pseudonymised as in the logs        |
| personal_vectors.npy      | float16 unit vectors, row-aligned with the personal entries             |
| blocked_pairs.parquet     | (source_text, rewrite_text) the self-aware rule dropped (`self_aware`)  |
| encoder/                  | the static request encoder (`static_encoder`)                           |
| ranker.joblib             | the calibrated ranker and its threshold (`ranker`)                      |
| manifest.json             | day, counts, parameters, gates, the pseudonym key's fingerprint, sha256 of every file |

Loading checks every file against its sha256 first: a bundle changed or cut short after it was written is
refused, naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from selflearn_assets.lib.day_folders import atomic_folder_write, latest_day, sha256
from selflearn_assets.lib.export_pins import PinError, serving_day
from selflearn_assets.lib.online.layers import Layers
from selflearn_assets.lib.online.ranker import Ranker
from selflearn_assets.lib.online.static_encoder import StaticEncoder
from selflearn_assets.lib.online.vector_index import VectorIndex

MANIFEST = "manifest.json"
BLOCKED = "blocked_pairs.parquet"
KIND = "online"


class BundleError(Exception):
    """An online export that cannot be used; the message says which and why."""


def bundle_folder(exports_root: str | Path, day: date) -> Path:
    return Path(exports_root) / KIND / f"date={day.isoformat()}"


def latest_bundle(exports_root: str | Path, on_or_before: date | None = None) -> Path | None:
    day = latest_day(Path(exports_root) / KIND, MANIFEST, on_or_before=on_or_before)
    return bundle_folder(exports_root, day) if day is not None else None


def serving_bundle(exports_root: str | Path) -> Path | None:
    """The bundle the runtime serves: the pinned day's (`export_pins`, `selflearn pin online DATE`), else the
    newest; None when there is none. A pin whose bundle is gone is a BundleError."""
    try:
        day = serving_day(Path(exports_root) / KIND, MANIFEST)
    except PinError as err:
        raise BundleError(str(err)) from None
    return bundle_folder(exports_root, day) if day is not None else None


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def write_bundle(
    exports_root: str | Path,
    day: date,
    layers: Layers,
    encoder_folder: Path,
    ranker: Ranker,
    manifest: dict,
) -> Path:
    """Write the bundle for `day`, atomically replacing an earlier one of that day."""
    import shutil

    final = bundle_folder(exports_root, day)
    with atomic_folder_write(final) as staging:
        layers.global_entries.write_parquet(staging / "global_entries.parquet")
        np.save(staging / "global_vectors.npy", layers.g_vectors.astype(np.float16))
        layers.index.save(staging / "global.usearch")
        layers.char_index.save(staging / "global_char.usearch")
        layers.personal_entries.write_parquet(staging / "personal_entries.parquet")
        np.save(staging / "personal_vectors.npy", layers.p_vectors.astype(np.float16))
        layers.blocked_pairs.write_parquet(staging / BLOCKED)
        shutil.copytree(encoder_folder, staging / "encoder")
        ranker.save(staging / "ranker.joblib")
        full = {
            **manifest,
            "kind": KIND,
            "date": day.isoformat(),
            "global_entries": layers.global_entries.height,
            "global_candidates": int(layers.g_candidate.sum()),
            "personal_entries": layers.personal_entries.height,
            "personal_users": len(layers.p_blocks),
            "blocked_pairs": layers.blocked_pairs.height,
            "threshold": ranker.threshold,
            "files": _files(staging),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, default=str))
    return final


@dataclass
class Bundle:
    folder: Path
    manifest: dict
    layers: Layers
    encoder: StaticEncoder
    ranker: Ranker


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder} has no {MANIFEST}: not an online export (or one still being written)")
    return json.loads(path.read_text())


def verify(folder: Path, manifest: dict) -> None:
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{folder}: {name} is missing (listed in {MANIFEST})")
        if sha256(path) != digest:
            raise BundleError(
                f"{folder}: {name} does not match its sha256 in {MANIFEST}: changed after export"
            )


def load_bundle(folder: str | Path, check: bool = True) -> Bundle:
    folder = Path(folder)
    manifest = read_manifest(folder)
    if check:
        verify(folder, manifest)
    g_vectors = np.load(folder / "global_vectors.npy", mmap_mode="r")
    p_vectors = np.load(folder / "personal_vectors.npy").astype(np.float32)
    layers = Layers(
        pl.read_parquet(folder / "global_entries.parquet"),
        g_vectors,
        pl.read_parquet(folder / "personal_entries.parquet"),
        p_vectors,
        index=VectorIndex.load(folder / "global.usearch"),
        char_index=VectorIndex.load(folder / "global_char.usearch"),
        blocked=pl.read_parquet(folder / BLOCKED) if (folder / BLOCKED).is_file() else None,  # older bundles
    )
    return Bundle(
        folder, manifest, layers, StaticEncoder(folder / "encoder"), Ranker.load(folder / "ranker.joblib")
    )
