"""A warning check on `clean_turns`: event ids of the day that other days already hold."""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import markdown_table
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.lib.ingest.reuse import reused_event_ids

SAMPLE = 10


@dg.asset_check(asset="clean_turns", blocking=False, partitions_def=daily_partitions, pool="duckdb")
def event_ids_unique_across_days(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Warning: the day's event ids that clean_turns also holds on another day (a replayed or re-delivered file,
    or a producer reusing ids). Within a day duplicates are quarantined; across days each day is ingested on
    its own, so the copies are kept and this check says how many there are and where."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        reused = reused_event_ids(con, day)
    other_days = sorted({d for _, days in reused for d in days})
    return dg.AssetCheckResult(
        passed=not reused,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "no event id of the day appears on another day"
            if not reused
            else f"{len(reused):,} event id(s) of {day} also appear on "
            + ", ".join(d.isoformat() for d in other_days[:5])
            + (f" and {len(other_days) - 5} more days" if len(other_days) > 5 else "")
        ),
        metadata={
            "reused_event_ids": len(reused),
            "other_days": len(other_days),
            "sample": dg.MetadataValue.md(
                markdown_table(["event_id", "also on"], [(e, ", ".join(map(str, d))) for e, d in reused[:SAMPLE]])
            ),
        },
    )
