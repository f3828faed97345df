"""A forgotten customer's lines leave the runtime log of taught preferences (`online/preferences.py`).

The log `$SELFLEARN_HOME/online/preferences.jsonl` is written again without every line whose `user_id` is one
of the customer's pseudonyms (and without any unreadable line that holds one: a torn or garbled line is never
kept for them): to a temporary file beside it (owner only, like the log), fsynced, renamed over the log and
the folder fsynced. A running `selflearn serve` sees the log's inode change at its next poll and replays it
(`PreferenceStore.refresh`), so their items leave its memory too.

Other processes append to the log (`selflearn teach`, `POST /teach`) without a lock. A line appended while the
log is rewritten is not lost: the rewrite starts again when the log changed before the rename, and a line that
reached the old file after the rename (a writer that had opened it before) is carried over to the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from selflearn_assets.lib.online.preferences import write_synced

ATTEMPTS = 5


def _theirs(line: bytes, pseudonyms: set[str]) -> bool:
    try:
        row = json.loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        row = None
    if isinstance(row, dict) and isinstance(row.get("user_id"), str):
        return row["user_id"] in pseudonyms
    return any(p.encode() in line for p in pseudonyms)  # unreadable: theirs if it holds a pseudonym of theirs


def _split(data: bytes, pseudonyms: set[str]) -> tuple[bytes, int]:
    """(the lines to keep, how many lines are theirs)."""
    lines = data.splitlines(keepends=True)
    kept = [line for line in lines if not (line.strip() and _theirs(line, pseudonyms))]
    return b"".join(kept), len(lines) - len(kept)


def forget_lines(path: Path, pseudonyms: list[str], dry_run: bool) -> int:
    """Rewrite the log at `path` without the lines of `pseudonyms`; the number of lines removed."""
    wanted = set(pseudonyms)
    for _ in range(ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            data = _read_from(fd, 0)
            kept, removed = _split(data, wanted)
            if not removed or dry_run:
                return removed
            tmp = path.with_name(f".{path.name}.forget-{os.getpid()}")
            _write(tmp, kept)
            if os.fstat(fd).st_size != len(data):  # appended meanwhile: read it again
                tmp.unlink()
                continue
            os.replace(tmp, path)
            late = _read_from(fd, len(data))  # a writer that had opened the old file before the rename
            if late:
                _append(path, _split(late, wanted)[0])
            _fsync_dir(path.parent)
            return removed
        finally:
            os.close(fd)
    raise OSError(f"{path} kept changing while it was rewritten ({ATTEMPTS} attempts): run forget-user again")


def _read_from(fd: int, offset: int) -> bytes:
    chunks = []
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner only
    try:
        write_synced(fd, data)
    finally:
        os.close(fd)


def _append(path: Path, data: bytes) -> None:
    if not data:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        write_synced(fd, data)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
