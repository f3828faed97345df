"""Ingestion: raw turn logs and annotations of one day into typed, validated DuckDB tables."""


from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import day_metadata, markdown_table, rounded, stage, table_definition
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.ingest import IngestError, build_sessions, ingest_annotations, ingest_turns
from selflearn_assets.lib.quality.turn_expectations import quarantine_rate
from selflearn_assets.lib.settings import DEV_PSEUDONYM_KEY, default_key_warning
from selflearn_assets.lib.sql import run_sql

TURN_PREVIEW = ["event_id", ("asr_text", "asr text"), ("nlu_intent", "intent"), ("response_status", "response")]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "clean_turns",
            **stage("ingest"),
            kinds={"duckdb", "parquet"},
            metadata=table_definition("ingest.clean_turns"),
            description="One row per valid user turn of the day, typed, with the customer id pseudonymised "
            "and unknown fields kept in `extra`. Table `ingest.clean_turns` (a view of the day's Parquet "
            "partitions in the lake).",
        ),
        dg.AssetSpec(
            "quarantined_turns",
            **stage("ingest"),
            kinds={"duckdb", "parquet"},
            metadata=table_definition("ingest.quarantined_turns"),
            description="Every raw line of the day that failed validation, with file, line, raw text and a "
            "reason. Table `ingest.quarantined_turns` (a view of the lake's partitions). clean + quarantined "
            "= lines read.",
        ),
    ],
    partitions_def=daily_partitions,
    pool="duckdb",
    can_subset=True,
)
def raw_turns(context: dg.AssetExecutionContext, duckdb: DuckDBResource, selflearn: SelflearnConfig):
    """Parse and validate every raw line of the day; write clean and quarantined rows in one transaction.

    Either table can be selected alone (`--select clean_turns`): both are written all the same (clean +
    quarantined = lines read), and only the selected ones are reported as materialized.
    """
    day = date.fromisoformat(context.partition_key)
    key_warning = default_key_warning(selflearn.pseudonym_key)
    if key_warning:
        context.log.warning(key_warning)
    refused = None
    with duckdb.get_connection() as con:  # caught inside: get_connection closes its connection only on success
        try:
            stats = ingest_turns(
                con, selflearn.raw_root, day, selflearn.pseudonym_key, allow_empty_replace=selflearn.allow_empty_replace
            )
        except IngestError as err:  # missing day, key changed, empty read of a day with rows: left as it was
            refused = str(err)
    if refused:
        raise dg.Failure(description=refused, allow_retries=False)
    context.log.info(
        f"{day}: read {stats.lines_read} lines from {len(stats.files)} files: "
        f"{stats.clean_rows} clean, {stats.quarantined_rows} quarantined"
    )
    for lost in stats.lost_files:
        context.log.warning(
            f"{day}: {lost.file} was not read ({lost.reason}: {lost.detail}); ~{lost.lines_estimate:,} lines "
            "counted as lost by the quarantine-rate gate"
        )
    for name, why in stats.skipped_files:
        if name not in {lost.file for lost in stats.lost_files}:
            context.log.info(f"{day}: ignored {name}: {why}")
    reasons = sorted(stats.quarantined_by_reason.items(), key=lambda kv: -kv[1])
    not_read = [(f.file, f.reason, f.lines_estimate, f.detail) for f in stats.lost_files]
    selected = context.selected_asset_keys
    if dg.AssetKey("clean_turns") in selected:
        yield dg.MaterializeResult(
            asset_key="clean_turns",
            metadata={
                **day_metadata(duckdb, "ingest.clean_turns", context.partition_key, TURN_PREVIEW),
                "lines_read": stats.lines_read,
                "files": dg.MetadataValue.md("\n".join(f"- `{f}`" for f in stats.files) or "(none)"),
                "pseudonym_key": "default (insecure)" if selflearn.pseudonym_key == DEV_PSEUDONYM_KEY else "set",
                "pseudonym_key_fingerprint": stats.key_fingerprint,
            },
        )
    if dg.AssetKey("quarantined_turns") in selected:
        yield dg.MaterializeResult(
            asset_key="quarantined_turns",
            metadata={
                **day_metadata(
                    duckdb,
                    "ingest.quarantined_turns",
                    context.partition_key,
                    [("source_file", "file"), ("source_line", "line"), "reason"],
                ),
                "quarantined_by_reason": dg.MetadataValue.md(markdown_table(["reason", "rows"], reasons)),
                "quarantine_rate": rounded(
                    quarantine_rate(stats.lines_read, stats.quarantined_rows, stats.lines_lost_estimate)
                ),
                "lines_lost_estimate": stats.lines_lost_estimate,
                "files_not_read": dg.MetadataValue.md(
                    markdown_table(["file", "reason", "lines (estimate)", "why"], not_read) if not_read else "(none)"
                ),
                "files_skipped": dg.MetadataValue.md(
                    markdown_table(["file", "why"], stats.skipped_files) if stats.skipped_files else "(none)"
                ),
            },
        )


@dg.asset(
    deps=["clean_turns"],
    partitions_def=daily_partitions,
    **stage("ingest"),
    kinds={"duckdb"},
    metadata=table_definition("ingest.sessions"),
    pool="duckdb",
)
def sessions(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per dialogue session of the day: span, turn count, barge-ins, errors, feedback, rewrites."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:  # a day blocked by an ingestion gate fails here (issue 12, item 3)
        build_sessions(con, day)
    return dg.MaterializeResult(
        metadata=day_metadata(
            duckdb,
            "ingest.sessions",
            context.partition_key,
            ["session_id", ("n_turns", "turns"), ("n_barge_in", "barge-ins"), ("n_error", "errors")],
        )
    )


@dg.asset(
    partitions_def=daily_partitions,
    **stage("ingest"),
    kinds={"duckdb"},
    metadata=table_definition("ingest.annotations"),
    pool="duckdb",
)
def annotations(context: dg.AssetExecutionContext, duckdb: DuckDBResource, selflearn: SelflearnConfig):
    """Audit annotations of the day (gold and single annotators), one row per (event, task, annotator).

    Empty on days without an `annotations/date=D` folder; bad lines go to `ingest.quarantined_annotations`.
    """
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        stats = ingest_annotations(con, selflearn.raw_root, day)
        by_task = run_sql(con, "ingest/annotation_tasks.sql", {"day": day}).fetchall()
    return dg.MaterializeResult(
        metadata={
            **day_metadata(duckdb, "ingest.annotations", context.partition_key, ["event_id", "task", "annotator", "label"]),
            "quarantined": stats.quarantined_rows,
            "by_task": dg.MetadataValue.md(markdown_table(["task", "gold", "single annotator"], by_task)),
        }
    )
