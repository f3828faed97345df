"""The labelling stage's store: a day published to the lake whole (only that day replaced), read by the
warehouse through its views, and the coverage counts of its checks."""

from datetime import date

import duckdb
import polars as pl
import pytest

from selflearn_assets.lib.labels import coverage_counts, label_views, replace_day
from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.sql import run_sql

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def _points(events: list[str]) -> pl.DataFrame:
    n = len(events)
    return pl.DataFrame(
        {
            "event_id": events, "session_id": ["s"] * n, "failure_point": ["correct"] * n,
            "failure_point_confidence": [0.9] * n, "p_false_wake": [0.02] * n, "p_asr": [0.02] * n,
            "p_nlu": [0.02] * n, "p_er": [0.02] * n, "p_result": [0.02] * n, "p_correct": [0.9] * n,
        }
    )  # fmt: skip


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def con(lake):
    con = duckdb.connect()
    run_sql(con, "ingest/schema.sql")
    for day, events in ((D1, ["a", "b", "c"]), (D2, ["x"])):
        for e in events:
            con.execute(
                "INSERT INTO ingest.clean_turns (day, event_id, session_id, user_id, device_id, ts, asr_text, locale, "
                "source_file, source_line) VALUES (?, ?, 's', 'u', 'd', TIMESTAMP '2026-11-01 10:00', 'hi', 'en-US', 'f', 1)",
                [day, e],
            )
    label_views(con, lake)
    return con


def test_replace_day_replaces_only_that_day_and_counts_coverage(con, lake):
    assert replace_day(lake, "failure_points", _points(["a", "b", "zz"]), D1, "3") == 3
    replace_day(lake, "failure_points", _points(["x"]), D2, "3")
    # D1: c has no row, zz has no clean turn, nothing duplicated; D2 complete
    assert coverage_counts(con, "failure_points", D1) == (1, 1, 0)
    assert coverage_counts(con, "failure_points", D2) == (0, 0, 0)
    replace_day(lake, "failure_points", _points(["a", "b", "c", "c"]), D1, "4")
    assert coverage_counts(con, "failure_points", D1) == (0, 0, 1)
    rows = con.execute("SELECT day, count(*), min(model_version) FROM labels.failure_points GROUP BY day ORDER BY day")
    assert rows.fetchall() == [(D1, 4, "4"), (D2, 1, "3")]
    assert lake.days("labels.failure_points") == [D1, D2] and lake.days("labels.turn_labels") == []


def test_a_failing_insert_leaves_the_day_as_it_was(con, lake):
    replace_day(lake, "failure_points", _points(["a", "b", "c"]), D1, "3")
    broken = _points(["a"]).drop("p_correct")  # the insert SQL needs p_correct
    with pytest.raises(duckdb.Error):
        replace_day(lake, "failure_points", broken, D1, "4")
    nulls = _points(["a"]).with_columns(session_id=pl.lit(None, pl.String))  # NOT NULL in the schema file
    with pytest.raises(duckdb.ConstraintException):
        replace_day(lake, "failure_points", nulls, D1, "4")
    assert con.execute("SELECT count(*), min(model_version) FROM labels.failure_points").fetchone() == (3, "3")


def test_a_day_streamed_in_chunks_is_published_whole_or_not_at_all(con, lake):
    def chunks(*parts):
        yield from (_points(p) for p in parts)

    assert replace_day(lake, "failure_points", chunks(["a", "b"], ["c"]), D1, "3") == 3
    assert coverage_counts(con, "failure_points", D1) == (0, 0, 0)
    broken = _points(["z"]).with_columns(session_id=pl.lit(None, pl.String))  # NOT NULL in the schema file
    with pytest.raises(duckdb.ConstraintException):
        replace_day(lake, "failure_points", iter([_points(["a"]), broken]), D1, "4")
    rows = con.execute("SELECT list(event_id ORDER BY event_id), min(model_version) FROM labels.failure_points")
    assert rows.fetchone() == (["a", "b", "c"], "3")  # the day as it was
