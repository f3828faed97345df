"""Readable days (`lib/ingest/gates.py`, `dbt_like_sql/ingest/day_gates.sql`) on a hand-made warehouse."""

from datetime import date

import duckdb
import pytest

from selflearn_assets.lib.ingest.gates import (
    DayStatus,
    blocked_days,
    day_status,
    ensure_day_gates,
    exclude_blocked_days,
    left_out_note,
    readable_among,
    record_gate,
)
from selflearn_assets.lib.sql import query_pl, run_sql

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def _ingest(con, day: date) -> None:
    """What an ingestion leaves behind for the gates: the day's accounting row, stamped now."""
    con.execute("DELETE FROM ingest.partition_stats WHERE day = ?", [day])
    con.execute(
        "INSERT INTO ingest.partition_stats (day, files, lines_read, clean_rows, quarantined_rows, ingested_at) "
        "VALUES (?, 1, 10, 10, 0, timezone('UTC', now()))",
        [day],
    )


def _pass(con, day: date) -> None:
    record_gate(con, day, "clean_turns_expectations", True, "all expectations met")
    record_gate(con, day, "ingest_accounting", True, "quarantine rate 0.0% <= limit 5.0%")


@pytest.fixture
def con():
    with duckdb.connect() as con:
        ensure_day_gates(con)
        yield con


def test_a_day_is_readable_only_after_every_gate_passed_since_its_ingestion(con):
    assert day_status(con, D1).message() == "2026-11-01 has not been ingested: materialize clean_turns for 2026-11-01 first"
    _ingest(con, D1)
    status = day_status(con, D1)
    assert status.ingested and not status.readable
    assert status.reason == (
        "ingestion gate clean_turns_expectations has not passed since the day was ingested; "
        "ingestion gate ingest_accounting has not passed since the day was ingested"
    )
    record_gate(con, D1, "clean_turns_expectations", True, "all expectations met")
    assert not day_status(con, D1).readable  # one gate is not enough
    record_gate(con, D1, "ingest_accounting", False, "quarantine rate 11.0% > limit 5.0%")
    status = day_status(con, D1)
    assert not status.readable
    assert status.reason == "ingestion gate ingest_accounting failed (quarantine rate 11.0% > limit 5.0%)"
    assert status.message() == (
        "2026-11-01 is blocked: ingestion gate ingest_accounting failed (quarantine rate 11.0% > limit 5.0%); "
        "fix the raw data and re-materialize clean_turns (its gates run with it)"
    )
    _pass(con, D1)  # a later evaluation replaces the failed one
    assert day_status(con, D1) == DayStatus(D1, ingested=True, readable=True, reason=None)
    _ingest(con, D1)  # re-ingested: the passes predate the new rows
    assert not day_status(con, D1).readable
    _pass(con, D1)
    assert day_status(con, D1).readable
    assert con.execute("SELECT count(*) FROM ingest.day_gates").fetchone()[0] == 2  # latest outcome per gate


def test_windows_leave_blocked_days_out_only_on_a_connection_that_asks(con):
    for day in (D1, D2, D3):
        _ingest(con, day)
    _pass(con, D1)
    _pass(con, D3)
    record_gate(con, D2, "ingest_accounting", False, "quarantine rate 11.0% > limit 5.0%")
    assert blocked_days(con) == [D2] and blocked_days(con, D3, D3) == [] and blocked_days(con, D1, D2) == [D2]
    assert readable_among(con, [D1, D2, D3, date(2026, 11, 4)]) == [D1, D3]

    run_sql(con, "signals/schema.sql")
    for day in (D1, D2, D3):  # one transition row per day, as markov_transitions writes them
        con.execute(
            "INSERT INTO signals.markov_transitions (day, src, dst, rewritten, n_transitions, n_sessions, users) "
            "VALUES (?, 'play abba', '__SUCCESS__', false, 1, 1, ['u1'])",
            [day],
        )
    bounds = {"window_start": D1, "day": D3}
    every_day = query_pl(con, "rewrites/window_transitions.sql", bounds)["day"].to_list()
    assert sorted(every_day) == [D1, D2, D3]  # a bench or a unit test of a stage reads every day
    assert exclude_blocked_days(con) == [D2]
    assert sorted(query_pl(con, "rewrites/window_transitions.sql", bounds)["day"].to_list()) == [D1, D3]
    _pass(con, D2)
    assert exclude_blocked_days(con) == []
    assert sorted(query_pl(con, "rewrites/window_transitions.sql", bounds)["day"].to_list()) == [D1, D2, D3]


def test_left_out_note():
    assert left_out_note(D1, date(2026, 11, 7), [D1]) == "window 2026-11-01..2026-11-07: 1 day left out as blocked (2026-11-01)"
    assert left_out_note(D1, D3, [D1, D3]) == (
        "window 2026-11-01..2026-11-03: 2 days left out as blocked (2026-11-01, 2026-11-03)"
    )
    assert left_out_note(D1, D3, []) == ""
