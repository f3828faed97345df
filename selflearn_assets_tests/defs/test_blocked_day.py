"""A day blocked by an ingestion gate never reaches later stages (issue 12, item 3), through Dagster on a small
simulated world of two days: its partition assets fail saying why, windows leave it out (also its rows built
before it was blocked), and once the raw data is fixed and clean_turns re-materialised it is read again."""

import json
from datetime import date

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from selflearn_assets.definitions import defs
from selflearn_assets.defs.ingest.assets import annotations, raw_turns, sessions
from selflearn_assets.defs.ingest.checks import clean_turns_expectations, ingest_accounting
from selflearn_assets.defs.models.window import load_training_window
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.defs.rewrites.assets import markov_rewrites
from selflearn_assets.defs.signals.assets import defect_signals, markov_transitions, rephrase_candidates
from selflearn_assets.lib.ingest.gates import day_status, gate_names
from selflearn_assets.lib.models.rephrase_data import load_rephrase_turns
from selflearn_assets.lib.simulator import SimConfig, simulate

DAY1, DAY2 = date(2026, 11, 1), date(2026, 11, 2)
INGEST = [raw_turns, annotations, clean_turns_expectations, ingest_accounting]
SIGNALS = [defect_signals, rephrase_candidates, markov_transitions]


def _warehouse(home) -> DuckDBResource:
    return DuckDBResource(database=str(home / "warehouse.duckdb"))


def _resources(home) -> dict:
    return {
        "duckdb": _warehouse(home),
        "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
    }


def _materialize(home, assets, day: date) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, partition_key=day.isoformat(), resources=_resources(home), raise_on_error=False)


def _failures(result) -> dict[str, str]:
    return {
        e.step_key: e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    }


def _status(home, day: date):
    with _warehouse(home).get_connection() as con:
        return day_status(con, day)


def _window(home) -> tuple[list[date], set[date], int]:
    """The model assets' training window as they read it: its days, the days of its rows, its row count."""
    days, rows = load_training_window(dg.build_asset_context(), _warehouse(home), 14, load_rephrase_turns)
    return days, set(rows["day"].to_list()), rows.height


def _clean_rows(home, day: date) -> int:
    with _warehouse(home).get_connection() as con:
        return con.execute("SELECT count(*) FROM ingest.clean_turns WHERE day = ?", [day]).fetchone()[0]


def _rewrites_metadata(home, day: date) -> dict:
    result = _materialize(home, [markov_rewrites], day)
    assert result.success, _failures(result)
    (materialization,) = result.asset_materializations_for_node("markov_rewrites")
    return materialization.metadata


@pytest.fixture
def world(selflearn_home):
    """Two simulated days (150 users) ingested with their gates, and their signals built: both readable."""
    simulate(SimConfig(users=150, start=DAY1, days=2, annotation_rate=0.3), selflearn_home / "raw", progress=False)
    for day in (DAY1, DAY2):
        assert _materialize(selflearn_home, INGEST + [sessions] + SIGNALS, day).success
    return selflearn_home


def test_a_blocked_day_is_not_read_downstream_until_it_passes(world):
    (raw_file,) = (world / "raw" / f"date={DAY1}").glob("*.jsonl")
    good = raw_file.read_text().splitlines()
    assert _status(world, DAY1).readable and _window(world)[0] == [DAY1, DAY2]
    assert _rewrites_metadata(world, DAY2)["days_in_window_with_data"].value == 2

    # wake_score a string on the first 15% of DAY1's lines: quarantined, over the 5% limit, the day blocked
    bad_lines = len(good) * 15 // 100
    records = [json.loads(line) for line in good]
    for record in records[:bad_lines]:
        record["wake_score"] = "high"
    raw_file.write_text("".join(json.dumps(r) + "\n" for r in records))
    blocked = _materialize(world, INGEST, DAY1)
    gates = {e.check_name: e.passed for e in blocked.get_asset_check_evaluations()}
    assert gates == {"clean_turns_expectations": True, "ingest_accounting": False}
    assert _clean_rows(world, DAY1) == len(good) - bad_lines  # its clean rows are committed, yet unreadable
    status = _status(world, DAY1)
    assert not status.readable and status.reason.startswith("ingestion gate ingest_accounting failed (")

    # a separate run of the day's partition assets fails, saying why and what to do
    downstream = _materialize(world, [sessions, defect_signals], DAY1)
    failures = _failures(downstream)
    assert set(failures) == {"sessions", "defect_signals"}
    for message in failures.values():
        assert "2026-11-01 is blocked: ingestion gate ingest_accounting failed (quarantine rate" in message
        assert "fix the raw data and re-materialize clean_turns" in message

    # windows leave it out: the model window, and the rewrite window (whose DAY1 transitions predate the block)
    days, row_days, rows = _window(world)
    assert days == [DAY2] and row_days == {DAY2} and rows == _clean_rows(world, DAY2)
    metadata = _rewrites_metadata(world, DAY2)
    assert metadata["days_in_window_with_data"].value == 1
    assert metadata["days_left_out_as_blocked"].value == ["2026-11-01"]

    # re-ingesting resets the gates: the fixed day is unreadable until they have passed again
    raw_file.write_text("\n".join(good) + "\n")
    assert _materialize(world, [raw_turns], DAY1).success
    status = _status(world, DAY1)
    assert not status.readable and "has not passed since the day was ingested" in status.reason
    assert "sessions" in _failures(_materialize(world, [sessions], DAY1))

    fixed = _materialize(world, INGEST, DAY1)
    assert fixed.success and all(e.passed for e in fixed.get_asset_check_evaluations())
    assert _status(world, DAY1).readable
    assert _materialize(world, [sessions], DAY1).success
    days, row_days, rows = _window(world)
    assert days == [DAY1, DAY2] and row_days == {DAY1, DAY2}
    assert rows == _clean_rows(world, DAY1) + _clean_rows(world, DAY2) and _clean_rows(world, DAY1) == len(good)


def test_the_recorded_gates_are_the_blocking_checks_on_clean_turns(selflearn_home):
    """`ingest/day_gates.sql` lists exactly the blocking checks of clean_turns: none is skipped, none extra."""
    graph = defs().resolve_asset_graph()
    blocking = sorted(
        k.name
        for k in graph.asset_check_keys
        if k.asset_key == dg.AssetKey("clean_turns") and graph.get_check_spec(k).blocking
    )
    with _warehouse(selflearn_home).get_connection() as con:
        assert gate_names(con) == blocking == ["clean_turns_expectations", "ingest_accounting"]
