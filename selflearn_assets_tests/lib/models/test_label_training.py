"""`train_and_track`: the audit-holdout split, one complete MLflow run, and champion promotion on improvement only."""

from __future__ import annotations

import dataclasses

import mlflow
import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.audit import is_holdout
from selflearn_assets.lib.models.encoder import TurnEmbedder, tiny_encoder
from selflearn_assets.lib.models.label_data import load_label_frames
from selflearn_assets.lib.models.label_model import LabelModel, LabelModelConfig
from selflearn_assets.lib.models.label_training import (
    MODEL_NAME,
    PROMOTION_METRIC,
    champion_version,
    split_frames,
    train_and_track,
)
from selflearn_assets_tests.lib.models.conftest import DAY

SMALL = LabelModelConfig(
    d_model=32, layers=1, heads=2, epochs=4, pretrain_epochs=1, patience=10, lr=3e-3, max_sessions=200
)
MAX_SESSIONS = SMALL.max_sessions
# untrained: the weights stay at their random initialisation, so the run scores worse than SMALL's
UNTRAINED = dataclasses.replace(SMALL, epochs=1, pretrain_epochs=0, lr=0.0)
TAGS = {
    "dagster.run_id": "run-1",
    "dagster.asset": "label_model",
    "dagster.partition": "unpartitioned",
    "data_window": f"{DAY}..{DAY}",
}


@pytest.fixture(scope="module")
def frames(simulated_day_con) -> pl.DataFrame:
    return load_label_frames(simulated_day_con, [DAY])


@pytest.fixture(scope="module")
def embedder(frames) -> TurnEmbedder:
    tokenizer, model = tiny_encoder(frames["utterance"].to_list() + frames["response"].to_list())
    return TurnEmbedder(tokenizer, model)


@pytest.fixture(scope="module")
def tracked(frames, embedder, tmp_path_factory):
    """Three runs into one fresh store: untrained (first: champion by default), trained (better: takes over),
    untrained again (worse: must not move the alias). Returns (home, [summary of each run])."""
    home = tmp_path_factory.mktemp("mlflow_home")
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    summaries = [
        train_and_track(frames, embedder, config, home, TAGS, encoder_name="tiny", progress=False)
        for config in (UNTRAINED, SMALL, UNTRAINED)
    ]
    yield home, summaries
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


def test_split_evaluates_on_the_gold_sessions_of_the_audit_holdout(frames):
    train, evaluation, described = split_frames(frames, max_sessions=MAX_SESSIONS, seed=0)
    gold = set(frames.filter(pl.col("has_gold"))["session_id"])
    holdout = {s for s in frames["session_id"].unique() if is_holdout(s)}
    assert set(evaluation["session_id"]) == gold & holdout and len(gold & holdout) >= 20
    assert evaluation.height == frames.filter(pl.col("session_id").is_in(list(gold & holdout))).height
    train_sessions = set(train["session_id"])
    assert train_sessions.isdisjoint(holdout)  # not even the holdout's unaudited sessions
    assert len(train_sessions) == MAX_SESSIONS
    assert gold - holdout <= train_sessions  # audited sessions are kept first
    assert "audit holdout" in described and str(DAY) in described
    # the same split whatever the rows' order or the cap: evaluation sessions never reach training
    _, again, _ = split_frames(frames.reverse(), max_sessions=10_000, seed=1)
    assert set(again["session_id"]) == set(evaluation["session_id"])


def test_run_has_params_metrics_artifacts_tags_and_a_version(tracked, frames):
    home, summaries = tracked
    summary = summaries[1]  # the trained one
    client = MlflowClient()
    run = client.get_run(summary["run_id"])
    assert run.info.experiment_id == summary["experiment_id"] and run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith((home / "mlflow" / "artifacts").resolve().as_uri())

    train, evaluation, eval_set = split_frames(frames, MAX_SESSIONS, SMALL.seed)
    params = run.data.params
    assert params["encoder"] == "tiny" and params["eval_set"] == eval_set == summary["eval_set"]
    assert params["train_turns"] == str(train.height) and params["eval_turns"] == str(evaluation.height)
    assert params["train_sessions"] == str(MAX_SESSIONS) and params["max_sessions"] == str(MAX_SESSIONS)
    for field, value in dataclasses.asdict(SMALL).items():
        assert params[field] == str(value), field

    supervised = summary["epochs"] - SMALL.pretrain_epochs
    assert supervised == SMALL.epochs  # patience 10: no early stop
    train_loss = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in train_loss) == list(range(SMALL.pretrain_epochs, summary["epochs"]))
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == supervised
    assert len(client.get_metric_history(run.info.run_id, "pretrain_fits_loss")) == SMALL.pretrain_epochs
    metrics = run.data.metrics
    assert metrics[PROMOTION_METRIC] == pytest.approx(summary["metrics"][PROMOTION_METRIC])
    assert 0 < metrics[PROMOTION_METRIC] <= 1 and metrics["intent_n"] > 0
    assert "intent_baseline_accuracy" in metrics and "best_val_loss" in metrics

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"intent_confusion.png", "goal_success_pr.png"} <= artifacts
    for name in ("intent_confusion.png", "goal_success_pr.png"):
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=name)
        assert open(local, "rb").read(4) == b"\x89PNG"

    for key, value in TAGS.items():
        assert run.data.tags[key] == value
    assert run.data.tags["registered_version"] == summary["version"] == "2"
    assert run.data.tags["promoted"] == "true"

    version = client.get_model_version(MODEL_NAME, summary["version"])
    assert version.run_id == run.info.run_id
    logged = client.get_logged_model(
        version.source.removeprefix("models:/")
    )  # MLflow 3: the run's LoggedModel
    assert logged.source_run_id == run.info.run_id and logged.name == "model"
    assert (
        version.tags[tracking.METRIC_TAG] == PROMOTION_METRIC
        and version.tags[tracking.EVAL_SET_TAG] == eval_set
    )
    assert float(version.tags[tracking.VALUE_TAG]) == pytest.approx(summary["metrics"][PROMOTION_METRIC])
    model = mlflow.pytorch.load_model(f"models:/{MODEL_NAME}/{summary['version']}")
    assert isinstance(model, LabelModel) and model.config.d_model == SMALL.d_model


def test_champion_moves_only_on_improvement(tracked):
    _, (first, better, worse) = tracked
    client = MlflowClient()
    assert (first["version"], first["promoted"], first["previous_champion"]) == ("1", True, None)
    assert better["metrics"][PROMOTION_METRIC] > first["metrics"][PROMOTION_METRIC]
    assert better["promoted"] and better["previous_champion"] == pytest.approx(
        first["metrics"][PROMOTION_METRIC]
    )
    assert worse["metrics"][PROMOTION_METRIC] < better["metrics"][PROMOTION_METRIC]
    assert worse["version"] == "3" and not worse["promoted"]
    # the previous champion is re-scored on this run's evaluation set: the trained model's own score
    assert worse["previous_champion"] == pytest.approx(better["metrics"][PROMOTION_METRIC], abs=1e-6)
    assert champion_version() == "2"
    assert client.get_run(worse["run_id"]).data.tags["promoted"] == "false"
    assert client.get_model_version(MODEL_NAME, "3").tags["promoted"] == "false"


def test_training_sessions_take_gold_first_and_ignore_row_order():
    from selflearn_assets.lib.models.audit import training_sessions

    sessions = pl.DataFrame({"session_id": ["e", "b", "d", "a", "c"], "gold": [False, True, False, False, True]})
    kept = training_sessions(sessions, max_sessions=3, seed=0).to_list()
    assert kept[:2] == ["b", "c"] and len(kept) == 3 and kept[2] in {"a", "d", "e"}
    assert training_sessions(sessions.reverse(), max_sessions=3, seed=0).to_list() == kept
    assert training_sessions(sessions, max_sessions=1, seed=0).to_list() == ["b"]
    assert sorted(training_sessions(sessions, max_sessions=10, seed=5)) == ["a", "b", "c", "d", "e"]
