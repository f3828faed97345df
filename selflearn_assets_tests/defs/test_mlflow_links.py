"""Links between the two UIs: a model asset's metadata links to its MLflow run ($SELFLEARN_MLFLOW_UI), and the
model version it registers links back to the asset and the run in Dagster ($SELFLEARN_DAGSTER_UI)."""

from datetime import date

import dagster as dg
from mlflow.tracking import MlflowClient
from torch import nn

from selflearn_assets.defs.metadata import dagster_asset_url, mlflow_run_metadata, mlflow_run_tags
from selflearn_assets.defs.resources import MLflowResource
from selflearn_assets.lib.models import tracking

SUMMARY = {"experiment_id": "3", "run_id": "abc", "version": "2", "promoted": True, "previous_champion": 0.5}


def test_the_mlflow_link_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("SELFLEARN_MLFLOW_UI", raising=False)
    resource = MLflowResource(home=str(tmp_path))
    assert resource.run_url("3", "abc") == "http://127.0.0.1:5000/#/experiments/3/runs/abc"
    monkeypatch.setenv("SELFLEARN_MLFLOW_UI", "https://mlflow.example:5001/")
    meta = mlflow_run_metadata(resource, SUMMARY, "f1")
    assert meta["mlflow_run"].value == "https://mlflow.example:5001/#/experiments/3/runs/abc"
    assert meta["previous_champion_f1"] == "0.500"
    # the resource's own config wins over the environment
    configured = MLflowResource(home=str(tmp_path), ui_url="http://10.0.0.7:8080")
    assert configured.run_url("3", "abc") == "http://10.0.0.7:8080/#/experiments/3/runs/abc"


def test_dagster_asset_urls(monkeypatch):
    monkeypatch.delenv("SELFLEARN_DAGSTER_UI", raising=False)
    assert dagster_asset_url(dg.AssetKey("label_model")) == "http://127.0.0.1:3000/assets/label_model"
    monkeypatch.setenv("SELFLEARN_DAGSTER_UI", "https://dagster.example/prefix/")
    key = dg.AssetKey(["models", "label model"])
    assert dagster_asset_url(key) == "https://dagster.example/prefix/assets/models/label%20model"


@dg.asset(key_prefix=["models"])
def tiny_model(context: dg.AssetExecutionContext, mlflow: MLflowResource) -> dg.MaterializeResult:
    """A model asset in miniature: a tagged MLflow run whose model is registered."""
    mlflow.configure("tiny")
    with tracking.start_run("tiny", tags=mlflow_run_tags(context, [date(2026, 11, 1)])) as run:
        tracking.log_torch_model(nn.Linear(2, 1))
        summary = tracking.register_run_model(run, "tiny", "f1", 0.5, "set A", champion_value=None)
    return dg.MaterializeResult(metadata=mlflow_run_metadata(mlflow, summary, "f1"))


def test_the_champion_version_links_back_to_its_dagster_asset(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFLEARN_DAGSTER_UI", "http://dagster.example:3001")
    monkeypatch.setenv("SELFLEARN_MLFLOW_UI", "http://mlflow.example:5001")
    result = dg.materialize([tiny_model], resources={"mlflow": MLflowResource(home=str(tmp_path))})
    assert result.success
    meta = result.asset_materializations_for_node("models__tiny_model")[0].metadata
    run = MlflowClient().get_run(meta["mlflow_run_id"].value)
    assert meta["mlflow_run"].value == (
        f"http://mlflow.example:5001/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    )
    champion = tracking.champion_version("tiny")
    asset_url = "http://dagster.example:3001/assets/models/tiny_model"
    run_url = f"http://dagster.example:3001/runs/{result.run_id}"
    assert (str(champion.version), champion.run_id) == ("1", run.info.run_id)
    assert champion.tags["dagster.asset_url"] == run.data.tags["dagster.asset_url"] == asset_url
    assert champion.tags["dagster.run_url"] == run_url
    assert (champion.tags["dagster.asset"], champion.tags["dagster.run_id"]) == ("models/tiny_model", result.run_id)
    assert champion.description == (
        f"Trained by the Dagster asset [models/tiny_model]({asset_url}), run [{result.run_id[:8]}]({run_url})."
    )
