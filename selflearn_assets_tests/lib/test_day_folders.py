"""Day folders: an atomic replace that leaves the previous folder on error, and the latest day by date; folders
follow the umask; what a killed writer left is cleaned by the next write."""

import os
import stat
import subprocess
import time
from datetime import date

import pytest

from selflearn_assets.lib import processes
from selflearn_assets.lib.day_folders import atomic_folder_write, clean_stale_staging, latest_day


def _write(root, day: str, text: str) -> None:
    with atomic_folder_write(root / f"date={day}") as staging:
        (staging / "manifest.json").write_text(text)


def test_atomic_folder_write_replaces_the_folder_and_leaves_nothing_beside_it(tmp_path):
    _write(tmp_path, "2026-11-02", "first")
    _write(tmp_path, "2026-11-02", "second")
    assert (tmp_path / "date=2026-11-02" / "manifest.json").read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["date=2026-11-02"]


def test_an_error_while_writing_keeps_the_previous_folder(tmp_path):
    _write(tmp_path, "2026-11-02", "first")
    with pytest.raises(RuntimeError), atomic_folder_write(tmp_path / "date=2026-11-02") as staging:
        (staging / "manifest.json").write_text("half")
        raise RuntimeError("crash mid-write")
    assert (tmp_path / "date=2026-11-02" / "manifest.json").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["date=2026-11-02"]


def test_latest_day_needs_the_marker_and_respects_the_bounds(tmp_path):
    for day in ("2026-11-01", "2026-11-03"):
        _write(tmp_path, day, "{}")
    (tmp_path / "date=2026-11-05").mkdir()  # no manifest: not a finished folder
    _write(tmp_path, "not-a-day", "{}")  # not a date: passed over
    assert latest_day(tmp_path, "manifest.json") == date(2026, 11, 3)
    assert latest_day(tmp_path, "manifest.json", before=date(2026, 11, 3)) == date(2026, 11, 1)
    assert latest_day(tmp_path, "manifest.json", on_or_before=date(2026, 11, 3)) == date(2026, 11, 3)
    assert latest_day(tmp_path, "manifest.json", before=date(2026, 11, 1)) is None
    assert latest_day(tmp_path / "missing", "manifest.json") is None


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("umask, mode", [(0o022, 0o755), (0o077, 0o700), (0o002, 0o775)])
def test_the_folder_follows_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        _write(tmp_path, "2026-11-02", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "date=2026-11-02").stat().st_mode) == mode


def test_a_killed_writers_staging_folder_is_removed_by_the_next_write(tmp_path):
    """A kill -9 mid-write leaves `.date=D.new-<pid>-...`; the next write of that day removes it, but not the
    staging folder of a writer that still runs, nor another day's."""
    _write(tmp_path, "2026-11-02", "first")
    dead = tmp_path / f".date=2026-11-02.new-{_dead_pid()}-0-abcd1234"
    live = tmp_path / f".date=2026-11-02.new-{os.getpid()}-{processes.current().started or 0}-abcd1234"
    other_day = tmp_path / f".date=2026-11-03.new-{_dead_pid()}-0-abcd1234"
    for folder in (dead, live, other_day):
        folder.mkdir()
        (folder / "rewrites.parquet").write_text("half")
    _write(tmp_path, "2026-11-02", "second")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["date=2026-11-02", live.name, other_day.name]
    )
    assert (tmp_path / "date=2026-11-02" / "manifest.json").read_text() == "second"


def test_a_reused_pid_does_not_keep_a_staging_folder(tmp_path):
    """Our own pid with another start time: the writer that made it is gone, whoever has its number now."""
    reused = tmp_path / f".date=2026-11-02.new-{os.getpid()}-1-abcd1234"
    reused.mkdir()
    assert clean_stale_staging(tmp_path / "date=2026-11-02") == [reused]
    assert not reused.exists()


def test_a_previous_folder_left_swapped_out_is_put_back(tmp_path):
    """Killed between moving the previous folder aside and renaming the new one in: the previous folder comes
    back (the new one was never published) and the leftovers go."""
    old = tmp_path / f".date=2026-11-02.old-{_dead_pid()}-0-abcd1234"
    (old / "date=2026-11-02").mkdir(parents=True)
    (old / "date=2026-11-02" / "manifest.json").write_text("first")
    half = tmp_path / f".date=2026-11-02.new-{_dead_pid()}-0-abcd1234"
    half.mkdir()
    assert sorted(clean_stale_staging(tmp_path / "date=2026-11-02")) == sorted([old, half])
    assert (tmp_path / "date=2026-11-02" / "manifest.json").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["date=2026-11-02"]


def test_an_unnamed_dot_folder_goes_only_once_it_is_old(tmp_path):
    """Written by an older version (`tempfile.mkdtemp` names): no writer to ask, so its age decides."""
    recent, ancient = tmp_path / ".date=2026-11-02.k3j_x9", tmp_path / ".date=2026-11-02.old.q8w2"
    recent.mkdir()
    ancient.mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(ancient, (two_days_ago, two_days_ago))
    assert clean_stale_staging(tmp_path / "date=2026-11-02") == [ancient]
    assert recent.exists()
