"""Day folders: an atomic replace that leaves the previous folder on error, and the latest day by date."""

from datetime import date

import pytest

from selflearn_assets.lib.day_folders import atomic_folder_write, latest_day


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
