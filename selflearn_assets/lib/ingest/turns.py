"""Raw turn logs of one day → `ingest.clean_turns` + `ingest.quarantined_turns` + `ingest.partition_stats`.

Python finds the files and cuts them into lines (lines.py), reading the next file on a helper thread while
DuckDB works; DuckDB validates and types every line in vectorised, multi-threaded passes per batch of files.
The day is built in temp tables (`store.py`: clean_turns and quarantined_turns live in the lake) within one
warehouse transaction: delete the day's partition_stats row; per batch, insert the lines that a first,
cheaper pass proves valid (fast_validated_turns.sql: each line parsed twice, for its keys and
its typed values); when some lines were left over, validate just those in full (validated_turns.sql: parsed
three times, it decides and words every verdict), insert the valid ones and quarantine the rest; move later
copies of duplicate event ids to quarantine; record the counts and check lines read = clean + quarantined;
commit; then publish the two tables' day partitions in the lake. Any failure before the commit leaves the day
as it was; a failure between the commit and the publishing leaves the day blocked (`store.py`).

Whole-file losses count: a file that cannot be read, or that is skipped for its name or place (lines.py says
which files are read), is one quarantined row at line 0 (`unreadable_file` / `skipped_file`), and the lines it
probably held beyond that row are estimated (`estimate_lines_held`) and recorded as
`partition_stats.lines_lost_estimate`, which the quarantine-rate gate counts. Hidden and marker files are listed
in `IngestStats.skipped_files` only. A day that had clean rows is never replaced by a day without any unless
`allow_empty_replace` says so (`EmptyReplaceError`), and the pseudonym key must match the neighbouring days' or
be a declared rotation (pseudonym_keys.py).

Policies (the reason codes are listed in validated_turns.sql):
- every top-level value must have the contract's JSON type (no coercion: "0.5" is not a score, 1.5 is
  not an integer); inside nested fields members are cast like json_transform does, and a missing or
  uncastable required member (nbest text/score, slot name/value, rewrite source/rewrite text) rejects
  the line; a JSON null counts as absent; an empty string counts as missing for the four ids;
- values outside the allowed sets (device_type, er_status, response_status, explicit_feedback) are
  rejected (`bad_value`), not mapped to NULL or "other";
- ts is ISO-8601 with a UTC offset (naive timestamps are ambiguous and rejected) or integer epoch ms;
- duplicate event ids: the first valid copy by (file name, line) is kept, later ones are quarantined as
  `duplicate_event_id` (same content) or `conflicting_duplicate_event_id` (different content);
- a line longer than `max_line_bytes` (default 8 MiB) is quarantined as `line_too_long`; a 1 MB text
  field is fine;
- a file that cannot be read (corrupt or truncated gzip/Parquet) is one quarantined `unreadable_file` row at
  line 0 (it counts as one line read), is named in `IngestStats.unreadable_files`, and the rest of what it held
  is in `lines_lost_estimate`;
- a line with a top-level key given twice is quarantined as `duplicate_key` (a JSON reader keeps one value);
- unknown top-level fields are kept, as one JSON object, in `extra`;
- no raw customer or device id is stored: user_id and device_id are keyed hashes (`pseudonym` in macros.sql),
  and in quarantined raw text and nested in `extra` every "user_id" and "device_id" value is replaced by its
  hash (`redact_ids`);
- a missing day folder is an error (`MissingPartitionError`), not an empty day, so that re-running a day
  whose raw files were cleaned up does not wipe it; an empty folder is an empty day.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selflearn_assets.lib.ingest.lines import (
    LINES_SCHEMA,
    estimate_lines_held,
    is_marker,
    list_raw_files,
    list_skipped_files,
    read_lines,
    unread_file_lines,
)
from selflearn_assets.lib.ingest.partitions import IngestError, turn_partition
from selflearn_assets.lib.ingest.pseudonym_keys import check_key, key_fingerprint, record_key
from selflearn_assets.lib.ingest.store import drop_staged, ensure_turn_tables, publish_day, stage_day
from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.sql import run_sql, transaction

MAX_LINE_BYTES = 8 * 1024 * 1024
BATCH_BYTES = 512 * 1024 * 1024  # raw text validated per statement: a batch of files, or one big file


class EmptyReplaceError(IngestError):
    """The new read of a day has no clean row while the warehouse holds clean rows for it."""


@dataclass(frozen=True)
class LostFile:
    """A file of the day that was not read: its one quarantined row stands for `lines_estimate` lines."""

    file: str  # relative to the raw root
    reason: str  # unreadable_file or skipped_file
    lines_estimate: int
    detail: str


@dataclass(frozen=True)
class IngestStats:
    day: date
    files: list[str]  # relative to the raw root, including empty and unreadable ones (not skipped ones)
    lines_read: int
    clean_rows: int
    quarantined_rows: int
    quarantined_by_reason: dict[str, int]
    unreadable_files: list[str]
    lost_files: list[LostFile] = field(default_factory=list)  # unreadable and counted skipped files
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (file, why), markers included
    key_fingerprint: str = ""

    @property
    def lines_lost_estimate(self) -> int:
        """Lines the lost files probably held beyond their one quarantined row each."""
        return sum(max(0, f.lines_estimate - 1) for f in self.lost_files)


def ingest_turns(
    con: duckdb.DuckDBPyConnection,
    raw_root: str | Path,
    day: date,
    pseudonym_key: str,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    allow_empty_replace: bool = False,
    lake: Lake | None = None,
) -> IngestStats:
    """Validate every line of `raw_root/date=DAY/` and replace the day in the ingest tables: its clean and
    quarantined lines as partitions of `lake` (default: the warehouse's, `lake.lake_of`), its accounting in
    the warehouse.

    Works on its own cursor of `con`, so its temp tables and macros stay out of the caller's session.
    Raises KeyChangedError (pseudonym_keys.py) or EmptyReplaceError, leaving the day as it was.
    """
    root = Path(raw_root)
    folder = turn_partition(root, day)
    skipped = list_skipped_files(folder)
    files = [(f, None) for f in list_raw_files(folder)] + [(f, why) for f, why in skipped if not is_marker(f)]
    params = {
        "day": day,
        "pseudonym_key": pseudonym_key,
        "max_line_bytes": max_line_bytes,
        "files": len(files),
        "allow_empty_replace": allow_empty_replace,
        "fingerprint": key_fingerprint(pseudonym_key),
        "skipped": [(f.relative_to(root).as_posix(), why) for f, why in skipped],
    }
    with con.cursor() as cur:
        lake = ensure_turn_tables(cur, lake)
        with _registered(cur, "turn_lines", LINES_SCHEMA.empty_table()):  # the macros bind to this name
            run_sql(cur, "ingest/macros.sql")
            run_sql(cur, "ingest/validated_turns.sql")
            run_sql(cur, "ingest/fast_validated_turns.sql")
        stage_day(cur)
        try:
            with transaction(cur):
                stats = _replace_day(cur, root, files, params)
            publish_day(cur, lake, day)  # after the commit: see store.py
        finally:
            drop_staged(cur)
        return stats


def _replace_day(
    cur: duckdb.DuckDBPyConnection, root: Path, files: list[tuple[Path, str | None]], params: dict
) -> IngestStats:
    day = params["day"]
    check_key(cur, day, params["fingerprint"])
    [(clean_before,)] = cur.execute("SELECT count(*) FROM ingest.clean_turns WHERE day = ?", [day]).fetchall()
    names = [f.relative_to(root).as_posix() for f, _ in files]
    lines_read, unread, batch = 0, {}, []
    read_bytes = read_count = 0  # of the lines read, for the size of the lines that unread files held
    run_sql(cur, "ingest/delete_turns_day.sql", params)
    for idx, (lines, read_error) in enumerate(_read_ahead(files)):
        lines_read += lines.num_rows
        if read_error:
            unread[idx] = read_error
        else:
            read_bytes += pc.sum(pc.binary_length(lines.column("text"))).as_py() or 0
            read_count += lines.num_rows
        batch.append((idx, names[idx], read_error, "skipped_file" if files[idx][1] else None, lines))
        if sum(b[4].nbytes for b in batch) >= BATCH_BYTES:
            _ingest_batch(cur, batch, params)
            batch = []
    if batch:
        _ingest_batch(cur, batch, params)
    _quarantine_duplicates(cur, root, params)
    mean_line_bytes = read_bytes / read_count if read_count else None
    lost = [
        LostFile(
            names[idx],
            "skipped_file" if files[idx][1] else "unreadable_file",
            estimate_lines_held(files[idx][0], mean_line_bytes),
            error,
        )
        for idx, error in unread.items()
    ]
    lost_estimate = sum(max(0, f.lines_estimate - 1) for f in lost)
    lost_json = json.dumps([asdict(f) for f in lost]) if lost else None
    run_sql(
        cur,
        "ingest/partition_stats.sql",
        {**params, "lines_read": lines_read, "lines_lost_estimate": lost_estimate, "lost_files": lost_json},
    )
    record_key(cur, day, params["fingerprint"])
    stats = _stats(cur, day, [n for n, (_, why) in zip(names, files, strict=True) if why is None], lost, params)
    if stats.clean_rows + stats.quarantined_rows != lines_read:
        raise RuntimeError(
            f"{day}: {lines_read} lines read but {stats.clean_rows} clean + "
            f"{stats.quarantined_rows} quarantined; nothing written"
        )
    if stats.clean_rows == 0 and clean_before > 0 and not params["allow_empty_replace"]:
        raise EmptyReplaceError(_empty_replace_message(stats, clean_before))
    return stats


def _empty_replace_message(stats: IngestStats, clean_before: int) -> str:
    why = [f"{len(stats.files)} readable file(s) gave {stats.lines_read - len(stats.lost_files)} line(s)"]
    why += [f"{f.file} {f.reason.replace('_file', '')}: {f.detail.split(': ', 1)[-1]}" for f in stats.lost_files]
    why += [f"{f} ignored: {reason}" for f, reason in stats.skipped_files if f not in {x.file for x in stats.lost_files}]
    if stats.quarantined_by_reason:
        why.append("quarantined: " + ", ".join(f"{r} {n}" for r, n in stats.quarantined_by_reason.items()))
    return (
        f"{stats.day}: refusing to replace the day's {clean_before:,} clean rows with an empty day: the new read "
        f"of date={stats.day}/ has no valid line ({'; '.join(why)}). Fix or restore the raw files, or set "
        "allow_empty_replace: true on the selflearn resource to empty the day on purpose."
    )


def _read_ahead(files: list[tuple[Path, str | None]]) -> Iterator[tuple[pa.Table, str | None]]:
    """read_lines of each file in order (a skipped file: its one row and why it was skipped), the next file
    read on a helper thread while DuckDB (which releases the GIL) validates the current batch; at most one file
    is read ahead."""

    def read(idx: int) -> tuple[pa.Table, str | None]:
        path, skip_reason = files[idx]
        return (unread_file_lines(idx), f"skipped {path.name}: {skip_reason}") if skip_reason else read_lines(path, idx)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-lines") as pool:
        pending = pool.submit(read, 0) if files else None
        for idx in range(len(files)):
            current = pending.result()
            pending = pool.submit(read, idx + 1) if idx + 1 < len(files) else None
            yield current


def _ingest_batch(cur: duckdb.DuckDBPyConnection, batch: list[tuple], params: dict) -> None:
    """Insert the lines of a batch of files that the first pass proves valid; when some are left over, look up
    which lines went in and validate just the others in full: insert the valid ones and, when some are still
    left, quarantine those. Files are batched so that a day of many small files costs few statements, not one
    per file."""
    idx, names, errors, file_reasons, tables = zip(*batch, strict=True)
    lines = pa.concat_tables(tables)
    turn_files = pa.table(
        {
            "file_idx": pa.array(idx, pa.int32()),
            "source_file": pa.array(names, pa.string()),
            "read_error": pa.array(errors, pa.string()),
            "file_reason": pa.array(file_reasons, pa.string()),
        }
    )
    with _registered(cur, "turn_files", turn_files):
        inserted = _insert_clean(cur, "ingest/clean_turns.sql", lines, params)
        if inserted < lines.num_rows:
            left = lines.filter(_not_inserted(cur, tables, idx, params))
            inserted += _insert_clean(cur, "ingest/clean_turns_rechecked.sql", left, params)
        if inserted < lines.num_rows:
            rejected = lines.filter(_not_inserted(cur, tables, idx, params))
            with _registered(cur, "turn_lines", rejected):
                run_sql(cur, "ingest/quarantined_turns.sql", params)


def _insert_clean(cur: duckdb.DuckDBPyConnection, name: str, lines: pa.Table, params: dict) -> int:
    with _registered(cur, "turn_lines", lines):
        [(inserted,)] = run_sql(cur, name, params).fetchall()
    return inserted


def _not_inserted(cur: duckdb.DuckDBPyConnection, tables: tuple, file_idx: tuple, params: dict) -> pa.Array:
    """Mask over the batch's rows of the lines that are not (yet) in the day's clean turns."""
    return _rejected(tables, file_idx, run_sql(cur, "ingest/clean_lines.sql", params).fetchnumpy())


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def _rejected(tables: tuple, file_idx: tuple, kept: dict) -> pa.Array:
    """Mask over the batch's rows of the lines not in `kept` (file_idx, line): line i of the batch's k-th file
    is row starts[k] + i - 1."""
    start_of = np.zeros(max(file_idx) + 1, dtype=np.int64)
    start_of[list(file_idx)] = np.cumsum([0] + [t.num_rows for t in tables[:-1]])
    mask = np.ones(sum(t.num_rows for t in tables), dtype=bool)
    mask[start_of[kept["file_idx"]] + kept["line"] - 1] = False
    return pa.array(mask)


def _quarantine_duplicates(con: duckdb.DuckDBPyConnection, root: Path, params: dict) -> None:
    """Later copies of duplicate event ids leave the day's clean turns for quarantine, with their raw text
    re-read."""
    run_sql(con, "ingest/duplicate_turns.sql", params)
    wanted = run_sql(con, "ingest/duplicate_turn_lines.sql").fetchall()
    if wanted:
        picked = []
        for source_file, line_numbers in wanted:
            lines, _ = read_lines(root / source_file, 0)
            rows = lines.take(pa.array([n - 1 for n in line_numbers]))
            picked.append(
                pa.table(
                    {
                        "source_file": pa.array([source_file] * rows.num_rows, pa.string()),
                        "source_line": rows.column("line"),
                        "text": rows.column("text"),
                    }
                )
            )
        with _registered(con, "duplicate_lines", pa.concat_tables(picked)):
            run_sql(con, "ingest/quarantined_duplicates.sql", params)


def _stats(con: duckdb.DuckDBPyConnection, day: date, files: list[str], lost: list[LostFile], params: dict) -> IngestStats:
    [(lines_read, clean, quarantined)] = run_sql(con, "ingest/partition_counts.sql", {"day": day}).fetchall()
    by_reason = run_sql(con, "ingest/turn_quarantine_reasons.sql", {"day": day}).fetchall()
    unreadable = [f.file for f in lost if f.reason == "unreadable_file"]
    return IngestStats(
        day, files, lines_read, clean, quarantined, dict(by_reason), unreadable, lost, params["skipped"],
        params["fingerprint"],
    )
