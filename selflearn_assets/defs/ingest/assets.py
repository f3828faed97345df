"""Ingestion: raw turn logs and annotations of one day into typed, validated DuckDB tables."""


from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import day_metadata, markdown_table
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.ingest import build_sessions, ingest_annotations, ingest_turns

TURN_PREVIEW = ["event_id", "session_id", "ts", "asr_text", "nlu_intent", "response_status", "barge_in"]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "clean_turns",
            group_name="ingest",
            kinds={"duckdb"},
            description="One row per valid user turn of the day, typed, with the customer id pseudonymised "
            "and unknown fields kept in `extra`. Table `ingest.clean_turns`.",
        ),
        dg.AssetSpec(
            "quarantined_turns",
            group_name="ingest",
            kinds={"duckdb"},
            description="Every raw line of the day that failed validation, with file, line, raw text and a "
            "reason. Table `ingest.quarantined_turns`. clean + quarantined = lines read.",
        ),
    ],
    partitions_def=daily_partitions,
    pool="duckdb",
)
def raw_turns(context: dg.AssetExecutionContext, duckdb: DuckDBResource, selflearn: SelflearnConfig):
    """Parse and validate every raw line of the day; write clean and quarantined rows in one transaction."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        stats = ingest_turns(con, selflearn.raw_root, day, selflearn.pseudonym_key)
    context.log.info(
        f"{day}: read {stats.lines_read} lines from {len(stats.files)} files: "
        f"{stats.clean_rows} clean, {stats.quarantined_rows} quarantined"
    )
    reasons = sorted(stats.quarantined_by_reason.items(), key=lambda kv: -kv[1])
    yield dg.MaterializeResult(
        asset_key="clean_turns",
        metadata={
            **day_metadata(duckdb, "ingest.clean_turns", context.partition_key, TURN_PREVIEW),
            "lines_read": stats.lines_read,
            "files": dg.MetadataValue.md("\n".join(f"- `{f}`" for f in stats.files) or "(none)"),
        },
    )
    yield dg.MaterializeResult(
        asset_key="quarantined_turns",
        metadata={
            **day_metadata(
                duckdb, "ingest.quarantined_turns", context.partition_key, ["source_file", "source_line", "reason", "detail"]
            ),
            "quarantined_by_reason": dg.MetadataValue.md(markdown_table(["reason", "rows"], reasons)),
            "quarantine_rate": float(stats.quarantined_rows / stats.lines_read) if stats.lines_read else 0.0,
        },
    )


@dg.asset(
    deps=["clean_turns"],
    partitions_def=daily_partitions,
    group_name="ingest",
    kinds={"duckdb"},
    pool="duckdb",
)
def sessions(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per dialogue session of the day: span, turn count, barge-ins, errors, feedback, rewrites."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        build_sessions(con, day)
    return dg.MaterializeResult(
        metadata=day_metadata(
            duckdb, "ingest.sessions", context.partition_key, ["session_id", "start_ts", "n_turns", "n_barge_in", "n_error"]
        )
    )


@dg.asset(partitions_def=daily_partitions, group_name="ingest", kinds={"duckdb"}, pool="duckdb")
def annotations(context: dg.AssetExecutionContext, duckdb: DuckDBResource, selflearn: SelflearnConfig):
    """Audit annotations of the day (gold and single annotators), one row per (event, task, annotator).

    Empty on days without an `annotations/date=D` folder; bad lines go to `ingest.quarantined_annotations`.
    """
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        stats = ingest_annotations(con, selflearn.raw_root, day)
        by_task = con.execute(
            "SELECT task, count(*) FILTER (WHERE is_gold), count(*) FILTER (WHERE NOT is_gold) "
            "FROM ingest.annotations WHERE day = ? GROUP BY task ORDER BY task",
            [day],
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            **day_metadata(duckdb, "ingest.annotations", context.partition_key, ["event_id", "task", "annotator", "label"]),
            "quarantined": stats.quarantined_rows,
            "by_task": dg.MetadataValue.md(markdown_table(["task", "gold", "single annotator"], by_task)),
        }
    )
