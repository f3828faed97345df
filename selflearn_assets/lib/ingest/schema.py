"""The ingest stage's warehouse tables (`dbt_like_sql/ingest/schema.sql`), created when missing."""

from __future__ import annotations

import duckdb

from selflearn_assets.lib.sql import run_sql


def ensure_ingest_schema(con: duckdb.DuckDBPyConnection) -> None:
    run_sql(con, "ingest/schema.sql")
