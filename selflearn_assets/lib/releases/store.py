"""The warehouse side of releases: `releases.label_release`, `release_quality` and `release_builds`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date

import duckdb
import polars as pl

from selflearn_assets.lib.releases.build import RELEASE_COLUMNS
from selflearn_assets.lib.releases.thresholds import LabelQuality
from selflearn_assets.lib.sql import query_pl, run_sql, transaction

QUALITY_SCHEMA = {
    "label": pl.String,
    "threshold": pl.Float64,
    "target": pl.Float64,
    "target_source": pl.String,
    "annotator_precision": pl.Float64,
    "annotator_turns": pl.Int32,
    "precision": pl.Float64,
    "precision_low": pl.Float64,
    "audit_turns": pl.Int32,
    "audit_released": pl.Int32,
    "coverage_audit": pl.Float64,
    "model_accuracy": pl.Float64,
    "pct_of_human": pl.Float64,
    "coverage_day": pl.Float64,
    "drift": pl.Float64,
    "drift_against": pl.Date,
    "status": pl.String,
    "reason": pl.String,
    "split": pl.String,
    "precision_heldout": pl.Float64,
    "precision_heldout_low": pl.Float64,
    "heldout_turns": pl.Int32,
    "heldout_released": pl.Int32,
    "precision_floor": pl.Float64,
    "gold_agreement": pl.Float64,
    "gold_turns": pl.Int32,
    "gold_agreement_previous": pl.Float64,
    "gold_previous_day": pl.Date,
}


def ensure_releases_schema(con: duckdb.DuckDBPyConnection) -> None:
    run_sql(con, "releases/schema.sql")


def quality_frame(qualities: list[LabelQuality]) -> pl.DataFrame:
    return pl.DataFrame([asdict(q) for q in qualities], schema=QUALITY_SCHEMA)


def write_release_day(
    con: duckdb.DuckDBPyConnection, day: date, release: pl.DataFrame, quality: pl.DataFrame, build: dict
) -> None:
    """Replace `day`'s rows of the three tables in one transaction. `build`: params (dict), audit_source,
    audit_days, audit_turns, clean_turns, turns_without_labels, turns_without_failure_point, previous_release."""
    ensure_releases_schema(con)
    con.register("_label_release", release.select(RELEASE_COLUMNS).to_arrow())
    con.register("_release_quality", quality.to_arrow())
    try:
        with transaction(con):
            for table in ("label_release", "release_quality", "release_builds"):
                con.execute(f"DELETE FROM releases.{table} WHERE day = ?", [day])
            run_sql(con, "releases/label_release_insert.sql", {"day": day})
            run_sql(con, "releases/release_quality_insert.sql", {"day": day})
            run_sql(
                con,
                "releases/release_builds_insert.sql",
                {**build, "day": day, "params": json.dumps(build["params"])},
            )
    finally:
        con.unregister("_label_release")
        con.unregister("_release_quality")


def release_of_day(con: duckdb.DuckDBPyConnection, day: date) -> pl.DataFrame:
    ensure_releases_schema(con)
    return query_pl(con, "releases/release_of_day.sql", {"day": day}).select(RELEASE_COLUMNS)


def quality_of_day(con: duckdb.DuckDBPyConnection, day: date) -> pl.DataFrame:
    ensure_releases_schema(con)
    frame = query_pl(con, "releases/quality_of_day.sql", {"day": day}).select(list(QUALITY_SCHEMA))
    return frame.cast(QUALITY_SCHEMA)  # type: ignore[arg-type]


def build_of_day(con: duckdb.DuckDBPyConnection, day: date) -> dict | None:
    ensure_releases_schema(con)
    rows = run_sql(con, "releases/build_of_day.sql", {"day": day}).fetchall()
    if not rows:
        return None
    names = [d[0] for d in con.description]
    build = dict(zip(names, rows[0], strict=True))
    build["params"] = json.loads(build["params"])
    return build


@dataclass(frozen=True)
class StoredRelease:
    """What `label_release` stored for a day, as the export and the gates read it back."""

    build: dict  # `build_of_day`
    release: pl.DataFrame  # `release_of_day`
    quality: pl.DataFrame  # `quality_of_day`
    counts: dict[str, int]  # `accounting_counts`


def stored_release(con: duckdb.DuckDBPyConnection, day: date) -> StoredRelease | None:
    """The release stored for `day`, or None when none was built."""
    build = build_of_day(con, day)
    if build is None:
        return None
    return StoredRelease(
        build, release_of_day(con, day), quality_of_day(con, day), accounting_counts(con, day)
    )


def accounting_counts(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, int]:
    ensure_releases_schema(con)
    return {
        k: int(v)
        for k, v in query_pl(con, "releases/accounting.sql", {"day": day}).row(0, named=True).items()
    }
