"""Start the daily pipeline when a raw partition lands (or changes) under the raw root."""


import json

import dagster as dg

from selflearn_assets.defs.jobs import daily_pipeline
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.ingest import RawRootError, discover_partitions
from selflearn_assets.lib.ingest.fingerprint import partition_fingerprint


@dg.sensor(
    job=daily_pipeline,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches $SELFLEARN_RAW_ROOT for date=YYYY-MM-DD folders; a new day, or a day whose files "
    "changed, starts a daily_pipeline run for that partition.",
)
def raw_partition_sensor(context: dg.SensorEvaluationContext, selflearn: SelflearnConfig):
    try:
        days = discover_partitions(selflearn.raw_root)
    except RawRootError as err:
        return dg.SkipReason(str(err))
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    valid_keys = set(daily_pipeline.partitions_def.get_partition_keys()) if daily_pipeline.partitions_def else set()
    requests = []
    for day in days:
        key = day.isoformat()
        fingerprint = partition_fingerprint(selflearn.raw_root, day)
        if seen.get(key) == fingerprint or key not in valid_keys:
            continue
        seen[key] = fingerprint
        requests.append(dg.RunRequest(run_key=f"raw-{key}-{fingerprint}", partition_key=key))
    if not requests:
        return dg.SkipReason(f"no new or changed raw partitions among {len(days)} under {selflearn.raw_root}")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
