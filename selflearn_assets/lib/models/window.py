"""The training window of the models: the latest ingested days."""

from __future__ import annotations

from datetime import date

import duckdb

from selflearn_assets.lib.sql import run_sql, table_exists

NO_TURNS = "no ingested turns: materialize clean_turns for some days first"


def latest_ingested_days(con: duckdb.DuckDBPyConnection, window_days: int) -> list[date]:
    """The latest `window_days` days of `ingest.clean_turns`, oldest first; [] on a warehouse never ingested."""
    if not table_exists(con, "ingest", "clean_turns"):
        return []
    rows = run_sql(con, "models/latest_ingested_days.sql", {"window_days": window_days}).fetchall()
    return sorted(r[0] for r in rows)
