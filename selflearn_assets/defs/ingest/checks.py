"""Blocking data-quality gates on `clean_turns` (Great Expectations) and a warning check on volume.

A failing blocking check stops the day's downstream assets in the same run; the check's metadata says why.
Each blocking gate records its outcome in `ingest.day_gates`, so that later runs do not read a blocked day
either (its partition assets fail, windows leave it out; `lib/ingest/gates.py`).
"""

import functools
import json
import statistics
from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import markdown_table, rounded
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.ingest.gates import record_gate
from selflearn_assets.lib.quality.turn_expectations import (
    accounting_description,
    quarantine_rate,
    validate_accounting,
    validate_clean_turns_day,
)
from selflearn_assets.lib.sql import run_sql

VOLUME_BAND = (0.5, 2.0)  # today's clean rows as a share of the trailing week's median


def _suite_result(outcome, extra: dict | None = None) -> dg.AssetCheckResult:
    failed = outcome.failures
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "all expectations met"
            if outcome.success
            else "failed: " + "; ".join(f"{f.expectation}({f.column or ''})" for f in failed)
        ),
        metadata={
            "expectations": len(outcome.outcomes),
            "failed_expectations": len(failed),
            "results": dg.MetadataValue.md(outcome.markdown()),
            **(extra or {}),
        },
    )


def _records_gate(check):
    """A blocking ingestion gate that also records its outcome in `ingest.day_gates`: later stages read the
    day only once every gate passed on it (`lib/ingest/gates.py`)."""

    @functools.wraps(check)
    def gate(
        context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource, **resources
    ) -> dg.AssetCheckResult:
        result = check(context, duckdb, **resources)
        with duckdb.get_connection() as con:
            record_gate(
                con,
                date.fromisoformat(context.partition_key),
                check.__name__,
                result.passed,
                result.description,
            )
        return result

    return gate


@dg.asset_check(asset="clean_turns", blocking=True, partitions_def=daily_partitions, pool="duckdb")
@_records_gate
def clean_turns_expectations(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Great Expectations: schema, required fields not null, scores in 0..1, allowed values, unique event ids,
    every timestamp inside the partition's UTC day. DuckDB counts each expectation's unexpected rows in one
    pass, GX judges the counts, and a failure lists example values (`lib/quality/duckdb_suite.py`)."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        outcome = validate_clean_turns_day(con, day)
        (rows,) = run_sql(con, "ingest/day_rows.sql", {"day": day}).fetchone()
    return _suite_result(outcome, {"rows": rows})


@dg.asset_check(asset="clean_turns", blocking=True, partitions_def=daily_partitions, pool="duckdb")
@_records_gate
def ingest_accounting(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource, selflearn: SelflearnConfig
) -> dg.AssetCheckResult:
    """Great Expectations: lines read = clean + quarantined, and the quarantine rate under its threshold
    (`max_quarantine_rate` of the `selflearn` resource)."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        row = run_sql(con, "ingest/accounting.sql", {"day": day}).fetchone()
    if row is None:
        return dg.AssetCheckResult(passed=False, description=f"no ingestion statistics for {day}")
    lines_read, lost, lost_files_json, clean_now, quarantined_now = row  # lost: whole files not read
    lost_files = json.loads(lost_files_json) if lost_files_json else []
    limit = selflearn.max_quarantine_rate
    outcome = validate_accounting(lines_read, clean_now, quarantined_now, limit, lost)
    return _suite_result(
        outcome,
        {
            "lines_read": lines_read,
            "clean_rows": clean_now,
            "quarantined_rows": quarantined_now,
            "lines_lost_estimate": lost,
            "quarantine_rate": rounded(quarantine_rate(lines_read, quarantined_now, lost)),
            "max_quarantine_rate": limit,
        },
    )._replace(
        description=accounting_description(lines_read, clean_now, quarantined_now, limit, lost, lost_files)
    )


@dg.asset_check(asset="clean_turns", blocking=False, partitions_def=daily_partitions)
def clean_turns_volume(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Warning: the day's clean rows against the median of the trailing 7 days (band 0.5x..2x)."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        days = run_sql(con, "ingest/trailing_volume.sql", {"day": day}).fetchall()
    week = [r for r in days if r[0] < day]
    rows_today = next((rows for d, rows in days if d == day), 0)
    if not week:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="no earlier day in the trailing week to compare with",
            metadata={"rows": rows_today},
        )
    median = statistics.median(r[1] for r in week)
    ratio = rows_today / median if median else float("inf")
    low, high = VOLUME_BAND
    return dg.AssetCheckResult(
        passed=bool(low <= ratio <= high),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{rows_today} rows, {ratio:.2f}x the trailing median of {median:g}",
        metadata={
            "rows": rows_today,
            "trailing_median": rounded(float(median)),
            "ratio": rounded(float(ratio)),
            "trailing_days": dg.MetadataValue.md(markdown_table(["day", "clean_rows"], week)),
        },
    )
