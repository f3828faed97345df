"""Asset metadata shared by every stage: row count, column schema and a markdown preview of a day."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource


def table_schema(con, table: str) -> dg.TableSchema:
    rows = con.execute(f"DESCRIBE {table}").fetchall()  # table names are ours, never user input
    return dg.TableSchema(columns=[dg.TableColumn(name=r[0], type=str(r[1])) for r in rows])


def markdown_table(columns: list[str], rows: list[tuple], width: int = 60) -> str:
    def cell(v) -> str:
        text = "" if v is None else str(v)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def day_metadata(duckdb: DuckDBResource, table: str, day: str, preview_columns: list[str], limit: int = 10) -> dict:
    """`dagster/row_count`, `dagster/column_schema` and a preview of `table`'s rows for `day`."""
    with duckdb.get_connection() as con:
        count = con.execute(f"SELECT count(*) FROM {table} WHERE day = ?", [day]).fetchone()[0]
        preview = con.execute(
            f"SELECT {', '.join(preview_columns)} FROM {table} WHERE day = ? LIMIT {int(limit)}", [day]
        ).fetchall()
        schema = table_schema(con, table)
    return {
        "dagster/row_count": dg.MetadataValue.int(int(count)),
        "dagster/column_schema": schema,
        "preview": dg.MetadataValue.md(markdown_table(preview_columns, preview)),
    }
