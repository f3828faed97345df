"""The one daily (UTC) partitioning that every per-day asset uses."""

import dagster as dg

from selflearn_assets.lib.settings import load_settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=load_settings().partitions_start)
