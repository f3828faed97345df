"""Gates on the mined rewrite table before it is exported: privacy, no cycles, a stable size."""


from datetime import date, timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import markdown_table, rounded
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.lib.markov.params import PRIVACY_FLOOR
from selflearn_assets.lib.rewrites.store import mining_report, rewrites_of_day
from selflearn_assets.lib.rewrites.validate import cycles, duplicate_sources, privacy_violations

COUNT_BAND = (0.5, 2.0)  # today's rewrite count against the previous day's


@dg.asset_check(asset="markov_rewrites", blocking=True, partitions_def=daily_partitions)
def rewrites_respect_privacy(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """No rewrite whose path or target is supported by fewer distinct users than the privacy threshold k."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        table = rewrites_of_day(con, day)
        report = mining_report(con, day)
    params = report["report"]["params"] if report else {}
    k = int(params.get("min_users", PRIVACY_FLOOR))
    if not params.get("unsafe_min_users", False):
        k = max(k, PRIVACY_FLOOR)  # the floor holds whatever the run config said
    bad = privacy_violations(table, k)
    return dg.AssetCheckResult(
        passed=bad.height == 0,
        description=f"{bad.height} of {table.height} rewrites below k={k} distinct users",
        metadata={
            "k": k,
            "unsafe_min_users": bool(params.get("unsafe_min_users", False)),
            "violations": bad.height,
            "sample": dg.MetadataValue.md(
                markdown_table(["source_text", "rewrite_text", "support_users", "target_users"],
                               bad.select("source_text", "rewrite_text", "support_users", "target_users").head(10).rows())
            ),
        },
    )


@dg.asset_check(asset="markov_rewrites", blocking=True, partitions_def=daily_partitions)
def rewrites_have_no_cycles(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """No self-rewrite, no cycle (a → b → … → a) and at most one rewrite per source."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        table = rewrites_of_day(con, day)
    loops = cycles(table)
    duplicates = duplicate_sources(table)
    return dg.AssetCheckResult(
        passed=not loops and not duplicates,
        description=f"{len(loops)} cycles, {len(duplicates)} sources with several rewrites",
        metadata={
            "cycles": dg.MetadataValue.json([" -> ".join(c) for c in loops[:20]]),
            "duplicate_sources": dg.MetadataValue.json(duplicates[:20]),
        },
    )


@dg.asset_check(asset="markov_rewrites", blocking=False, partitions_def=daily_partitions)
def rewrite_count_stable(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Warning: the day's rewrite count within 0.5x..2x of the previous day's."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        today = rewrites_of_day(con, day).height
        before = rewrites_of_day(con, day - timedelta(days=1)).height
    if before == 0:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{today} rewrites; no table the day before to compare with",
            metadata={"rewrites": today},
        )
    ratio = today / before
    return dg.AssetCheckResult(
        passed=bool(COUNT_BAND[0] <= ratio <= COUNT_BAND[1]),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{today} rewrites, {ratio:.2f}x the previous day's {before}",
        metadata={"rewrites": today, "previous_day": before, "ratio": rounded(float(ratio))},
    )
