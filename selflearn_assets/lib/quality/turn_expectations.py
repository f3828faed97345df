"""The data-quality contract of one day of `clean_turns`, as Great Expectations suites."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import great_expectations as gx
import pandas as pd

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
    """Schema, nulls, ranges, allowed values, unique ids and timestamps inside the partition."""
    return validate_frame(df, f"clean_turns_{day:%Y%m%d}", clean_turns_suite(day))


def validate_accounting(lines_read: int, clean: int, quarantined: int, max_quarantine_rate: float) -> SuiteOutcome:
    """Nothing lost (read = clean + quarantined) and the quarantine rate under its threshold."""
    rate = quarantined / lines_read if lines_read else 0.0
    frame = pd.DataFrame(
        {"lines_read": [lines_read], "accounted": [clean + quarantined], "quarantine_rate": [rate]}
    )
    return validate_frame(
        frame,
        "ingest_accounting",
        [
            E.ExpectColumnPairValuesToBeEqual(column_A="lines_read", column_B="accounted"),
            E.ExpectColumnValuesToBeBetween(column="quarantine_rate", min_value=0.0, max_value=max_quarantine_rate),
        ],
    )
