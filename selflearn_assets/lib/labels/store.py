"""The labelling stage's tables (`labels.turn_labels`, `labels.failure_points`): a day's rows replaced in one
transaction, and the counts behind the blocking "covers every turn" checks."""

from datetime import date

import duckdb
import polars as pl

from selflearn_assets.lib.sql import run_sql, transaction


def replace_day(
    con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame, day: date, version: str
) -> None:
    """Replace `day` of `labels.<table>` with `rows`, labelled by model `version`, in one transaction.

    `dbt_like_sql/labels/<table>_insert.sql` reads the rows from the frame registered as `_<table>`.
    """
    run_sql(con, "labels/schema.sql")
    con.register(f"_{table}", rows.to_arrow())
    try:
        with transaction(con):
            con.execute(f"DELETE FROM labels.{table} WHERE day = ?", [day])  # table names are ours
            run_sql(con, f"labels/{table}_insert.sql", {"day": day, "model_version": version})
    finally:
        con.unregister(f"_{table}")


def coverage_counts(con: duckdb.DuckDBPyConnection, table: str, day: date) -> tuple[int, int, int]:
    """Counts of `day` in `labels.<table>`: (clean turns without a row, rows without their clean turn,
    duplicate rows)."""
    missing, extra, duplicated = con.execute(
        f"""
        SELECT
          (SELECT count(*) FROM ingest.clean_turns t WHERE t.day = $1
             AND NOT EXISTS (SELECT 1 FROM labels.{table} l
                             WHERE l.day = $1 AND l.event_id = t.event_id)),
          (SELECT count(*) FROM labels.{table} l WHERE l.day = $1
             AND NOT EXISTS (SELECT 1 FROM ingest.clean_turns t
                             WHERE t.day = $1 AND t.event_id = l.event_id)),
          (SELECT count(*) - count(DISTINCT event_id) FROM labels.{table} WHERE day = $1)
        """,  # table names are ours, never user input
        [day],
    ).fetchall()[0]
    return missing, extra, duplicated
