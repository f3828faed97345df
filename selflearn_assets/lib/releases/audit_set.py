"""The gold audit set a release is measured on: gold-annotated turns of audit-holdout sessions only.

No model trains on the holdout (`lib/models/audit.py`), so precision measured there is out of sample. The
set is the gold holdout turns of the release day, or, when the day has fewer than `min_turns` of them, those
of the trailing `window_days` days that have both turn_labels and failure_points. Each row carries the
gold label, the single annotator's label and the model's label with its confidence, per released label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import polars as pl

from selflearn_assets.lib.models.audit import holdout_expr
from selflearn_assets.lib.releases.labels import LABELS, agreement
from selflearn_assets.lib.sql import query_pl


class AuditSetError(Exception):
    """No gold holdout turn to measure a release on; the message says where it looked."""


@dataclass(frozen=True)
class AuditSet:
    frame: pl.DataFrame  # one row per gold holdout turn; see `audit_frame`
    days: list[date]
    source: str  # "day": the release day alone; "window": the trailing window

    @property
    def turns(self) -> int:
        return self.frame.height


def labelled_days(con: duckdb.DuckDBPyConnection, day: date, window_days: int) -> list[date]:
    """Days of the window ending at `day` with both turn_labels and failure_points, newest first."""
    start = day - timedelta(days=window_days - 1)
    return query_pl(con, "releases/labelled_days.sql", {"start": start, "day": day})["day"].to_list()


def load_audit_set(con: duckdb.DuckDBPyConnection, day: date, min_turns: int, window_days: int) -> AuditSet:
    """The audit set for the release of `day` (see the module docstring); raises AuditSetError when empty."""
    frame = audit_frame(con, [day])
    if frame.height >= min_turns:
        return AuditSet(frame, [day], "day")
    days = labelled_days(con, day, window_days)
    frame = audit_frame(con, days) if days else frame
    if frame.height == 0:
        raise AuditSetError(
            f"no gold-annotated turn of an audit-holdout session on {day} nor in the {window_days} days "
            f"ending there that have turn_labels and failure_points ({', '.join(map(str, days)) or 'none'}); "
            "a release needs gold annotations (annotations/date=…/) to measure its precision"
        )
    return AuditSet(frame, sorted(days), "window")


def audit_frame(con: duckdb.DuckDBPyConnection, days: list[date]) -> pl.DataFrame:
    """Gold holdout turns of `days`: day, event_id, session_id, and per label `gold_<label>`, `ann_<label>`
    (the pivot `ingest.turn_annotations`), `<label>`, `<label>_confidence`, `<label>_correct` (model vs gold)
    and `ann_<label>_correct`."""
    labels = query_pl(con, "releases/audit_annotations.sql", {"days": days})
    labels = labels.filter(holdout_expr("session_id"))
    predictions = query_pl(con, "releases/audit_predictions.sql", {"days": days})
    frame = labels.join(predictions, on=["day", "event_id"], how="inner")
    for label in LABELS:
        frame = frame.with_columns(
            agreement(frame, label, label, f"gold_{label}").alias(f"{label}_correct"),
            agreement(frame, label, f"ann_{label}", f"gold_{label}").alias(f"ann_{label}_correct"),
        )
    return frame.sort("day", "session_id", "event_id")
