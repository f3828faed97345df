"""The warehouse's view of each lake table: `labels.turn_labels` in `warehouse.duckdb` is

    SELECT <the schema file's columns> FROM read_parquet('<lake>/labels/turn_labels/*/data.parquet', ...)

so the README's queries, the checks' SQL and every reader keep their table names, and a day published in the
lake is in the view at once. The pattern always matches the table's zero-row schema file (`partitions.py`),
so a table without a day reads as an empty table of the schema file's types (`read_parquet` of a pattern that
matches nothing is an error). A partition written before the schema file gained a column reads NULL there
(`union_by_name`).

`ensure_views` creates the views, and re-creates one that names another lake (the warehouse was copied, or
$SELFLEARN_LAKE changed): each view's comment records the pattern it reads. It migrates a warehouse that still
has the table itself: every day's rows are published as a lake partition first, then, in one transaction, the
table is dropped and the view created; a crash in between leaves the table, and the next run publishes its days
again (the same rows) and swaps. A column the schema file gained after the table was created is NULL in the
migrated rows; a column the table has and the schema file not is refused (LakeSchemaError, nothing swapped). The lake is written by the assets without the warehouse; the views need a lake
that DuckDB reads by itself: a local folder (tested), or a URL of DuckDB's httpfs (s3://, gs://, https://;
untested here).
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from selflearn_assets.lib.lake.partitions import Lake
from selflearn_assets.lib.lake.tables import LAKE_TABLES, LakeSchemaError, split_name, table_schema
from selflearn_assets.lib.settings import lake_root
from selflearn_assets.lib.sql import transaction
from selflearn_assets.lib.sql_schema import warehouse_columns

_MARK = "lake view of "


def ensure_views(
    con: duckdb.DuckDBPyConnection, lake: Lake, tables: Iterable[str] = LAKE_TABLES
) -> list[str]:
    """Make each of `tables` a view over `lake` in the warehouse of `con` (writes nothing when they already
    are); returns the tables whose rows were migrated from a warehouse table into the lake."""
    migrated = []
    for table in tables:
        schema, name = split_name(table)
        kind = _kind(con, schema, name)
        if kind == "BASE TABLE":
            _publish_table(con, lake, table)
            migrated.append(table)
        lake.write_schema_file(table)
        if kind == "VIEW" and _comment(con, schema, name) == _MARK + lake.pattern(table):
            continue
        with transaction(con):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")  # names checked by split_name
            if kind == "BASE TABLE":
                con.execute(f"DROP TABLE {table}")
            con.execute(f"CREATE OR REPLACE VIEW {table} AS {view_sql(lake, table)}")
            con.execute(f"COMMENT ON VIEW {table} IS {_literal(_MARK + lake.pattern(table))}")
    return migrated


def lake_of(con: duckdb.DuckDBPyConnection) -> Lake:
    """The lake of the warehouse `con` has open ($SELFLEARN_LAKE, else `lake/` beside its file:
    `settings.lake_root`); ValueError for an in-memory database, which has none (pass a Lake)."""
    [(path,)] = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    if not path:
        raise ValueError("an in-memory warehouse has no lake beside it: pass lake=Lake(folder)")
    return Lake(lake_root(path))


def view_sql(lake: Lake, table: str) -> str:
    """The SELECT of the view of `table` over `lake`. A JSON column, stored as text in Parquet, is cast back to
    JSON, so that the view's types are the schema file's."""
    json = {c.name for c in warehouse_columns(table) if c.type.upper() == "JSON"}
    columns = ", ".join(
        f'CAST("{c}" AS JSON) AS "{c}"' if c in json else f'"{c}"' for c in table_schema(table).names
    )
    return (
        f"SELECT {columns} FROM read_parquet({_literal(lake.pattern(table))}, "
        "hive_partitioning = false, union_by_name = true)"
    )


def _publish_table(con: duckdb.DuckDBPyConnection, lake: Lake, table: str) -> None:
    """Each day of the warehouse table as a lake partition; a column the schema file has and the table lacks
    (a table created before the schema file gained it) goes in as NULL."""
    schema, name = split_name(table)
    have = {
        c
        for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
    }
    unknown = sorted(have - set(table_schema(table).names))
    if unknown:  # as `conform` refuses them: a column of values the lake's table has no place for
        raise LakeSchemaError(
            f"{table}: the warehouse table has column(s) {', '.join(unknown)} that "
            f"dbt_like_sql/{schema}/schema.sql does not: not moved into the lake"
        )
    columns = ", ".join(
        f'"{f.name}"' if f.name in have else f'NULL AS "{f.name}"' for f in table_schema(table)
    )
    days = [d for (d,) in con.execute(f"SELECT DISTINCT day FROM {table} ORDER BY day").fetchall()]
    for day in days:
        with con.sql(
            f"SELECT {columns} FROM {table} WHERE day = $day", params={"day": day}
        ).to_arrow_reader() as reader:
            lake.write_partition(table, day, reader)


def _kind(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> str | None:
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return rows[0][0] if rows else None


def _comment(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> str | None:
    rows = con.execute(
        "SELECT comment FROM duckdb_views() WHERE database_name = current_database() AND schema_name = ? "
        "AND view_name = ?",
        [schema, name],
    ).fetchall()
    return rows[0][0] if rows else None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
