"""Sessions of one day (`ingest.sessions`), aggregated from that day's `ingest.clean_turns`."""

from __future__ import annotations

from datetime import date

import duckdb

from selflearn_assets.lib.ingest.schema import ensure_ingest_schema
from selflearn_assets.lib.sql import run_sql, transaction


def build_sessions(con: duckdb.DuckDBPyConnection, day: date) -> int:
    """Replace the day's rows of `ingest.sessions` (one transaction); returns the number of sessions."""
    with con.cursor() as cur:
        ensure_ingest_schema(cur)
        with transaction(cur):
            run_sql(cur, "ingest/sessions.sql", {"day": day})
        return cur.execute("SELECT count(*) FROM ingest.sessions WHERE day = ?", [day]).fetchall()[0][0]
