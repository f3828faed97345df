"""The labelling stage's tables (`labels.turn_labels`, `labels.failure_points`): a day's rows replaced in one
transaction, and the counts behind the blocking "covers every turn" checks."""

from datetime import date

import duckdb
import polars as pl

from selflearn_assets.lib.sql import run_sql, transaction

LABEL_TABLES = ("turn_labels", "failure_points")  # the tables of labels/schema.sql, by name


def replace_day(
    con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame, day: date, version: str
) -> None:
    """Replace `day` of `labels.<table>` with `rows`, labelled by model `version`, in one transaction.

    `dbt_like_sql/labels/<table>_insert.sql` reads the rows from the frame registered as `_<table>`.
    """
    _check_table(table)
    run_sql(con, "labels/schema.sql")
    con.register(f"_{table}", rows.to_arrow())
    try:
        with transaction(con):
            con.execute(f"DELETE FROM labels.{table} WHERE day = ?", [day])  # table from LABEL_TABLES
            run_sql(con, f"labels/{table}_insert.sql", {"day": day, "model_version": version})
    finally:
        con.unregister(f"_{table}")


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
