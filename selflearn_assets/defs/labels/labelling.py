"""What the labelling assets (`turn_labels`, `failure_points`) share in Dagster: their run config (the chunks a
day is labelled in), the champion model they label a day with, and the lake their day is published to (by
`lib/labels/store.py`)."""

from collections.abc import Callable
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.resources import MLflowResource
from selflearn_assets.defs.run_config import config_class
from selflearn_assets.lib.labels import Chunking
from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.settings import lake_root


class LabellingConfig(config_class(Chunking)):
    """How the day is labelled: in chunks of about `chunk_turns` turns of whole sessions, each streamed into
    the day's lake partition (peak memory grows with the chunk, not the day)."""


def warehouse_lake(duckdb: DuckDBResource) -> Lake:
    """The lake of the warehouse `duckdb` opens: $SELFLEARN_LAKE, else `lake/` beside the warehouse file."""
    return Lake(lake_root(duckdb.database))


def champion_or_failure(
    mlflow: MLflowResource,
    load_champion: Callable[[], Any],
    champion_version: Callable[[], str],
    what: str,
    model_asset: str,
) -> tuple[Any, str]:
    """(champion model, its registered version) from the MLflow registry; a dg.Failure that says to
    materialize `model_asset` first when there is none (`what` names the model in that message)."""
    mlflow.configure()
    try:
        return load_champion(), champion_version()
    except Exception as err:
        raise dg.Failure(
            description=f"no champion {what} in MLflow ({err}); materialize {model_asset} first"
        ) from err
