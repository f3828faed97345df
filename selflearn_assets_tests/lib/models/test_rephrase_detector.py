"""Contextual rephrase detector (ContReph), its pairwise baseline and its tracked training run, on a tiny
simulated day, hand-made turns and a tiny random encoder."""

from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import datetime, timedelta

import mlflow
import numpy as np
import polars as pl
import pytest
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.models import rephrase_training, tracking
from selflearn_assets.lib.models.audit import is_holdout
from selflearn_assets.lib.models.encoder import TurnEmbedder, tiny_encoder
from selflearn_assets.lib.models.rephrase_data import build_examples, gold_pairs, load_rephrase_turns
from selflearn_assets.lib.models.rephrase_evaluation import evaluate_against_gold, pair_prf, score_pairs
from selflearn_assets.lib.models.rephrase_features import (
    SequenceEncoder,
    collate,
    token_table,
    with_token_vectors,
)
from selflearn_assets.lib.models.rephrase_model import (
    MASKED,
    PairwiseRephraseModel,
    RephraseConfig,
    make_model_scorer,
    predict_spans,
    train_pairwise_baseline,
    train_rephrase_detector,
)
from selflearn_assets.lib.models.rephrase_training import MODEL_NAME, split_turns, train_and_track
from selflearn_assets.lib.signals import defect_signals, rephrase_candidates
from selflearn_assets_tests.lib.models.conftest import DAY, SIMULATED_DAY, ingest_simulated

SMALL = RephraseConfig(d_model=32, layers=1, heads=2, epochs=4, patience=10, lr=3e-3, baseline_hidden=16)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    """The lake of the in-memory warehouse `con` (its signals tables are views over it)."""
    return Lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="module")
def con(tmp_path_factory, lake):
    """The simulated day with its defect signals (rephrase_candidates writes to it)."""
    con = ingest_simulated(SIMULATED_DAY, tmp_path_factory.mktemp("raw"))
    defect_signals(con, DAY, lake=lake)
    yield con
    con.close()


@pytest.fixture(scope="module")
def turns(con) -> pl.DataFrame:
    return load_rephrase_turns(con, [DAY])


@pytest.fixture(scope="module")
def embedder(turns) -> TurnEmbedder:
    tokenizer, model = tiny_encoder(turns["utterance"].to_list() + turns["response"].to_list())
    return TurnEmbedder(tokenizer, model)


@pytest.fixture(scope="module")
def split(turns):
    """(train turns: at most 150 sessions outside the audit holdout, the holdout's gold sessions)."""
    train, held, _ = split_turns(turns, max_sessions=150)
    return train, held


@pytest.fixture(scope="module")
def trained(split, embedder):
    return train_rephrase_detector(split[0], embedder, SMALL, progress=False)


@pytest.fixture(scope="module")
def baseline(split, embedder):
    return train_pairwise_baseline(split[0], embedder, SMALL, progress=False)


def hand_turns() -> pl.DataFrame:
    """Session a: a1 fails, a2 (5 s later) rephrases it and succeeds, a3 at 20 s. Session b: b3 rephrases b1
    but 100 s later (outside the 45 s window). All turns gold-annotated for rephrase_of."""
    t0 = datetime(2026, 1, 1, 12)
    rows = [
        ("a1", "a", 0, "play maj and dragons", "sorry", "error", None),
        ("a2", "a", 5, "play imagine dragons", "playing", "success", "a1"),
        ("a3", "a", 20, "stop", "ok", "success", None),
        ("b1", "b", 0, "weather", "sunny", "success", None),
        ("b2", "b", 30, "set a timer", "done", "success", None),
        ("b3", "b", 100, "weather please", "sunny", "success", "b1"),
    ]
    return pl.DataFrame(
        {
            "day": [DAY] * len(rows),
            "event_id": [r[0] for r in rows],
            "session_id": [r[1] for r in rows],
            "ts": [t0 + timedelta(seconds=r[2]) for r in rows],
            "utterance": [r[3] for r in rows],
            "response": [r[4] for r in rows],
            "status": [r[5] for r in rows],
            "barge_in": [False] * len(rows),
            "negative_feedback": [False] * len(rows),
            "has_gold_rephrase": [True] * len(rows),
            "gold_rephrase_of": pl.Series([r[6] for r in rows], dtype=pl.String),
        }
    )


def test_examples_weak_and_gold_labels():
    turns = hand_turns()
    examples = {ex.event_id: ex for ex in build_examples(turns)}
    assert examples["a1"].followers == ["a2", "a3"] and examples["a1"].gaps_s == [5.0, 20.0]
    assert examples["a1"].target == 0 and examples["a1"].gold
    assert examples["a1"].meta == ("error", False, False)
    assert examples["a1"].follower_meta == [("success", False, False), ("success", False, False)]
    assert examples["b1"].followers == ["b2"] and examples["b1"].target == -1  # b3 is outside 45 s
    assert examples["b2"].followers == [] and examples["b3"].followers == []
    # without gold, the weak label still finds a2 (a1 failed, a2 is similar); a3 is not similar
    weak = {ex.event_id: ex for ex in build_examples(turns.with_columns(has_gold_rephrase=pl.lit(False)))}
    assert weak["a1"].target == 0 and not weak["a1"].gold and weak["a2"].target == -1
    # a similar retry that fails again is still a rephrase (the follower need not succeed)
    again = turns.with_columns(
        has_gold_rephrase=pl.lit(False), status=pl.when(pl.col("event_id") == "a2").then(pl.lit("error"))
        .otherwise(pl.col("status")),
    )  # fmt: skip
    assert {ex.event_id: ex for ex in build_examples(again)}["a1"].target == 0
    # gold overrides weak: annotated as "no rephrase", the weakly detected pair is dropped
    no_gold = turns.with_columns(gold_rephrase_of=pl.lit(None, dtype=pl.String))
    assert {ex.event_id: ex for ex in build_examples(no_gold)}["a1"].target == -1


def test_split_keeps_the_audit_holdout_out_of_training(turns, split):
    examples = build_examples(turns)
    assert sum(ex.target >= 0 and ex.gold for ex in examples) > 0
    assert sum(ex.target >= 0 and not ex.gold for ex in examples) > 0
    train, held = split
    assert held.height > 0 and held["has_gold_rephrase"].any()
    assert all(is_holdout(s) for s in held["session_id"].unique())
    assert not any(is_holdout(s) for s in train["session_id"].unique())
    assert train["session_id"].n_unique() <= 150 and len(gold_pairs(held)) > 0


def test_training_lowers_loss_and_shapes(trained, split, embedder):
    model, history, metrics = trained
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert metrics["n_train_examples"] > 0 and metrics["epochs_run"] == len(history)
    vocab = embedder.model.get_input_embeddings().weight.shape[0]
    assert all(vocab not in p.shape for p in model.parameters())  # no copy of the frozen encoder in the model
    examples = [ex for ex in build_examples(split[1]) if ex.followers][:16]
    items = SequenceEncoder(embedder, SMALL).encode(examples)
    batch = with_token_vectors(collate(items), token_table(embedder))
    start, end = model(batch)
    longest = max(len(it.tokens) for it in items)
    assert start.shape == end.shape == (len(items), longest) <= (len(items), SMALL.max_length)
    assert batch["sentences"].shape == (
        len(items),
        2 + max(len(ex.followers) for ex in examples),
        embedder.dim,
    )
    assert (start[~batch["allowed"]] == MASKED).all()
    for ex, it, p in zip(examples, items, predict_spans(model, embedder, examples), strict=True):
        assert len(it.spans) == len(ex.followers) == len(it.pairs)
        assert ((it.pairs >= -1.0) & (it.pairs <= 1.0 + 1e-6)).all()  # cosine, Jaccard, edit ratio, gap, same
        if p.follower < 0:
            assert (p.start, p.end) == (0, 0)
        else:
            s0, e0 = it.spans[p.follower]
            assert s0 <= p.start <= p.end <= e0
        assert len(p.follower_probs) == len(ex.followers)
        assert sum(p.follower_probs) + p.none_prob == pytest.approx(1.0, abs=1e-5)


def test_predictions_keep_the_examples_order(trained, split, embedder):
    """predict_spans batches examples by length; each prediction must still belong to its example."""
    model = trained[0]
    examples = [ex for ex in build_examples(split[1]) if ex.followers][:40]
    together = predict_spans(model, embedder, examples, batch_size=7)
    alone = [predict_spans(model, embedder, [ex])[0] for ex in examples[:10]]
    for a, b in zip(together[:10], alone, strict=True):
        assert a.follower == b.follower and np.allclose(a.follower_probs, b.follower_probs, atol=1e-5)


def test_scorer_plugs_into_rephrase_candidates(con, lake, trained, embedder):
    model = trained[0]
    scorer = make_model_scorer(model, embedder, con)
    report = rephrase_candidates(con, DAY, model_scorer=scorer, lake=lake)
    assert report["model_scored"] and report["candidates"] > 0
    scores = con.sql(
        "SELECT model_score, score FROM signals.rephrase_candidates WHERE day = $d", params={"d": DAY}
    ).pl()
    assert scores.height == report["candidates"]
    model_score = scores["model_score"]
    assert (
        model_score.is_not_null().mean() > 0.9
    )  # the model's window matches the candidates' (45 s, 3 turns)
    assert model_score.drop_nulls().is_between(0.0, 1.0).all() and model_score.drop_nulls().n_unique() > 1
    assert (scores.drop_nulls()["score"] == scores.drop_nulls()["model_score"]).all()  # default weight 1
    pairs = con.sql(
        "SELECT * FROM signals.rephrase_candidates WHERE day = $d LIMIT 7", params={"d": DAY}
    ).pl()
    direct = scorer(pairs.drop("heuristic_score", "model_score", "score"))
    assert direct.shape == (7,)
    assert np.allclose(direct, pairs["model_score"].fill_null(np.nan).to_numpy(), equal_nan=True, atol=1e-6)


def test_pair_prf_by_hand():
    predicted = {("a", "b"), ("c", "d"), ("e", "f")}
    gold = {("a", "b"), ("g", "h")}
    got = pair_prf(predicted, gold)
    assert got["precision"] == pytest.approx(1 / 3) and got["recall"] == pytest.approx(1 / 2)
    assert got["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert pair_prf(set(), gold)["f1"] == 0.0 and pair_prf(predicted, set())["recall"] == 0.0


class FirstFollower(nn.Module):
    """Stub detector: always the first follower's first token (or none when there is no follower)."""

    def __init__(self, config):
        super().__init__()
        self.config = config

    def forward(self, batch):
        logits = torch.full(batch["tokens"].shape, MASKED)
        logits[:, 0] = 0.0
        followers = batch["allowed"].clone()
        followers[:, 0] = False
        first = followers.float().argmax(1)
        has = followers.any(1)
        logits[has, first[has]] = 5.0
        return logits, logits.clone()


class ShortGap(PairwiseRephraseModel):
    """Stub baseline: a rephrase iff the gap is under 10 s."""

    def forward(self, a, b, gap_s):
        return torch.where(gap_s < 10, 5.0, -5.0)


def test_evaluate_against_gold_by_hand():
    turns = hand_turns()
    tokenizer, enc = tiny_encoder(turns["utterance"].to_list() + turns["response"].to_list())
    embedder = TurnEmbedder(tokenizer, enc)
    report = evaluate_against_gold(FirstFollower(SMALL), ShortGap(embedder.dim, SMALL), turns, embedder)
    # detector predicts (a1,a2), (a2,a3), (b1,b2); gold is (a1,a2), (b1,b3): 1 TP of 3 predicted, 2 gold
    det = report["detector"]
    assert (det["true_positives"], det["predicted"], det["gold"]) == (1, 3, 2)
    assert det["precision"] == pytest.approx(1 / 3) and det["recall"] == pytest.approx(0.5)
    assert det["f1"] == pytest.approx(0.4)
    # baseline: only (a1,a2) has a gap under 10 s
    pw = report["pairwise"]
    assert (pw["true_positives"], pw["predicted"]) == (1, 1)
    assert pw["precision"] == 1.0 and pw["recall"] == 0.5 and pw["f1"] == pytest.approx(2 / 3)


def test_weak_label_rule_is_scored_like_the_detector_by_hand():
    """The weak-label rule links a1 -> a2 (a1 failed, a2 is similar); gold is (a1, a2), (b1, b3): among the
    scored pairs (second turn annotated, within the window) 1 TP of 1 predicted, 2 gold."""
    turns = hand_turns()
    assert rephrase_training.weak_rule_pairs(turns, SMALL.window) == {("a1", "a2")}
    tokenizer, enc = tiny_encoder(turns["utterance"].to_list() + turns["response"].to_list())
    embedder = TurnEmbedder(tokenizer, enc)

    def report(turns):
        scored = score_pairs(FirstFollower(SMALL), ShortGap(embedder.dim, SMALL), turns, embedder)
        weak = rephrase_training.weak_rule_pairs(turns, SMALL.window)
        return rephrase_training._report(scored, gold_pairs(turns), 0.5, weak)

    rule = rephrase_training.pair_metrics(report(turns)["weak_rule"])
    assert rule == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "true_positives": 1.0,
                    "predicted": 1.0, "gold_pairs": 2.0}  # fmt: skip
    # a2 not annotated: the pair is not scored, for the rule as for the detector (nothing predicted)
    unannotated = turns.with_columns(has_gold_rephrase=pl.col("event_id") != "a2")
    assert report(unannotated)["weak_rule"]["predicted"] == 0.0


def test_evaluate_trained_models_on_held_out(trained, baseline, split, embedder):
    model, _, _ = trained
    base_model, base_history, _ = baseline
    assert base_history[-1]["train_loss"] < base_history[0]["train_loss"]
    report = evaluate_against_gold(model, base_model, split[1], embedder)
    for name in ("detector", "pairwise"):
        r = report[name]
        assert all(0.0 <= r[k] <= 1.0 for k in ("precision", "recall", "f1"))
        assert r["gold"] > 0 and r["true_positives"] <= min(r["predicted"], r["gold"])
        expected = r["true_positives"] / r["predicted"] if r["predicted"] else 0.0
        assert r["precision"] == pytest.approx(expected)
        assert r["recall"] == pytest.approx(r["true_positives"] / r["gold"])


TAGS = {"dagster.run_id": "r1", "dagster.asset": "rephrase_model", "dagster.partition": "unpartitioned",
        "data_window": f"{DAY}..{DAY}"}  # fmt: skip


def test_train_and_track_logs_registers_and_promotes_on_improvement(tmp_path, turns, embedder, monkeypatch):
    config = dataclasses.replace(SMALL, epochs=2, max_sessions=150)
    first = train_and_track(turns, embedder, config, tmp_path, TAGS, progress=False)
    assert first["version"] == "1" and first["promoted"] and first["previous_champion"] is None
    client = MlflowClient()
    run = client.get_run(first["run_id"])
    assert {k: run.data.tags[k] for k in TAGS} == TAGS
    assert run.data.tags["registered_version"] == "1" and run.data.tags["promoted"] == "true"
    params = run.data.params
    assert params["d_model"] == "32" and params["max_gap_s"] == "45.0" and int(params["eval_gold_pairs"]) > 0
    assert "audit holdout" in params["eval_set"] and int(params["train_sessions"]) <= 150
    assert params["max_sessions"] == "150" and params["window_days"] == "14"  # the config's, logged once
    metrics = run.data.metrics
    assert metrics["f1"] == pytest.approx(first["report"]["detector"]["f1"])
    for name in ("detector", "pairwise"):
        assert (
            0.0 <= metrics[f"gold_{name}_f1"] <= 1.0
            and metrics[f"gold_{name}_gold"] == first["eval_gold_pairs"]
        )
    assert [m.step for m in client.get_metric_history(first["run_id"], "train_loss")] == [0, 1]
    # one meaning of epochs: param `epochs` = the configured maximum, metric `epochs_run` = those run
    assert first["epochs"] == config.epochs and params["epochs"] == str(config.epochs)
    assert first["epochs_run"] == metrics["epochs_run"] == 2  # patience 10: no early stop
    assert run.info.run_name == f"rephrase-detector {DAY}..{DAY}"
    _check_references(client, run, first)
    _check_datasets_signature_and_descriptions(client, run, first, turns, embedder)
    assert len(client.get_metric_history(first["run_id"], "baseline_val_loss")) >= 1
    artifacts = {a.path for a in client.list_artifacts(first["run_id"])}
    assert {"rephrase_pr.png", "rephrase_confusion.png"} <= artifacts
    version = client.get_model_version(MODEL_NAME, "1")
    assert (
        version.tags[tracking.METRIC_TAG] == "f1" and "audit holdout" in version.tags[tracking.EVAL_SET_TAG]
    )

    # the champion, loaded back and re-scored on the same evaluation set, gives the F1 it was promoted with
    _, evaluation, _ = split_turns(turns, 150)
    rescored = rephrase_training._champion_score(evaluation, embedder, gold_pairs(evaluation))
    assert rescored == pytest.approx(first["report"]["detector"]["f1"])

    # a run that does not beat the re-scored champion is registered but does not move the alias ...
    monkeypatch.setattr(rephrase_training, "_champion_score", lambda *a: 1.01)
    second = train_and_track(turns, embedder, config, tmp_path, TAGS, progress=False)
    assert second["version"] == "2" and not second["promoted"] and second["previous_champion"] == 1.01
    assert str(client.get_model_version_by_alias(MODEL_NAME, tracking.CHAMPION).version) == "1"
    # ... one that beats it does
    monkeypatch.setattr(rephrase_training, "_champion_score", lambda *a: -1.0)
    third = train_and_track(turns, embedder, config, tmp_path, TAGS, progress=False)
    assert (
        third["promoted"]
        and str(client.get_model_version_by_alias(MODEL_NAME, tracking.CHAMPION).version) == "3"
    )


SHARED = ("precision", "recall", "f1", "true_positives", "predicted", "gold_pairs")


def _check_references(client, run, summary) -> None:
    """The pairwise baseline and the weak-label rule: child runs with ContReph's metric names and the values
    of the gold report."""
    children = client.search_runs(
        [summary["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{summary['run_id']}'"
    )
    names = {
        "rephrase-detector baseline: pairwise": "pairwise",
        "rephrase-detector baseline: weak-label rule": "weak_rule",
    }
    assert {c.info.run_name for c in children} == set(names) == set(summary["references"])
    metrics = run.data.metrics
    for key in SHARED:  # ContReph's run has them too, with the detector's values
        report_key = "gold" if key == "gold_pairs" else key
        assert metrics[key] == pytest.approx(summary["report"]["detector"][report_key]), key
    for child in children:
        source = names[child.info.run_name]
        for key in SHARED:
            report_key = "gold" if key == "gold_pairs" else key
            assert child.data.metrics[key] == pytest.approx(summary["report"][source][report_key]), (
                source,
                key,
            )
            assert child.data.metrics[key] == pytest.approx(
                metrics[f"gold_{source}_{report_key}"]
            )  # kept keys
        assert child.data.metrics["gold_pairs"] == summary["eval_gold_pairs"]
        assert {k: child.data.tags[k] for k in TAGS} == TAGS
    pairwise = next(c for c in children if names[c.info.run_name] == "pairwise")
    history = client.get_metric_history(pairwise.info.run_id, "val_loss")
    assert (
        len(history)
        == pairwise.data.metrics["epochs_run"]
        == len(client.get_metric_history(run.info.run_id, "baseline_val_loss"))
    )
    assert [m.value for m in history] == [
        m.value for m in client.get_metric_history(run.info.run_id, "baseline_val_loss")
    ]  # the same curve, under the detector's name


def _check_datasets_signature_and_descriptions(client, run, summary, turns, embedder) -> None:
    train, evaluation, _ = split_turns(turns, 150)
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert inputs["training"].digest == tracking.turn_ids_digest(train["event_id"])
    assert inputs["evaluation"].digest == tracking.turn_ids_digest(evaluation["event_id"])
    profile = json.loads(inputs["evaluation"].profile)
    assert (
        profile["turns"] == evaluation.height
        and profile["gold_turns"] == evaluation["has_gold_rephrase"].sum()
    )
    uri = f"models:/{MODEL_NAME}/{summary['version']}"
    signature = mlflow.models.get_model_info(uri).signature
    specs = {s.name: s.shape for s in signature.inputs.inputs}
    assert {"tokens", "token_vectors", "sentences", "pairs", "mask", "allowed"} <= set(specs)
    assert not {"start", "end", "weight"} & set(specs)  # training targets are not inputs
    assert specs["token_vectors"] == (-1, -1, token_table(embedder).shape[1])
    assert [s.name for s in signature.outputs.inputs] == ["start_logits", "end_logits"]
    model = tracking.load_champion(MODEL_NAME)
    examples = [ex for ex in build_examples(evaluation, model.config.window) if ex.followers][:5]
    items = SequenceEncoder(embedder, model.config).encode(examples)
    batch = with_token_vectors(collate(items, embedder.tokenizer.pad_token_id or 0), token_table(embedder))
    with torch.no_grad():  # the model runs on exactly the signature's tensors
        start, end = model({name: batch[name] for name in specs})
    assert start.shape == end.shape == batch["tokens"].shape
    assert (
        client.get_experiment(summary["experiment_id"]).tags[tracking.NOTE_TAG]
        == rephrase_training.DESCRIPTION
    )
    assert client.get_registered_model(MODEL_NAME).description == rephrase_training.DESCRIPTION


def test_train_and_track_needs_gold_in_the_holdout(tmp_path, turns, embedder):
    with pytest.raises(ValueError, match="gold rephrase_of"):
        train_and_track(turns.with_columns(has_gold_rephrase=pl.lit(False)), embedder, SMALL, tmp_path, TAGS)


def test_config_is_a_dataclass():
    assert dataclasses.replace(SMALL, epochs=1).window.max_gap_s == 45.0


def test_objects_pickled_before_the_split_still_load():
    """Champions registered before `rephrase_detector.py` was split are pickles naming its classes (MLflow's
    pickle format); the facade resolves them to the classes of `rephrase_model`."""
    from selflearn_assets.lib.models import rephrase_detector, rephrase_model

    config = RephraseConfig(d_model=8, layers=1, heads=2)
    old = pickle.dumps(config, protocol=0).replace(b".rephrase_model\n", b".rephrase_detector\n")
    assert b"selflearn_assets.lib.models.rephrase_detector\nRephraseConfig" in old
    loaded = pickle.loads(old)
    assert type(loaded) is RephraseConfig and loaded == config
    assert rephrase_detector.ContRephModel is rephrase_model.ContRephModel
