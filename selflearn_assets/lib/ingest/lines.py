"""The raw files of one partition as numbered lines, read without parsing, for validation in DuckDB.

`read_lines` gives an Arrow table with one row per line of a file: `file_idx`, `line` (1-based), `text`,
and `bad_utf8`. Plain `.jsonl` files are memory-mapped and split on `\\n` with numpy, so the text column
points into the file without a copy; `.jsonl.gz` files are decompressed in memory first. A `.parquet`
file gives one "line" per row, rendered as a JSON object by DuckDB.

Line rules: every `\n` ends a line, and text after the last `\n` is one more line (so a file that ends
with a newline has no empty last line); blank lines in the middle are lines; a leading UTF-8 byte-order
mark is skipped; an empty file has no lines. A line that is not valid UTF-8 keeps its place, its text
decoded with U+FFFD replacement characters and `bad_utf8` set.

A file that cannot be read at all (corrupt or truncated gzip or Parquet, unreadable on disk) contributes one
row with `line` 0 and `text` NULL, and an error message naming the file: ingestion quarantines it as
`unreadable_file` rather than failing the whole day. A damaged file is not trusted in part (which of its lines
are whole cannot be known), so `estimate_lines_held` says how many lines it probably held, for the day's gate.

Which files are read (`list_raw_files`): those directly in the day folder whose names end, in any case, with
`.jsonl`, `.ndjson` (the same format under its other common name), either of them plus `.gz`, or `.parquet`.
Every other file under the folder, subfolders included, is listed by `list_skipped_files` with why it is not
read: nothing there is passed over without a word. Names starting with "." or "_" (`.DS_Store`, `_SUCCESS`)
are hidden or marker files by convention: listed, but not counted as lost data.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selflearn_assets.lib.sql import query

READ_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".parquet")  # matched case-insensitively
FALLBACK_LINE_BYTES = 512  # the size of a line when a day has no readable line to measure
BATCH_ROWS = 61_440  # Arrow batches of this size let DuckDB scan the lines on every core
_NEWLINE_CHUNK = 1 << 22
_BOM = b"\xef\xbb\xbf"

LINES_SCHEMA = pa.schema(
    [("file_idx", pa.int32()), ("line", pa.int64()), ("text", pa.large_string()), ("bad_utf8", pa.bool_())]
)


def list_raw_files(folder: Path) -> list[Path]:
    """The raw files of a partition folder, sorted by name (the order that decides "first" for duplicates)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and _skip_reason(p, folder) is None]
    return sorted(found, key=lambda p: p.name)


def list_skipped_files(folder: Path) -> list[tuple[Path, str]]:
    """Every other file under a partition folder (subfolders included), sorted, with why it is not read."""
    if not folder.is_dir():
        return []
    skipped = [(p, _skip_reason(p, folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()]
    return sorted(((p, why) for p, why in skipped if why is not None), key=lambda pw: pw[0].as_posix())


def is_marker(path: Path) -> bool:
    """A hidden or marker file (`.DS_Store`, `_SUCCESS`): skipped, listed, not counted as lost data."""
    return path.name.startswith((".", "_"))


def _skip_reason(path: Path, folder: Path) -> str | None:
    if is_marker(path):
        return "hidden or marker file (name starts with '.' or '_'); not counted"
    if path.parent != folder:
        return f"in a subfolder ({path.parent.relative_to(folder).as_posix()}/): only files directly in {folder.name}/ are read"
    if not path.is_file():
        return "not a regular file"
    name = path.name.lower()
    if name.endswith(READ_SUFFIXES):
        return None
    if name.endswith(".json"):
        return "a .json file may be one JSON document rather than one object per line; name JSON lines .jsonl"
    if name.endswith((".bz2", ".xz", ".zst", ".zip", ".lz4", ".snappy")):
        return f"compression {path.suffix} is not supported (use gzip: .jsonl.gz)"
    return "not a raw log format (read: " + ", ".join(READ_SUFFIXES) + ", in any case)"


def estimate_lines_held(path: Path, mean_line_bytes: float | None) -> int:
    """How many lines a file that was not read probably held, at least 1 for a non-empty file: its bytes over
    the mean line size of the day's readable lines (FALLBACK_LINE_BYTES when there are none). For gzip: the lines
    that decompress before the damage, and the rest of its bytes (at the ratio seen so far) over the mean line."""
    try:
        size = path.stat().st_size
    except OSError:
        return 1
    if size == 0:
        return 0
    lines, rest = 0, float(size)
    if path.name.lower().endswith(".gz"):
        out, lines, consumed, tail = _gunzip_prefix(path)
        rest = tail + (size - consumed) * (out / consumed if consumed else 1.0)
        if not mean_line_bytes and lines:
            mean_line_bytes = (out - tail) / lines
    return max(1, lines + round(rest / (mean_line_bytes or FALLBACK_LINE_BYTES)))


def _gunzip_prefix(path: Path, chunk: int = 1 << 16) -> tuple[int, int, int, int]:
    """Decompress a gzip file as far as it goes: (bytes out, newlines out, compressed bytes consumed, bytes out
    after the last newline)."""
    out = newlines = consumed = tail = 0
    decompressor, data = zlib.decompressobj(wbits=31), b""
    with path.open("rb") as f:
        while data or (data := f.read(chunk)):
            try:
                piece = decompressor.decompress(data)
            except zlib.error:
                break
            out, count = out + len(piece), piece.count(b"\n")
            newlines, tail = newlines + count, (len(piece) - 1 - piece.rindex(b"\n")) if count else tail + len(piece)
            consumed += len(data) - len(decompressor.unused_data)
            data = decompressor.unused_data
            if decompressor.eof:  # a gzip file may hold several members, one after the other
                decompressor = zlib.decompressobj(wbits=31)
    return out, newlines, consumed, tail


def read_lines(path: Path, file_idx: int) -> tuple[pa.Table, str | None]:
    """Every line of one file (LINES_SCHEMA), and why the file could not be read (None when it could)."""
    try:
        table = _parquet_lines(path) if path.name.lower().endswith(".parquet") else _jsonl_lines(path)
        error = None
    except (OSError, EOFError, zlib.error, pa.ArrowException, duckdb.Error) as exc:
        return unread_file_lines(file_idx), f"cannot read {path.name}: {type(exc).__name__}: {exc}"
    table = table.add_column(0, "file_idx", pa.array(np.full(table.num_rows, file_idx, dtype=np.int32)))
    table = table.select(LINES_SCHEMA.names).cast(LINES_SCHEMA)
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS), LINES_SCHEMA), error


def unread_file_lines(file_idx: int) -> pa.Table:
    """The one row (`line` 0, `text` NULL) that stands for a file that was not read."""
    return pa.table(
        {
            "file_idx": pa.array([file_idx], pa.int32()),
            "line": pa.array([0], pa.int64()),
            "text": pa.nulls(1, pa.large_string()),
            "bad_utf8": pa.array([False]),
        },
        schema=LINES_SCHEMA,
    )


def _jsonl_lines(path: Path) -> pa.Table:
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as f:
            data = pa.py_buffer(f.read())
    else:
        data = pa.memory_map(str(path), "r").read_buffer()
    return _split_lines(data)


def _split_lines(data: pa.Buffer) -> pa.Table:
    """Zero-copy split of a buffer into lines; each line keeps its trailing newline (JSON ignores it)."""
    size = data.size
    if size == 0:
        return pa.table(
            {
                "line": pa.array([], pa.int64()),
                "text": pa.array([], pa.large_string()),
                "bad_utf8": pa.array([], pa.bool_()),
            }
        )
    start = 3 if bytes(memoryview(data)[:3]) == _BOM else 0
    offsets = np.concatenate([[start], _newline_ends(data, start)]).astype(np.int64)
    if offsets[-1] < size:  # a last line without a newline
        offsets = np.append(offsets, size)
    n = len(offsets) - 1
    text = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), data)
    bad = np.zeros(n, dtype=bool)
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:  # some line is not UTF-8: decode line by line, replacing bad bytes
        raw = memoryview(data)
        decoded = []
        for i in range(n):
            chunk = bytes(raw[offsets[i] : offsets[i + 1]])
            try:
                decoded.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                decoded.append(chunk.decode("utf-8", errors="replace"))
                bad[i] = True
        text = pa.array(decoded, pa.large_string())
    return pa.table({"line": pa.array(np.arange(1, n + 1)), "text": text, "bad_utf8": pa.array(bad)})


def _newline_ends(data: pa.Buffer, start: int) -> np.ndarray:
    """Offsets just past every newline, found chunk by chunk to keep the scratch memory small."""
    buf = np.frombuffer(data, dtype=np.uint8)
    scratch = np.empty(min(_NEWLINE_CHUNK, len(buf)), dtype=bool)
    parts = []
    for lo in range(start, len(buf), _NEWLINE_CHUNK):
        chunk = buf[lo : lo + _NEWLINE_CHUNK]
        hits = scratch[: len(chunk)]
        np.equal(chunk, 10, out=hits)
        parts.append(np.flatnonzero(hits) + (lo + 1))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _parquet_lines(path: Path) -> pa.Table:
    """One JSON object per Parquet row. A timestamp `ts` column becomes ISO-8601 text with an offset
    (naive timestamps are taken as UTC), so it meets the same contract as JSON lines."""
    rows = pq.read_table(path)
    if "ts" in rows.column_names and pa.types.is_timestamp(rows.schema.field("ts").type):
        ts = rows.column("ts").cast(pa.timestamp("us", "UTC"))
        iso = pc.strftime(ts, format="%Y-%m-%dT%H:%M:%S%z")
        rows = rows.set_column(rows.column_names.index("ts"), "ts", iso)
    with duckdb.connect() as con:  # a private in-memory connection: the warehouse is not needed here
        con.register("parquet_rows", rows)
        text = query(con, "ingest/parquet_lines.sql").to_arrow_table()
    n = rows.num_rows
    return pa.table(
        {
            "line": pa.array(np.arange(1, n + 1)),
            "text": text.column("text"),
            "bad_utf8": pa.array(np.zeros(n, dtype=bool)),
        }
    )
