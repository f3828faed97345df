"""Failure-point isolation: features by hand, weak labels, training with a tiny encoder, evaluation, tracking."""

from __future__ import annotations

import dataclasses
import json

import mlflow
import numpy as np
import polars as pl
import pytest
import torch
from mlflow.tracking import MlflowClient
from polars.testing import assert_frame_equal

from selflearn_assets.lib.labels import failure_points_in_chunks
from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.encoder import TurnEmbedder, tiny_encoder
from selflearn_assets.lib.models.failure_point_data import (
    CLASSES,
    load_failure_point_frames,
    overlap_features,
    weak_labels,
)
from selflearn_assets.lib.models.failure_point_eval import by_source, evaluate_failure_points
from selflearn_assets.lib.models.failure_point_features import (
    CATEGORICALS,
    N_NUMERIC,
    FailureFeatureSpec,
    encode,
)
from selflearn_assets.lib.models.failure_point_model import (
    FailurePointConfig,
    FailurePointModel,
    class_weights,
    predict_failure_points,
    train_failure_point_model,
)
from selflearn_assets.lib.models.failure_point_training import (
    DESCRIPTION,
    MODEL_NAME,
    VARIANT_NAMES,
    split_frames,
    train_and_track,
)
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
    """On one small day (~100 evaluation turns) a single training seed swings macro F1 by ±0.15, so the claims
    are on the median of three seeds (measured after the personal error sources: 0.21 / 0.46 / 0.50 vs the
    majority's 0.155)."""
    train, evaluation, _ = split_frames(frames)
    runs = []
    for seed in (0, 1, 2):
        model, history, fit = train_failure_point_model(
            train, dataclasses.replace(SMALL, seed=seed), embedder, progress=False
        )
        assert history[-1]["train_loss"] < history[0]["train_loss"]
        predicted = predict_failure_points(model, evaluation, embedder)
        probabilities = predicted.select(f"p_{c}" for c in CLASSES).to_numpy()
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5) and (probabilities >= 0).all()
        assert set(predicted["failure_point"]) <= set(CLASSES)
        runs.append(evaluate_failure_points(evaluation, predicted))
    metrics = runs[0]
    assert metrics["n"] == evaluation.filter(pl.col("ann_failure_point").is_not_null()).height > 30
    median = {k: float(np.median([r[k] for r in runs])) for k in ("model_macro_f1", "model_accuracy")}
    assert median["model_macro_f1"] > metrics["majority_macro_f1"] + 0.2
    # within three turns of "always correct" on accuracy: a claimed success on a wrong interpretation
    # (`SimConfig.wrong_success_rate`) looks like a success in every log field
    assert median["model_accuracy"] >= metrics["majority_accuracy"] - 3 / metrics["n"]
    for r in runs:
        assert r["pct_of_human"] == pytest.approx(r["model_accuracy"] / r["annotator_accuracy"])


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
    # per source under one set of names (what the model's run and its baselines' child runs log)
    s = by_source(m)
    assert set(s["model"]) == set(s["annotator"]) == set(s["majority"])
    assert not [k for k in s["model"] if k.startswith(("model_", "annotator_", "majority_"))]
    assert (s["model"]["accuracy"], s["annotator"]["accuracy"], s["majority"]["accuracy"]) == (0.75, 0.5, 0.5)
    # majority ("correct" for all 4): correct P 2/4, R 1, F1 2/3; asr and result 0 -> macro-F1 (2/3) / 3
    assert s["majority"]["correct_f1"] == pytest.approx(2 / 3)
    assert s["majority"]["macro_f1"] == pytest.approx(2 / 9)
    # annotator: asr 0, correct (P 1, R 1/2) 2/3, result (P 1/2, R 1) 2/3 -> 4/9
    assert s["annotator"]["macro_f1"] == pytest.approx(4 / 9)
    assert s["model"]["pct_of_human"] == 1.5 and s["majority"]["pct_of_human"] == 1.0
    assert s["model"]["pct_of_human_macro_f1"] == pytest.approx(0.6 / (4 / 9))
    assert s["annotator"]["pct_of_human_macro_f1"] == pytest.approx(1.0)
    assert s["majority"]["n"] == 4 and s["majority"]["gold_correct_n"] == 2


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
    # one meaning of epochs: param and metadata `epochs` = the configured maximum, `epochs_run` = those run
    assert first["epochs"] == config.epochs and run.data.params["epochs"] == str(config.epochs)
    assert first["epochs_run"] == run.data.metrics["epochs_run"] <= config.epochs
    assert len(client.get_metric_history(first["run_id"], "val_macro_f1")) == first["epochs_run"]
    assert run.info.run_name == f"failure-point-model {DAY}..{DAY}"
    _check_references(client, run, first, config)
    _check_datasets_signature_and_descriptions(client, run, first, frames, embedder)
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


SHARED = ["accuracy", "macro_f1", "pct_of_human", "pct_of_human_macro_f1", "n"]
SHARED += [f"{c}_{m}" for c in CLASSES for m in ("precision", "recall", "f1")]


def _check_references(client, run, summary, config) -> None:
    """The annotator, the majority class and the variant not chosen: child runs with the model's metric names
    and the values the evaluation computed."""
    other = next(n for n in ("gold_only", "with_weak") if n != summary["variant"])
    prefix = "failure-point-model"
    names = {
        f"{prefix} baseline: single annotator": "annotator",
        f"{prefix} baseline: majority class": "majority",
        f"{prefix} variant: {VARIANT_NAMES[other]}": f"{other}_model",
    }
    children = client.search_runs(
        [summary["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{summary['run_id']}'"
    )
    assert {c.info.run_name for c in children} == set(names) == set(summary["references"])
    metrics = run.data.metrics
    assert set(SHARED) <= set(metrics)
    assert metrics["macro_f1"] == pytest.approx(metrics["model_macro_f1"])  # the prefixed keys stay
    for child in children:
        name, prefixed = child.info.run_name, names[child.info.run_name]
        assert set(SHARED) <= set(child.data.metrics), name
        for key in SHARED:
            assert child.data.metrics[key] == pytest.approx(summary["references"][name][key]), (name, key)
        for key in ("accuracy", "macro_f1", "result_f1"):  # the parent's prefixed value of the same source
            assert child.data.metrics[key] == pytest.approx(metrics[f"{prefixed}_{key}"]), (name, key)
        assert (
            child.data.tags["dagster.run_id"] == "r1"
            and child.data.tags["mlflow.parentRunId"] == run.info.run_id
        )
    variant = next(c for c in children if "variant" in c.info.run_name)
    assert variant.data.params["weak_weight"] == str(config.weak_weight if other == "with_weak" else 0.0)
    assert (
        len(client.get_metric_history(variant.info.run_id, "val_macro_f1"))
        == variant.data.metrics["epochs_run"]
    )
    majority = next(c for c in children if "majority" in c.info.run_name)
    assert majority.data.params["majority_class"] in CLASSES


def _check_datasets_signature_and_descriptions(client, run, summary, frames, embedder) -> None:
    train, evaluation, _ = split_frames(frames)
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert inputs["training"].digest == tracking.turn_ids_digest(train["event_id"])
    assert inputs["evaluation"].digest == tracking.turn_ids_digest(evaluation["event_id"])
    profile = json.loads(inputs["evaluation"].profile)
    assert profile["turns"] == profile["gold_turns"] == evaluation.height  # evaluation: gold turns only
    assert (
        json.loads(inputs["training"].profile)["gold_turns"]
        == train["gold_failure_point"].is_not_null().sum()
    )
    uri = f"models:/{MODEL_NAME}/{summary['version']}"
    signature = mlflow.models.get_model_info(uri).signature
    specs = {s.name: s.shape for s in signature.inputs.inputs}
    assert specs == {
        "text": (-1, 6, embedder.dim), "text_mask": (-1, 6), "cats": (-1, len(CATEGORICALS)), "nums": (-1, N_NUMERIC)
    }  # fmt: skip
    assert [(s.name, s.shape) for s in signature.outputs.inputs] == [("logits", (-1, len(CLASSES)))]
    model = mlflow.pytorch.load_model(uri)
    data = encode(evaluation.head(5), model.spec, embedder)
    with torch.no_grad():  # the model takes exactly the signature's tensors, by name
        logits = model(**{name: getattr(data, name) for name in specs})
    assert logits.shape == (5, len(CLASSES))
    assert client.get_experiment(summary["experiment_id"]).tags[tracking.NOTE_TAG] == DESCRIPTION
    assert client.get_registered_model(MODEL_NAME).description == DESCRIPTION
    assert run.data.tags[tracking.NOTE_TAG] == DESCRIPTION


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


def test_failure_points_in_chunks_equal_the_whole_day(frames, embedder):
    spec = FailureFeatureSpec.fit(frames)
    torch.manual_seed(0)
    model = FailurePointModel(spec, embedder.dim, SMALL)
    whole = predict_failure_points(model, frames, embedder)
    chunks = list(failure_points_in_chunks(model, frames, embedder, chunk_turns=40))
    assert len(chunks) > 3
    sessions = [set(c["session_id"]) for c in chunks]
    assert all(not (a & b) for i, a in enumerate(sessions) for b in sessions[i + 1 :])  # no session split
    assert_frame_equal(pl.concat(chunks), whole, check_exact=True)
