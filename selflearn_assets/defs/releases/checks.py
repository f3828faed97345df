"""Blocking gates on `label_release` (Great Expectations): a failing day is not exported, and says why.

A label that fails its coverage or precision gate is withheld for the day and the other labels go out: the
coverage and precision checks pass naming it (a label whose precision cannot reach its precision floor is one of
them). The day is blocked only by the schema, accounting, gold (the audit gold no longer agrees with the single
annotator) and required-labels checks (a required label withheld, or every label) and, with `drift_blocking`, by
drift.

The gates themselves are plain data in `selflearn_assets/lib/releases/gates.py`; the export re-evaluates them
before it publishes. Their thresholds are those `label_release` was run with (`releases.release_builds`).
"""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.lib.releases import gates
from selflearn_assets.lib.releases.store import (
    accounting_counts,
    build_of_day,
    quality_of_day,
    release_of_day,
)


def _result(gate: gates.GateResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=gate.passed,
        severity=dg.AssetCheckSeverity.ERROR if gate.blocking else dg.AssetCheckSeverity.WARN,
        description=gate.description,
        metadata={
            "expectations": len(gate.outcome.outcomes),
            "failed_expectations": len(gate.outcome.failures),
            "results": dg.MetadataValue.md(gate.outcome.markdown()),
            **gate.metadata,
        },
    )


def _no_build(day: date) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description=f"no label release built for {day}")


@dg.asset_check(asset="label_release", blocking=True, partitions_def=daily_partitions, pool="duckdb")
def label_release_schema(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Great Expectations: the release's columns, unique non-null event ids, confidences in 0..1, goal ids >= 1,
    booleans, failure points and intents in their value sets, every slot named."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        release = release_of_day(con, day)
    return _result(gates.schema_gate(release))


@dg.asset_check(asset="label_release", blocking=True, partitions_def=daily_partitions, pool="duckdb")
def label_release_accounts_for_every_turn(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Great Expectations: one release row per clean turn of the day, none extra, none twice, each with its
    turn_labels and failure_points row."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        counts = accounting_counts(con, day)
    return _result(gates.accounting_gate(counts))


@dg.asset_check(asset="label_release", blocking=True, partitions_def=daily_partitions, pool="duckdb")
def label_release_coverage(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Great Expectations: every released label covers at least `coverage_floor` of the day's turns; labels
    withheld for the day (under the floor, or without a threshold) are named in the description."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        build, quality = build_of_day(con, day), quality_of_day(con, day)
    if build is None:
        return _no_build(day)
    return _result(gates.coverage_gate(quality, build["params"]["coverage_floor"]))


@dg.asset_check(asset="label_release", blocking=True, partitions_def=daily_partitions, pool="duckdb")
def label_release_precision(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Great Expectations: every released label has a threshold at which its precision on the gold audit
    holdout reaches the target (the single annotator's, or the configured number, at least the label's precision
    floor); labels withheld for the day are named in the description."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        build, quality = build_of_day(con, day), quality_of_day(con, day)
    if build is None:
        return _no_build(day)
    return _result(gates.precision_gate(quality))


@dg.asset_check(asset="label_release", blocking=True, partitions_def=daily_partitions, pool="duckdb")
def label_release_gold(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Great Expectations: per label, the audit gold agrees with the single annotator on the same turns at least
    `gold_agreement_floor`, and no more than `gold_agreement_drop_max` under the agreement the last published
    release recorded; labels with under `gold_min_turns` such turns are named as not judged. A failure blocks
    the day: every label's precision is measured on that gold."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        build, quality = build_of_day(con, day), quality_of_day(con, day)
    if build is None:
        return _no_build(day)
    return _result(gates.gold_gate(quality, *gates.gold_params(build["params"])))


@dg.asset_check(asset="label_release", blocking=True, partitions_def=daily_partitions, pool="duckdb")
def label_release_required_labels(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Great Expectations: the day is publishable: no label of `required_labels` withheld, not every label
    withheld, and each withheld label null on every turn. When it fails the description says why the day is
    blocked."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        build, quality, release = build_of_day(con, day), quality_of_day(con, day), release_of_day(con, day)
    if build is None:
        return _no_build(day)
    required = build["params"].get("required_labels", list(gates.DEFAULT_REQUIRED))
    return _result(gates.required_labels_gate(release, quality, required))


@dg.asset_check(asset="label_release", blocking=True, partitions_def=daily_partitions, pool="duckdb")
def label_release_drift(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Great Expectations: each label's distribution within `drift_max` (total variation distance) of the
    previous published release; a warning unless `drift_blocking`."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        build, quality = build_of_day(con, day), quality_of_day(con, day)
    if build is None:
        return _no_build(day)
    params = build["params"]
    return _result(gates.drift_gate(quality, params["drift_max"], params["drift_blocking"]))
