"""The daily partitions start where the raw data does: its first day with files, far-off stray folders left out
and reported, SELFLEARN_PARTITIONS_START winning, yesterday without raw data; `selflearn run` uses the same."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from selflearn_assets.defs.partitions import build_daily_partitions
from selflearn_assets.lib.ingest.partitions import partitions_start, split_strays
from selflearn_assets.lib.settings import load_settings


def _raw(root: Path, *days: str, empty: tuple[str, ...] = ()) -> Path:
    for day in days:
        (root / f"date={day}").mkdir(parents=True)
        (root / f"date={day}" / "turns.jsonl").write_text('{"event_id": "e1"}\n')
    for day in empty:
        (root / f"date={day}").mkdir(parents=True)
    return root


@pytest.fixture
def follow_raw(selflearn_home, monkeypatch):
    """The project's settings on a temporary raw root, with no SELFLEARN_PARTITIONS_START (the tests pin it)."""
    monkeypatch.delenv("SELFLEARN_PARTITIONS_START")
    return selflearn_home / "raw"


def _first() -> str | None:
    return build_daily_partitions(load_settings()).get_first_partition_key()


def test_partitions_start_on_the_first_raw_day_with_files(follow_raw, caplog):
    # an empty folder is not data; annotations and other folders are not days
    _raw(follow_raw, "2026-11-02", "2026-11-01", "2026-11-03", empty=("2026-10-20",))
    (follow_raw / "annotations" / "date=2026-10-01").mkdir(parents=True)
    (follow_raw / "annotations" / "date=2026-10-01" / "a.jsonl").write_text("{}\n")
    with caplog.at_level(logging.WARNING):
        assert _first() == "2026-11-01"
    assert not caplog.records  # nothing stray: nothing to say


def test_a_far_off_stray_folder_is_reported_and_not_followed(follow_raw, caplog):
    _raw(follow_raw, "1999-01-01", "2026-11-01", "2026-11-02", "2026-11-03")
    with caplog.at_level(logging.WARNING):
        partitions = build_daily_partitions(load_settings())
    assert partitions.get_first_partition_key() == "2026-11-01"
    assert "1999-01-01" not in partitions.get_partition_keys()
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.name == "dagster.builtin.selflearn"
    message = record.getMessage()
    assert "date=1999-01-01" in message and "start on 2026-11-01" in message
    assert str(follow_raw) in message and "SELFLEARN_PARTITIONS_START" in message


@pytest.mark.parametrize(
    ("days", "strays", "start"),
    [
        # one folder 61 days before the main run: a stray; 60 days before: part of it
        (["2026-09-01", "2026-11-01", "2026-11-02"], ["2026-09-01"], "2026-11-01"),
        (["2026-09-02", "2026-11-01", "2026-11-02"], [], "2026-09-02"),
        # two far-off runs of strays (1 and 2 folders), then the data
        (["1999-01-01", "2020-05-01", "2020-05-02", "2026-11-01"], ["1999-01-01", "2020-05-01", "2020-05-02"],
         "2026-11-01"),
        # six folders (less than a week) far before: strays; seven (a week of data): followed
        ([f"2026-01-0{i}" for i in range(1, 7)] + ["2026-11-01"], [f"2026-01-0{i}" for i in range(1, 7)],
         "2026-11-01"),
        ([f"2026-01-0{i}" for i in range(1, 8)] + ["2026-11-01"], [], "2026-01-01"),
        # the last run is never a stray, however short; a far-off folder after the main run is a partition
        (["2026-11-01"], [], "2026-11-01"),
        (["2026-03-01", "2026-03-02", "2026-11-01"], ["2026-03-01", "2026-03-02"], "2026-11-01"),
        ([f"2026-01-{i:02d}" for i in range(1, 11)] + ["2026-11-01"], [], "2026-01-01"),
    ],
)
def test_the_stray_rule(days, strays, start, tmp_path):
    parsed = [date.fromisoformat(d) for d in days]
    assert split_strays(parsed) == (
        [date.fromisoformat(d) for d in strays],
        [d for d in parsed if d.isoformat() not in strays],
    )
    found = partitions_start(_raw(tmp_path, *days))
    assert (found.day, found.strays) == (date.fromisoformat(start), tuple(date.fromisoformat(d) for d in strays))
    assert found.source == "raw data"
    assert (found.warning(tmp_path) is None) == (not strays)


def test_the_environment_variable_wins(follow_raw, monkeypatch, caplog):
    _raw(follow_raw, "1999-01-01", "2026-11-01")
    monkeypatch.setenv("SELFLEARN_PARTITIONS_START", "2026-10-15")
    with caplog.at_level(logging.WARNING):
        assert _first() == "2026-10-15"
    assert not caplog.records  # the raw root is not even looked at
    monkeypatch.setenv("SELFLEARN_PARTITIONS_START", "2026-13-01")
    with pytest.raises(ValueError, match=r"SELFLEARN_PARTITIONS_START='2026-13-01' is not a day \(YYYY-MM-DD\)"):
        build_daily_partitions(load_settings())


def test_without_raw_data_the_partitions_start_yesterday(follow_raw, tmp_path, monkeypatch):
    assert partitions_start(tmp_path / "nowhere", today=date(2026, 12, 3)).day == date(2026, 12, 2)
    assert partitions_start(_raw(tmp_path / "empty", empty=("2026-11-01",)), today=date(2026, 12, 3)) == (
        partitions_start(tmp_path / "nowhere", today=date(2026, 12, 3))
    )
    assert partitions_start(tmp_path / "nowhere").source == "no raw data"
    monkeypatch.setenv("SELFLEARN_RAW_ROOT", str(tmp_path / "nowhere"))
    before = datetime.now(UTC).date() - timedelta(days=1)
    partitions = build_daily_partitions(load_settings())
    after = datetime.now(UTC).date() - timedelta(days=1)
    # one partition, the last complete UTC day (unless midnight passed in between)
    assert partitions.get_partition_keys() in ([before.isoformat()], [after.isoformat()])


def test_selflearn_run_loads_the_same_partitions_and_names_the_stray(follow_raw, tmp_path):
    """In a fresh process, as `selflearn run` does: the project's code location loads with partitions from the
    first day of raw data, its load log warns about the stray, `runner.partition_bounds` starts on that day
    and `selflearn run` leaves the stray out, naming it."""
    _raw(follow_raw, "1999-01-01", "2026-11-01", "2026-11-02")
    script = textwrap.dedent(
        """
        import argparse
        from selflearn_assets import cli, runner
        from selflearn_assets.lib.ingest import discover_partitions
        from selflearn_assets.lib.settings import load_settings

        raw = load_settings().raw_root
        bounds = runner.partition_bounds(runner.load_code_location())
        print("bounds", bounds[0])
        args = argparse.Namespace(start=None, end=None)
        print("days", *cli._run_days(args, discover_partitions(raw), bounds, raw))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "SELFLEARN_PARTITIONS_START"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "bounds 2026-11-01" in lines and "days 2026-11-01 2026-11-02" in lines
    assert any("left out 1 raw folder(s) outside the daily partitions" in line and "date=1999-01-01" in line
               for line in lines)
    assert "left out 1 far-off raw folder(s) before it: date=1999-01-01" in done.stderr
