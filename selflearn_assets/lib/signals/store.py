"""Where the signals stage's tables live, and how a day of them is replaced.

`signals.defect_signals`, `signals.rephrase_candidates` and `signals.markov_transitions` live in the lake
(`lib/lake/`): a day's rows are computed by the stage's SQL on the warehouse connection (a SELECT over the day's
turns and temp tables) and streamed, as Arrow batches, into the day's lake partition, published whole: a
re-run replaces the day, a crash leaves the previous one. The warehouse reads them through its views, which
`ensure_signals_schema` creates (migrating a warehouse that still has the tables). `signals.defect_model`, a
few rows a day read across days, stays a warehouse table: its day is deleted and inserted in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

import duckdb

from selflearn_assets.lib.lake import Lake, ensure_views, lake_of
from selflearn_assets.lib.sql import query, run_sql, table_exists

__all__ = [
    "LAKE_SIGNAL_TABLES",
    "SIGNAL_TABLES",
    "delete_day",
    "ensure_signals_schema",
    "lake_of",
    "publish_day",
    "table_exists",
    "transaction",
]

SIGNAL_TABLES = (
    "signals.defect_signals",
    "signals.defect_model",
    "signals.rephrase_candidates",
    "signals.markov_transitions",
)
LAKE_SIGNAL_TABLES = ("signals.defect_signals", "signals.rephrase_candidates", "signals.markov_transitions")
BATCH_ROWS = 262_144  # rows per Arrow batch (and Parquet row group) written to the lake


def ensure_signals_schema(con: duckdb.DuckDBPyConnection, lake: Lake | None = None) -> Lake:
    """Create the `signals` schema, its similarity macros and `defect_model`, and make the day tables views
    over `lake` (default: `lake_of(con)`), moving the rows of a warehouse that still has them as tables into
    the lake (idempotent: writes nothing when all is in place). Returns the lake."""
    lake = lake or lake_of(con)
    run_sql(con, "signals/schema.sql")  # CREATE ... IF NOT EXISTS: a view of the same name stays as it is
    ensure_views(con, lake, LAKE_SIGNAL_TABLES)
    return lake


def publish_day(
    con: duckdb.DuckDBPyConnection, lake: Lake, table: str, day: date, sql: str, params: Mapping[str, Any]
) -> int:
    """Replace `day` of lake table `table` with the rows of the SELECT `dbt_like_sql/<sql>` run on `con`,
    streamed in batches (published whole, or not at all); returns the rows published."""
    if table not in LAKE_SIGNAL_TABLES:
        raise ValueError(f"not a signals table of the lake: {table}")
    with query(con, sql, params).to_arrow_reader(batch_size=BATCH_ROWS) as reader:
        return lake.write_partition(table, day, reader)


@contextmanager
def transaction(con) -> Iterator[None]:
    """One DuckDB transaction: committed when the block ends, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def delete_day(con, table: str, day: date) -> None:
    """Delete `day`'s rows of one of our warehouse tables (call inside `transaction`)."""
    if table not in SIGNAL_TABLES or table in LAKE_SIGNAL_TABLES:
        raise ValueError(f"not a signals table of the warehouse: {table}")
    con.execute(f"DELETE FROM {table} WHERE day = ?", [day])  # identifier from the fixed list above
