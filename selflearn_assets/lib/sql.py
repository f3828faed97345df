"""Load the SQL models of `dbt_like_sql/` and run them on DuckDB with bound parameters.

The folder is the one installed with the package, else the checkout's (`lib.project_files`).

A file may hold several statements, each ending with `;` at the end of a line; they run in order. Values are
always bound (`$name`), never formatted into the text: `run_sql` passes each statement the named
parameters it mentions, from one mapping. A name that cannot be bound (a table that the caller picks from a
fixed list of ours) is written `{{ name }}` and given in `identifiers`: it must be a plain SQL name, and goes in
double-quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from selflearn_assets.lib.project_files import project_file

_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
_IDENTIFIER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
_PLAIN_NAME = re.compile(r"[A-Za-z_]\w*")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")


@cache
def sql_root() -> Path:
    """The `dbt_like_sql/` folder: installed with the package, else the checkout's (FileNotFoundError if none)."""
    return project_file("dbt_like_sql")


@cache
def load_sql(name: str) -> str:
    """The text of `dbt_like_sql/<name>`, e.g. `load_sql("ingest/clean_turns.sql")`."""
    return (sql_root() / name).read_text(encoding="utf-8")


def identifier_names(sql: str) -> set[str]:
    """The `{{ name }}` placeholders of a SQL text."""
    return set(_IDENTIFIER.findall(sql))


def render_sql(name: str, identifiers: Mapping[str, str] | None = None) -> str:
    """The text of `dbt_like_sql/<name>` with each `{{ placeholder }}` replaced by its quoted identifier."""
    sql = load_sql(name)
    identifiers = identifiers or {}
    missing = identifier_names(sql) - identifiers.keys()
    if missing:
        raise KeyError(f"{name}: no value for identifier(s) {', '.join(sorted(missing))}")
    for key, value in identifiers.items():
        if not _PLAIN_NAME.fullmatch(value):
            raise ValueError(f"{name}: identifier {key}={value!r} is not a plain SQL name")
    return _IDENTIFIER.sub(lambda m: f'"{identifiers[m.group(1)]}"', sql)


def statements(sql: str) -> list[str]:
    """The statements of a SQL file (comment-only chunks dropped)."""
    chunks = [c.strip() for c in _STATEMENT_END.split(sql)]
    return [c for c in chunks if any(ln.strip() and not ln.strip().startswith("--") for ln in c.splitlines())]


def run_sql(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: Mapping[str, Any] | None = None,
    identifiers: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Run every statement of `dbt_like_sql/<name>`; returns the connection, holding the last result."""
    params = params or {}
    for statement in statements(render_sql(name, identifiers)):
        wanted = set(_PARAMETER.findall(_strip_comments(statement)))
        missing = wanted - params.keys()
        if missing:
            raise KeyError(f"{name}: no value for parameter(s) {', '.join(sorted(missing))}")
        con.execute(statement, {k: params[k] for k in wanted} if wanted else None)
    return con


def _strip_comments(statement: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in statement.splitlines())


def query(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: Mapping[str, Any] | None = None,
    identifiers: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyRelation:
    """The single SELECT of `dbt_like_sql/<name>` as a relation: `.fetchall()`, `.pl()`, `.to_arrow_table()`
    (DuckDB 2 relations have no `.fetchone()`; `run_sql(...).fetchone()` has)."""
    params = params or {}
    (statement,) = statements(render_sql(name, identifiers))
    wanted = set(_PARAMETER.findall(_strip_comments(statement)))
    missing = wanted - params.keys()
    if missing:
        raise KeyError(f"{name}: no value for parameter(s) {', '.join(sorted(missing))}")
    return con.sql(statement, params={k: params[k] for k in wanted} if wanted else None)


def query_pl(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: Mapping[str, Any] | None = None,
    identifiers: Mapping[str, str] | None = None,
):
    """Run the single SELECT of `dbt_like_sql/<name>` and return its rows as a polars DataFrame."""
    import polars as pl  # noqa: F401  (needed by .pl())

    return query(con, name, params, identifiers).pl()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether the warehouse has table or view `schema.table` (a catalog lookup, the names bound)."""
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, or ROLLBACK on any exception (a crash leaves the previous state)."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()
