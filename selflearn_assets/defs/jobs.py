"""Jobs and schedules: the daily pipeline over every daily-partitioned asset."""

import dagster as dg

from selflearn_assets.defs.partitions import daily_partitions

# Groups whose assets are not daily-partitioned (model training over windows). Everything else is daily.
UNPARTITIONED_GROUPS = ("models",)

daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(*UNPARTITIONED_GROUPS),
    partitions_def=daily_partitions,
    description="Every daily-partitioned asset of one day, from raw logs to exports, in dependency order.",
)

daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_pipeline,
    name="daily_pipeline_schedule",
    hour_of_day=2,
    description="At 02:00 UTC, the daily pipeline for yesterday's partition.",
)

model_training = dg.define_asset_job(
    "model_training",
    selection=dg.AssetSelection.groups(*UNPARTITIONED_GROUPS),
    description="Train the models over their windows, track them in MLflow, promote champions on improvement.",
)
