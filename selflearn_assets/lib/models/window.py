"""The training window of the models: the latest ingested days."""

from __future__ import annotations

from datetime import date

import duckdb

NO_TURNS = "no ingested turns: materialize clean_turns for some days first"


def latest_ingested_days(con: duckdb.DuckDBPyConnection, window_days: int) -> list[date]:
    """The latest `window_days` days of `ingest.clean_turns`, oldest first; [] on a warehouse never ingested."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ingest' AND table_name = 'clean_turns'"
    ).fetchall()[0][0]
    if not exists:
        return []
    rows = con.execute(
        "SELECT DISTINCT day FROM ingest.clean_turns ORDER BY day DESC LIMIT ?", [window_days]
    ).fetchall()
    return sorted(r[0] for r in rows)
