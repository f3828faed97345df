"""The judge for real logs on hand-made turns, the oracle table, and reading a world's evaluation gold."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from selflearn_assets.lib.evaluation.rewrite_corpus import judge_corpus_turns, oracle_table, summarise
from selflearn_assets.lib.evaluation.world_gold import has_world_gold, read_world_gold

GOLD_SCHEMA = dict.fromkeys(
    ("event_id", "asr_text", "failure_point", "intended_text", "gold_intent", "gold_slots"), pl.String
)
ALARM = ("alarm.set", "time=five am")
MEANINGS = pl.DataFrame(
    {
        "norm_text": ["wake me up at five am", "set an alarm for five am", "wake me up at nine am", "play jazz"],
        "intent": ["alarm.set", "alarm.set", "alarm.set", "play.music"],
        "slots": ["time=five am", "time=five am", "time=nine am", "music_genre=jazz"],
    }
)


def _gold(rows):
    return pl.DataFrame(rows, schema=GOLD_SCHEMA, orient="row")


def test_wins_losses_and_neutral_turns_by_hand():
    gold = _gold(
        [
            # misheard, rewritten to the reference sentence itself: a win (even if NLU gets it wrong)
            ("e1", "wake me up at fire am", "asr", "wake me up at five am", *ALARM),
            # misheard, rewritten to another sentence the corpus understands the same way: a win
            ("e2", "wake me up at hive am", "asr", "wake me up at five am", *ALARM),
            # misheard, rewritten to a request with another value: a loss
            ("e3", "wake me up at vine am", "asr", "wake me up at five am", *ALARM),
            # a good turn whose text is a source: rewritten to the same meaning (neutral) ...
            ("e4", "wake me up at hive am", "correct", "wake me up at hive am", "alarm.set", "time=five am"),
            # ... and one rewritten to a text the corpus cannot interpret: a loss, uninterpretable
            ("e5", "play jas", "correct", "play jas", "play.music", "music_genre=jas"),
            # defective, no rewrite fires: counts for coverage only
            ("e6", "play chess", "nlu", "play chess", "play.game", "game_name=chess"),
        ]
    )
    table = pl.DataFrame(
        {
            "source_text": ["wake me up at fire am", "wake me up at hive am", "wake me up at vine am", "play jas"],
            "rewrite_text": ["wake me up at five am", "set an alarm for five am", "wake me up at nine am", "play jaz"],
        }
    )
    judged = judge_corpus_turns(gold, table, MEANINGS)
    assert dict(judged.select("event_id", "outcome").iter_rows()) == {
        "e1": "win",
        "e2": "win",
        "e3": "loss",
        "e4": "neutral",
        "e5": "loss",
        "e6": None,
    }
    got = summarise(judged)
    assert (got.turns, got.defective, got.fired, got.wins, got.losses, got.neutral) == (6, 4, 5, 2, 2, 1)
    assert got.uninterpretable == 1
    assert got.win_loss == pytest.approx(1.0)
    assert got.coverage == pytest.approx(3 / 4)  # e1, e2, e3 of the 4 defective turns
    assert got.win_coverage == pytest.approx(2 / 4)
    assert got.relative_defect_reduction == pytest.approx((2 - 1) / 4)  # e5 breaks a good turn


def test_a_slot_more_is_another_request():
    gold = _gold([("e1", "wake me up at hive am", "asr", "wake me up at five am", "alarm.set", "")])
    table = pl.DataFrame({"source_text": ["wake me up at hive am"], "rewrite_text": ["set an alarm for five am"]})
    assert judge_corpus_turns(gold, table, MEANINGS)["outcome"].to_list() == ["loss"]


def test_oracle_maps_each_misheard_text_to_what_it_most_often_meant():
    window = _gold(
        [
            ("a", "wake me up at fire am", "asr", "wake me up at five am", *ALARM),
            ("b", "Wake me up at fire AM!", "asr", "wake me up at five am", *ALARM),
            ("c", "wake me up at fire am", "asr", "wake me up at four am", "alarm.set", "time=four am"),
            ("d", "play jazz", "correct", "play jazz", "play.music", "music_genre=jazz"),  # heard right
            ("e", "play jazz", "nlu", "play jams", "play.music", "music_genre=jams"),  # mostly meant as said
            ("f", "play jazz", "correct", "play jazz", "play.music", "music_genre=jazz"),
        ]
    )
    assert oracle_table(window).rows() == [("wake me up at fire am", "wake me up at five am")]


def test_read_world_gold_pivots_every_turn(tmp_path):
    day = date(2026, 11, 2)
    raw = tmp_path / "raw"
    (raw / f"date={day}").mkdir(parents=True)
    (raw / "_gold" / f"date={day}").mkdir(parents=True)
    turns = [{"event_id": "e1", "asr_text": "wake me up at fire am"}, {"event_id": "e2", "asr_text": "hmm"}]
    (raw / f"date={day}" / "part-00000.jsonl").write_text("".join(json.dumps(t) + "\n" for t in turns))
    labels = [
        ("e1", "failure_point", "asr"),
        ("e1", "intended_text", "wake me up at five am"),
        ("e1", "intent", "alarm.set"),
        ("e1", "slots", [{"name": "Time", "value": "Five AM"}, {"name": "date", "value": "today"}]),
        ("e2", "failure_point", "false_wake"),
        ("e2", "intended_text", ""),
        ("e2", "intent", "system.false_wake"),
        ("e2", "slots", []),
    ]
    lines = [json.dumps({"event_id": e, "task": t, "annotator": "gold", "label": v}) for e, t, v in labels]
    lines.append(json.dumps({"event_id": "e1", "task": "intent", "annotator": "ann_1", "label": "x.y"}))
    (raw / "_gold" / f"date={day}" / "part-00000.jsonl").write_text("\n".join(lines) + "\n")
    assert has_world_gold(raw, day) and not has_world_gold(raw, date(2026, 11, 3))
    got = read_world_gold(raw, day).sort("event_id")
    assert got.rows() == [
        ("e1", "wake me up at fire am", "asr", "wake me up at five am", "alarm.set", "date=today;time=five am"),
        ("e2", "hmm", "false_wake", "", "system.false_wake", ""),
    ]
    assert read_world_gold(raw, date(2026, 11, 3)).height == 0
