"""Day folders of the exports (`<root>/date=YYYY-MM-DD/`, e.g. rewrite exports and label releases): written
atomically, found by date, their files checksummed for the manifest.

A folder is written under a dot-name beside its final place and renamed into it, so a reader (or a `date=*`
glob) sees the previous folder or the new one, never half of one; a crash while writing leaves the previous
folder where it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path


@contextmanager
def atomic_folder_write(final: Path) -> Iterator[Path]:
    """An empty staging folder to write into; when the block ends without an error, it replaces `final`.

    On an error the staging folder is removed and `final` is left as it was.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield staging
        _swap(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, final: Path) -> None:
    """Rename `staging` to `final`, replacing an earlier folder (moved aside under a dot-name first, so a
    `date=*` glob never matches it)."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.rename(final, old / final.name)
    os.rename(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def latest_day(
    root: Path, marker: str, before: date | None = None, on_or_before: date | None = None
) -> date | None:
    """The newest day D with a `root/date=D/<marker>` file, strictly before `before` (or on or before
    `on_or_before`); None when there is none."""
    if not root.is_dir():
        return None
    days = []
    for child in root.iterdir():
        if child.name.startswith("date=") and (child / marker).exists():
            try:
                days.append(date.fromisoformat(child.name[5:]))
            except ValueError:
                continue
    days = [d for d in days if (before is None or d < before) and (on_or_before is None or d <= on_or_before)]
    return max(days) if days else None


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (as recorded in the manifests)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
