"""Which models produced a release: MLflow registry versions from the rows, run ids from the registry."""

from __future__ import annotations

from pathlib import Path

import polars as pl

LABEL_MODEL = "selflearn-label-model"
FAILURE_POINT_MODEL = "selflearn-failure-point-model"
COLUMNS = {
    "label_model": ("label_model_version", LABEL_MODEL),
    "failure_point_model": ("failure_point_model_version", FAILURE_POINT_MODEL),
}


def model_versions(release: pl.DataFrame, mlflow_home: str | Path | None = None) -> dict:
    """Per model: the registered model name, the versions found in the release's rows and, when the MLflow
    store under `<mlflow_home>/mlflow/` exists, each version's training run id (None where unknown)."""
    out = {}
    for key, (column, name) in COLUMNS.items():
        versions = sorted(str(v) for v in release[column].drop_nulls().unique().to_list())
        out[key] = {
            "registered_model": name,
            "versions": versions,
            "run_ids": _run_ids(name, versions, mlflow_home),
        }
    return out


def _run_ids(name: str, versions: list[str], mlflow_home) -> dict[str, str | None]:
    from mlflow.tracking import MlflowClient

    from selflearn_assets.lib.models import tracking

    if mlflow_home is None or not tracking.store_exists(mlflow_home):
        return {v: None for v in versions}

    tracking.configure(mlflow_home)
    client = MlflowClient()
    out: dict[str, str | None] = {}
    for version in versions:
        try:
            out[version] = client.get_model_version(name, version).run_id
        except Exception:  # an unregistered version (e.g. hand-made rows): recorded as unknown
            out[version] = None
    return out
