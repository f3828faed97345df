"""The clean_turns suite computed in DuckDB (`validate_clean_turns_day`) against the row-level GX reference on
pandas (`validate_clean_turns`): hand-made days that break one expectation each."""

from datetime import date, datetime

import duckdb
import great_expectations as gx
import pytest

from selflearn_assets.lib.quality.duckdb_suite import validate_table_day
from selflearn_assets.lib.quality.turn_expectations import (
    CHECKED_COLUMNS,
    validate_clean_turns,
    validate_clean_turns_day,
)

DAY = date(2026, 11, 1)
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
UNIQUE = "expect_column_values_to_be_unique"
COLUMNS = "expect_table_columns_to_match_set"

SCHEMA = """CREATE TABLE turns (
    day DATE, event_id VARCHAR, session_id VARCHAR, user_id VARCHAR, device_id VARCHAR, ts TIMESTAMP,
    asr_text VARCHAR, locale VARCHAR, wake_score DOUBLE, asr_confidence DOUBLE, nlu_confidence DOUBLE,
    device_type VARCHAR, er_status VARCHAR, response_status VARCHAR, explicit_feedback VARCHAR,
    response_duration_ms BIGINT, barge_in BOOLEAN)"""


def _row(i: int, day: date = DAY) -> tuple:
    return (
        day, f"e{i}", f"s{i // 2}", f"u{i % 2}", "d1", datetime(day.year, day.month, day.day, 8, i), "play jazz",
        "en-US", 0.9, 0.5 + i / 10, None if i == 0 else 1.0, ["speaker", "tv", "car", "other"][i % 4],
        "resolved", "success", "positive" if i == 1 else None, 1200 * i, i == 2,
    )  # fmt: skip


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute(SCHEMA)
    con.executemany(f"INSERT INTO turns VALUES ({', '.join('?' * 17)})", [_row(i) for i in range(4)])
    # another day, broken everywhere: a day's gate reads its own rows only
    con.execute(f"INSERT INTO turns VALUES ({', '.join('?' * 17)})", list(_row(0, date(2026, 10, 31))))
    con.execute(
        "UPDATE turns SET user_id = NULL, wake_score = 7, device_type = 'fridge' WHERE day <> ?", [DAY]
    )
    yield con
    con.close()


def _both(con):
    """(DuckDB outcome, pandas reference outcome) for DAY."""
    names = {name for name, *_ in con.execute("DESCRIBE turns").fetchall()}
    present = [c for c in CHECKED_COLUMNS if c in names]
    frame = con.execute(f"SELECT {', '.join(present)} FROM turns WHERE day = ?", [DAY]).df()
    return validate_clean_turns_day(con, DAY, table="turns"), validate_clean_turns(frame, DAY)


def _failed(outcome) -> dict:
    return {(o.expectation, o.column): o for o in outcome.failures}


def _same_decisions(fast, reference) -> None:
    assert fast.success == reference.success
    by_key = {(r.expectation, r.column): r for r in reference.outcomes}  # GX orders its results its own way
    assert len(fast.outcomes) == len(by_key) == len(reference.outcomes)
    for f in fast.outcomes:
        r = by_key[(f.expectation, f.column)]
        assert f.success == r.success, (f, r)
        if r.unexpected_count is not None:  # the pandas engine has no row count for a table-level expectation
            assert f.unexpected_count == r.unexpected_count, (f, r)


def test_a_clean_day_passes_every_expectation(con):
    fast, reference = _both(con)
    assert fast.success and reference.success
    assert len(fast.outcomes) == 18 and all(o.unexpected_count == 0 for o in fast.outcomes)
    _same_decisions(fast, reference)


@pytest.mark.parametrize(
    ("update", "args", "failed", "count", "example"),
    [
        ("user_id = NULL WHERE event_id = 'e2'", [], (NOT_NULL, "user_id"), 1, "'e2'"),
        ("user_id = NULL WHERE event_id IN ('e1', 'e3')", [], (NOT_NULL, "user_id"), 2, "'e1'"),
        ("wake_score = 1.5 WHERE event_id = 'e1'", [], (BETWEEN, "wake_score"), 1, 1.5),
        ("nlu_confidence = -0.25 WHERE event_id = 'e3'", [], (BETWEEN, "nlu_confidence"), 1, -0.25),
        ("response_duration_ms = -5 WHERE event_id = 'e3'", [], (BETWEEN, "response_duration_ms"), 1, -5),
        ("device_type = 'fridge' WHERE event_id = 'e0'", [], (IN_SET, "device_type"), 1, "fridge"),
        ("event_id = 'e1' WHERE event_id = 'e2'", [], (UNIQUE, "event_id"), 2, "e1"),
        ("event_id = 'e0' WHERE event_id <> 'e3' AND day = ?", [DAY], (UNIQUE, "event_id"), 3, "e0"),
        ("ts = ? WHERE event_id = 'e1'", [datetime(2026, 11, 2)], (BETWEEN, "ts"), 1, datetime(2026, 11, 2)),
        ("ts = ? WHERE event_id = 'e1'", [datetime(2026, 10, 31, 23, 59)], (BETWEEN, "ts"), 1, None),
    ],
)
def test_each_broken_expectation_is_named_with_its_count_and_an_example(
    con, update, args, failed, count, example
):
    con.execute(f"UPDATE turns SET {update}", args)
    fast, reference = _both(con)
    assert not fast.success
    assert set(_failed(fast)) == {failed}
    outcome = _failed(fast)[failed]
    assert outcome.unexpected_count == count
    if failed[0] == NOT_NULL:  # the rows are named by their event_id
        assert outcome.observed.startswith(f"{count} of 4 rows, e.g. event_id {example}")
    elif example is not None:
        assert outcome.sample[0] == example
    assert outcome.expectation in fast.markdown() and "**NO**" in fast.markdown()
    _same_decisions(fast, reference)


def test_a_missing_column_fails_the_column_set_and_its_own_expectations(con):
    con.execute("ALTER TABLE turns DROP COLUMN locale")
    fast, reference = _both(con)
    assert set(_failed(fast)) == {(COLUMNS, None), (NOT_NULL, "locale")}
    assert _failed(fast)[(COLUMNS, None)].observed == "missing: locale"
    assert _failed(fast)[(NOT_NULL, "locale")].observed == "column missing"
    assert {(o.expectation, o.column) for o in reference.failures} == set(_failed(fast))


def test_nan_scores_count_as_missing_like_in_pandas(con):
    """GX's pandas engine takes NaN for a missing value (ignored by the range check), DuckDB does not."""
    con.execute("UPDATE turns SET wake_score = 'NaN'::DOUBLE WHERE event_id = 'e0'")
    fast, reference = _both(con)
    assert fast.success and reference.success
    _same_decisions(fast, reference)


def test_an_empty_day_passes_and_an_unsupported_expectation_is_refused(con):
    con.execute("DELETE FROM turns WHERE day = ?", [DAY])
    fast, reference = _both(con)
    assert fast.success and reference.success
    mostly = gx.expectations.ExpectColumnValuesToNotBeNull(column="user_id", mostly=0.9)
    with pytest.raises(ValueError, match="expect_column_values_to_not_be_null with \\['column', 'mostly'\\]"):
        validate_table_day(con, "turns", DAY, "mostly", [mostly])
    with pytest.raises(ValueError, match="not a plain"):
        validate_table_day(con, "turns; DROP TABLE turns", DAY, "bad", [])
