"""The miner's meaning and precision gates on hand-made sources, targets and gold."""

from __future__ import annotations

import polars as pl
import pytest

from selflearn_assets.lib.markov import (
    FAILURE,
    SUCCESS,
    GoldEvidence,
    MarkovParams,
    meaning_score,
    mine_rewrites,
)
from selflearn_assets.lib.markov.meaning import span_similarity
from selflearn_assets.lib.markov.precision import calibrated_precision, gold_counts
from selflearn_assets_tests.lib.test_markov import SCHEMA, row


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("play maj and dragons", "play imagine dragons"),  # a misheard name
        ("call jon smyth", "call john smith"),
        ("set an alarm five am", "set an alarm for five am"),  # a dropped function word
        ("wake me up at @@unknown@@ am".replace("@@unknown@@", "unknown"), "wake me up at five am"),  # OOV
        ("what's the whether in paris", "what's the weather in paris"),
    ],
)
def test_corrections_of_what_was_misheard_keep_the_meaning(source, target):
    assert meaning_score(source, target) >= MarkovParams().min_meaning_score


@pytest.mark.parametrize(
    ("source", "target"),
    [
        # a related but different request, said next by users who failed
        (
            "do i have a meeting on saturday march twenty fifth",
            "did you place the reminder about the meeting for tomorrow",
        ),
        ("compose an email to book", "respond to my email from bob letting them know i am late tomorrow"),
        ("please", "recipe please"),  # a new content word
        ("set an alarm for five am", "set an alarm for five am tomorrow"),  # an added entity
        ("play jazz in the kitchen", "play jazz"),  # a dropped part of the request
        ("turn on the lights", "turn off the lights"),  # a changed action that sounds alike but short
    ],
)
def test_requests_that_add_drop_or_change_what_was_asked_do_not(source, target):
    assert meaning_score(source, target) < MarkovParams().min_meaning_score


def test_phonetics_only_for_english_locales():
    # "nite" / "knight": Metaphone keys agree (NT), the spellings much less.
    assert span_similarity("nite", "knight", phonetic=True) == 1.0
    assert span_similarity("nite", "knight", phonetic=False) < 0.8
    assert meaning_score("play nite", "play knight", "en-GB") > meaning_score(
        "play nite", "play knight", "de-DE"
    )


def _window(source: str, target: str) -> pl.DataFrame:
    """`source` always fails and users rephrase it into `target`, which always succeeds."""
    rows = [row(source, target, 20, 6), row(source, FAILURE, 20, 8), row(target, SUCCESS, 20, 6)]
    return pl.DataFrame(rows, schema=SCHEMA)


def test_miner_rejects_a_target_that_adds_an_entity_and_keeps_a_corrected_name():
    table, report = mine_rewrites(_window("set an alarm for five am", "set an alarm for five am tomorrow"))
    assert table.height == 0
    assert report["n_rejected_by_reason"]["meaning"] == 1

    table, _ = mine_rewrites(_window("call jon smyth", "call john smith"))
    assert table.select("source_text", "rewrite_text").rows() == [("call jon smyth", "call john smith")]
    assert table["meaning_score"][0] >= 0.6
    assert table["precision"][0] is None  # no gold: the precision gate is not applied


def _evidence(src: str, meant: list[tuple[str, str, str]]) -> GoldEvidence:
    """Gold turns that said `src`, each meaning (intended text, intent, slots)."""
    turns = pl.DataFrame(
        {
            "src": [src] * len(meant),
            "intended": [m[0] for m in meant],
            "gold_intent": [m[1] for m in meant],
            "gold_slots": [m[2] for m in meant],
        }
    )
    interpretations = pl.DataFrame(
        {"norm_text": ["call john smith"], "intent": ["calling.call"], "slots": ["person=john smith"]}
    )
    return GoldEvidence(turns, interpretations)


def test_gold_counts_a_turn_right_by_intended_text_or_by_meaning():
    meant = [
        ("call john smith", "calling.call", "person=john smith"),  # the text itself
        ("ring john smith", "calling.call", "person=john smith"),  # same meaning, other words
        ("call jon smythe", "calling.call", "person=jon smythe"),  # someone else
        ("call", "calling.call", ""),  # the rewrite would add a slot: another request
    ]
    pairs = pl.DataFrame({"source_text": ["call jon smyth"], "target_text": ["call john smith"]})
    counted = gold_counts(pairs, _evidence("call jon smyth", meant))
    assert counted.select("gold_turns", "gold_right").row(0) == (4, 2)


def test_calibrated_precision_by_hand():
    # One stratum (scores 1.0): pooled 9 right of 10 gold turns, prior 0.8 with strength 4:
    #   p_s = (4*0.8 + 9) / (4 + 10) = 12.2 / 14;  candidate a (5 of 5): (4 p_s + 5) / 9;  b (4 of 5): (4 p_s + 4) / 9
    cands = pl.DataFrame(
        {"hops": [1, 2], "meaning_score": [1.0, 1.0], "gold_turns": [5, 5], "gold_right": [5, 4]}
    )
    out, strata = calibrated_precision(cands, prior_precision=0.8, prior_strength=4.0)
    p_s = 12.2 / 14
    assert strata[0]["stratum_precision"] == pytest.approx(round(p_s, 4))
    assert out["precision"].to_list() == pytest.approx([(4 * p_s + 5) / 9, (4 * p_s + 4) / 9])


def test_miner_abstains_when_gold_says_the_rewrite_is_often_wrong():
    window = _window("call jon smyth", "call john smith")
    right = ("call john smith", "calling.call", "person=john smith")
    wrong = ("call jon smythe", "calling.call", "person=jon smythe")
    table, report = mine_rewrites(window, evidence=_evidence("call jon smyth", [right] * 3 + [wrong] * 3))
    assert table.height == 0
    assert report["n_rejected_by_reason"]["precision"] == 1
    assert report["gold_evidence_turns"] == 6

    table, _ = mine_rewrites(window, evidence=_evidence("call jon smyth", [right] * 12))
    assert table.select("source_text", "rewrite_text", "gold_turns", "gold_right").rows() == [
        ("call jon smyth", "call john smith", 12, 12)
    ]
    assert table["precision"][0] >= MarkovParams().min_precision


def test_neighbours_pair_a_recurring_failure_with_the_same_request_said_right_by_others():
    # Five users fail on the misheard name and never reformulate; six others say it right and succeed.
    # A request that sounds different ("call mom") is no neighbour, whatever its success.
    rows = [
        row("call jon smyth", FAILURE, 12, 5),
        row("call john smith", SUCCESS, 30, 6),
        row("call mom", SUCCESS, 40, 9),
    ]
    right = ("call john smith", "calling.call", "person=john smith")
    gold = _evidence("call jon smyth", [right] * 3)
    table, report = mine_rewrites(pl.DataFrame(rows, schema=SCHEMA), evidence=gold)
    assert table.select("source_text", "rewrite_text", "hops", "support_users", "target_users").rows() == [
        ("call jon smyth", "call john smith", 0, 5, 6)
    ]
    # Without audit gold in the window there is nothing to measure a neighbour's precision with: none.
    table, report = mine_rewrites(pl.DataFrame(rows, schema=SCHEMA))
    assert table.height == 0 and report["n_rejected_by_reason"]["no_reformulation"] == 1
    # Said by fewer than min_users users, the failure gets no neighbour (privacy, and it does not recur).
    rows[0] = row("call jon smyth", FAILURE, 12, 4)
    table, _ = mine_rewrites(pl.DataFrame(rows, schema=SCHEMA), evidence=gold)
    assert table.height == 0
    # Switched off, only reformulation paths count.
    rows[0] = row("call jon smyth", FAILURE, 12, 5)
    table, _ = mine_rewrites(pl.DataFrame(rows, schema=SCHEMA), MarkovParams(neighbours=False), evidence=gold)
    assert table.height == 0


def test_enough_gold_lets_a_reworded_request_through_and_only_if_it_is_right():
    # Users who said the partial title went on to the full one: the alignment sees an added word, but
    # the audit gold says the full title is what they meant, so the gold decides.
    window = _window("play bohemian", "play bohemian rhapsody")
    meant = ("play bohemian rhapsody", "play.music", "song=bohemian rhapsody")
    other = ("play bohemian like you", "play.music", "song=bohemian like you")
    table, _ = mine_rewrites(window, evidence=_evidence("play bohemian", [meant] * 6))
    assert table.select("source_text", "rewrite_text").rows() == [("play bohemian", "play bohemian rhapsody")]
    assert table["meaning_score"][0] < MarkovParams().min_meaning_score
    table, report = mine_rewrites(window, evidence=_evidence("play bohemian", [meant] * 3 + [other] * 3))
    assert table.height == 0 and report["n_rejected_by_reason"]["precision"] == 1
    # With too little gold the alignment alone decides: rejected.
    table, report = mine_rewrites(window, evidence=_evidence("play bohemian", [meant] * 4))
    assert table.height == 0 and report["n_rejected_by_reason"]["meaning"] == 1


def test_a_target_understood_as_another_intent_than_the_label_model_reads_is_rejected():
    window = _window("turn on the lamps", "turn on the lamp")  # they sound alike
    interpretations = pl.DataFrame(
        {"norm_text": ["turn on the lamp"], "intent": ["iot.wemo_on"], "slots": [""]}
    )
    no_gold = pl.DataFrame(schema=dict.fromkeys(("src", "intended", "gold_intent", "gold_slots"), pl.String))

    def reading(intent: str, share: float, turns: int) -> GoldEvidence:
        labels = pl.DataFrame(
            {"norm_text": ["turn on the lamps"], "intent": [intent], "share": [share], "turns": [turns]}
        )
        return GoldEvidence(no_gold, interpretations, labels)

    # The label model reads the source as lights on a hue bridge in 9 of 10 turns: another request.
    table, report = mine_rewrites(window, evidence=reading("iot.hue_lighton", 0.9, 10))
    assert table.height == 0 and report["n_rejected_by_reason"]["intent"] == 1
    # It reads the same intent, is unsure (share 0.5), or has labelled too few turns: no objection.
    for evidence in (
        reading("iot.wemo_on", 0.9, 10),
        reading("iot.hue_lighton", 0.5, 10),
        reading("iot.hue_lighton", 1.0, 2),
    ):
        table, _ = mine_rewrites(window, evidence=evidence)
        assert table.select("source_text", "rewrite_text").rows() == [
            ("turn on the lamps", "turn on the lamp")
        ]
        assert table["precision"][0] is None  # no gold turns: the precision gate is not applied
