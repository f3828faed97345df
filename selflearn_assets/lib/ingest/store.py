"""Where the ingest stage's day tables live, and how a day of them is replaced.

`ingest.clean_turns` and `ingest.quarantined_turns` live in the lake (`lib/lake/`: one Parquet file per day,
published whole). Ingestion builds a day in two temp tables of its cursor, `day_clean_turns` and
`day_quarantined_turns` (`stage_day`: the columns, types and NOT NULLs of the schema file), where the stage's
SQL inserts the valid and rejected lines, moves the later copies of duplicates and counts the day; once the
day's warehouse transaction (its `partition_stats` and key fingerprint rows) has committed, both are streamed
into the day's lake partitions (`publish_day`). Committing first keeps the gates honest: a crash before the
partitions are published leaves a day whose `ingested_at` is newer than every gate's check, so the day is
blocked until it is ingested again (and its accounting gate would see the previous partitions' counts).
The warehouse reads the two tables through its views, which `ensure_turn_tables` creates (migrating a
warehouse that still has the tables). The small tables read across days (partition_stats, key_fingerprints,
key_rotations, day_gates) and the sessions and annotations stay warehouse tables.
"""

from __future__ import annotations

from datetime import date

import duckdb

from selflearn_assets.lib.ingest.schema import ensure_ingest_schema
from selflearn_assets.lib.lake import Lake, ensure_views, lake_of
from selflearn_assets.lib.lake.tables import not_null_columns
from selflearn_assets.lib.sql import run_sql

LAKE_INGEST_TABLES = ("ingest.clean_turns", "ingest.quarantined_turns")
# each lake table -> the temp table its day is built in (the names the stage's SQL files use)
STAGED = {"ingest.clean_turns": "day_clean_turns", "ingest.quarantined_turns": "day_quarantined_turns"}
BATCH_ROWS = 262_144  # rows per Arrow batch (and Parquet row group) written to the lake


def ensure_turn_tables(con: duckdb.DuckDBPyConnection, lake: Lake | None = None) -> Lake:
    """Create the ingest schema's tables and make clean_turns and quarantined_turns views over `lake`
    (default: the warehouse's, `lake_of`), moving the rows of a warehouse that still has them as tables into
    the lake (idempotent: writes nothing when all is in place). Returns the lake."""
    lake = lake or lake_of(con)
    ensure_ingest_schema(con)  # CREATE ... IF NOT EXISTS: a view of the same name stays as it is
    ensure_views(con, lake, LAKE_INGEST_TABLES)
    return lake


def stage_day(cur: duckdb.DuckDBPyConnection) -> None:
    """Empty temp tables `day_clean_turns` and `day_quarantined_turns` on `cur`, with the columns and types of
    the views and the NOT NULLs of the schema file (a row that breaks one fails where the old table failed)."""
    run_sql(cur, "ingest/day_tables.sql")
    for table, temp in STAGED.items():
        for column in not_null_columns(table):  # names from the schema file
            cur.execute(f'ALTER TABLE {temp} ALTER COLUMN "{column}" SET NOT NULL')


def publish_day(cur: duckdb.DuckDBPyConnection, lake: Lake, day: date) -> dict[str, int]:
    """Replace `day` of both lake tables with the staged rows, streamed in batches (each published whole, or
    not at all); returns the rows published per table."""
    out = {}
    for table, temp in STAGED.items():
        with cur.sql(f"SELECT * FROM {temp}").to_arrow_reader(batch_size=BATCH_ROWS) as reader:
            out[table] = lake.write_partition(table, day, reader)
    return out


def drop_staged(cur: duckdb.DuckDBPyConnection) -> None:
    for temp in STAGED.values():
        cur.execute(f"DROP TABLE IF EXISTS {temp}")
