"""What a day's label release is built from: the day's labelled turns, its audit set, and what was published before.

`load_release_inputs` reads the warehouse and refuses (`ReleaseInputError`, saying what to materialize) a day
without clean turns, without a single turn_labels or failure_points row, or without a gold holdout turn to
measure the release on (`audit_set.py`). `load_published_before` reads the exports: the newest published release
before the day, the baseline its drift is measured against (an unreadable one is reported, not fatal), and the
manifests of the last `GOLD_LOOKBACK` published releases, where the gold check finds each label's baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from selflearn_assets.lib.releases.audit_set import AuditSet, AuditSetError, load_audit_set
from selflearn_assets.lib.releases.build import load_day, missing_counts
from selflearn_assets.lib.releases.gold import GOLD_LOOKBACK
from selflearn_assets.lib.releases.publish import (
    ReleaseError,
    latest_release,
    published_manifests,
    read_release,
)
from selflearn_assets.lib.sql import run_sql

UPSTREAM = (("turns_without_labels", "turn_labels"), ("turns_without_failure_point", "failure_points"))


class ReleaseInputError(Exception):
    """A day whose release cannot be built from the warehouse; the message says what to materialize."""


@dataclass(frozen=True)
class ReleaseInputs:
    day: date
    day_labels: pl.DataFrame  # every clean turn of the day with its labels (`build.load_day`)
    missing: dict[str, int]  # turns without turn_labels, without failure_points (`build.missing_counts`)
    audit: AuditSet


def load_release_inputs(
    con: duckdb.DuckDBPyConnection, day: date, audit_min_turns: int, audit_window_days: int
) -> ReleaseInputs:
    """The day's labelled turns and its audit set; ReleaseInputError when the day cannot be released."""
    run_sql(con, "labels/schema.sql")
    day_labels = load_day(con, day)
    if day_labels.height == 0:
        raise ReleaseInputError(f"no clean turns on {day}; materialize clean_turns first")
    missing = missing_counts(day_labels)
    for column, asset in UPSTREAM:
        if missing[column] == day_labels.height:
            raise ReleaseInputError(f"no {asset} rows for {day}; materialize {asset} for {day} first")
    try:
        audit = load_audit_set(con, day, audit_min_turns, audit_window_days)
    except AuditSetError as err:
        raise ReleaseInputError(f"label release {day} cannot be measured: {err}") from err
    return ReleaseInputs(day, day_labels, missing, audit)


@dataclass(frozen=True)
class PublishedBefore:
    folder: Path | None  # the newest published release before the day (None: none)
    table: pl.DataFrame | None  # its labels; None without one, or when it is unreadable
    error: str | None  # why it is unreadable (its drift is then not measured)
    manifests: list[dict]  # the newest `GOLD_LOOKBACK` published manifests before the day, newest first

    @property
    def baseline(self) -> Path | None:
        """The release drift is measured against: `folder` when it was readable."""
        return self.folder if self.table is not None else None

    @property
    def baseline_day(self) -> date | None:
        return date.fromisoformat(self.folder.name.removeprefix("date=")) if self.baseline else None


def load_published_before(exports_root: str | Path, day: date) -> PublishedBefore:
    folder, table, error = latest_release(exports_root, before=day), None, None
    if folder is not None:
        try:
            table = read_release(folder)[0]
        except ReleaseError as err:
            error = str(err)
    return PublishedBefore(folder, table, error, published_manifests(exports_root, day, GOLD_LOOKBACK))
