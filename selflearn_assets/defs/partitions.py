"""The one daily (UTC) partitioning that every per-day asset uses.

Its first day follows the data: SELFLEARN_PARTITIONS_START when set, else the first day of raw data under
SELFLEARN_RAW_ROOT (far-off stray folders left out and named in a warning), else yesterday
(`lib.ingest.partitions.partitions_start` has the rule). The last partition is the last complete UTC day.

The start is computed once, when the code location loads (`dagster dev`'s code server, a run's process,
`selflearn run`): a raw day that lands before it is not a partition until the code location is reloaded
(the UI's "Reload" on the code location, or restarting `dagster dev`). `selflearn run` loads the code location
itself, so its partitions (`runner.partition_bounds`) are always those of the raw root it runs on.
"""

import dagster as dg

from selflearn_assets.lib.ingest.partitions import PartitionsStart, partitions_start
from selflearn_assets.lib.settings import Settings, load_settings


def resolve_start(settings: Settings) -> PartitionsStart:
    """The first partition for `settings`; logs a warning naming the stray raw folders it left out."""
    start = partitions_start(settings.raw_root, settings.partitions_start)
    message = start.warning(settings.raw_root)
    if message:
        dg.get_dagster_logger("selflearn").warning(message)
    return start


def build_daily_partitions(settings: Settings | None = None) -> dg.DailyPartitionsDefinition:
    start = resolve_start(settings or load_settings())
    return dg.DailyPartitionsDefinition(start_date=start.day.isoformat())


daily_partitions = build_daily_partitions()
