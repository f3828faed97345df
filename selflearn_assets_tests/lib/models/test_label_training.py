"""`train_and_track`: the audit-holdout split, one complete MLflow run, and champion promotion on improvement only."""

from __future__ import annotations

import dataclasses
import json
import re

import mlflow
import numpy as np
import polars as pl
import pytest
import torch
from mlflow.tracking import MlflowClient

from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.audit import is_holdout
from selflearn_assets.lib.models.encoder import TurnEmbedder, tiny_encoder
from selflearn_assets.lib.models.label_data import load_label_frames
from selflearn_assets.lib.models.label_eval import TASKS
from selflearn_assets.lib.models.label_features import encode
from selflearn_assets.lib.models.label_model import LabelModel, LabelModelConfig, collate
from selflearn_assets.lib.models.label_training import (
    DESCRIPTION,
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

    # one meaning of epochs: param `epochs` = the configured maximum, metric `epochs_run` = those run
    assert summary["epochs"] == SMALL.epochs and params["epochs"] == str(SMALL.epochs)
    supervised = summary["epochs_run"]
    assert supervised == SMALL.epochs == run.data.metrics["epochs_run"]  # patience 10: no early stop
    train_loss = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in train_loss) == list(
        range(SMALL.pretrain_epochs, SMALL.pretrain_epochs + supervised)
    )
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


def test_epoch_counts_agree_between_the_summary_mlflow_and_the_history(tracked):
    """One count of each kind of epoch everywhere: the summary (the asset's Dagster metadata), the run's params
    and metrics, and the per-epoch metric histories; pretraining is not counted in `epochs_run`."""
    _, summaries = tracked
    client = MlflowClient()
    for summary, config in zip(summaries, (UNTRAINED, SMALL, UNTRAINED), strict=True):
        run = client.get_run(summary["run_id"])
        metrics, params = run.data.metrics, run.data.params

        def steps(name: str, run_id: str = summary["run_id"]) -> int:
            return len(client.get_metric_history(run_id, name))

        supervised, pretrain = config.epochs, config.pretrain_epochs  # patience 10: all run
        assert summary["epochs_run"] == summary["fit"]["epochs_run"] == metrics["epochs_run"] == supervised
        assert steps("val_loss") == steps("train_loss") == supervised
        assert summary["pretrain_epochs"] == metrics["pretrain_epochs_run"] == int(params["pretrain_epochs"])
        assert summary["pretrain_epochs"] == steps("pretrain_fits_loss") == pretrain
        assert summary["epochs"] == int(params["epochs"]) == config.epochs
        children = client.search_runs(
            [summary["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{summary['run_id']}'"
        )
        (baseline,) = [c for c in children if "non-contextual" in c.info.run_name]
        assert baseline.data.metrics["epochs_run"] == steps("val_loss", baseline.info.run_id) == supervised
        assert baseline.data.metrics["pretrain_epochs_run"] == pretrain


SHARED = [f"{t}_{m}" for t in TASKS for m in ("accuracy", "f1", "n", "pct_of_human")]
SHARED += ["macro_accuracy", "pct_of_human"]


def test_baselines_are_child_runs_with_the_model_metric_names(tracked, frames):
    """The non-contextual baseline and the single annotator are child runs of the model's run, logging the
    metric names the model's run has, with the values the evaluation computed (the annotator's by hand)."""
    _, summaries = tracked
    summary = summaries[1]
    client = MlflowClient()
    parent = client.get_run(summary["run_id"])
    assert parent.info.run_name == f"label-model {DAY}..{DAY}"
    assert re.fullmatch(r"label-model \d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}", parent.info.run_name)
    children = client.search_runs(
        [summary["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{summary['run_id']}'"
    )
    by_name = {c.info.run_name: c for c in children}
    baseline, annotator = "label-model baseline: non-contextual", "label-model baseline: single annotator"
    assert set(by_name) == {baseline, annotator} == set(summary["references"])
    m = summary["metrics"]
    for task in TASKS:  # the model's run: the prefixed keys kept, the shared names added with the same values
        assert parent.data.metrics[f"{task}_accuracy"] == pytest.approx(m[f"{task}_model_accuracy"])
        assert parent.data.metrics[f"{task}_f1"] == pytest.approx(m[f"{task}_model_f1"])
    assert set(SHARED) <= set(parent.data.metrics)
    for name, child in by_name.items():
        assert set(SHARED) <= set(child.data.metrics), name
        for key in SHARED:
            assert child.data.metrics[key] == pytest.approx(summary["references"][name][key]), (name, key)
        assert {k: child.data.tags[k] for k in TAGS} == TAGS and child.info.status == "FINISHED"
    base, ann = by_name[baseline].data.metrics, by_name[annotator].data.metrics
    assert base["intent_accuracy"] == pytest.approx(m["intent_baseline_accuracy"])
    assert base["slots_accuracy"] == pytest.approx(m["slots_baseline_accuracy"])
    assert by_name[baseline].data.params["contextual"] == "False" and base["epochs_run"] >= 1
    assert len(client.get_metric_history(by_name[baseline].info.run_id, "val_loss")) == base["epochs_run"]
    _, evaluation, _ = split_frames(frames, MAX_SESSIONS, SMALL.seed)
    both = evaluation.filter(pl.col("gold_intent").is_not_null() & pl.col("ann_intent").is_not_null())
    assert ann["intent_n"] == both.height > 0
    assert ann["intent_accuracy"] == pytest.approx((both["ann_intent"] == both["gold_intent"]).mean())
    assert ann["intent_accuracy"] == pytest.approx(m["intent_annotator_accuracy"])
    assert ann["pct_of_human"] == pytest.approx(1.0) and ann["intent_pct_of_human"] == pytest.approx(1.0)
    assert base["pct_of_human"] == pytest.approx(base["macro_accuracy"] / ann["macro_accuracy"])


def test_runs_carry_their_turns_as_datasets(tracked, frames):
    home, summaries = tracked
    summary = summaries[1]
    client = MlflowClient()
    train, evaluation, _ = split_frames(frames, MAX_SESSIONS, SMALL.seed)

    def inputs(run_id) -> dict:
        run = client.get_run(run_id)
        return {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}

    parent = inputs(summary["run_id"])
    assert set(parent) == {"training", "evaluation"}
    for context, turns in (("training", train), ("evaluation", evaluation)):
        dataset = parent[context]
        assert dataset.name == f"label-model {context} {DAY}..{DAY}"
        assert dataset.digest == tracking.turn_ids_digest(turns["event_id"])
        profile = json.loads(dataset.profile)
        assert profile["turns"] == turns.height and profile["sessions"] == turns["session_id"].n_unique()
        assert profile["gold_turns"] == turns.filter(pl.col("has_gold")).height
        assert json.loads(dataset.schema)["mlflow_colspec"] == [
            {"type": "string", "name": c, "required": True} for c in ("day", "session_id", "event_id")
        ] + [{"type": "boolean", "name": "gold", "required": True}]  # ids only: no utterance, no response
        source = mlflow.data.get_source(dataset).to_dict()
        assert (
            source["warehouse"] == str(home.resolve() / "warehouse.duckdb")
            and source["days"] == f"{DAY}..{DAY}"
        )
        assert "ingest.clean_turns" in source["tables"]
    children = client.search_runs(
        [summary["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{summary['run_id']}'"
    )
    assert {c.info.run_name for c in children} == set(summary["references"])
    for child in children:
        name = child.info.run_name
        expected = {"evaluation"} if "annotator" in name else {"training", "evaluation"}
        child_inputs = inputs(child.info.run_id)
        assert set(child_inputs) == expected
        assert all(child_inputs[c].digest == parent[c].digest for c in expected)  # the same turns


def test_the_logged_model_has_a_signature_it_runs_on_and_descriptions(tracked, frames, embedder):
    _, summaries = tracked
    summary = summaries[1]
    client = MlflowClient()
    uri = f"models:/{MODEL_NAME}/{summary['version']}"
    signature = mlflow.models.get_model_info(uri).signature
    inputs = {s.name: s for s in signature.inputs.inputs}
    assert {"utt", "resp", "mask", "cats", "cand_features"} <= set(inputs)
    assert not {"intent", "goal_start", "cand_target", "rows"} & set(inputs)  # targets are not inputs
    assert inputs["utt"].shape == (-1, -1, embedder.dim) and inputs["mask"].type == np.dtype("bool")
    assert {s.name for s in signature.outputs.inputs} == {
        "goal_start",
        "goal_success",
        "intent",
        "slots",
        "fits",
    }
    # the model runs on a batch of exactly the signature's inputs, with the shapes it declares
    model = mlflow.pytorch.load_model(uri)
    _, evaluation, _ = split_frames(frames, MAX_SESSIONS, SMALL.seed)
    data = encode(evaluation, model.spec, embedder, contextual=True)
    batch = collate(data, data.sessions[:3])
    with torch.no_grad():
        out = model({name: batch[name] for name in inputs})
    for name, spec in inputs.items():
        assert len(spec.shape) == batch[name].ndim and all(
            d == -1 or d == n for d, n in zip(spec.shape, batch[name].shape, strict=True)
        ), name
    assert out["intent"].shape[-1] == {s.name: s for s in signature.outputs.inputs}["intent"].shape[-1]

    run = client.get_run(summary["run_id"])
    assert run.data.tags[tracking.NOTE_TAG] == DESCRIPTION
    assert client.get_experiment(summary["experiment_id"]).tags[tracking.NOTE_TAG] == DESCRIPTION
    assert client.get_registered_model(MODEL_NAME).description == DESCRIPTION
    assert "non-contextual baseline" in DESCRIPTION and "Compare" in DESCRIPTION


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

    sessions = pl.DataFrame(
        {"session_id": ["e", "b", "d", "a", "c"], "gold": [False, True, False, False, True]}
    )
    kept = training_sessions(sessions, max_sessions=3, seed=0).to_list()
    assert kept[:2] == ["b", "c"] and len(kept) == 3 and kept[2] in {"a", "d", "e"}
    assert training_sessions(sessions.reverse(), max_sessions=3, seed=0).to_list() == kept
    assert training_sessions(sessions, max_sessions=1, seed=0).to_list() == ["b"]
    assert sorted(training_sessions(sessions, max_sessions=10, seed=5)) == ["a", "b", "c", "d", "e"]
