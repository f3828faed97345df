"""The tables that live in the lake, and their columns as Arrow types: read from the stage's schema file
(`dbt_like_sql/<schema>/schema.sql`), which stays the one definition of a table's columns, types and
descriptions. Every batch written to the lake is held to it (`conform`): the DDL's columns by name, cast to its
types, no NULL where it says NOT NULL, and the partition's own day only.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from selflearn_assets.lib.sql import run_sql
from selflearn_assets.lib.sql_schema import warehouse_columns

# The warehouse tables whose rows live in the lake (the warehouse has a view of each, `views.py`), by stage.
LAKE_TABLES = (
    "ingest.clean_turns",
    "ingest.quarantined_turns",
    "signals.defect_signals",
    "signals.rephrase_candidates",
    "signals.markov_transitions",
    "labels.turn_labels",
    "labels.failure_points",
)


class LakeSchemaError(ValueError):
    """Rows that do not fit their table's schema file: nothing was written."""


def split_name(table: str) -> tuple[str, str]:
    """("labels", "turn_labels") from "labels.turn_labels"; ValueError for anything else."""
    schema, _, name = table.partition(".")
    if not (schema.isidentifier() and name.isidentifier()):
        raise ValueError(f"not a <schema>.<table> name: {table!r}")
    return schema, name


@cache
def table_schema(table: str) -> pa.Schema:
    """The Arrow schema of `table` as its stage's schema file creates it (DuckDB's own mapping of the types)."""
    schema, _ = split_name(table)
    con = duckdb.connect()
    try:
        run_sql(con, f"{schema}/schema.sql")
        return con.sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema  # name checked above
    except duckdb.CatalogException as err:
        raise KeyError(f"dbt_like_sql/{schema}/schema.sql does not create {table}") from err
    finally:
        con.close()


@cache
def not_null_columns(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in warehouse_columns(table) if c.not_null)


def conform(batch: pa.RecordBatch, table: str, day: date) -> pa.Table:
    """`batch` as `table`'s schema has it: its columns in the schema's order and types. LakeSchemaError for a
    missing or unknown column, a value that does not cast, a NULL in a NOT NULL column, or a row of another day
    than the partition's."""
    schema = table_schema(table)
    names = set(batch.schema.names)
    missing = [f.name for f in schema if f.name not in names]
    unknown = sorted(names - set(schema.names))
    if missing or unknown:
        raise LakeSchemaError(
            f"{table} {day}: rows without column(s) {', '.join(missing) or '-'}, with unknown column(s) "
            f"{', '.join(unknown) or '-'} (the columns are those of dbt_like_sql/{split_name(table)[0]}/schema.sql)"
        )
    try:
        cast = pa.Table.from_batches([batch.select(schema.names)]).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
        raise LakeSchemaError(f"{table} {day}: rows do not cast to the table's types: {err}") from err
    for name in not_null_columns(table):
        nulls = cast.column(name).null_count
        if nulls:
            raise LakeSchemaError(f"{table} {day}: {nulls} NULL(s) in column {name}, which is NOT NULL")
    if "day" in schema.names and cast.num_rows:
        days = cast.column("day")
        if not pc.all(pc.equal(days, pa.scalar(day, days.type))).as_py():
            others = sorted({d for d in days.to_pylist() if d != day})
            raise LakeSchemaError(f"{table} {day}: rows of other days ({', '.join(map(str, others[:3]))})")
    return cast


def align(table: pa.Table, name: str) -> pa.Table:
    """A partition read back, as the table's schema has it now: a column the schema file added since the
    partition was written is NULL (as the view's `union_by_name` reads it)."""
    schema = table_schema(name)
    for field in schema:
        if field.name not in table.schema.names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)
