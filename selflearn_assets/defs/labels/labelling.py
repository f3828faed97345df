"""What the labelling assets (`turn_labels`, `failure_points`) share in Dagster: the champion model they label
a day with (the day's rows are written by `lib/labels/store.py`)."""

from collections.abc import Callable
from typing import Any

import dagster as dg

from selflearn_assets.defs.resources import MLflowResource


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
