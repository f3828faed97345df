"""The raw-partition sensor starts a run for each new or changed day, once."""

import os

import dagster as dg

from selflearn_assets.defs.ingest.sensors import raw_partition_sensor
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets_tests.conftest import write_lines


def _evaluate(raw, cursor=None):
    config = SelflearnConfig(home=str(raw.parent), raw_root=str(raw), pseudonym_key="k")
    context = dg.build_sensor_context(cursor=cursor, resources={"selflearn": config})
    return raw_partition_sensor(context)


def test_new_days_start_runs_and_changes_restart_them(selflearn_home):
    raw = selflearn_home / "raw"
    write_lines(raw / "date=2026-11-01" / "a.jsonl", [{"x": 1}])
    write_lines(raw / "date=2026-11-02" / "a.jsonl", [{"x": 1}])
    first = _evaluate(raw)
    assert sorted(r.partition_key for r in first.run_requests) == ["2026-11-01", "2026-11-02"]

    again = _evaluate(raw, first.cursor)
    assert isinstance(again, dg.SkipReason)

    changed = write_lines(raw / "date=2026-11-02" / "a.jsonl", [{"x": 1}, {"x": 2}])
    os.utime(changed, ns=(1, 1))
    write_lines(raw / "date=2026-11-03" / "a.jsonl", [{"x": 1}])
    third = _evaluate(raw, first.cursor)
    assert sorted(r.partition_key for r in third.run_requests) == ["2026-11-02", "2026-11-03"]
    assert len({r.run_key for r in first.run_requests + third.run_requests}) == 4


def test_missing_raw_root_is_a_skip_with_the_reason(selflearn_home, tmp_path):
    result = _evaluate(tmp_path / "absent")
    assert isinstance(result, dg.SkipReason)
    assert "does not exist" in result.skip_message
