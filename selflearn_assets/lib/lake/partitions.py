"""The lake: daily tables as Parquet partitions under one root (`$SELFLEARN_LAKE`, by default
`$SELFLEARN_HOME/lake`; a local folder, or an fsspec URL).

Layout, per table `<schema>.<table>` (`tables.LAKE_TABLES`):

    <root>/<schema>/<table>/date=YYYY-MM-DD/data.parquet   one file per day: the day's rows, `day` column included
    <root>/<schema>/<table>/_schema/data.parquet           no row: the table's columns, so that an empty table
                                                           reads as an empty, typed table

Readers (the warehouse's views, `read`) take `<root>/<schema>/<table>/*/data.parquet`.

**The publish rule.** A partition is written whole to a temporary file in its folder,
`.data.parquet.new-<pid>-<start>-<random>` (a name the readers' pattern never matches), flushed and fsynced, then
renamed over `data.parquet` in one step: `os.replace` on the local disk (atomic on POSIX; the folder is fsynced
after), the file system's `mv` under fsspec (on an object store one object written whole). There is one name per
day, so a reader opens the previous file or the new one: never half of one, never both. Re-writing a day
replaces it. A crash before the rename leaves the previous partition as it was, and a temporary file: recovery
(`recover`, which every write of the day runs first) removes the temporary files whose writer is gone (on the
local disk, a process of this host that no longer runs; under fsspec, or a name that does not tell, once older
than STALE_AFTER_S). Deleting a day removes its file (one unlink), then its empty folder.

Large days stream: `write_partition` takes an iterator of Arrow record batches and writes each as it comes
(pyarrow's ParquetWriter), so a day is never held at once; each batch is held to the table's schema file first
(`tables.conform`).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import IO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from selflearn_assets.lib import processes
from selflearn_assets.lib.lake.tables import align, conform, split_name, table_schema

DATA = "data.parquet"
SCHEMA_FOLDER = "_schema"
STALE_AFTER_S = 24 * 3600  # a temporary file whose writer cannot be told is removed once this old
_TEMP = re.compile(re.escape(f".{DATA}.new-") + r"(\d+)-(\d+)-[0-9a-f]+$")
_GLOB_CHARACTERS = set("*?[]{}")

Rows = pl.DataFrame | pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch]


@dataclass(frozen=True)
class Lake:
    """The lake at `root`: a local folder (a path, or a `file://` URL) or any other fsspec URL."""

    root: str

    def __post_init__(self) -> None:
        root = str(self.root)
        if root.startswith("file://"):
            root = root.removeprefix("file://")
        if "://" not in root:
            root = os.path.abspath(root)
        if _GLOB_CHARACTERS & set(root):
            raise ValueError(f"lake root {root!r}: no glob character ({''.join(sorted(_GLOB_CHARACTERS))})")
        object.__setattr__(self, "root", root.rstrip("/"))

    @cached_property
    def files(self) -> _Local | _Fsspec:
        return _Fsspec(self.root) if "://" in self.root else _Local()

    def folder(self, table: str) -> str:
        schema, name = split_name(table)
        return f"{self.root}/{schema}/{name}"

    def partition_file(self, table: str, day: date) -> str:
        return f"{self.folder(table)}/date={day.isoformat()}/{DATA}"

    def schema_file(self, table: str) -> str:
        return f"{self.folder(table)}/{SCHEMA_FOLDER}/{DATA}"

    def pattern(self, table: str) -> str:
        """What a reader globs: every day of `table` and its zero-row schema file."""
        return f"{self.folder(table)}/*/{DATA}"

    # --- writing ---------------------------------------------------------------------------------------------

    def write_partition(self, table: str, day: date, rows: Rows) -> int:
        """Publish `rows` as `day` of `table`, replacing the day (the publish rule above); returns the rows
        written. LakeSchemaError (nothing published) when a batch does not fit the table's schema file."""
        return self._write(table, self.partition_file(table, day), day, rows)

    def write_schema_file(self, table: str) -> None:
        """(Re)write the table's zero-row schema file, when it is missing or no longer the schema file's."""
        path = self.schema_file(table)
        if self.files.exists(path):
            with self.files.open_read(path) as f:
                if pq.read_schema(f).remove_metadata() == table_schema(table).remove_metadata():
                    return
        self._write(table, path, None, [])

    def delete_partition(self, table: str, day: date) -> bool:
        """Remove `day` of `table` (its file, then its folder when empty); False when there was none."""
        path = self.partition_file(table, day)
        if not self.files.exists(path):
            return False
        self.files.remove(path)
        self.recover(table, day)
        self.files.remove_empty_folder(path.rsplit("/", 1)[0])
        return True

    def recover(self, table: str, day: date | None = None) -> list[str]:
        """Remove the temporary files that writers of `table` (of `day`, or of every day) left when they were
        killed before publishing; the published partitions are untouched. Returns what was removed."""
        folders = [f"{self.folder(table)}/date={day.isoformat()}"] if day else self._subfolders(table)
        removed = []
        for folder in folders:
            for name in self.files.list(folder):
                if name.startswith(f".{DATA}.new-") and self._writer_gone(f"{folder}/{name}", name):
                    self.files.remove(f"{folder}/{name}")
                    removed.append(f"{folder}/{name}")
        return removed

    def _write(self, table: str, path: str, day: date | None, rows: Rows) -> int:
        folder = path.rsplit("/", 1)[0]
        self.files.makedirs(folder)
        if day is not None:
            self.recover(table, day)
        me = processes.current()
        temp = f"{folder}/.{DATA}.new-{me.pid}-{me.started or 0}-{secrets.token_hex(4)}"
        written = 0
        try:
            with self.files.open_write(temp) as f:
                with pq.ParquetWriter(f, table_schema(table), compression="zstd") as writer:
                    for batch in _batches(rows):
                        if day is None:
                            raise ValueError("the schema file holds no row")
                        part = conform(batch, table, day)
                        if part.num_rows:
                            writer.write_table(part)
                            written += part.num_rows
                self.files.sync(f)
            _publish(self.files, temp, path)
        except BaseException:
            self.files.remove(temp, missing_ok=True)
            raise
        return written

    def _writer_gone(self, path: str, name: str) -> bool:
        match = _TEMP.match(name)
        if match and isinstance(self.files, _Local):
            pid, started = int(match[1]), "" if match[2] == "0" else match[2]
            return processes.ProcessId(pid, processes.current().host, started).alive() is False
        return time.time() - self.files.mtime(path) > STALE_AFTER_S

    # --- reading ---------------------------------------------------------------------------------------------

    def days(self, table: str) -> list[date]:
        """The days `table` has a partition of, in order."""
        out = []
        for name in self.files.list(self.folder(table)):
            try:
                day = date.fromisoformat(name.removeprefix("date="))
            except ValueError:
                continue
            if name.startswith("date=") and self.files.exists(self.partition_file(table, day)):
                out.append(day)
        return sorted(out)

    def read_partition(self, table: str, day: date) -> pa.Table | None:
        """The rows of `day` of `table` (None when the day has no partition), in the schema file's types."""
        path = self.partition_file(table, day)
        try:
            with self.files.open_read(path) as f:
                return align(pq.read_table(f), table)
        except FileNotFoundError:
            return None

    def iter_batches(self, table: str, day: date, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The rows of `day` of `table` in batches of at most `batch_rows`, streamed (nothing when no partition)."""
        try:
            f = self.files.open_read(self.partition_file(table, day))
        except FileNotFoundError:
            return
        with f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
                yield from align(pa.Table.from_batches([batch]), table).to_batches()

    def read(self, table: str, days: Iterable[date] | None = None) -> pa.Table:
        """The rows of `table` on `days` (every day when None), day by day; an empty, typed table when none."""
        wanted = self.days(table) if days is None else sorted(set(days))
        parts = [t for d in wanted if (t := self.read_partition(table, d)) is not None]
        return pa.concat_tables(parts) if parts else table_schema(table).empty_table()

    def _subfolders(self, table: str) -> list[str]:
        return [f"{self.folder(table)}/{name}" for name in self.files.list(self.folder(table))]


def _publish(files: _Local | _Fsspec, temp: str, final: str) -> None:
    """The one step that makes a written partition visible (a test injects a crash here)."""
    files.publish(temp, final)


def _batches(rows: Rows) -> Iterator[pa.RecordBatch]:
    if isinstance(rows, pl.DataFrame):
        rows = rows.to_arrow()
    if isinstance(rows, pa.Table):
        yield from rows.to_batches()
    elif isinstance(rows, pa.RecordBatch):
        yield rows
    else:
        yield from rows  # a RecordBatchReader or any iterable of batches


class _Local:
    """The local disk, through `os` only."""

    def makedirs(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)

    def open_write(self, path: str) -> IO[bytes]:
        return open(path, "xb")

    def sync(self, f: IO[bytes]) -> None:
        f.flush()
        os.fsync(f.fileno())

    def publish(self, temp: str, final: str) -> None:
        os.replace(temp, final)
        fd = os.open(os.path.dirname(final), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def open_read(self, path: str) -> IO[bytes]:
        return open(path, "rb")

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def remove(self, path: str, missing_ok: bool = False) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def remove_empty_folder(self, folder: str) -> None:
        try:
            os.rmdir(folder)
        except OSError:
            pass  # not empty (a writer's temporary file), or gone

    def list(self, folder: str) -> list[str]:
        try:
            return sorted(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def mtime(self, path: str) -> float:
        return os.stat(path).st_mtime


class _Fsspec:
    """Any other file system, through fsspec (its paths are the lake's URLs without their protocol)."""

    def __init__(self, root: str) -> None:
        import fsspec

        self.fs, _ = fsspec.core.url_to_fs(root)

    def _path(self, url: str) -> str:
        return self.fs._strip_protocol(url)

    def makedirs(self, folder: str) -> None:
        self.fs.makedirs(self._path(folder), exist_ok=True)

    def open_write(self, path: str) -> IO[bytes]:
        return self.fs.open(self._path(path), "wb")

    def sync(self, f: IO[bytes]) -> None:
        f.flush()

    def publish(self, temp: str, final: str) -> None:
        self.fs.mv(self._path(temp), self._path(final))

    def open_read(self, path: str) -> IO[bytes]:
        return self.fs.open(self._path(path), "rb")

    def exists(self, path: str) -> bool:
        return self.fs.exists(self._path(path))

    def remove(self, path: str, missing_ok: bool = False) -> None:
        try:
            self.fs.rm(self._path(path))
        except FileNotFoundError:
            if not missing_ok:
                raise

    def remove_empty_folder(self, folder: str) -> None:
        path = self._path(folder)
        try:
            if self.fs.isdir(path) and not self.fs.ls(path):
                self.fs.rmdir(path)
        except (OSError, NotImplementedError):
            pass

    def list(self, folder: str) -> list[str]:
        try:
            return sorted(
                p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self._path(folder), detail=False)
            )
        except FileNotFoundError:
            return []

    def mtime(self, path: str) -> float:
        modified = self.fs.modified(self._path(path))
        return modified.timestamp()
