"""Ingestion assets end to end through Dagster: tables, metadata, checks, idempotency, blocking."""

from datetime import date, timedelta

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from selflearn_assets import cli
from selflearn_assets.defs.ingest.assets import annotations, raw_turns, sessions
from selflearn_assets.defs.ingest.checks import (
    clean_turns_expectations,
    clean_turns_volume,
    ingest_accounting,
)
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.ingest.schema import ensure_ingest_schema
from selflearn_assets.lib.simulator import SimConfig, simulate
from selflearn_assets_tests.conftest import write_lines

DAY = date(2026, 11, 2)
INGEST = [raw_turns, sessions, annotations, clean_turns_expectations, ingest_accounting, clean_turns_volume]


def _resources(home):
    return {
        "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
        "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
    }


def _table(home, sql):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def simulated_day(selflearn_home):
    summary = simulate(SimConfig(users=150, start=DAY, days=1, annotation_rate=0.2), selflearn_home / "raw", progress=False)
    return summary


def test_ingest_day_through_dagster(selflearn_home, simulated_day):
    result = dg.materialize(INGEST, partition_key=DAY.isoformat(), resources=_resources(selflearn_home))
    assert result.success
    turns = simulated_day.turns_per_day[DAY.isoformat()]
    assert _table(selflearn_home, "SELECT count(*) FROM ingest.clean_turns")[0][0] == turns
    assert _table(selflearn_home, "SELECT count(*) FROM ingest.quarantined_turns")[0][0] == 0
    assert _table(selflearn_home, "SELECT sum(n_turns) FROM ingest.sessions")[0][0] == turns
    assert _table(selflearn_home, "SELECT count(DISTINCT annotator) FROM ingest.annotations")[0][0] == 2

    clean = result.asset_materializations_for_node("raw_turns")
    by_key = {m.asset_key.to_user_string(): m.metadata for m in clean}
    assert by_key["clean_turns"]["dagster/row_count"].value == turns
    assert by_key["clean_turns"]["lines_read"].value == turns
    assert "event_id" in by_key["clean_turns"]["preview"].value
    columns = {c.name for c in by_key["clean_turns"]["dagster/column_schema"].schema.columns}
    assert {"event_id", "ts", "asr_nbest", "extra"} <= columns
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["clean_turns_expectations"].passed and checks["ingest_accounting"].passed
    assert "expect_column_values_to_be_unique" in checks["clean_turns_expectations"].metadata["results"].value


def test_rematerializing_a_day_replaces_it_exactly(selflearn_home, simulated_day):
    resources = _resources(selflearn_home)
    snapshot = "SELECT md5(string_agg(event_id || user_id || asr_text, ',' ORDER BY event_id)), count(*) FROM ingest.clean_turns"
    dg.materialize(INGEST, partition_key=DAY.isoformat(), resources=resources)
    first = _table(selflearn_home, snapshot)
    sessions_first = _table(selflearn_home, "SELECT count(*), sum(n_turns) FROM ingest.sessions")
    dg.materialize(INGEST, partition_key=DAY.isoformat(), resources=resources)
    assert _table(selflearn_home, snapshot) == first
    assert _table(selflearn_home, "SELECT count(*), sum(n_turns) FROM ingest.sessions") == sessions_first


def _good(i: int) -> dict:
    return {
        "event_id": f"e{i}", "session_id": f"s{i // 3}", "user_id": f"u{i % 4}", "device_id": "d1",
        "ts": f"2026-11-02T10:{i:02d}:00+00:00", "asr_text": "what's the weather", "response_status": "success",
    }


def test_a_day_over_the_quarantine_threshold_is_blocked(selflearn_home, capsys):
    """Blocking checks stop the day's downstream assets, and `selflearn run` exits non-zero saying why."""
    lines = [_good(i) for i in range(10)] + ["{not json"] * 4  # 4 of 14 lines quarantined: 29% > 5%
    write_lines(selflearn_home / "raw" / "date=2026-11-02" / "part-0.jsonl", lines)
    code = cli.main(["run", "--start", "2026-11-02"])
    assert code == 1
    err = capsys.readouterr()
    assert "ingest_accounting" in err.out and "quarantine rate 28.6% > limit 5.0%" in err.out  # 4 / 14
    assert _table(selflearn_home, "SELECT count(*) FROM ingest.clean_turns")[0][0] == 10
    assert _table(selflearn_home, "SELECT count(*) FROM ingest.quarantined_turns")[0][0] == 4
    # nothing downstream of the blocked check ran
    assert _table(
        selflearn_home, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sessions'"
    )[0][0] == 0 or _table(selflearn_home, "SELECT count(*) FROM ingest.sessions")[0][0] == 0
    assert _table(
        selflearn_home, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'signals'"
    )[0][0] == 0 or _table(selflearn_home, "SELECT count(*) FROM signals.defect_signals")[0][0] == 0


def test_run_on_a_missing_raw_root_says_so(selflearn_home, tmp_path, capsys):
    code = cli.main(["run", "--raw-root", str(tmp_path / "nowhere")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_run_refuses_days_without_raw_partitions(selflearn_home, simulated_day, capsys):
    code = cli.main(["run", "--start", "2026-11-02", "--end", "2026-11-03"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no raw" in err and "2026-11-03" in err


@pytest.mark.parametrize("selected", ["clean_turns", "quarantined_turns"])
def test_one_table_of_raw_turns_can_be_selected_alone(selflearn_home, selected):
    """`--select clean_turns` (or quarantined_turns) runs the multi-asset for that key alone: both tables are
    written all the same, one transaction, and only the selected key is reported as materialized."""
    lines = [_good(i) for i in range(5)] + ["{not json", '{"event_id": "e9"}']  # 5 clean, 2 quarantined
    write_lines(selflearn_home / "raw" / "date=2026-11-02" / "part-0.jsonl", lines)
    result = dg.materialize(
        [raw_turns], selection=[selected], partition_key=DAY.isoformat(), resources=_resources(selflearn_home)
    )
    assert result.success
    reported = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("raw_turns")}
    assert reported == {selected}
    assert _table(selflearn_home, "SELECT count(*) FROM ingest.clean_turns WHERE day = DATE '2026-11-02'") == [(5,)]
    quarantined = _table(selflearn_home, "SELECT source_line FROM ingest.quarantined_turns ORDER BY source_line")
    assert quarantined == [(6,), (7,)]


@dg.asset(name="clean_turns", partitions_def=daily_partitions)
def hand_made_clean_turns() -> dg.MaterializeResult:
    """Stands for raw_turns: the day's ingestion statistics were written by hand."""
    return dg.MaterializeResult()


def test_the_volume_check_compares_the_day_with_the_median_of_the_trailing_week(selflearn_home):
    """Clean rows 500 against the days 7..1 before (100, 200, 300: median 200) is 2.5x: outside 0.5x..2x. The
    day 8 days before and the day after are not part of the week."""
    clean_rows = {-8: 10_000, -7: 100, -3: 200, -1: 300, 0: 500, 1: 9_999}
    with duckdb.connect(str(selflearn_home / "warehouse.duckdb")) as con:
        ensure_ingest_schema(con)
        for offset, rows in clean_rows.items():
            con.execute(
                "INSERT INTO ingest.partition_stats (day, files, lines_read, clean_rows, quarantined_rows, ingested_at) "
                "VALUES (?, 1, ?, ?, 0, now())",
                [DAY + timedelta(days=offset), rows, rows],
            )
    result = dg.materialize(
        [hand_made_clean_turns, clean_turns_volume],
        partition_key=DAY.isoformat(),
        resources=_resources(selflearn_home),
    )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == "500 rows, 2.50x the trailing median of 200"
    assert check.metadata["trailing_median"].value == 200.0 and check.metadata["ratio"].value == 2.5
    week = check.metadata["trailing_days"].value
    assert "2026-10-26" in week and "2026-11-01" in week
    assert "2026-10-25" not in week and "2026-11-03" not in week
