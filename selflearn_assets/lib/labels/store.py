"""The labelling stage's tables (`labels.turn_labels`, `labels.failure_points`): a day's rows published as a
lake partition, and the counts behind the blocking "covers every turn" checks.

The rows, a frame or chunk after chunk (`chunks.py`), are shaped by `dbt_like_sql/labels/<table>_insert.sql` in
a private in-memory DuckDB that has the tables of `labels/schema.sql` (so the schema file's types and NOT NULLs
hold, as they did in the warehouse), then streamed into the lake partition (`lib/lake/`): the warehouse is not
opened. The warehouse reads the lake through its views (`label_views`).
"""

from collections.abc import Iterable, Iterator
from datetime import date

import duckdb
import polars as pl
import pyarrow as pa

from selflearn_assets.lib.lake import Lake, ensure_views
from selflearn_assets.lib.sql import run_sql

LABEL_TABLES = ("turn_labels", "failure_points")  # the tables of labels/schema.sql, by name
BATCH_ROWS = 262_144  # rows per Arrow batch (and Parquet row group) written to the lake


def replace_day(
    lake: Lake, table: str, rows: pl.DataFrame | Iterable[pl.DataFrame], day: date, version: str
) -> int:
    """Replace `day` of `labels.<table>` in `lake` with `rows` (a frame, or an iterator of frames: chunks,
    each shaped and written as it comes, so the day is never held at once), labelled by model `version`
    (published whole, or not at all: an error in any chunk leaves the day as it was); returns the rows
    published. `<table>_insert.sql` reads each chunk from the frame registered as `_<table>`."""
    _check_table(table)
    chunks = [rows] if isinstance(rows, pl.DataFrame) else rows
    with duckdb.connect() as staging:
        run_sql(staging, "labels/schema.sql")
        return lake.write_partition(f"labels.{table}", day, _shaped(staging, table, chunks, day, version))


def _shaped(
    staging: duckdb.DuckDBPyConnection, table: str, chunks: Iterable[pl.DataFrame], day: date, version: str
) -> Iterator[pa.RecordBatch]:
    """Each chunk through the insert SQL into the (emptied) staging table, and out again as Arrow batches."""
    for chunk in chunks:
        staging.execute(f"DELETE FROM labels.{table}")  # table from LABEL_TABLES
        staging.register(f"_{table}", chunk.to_arrow())
        run_sql(staging, f"labels/{table}_insert.sql", {"day": day, "model_version": version})
        staging.unregister(f"_{table}")
        with staging.sql(f"SELECT * FROM labels.{table}").to_arrow_reader(batch_size=BATCH_ROWS) as reader:
            yield from reader


def label_views(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """The warehouse's `labels.*` views over `lake` (created, re-pointed, or migrated from tables: `lib/lake/`)."""
    ensure_views(con, lake, [f"labels.{t}" for t in LABEL_TABLES])


def coverage_counts(con: duckdb.DuckDBPyConnection, table: str, day: date) -> tuple[int, int, int]:
    """Counts of `day` in `labels.<table>`: (clean turns without a row, rows without their clean turn,
    duplicate rows)."""
    _check_table(table)
    [(missing, extra, duplicated)] = run_sql(
        con, "labels/coverage_counts.sql", {"day": day}, identifiers={"table": table}
    ).fetchall()
    return missing, extra, duplicated


def _check_table(table: str) -> None:
    if table not in LABEL_TABLES:
        raise ValueError(f"not a labels table: {table}")
