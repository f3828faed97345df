"""The lake (`lib/lake/`): day partitions published whole (a crash before the publish leaves the previous one,
and recovery clears what the crashed writer left), re-writing a day replaces it, the rows held to the schema
file, an empty table read typed through the warehouse's view, a warehouse with the old tables migrated, the
same on an fsspec file system, and a forgotten customer's rows leaving the days that held them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selflearn_assets.lib.lake import LAKE_TABLES, Lake, LakeSchemaError, ensure_views, partitions
from selflearn_assets.lib.privacy.lake import PartitionChange, forget_in_lake
from selflearn_assets.lib.settings import lake_root
from selflearn_assets.lib.sql import run_sql

POINTS = "labels.failure_points"
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
CLASSES = ("false_wake", "asr", "nlu", "er", "result", "correct")


def _points(day: date, events: list[str], version: str = "1") -> pa.Table:
    n = len(events)
    probabilities = {f"p_{c}": [0.9 if c == "correct" else 0.02] * n for c in CLASSES}
    return pa.table(
        {
            "day": [day] * n, "event_id": events, "session_id": ["s"] * n, "failure_point": ["correct"] * n,
            "failure_point_confidence": [0.9] * n, **probabilities, "model_version": [version] * n,
        }
    )  # fmt: skip


def _events(lake: Lake, day: date) -> list[tuple[str, str]]:
    table = lake.read_partition(POINTS, day)
    return sorted(zip(table["event_id"].to_pylist(), table["model_version"].to_pylist(), strict=True))


def _temps(lake: Lake, day: date) -> list[str]:
    folder = Path(lake.partition_file(POINTS, day)).parent
    return sorted(p.name for p in folder.iterdir() if p.name != partitions.DATA)


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def test_a_day_is_written_read_replaced_and_deleted(lake):
    assert lake.write_partition(POINTS, D1, _points(D1, ["a", "b"])) == 2
    lake.write_partition(POINTS, D2, _points(D2, ["x"]))
    assert lake.days(POINTS) == [D1, D2]
    assert lake.partition_file(POINTS, D1).endswith("/labels/failure_points/date=2026-11-01/data.parquet")
    assert lake.write_partition(POINTS, D1, _points(D1, ["c"], "2")) == 1  # replaces the day, not adds to it
    assert _events(lake, D1) == [("c", "2")] and _events(lake, D2) == [("x", "1")]
    assert lake.read(POINTS).num_rows == 2 and lake.read(POINTS, [D2])["event_id"].to_pylist() == ["x"]
    assert _temps(lake, D1) == []  # nothing left beside the published file
    assert lake.delete_partition(POINTS, D1) is True and lake.delete_partition(POINTS, D1) is False
    assert lake.days(POINTS) == [D2] and lake.read_partition(POINTS, D1) is None
    assert not Path(lake.partition_file(POINTS, D1)).parent.exists()


def test_rows_are_held_to_the_schema_file_and_a_bad_batch_publishes_nothing(lake):
    lake.write_partition(POINTS, D1, _points(D1, ["a"]))
    with pytest.raises(LakeSchemaError, match="without column.*p_correct"):
        lake.write_partition(POINTS, D1, _points(D1, ["b"]).drop_columns(["p_correct"]))
    with pytest.raises(LakeSchemaError, match="unknown column.*extra"):
        lake.write_partition(POINTS, D1, _points(D1, ["b"]).append_column("extra", pa.array([1])))
    nulls = _points(D1, ["b", "c"]).set_column(2, "session_id", pa.array(["s", None]))
    with pytest.raises(LakeSchemaError, match="1 NULL.*session_id, which is NOT NULL"):
        lake.write_partition(POINTS, D1, nulls)
    with pytest.raises(LakeSchemaError, match="rows of other days \\(2026-11-02\\)"):
        lake.write_partition(POINTS, D1, _points(D2, ["b"]))
    with pytest.raises(LakeSchemaError, match="do not cast"):
        bad = _points(D1, ["b"]).set_column(4, "failure_point_confidence", pa.array(["high"]))
        lake.write_partition(POINTS, D1, bad)
    assert _events(lake, D1) == [("a", "1")] and _temps(lake, D1) == []
    # values are cast to the schema file's types: a float32 probability is stored as its DOUBLE
    narrow = _points(D1, ["b"]).set_column(6, "p_asr", pa.array([0.02], pa.float32()))
    lake.write_partition(POINTS, D1, narrow)
    stored = pq.read_schema(lake.partition_file(POINTS, D1))
    assert stored.field("p_asr").type == pa.float64() and stored.field("day").type == pa.date32()


def test_a_day_streams_batch_by_batch_and_a_failing_stream_leaves_the_previous_day(lake):
    lake.write_partition(POINTS, D1, _points(D1, ["old"]))

    def batches(fail: bool):
        for i in range(3):
            yield _points(D1, [f"e{i}a", f"e{i}b"], "2").to_batches()[0]
        if fail:
            raise RuntimeError("the producer died")

    with pytest.raises(RuntimeError, match="producer died"):
        lake.write_partition(POINTS, D1, batches(fail=True))
    assert _events(lake, D1) == [("old", "1")] and _temps(lake, D1) == []
    assert lake.write_partition(POINTS, D1, batches(fail=False)) == 6
    assert pq.ParquetFile(lake.partition_file(POINTS, D1)).metadata.num_row_groups == 3  # one per batch
    assert [b.num_rows for b in lake.iter_batches(POINTS, D1, batch_rows=4)] == [4, 2]


def test_a_crash_between_write_and_publish_leaves_the_previous_day(lake, monkeypatch):
    lake.write_partition(POINTS, D1, _points(D1, ["a", "b"]))

    def crash(files, temp, final):
        assert Path(temp).stat().st_size > 0 and pq.read_table(temp).num_rows == 3  # fully written
        raise OSError("crash before the publish")

    monkeypatch.setattr(partitions, "_publish", crash)
    with pytest.raises(OSError, match="before the publish"):
        lake.write_partition(POINTS, D1, _points(D1, ["c", "d", "e"], "2"))
    assert _events(lake, D1) == [("a", "1"), ("b", "1")] and _temps(lake, D1) == []


@pytest.mark.slow
def test_a_writer_killed_before_its_publish_leaves_the_previous_day_and_recovery_clears_its_file(lake):
    lake.write_partition(POINTS, D1, _points(D1, ["a", "b"]))
    con = duckdb.connect()
    ensure_views(con, lake, [POINTS])
    writer = textwrap.dedent(
        f"""
        import sys, time
        from datetime import date
        from selflearn_assets.lib.lake import Lake, partitions
        from selflearn_assets_tests.lib.test_lake import _points

        def stop(files, temp, final):  # written and synced: killed here, before the rename
            print("written", flush=True)
            time.sleep(60)

        partitions._publish = stop
        day = date.fromisoformat({D1.isoformat()!r})
        Lake({lake.root!r}).write_partition({POINTS!r}, day, _points(day, ["c", "d", "e"], "2"))
        """
    )
    checkout = Path(__file__).resolve().parents[2]  # where `selflearn_assets_tests` imports from
    process = subprocess.Popen(
        [sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True, cwd=checkout
    )
    try:
        assert process.stdout.readline().strip() == "written"
        assert len(_temps(lake, D1)) == 1  # its temporary file, complete
        assert lake.recover(POINTS) == []  # its writer is alive: left alone
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    (temp,) = _temps(lake, D1)
    assert temp.startswith(f".data.parquet.new-{process.pid}-")
    # readers see the previous day, never the killed writer's rows
    assert _events(lake, D1) == [("a", "1"), ("b", "1")]
    assert con.sql("SELECT event_id FROM labels.failure_points ORDER BY 1").fetchall() == [("a",), ("b",)]
    assert lake.recover(POINTS) == [str(Path(lake.partition_file(POINTS, D1)).parent / temp)]
    assert _temps(lake, D1) == []
    lake.write_partition(POINTS, D1, _points(D1, ["c"], "2"))  # and the day can be written again
    assert con.sql("SELECT event_id, model_version FROM labels.failure_points").fetchall() == [("c", "2")]


def test_an_empty_table_reads_typed_through_its_view(lake):
    con = duckdb.connect()
    ensure_views(con, lake)
    assert con.sql("SELECT count(*) FROM labels.turn_labels").fetchall() == [(0,)]
    types = dict(con.sql("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'turn_labels'")
                 .fetchall())  # fmt: skip
    assert types["day"] == "DATE" and types["goal_id"] == "INTEGER" and types["goal_start"] == "BOOLEAN"
    assert types["slots"] == 'STRUCT("name" VARCHAR, "value" VARCHAR)[]'
    tables = con.sql("SELECT table_schema || '.' || table_name, table_type FROM information_schema.tables")
    assert dict(tables.fetchall()) == {t: "VIEW" for t in LAKE_TABLES}
    # the same columns, in the same order, as the schema file creates
    reference = duckdb.connect()
    run_sql(reference, "labels/schema.sql")
    for table in ("labels.turn_labels", "labels.failure_points"):
        assert con.sql(f"DESCRIBE {table}").fetchall() == [
            (name, kind, "YES", None, None, None)
            for name, kind, *_ in reference.sql(f"DESCRIBE {table}").fetchall()
        ]


def test_a_warehouse_with_the_old_tables_is_migrated_into_the_lake(tmp_path, lake):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        run_sql(con, "labels/schema.sql")
        for table in (_points(D1, ["a", "b"]), _points(D2, ["x"], "2")):
            con.register("_rows", table)
            con.execute("INSERT INTO labels.failure_points BY NAME SELECT * FROM _rows")
            con.unregister("_rows")
        before = con.sql("SELECT * FROM labels.failure_points ORDER BY day, event_id").fetchall()
        assert ensure_views(con, lake) == ["labels.turn_labels", "labels.failure_points"]
    with duckdb.connect(str(warehouse)) as con:  # a later process: the views, the same rows
        assert con.sql("SELECT * FROM labels.failure_points ORDER BY day, event_id").fetchall() == before
        assert con.sql("SELECT table_type FROM information_schema.tables WHERE table_name = 'failure_points'"
                       ).fetchall() == [("VIEW",)]  # fmt: skip
        assert ensure_views(con, lake) == []  # idempotent: nothing migrated, nothing rewritten
    assert lake.days(POINTS) == [D1, D2] and lake.days("labels.turn_labels") == []
    assert _events(lake, D2) == [("x", "2")]


def test_a_view_follows_its_lake_when_the_lake_moves(tmp_path, lake):
    con = duckdb.connect()
    ensure_views(con, lake)
    lake.write_partition(POINTS, D1, _points(D1, ["a"]))
    moved = Lake(str(tmp_path / "elsewhere"))
    moved.write_partition(POINTS, D1, _points(D1, ["b"]))
    assert con.sql("SELECT event_id FROM labels.failure_points").fetchall() == [("a",)]
    ensure_views(con, moved)
    assert con.sql("SELECT event_id FROM labels.failure_points").fetchall() == [("b",)]


def test_the_lake_root_is_beside_the_warehouse_unless_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("SELFLEARN_LAKE", raising=False)
    assert lake_root(tmp_path / "home" / "warehouse.duckdb") == str(tmp_path / "home" / "lake")
    monkeypatch.setenv("SELFLEARN_LAKE", str(tmp_path / "shared"))
    assert lake_root(tmp_path / "home" / "warehouse.duckdb") == str(tmp_path / "shared")
    monkeypatch.setenv("SELFLEARN_LAKE", "memory://lake")
    assert lake_root("w.duckdb") == "memory://lake"
    assert Lake(f"file://{tmp_path}/x").root == f"{tmp_path}/x"
    with pytest.raises(ValueError, match="no glob character"):
        Lake(str(tmp_path / "a*b"))


def test_an_fsspec_lake_publishes_replaces_and_recovers_the_same_way(monkeypatch):
    lake = Lake("memory://selflearn-test-lake")
    try:
        lake.write_partition(POINTS, D1, _points(D1, ["a"]))
        lake.write_partition(POINTS, D1, _points(D1, ["b", "c"], "2"))
        assert lake.days(POINTS) == [D1] and _events(lake, D1) == [("b", "2"), ("c", "2")]
        monkeypatch.setattr(partitions, "_publish", lambda *a: (_ for _ in ()).throw(OSError("crash")))
        with pytest.raises(OSError, match="crash"):
            lake.write_partition(POINTS, D1, _points(D1, ["d"], "3"))
        assert _events(lake, D1) == [("b", "2"), ("c", "2")]
        folder = lake.partition_file(POINTS, D1).rsplit("/", 1)[0]
        assert lake.files.list(folder) == [partitions.DATA]
        stale = f"{folder}/.{partitions.DATA}.new-1-0-abcd"  # a writer elsewhere: removed once old enough
        with lake.files.open_write(stale) as f:
            f.write(b"partial")
        assert lake.recover(POINTS) == []
        monkeypatch.setattr(partitions, "STALE_AFTER_S", -1)
        assert lake.recover(POINTS) == [stale]
        assert lake.delete_partition(POINTS, D1) and lake.days(POINTS) == []
    finally:
        lake.files.fs.rm("/selflearn-test-lake", recursive=True)


def test_forget_user_publishes_each_day_again_without_the_users_rows_of_that_day(lake):
    """The customer's turns: e1 and e2 on day 1; another customer's turn reuses the id e1 on day 2 and keeps
    its row. A dry run counts the same rows and writes nothing."""
    lake.write_partition(POINTS, D1, _points(D1, ["e1", "e2", "o1"]))
    lake.write_partition(POINTS, D2, _points(D2, ["e1", "o2"]))
    before = {d: Path(lake.partition_file(POINTS, d)).read_bytes() for d in (D1, D2)}
    theirs = {D1: {"e1", "e2"}}
    dry = forget_in_lake(lake, theirs, ["pA"], dry_run=True)
    assert dry == [PartitionChange(POINTS, D1, 2)]
    assert {d: Path(lake.partition_file(POINTS, d)).read_bytes() for d in (D1, D2)} == before
    assert forget_in_lake(lake, theirs, ["pA"], dry_run=False) == dry
    assert _events(lake, D1) == [("o1", "1")] and _events(lake, D2) == [("e1", "1"), ("o2", "1")]
    assert Path(lake.partition_file(POINTS, D2)).read_bytes() == before[D2]  # untouched
    assert forget_in_lake(lake, theirs, ["pA"], dry_run=False) == []  # twice: nothing more
