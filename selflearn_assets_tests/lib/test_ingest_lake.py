"""The ingest stage's day tables in the lake (`lib/ingest/store.py`): clean_turns and quarantined_turns equal
the rows the same SQL inserted into warehouse tables, as ingestion wrote them before; a warehouse that still
has the tables is migrated into the lake; a day whose partitions fail to publish after its accounting committed
is blocked, and its previous partitions stay."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from selflearn_assets.lib.ingest import ingest_turns, store, turns
from selflearn_assets.lib.ingest.gates import day_status, ensure_day_gates, record_gate
from selflearn_assets.lib.ingest.schema import ensure_ingest_schema
from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.simulator import SimConfig, simulate

D1 = date(2026, 4, 6)
DAYS = [D1, D1 + timedelta(days=1)]
WORLD = SimConfig(users=25, days=2, start=D1)
KEY = "test-key"
ORDER = "day, source_file, source_line"  # a total order of both tables' rows
TABLES = store.LAKE_INGEST_TABLES
STATS = "SELECT * EXCLUDE (ingested_at) FROM ingest.partition_stats ORDER BY day"


def _first_line(folder: Path) -> str:
    for path in sorted(folder.rglob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            line = f.readline().strip()
            if line:
                return line
    raise AssertionError(f"no line under {folder}")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """The simulated world's raw logs, plus on each day a file with a same-content duplicate, a conflicting
    duplicate and two lines that are not turns (so that every path of ingestion writes rows)."""
    root = tmp_path_factory.mktemp("ingest_lake_world") / "raw"
    simulate(WORLD, root, progress=False)
    for day in DAYS:
        folder = root / f"date={day}"
        line = _first_line(folder)
        conflicting = {**json.loads(line), "asr_text": "something else entirely"}
        extra = [line, json.dumps(conflicting), "{not json", '{"event_id": "x1", "user_id": "someone"}']
        (folder / "zz_extra.jsonl").write_text("\n".join(extra) + "\n")
    return root


def _warehouse(home: Path) -> duckdb.DuckDBPyConnection:
    home.mkdir()
    return duckdb.connect(str(home / "warehouse.duckdb"))


def _rows(con, table: str) -> list[dict]:
    return con.sql(f"SELECT * FROM {table} ORDER BY {ORDER}").pl().to_dicts()


def _warehouse_tables(monkeypatch) -> None:
    """Ingestion as it was before the lake: its tables in the warehouse, the day's rows deleted and the same
    rows inserted (BY NAME) once the day is built."""

    def tables(con, lake=None):
        ensure_ingest_schema(con)
        return lake

    def publish(cur, lake, day):
        with turns.transaction(cur):
            for table, temp in store.STAGED.items():
                cur.execute(f"DELETE FROM {table} WHERE day = ?", [day])
                cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {temp}")
        return {}

    monkeypatch.setattr(turns, "ensure_turn_tables", tables)
    monkeypatch.setattr(turns, "publish_day", publish)


def test_the_lake_rows_equal_the_same_sql_inserted_into_warehouse_tables(raw, tmp_path, monkeypatch):
    con = _warehouse(tmp_path / "lake_home")
    for day in DAYS:
        ingest_turns(con, raw, day, KEY)
    lake = Lake(str(tmp_path / "lake_home" / "lake"))
    assert all(lake.days(t) == DAYS for t in TABLES)
    kinds = dict(con.sql("SELECT table_name, table_type FROM information_schema.tables "
                         "WHERE table_schema = 'ingest' AND table_name LIKE '%turns'").fetchall())  # fmt: skip
    assert kinds == {"clean_turns": "VIEW", "quarantined_turns": "VIEW"}

    with monkeypatch.context() as patched:
        _warehouse_tables(patched)
        reference = _warehouse(tmp_path / "table_home")
        for day in DAYS:
            ingest_turns(reference, raw, day, KEY)
    assert not (tmp_path / "table_home" / "lake").exists()  # the reference wrote no lake

    for table in TABLES:
        want = _rows(reference, table)
        assert len(want) > 100 if table == "ingest.clean_turns" else len(want) >= 2 * len(DAYS), table
        assert _rows(con, table) == want, table
        # the lake's files themselves, read without the warehouse, hold the same rows
        files = duckdb.connect()
        files.register("lake_rows", lake.read(table))
        assert files.sql(f"SELECT * FROM lake_rows ORDER BY {ORDER}").pl().to_dicts() == want, table
    reasons = {r["reason"] for r in _rows(con, "ingest.quarantined_turns")}
    assert {"duplicate_event_id", "conflicting_duplicate_event_id", "invalid_json"} <= reasons
    assert con.sql(STATS).fetchall() == reference.sql(STATS).fetchall()
    types = dict(con.sql("SELECT column_name, data_type FROM information_schema.columns "
                         "WHERE table_schema = 'ingest' AND table_name = 'clean_turns'").fetchall())  # fmt: skip
    assert types == dict(reference.sql("SELECT column_name, data_type FROM information_schema.columns "
                                       "WHERE table_schema = 'ingest' AND table_name = 'clean_turns'").fetchall())  # fmt: skip


def test_a_warehouse_with_the_old_tables_is_migrated_and_ingests_on(raw, tmp_path, monkeypatch):
    with monkeypatch.context() as patched:
        _warehouse_tables(patched)
        con = _warehouse(tmp_path / "home")
        for day in DAYS:
            ingest_turns(con, raw, day, KEY)
    before = {t: _rows(con, t) for t in TABLES}
    assert all(before.values())

    lake = store.ensure_turn_tables(con)
    assert lake.root == str(tmp_path / "home" / "lake")
    assert all(lake.days(t) == DAYS for t in TABLES)
    assert {t: _rows(con, t) for t in TABLES} == before
    files = {t: Path(lake.partition_file(t, D1)).stat().st_mtime_ns for t in TABLES}
    store.ensure_turn_tables(con)  # idempotent: no partition written again
    assert {t: Path(lake.partition_file(t, D1)).stat().st_mtime_ns for t in TABLES} == files
    # a day ingested again on the migrated warehouse replaces its partitions with the same rows
    ingest_turns(con, raw, DAYS[1], KEY)
    assert {t: _rows(con, t) for t in TABLES} == before
    for table in TABLES:
        folder = Path(lake.partition_file(table, DAYS[1])).parent
        assert sorted(p.name for p in folder.iterdir()) == ["data.parquet"]


def test_a_day_whose_partitions_fail_to_publish_is_blocked_and_keeps_its_previous_rows(
    raw, tmp_path, monkeypatch
):
    con = _warehouse(tmp_path / "home")
    ingest_turns(con, raw, D1, KEY)
    lake = Lake(str(tmp_path / "home" / "lake"))
    published = {t: Path(lake.partition_file(t, D1)).read_bytes() for t in TABLES}
    rows = _rows(con, "ingest.clean_turns")
    ensure_day_gates(con)
    record_gate(con, D1, "clean_turns_expectations", True, "all expectations met")
    record_gate(con, D1, "ingest_accounting", True, "quarantine rate 0.0% <= limit 5.0%")
    assert day_status(con, D1).readable

    # the day's raw folder gains a line; its partitions fail to publish (a full disk, a killed process)
    folder = raw / f"date={D1}"
    shutil.copy(folder / "zz_extra.jsonl", tmp_path / "saved.jsonl")
    try:
        with (folder / "zz_extra.jsonl").open("a") as f:
            f.write("{still not json\n")

        def fail(*args, **kwargs):
            raise OSError("no space left on device")

        monkeypatch.setattr(Lake, "write_partition", fail)
        with pytest.raises(OSError, match="no space"):
            ingest_turns(con, raw, D1, KEY)
    finally:
        shutil.copy(tmp_path / "saved.jsonl", folder / "zz_extra.jsonl")
    # the accounting committed, the partitions did not change: the day is blocked until ingested again
    assert {t: Path(lake.partition_file(t, D1)).read_bytes() for t in TABLES} == published
    assert _rows(con.cursor(), "ingest.clean_turns") == rows
    status = day_status(con.cursor(), D1)
    assert not status.readable and "has not passed since the day was ingested" in status.reason
