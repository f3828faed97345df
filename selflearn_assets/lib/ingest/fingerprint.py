"""A short fingerprint of a raw partition's files (names, sizes, modification times), so a sensor can tell
a day that landed or changed from one it has already seen."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from selflearn_assets.lib.ingest.partitions import partition_folder


def partition_fingerprint(raw_root: str | Path, day: date) -> str:
    folder = partition_folder(raw_root, day)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
