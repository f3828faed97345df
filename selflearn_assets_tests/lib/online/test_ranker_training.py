"""The ranker's weak labels (a candidate that means what the user's rephrase meant is a positive) and its
threshold chosen on gold (the lowest score at which wins >= W x losses), on hand-worked cases."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from selflearn_assets.lib.online import gold_threshold, training
from selflearn_assets.lib.online.char_channel import char_vectors
from selflearn_assets.lib.online.features import FEATURES
from selflearn_assets.lib.online.layers import Layers
from selflearn_assets.lib.online.ranker import RankerConfig

DAY = date(2026, 3, 1)
MEANT = ("music.play", "artist=michael jackson;song=thriller")


class CharEncoder:
    """Stands in for the static encoder: texts that share trigrams are near."""

    def encode(self, texts):
        return char_vectors(list(texts))


def _layers() -> Layers:
    g = pl.DataFrame(
        {
            "text": ["play thriller michael jackson", "play thriller", "play thriller by michael jackson"],
            "users": [5, 9, 4],
            "turns": [8, 20, 6],
            "success_rate": [0.9, 0.9, 0.9],
            "intent": ["music.play", "music.play", "music.play"],
            "slots": [MEANT[1], "song=thriller", MEANT[1]],
            "from_markov": [False] * 3,
            "candidate": [True] * 3,
        }
    )
    p = pl.DataFrame(
        schema={"user_id": pl.String, "text": pl.String, "uses": pl.Int64, "success_rate": pl.Float64,
                "last_day": pl.Date, "intent": pl.String, "slots": pl.String, "candidate": pl.Boolean}
    )  # fmt: skip
    enc = CharEncoder()
    return Layers(g, enc.encode(g["text"].to_list()), p, enc.encode([]).reshape(0, 256))


def test_weak_requests_carry_what_the_rephrase_meant():
    pairs = pl.DataFrame(
        {"day": [DAY], "user_id": ["u1"], "first_text": ["play triller by michael jackson"],
         "second_text": ["play thriller by michael jackson"], "first_defect_prob": [0.9],
         "second_defect_prob": [0.05], "score": [0.95]}
    )  # fmt: skip
    turns = pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "norm_text": ["play triller by michael jackson", "play thriller by michael jackson", "stop"],
            "defect_prob": [0.9, 0.05, 0.1],
            "intent": ["music.play", MEANT[0], "media.stop"],
            "slots": ["song=triller", MEANT[1], ""],
        }
    )
    requests = training.weak_requests(pairs, turns, training.ExampleParams(working_per_rephrase=5))
    rephrase = requests.filter(pl.col("target").is_not_null()).row(0, named=True)
    assert (rephrase["text"], rephrase["target_intent"], rephrase["target_slots"]) == (
        "play triller by michael jackson", *MEANT,
    )  # fmt: skip
    # the working requests: the turns that worked, without a target (the failed one is not among them)
    assert set(requests.filter(pl.col("target").is_null())["text"]) == {
        "play thriller by michael jackson",
        "stop",
    }


def test_a_candidate_that_means_the_rephrase_is_a_positive():
    layers = _layers()
    requests = pl.DataFrame(
        {"user_id": ["u1", "u2"], "text": ["play triller by michael jackson", "play thriller"],
         "target": ["play thriller by michael jackson", None], "target_intent": [MEANT[0], None],
         "target_slots": [MEANT[1], None]}
    )  # fmt: skip
    found = training.examples(layers, CharEncoder(), requests)
    labels = {(int(g), t): int(y) for g, t, y in zip(found.groups, found.texts, found.y, strict=True)}
    assert labels[(0, "play thriller by michael jackson")] == 1  # the rephrase itself
    assert labels[(0, "play thriller michael jackson")] == 1  # another wording of the same request
    assert labels[(0, "play thriller")] == 0  # loses the artist
    assert all(y == 0 for (g, _), y in labels.items() if g == 1)  # a working request: nothing to rewrite to
    assert set(found.users.tolist()) == {"u1", "u2"}


def _gold_case():
    """Eight gold turns scored 0.9 .. 0.2: wins (defective turns rewritten to what they meant) at 0.9, 0.8,
    0.7, 0.6 and 0.4; losses (fine turns rewritten to another request) at 0.5 and 0.3; 0.2 a neutral (a fine
    turn rewritten to what it meant: costs nothing, so at W = 2 the threshold goes down to it)."""
    outcomes = ["win", "win", "win", "win", "loss", "win", "loss", "neutral"]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    events = [f"e{i}" for i in range(len(outcomes))]
    gold = pl.DataFrame(
        {
            "event_id": events,
            "asr_text": ["weather wilkerson"] * len(events),
            "failure_point": ["correct" if o != "win" else "asr" for o in outcomes],
            "intended_text": ["what's the weather in wilkerson"] * len(events),
            "gold_intent": ["weather.get"] * len(events),
            "gold_slots": ["town=wilkerson"] * len(events),
        }
    )
    best = pl.DataFrame(
        {
            "event_id": events,
            "rewrite_text": ["bad" if o == "loss" else "good" for o in outcomes],
            "score": scores,
        }
    )
    interpretations = pl.DataFrame(
        {
            "norm_text": ["good", "bad"],
            "intent": ["weather.get", "music.play"],
            "slots": ["town=wilkerson", ""],
        }
    )
    return best, gold, interpretations


@pytest.mark.parametrize(
    ("win_loss", "threshold", "wins", "losses"),
    [(2.0, 0.2, 5, 2), (3.0, 0.4, 5, 1), (5.0, 0.4, 5, 1), (6.0, 0.6, 4, 0)],
)
def test_threshold_is_the_lowest_score_that_keeps_the_win_loss(win_loss, threshold, wins, losses):
    best, gold, interpretations = _gold_case()
    choice = gold_threshold.choose_threshold(best, gold, interpretations, win_loss, min_wins=2)
    assert (choice.threshold, choice.wins, choice.losses, choice.gold_turns) == (threshold, wins, losses, 8)


def test_no_threshold_reaching_the_target_abstains_everywhere():
    best, gold, interpretations = _gold_case()
    choice = gold_threshold.choose_threshold(best, gold, interpretations, 11.8, min_wins=6)
    assert choice.threshold == gold_threshold.NEVER > 1.0
    assert (choice.wins, choice.losses) == (0, 0)


def test_best_candidate_per_gold_turn_and_stable_user_folds():
    best = gold_threshold.best_per_event(
        ["a", "a", "b"], ["x", "y", "z"], pl.Series([0.2, 0.7, 0.1]).to_numpy()
    )
    assert best.rows() == [("a", "y", 0.7), ("b", "z", 0.1)]
    folds = gold_threshold.user_fold(pl.Series(["u1", "u2", "u3", "u1"]).to_numpy())
    assert folds[0] == folds[3] and set(folds.tolist()) <= {0, 1}


def test_confidence_asks_for_a_margin_on_small_gold():
    """At W = 2 (win share >= 2/3), 80% one-sided Wilson bounds worked by hand: 7 turns at 5 wins / 2 losses
    give 0.556 (no), 5/1 at 0.4 gives 0.672 (yes), 4/1 at 0.5 gives 0.617 (no): the lowest passing is 0.4."""
    best, gold, interpretations = _gold_case()
    choice = gold_threshold.choose_threshold(best, gold, interpretations, 2.0, confidence=0.8, min_wins=2)
    assert (choice.threshold, choice.wins, choice.losses) == (0.4, 5, 1)


def _weak(seed: int, n: int = 300) -> training.Examples:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    return training.Examples(x, (x[:, 0] > 0.5).astype(np.int8), np.arange(n), np.array([f"u{i % 40}" for i in range(n)],
                             dtype=object), ["t"] * n)  # fmt: skip


def _gold_found(day) -> tuple[dict, pl.DataFrame]:
    """Eight gold turns of `day`, each with one candidate, as `_gold_case` judges them."""
    best, gold, interpretations = _gold_case()
    x = np.zeros((best.height, len(FEATURES)))
    x[:, 0] = np.linspace(3.0, -1.0, best.height)  # the first turns look the most like weak positives
    found = training.Examples(x, np.zeros(best.height, dtype=np.int8), np.arange(best.height),
                              np.array(["g"] * best.height, dtype=object), best["rewrite_text"].to_list())  # fmt: skip
    return {day: (found, best["event_id"].to_list())}, gold.with_columns(day=pl.lit(day)), interpretations


def test_the_threshold_is_chosen_on_a_day_the_served_ranker_did_not_train_on():
    d1, d2 = date(2026, 3, 2), date(2026, 3, 3)
    gold_found, gold, interpretations = _gold_found(d2)
    config = RankerConfig(max_iter=20, min_samples_leaf=5, target_win_loss=2.0, threshold_confidence=0.0)
    ranker, report = gold_threshold.fit_and_choose({d1: _weak(1), d2: _weak(2)}, gold_found, gold, interpretations,
                                                   config)  # fmt: skip
    assert report["fit_days"] == [str(d1)]
    assert report["threshold_source"] == f"gold of {d2}, a day the ranker did not train on"
    assert report["threshold_gold"]["gold_turns"] == 8 and ranker.threshold == report["threshold"]
    # one training day: it trains on it and chooses on its own gold out of fold by user, and says so
    _, report = gold_threshold.fit_and_choose({d2: _weak(2)}, gold_found, gold, interpretations, config)
    assert report["fit_days"] == [str(d2)] and "out of fold by user: optimistic" in report["threshold_source"]
    # no gold: the break-even threshold of the weak P
    ranker, report = gold_threshold.fit_and_choose({d1: _weak(1), d2: _weak(2)}, {}, None, None, config)
    assert (
        report["fit_days"] == [str(d1), str(d2)] and report["threshold_source"] == "weak labels: W / (1 + W)"
    )
    assert ranker.threshold == pytest.approx(2.0 / 3.0)
