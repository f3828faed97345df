"""Readable days: an ingested day reaches later stages only after every blocking ingestion gate passed on it.

The gates (the blocking asset checks on `clean_turns`) record their outcome with `record_gate`; the one
definition of a readable day is the view `ingest.day_status` of `dbt_like_sql/ingest/day_gates.sql`. Partition
assets of a blocked day refuse to run (`day_status`); windows leave blocked days out: in Python through
`blocked_days`, in the window SQL through the connection variable `blocked_days` that `exclude_blocked_days`
sets (`NOT list_contains(coalesce(getvariable('blocked_days'), []), day)`). A connection without the variable
(a bench, a unit test of a stage) reads every day, as it did before gates existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from selflearn_assets.lib.sql import run_sql, table_exists


@dataclass(frozen=True)
class DayStatus:
    day: date
    ingested: bool
    readable: bool
    reason: str | None  # why the day is not readable (None when it is)

    def message(self) -> str:
        """What an asset of this day says when it refuses to run."""
        if not self.ingested:
            return f"{self.day} has not been ingested: materialize clean_turns for {self.day} first"
        return (
            f"{self.day} is blocked: {self.reason}; fix the raw data and re-materialize clean_turns "
            f"(its gates run with it)"
        )


def ensure_day_gates(con: duckdb.DuckDBPyConnection) -> None:
    """The gate table and the readable-day views (and the ingest tables they read)."""
    run_sql(con, "ingest/schema.sql")
    run_sql(con, "ingest/day_gates.sql")


def _has_views(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, "ingest", "day_status")


def record_gate(
    con: duckdb.DuckDBPyConnection, day: date, check_name: str, passed: bool, description: str
) -> None:
    """Record the outcome of blocking gate `check_name` on `day`, replacing the previous one."""
    ensure_day_gates(con)
    run_sql(
        con,
        "ingest/day_gate_insert.sql",
        {"day": day, "check_name": check_name, "passed": passed, "description": description or ""},
    )


def gate_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The blocking ingestion gates a readable day has passed, as `day_gates.sql` lists them."""
    ensure_day_gates(con)
    return [r[0] for r in run_sql(con, "ingest/gate_names.sql").fetchall()]


def day_status(con: duckdb.DuckDBPyConnection, day: date) -> DayStatus:
    """Whether `day` was ingested and may be read downstream, and why not."""
    if not _has_views(con):
        ensure_day_gates(con)
    row = run_sql(con, "ingest/day_readable.sql", {"day": day}).fetchone()
    if row is None:
        return DayStatus(day, ingested=False, readable=False, reason="not ingested")
    return DayStatus(day, ingested=True, readable=bool(row[0]), reason=row[1])


def blocked_days(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None) -> list[date]:
    """Ingested days in [start, end] (open bounds: all) that are not readable, oldest first."""
    if not _has_views(con):
        ensure_day_gates(con)
    rows = run_sql(con, "ingest/blocked_days.sql", {"start": start, "end": end}).fetchall()
    return [r[0] for r in rows]


def readable_among(con: duckdb.DuckDBPyConnection, days: list[date]) -> list[date]:
    """The days of `days` that may be read downstream, oldest first."""
    if not _has_views(con):
        ensure_day_gates(con)
    rows = run_sql(con, "ingest/readable_among.sql", {"days": list(days)}).fetchall()
    return [r[0] for r in rows]


def exclude_blocked_days(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Make the window SQL run on `con` leave out every blocked day; returns those days."""
    blocked = blocked_days(con)
    con.execute("SET VARIABLE blocked_days = ?::DATE[]", [blocked])
    return blocked


def left_out_note(start: date, end: date, left_out: list[date]) -> str:
    """'window 2026-11-01..2026-11-07: 1 day left out as blocked (2026-11-01)', or '' when none was."""
    if not left_out:
        return ""
    days = ", ".join(d.isoformat() for d in left_out)
    noun = "day" if len(left_out) == 1 else "days"
    return f"window {start}..{end}: {len(left_out)} {noun} left out as blocked ({days})"
