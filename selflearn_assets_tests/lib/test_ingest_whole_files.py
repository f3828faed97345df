"""Whole-file losses: unreadable and skipped files count against the quarantine-rate gate, are named, and a day
that had clean rows is never replaced by an empty read without an explicit override (issue 12, item 2)."""

from __future__ import annotations

import gzip
import json
from datetime import date

import duckdb
import pytest

from selflearn_assets.lib.ingest import EmptyReplaceError, ingest_turns
from selflearn_assets.lib.quality.turn_expectations import (
    accounting_description,
    quarantine_rate,
    validate_accounting,
)
from selflearn_assets_tests.lib.test_ingest import DAY, KEY, day_dir, ingest, quarantined, turn, write_lines


@pytest.fixture
def con(tmp_path_factory):
    """A warehouse file in a folder of its own: the clean and quarantined turns go to the lake beside it."""
    connection = duckdb.connect(str(tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"))
    yield connection
    connection.close()


def sized_line(n: int, size: int = 200) -> str:
    """A valid contract line of exactly `size` bytes, its newline included."""
    text = json.dumps(turn(n, asr_text=""))
    return json.dumps(turn(n, asr_text="x" * (size - 1 - len(text))))


def lost_in_stats(con, day: date = DAY) -> tuple[int, list]:
    estimate, files = con.execute(
        "SELECT lines_lost_estimate, lost_files FROM ingest.partition_stats WHERE day = ?", [day]
    ).fetchone()
    return estimate, json.loads(files) if files else []


def test_a_truncated_gzip_file_counts_the_lines_it_held_against_the_gate(tmp_path, con):
    """The issue's reproduction: 100 good lines, and the other 1,300 gzipped with the last 20 bytes cut off."""
    lines = [sized_line(n) for n in range(1, 1401)]
    write_lines(day_dir(tmp_path) / "part-00000.jsonl", lines[:100])
    gz = day_dir(tmp_path) / "part-00001.jsonl.gz"
    gz.write_bytes(gzip.compress(("\n".join(lines[100:]) + "\n").encode())[:-20])
    stats = ingest(con, tmp_path)
    assert (stats.lines_read, stats.clean_rows, stats.quarantined_by_reason) == (101, 100, {"unreadable_file": 1})
    [lost] = stats.lost_files
    assert (lost.file, lost.reason) == ("date=2026-01-05/part-00001.jsonl.gz", "unreadable_file")
    # what decompresses before the cut holds all but the last few of the 1,300 lines
    assert 1290 <= lost.lines_estimate <= 1300
    estimate, files = lost_in_stats(con)
    assert estimate == stats.lines_lost_estimate == lost.lines_estimate - 1
    assert files[0]["file"] == lost.file and files[0]["lines_estimate"] == lost.lines_estimate

    # the gate: the file's row and its estimated lines over everything the day should have had
    rate = quarantine_rate(stats.lines_read, stats.quarantined_rows, estimate)
    assert rate == pytest.approx(lost.lines_estimate / (100 + lost.lines_estimate)) and rate > 0.9
    outcome = validate_accounting(stats.lines_read, stats.clean_rows, stats.quarantined_rows, 0.05, estimate)
    assert not outcome.success
    assert [f.column for f in outcome.failures] == ["quarantine_rate"]
    assert accounting_description(stats.lines_read, stats.clean_rows, stats.quarantined_rows, 0.05, estimate, files) == (
        f"quarantine rate {rate:.1%} (incl. ~{estimate:,} lines estimated lost in unreadable part-00001.jsonl.gz)"
        " > limit 5.0%"
    )
    # before: the same day counted the file as one line, 1 of 101 (1.0%), and passed
    assert validate_accounting(stats.lines_read, stats.clean_rows, stats.quarantined_rows, 0.05).success


def test_a_file_nothing_can_be_read_from_is_its_size_over_the_mean_line(tmp_path, con):
    write_lines(day_dir(tmp_path) / "good.jsonl", [sized_line(n) for n in range(1, 11)])  # 10 lines of 200 bytes
    (day_dir(tmp_path) / "bad.jsonl.gz").write_bytes(b"not gzip at all " * 250)  # 4,000 bytes: ~20 lines
    stats = ingest(con, tmp_path)
    assert [(f.file, f.lines_estimate) for f in stats.lost_files] == [("date=2026-01-05/bad.jsonl.gz", 20)]
    assert stats.lines_lost_estimate == 19
    assert quarantine_rate(stats.lines_read, stats.quarantined_rows, 19) == pytest.approx(20 / 30)


def test_a_day_with_nothing_readable_is_wholly_lost(tmp_path, con):
    (day_dir(tmp_path)).mkdir(parents=True)
    (day_dir(tmp_path) / "only.jsonl.gz").write_bytes(b"\x1f\x8b broken")
    stats = ingest(con, tmp_path)
    assert (stats.clean_rows, stats.quarantined_rows, stats.lost_files[0].lines_estimate) == (0, 1, 1)
    assert quarantine_rate(stats.lines_read, stats.quarantined_rows, stats.lines_lost_estimate) == 1.0


def test_other_names_are_read_or_reported_never_passed_over(tmp_path, con):
    folder = day_dir(tmp_path)
    write_lines(folder / "a.JSONL", [sized_line(1)])
    write_lines(folder / "b.ndjson", [sized_line(2)])
    write_lines(folder / "c.NDJSON.gz", [sized_line(3)])
    write_lines(folder / "d.json", [sized_line(n) for n in range(10, 15)])  # 1,000 bytes: 5 lines
    write_lines(folder / "e.txt", [sized_line(20)])
    (folder / "f.jsonl.bz2").write_bytes(b"B" * 600)  # 3 lines' worth of bytes
    write_lines(folder / "sub" / "g.jsonl", [sized_line(n) for n in range(30, 32)])
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".DS_Store").write_bytes(b"\0" * 6000)
    stats = ingest(con, tmp_path)

    assert stats.files == [f"date=2026-01-05/{n}" for n in ("a.JSONL", "b.ndjson", "c.NDJSON.gz")]
    assert stats.clean_rows == 3
    skipped = dict(stats.skipped_files)
    assert set(skipped) == {
        f"date=2026-01-05/{n}" for n in (".DS_Store", "_SUCCESS", "d.json", "e.txt", "f.jsonl.bz2", "sub/g.jsonl")
    }
    assert "one JSON document" in skipped["date=2026-01-05/d.json"]
    assert "compression .bz2 is not supported" in skipped["date=2026-01-05/f.jsonl.bz2"]
    assert "in a subfolder (sub/)" in skipped["date=2026-01-05/sub/g.jsonl"]
    assert "marker" in skipped["date=2026-01-05/_SUCCESS"]

    # every skipped file but the hidden and marker ones is a quarantined row at line 0, with why
    rows = [(q[0].removeprefix("date=2026-01-05/"), q[1], q[2]) for q in quarantined(con)]
    assert rows == [(n, 0, "skipped_file") for n in ("d.json", "e.txt", "f.jsonl.bz2", "sub/g.jsonl")]
    assert all("skipped" in q[3] for q in quarantined(con))
    # and counted by the lines it probably held: its bytes over the mean line (200 bytes)
    estimates = {f.file.removeprefix("date=2026-01-05/"): f.lines_estimate for f in stats.lost_files}
    assert estimates == {"d.json": 5, "e.txt": 1, "f.jsonl.bz2": 3, "sub/g.jsonl": 2}
    assert stats.lines_lost_estimate == 4 + 0 + 2 + 1
    assert stats.lines_read == 3 + 4


def test_renaming_a_day_to_ndjson_keeps_its_rows(tmp_path, con):
    write_lines(day_dir(tmp_path) / "part-0.jsonl", [turn(1), turn(2)])
    assert ingest(con, tmp_path).clean_rows == 2
    (day_dir(tmp_path) / "part-0.jsonl").rename(day_dir(tmp_path) / "part-0.ndjson")
    assert ingest(con, tmp_path).clean_rows == 2


def snapshot(con) -> list:
    return con.execute("SELECT event_id, source_file FROM ingest.clean_turns ORDER BY ALL").fetchall()


@pytest.mark.parametrize("bad", ["json", "subfolder", "unreadable", "marker-only", "all-quarantined"])
def test_an_empty_read_never_replaces_a_day_that_has_rows(tmp_path, con, bad):
    folder = day_dir(tmp_path)
    write_lines(folder / "part-0.jsonl", [turn(1), turn(2), turn(3)])
    ingest(con, tmp_path)
    before = snapshot(con)
    stats_before = con.execute("SELECT * EXCLUDE (ingested_at) FROM ingest.partition_stats").fetchall()
    data = (folder / "part-0.jsonl").read_bytes()
    (folder / "part-0.jsonl").unlink()
    if bad == "json":
        (folder / "part-0.json").write_bytes(data)
    elif bad == "subfolder":
        (folder / "late").mkdir()
        (folder / "late" / "part-0.jsonl").write_bytes(data)
    elif bad == "unreadable":
        (folder / "part-0.jsonl.gz").write_bytes(gzip.compress(data)[:-20])
    elif bad == "marker-only":
        (folder / "_SUCCESS").write_bytes(b"")
    else:
        write_lines(folder / "part-0.jsonl", [turn(1, ts="2026-01-06T10:00:00Z")])  # partition_mismatch

    with pytest.raises(EmptyReplaceError) as err:
        ingest_turns(con, tmp_path, DAY, KEY)
    message = str(err.value)
    assert "2026-01-05: refusing to replace the day's 3 clean rows with an empty day" in message
    assert "allow_empty_replace: true" in message
    if bad == "json":
        assert "date=2026-01-05/part-0.json skipped" in message and "one JSON document" in message
    if bad == "all-quarantined":
        assert "partition_mismatch 1" in message
    assert snapshot(con) == before  # rolled back: the day is as it was
    assert con.execute("SELECT * EXCLUDE (ingested_at) FROM ingest.partition_stats").fetchall() == stats_before

    stats = ingest(con, tmp_path, allow_empty_replace=True)  # on purpose: replaced
    assert stats.clean_rows == 0 and snapshot(con) == []


def test_an_empty_day_that_was_empty_is_not_refused(tmp_path, con):
    day_dir(tmp_path).mkdir(parents=True)
    (day_dir(tmp_path) / "notes.txt").write_text("nothing today\n")
    assert ingest(con, tmp_path).clean_rows == 0
    assert ingest(con, tmp_path).clean_rows == 0


def test_a_key_given_twice_quarantines_the_line(tmp_path, con):
    dup = '{"event_id": "e2", "session_id": "s1", "user_id": "alice", "user_id": "mallory", "device_id": "d1", '
    dup += '"ts": "2026-01-05T10:00:02Z", "asr_text": "a", "asr_text": "b"}'
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), dup, turn(3, extra_note=1)])
    stats = ingest(con, tmp_path)
    assert (stats.clean_rows, stats.quarantined_by_reason) == (2, {"duplicate_key": 1})
    [(_, line, _, detail, raw, event_id)] = quarantined(con)
    assert (line, event_id) == (2, "e2")
    assert detail == "key(s) given more than once: asr_text, user_id"
    assert "alice" not in raw and "mallory" not in raw
