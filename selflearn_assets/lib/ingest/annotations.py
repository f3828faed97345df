"""Audit annotations of one day → `ingest.annotations` + `ingest.quarantined_annotations`.

Reads `raw_root/annotations/date=DAY/*.jsonl` (also `.jsonl.gz`, `.parquet`); a day without that folder
has no annotations, which is not an error. Every line is validated against the annotation contract in
DuckDB (staged_annotations.sql lists the reason codes); the day is replaced in one transaction and
lines read = clean + quarantined is checked before it commits. Annotation volumes are small, so this
stages every line before writing instead of the per-file streaming of turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from selflearn_assets.lib.ingest.lines import LINES_SCHEMA, list_raw_files, read_lines
from selflearn_assets.lib.ingest.partitions import check_raw_root, partition_folder
from selflearn_assets.lib.ingest.schema import ensure_ingest_schema
from selflearn_assets.lib.ingest.turns import MAX_LINE_BYTES
from selflearn_assets.lib.sql import run_sql, transaction

TASKS = ("failure_point", "goal_start", "goal_success", "intent", "slots", "rephrase_of", "intended_text",
         "preference", "preference_use")  # fmt: skip


@dataclass(frozen=True)
class AnnotationStats:
    day: date
    files: list[str]
    lines_read: int
    clean_rows: int
    quarantined_rows: int
    quarantined_by_reason: dict[str, int]
    unreadable_files: list[str]


def ingest_annotations(
    con: duckdb.DuckDBPyConnection, raw_root: str | Path, day: date, *, max_line_bytes: int = MAX_LINE_BYTES
) -> AnnotationStats:
    """Validate the day's annotation lines and replace the day in the annotation tables."""
    root = check_raw_root(raw_root)
    files = list_raw_files(partition_folder(root, day, annotations=True))  # none when the folder is absent
    names = [f.relative_to(root).as_posix() for f in files]
    tables, errors = [LINES_SCHEMA.empty_table()], []
    for idx, path in enumerate(files):
        lines, error = read_lines(path, idx)
        tables.append(lines)
        errors.append(error)
    lines = pa.concat_tables(tables)
    annotation_files = pa.table(
        {
            "file_idx": pa.array(range(len(files)), pa.int32()),
            "source_file": pa.array(names, pa.string()),
            "read_error": pa.array(errors, pa.string()),
        }
    )
    params = {"day": day, "max_line_bytes": max_line_bytes}
    with con.cursor() as cur:  # its own session: temp tables and macros stay out of the caller's
        ensure_ingest_schema(cur)
        cur.register("annotation_lines", lines)
        cur.register("annotation_files", annotation_files)
        run_sql(cur, "ingest/macros.sql")
        run_sql(cur, "ingest/staged_annotations.sql", params)
        with transaction(cur):
            run_sql(cur, "ingest/annotations.sql", params)
            stats = _stats(
                cur, day, names, [n for n, e in zip(names, errors, strict=True) if e], lines.num_rows
            )
            if stats.clean_rows + stats.quarantined_rows != stats.lines_read:
                raise RuntimeError(
                    f"{day}: {stats.lines_read} annotation lines read but {stats.clean_rows} clean + "
                    f"{stats.quarantined_rows} quarantined; nothing written"
                )
    return stats


def _stats(con, day: date, files: list[str], unreadable: list[str], lines_read: int) -> AnnotationStats:
    clean = con.execute("SELECT count(*) FROM ingest.annotations WHERE day = ?", [day]).fetchall()[0][0]
    by_reason = dict(run_sql(con, "ingest/annotation_quarantine_reasons.sql", {"day": day}).fetchall())
    return AnnotationStats(day, files, lines_read, clean, sum(by_reason.values()), by_reason, unreadable)
