"""What other sessions meant by the same text (label_crowd), on hand-built turns with figures worked out by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from selflearn_assets.lib.models.label_crowd import TURN_FEATURES, CrowdDay, CrowdMemory
from selflearn_assets.lib.models.label_data import SLOTS_TYPE
from selflearn_assets.lib.models.label_features import INTENT_EVIDENCE, _intent_evidence
from selflearn_assets.lib.models.label_slots import FEATURES, SlotLexicon, slot_candidates

INTENTS = ["unknown", "music.play", "weather.query"]
HEARD = "play hey jute"  # what ASR made of "play hey jude", in every session below
JUDE = [{"name": "song", "value": "Hey Jude"}]
JUTE = [{"name": "song", "value": "hey jute"}]


def _turns(rows: list[dict]) -> pl.DataFrame:
    base = {"gold_intent": None, "gold_slots": None, "gold_goal_success": None, "meant_intent": None,
            "meant_slots": None, "weak_turn_ok": False}
    return pl.DataFrame(
        [base | r for r in rows],
        schema={"event_id": pl.String, "session_id": pl.String, "utterance": pl.String, "nlu_intent": pl.String,
                "nlu_slots": SLOTS_TYPE, "weak_turn_ok": pl.Boolean, "meant_intent": pl.String,
                "meant_slots": SLOTS_TYPE, "gold_intent": pl.String, "gold_slots": SLOTS_TYPE,
                "gold_goal_success": pl.Boolean},
    )


@pytest.fixture
def training() -> pl.DataFrame:
    """a: audited, the NLU got the song wrong, gold says hey jude, goal failed; b: the same mishearing,
    retried and rephrased successfully as music.play / hey jude; c: the same text went well (as heard)."""
    return _turns([
        {"event_id": "a1", "session_id": "a", "utterance": HEARD, "nlu_intent": "music.play", "nlu_slots": JUTE,
         "gold_intent": "music.play", "gold_slots": JUDE, "gold_goal_success": False},
        {"event_id": "b1", "session_id": "b", "utterance": "Play  Hey Jute", "nlu_intent": "weather.query",
         "nlu_slots": [], "meant_intent": "music.play", "meant_slots": JUDE},
        {"event_id": "b2", "session_id": "b", "utterance": "play the beatles hey jude", "nlu_intent": "music.play",
         "nlu_slots": JUDE, "weak_turn_ok": True},
        {"event_id": "c1", "session_id": "c", "utterance": HEARD, "nlu_intent": "music.play", "nlu_slots": JUTE,
         "weak_turn_ok": True},
    ])


def test_a_turn_sees_other_sessions_never_its_own(training):
    memory = CrowdMemory.fit(training)
    evidence = memory.evidence(training, INTENTS)
    f = {name: evidence.features[:, k] for k, name in enumerate(TURN_FEATURES)}
    # a1: its own gold is not evidence; weak sightings of its text in b and c: b1 failed (meant music.play),
    # c1 went well as music.play: 2 sightings, 1 ok, both music.play (= a1's NLU intent)
    assert f["gold_n"][0] == 0 and f["gold_success"][0] == 0.5  # no gold sighting: neutral
    assert f["weak_n"][0] == pytest.approx(np.log1p(2) / 3) and f["weak_ok"][0] == 0.5
    assert f["weak_intent_agree"][0] == 1.0
    # b1 (NLU said weather.query): a's gold is one sighting with music.play, a failed goal, hey jude; weak: a1
    # (failed, never rephrased: no meaning) and c1 (music.play)
    assert f["gold_n"][1] == pytest.approx(np.log1p(1) / 3) and f["gold_success"][1] == 0.0
    assert f["gold_intent_agree"][1] == 0.0 and f["gold_slots_agree"][1] == 0.0
    assert f["weak_intent_agree"][1] == 0.0 and f["weak_ok"][1] == 0.5
    assert evidence.intent_share["gold"][1].tolist() == [0.0, 1.0, 0.0]
    assert evidence.intent_share["weak"][1].tolist() == [0.0, 0.5, 0.0]  # c1 only; a1 had no weak meaning
    # c1: a's gold agrees with c1's NLU intent but not its slots
    assert f["gold_intent_agree"][3] == 1.0 and f["gold_slots_agree"][3] == 0.0
    # gold: a1; weak: b1 meant hey jude, a1 failed without a rephrase (no meaning); c1's own hey jute is not seen
    assert evidence.slot_share[3] == {("song", "hey jude"): (1.0, 0.5)}
    # b2's text was never said elsewhere
    assert f["gold_n"][2] == 0 and f["weak_n"][2] == 0 and evidence.slot_share[2] == {}


def test_labelled_frames_add_only_their_weak_sightings(training):
    memory = CrowdMemory.fit(training.filter(pl.col("session_id") == "c"))
    new = _turns([
        {"event_id": "d1", "session_id": "d", "utterance": HEARD, "nlu_intent": "music.play", "nlu_slots": JUTE,
         "gold_intent": "weather.query", "gold_slots": [], "gold_goal_success": True},
        {"event_id": "e1", "session_id": "e", "utterance": HEARD, "nlu_intent": "music.play", "nlu_slots": JUTE},
    ])
    evidence = memory.with_weak(new).evidence(new, INTENTS)
    # e1 sees c1 (weak, ok) and d1 (weak: failed, no meaning) -- never d1's gold
    assert evidence.intent_share["gold"][1].sum() == 0
    assert evidence.features[1, TURN_FEATURES.index("weak_n")] == pytest.approx(np.log1p(2) / 3)
    # the same turn twice is one sighting
    assert len(memory.with_weak(training.filter(pl.col("session_id") == "c")).items) == len(memory.items)


def test_memory_survives_pickling(training):
    import pickle

    memory = CrowdMemory.fit(training)
    again = pickle.loads(pickle.dumps(memory))
    a, b = memory.evidence(training, INTENTS), again.evidence(training, INTENTS)
    assert np.array_equal(a.features, b.features) and a.slot_share == b.slot_share


def test_a_value_the_asr_text_lost_becomes_a_slot_candidate(training):
    """c1 says "hey jute"; what session a's gold and session b's rephrase meant, "hey jude", is a candidate
    although neither the utterance nor the NLU holds it."""
    evidence = CrowdMemory.fit(training).evidence(training, INTENTS)
    turns = training.with_columns(asr_conf=pl.lit(0.9), nlu_conf=pl.lit(0.8))
    c = slot_candidates(turns, SlotLexicon({}), contextual=False, crowd=evidence.slot_share)
    found = {(int(r), n, v): dict(zip(FEATURES, f.tolist(), strict=True))
             for r, n, v, f in zip(c.row, c.name, c.value, c.features, strict=True)}
    jude = found[(3, "song", "hey jude")]
    assert jude["from_crowd"] == 1 and jude["from_own"] == 0 and jude["in_text"] == 0
    assert (jude["crowd_gold"], jude["crowd_weak"]) == (1.0, 0.5)
    assert found[(3, "song", "hey jute")]["from_own"] == 1


def test_intent_evidence_neighbours_only_for_the_contextual_model(training):
    evidence = CrowdMemory.fit(training).evidence(training, INTENTS)
    ctx = _intent_evidence(training, INTENTS, evidence, contextual=True)
    flat = _intent_evidence(training, INTENTS, evidence, contextual=False)
    at = {name: k for k, name in enumerate(INTENT_EVIDENCE)}
    assert ctx[1, at["own_nlu"]].tolist() == [0, 0, 1]  # b1: weather.query
    assert ctx[1, at["next_nlu"]].tolist() == [0, 1, 0]  # b2 in the same session: music.play
    assert ctx[1, at["previous_nlu"]].sum() == 0  # a1 is another session
    assert ctx[2, at["previous_nlu"]].tolist() == [0, 0, 1]
    assert flat[:, at["next_nlu"]].sum() == 0 and flat[:, at["previous_nlu"]].sum() == 0
    assert np.array_equal(ctx[:, at["crowd_gold"]], evidence.intent_share["gold"])


def _same_evidence(a, b) -> None:
    assert np.array_equal(a.features, b.features)
    assert all(np.array_equal(a.intent_share[k], b.intent_share[k]) for k in a.intent_share)
    assert a.slot_share == b.slot_share


@pytest.mark.parametrize("known", ["none", "c", "c before", "all"])
def test_a_day_in_chunks_sees_what_the_whole_day_sees(training, known):
    """CrowdDay (the day tallied once per text, asked chunk by chunk) equals memory.with_weak(day): with a
    memory that knows none of the day's turns, one session of them (c: its sightings replaced; "c before": by
    sightings that differ, c1 having failed then), or all."""
    day = pl.concat([training, _turns([
        {"event_id": "d1", "session_id": "d", "utterance": HEARD, "nlu_intent": "music.play", "nlu_slots": JUTE},
        {"event_id": "d2", "session_id": "d", "utterance": "play hey jude", "nlu_intent": "music.play",
         "nlu_slots": JUDE, "weak_turn_ok": True},
    ])])  # fmt: skip
    c = training.filter(pl.col("session_id") == "c")
    before = c.with_columns(weak_turn_ok=pl.lit(False), nlu_intent=pl.lit("weather.query"))
    memory = CrowdMemory.fit({"none": training.head(0), "c": c, "c before": before, "all": training}[known])
    reference = memory.with_weak(day)
    crowd = CrowdDay(memory, day)
    for start, end in ((0, 1), (1, 3), (3, 4), (4, 6)):  # sessions a | b | c | d
        chunk = day.slice(start, end - start)
        _same_evidence(crowd.evidence(chunk, INTENTS), reference.evidence(chunk, INTENTS))
    _same_evidence(crowd.evidence(day, INTENTS), reference.evidence(day, INTENTS))
    # e.g. d1 sees its text said in a, b and c (weak; gold of a only when the memory holds a's gold)
    d1 = crowd.evidence(day.slice(4, 2), INTENTS).features[0]
    assert d1[TURN_FEATURES.index("weak_n")] == pytest.approx(np.log1p(3) / 3)
    assert d1[TURN_FEATURES.index("gold_n")] == pytest.approx(np.log1p(1 if known == "all" else 0) / 3)
