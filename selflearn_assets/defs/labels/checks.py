"""Every turn of the day has labels."""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.lib.labels import coverage_counts


@dg.asset_check(asset="turn_labels", blocking=True, partitions_def=daily_partitions)
def turn_labels_cover_every_turn(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Each clean turn of the day has exactly one label row, and no label row lacks its turn."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        missing, extra, duplicated = coverage_counts(con, "turn_labels", day)
    return dg.AssetCheckResult(
        passed=missing == 0 and extra == 0 and duplicated == 0,
        description=f"{missing} turns without labels, {extra} labels without turns, {duplicated} duplicates",
        metadata={"turns_without_labels": missing, "labels_without_turns": extra, "duplicates": duplicated},
    )
