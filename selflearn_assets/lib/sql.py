"""Load the SQL models of `dbt_like_sql/` and run them on DuckDB with bound parameters.

The folder is the one installed with the package, else the checkout's (`lib.project_files`).

A file may hold several statements, each ending with `;` at the end of a line; they run in order. Values are
always bound (`$name`), never formatted into the text: `run_sql` passes each statement the named
parameters it mentions, from one mapping.
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
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")


@cache
def sql_root() -> Path:
    """The `dbt_like_sql/` folder: installed with the package, else the checkout's (FileNotFoundError if none)."""
    return project_file("dbt_like_sql")


@cache
def load_sql(name: str) -> str:
    """The text of `dbt_like_sql/<name>`, e.g. `load_sql("ingest/clean_turns.sql")`."""
    return (sql_root() / name).read_text(encoding="utf-8")


def statements(sql: str) -> list[str]:
    """The statements of a SQL file (comment-only chunks dropped)."""
    chunks = [c.strip() for c in _STATEMENT_END.split(sql)]
    return [c for c in chunks if any(ln.strip() and not ln.strip().startswith("--") for ln in c.splitlines())]


def run_sql(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Run every statement of `dbt_like_sql/<name>`; returns the connection, holding the last result."""
    params = params or {}
    for statement in statements(load_sql(name)):
        wanted = set(_PARAMETER.findall(_strip_comments(statement)))
        missing = wanted - params.keys()
        if missing:
            raise KeyError(f"{name}: no value for parameter(s) {', '.join(sorted(missing))}")
        con.execute(statement, {k: params[k] for k in wanted} if wanted else None)
    return con


def _strip_comments(statement: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in statement.splitlines())


def query_pl(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None):
    """Run the single SELECT of `dbt_like_sql/<name>` and return its rows as a polars DataFrame."""
    import polars as pl  # noqa: F401  (needed by .pl())

    params = params or {}
    (statement,) = statements(load_sql(name))
    wanted = set(_PARAMETER.findall(_strip_comments(statement)))
    missing = wanted - params.keys()
    if missing:
        raise KeyError(f"{name}: no value for parameter(s) {', '.join(sorted(missing))}")
    return con.sql(statement, params={k: params[k] for k in wanted} if wanted else None).pl()


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
