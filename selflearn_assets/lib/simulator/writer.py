"""Sharded JSON-lines files for one day, replaced atomically when the day is complete."""

from __future__ import annotations

from pathlib import Path

FLUSH_LINES = 4096


class DayWriter:
    """Writes `part-00000.jsonl`, `part-00001.jsonl`, ... (a new part every `shard_lines` lines) into `folder`.

    Parts are written as `*.jsonl.tmp` and renamed over the folder's previous parts by `close()`, so a
    crash leaves the previous day intact and a re-run replaces it.
    """

    def __init__(self, folder: Path, shard_lines: int) -> None:
        self.folder = folder
        self.shard_lines = shard_lines
        self.lines = 0
        self._buf: list[bytes] = []
        self._tmp: list[Path] = []
        self._file = None
        self._in_part = 0

    def write(self, line: bytes) -> None:
        if self._file is None or self._in_part >= self.shard_lines:
            self._open_part()
        self._buf.append(line)
        self._in_part += 1
        self.lines += 1
        if len(self._buf) >= FLUSH_LINES:
            self._flush()

    def write_many(self, lines: list[bytes]) -> None:
        if self._file is not None and self._in_part + len(lines) <= self.shard_lines:
            self._buf.extend(lines)
            self._in_part += len(lines)
            self.lines += len(lines)
            if len(self._buf) >= FLUSH_LINES:
                self._flush()
        else:
            for line in lines:
                self.write(line)

    def _open_part(self) -> None:
        if self._file is not None:
            self._flush()
            self._file.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"part-{len(self._tmp):05d}.jsonl.tmp"
        self._tmp.append(path)
        self._file = open(path, "wb")  # noqa: SIM115 (closed in _open_part/close)
        self._in_part = 0

    def _flush(self) -> None:
        if self._buf:
            self._file.write(b"".join(self._buf))
            self._buf.clear()

    def close(self) -> list[Path]:
        """Finish the day: swap the new parts in for the old ones; returns the parts written."""
        if self._file is not None:
            self._flush()
            self._file.close()
            self._file = None
        if self.folder.exists():
            for old in self.folder.glob("part-*.jsonl"):
                old.unlink()
        out = []
        for tmp in self._tmp:
            final = tmp.with_suffix("")  # drop ".tmp"
            tmp.replace(final)
            out.append(final)
        return out

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for tmp in self._tmp:
            tmp.unlink(missing_ok=True)
