"""The signals stage's day tables in the lake (`lib/signals/store.py`): the rows equal those of the same SQL
inserted into warehouse tables, as the stage wrote them before; re-materialising a day replaces its partition;
an empty day reads typed; a warehouse that still has the tables is migrated into the lake."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from selflearn_assets.lib.ingest import ingest_annotations, ingest_turns
from selflearn_assets.lib.lake import Lake, LakeSchemaError
from selflearn_assets.lib.signals import (
    SignalParams,
    defect_signals,
    defects,
    ensure_signals_schema,
    markov_transitions,
    rephrase,
    rephrase_candidates,
    transitions,
)
from selflearn_assets.lib.signals.store import LAKE_SIGNAL_TABLES
from selflearn_assets.lib.simulator import SimConfig, simulate
from selflearn_assets.lib.sql import query, run_sql

D1 = date(2026, 3, 2)
DAYS = [D1, D1 + timedelta(days=1)]
# ~40 users x 2 days (~400 turns), half the sessions audited: enough gold for the defect model to be refitted
WORLD = SimConfig(users=40, days=2, start=D1, annotation_rate=0.5)
ORDER = {  # a total order of each table's rows
    "signals.defect_signals": "day, event_id",
    "signals.rephrase_candidates": "day, first_event_id, second_event_id",
    "signals.markov_transitions": "day, src, dst, rewritten, rewrite_id, rewrite_layer",
    "signals.defect_model": "day",
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A warehouse file with the simulated world's days ingested, and nothing else (copied by each test)."""
    folder = tmp_path_factory.mktemp("signals_lake_world")
    simulate(WORLD, folder / "raw", progress=False)
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        run_sql(con, "ingest/schema.sql")
        for day in DAYS:
            ingest_turns(con, folder / "raw", day, "test-key")
            ingest_annotations(con, folder / "raw", day)
    return folder / "warehouse.duckdb"


def _copy(ingested: Path, to: Path) -> duckdb.DuckDBPyConnection:
    to.mkdir()
    shutil.copy(ingested, to / "warehouse.duckdb")
    return duckdb.connect(str(to / "warehouse.duckdb"))


def _run(con, day: date, params: SignalParams | None = None, lake: Lake | None = None) -> None:
    defect_signals(con, day, params, lake=lake)
    rephrase_candidates(con, day, params, lake=lake)
    markov_transitions(con, day, params, lake=lake)


def _rows(con, table: str, day: date | None = None) -> list[dict]:
    where = "" if day is None else f"WHERE day = DATE '{day}'"
    columns = "* EXCLUDE (created_at)" if table == "signals.defect_model" else "*"  # when it was written
    return con.sql(f"SELECT {columns} FROM {table} {where} ORDER BY {ORDER[table]}").pl().to_dicts()


def _warehouse_tables(monkeypatch) -> None:
    """The stage as it was before the lake: its tables in the warehouse, each day's rows deleted and the same
    SELECT inserted into them (BY NAME, DuckDB's casts) in one transaction."""

    def schema(con, lake=None):
        run_sql(con, "signals/schema.sql")

    def publish(con, lake, table, day, sql, params):
        con.execute("BEGIN TRANSACTION")
        con.execute(f"DELETE FROM {table} WHERE day = ?", [day])
        rows = query(con, sql, params).to_arrow_table()
        con.register("_day_rows", rows)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _day_rows")
        con.unregister("_day_rows")
        con.execute("COMMIT")
        return rows.num_rows

    for module in (defects, rephrase, transitions):
        monkeypatch.setattr(module, "ensure_signals_schema", schema)
        monkeypatch.setattr(module, "publish_day", publish)


def _assert_same_rows(got: list[dict], want: list[dict], table: str) -> None:
    assert len(got) == len(want), table
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys(), table
        for column, value in w.items():
            if isinstance(value, float) and not math.isnan(value):
                assert g[column] == pytest.approx(value, rel=0, abs=1e-9), (table, column, w)
            else:
                assert g[column] == value, (table, column, w)


def test_the_lake_rows_equal_the_same_sql_inserted_into_warehouse_tables(ingested, tmp_path, monkeypatch):
    con = _copy(ingested, tmp_path / "lake_home")
    for day in DAYS:
        _run(con, day)
    lake = Lake(str(tmp_path / "lake_home" / "lake"))
    assert all(lake.days(t) == DAYS for t in LAKE_SIGNAL_TABLES)
    kinds = dict(con.sql("SELECT table_name, table_type FROM information_schema.tables "
                         "WHERE table_schema = 'signals'").fetchall())  # fmt: skip
    assert kinds == {"defect_signals": "VIEW", "rephrase_candidates": "VIEW", "markov_transitions": "VIEW",
                     "defect_model": "BASE TABLE"}  # fmt: skip

    _warehouse_tables(monkeypatch)
    reference = _copy(ingested, tmp_path / "table_home")
    for day in DAYS:
        _run(reference, day)
    assert not (tmp_path / "table_home" / "lake").exists()  # the reference wrote no lake

    for table in ORDER:
        want = _rows(reference, table)
        assert want, f"{table}: the world must give rows, else this test could not fail"
        _assert_same_rows(_rows(con, table), want, table)
    # the fitted model: the world has enough gold for a refit that is used (so later days read it)
    assert [r["day"] for r in _rows(con, "signals.defect_model")] != []
    # the lake's files themselves, read without the warehouse, hold the same rows
    for table in LAKE_SIGNAL_TABLES:
        files = duckdb.connect()
        files.register("lake_rows", lake.read(table))
        from_files = files.sql(f"SELECT * FROM lake_rows ORDER BY {ORDER[table]}").pl().to_dicts()
        _assert_same_rows(from_files, _rows(reference, table), table)


def test_rematerialising_a_day_replaces_its_partition_and_leaves_the_others(ingested, tmp_path):
    con = _copy(ingested, tmp_path / "home")
    for day in DAYS:
        _run(con, day)
    lake = Lake(str(tmp_path / "home" / "lake"))
    other = {t: Path(lake.partition_file(t, DAYS[0])).read_bytes() for t in LAKE_SIGNAL_TABLES}
    first = {t: _rows(con, t, DAYS[1]) for t in LAKE_SIGNAL_TABLES}

    # the same day again with a stricter rephrase threshold: fewer chain links, so other transitions
    stricter = SignalParams(rephrase_threshold=0.95)
    _run(con, DAYS[1], stricter)
    again = {t: _rows(con, t, DAYS[1]) for t in LAKE_SIGNAL_TABLES}
    assert again["signals.defect_signals"] == first["signals.defect_signals"]  # no duplicate, same rows
    assert again["signals.rephrase_candidates"] == first["signals.rephrase_candidates"]
    assert again["signals.markov_transitions"] != first["signals.markov_transitions"]  # replaced, not added
    links = (
        "SELECT count(*) FROM signals.markov_transitions WHERE day = ? AND dst NOT LIKE '\\_\\_%' ESCAPE '\\'"
    )
    assert con.execute(links, [DAYS[1]]).fetchall()[0][0] < sum(
        1 for r in first["signals.markov_transitions"] if not r["dst"].startswith("__")
    )
    turns = con.execute("SELECT count(*) FROM ingest.clean_turns WHERE day = ?", [DAYS[1]]).fetchall()[0][0]
    assert len(again["signals.defect_signals"]) == turns
    # one file per day: the other day's partition is untouched, no temporary file is left
    assert {t: Path(lake.partition_file(t, DAYS[0])).read_bytes() for t in LAKE_SIGNAL_TABLES} == other
    for table in LAKE_SIGNAL_TABLES:
        folder = Path(lake.partition_file(table, DAYS[1])).parent
        assert sorted(p.name for p in folder.iterdir()) == ["data.parquet"]
    _run(con, DAYS[1])  # back to the defaults: the first rows again
    assert {t: _rows(con, t, DAYS[1]) for t in LAKE_SIGNAL_TABLES} == first


def test_an_empty_day_publishes_an_empty_partition_read_typed(ingested, tmp_path):
    con = _copy(ingested, tmp_path / "home")
    empty_day = DAYS[1] + timedelta(days=5)  # nothing ingested that day
    _run(con, empty_day)
    lake = Lake(str(tmp_path / "home" / "lake"))
    for table in LAKE_SIGNAL_TABLES:
        assert lake.days(table) == [empty_day]
        assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]
    # the views' columns and types are the schema file's, as its tables have them
    reference = duckdb.connect()
    run_sql(reference, "signals/schema.sql")
    for table in LAKE_SIGNAL_TABLES:
        want = [(name, kind) for name, kind, *_ in reference.sql(f"DESCRIBE {table}").fetchall()]
        assert [(name, kind) for name, kind, *_ in con.sql(f"DESCRIBE {table}").fetchall()] == want
    markov = dict((n, k) for n, k, *_ in con.sql("DESCRIBE signals.markov_transitions").fetchall())
    assert markov["users"] == "VARCHAR[]" and markov["n_transitions"] == "BIGINT"
    # the readers' windows work on it (a typed empty result, not an error)
    rows = con.sql("SELECT src, sum(n_transitions) FROM signals.markov_transitions GROUP BY src").fetchall()
    assert rows == []


def test_a_warehouse_with_the_old_signal_tables_is_migrated_into_the_lake(ingested, tmp_path, monkeypatch):
    # the stage as it wrote before: tables in the warehouse, markov_transitions from before rewrite_id existed
    with monkeypatch.context() as patched:
        _warehouse_tables(patched)
        con = _copy(ingested, tmp_path / "home")
        for day in DAYS:
            _run(con, day)
    con.execute("ALTER TABLE signals.markov_transitions DROP COLUMN rewrite_layer")
    con.execute("ALTER TABLE signals.markov_transitions DROP COLUMN rewrite_id")
    before = {t: _rows(con, t) for t in ORDER if t != "signals.markov_transitions"}
    markov_before = _bag(con.sql("SELECT * FROM signals.markov_transitions").pl().to_dicts())
    assert all(before.values()) and markov_before

    lake = ensure_signals_schema(con)
    assert lake.root == str(tmp_path / "home" / "lake")
    assert all(lake.days(t) == DAYS for t in LAKE_SIGNAL_TABLES)
    for table, rows in before.items():
        assert _rows(con, table) == rows, table
    # the column the old table lacked reads NULL; every other value as it was
    assert _bag(_rows(con, "signals.markov_transitions")) == _bag(
        [{**dict(r), "rewrite_id": None, "rewrite_layer": None} for r in markov_before.elements()]
    )
    con.close()
    with duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb")) as con:  # a later process
        files = {t: Path(lake.partition_file(t, D1)).stat().st_mtime_ns for t in LAKE_SIGNAL_TABLES}
        ensure_signals_schema(con)  # idempotent: nothing migrated again, no partition rewritten
        assert {t: Path(lake.partition_file(t, D1)).stat().st_mtime_ns for t in LAKE_SIGNAL_TABLES} == files
        kinds = dict(con.sql("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_schema = 'signals'").fetchall())  # fmt: skip
        assert {k for k, v in kinds.items() if v == "VIEW"} == {t.split(".")[1] for t in LAKE_SIGNAL_TABLES}
        # and the stage runs on the migrated warehouse: a day re-materialised replaces its partition
        _run(con, DAYS[1])
        assert _rows(con, "signals.defect_signals") == before["signals.defect_signals"]


def _bag(rows: list[dict]) -> Counter:
    """The rows as a multiset (the old table's rows have no total order without the columns it lacks)."""
    return Counter(tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in r.items()) for r in rows)


def test_an_in_memory_warehouse_needs_its_lake_named():
    con = duckdb.connect()
    run_sql(con, "ingest/schema.sql")
    with pytest.raises(ValueError, match="in-memory warehouse has no lake"):
        defect_signals(con, D1)


def test_an_old_table_with_a_column_the_schema_file_lacks_is_not_migrated(tmp_path):
    con = duckdb.connect()
    run_sql(con, "signals/schema.sql")
    con.execute("ALTER TABLE signals.rephrase_candidates ADD COLUMN retired_feature DOUBLE")
    with pytest.raises(LakeSchemaError, match="retired_feature"):
        ensure_signals_schema(con, Lake(str(tmp_path / "lake")))
    kind = "SELECT table_type FROM information_schema.tables WHERE table_name = 'rephrase_candidates'"
    assert con.sql(kind).fetchall() == [("BASE TABLE",)]  # its values stay where they are
