"""The data-quality contract of one day of `clean_turns`, as Great Expectations suites."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb
import great_expectations as gx
import pandas as pd

from selflearn_assets.lib.quality.duckdb_suite import validate_table_day
from selflearn_assets.lib.quality.gx_runner import SuiteOutcome, validate_frame

E = gx.expectations

REQUIRED = ["event_id", "session_id", "user_id", "device_id", "ts", "asr_text", "locale"]
SCORES = ["wake_score", "asr_confidence", "nlu_confidence"]
ALLOWED = {
    "device_type": ["speaker", "screen", "tv", "car", "phone", "other"],
    "er_status": ["resolved", "unresolved", "not_applicable"],
    "response_status": ["success", "error", "clarify", "unsupported", "no_response"],
    "explicit_feedback": ["positive", "negative"],
}
# The scalar columns the suite reads; nested columns (nbest, slots, state) are typed by DuckDB already.
CHECKED_COLUMNS = REQUIRED + SCORES + list(ALLOWED) + ["response_duration_ms", "barge_in"]


def clean_turns_suite(day: date) -> list:
    start = datetime.combine(day, time.min)
    end = datetime.combine(day + timedelta(days=1), time.min) - timedelta(microseconds=1)
    expectations: list = [E.ExpectTableColumnsToMatchSet(column_set=CHECKED_COLUMNS, exact_match=False)]
    expectations += [E.ExpectColumnValuesToNotBeNull(column=c) for c in REQUIRED]
    expectations += [E.ExpectColumnValuesToBeBetween(column=c, min_value=0.0, max_value=1.0) for c in SCORES]
    expectations.append(E.ExpectColumnValuesToBeBetween(column="response_duration_ms", min_value=0))
    expectations += [E.ExpectColumnValuesToBeInSet(column=c, value_set=v) for c, v in ALLOWED.items()]
    expectations.append(E.ExpectColumnValuesToBeUnique(column="event_id"))
    expectations.append(E.ExpectColumnValuesToBeBetween(column="ts", min_value=start, max_value=end))
    return expectations


def validate_clean_turns(df: pd.DataFrame, day: date) -> SuiteOutcome:
    """Schema, nulls, ranges, allowed values, unique ids and timestamps inside the partition, row by row on a
    pandas frame of the day: the reference that `validate_clean_turns_day` is tested against."""
    return validate_frame(df, f"clean_turns_{day:%Y%m%d}", clean_turns_suite(day))


def validate_clean_turns_day(
    con: duckdb.DuckDBPyConnection, day: date, table: str = "ingest.clean_turns"
) -> SuiteOutcome:
    """The same suite on the day's rows of `table`, counted by DuckDB in one pass and judged by GX
    (`lib/quality/duckdb_suite.py`): the same decisions and counts, at a fraction of the cost on a large day.
    A failed not-null expectation names the event_ids of rows that break it."""
    return validate_table_day(
        con, table, day, f"clean_turns_{day:%Y%m%d}", clean_turns_suite(day), key="event_id"
    )


def quarantine_rate(lines_read: int, quarantined: int, lines_lost_estimate: int = 0) -> float:
    """The share of the day's lines that did not make it: quarantined lines, and the lines that files which
    could not be read probably held (`lines_lost_estimate`, beyond their one quarantined row each), on both
    sides of the fraction."""
    total = lines_read + lines_lost_estimate
    return (quarantined + lines_lost_estimate) / total if total else 0.0


def validate_accounting(
    lines_read: int, clean: int, quarantined: int, max_quarantine_rate: float, lines_lost_estimate: int = 0
) -> SuiteOutcome:
    """Nothing lost (read = clean + quarantined) and the quarantine rate, whole-file losses included, under its
    threshold."""
    rate = quarantine_rate(lines_read, quarantined, lines_lost_estimate)
    frame = pd.DataFrame(
        {"lines_read": [lines_read], "accounted": [clean + quarantined], "quarantine_rate": [rate]}
    )
    return validate_frame(
        frame,
        "ingest_accounting",
        [
            E.ExpectColumnPairValuesToBeEqual(column_A="lines_read", column_B="accounted"),
            E.ExpectColumnValuesToBeBetween(
                column="quarantine_rate", min_value=0.0, max_value=max_quarantine_rate
            ),
        ],
    )


def accounting_description(
    lines_read: int,
    clean: int,
    quarantined: int,
    max_quarantine_rate: float,
    lines_lost_estimate: int = 0,
    lost_files: list[dict] | None = None,
) -> str:
    """What the accounting gate says, e.g. "quarantine rate 93.1% (incl. ~1,304 lines estimated lost in
    unreadable part-00001.jsonl.gz) > limit 5.0%"; `lost_files` as recorded in `partition_stats.lost_files`."""
    rate = quarantine_rate(lines_read, quarantined, lines_lost_estimate)
    text = f"quarantine rate {rate:.1%}"
    if lines_lost_estimate:
        where = ", ".join(
            f"{f['reason'].removesuffix('_file')} {f['file'].rsplit('/', 1)[-1]}" for f in lost_files or []
        )
        text += f" (incl. ~{lines_lost_estimate:,} lines estimated lost in {where or 'unread files'})"
    text += f" {'>' if rate > max_quarantine_rate else '<='} limit {max_quarantine_rate:.1%}"
    if clean + quarantined != lines_read:
        text += f"; {lines_read:,} lines read but {clean:,} clean + {quarantined:,} quarantined"
    return text
