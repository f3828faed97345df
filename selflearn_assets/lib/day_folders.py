"""Day folders of the exports (`<root>/date=YYYY-MM-DD/`, e.g. rewrite exports and label releases): written
atomically, found by date, their files checksummed for the manifest.

A folder is written under a dot-name beside its final place and renamed into it, so a reader (or a `date=*`
glob) sees the previous folder or the new one, never half of one; a crash while writing leaves the previous
folder where it was. The dot-names say which process wrote them (`.date=D.new-<pid>-<start>-<random>`, and
`.old-` for the previous folder while it is swapped out), so the next write of the same folder removes what a
killed writer left behind (and puts back a previous folder a kill left swapped out). Folders are created with
the umask's permissions, as `mkdir` would.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from selflearn_assets.lib import processes

# a dot-folder that does not name its writer (written by an older version) is removed once this old
STALE_AFTER_S = 24 * 3600


@contextmanager
def atomic_folder_write(final: Path) -> Iterator[Path]:
    """An empty staging folder to write into; when the block ends without an error, it replaces `final`.

    On an error the staging folder is removed and `final` is left as it was. Staging folders of `final` left
    by a writer that is gone are removed first (`clean_stale_staging`).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(final)
    staging = _dot_folder(final, "new")
    try:
        yield staging
        _swap(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _dot_folder(final: Path, kind: str) -> Path:
    """A new empty folder `.<final name>.<kind>-<pid>-<start>-<random>` beside `final` (umask permissions:
    not `tempfile.mkdtemp`, whose folders are private whatever the umask)."""
    me = processes.current()
    while True:
        path = final.parent / f".{final.name}.{kind}-{me.pid}-{me.started or 0}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _swap(staging: Path, final: Path) -> None:
    """Rename `staging` to `final`, replacing an earlier folder (moved aside under a dot-name first, so a
    `date=*` glob never matches it)."""
    old = None
    if final.exists():
        old = _dot_folder(final, "old")
        os.rename(final, old / final.name)
    os.rename(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clean_stale_staging(final: Path) -> list[Path]:
    """Remove the dot-folders of `final` whose writer is gone (a process of this host that no longer runs; a
    dot-folder that does not name its writer once it is older than STALE_AFTER_S). When `final` itself is
    missing, a previous folder a killed writer had swapped out is put back first. Returns what was removed."""
    stale = []
    if final.parent.is_dir():
        for path in sorted(final.parent.glob(f".{final.name}.*")):
            kind, writer = _writer(path, final)
            gone = writer.alive() is False if writer else time.time() - path.stat().st_mtime > STALE_AFTER_S
            if path.is_dir() and gone:
                stale.append((kind, path))
    for kind, path in stale:
        if kind == "old" and not final.exists() and (path / final.name).is_dir():
            os.rename(path / final.name, final)
    for _, path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return [path for _, path in stale]


def _writer(path: Path, final: Path) -> tuple[str, processes.ProcessId | None]:
    """(kind, writer) from a dot-folder's name; writer None when the name does not tell (an older format)."""
    parts = path.name[len(final.name) + 2 :].split("-")
    if len(parts) == 4 and parts[0] in ("new", "old") and parts[1].isdigit() and parts[2].isdigit():
        started = "" if parts[2] == "0" else parts[2]
        return parts[0], processes.ProcessId(int(parts[1]), processes.current().host, started)
    return "old" if parts[0].startswith("old") else "new", None


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
