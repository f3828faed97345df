"""Signals stage on hand-made clean_turns rows whose right answers are worked out by hand."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest

from selflearn_assets.lib.signals import (
    DEFECT_SIGNALS,
    FAILURE,
    SUCCESS,
    SignalParams,
    calibration_metrics,
    defect_signals,
    ensure_signals_schema,
    markov_transitions,
    rephrase_candidates,
)
from selflearn_assets.lib.signals.calibration import FitChoice, choose_fit
from selflearn_assets.lib.signals.text import phonetic_keys
from selflearn_assets.lib.sql import run_sql

DAY = date(2026, 1, 5)
T0 = datetime(2026, 1, 5, 10, 0, 0)
REQUIRED = {"device_id": "d1", "locale": "en-US", "source_file": "hand.jsonl", "source_line": 1}


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


@pytest.fixture
def con(tmp_path):
    """A warehouse file: the signals' day tables are published to the lake beside it (`tmp_path/lake`)."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    run_sql(con, "ingest/schema.sql")
    yield con
    con.close()


def add_turns(con, turns: list[dict], day: date = DAY) -> None:
    for i, turn in enumerate(turns):
        row = {**REQUIRED, "day": day, "source_line": i + 1, **turn}
        columns = list(row)
        con.execute(
            f"INSERT INTO ingest.clean_turns ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            list(row.values()),
        )


def add_gold(con, labels: list[tuple[str, str, str]], day: date = DAY) -> None:
    """(event_id, task, label as JSON text) adjudicated gold annotations."""
    for event_id, task, label in labels:
        con.execute(
            "INSERT INTO ingest.annotations (day, event_id, task, annotator, label, is_gold, source_file, source_line)"
            " VALUES (?, ?, ?, 'gold', ?, true, 'gold.jsonl', 1)",
            [day, event_id, task, label],
        )


def rows(con, sql: str, params=None) -> list[dict]:
    return con.sql(sql, params=params).pl().to_dicts()


def turn(event_id, session_id, seconds, text, status="success", user="u1", **fields) -> dict:
    return {
        "event_id": event_id,
        "session_id": session_id,
        "user_id": user,
        "ts": T0 + timedelta(seconds=seconds),
        "asr_text": text,
        "response_status": status,
        **fields,
    }


MAJ = turn(
    "e1",
    "s1",
    0,
    "Play maj and dragons!",
    "error",
    nlu_domain="music",
    nlu_intent="play_music",
    nlu_slots=[{"name": "artist", "value": "maj and dragons"}],
)
IMAGINE = turn(
    "e2",
    "s1",
    4,
    "play imagine dragons",
    "success",
    nlu_domain="music",
    nlu_intent="play_music",
    nlu_slots=[{"name": "artist", "value": "imagine dragons"}],
)
WEATHER = turn(
    "e3", "s1", 30, "what's the weather", "success", nlu_domain="weather", nlu_intent="get_weather"
)
PRIOR = SignalParams()


def run_day(con, day: date = DAY, params: SignalParams = PRIOR, model_scorer=None) -> tuple[dict, dict, dict]:
    return (
        defect_signals(con, day, params),
        rephrase_candidates(con, day, params, model_scorer=model_scorer),
        markov_transitions(con, day, params),
    )


def signals_of(con, day: date = DAY) -> dict[str, dict]:
    return {
        r["event_id"]: r for r in rows(con, "SELECT * FROM signals.defect_signals WHERE day = $d", {"d": day})
    }


def transitions_of(con, day: date = DAY) -> set[tuple]:
    return {
        (r["src"], r["dst"], r["n_transitions"], r["n_sessions"], tuple(r["users"]), r["rewritten"])
        for r in rows(con, "SELECT * FROM signals.markov_transitions WHERE day = $d", {"d": day})
    }


def test_defect_columns_are_the_model_signals(con):
    ensure_signals_schema(con)
    booleans = {r[0] for r in con.execute("DESCRIBE signals.defect_signals").fetchall() if r[1] == "BOOLEAN"}
    assert booleans == set(DEFECT_SIGNALS)


def test_error_then_rephrase_signals(con):
    add_turns(con, [MAJ, IMAGINE, WEATHER])
    report = defect_signals(con, DAY)
    s = signals_of(con)
    assert report["turns"] == 3 and report["model"]["source"] == "default_prior"

    e1 = s["e1"]
    assert e1["norm_text"] == "play maj and dragons" and e1["turn_index"] == 1
    assert e1["response_error"] is True and e1["followed_by_similar"] is True  # edit similarity 0.75 >= 0.6
    assert e1["abandoned"] is False  # the rephrase came 4 s later
    assert e1["next_gap_s"] == 4.0
    # two signals: log-odds add; each alone gives its q
    expected = sigmoid(logit(0.85) + logit(0.55) - logit(0.05))
    assert e1["defect_prob"] == pytest.approx(expected)
    assert e1["defect_prob"] == pytest.approx(0.99246, abs=1e-5)

    for event_id in ("e2", "e3"):  # success, nothing similar after: no signal at all
        assert not any(s[event_id][k] for k in DEFECT_SIGNALS)
        assert s[event_id]["defect_prob"] == pytest.approx(0.05)
    assert s["e3"]["next_gap_s"] is None and s["e3"]["abandoned"] is False
    assert report["signal_rates"]["response_error"] == pytest.approx(1 / 3)


def test_rephrase_candidate_features(con):
    add_turns(con, [MAJ, IMAGINE, WEATHER])
    defect_signals(con, DAY)
    report = rephrase_candidates(con, DAY)
    pairs = {
        (r["first_event_id"], r["second_event_id"]): r
        for r in rows(con, "SELECT * FROM signals.rephrase_candidates")
    }
    assert set(pairs) == {("e1", "e2"), ("e1", "e3"), ("e2", "e3")}
    p = pairs[("e1", "e2")]
    assert (p["time_gap_s"], p["turn_distance"]) == (4.0, 1)
    assert p["token_jaccard"] == pytest.approx(2 / 5)  # {play, dragons} of {play, maj, and, dragons, imagine}
    assert p["edit_similarity"] == pytest.approx(1 - 5 / 20)  # levenshtein 5, both 20 characters
    assert p["phonetic_similarity"] == pytest.approx(1 - 4 / 15)  # "PL MJ ANT TRKNS" vs "PL IMJN TRKNS"
    assert (p["domain_changed"], p["intent_changed"], p["slots_changed"]) == (False, False, True)
    assert p["interpretation_changed"] is True and p["second_success"] is True
    d1 = sigmoid(logit(0.85) + logit(0.55) - logit(0.05))
    z = -5 + 2 * 0.4 + 1.5 * 0.75 + 1.5 * (11 / 15) + 3 * d1 + 1 * (1 - 0.05) + 0.5 - 0.03 * 4
    assert p["heuristic_score"] == pytest.approx(sigmoid(z))
    assert p["model_score"] is None and p["score"] == p["heuristic_score"]
    far = pairs[("e1", "e3")]
    assert far["turn_distance"] == 2 and far["token_jaccard"] == 0 and far["score"] < 0.5
    assert report["candidates"] == 3 and report["rephrases"] == 1 and report["gold"] is None


def test_phonetic_keys_per_token():
    keys = phonetic_keys(pl.Series(["play maj and dragons", "play 5 dragons", "play maj and dragons"]))
    assert dict(keys.iter_rows()) == {
        "play maj and dragons": "PL MJ ANT TRKNS",
        "play 5 dragons": "PL 5 TRKNS",
    }


def test_chain_to_success_pooled_over_sessions(con):
    second_user = [
        turn("f1", "s2", 100, "play maj and dragons", "error", user="u2"),
        turn("f2", "s2", 103, "Play imagine dragons.", "success", user="u2"),
    ]
    add_turns(con, [MAJ, IMAGINE, WEATHER, *second_user])
    report = run_day(con)[2]
    assert transitions_of(con) == {
        ("play maj and dragons", "play imagine dragons", 2, 2, ("u1", "u2"), False),
        ("play imagine dragons", SUCCESS, 2, 2, ("u1", "u2"), False),
        ("what's the weather", SUCCESS, 1, 1, ("u1",), False),
    }
    assert report["reformulations"] == 2 and report["to_success"] == 3 and report["to_failure"] == 0


def fixed_scores(scores: dict[tuple[str, str], float]):
    """A model_scorer that gives the listed pairs their score and every other pair 0."""

    def scorer(pairs: pl.DataFrame) -> np.ndarray:
        keys = zip(pairs["first_event_id"], pairs["second_event_id"], strict=True)
        return np.array([scores.get(k, 0.0) for k in keys])

    return scorer


def test_chains_link_best_rephrases_and_end_in_failure(con):
    rewrite = {"rewrite_id": "r1", "source_text": "call mom", "rewrite_text": "call mum", "layer": "global"}
    add_turns(
        con,
        [
            turn("a", "s1", 0, "call tom", "error"),
            turn("b", "s1", 5, "call tom please", "error"),
            turn("c", "s1", 10, "call tom now please", "unsupported"),  # last turn, non-success: abandoned
            turn("x", "s2", 0, "lights on", "error", user="u2"),
            turn("y", "s2", 5, "lights on please", "error", user="u2"),
            turn("z", "s2", 10, "turn on the lights", "success", user="u2", rewrite_applied=rewrite),
        ],
    )
    scores = {("a", "b"): 0.9, ("a", "c"): 0.8, ("b", "c"): 0.7, ("x", "z"): 0.9, ("y", "z"): 0.95}
    run_day(con, model_scorer=fixed_scores(scores))
    assert signals_of(con)["c"]["abandoned"] is True
    assert transitions_of(con) == {
        # a's best later rephrase is b, b's is c: one chain a -> b -> c, ending in a failure
        ("call tom", "call tom please", 1, 1, ("u1",), False),
        ("call tom please", "call tom now please", 1, 1, ("u1",), False),
        ("call tom now please", FAILURE, 1, 1, ("u1",), False),
        # z is the best rephrase of both x and y; it keeps its best predecessor y, and x ends on its own
        ("lights on", FAILURE, 1, 1, ("u2",), False),
        ("lights on please", "turn on the lights", 1, 1, ("u2",), False),
        ("turn on the lights", SUCCESS, 1, 1, ("u2",), True),
    }
    # the rewritten turn's row carries the rewrite's id and the layer that chose it (the self-aware rules'
    # input); organic rows carry neither
    marked = rows(con, "SELECT src, rewrite_id, rewrite_layer FROM signals.markov_transitions WHERE rewritten")
    assert marked == [{"src": "turn on the lights", "rewrite_id": "r1", "rewrite_layer": "global"}]
    assert rows(con, "SELECT count(*) AS n FROM signals.markov_transitions WHERE NOT rewritten AND "
                     "(rewrite_id IS NOT NULL OR rewrite_layer IS NOT NULL)") == [{"n": 0}]  # fmt: skip


def test_barge_in_alone_gives_its_prior(con):
    add_turns(
        con, [turn("e1", "s1", 0, "tell me a joke", barge_in=True), turn("e2", "s1", 20, "what time is it")]
    )
    defect_signals(con, DAY)
    s = signals_of(con)
    assert s["e1"]["barge_in"] is True and s["e1"]["followed_by_similar"] is False
    assert s["e1"]["defect_prob"] == pytest.approx(0.60)
    assert s["e2"]["barge_in"] is None and s["e2"]["defect_prob"] == pytest.approx(0.05)


def test_abandonment(con):
    add_turns(
        con,
        [
            turn("last_unsupported", "s1", 0, "order a pizza", "unsupported"),
            turn("late_retry", "s2", 0, "play jazz", "error"),
            turn("late_retry_2", "s2", 90, "what's on my calendar"),
            turn("long_response", "s3", 0, "read the news", "error", response_duration_ms=40_000),
            turn("long_response_2", "s3", 90, "set a timer"),  # 50 s after the response ended
            turn("last_success", "s4", 0, "stop"),
            turn("last_unknown", "s5", 0, "hello", None),
        ],
    )
    defect_signals(con, DAY)
    abandoned = {k: v["abandoned"] for k, v in signals_of(con).items()}
    assert abandoned == {
        "last_unsupported": True,
        "late_retry": True,
        "late_retry_2": False,
        "long_response": False,
        "long_response_2": False,
        "last_success": False,
        "last_unknown": None,
    }


def test_null_optional_fields_degrade(con):
    add_turns(
        con,
        [
            {
                "event_id": "n1",
                "session_id": "s1",
                "user_id": "u1",
                "ts": T0,
                "asr_text": "turn on the lights",
            },
            {
                "event_id": "n2",
                "session_id": "s1",
                "user_id": "u1",
                "ts": T0 + timedelta(seconds=3),
                "asr_text": "",
            },
            {
                "event_id": "n3",
                "session_id": "s1",
                "user_id": "u1",
                "ts": T0 + timedelta(seconds=6),
                "asr_text": "turn on the light",
            },
        ],
    )
    run_day(con)
    s = signals_of(con)
    for event_id in ("n1", "n2", "n3"):
        for signal in ("barge_in", "response_error", "low_asr_confidence", "low_wake_score", "er_unresolved"):
            assert s[event_id][signal] is None
        assert s[event_id]["explicit_negative"] is False and s[event_id]["explicit_positive"] is False
    # status unknown: not abandoned when the user went on within abandon_gap_s, unknown for the last turn
    assert [s[e]["abandoned"] for e in ("n1", "n2", "n3")] == [False, False, None]
    assert s["n2"]["norm_text"] == "" and s["n2"]["defect_prob"] == pytest.approx(0.05)
    assert s["n1"]["followed_by_similar"] is True  # "turn on the light" 6 s later, 2 turns on
    pairs = rows(con, "SELECT * FROM signals.rephrase_candidates")
    assert [(p["first_event_id"], p["second_event_id"]) for p in pairs] == [("n1", "n3")]
    assert pairs[0]["interpretation_changed"] is None and pairs[0]["second_success"] is None
    assert all(src for src, *_ in transitions_of(con))  # the empty utterance is no state


def test_empty_day(con):
    defect, rephrase, markov = run_day(con)
    assert (defect["turns"], rephrase["candidates"], markov["transitions"]) == (0, 0, 0)
    assert defect["calibration"] is None and rephrase["gold"] is None


def _gold_population(con, day: date, sessions: int, offset: int = 0) -> None:
    """Barge-ins that are mostly fine and quiet turns that are often defective: the prior gets both wrong."""
    turns, gold = [], []
    rng = np.random.default_rng(7)
    for i in range(offset, offset + sessions):
        barge = i % 2 == 0
        defective = rng.random() < (0.2 if barge else 0.3)
        turns.append(turn(f"g{i}", f"gs{i}", i * 120, f"request number {i}", barge_in=barge))
        gold.append((f"g{i}", "failure_point", '"asr"' if defective else '"correct"'))
    add_turns(con, turns, day)
    add_gold(con, gold, day)


def test_calibration_improves_brier_and_is_used_later(con):
    params = SignalParams(calibration_window_days=1)
    _gold_population(con, DAY, 120)
    report = defect_signals(con, DAY, params)
    cal = report["calibration"]
    assert cal["fitted"] is True and cal["n_gold"] == 120 and report["model"]["source"] == "fitted"
    assert cal["after_evaluation"].startswith("5-fold")
    assert cal["after"]["brier"] < cal["before"]["brier"]
    assert cal["after"]["ece"] < cal["before"]["ece"]
    # the fit beat the prior on held-out sessions (the model before was the prior: the same numbers)
    assert cal["prior"]["brier"] == cal["before"]["brier"] and cal["chosen"] == "fitted"
    assert report["model"]["why"] == f"Brier {cal['after']['brier']:.4f} < prior {cal['prior']['brier']:.4f}"
    assert sum(b["n"] for b in cal["after"]["reliability"]) == 120
    assert {"brier", "ece", "auc", "log_loss"} <= set(cal["before"])
    # the fitted model moved the prior towards the data: barge-in less, no signal more defective
    s = signals_of(con)
    assert s["g0"]["defect_prob"] < 0.6 and s["g1"]["defect_prob"] > 0.05
    assert {r["defect_model_day"] for r in s.values()} == {DAY}
    model = rows(con, "SELECT * FROM signals.defect_model")
    assert len(model) == 1 and model[0]["fitted_on_days"] == [DAY]

    # the next day has no gold: it uses the calibration of DAY
    next_day = DAY + timedelta(days=1)
    add_turns(con, [turn("q1", "qs1", 86_400, "what time is it")], next_day)
    later = defect_signals(con, next_day, params)
    assert later["model"]["source"] == "earlier_fit" and later["calibration"] is None
    assert signals_of(con, next_day)["q1"]["defect_prob"] == pytest.approx(s["g1"]["defect_prob"])


def _flat_gold(con, day: date, turns: int, defective: set[int]) -> None:
    """`turns` turns without any defect signal, one per session; those in `defective` are gold-defective."""
    add_turns(con, [turn(f"f{i}", f"fs{i}", i * 120, f"plain request {i}") for i in range(turns)], day)
    add_gold(
        con,
        [(f"f{i}", "failure_point", '"asr"' if i in defective else '"correct"') for i in range(turns)],
        day,
    )


def test_a_refit_worse_than_the_prior_on_held_out_sessions_is_not_used(con):
    """40 signal-free turns, 2 defective: the prior's 0.05 is exactly their defect rate, Brier 0.05 * 0.95 =
    0.0475. Every held-out fold of the refit predicts from the other folds' rate instead (0/32 or 2/32, shrunk
    to the prior), which is worse on held-out sessions, so the prior stays, even over an earlier fit."""
    params = SignalParams(calibration_window_days=1)
    _gold_population(con, DAY, 120)
    assert defect_signals(con, DAY, params)["model"]["source"] == "fitted"

    next_day = DAY + timedelta(days=1)
    _flat_gold(con, next_day, 40, defective={3, 17})
    report = defect_signals(con, next_day, params)
    cal = report["calibration"]
    assert cal["fitted"] is True and cal["n_gold"] == 40 and cal["n_defective"] == 2
    assert cal["prior"]["brier"] == pytest.approx(0.0475)
    assert cal["after"]["brier"] > 0.0475 and cal["after_evaluation"].startswith("5-fold")
    assert cal["chosen"] == "default_prior"
    assert (
        report["model"]["why"] == cal["choice"] == f"fitted Brier {cal['after']['brier']:.4f} >= prior 0.0475"
    )
    # the prior was used, not the refit nor the earlier fit of DAY, and no model row was written for the day
    assert cal["before_model_day"] == DAY
    assert report["model"]["source"] == "default_prior" and report["model"]["day"] is None
    assert all(r["defect_prob"] == pytest.approx(0.05) for r in signals_of(con, next_day).values())
    assert {r["defect_model_day"] for r in signals_of(con, next_day).values()} == {None}
    assert [r["day"] for r in rows(con, "SELECT day FROM signals.defect_model")] == [DAY]


@pytest.mark.parametrize(
    ("fitted", "prior", "use_fit", "why"),
    [
        (0.0232, 0.0236, True, "Brier 0.0232 < prior 0.0236"),
        # the demo's day that reported "fitted" although the refit scored worse
        (0.0236, 0.0232, False, "fitted Brier 0.0236 >= prior 0.0232"),
        (0.0475, 0.0475, False, "fitted Brier 0.0475 >= prior 0.0475"),
        (0.02321, 0.02324, True, "Brier 0.02321 < prior 0.02324"),  # more decimals where 4 print them alike
        (None, 0.0475, False, "too few sessions to score the fit on held-out ones; prior Brier 0.0475"),
    ],
)
def test_choose_fit(fitted, prior, use_fit, why):
    assert choose_fit(fitted, prior) == FitChoice(use_fit, why)


def test_too_little_gold_keeps_the_prior(con):
    _gold_population(con, DAY, 10)
    report = defect_signals(con, DAY)
    assert report["calibration"]["fitted"] is False and report["model"]["source"] == "default_prior"
    assert rows(con, "SELECT * FROM signals.defect_model") == []


def test_running_a_day_twice_gives_identical_rows(con):
    add_turns(con, [MAJ, IMAGINE, WEATHER])
    _gold_population(con, DAY, 60, offset=10)
    add_gold(con, [("e2", "rephrase_of", '"e1"'), ("e3", "rephrase_of", "null")])
    tables = ["defect_signals", "rephrase_candidates", "markov_transitions"]
    snapshot = []
    for _ in range(2):
        run_day(con)
        snapshot.append(
            {t: con.sql(f"SELECT * FROM signals.{t} ORDER BY ALL").pl() for t in tables}
            | {"defect_model": con.sql("SELECT * EXCLUDE (created_at) FROM signals.defect_model").pl()}
        )
    for table, frame in snapshot[0].items():
        assert frame.height > 0
        assert frame.equals(snapshot[1][table]), table


def test_model_scorer_seam(con):
    add_turns(con, [MAJ, IMAGINE, WEATHER])
    add_gold(con, [("e2", "rephrase_of", '"e1"'), ("e3", "rephrase_of", "null")])
    defect_signals(con, DAY)
    heuristic = rephrase_candidates(con, DAY)["gold"]
    assert heuristic["score"] == {
        "predicted": 1,
        "true_positives": 1,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
    }

    seen: list[pl.DataFrame] = []

    def never_a_rephrase(pairs: pl.DataFrame) -> np.ndarray:
        seen.append(pairs)
        return np.zeros(pairs.height)

    report = rephrase_candidates(con, DAY, model_scorer=never_a_rephrase)
    assert "heuristic_score" not in seen[0].columns and {"first_text", "token_jaccard"} <= set(
        seen[0].columns
    )
    scores = rows(con, "SELECT model_score, score, heuristic_score FROM signals.rephrase_candidates")
    assert all(r["score"] == r["model_score"] == 0.0 for r in scores)
    assert max(r["heuristic_score"] for r in scores) > 0.5
    assert report["gold"]["score"]["recall"] == 0.0 and report["gold"]["heuristic_score"]["recall"] == 1.0
    markov_transitions(con, DAY)
    assert ("play maj and dragons", FAILURE, 1, 1, ("u1",), False) in transitions_of(con)

    rephrase_candidates(con, DAY, model_scorer=lambda pairs: np.full(pairs.height, np.nan))
    assert all(
        r["score"] == r["heuristic_score"] and r["model_score"] is None
        for r in rows(con, "SELECT * FROM signals.rephrase_candidates")
    )
    with pytest.raises(ValueError):
        rephrase_candidates(con, DAY, model_scorer=lambda pairs: np.zeros(pairs.height + 1))
    assert len(rows(con, "SELECT * FROM signals.rephrase_candidates")) == 3  # the failed run changed nothing


def test_calibration_metrics_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = calibration_metrics(y, p, bins=2)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["auc"] == pytest.approx(0.75)
    # bin [0, .5): mean prediction 0.85/3 vs 1/3 defective; bin [.5, 1): 0.8 vs 1
    assert m["ece"] == pytest.approx((3 * abs(0.85 / 3 - 1 / 3) + abs(0.8 - 1)) / 4)
    assert [b["n"] for b in m["reliability"]] == [3, 1]
