"""Labels: every turn of the day labelled by the champion label-generation model."""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.labels.labelling import LabellingConfig, champion_or_failure, warehouse_lake
from selflearn_assets.defs.metadata import day_metadata, markdown_table, rounded, stage, table_definition
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource
from selflearn_assets.lib.labels import label_views, replace_day, turn_labels_in_chunks
from selflearn_assets.lib.models.label_data import load_label_frames
from selflearn_assets.lib.models.label_model import IncompatibleModel, check_compatible
from selflearn_assets.lib.models.label_training import champion_version, load_champion
from selflearn_assets.lib.sql import query


@dg.asset(
    deps=["label_model", "clean_turns"],
    partitions_def=daily_partitions,
    **stage("labels"),
    kinds={"parquet", "duckdb", "pytorch"},
    metadata=table_definition("labels.turn_labels"),
    pool="duckdb",
)
def turn_labels(
    context: dg.AssetExecutionContext,
    config: LabellingConfig,
    duckdb: DuckDBResource,
    mlflow: MLflowResource,
    encoder: EncoderConfig,
) -> dg.MaterializeResult:
    """One row per turn of the day: goal id, goal start, goal success, intent and slots, each with the
    champion model's confidence, and the model version that produced them. Table `labels.turn_labels`: a view
    over the lake, where the day is published as one Parquet partition (labelled and written in chunks of
    whole sessions, `config.chunk_turns` turns each)."""
    day = date.fromisoformat(context.partition_key)
    model, version = champion_or_failure(
        mlflow, load_champion, champion_version, "label model", "label_model"
    )
    try:
        check_compatible(model)
    except IncompatibleModel as err:
        raise dg.Failure(
            description=f"champion label model v{version} cannot label this code's features ({err}); "
            "materialize label_model to train one"
        ) from err
    with readable_day(duckdb, day) as con:
        frames = load_label_frames(con, [day])
    chunks = turn_labels_in_chunks(model, frames, encoder.load(), config.chunk_turns)
    lake = warehouse_lake(duckdb)
    replace_day(lake, "turn_labels", chunks, day, version)  # the lake only: the warehouse is not open
    with duckdb.get_connection() as con:
        label_views(con, lake)
        summary = query(con, "labels/turn_label_summary.sql", {"day": day}).fetchall()
    top = [(intent, turns) for intent, turns, _ in summary[:10]]
    return dg.MaterializeResult(
        metadata={
            **day_metadata(duckdb, "labels.turn_labels", context.partition_key,
                           ["event_id", "intent", ("intent_confidence", "confidence"),
                            ("goal_success", "goal success")]),
            "model_version": version,
            "goal_success_rate": rounded(float(summary[0][2] if summary else 0.0)),
            "top_intents": dg.MetadataValue.md(markdown_table(["intent", "turns"], top)),
        }
    )
