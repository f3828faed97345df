"""Failure-point isolation: features by hand, weak labels, training with a tiny encoder, evaluation, tracking."""

from __future__ import annotations

import dataclasses

import mlflow
import numpy as np
import polars as pl
import pytest
import torch
from mlflow.tracking import MlflowClient

from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.encoder import TurnEmbedder, tiny_encoder
from selflearn_assets.lib.models.failure_point_data import (
    CLASSES,
    load_failure_point_frames,
    overlap_features,
    weak_labels,
)
from selflearn_assets.lib.models.failure_point_eval import evaluate_failure_points
from selflearn_assets.lib.models.failure_point_features import N_NUMERIC, FailureFeatureSpec, encode
from selflearn_assets.lib.models.failure_point_model import (
    FailurePointConfig,
    FailurePointModel,
    class_weights,
    predict_failure_points,
    train_failure_point_model,
)
from selflearn_assets.lib.models.failure_point_training import MODEL_NAME, split_frames, train_and_track
from selflearn_assets_tests.lib.models.conftest import DAY

SMALL = FailurePointConfig(d_model=32, layers=1, heads=2, epochs=12, patience=12, lr=3e-3, weak_weight=0.0)


@pytest.fixture(scope="module")
def frames(simulated_day_con) -> pl.DataFrame:
    return load_failure_point_frames(simulated_day_con, [DAY])


@pytest.fixture(scope="module")
def embedder(frames) -> TurnEmbedder:
    texts = [t for c in ("utterance", "response") for t in frames[c].to_list()]
    return TurnEmbedder(*tiny_encoder(texts))


def _turn(**fields) -> dict:
    base = {
        "utterance": "play imagine dragons",
        "response": "Playing songs by Imagine Dragons.",
        "status": "success",
        "er_status": "resolved",
        "wake_score": 0.9,
        "asr_conf": 0.9,
        "nlu_conf": 0.9,
        "nlu_intent": "music.play",
        "barge_in": False,
        "explicit_feedback": None,
        "next1_utterance": None,
        "next1_intent": None,
        "next1_gap_s": None,
        "next2_utterance": None,
    }
    return base | fields


def _frame(*turns: dict) -> pl.DataFrame:
    return overlap_features(pl.DataFrame(list(turns), infer_schema_length=None))


def test_overlap_features_by_hand():
    out = _frame(
        _turn(
            response="Playing songs by The Silver Lanterns.",
            next1_utterance="play songs by imagine dragons",
            next1_gap_s=6.0,
        ),
    ).row(0, named=True)
    # content words of the request: {imagine, dragons}; the response has neither
    assert out["response_coverage"] == 0.0
    # the next request repeats both; of its 5 words, "songs" and "by" are new
    assert out["next1_coverage"] == 1.0
    assert out["next1_new_share"] == pytest.approx(2 / 5)
    assert out["next1_overlap"] == pytest.approx(3 / 5)  # {play, imagine, dragons} / 5 words
    assert out["n_tokens"] == 3


def test_weak_labels_follow_the_documented_rules():
    retry = {"next1_utterance": "play imagine dragons please", "next1_gap_s": 5.0}
    frame = _frame(
        _turn(),  # fine, no retry: correct
        _turn(
            wake_score=0.2, asr_conf=0.3, utterance="uh huh", status="no_response", response=""
        ),  # false_wake
        _turn(asr_conf=0.4, **retry),  # retried after a badly heard request: asr
        _turn(er_status="unresolved", status="error", **retry),  # unresolved entity heard well: er
        _turn(nlu_conf=0.3, status="unsupported", **retry),  # the NLU was unsure: nlu
        _turn(barge_in=True, **retry),  # a successful response the user cut off and retried: result
        _turn(barge_in=True),  # rejected but not retried: no rule is confident
    )
    assert weak_labels(frame)["weak_failure_point"].to_list() == [
        "correct",
        "false_wake",
        "asr",
        "er",
        "nlu",
        "result",
        None,
    ]


def test_frames_have_context_and_labels(frames, simulated_day_con):
    turns = simulated_day_con.execute("SELECT count(*) FROM ingest.clean_turns").fetchall()[0][0]
    assert frames.height == turns and frames["event_id"].n_unique() == turns
    gold = frames["gold_failure_point"].drop_nulls()
    assert gold.len() > 100 and set(gold) <= set(CLASSES)
    # context only within the window, and always a later turn of the same session
    assert (frames["next1_gap_s"].drop_nulls() <= 60).all() and (
        frames["next1_gap_s"].drop_nulls() >= 0
    ).all()
    has_next = frames.filter(pl.col("next1_utterance").is_not_null())
    assert has_next.height > 50


def test_encode_shapes(frames, embedder):
    spec = FailureFeatureSpec.fit(frames)
    data = encode(frames, spec, embedder, weak_weight=0.5)
    n = frames.height
    assert data.text.shape == (n, 6, embedder.dim) and data.text_mask.shape == (n, 6)
    assert data.nums.shape == (n, N_NUMERIC) and torch.isfinite(data.nums).all()
    assert data.text_mask[:, 0].all()
    # masked slots are exactly the absent following turns
    assert data.text_mask[:, 2].numpy().tolist() == frames["next1_utterance"].is_not_null().to_list()
    gold = frames["gold_failure_point"].is_not_null().to_numpy()
    assert (data.weight.numpy()[gold] == 1.0).all()
    weak_only = ~gold & frames["weak_failure_point"].is_not_null().to_numpy()
    assert (data.weight.numpy()[weak_only] == 0.5).all()


def test_class_weights_favour_rare_classes():
    target = torch.tensor([5] * 16 + [1] * 4 + [-100] * 3)
    w = class_weights(target, 6)
    assert w[1] == pytest.approx(2 * w[5])  # 1/sqrt(4) vs 1/sqrt(16)
    assert w.mean().item() == pytest.approx(1.0)


def test_model_learns_and_beats_the_majority_baseline(frames, embedder):
    train, evaluation, _ = split_frames(frames)
    model, history, fit = train_failure_point_model(train, SMALL, embedder, progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    predicted = predict_failure_points(model, evaluation, embedder)
    probabilities = predicted.select(f"p_{c}" for c in CLASSES).to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5) and (probabilities >= 0).all()
    assert set(predicted["failure_point"]) <= set(CLASSES)
    metrics = evaluate_failure_points(evaluation, predicted)
    assert metrics["n"] == evaluation.filter(pl.col("ann_failure_point").is_not_null()).height > 30
    assert metrics["model_macro_f1"] > metrics["majority_macro_f1"] + 0.2
    # within two turns of "always correct" on accuracy: a claimed success on a wrong interpretation
    # (`SimConfig.wrong_success_rate`) looks like a success in every log field
    assert metrics["model_accuracy"] >= metrics["majority_accuracy"] - 2 / metrics["n"]
    assert metrics["pct_of_human"] == pytest.approx(metrics["model_accuracy"] / metrics["annotator_accuracy"])


def test_evaluation_by_hand():
    frames = pl.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "gold_failure_point": ["asr", "correct", "correct", "result"],
            "ann_failure_point": ["er", "correct", "result", "result"],
        }
    )
    predictions = pl.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "failure_point": ["asr", "correct", "correct", "correct"],
            "failure_point_confidence": [0.9] * 4,
        }
    )
    m = evaluate_failure_points(frames, predictions)
    assert m["model_accuracy"] == 0.75 and m["annotator_accuracy"] == 0.5
    assert m["pct_of_human"] == 1.5
    assert m["model_correct_precision"] == pytest.approx(2 / 3) and m["model_result_recall"] == 0.0
    assert m["annotator_result_precision"] == 0.5 and m["annotator_asr_recall"] == 0.0
    # macro-F1 over the gold classes only (asr, correct, result): model (1 + 0.8 + 0) / 3
    assert m["model_macro_f1"] == pytest.approx((1 + 0.8 + 0) / 3)
    assert m["majority_accuracy"] == 0.5


def test_per_class_f1_and_gold_counts_by_hand():
    """Ten scored turns (no gold `er`) and one without an annotator label, which is not scored. Per class,
    F1 = 2 TP / (predicted + gold): model false_wake 2*1/(1+2), asr 2*2/(2+3), nlu 2*1/(2+1), er 0 (one
    prediction, no gold), result 0 (never predicted), correct 2*2/(4+3); annotator 1, 4/5, 2/3, 0, 2/3, 4/5."""
    gold = "false_wake false_wake asr asr asr nlu result correct correct correct".split()
    model = "false_wake correct asr asr nlu nlu correct correct correct er".split()
    annotator = "false_wake false_wake asr nlu asr nlu result correct result correct".split()
    ids = [f"t{i}" for i in range(11)]
    frames = pl.DataFrame(
        {"event_id": ids, "gold_failure_point": [*gold, "asr"], "ann_failure_point": [*annotator, None]}
    )
    predictions = pl.DataFrame(
        {"event_id": ids, "failure_point": [*model, "asr"], "failure_point_confidence": [0.9] * 11}
    )
    m = evaluate_failure_points(frames, predictions)
    # in CLASSES order: false_wake, asr, nlu, er, result, correct
    model_f1 = dict(zip(CLASSES, [2 / 3, 4 / 5, 2 / 3, 0.0, 0.0, 4 / 7], strict=True))
    annotator_f1 = dict(zip(CLASSES, [1.0, 4 / 5, 2 / 3, 0.0, 2 / 3, 4 / 5], strict=True))
    n_gold = dict(zip(CLASSES, [2, 3, 1, 0, 1, 3], strict=True))
    assert CLASSES == ("false_wake", "asr", "nlu", "er", "result", "correct") and m["n"] == 10
    for c in CLASSES:
        assert m[f"model_{c}_f1"] == pytest.approx(model_f1[c]), c
        assert m[f"annotator_{c}_f1"] == pytest.approx(annotator_f1[c]), c
        assert m[f"{c}_model_minus_annotator_f1"] == pytest.approx(model_f1[c] - annotator_f1[c]), c
        assert m[f"gold_{c}_n"] == n_gold[c], c
    assert m["model_accuracy"] == pytest.approx(0.6) and m["annotator_accuracy"] == pytest.approx(0.8)
    # macro-F1 averages the five classes with gold turns: `er` (no gold) is left out
    present = [c for c in CLASSES if n_gold[c]]
    assert m["model_macro_f1"] == pytest.approx(sum(model_f1[c] for c in present) / 5)
    assert m["pct_of_human_macro_f1"] == pytest.approx(
        sum(model_f1[c] for c in present) / sum(annotator_f1[c] for c in present)
    )


def test_train_and_track_logs_and_promotes_only_on_improvement(frames, embedder, tmp_path):
    tags = {
        "dagster.run_id": "r1",
        "dagster.asset": "failure_point_model",
        "dagster.partition": "unpartitioned",
        "data_window": f"{DAY}..{DAY}",
    }
    config = dataclasses.replace(SMALL, weak_weight=0.3)
    first = train_and_track(frames, embedder, config, tmp_path, tags, encoder_name="tiny", progress=False)
    assert (
        first["promoted"] and first["version"] == "1" and set(first["variants"]) == {"gold_only", "with_weak"}
    )
    client = MlflowClient()
    run = client.get_run(first["run_id"])
    assert run.data.tags["dagster.run_id"] == "r1" and run.data.tags["variant"] == first["variant"]
    assert run.data.params["encoder"] == "tiny" and "audit holdout" in run.data.params["eval_set"]
    for key in (
        "model_macro_f1",
        "annotator_macro_f1",
        "pct_of_human",
        "gold_only_model_macro_f1",
        "with_weak_model_macro_f1",
        "model_result_f1",
        "majority_macro_f1",
    ):
        assert key in run.data.metrics, key
    assert len(client.get_metric_history(first["run_id"], "val_macro_f1")) == first["epochs"]
    artifacts = {a.path for a in client.list_artifacts(first["run_id"])}
    assert {
        "failure_point_confusion_model.png",
        "failure_point_confusion_annotator.png",
        "failure_point_f1_by_class.png",
    } <= artifacts
    # an untrained model cannot beat the champion on the same evaluation set: the alias stays
    worse = dataclasses.replace(SMALL, epochs=1, patience=1, lr=1e-6, weak_weight=0.0)
    second = train_and_track(frames, embedder, worse, tmp_path, tags, progress=False)
    assert second["version"] == "2" and not second["promoted"]
    assert second["previous_champion"] == pytest.approx(first["metrics"]["model_macro_f1"])
    assert str(client.get_model_version_by_alias(MODEL_NAME, tracking.CHAMPION).version) == "1"
    mlflow.set_tracking_uri("")  # leave no global state for other tests


def test_split_keeps_the_holdout_out_of_training(frames):
    train, evaluation, described = split_frames(frames)
    assert not set(train["session_id"]) & set(evaluation["session_id"])
    assert evaluation["gold_failure_point"].is_not_null().all()
    assert "audit holdout" in described


def test_model_forward_shapes(frames, embedder):
    spec = FailureFeatureSpec.fit(frames)
    model = FailurePointModel(spec, embedder.dim, SMALL)
    data = encode(frames.head(7), spec, embedder)
    logits = model(data.text, data.text_mask, data.cats, data.nums)
    assert logits.shape == (7, len(CLASSES)) and torch.isfinite(logits).all()


def test_no_labels_is_a_clear_error(frames, embedder):
    unlabelled = frames.with_columns(gold_failure_point=pl.lit(None, pl.String))
    with pytest.raises(ValueError, match="no gold failure points"):
        split_frames(unlabelled)
