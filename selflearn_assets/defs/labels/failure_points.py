"""Failure points: every turn of the day classified by the champion failure-point model, with a summary."""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.labels.labelling import LabellingConfig, champion_or_failure, warehouse_lake
from selflearn_assets.defs.metadata import (
    PREVIEW_WIDTH,
    day_metadata,
    markdown_table,
    rounded,
    stage,
    table_definition,
)
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource
from selflearn_assets.lib.evaluation.plots import failure_mix_png, markdown_image
from selflearn_assets.lib.labels import coverage_counts, failure_points_in_chunks, label_views, replace_day
from selflearn_assets.lib.models.failure_point_data import CLASSES, load_failure_point_frames
from selflearn_assets.lib.models.failure_point_training import champion_version, load_champion
from selflearn_assets.lib.sql import query


@dg.asset(
    deps=["failure_point_model", "clean_turns"],
    partitions_def=daily_partitions,
    **stage("labels"),
    kinds={"parquet", "duckdb", "pytorch"},
    metadata=table_definition("labels.failure_points"),
    pool="duckdb",
)
def failure_points(
    context: dg.AssetExecutionContext,
    config: LabellingConfig,
    duckdb: DuckDBResource,
    mlflow: MLflowResource,
    encoder: EncoderConfig,
) -> dg.MaterializeResult:
    """One row per turn of the day: the first component that failed irrecoverably (false_wake, asr, nlu, er,
    result) or correct, its confidence, every class probability and the model version. Table
    `labels.failure_points` (a view over the day's lake partition, labelled and written in chunks of whole
    sessions, `config.chunk_turns` turns each); the metadata has the day's failure-point
    mix by domain and device (chart) and the top failing utterances: where to look first."""
    day = date.fromisoformat(context.partition_key)
    model, version = champion_or_failure(
        mlflow, load_champion, champion_version, "failure-point model", "failure_point_model"
    )
    with readable_day(duckdb, day) as con:
        frames = load_failure_point_frames(con, [day])
    chunks = failure_points_in_chunks(model, frames, encoder.load(), config.chunk_turns)
    lake = warehouse_lake(duckdb)
    # the lake only: the warehouse is not open
    turns = replace_day(lake, "failure_points", chunks, day, version)
    with duckdb.get_connection() as con:
        label_views(con, lake)
        counts = query(con, "labels/failure_point_counts.sql", {"day": day}).fetchall()
        mix = {
            by: _nested(query(con, "labels/failure_point_mix.sql", {"day": day, "by": by}).fetchall())
            for by in ("domain", "device")
        }
        top = query(con, "labels/top_failing_utterances.sql", {"day": day, "limit": 15}).fetchall()
    share = {c: 0.0 for c in CLASSES} | {k: v / max(1, turns) for k, v in counts}
    png = failure_mix_png(mix["domain"], mix["device"], CLASSES)
    return dg.MaterializeResult(
        metadata={
            **day_metadata(
                duckdb,
                "labels.failure_points",
                context.partition_key,
                ["event_id", ("failure_point", "failure point"), ("failure_point_confidence", "confidence")],
            ),
            "model_version": version,
            "failure_rate": rounded(float(1.0 - share["correct"])),
            **{f"share_{c}": rounded(float(share[c])) for c in CLASSES},
            "failure_mix": dg.MetadataValue.md(markdown_image(png, "failure-point mix by domain and device")),
            "top_failing_utterances": dg.MetadataValue.md(
                markdown_table(
                    ["utterance", "failing turns", "main failure point", "users", "mean confidence"],
                    top,
                    PREVIEW_WIDTH,
                )
            ),
        }
    )


def _nested(rows: list[tuple]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for group, failure_point, turns in rows:
        out.setdefault(group, {})[failure_point] = int(turns)
    return out


@dg.asset_check(asset="failure_points", blocking=True, partitions_def=daily_partitions)
def failure_points_cover_every_turn(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    """Each clean turn of the day has exactly one failure point, probabilities sum to 1, no row lacks its turn."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        missing, extra, duplicated = coverage_counts(con, "failure_points", day)
        [(bad_probability,)] = query(
            con, "labels/failure_point_bad_probabilities.sql", {"day": day}
        ).fetchall()
    return dg.AssetCheckResult(
        passed=missing == 0 and extra == 0 and duplicated == 0 and bad_probability == 0,
        description=(
            f"{missing} turns without a failure point, {extra} rows without turns, {duplicated} duplicates, "
            f"{bad_probability} rows whose probabilities do not sum to 1"
        ),
        metadata={
            "turns_without_failure_point": missing,
            "rows_without_turns": extra,
            "duplicates": duplicated,
            "bad_probabilities": bad_probability,
        },
    )
