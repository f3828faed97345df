"""Event ids that one day shares with other days of `ingest.clean_turns` (dbt_like_sql/ingest/reused_event_ids.sql)."""

from __future__ import annotations

from datetime import date

import duckdb

from selflearn_assets.lib.ingest.schema import ensure_ingest_schema
from selflearn_assets.lib.sql import run_sql


def reused_event_ids(con: duckdb.DuckDBPyConnection, day: date) -> list[tuple[str, list[date]]]:
    """(event_id, the other days that hold it) for every clean turn of `day` whose id another day also has."""
    with con.cursor() as cur:
        ensure_ingest_schema(cur)
        rows = run_sql(cur, "ingest/reused_event_ids.sql", {"day": day}).fetchall()
    return [(event_id, list(days)) for event_id, days in rows]
