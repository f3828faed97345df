"""The release frame of a day: every clean turn, each label kept only at or over its release threshold."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.sql import query_pl

RELEASE_COLUMNS = [
    "event_id",
    "session_id",
    "goal_id",
    *[c for label in LABELS for c in (label, f"{label}_confidence")],
    "label_model_version",
    "failure_point_model_version",
]


def load_day(con: duckdb.DuckDBPyConnection, day: date) -> pl.DataFrame:
    """Every clean turn of `day` with its turn_labels and failure_points columns (NULL where missing)."""
    return query_pl(con, "releases/day_labels.sql", {"day": day})


def release_frame(day_labels: pl.DataFrame, thresholds: dict[str, float | None]) -> pl.DataFrame:
    """`day_labels` with each label NULL where its confidence is under the label's threshold (every value
    of a label without a threshold is NULL). Confidences are kept."""
    released = [
        pl.when(pl.col(f"{label}_confidence") >= thresholds[label]).then(pl.col(label)).alias(label)
        if thresholds.get(label) is not None
        else pl.lit(None, dtype=day_labels.schema[label]).alias(label)
        for label in LABELS
    ]
    return day_labels.with_columns(released).select(RELEASE_COLUMNS)


def coverage(release: pl.DataFrame, label: str) -> float:
    """Share of the release's turns that carry `label`."""
    return float(release[label].is_not_null().mean()) if release.height else 0.0


def missing_counts(day_labels: pl.DataFrame) -> dict[str, int]:
    """Turns of the day without a turn_labels row, and without a failure_points row."""
    return {
        "turns_without_labels": int(day_labels["label_model_version"].is_null().sum()),
        "turns_without_failure_point": int(day_labels["failure_point_model_version"].is_null().sum()),
    }
