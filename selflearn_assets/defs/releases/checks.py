"""Blocking gates on `label_release` (Great Expectations): a failing day is not exported, and says why.

A label that fails its coverage or precision gate is withheld for the day and the other labels go out: the
coverage and precision checks pass naming it (a label whose precision cannot reach its precision floor is one of
them). The day is blocked only by the schema, accounting, gold (the audit gold no longer agrees with the single
annotator) and required-labels checks (a required label withheld, or every label) and, with `drift_blocking`, by
drift.

`label_release_drift` is declared non-blocking, as drift is by default (`drift_blocking: false`): it fails with
severity WARN and the release goes out. With `drift_blocking: true` it fails with severity ERROR and the export,
which re-evaluates every gate, refuses to publish; declaring it blocking would show every drift warning as a
gate in the UI. The precision and drift checks list each label's value against its bound in their metadata.

The gates themselves are plain data in `selflearn_assets/lib/releases/gates.py`; the export re-evaluates them
before it publishes. Their thresholds are those `label_release` was run with (`releases.release_builds`).
"""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import fmt, markdown_table, rounded
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.releases.assets import label_with_status, with_low
from selflearn_assets.lib.releases import gates
from selflearn_assets.lib.releases.store import (
    accounting_counts,
    build_of_day,
    quality_of_day,
    release_of_day,
)


def _result(
    gate: gates.GateResult, per_label: str | None = None, values: dict | None = None, note: str = ""
) -> dg.AssetCheckResult:
    """The check result of `gate`, with `per_label` (a markdown table of each label's value and bound), `values`
    (each label's value and bound as numbers, plotted by the UI) and `note` appended to the description."""
    return dg.AssetCheckResult(
        passed=gate.passed,
        severity=dg.AssetCheckSeverity.ERROR if gate.blocking else dg.AssetCheckSeverity.WARN,
        description=gate.description + note,
        metadata={
            **({"per_label": dg.MetadataValue.md(per_label)} if per_label else {}),
            **{k: rounded(float(v)) for k, v in (values or {}).items() if v is not None},
            "expectations": len(gate.outcome.outcomes),
            "failed_expectations": len(gate.outcome.failures),
            "results": dg.MetadataValue.md(gate.outcome.markdown()),
            **{k: _metadata_value(v) for k, v in gate.metadata.items()},
        },
    )


def _metadata_value(value):
    """Dicts and lists as JSON, floats rounded (plain values as they are)."""
    if isinstance(value, dict | list):
        return dg.MetadataValue.json(rounded(value))
    return rounded(value)


def precision_per_label(quality) -> str:
    """Per label ("slots (withheld)" for a withheld one): precision at the threshold (with its 95% Wilson lower
    bound) against its target, the bound the check holds it to, and the precision floor under the target; the
    held-out half's precision."""
    rows = [
        (
            label_with_status(r),
            with_low(r["precision"], r["precision_low"]),
            fmt(r["target"]),
            fmt(r["precision_floor"]),
            with_low(r["precision_heldout"], r["precision_heldout_low"]),
        )
        for r in quality.iter_rows(named=True)
    ]
    columns = ["label", "precision (95% low)", "target (≥)", "floor", "held-out (95% low)"]
    return markdown_table(columns, rows)


def drift_per_label(quality, drift_max: float) -> str:
    """Per label: the total variation distance to the previous published release and the bound `drift_max`."""
    rows = [
        (
            r["label"],
            fmt(r["drift"]),
            fmt(drift_max),
            "" if r["drift"] is None else ("yes" if r["drift"] <= drift_max else "no"),
        )
        for r in quality.iter_rows(named=True)
    ]
    return markdown_table(["label", "drift (TVD)", "max", "within"], rows)


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
    values = {
        f"{what}_{r['label']}": r[what]
        for r in quality.iter_rows(named=True)
        for what in ("precision", "target")
    }
    return _result(gates.precision_gate(quality), precision_per_label(quality), values)


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


@dg.asset_check(asset="label_release", blocking=False, partitions_def=daily_partitions, pool="duckdb")
def label_release_drift(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Great Expectations: each label's distribution within `drift_max` (total variation distance) of the
    previous published release. A warning: the release is published all the same, unless label_release ran with
    `drift_blocking: true`, when the check fails as an error and label_release_export refuses to publish."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        build, quality = build_of_day(con, day), quality_of_day(con, day)
    if build is None:
        return _no_build(day)
    params = build["params"]
    gate = gates.drift_gate(quality, params["drift_max"], params["drift_blocking"])
    if gate.passed:
        note = ""
    elif gate.blocking:
        note = " (drift_blocking: the release is not published)"
    else:
        note = " (a warning: drift_blocking is off, the release is published)"
    values = {f"drift_{r['label']}": r["drift"] for r in quality.iter_rows(named=True)}
    return _result(gate, drift_per_label(quality, params["drift_max"]), values, note)
