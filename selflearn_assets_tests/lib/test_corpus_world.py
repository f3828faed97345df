"""The corpus world: SLURP-layout loading, `interpret`, and a simulated world that is deterministic,
contract-true, labelled consistently and routed through the rewrite hook. Tiny hand-made fixtures."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import orjson
import pytest

from selflearn_assets.lib.evaluation.ab_stats import compare_arms
from selflearn_assets.lib.evaluation.rewrite_replay import (
    load_simulator_config,
    replay_counterfactual,
    replay_day,
    save_simulator_config,
)
from selflearn_assets.lib.ingest import ingest_turns
from selflearn_assets.lib.ingest.annotations import ingest_annotations
from selflearn_assets.lib.simulator import write_rewrite_table
from selflearn_assets.lib.simulator.annotate import TASKS
from selflearn_assets.lib.simulator.corpus import (
    GOLD_FOLDER,
    CorpusError,
    CorpusSimConfig,
    Interpretation,
    load_corpus,
    parse_annotation,
    simulate_corpus,
)
from selflearn_assets.lib.simulator.corpus.assistant import failure_point

START = date(2026, 11, 1)
# slurp_id, sentence, annotation, scenario, action, [(file, asr text, scenario, action, entities)]
# fmt: off
SENTENCES = [
    ("1", "wake me up at five am", "wake me up at [time : five am]", "alarm", "set", [
        ("a1.flac", "wake me up at five am", "alarm", "set", [("time", "five am")]),
        ("a2.flac", "wake me up at nine am", "alarm", "set", [("time", "nine am")]),  # misheard: asr
    ]),
    ("2", "set an alarm for five am tomorrow", "set an alarm for [time : five am] [date : tomorrow]", "alarm", "set", [
        ("b1.flac", "set an alarm for five am tomorrow", "alarm", "set", [("time", "five am"), ("date", "tomorrow")]),
        ("b2.flac", "set an alarm for five am tomorrow", "alarm", "set", [("time", "five am"), ("date", "tomorrow")]),
    ]),
    ("3", "what's the weather like", "what's the weather like", "weather", "query", [
        ("c1.flac", "what 's the weather like", "weather", "query", []),  # clitic split: heard right
        ("c2.flac", "what the @@UNKNOWN@@ like", "general", "quirky", []),  # OOV: asr
    ]),
    ("4", "turn the lights off", "turn the lights off", "iot", "hue_lightoff", [
        ("d1.flac", "turn the lights off", "iot", "hue_lightdim", []),  # heard right, understood wrong: nlu
        ("d2.flac", "turn the light off", "iot", "hue_lightoff", []),
    ]),
    ("5", "play some jazz", "play some [music_genre : jazz]", "play", "music", [
        ("e1.flac", "play some jazz", "play", "music", [("music_genre", "Jazz")]),
        ("e2.flac", "play some jazz", "play", "music", [("music_genre", "jazz")]),
        ("e3.flac", "", "play", "music", []),  # nothing recognised: a no-speech turn
    ]),
    ("6", "remind me to call mom", "remind me to [event_name : call mom]", "calendar", "set", [
        ("f1.flac", "remind me to call mom", "calendar", "set", [("event_name", "call mom")]),
        ("f2.flac", "remind me to call mom", "calendar", "set", [("event_name", "call mom")]),
        ("f3.flac", None, None, None, None),  # no prediction: skipped
    ]),
]
GOLD_NLU = {"1": ("alarm", "set", [("time", "five am")]), "2": ("alarm", "set", [("time", "five am")]),
            "3": ("weather", "query", []), "4": ("iot", "hue_lightoff", []),
            "5": ("play", "music", [("music_genre", "jazz")]), "6": ("calendar", "set", [])}
# fmt: on


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _entities(pairs) -> list[dict]:
    return [{"type": t, "filler": f} for t, f in pairs]


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    slurp = root / "slurp"
    _jsonl(slurp / "dataset/slurp/test.jsonl", [
        {"slurp_id": int(sid), "sentence": text, "sentence_annotation": ann, "intent": f"{sc}_{ac}", "action": ac,
         "scenario": sc, "entities": [], "recordings": [{"file": r[0], "wer": 0.0} for r in recs]}
        for sid, text, ann, sc, ac, recs in SENTENCES
    ])  # fmt: skip
    _jsonl(slurp / "experiments/predictions/multi_slurp_hermit_predictions.jsonl", [
        {"text": r[1], "scenario": r[2], "action": r[3], "entities": _entities(r[4]), "file": r[0]}
        for *_, recs in SENTENCES for r in recs if r[1] is not None
    ])  # fmt: skip
    _jsonl(slurp / "experiments/predictions/gold_hermit_predictions.jsonl", [
        {"scenario": sc, "action": ac, "entities": _entities(ents), "slurp_id": sid}
        for sid, (sc, ac, ents) in GOLD_NLU.items()
    ])  # fmt: skip
    (root / "clinc150").mkdir()
    (root / "clinc150/data_full.json").write_text(json.dumps({
        "oos_train": [["how much is an overdraft fee", "oos"], ["what size wipers does this car take", "oos"]],
        "oos_val": [["tell me a fun fact about sharks", "oos"]],
    }))  # fmt: skip
    return root


def _config(corpus_dir: Path, **kwargs) -> CorpusSimConfig:
    return CorpusSimConfig(corpus=corpus_dir, seed=3, users=60, start=START, days=2, **kwargs)


def _read(folder: Path) -> list[dict]:
    return [
        orjson.loads(line)
        for f in sorted(folder.glob("part-*.jsonl"))
        for line in f.read_bytes().splitlines()
    ]


@pytest.mark.parametrize(
    ("annotation", "slots"),
    [
        ("wake me up at [time : five am]", [{"name": "time", "value": "five am"}]),
        (
            "[date : tomorrow] at [time : nine]",
            [{"name": "date", "value": "tomorrow"}, {"name": "time", "value": "nine"}],
        ),
        ("turn the lights off", []),
        ("email [person : o'brien]  now", [{"name": "person", "value": "o'brien"}]),
    ],
)
def test_parse_annotation(annotation, slots):
    assert parse_annotation(annotation) == slots


def test_loader_reads_sentences_recordings_and_background(corpus_dir):
    corpus = load_corpus(corpus_dir)
    by_id = {s.slurp_id: s for s in corpus.sentences}
    assert sorted(by_id) == ["1", "2", "3", "4", "5", "6"]
    assert by_id["1"].gold == Interpretation("alarm.set", (("time", "five am"),))
    assert by_id["4"].gold.intent == "iot.hue_lightoff"
    assert [r.file for r in by_id["6"].recordings] == ["f1.flac", "f2.flac"]  # f3 has no prediction
    assert by_id["3"].recordings[0].asr_text == "what's the weather like"  # clitic joined
    assert by_id["3"].recordings[1].asr_text == "what the @@UNKNOWN@@ like"  # OOV kept
    assert by_id["2"].gold_nlu == Interpretation("alarm.set", (("time", "five am"),))
    assert len(corpus.background) == 3


def test_loader_errors_name_the_problem(corpus_dir, tmp_path):
    with pytest.raises(CorpusError, match="no SLURP corpus"):
        load_corpus(tmp_path / "nowhere")
    preds = corpus_dir / "slurp/experiments/predictions/multi_slurp_hermit_predictions.jsonl"
    lines = preds.read_text().splitlines()
    lines[2] = '{"text": "broken'
    preds.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"multi_slurp_hermit_predictions.jsonl:3: not JSON"):
        load_corpus(corpus_dir)
    lines[2] = '{"text": "no file field", "scenario": "x", "action": "y"}'
    preds.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r":3: missing file"):
        load_corpus(corpus_dir)


def test_interpret_takes_the_most_frequent_recorded_interpretation(corpus_dir):
    corpus = load_corpus(corpus_dir)
    # "play some jazz": two recordings (slot values Jazz / jazz, one each) and the reference (jazz)
    assert corpus.interpret("Play some jazz!") == Interpretation("play.music", (("music_genre", "jazz"),))
    # "turn the lights off": the recording (hue_lightdim) ties with the reference (hue_lightoff): first seen wins
    assert corpus.interpret("turn the lights off").intent == "iot.hue_lightoff"
    assert corpus.interpret("wake me up at nine am") == Interpretation("alarm.set", (("time", "nine am"),))
    assert corpus.interpret("never said by anyone") is None


def test_failure_point_on_hand_checked_cases(corpus_dir):
    corpus = load_corpus(corpus_dir)
    s = {x.slurp_id: x for x in corpus.sentences}
    wrong_time = Interpretation("alarm.set", (("time", "nine am"),))
    assert failure_point(s["1"].text, "wake me up at nine am", wrong_time, s["1"].gold) == "asr"
    assert (
        failure_point(s["4"].text, "turn the lights off", Interpretation("iot.hue_lightdim"), s["4"].gold)
        == "nlu"
    )
    assert (
        failure_point(s["4"].text, "turn the light off", Interpretation("iot.hue_lightoff"), s["4"].gold)
        is None
    )
    jazz = Interpretation("play.music", (("music_genre", "Jazz"),))  # values compare normalised
    assert failure_point(s["5"].text, "play some jazz", jazz, s["5"].gold) is None
    assert failure_point(s["3"].text, "what's the weather like", None, s["3"].gold) == "nlu"


def test_world_is_deterministic_and_gold_covers_every_turn(corpus_dir, tmp_path):
    a = simulate_corpus(_config(corpus_dir), tmp_path / "a", progress=False)
    simulate_corpus(_config(corpus_dir), tmp_path / "b", progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jsonl"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.jsonl"))
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert a.turns > 300
    for day in a.turns_per_day:
        turns = _read(tmp_path / "a" / f"date={day}")
        gold = _read(tmp_path / "a" / GOLD_FOLDER / f"date={day}")
        assert {r["annotator"] for r in gold} == {"gold"}
        assert sorted((r["event_id"], r["task"]) for r in gold) == sorted(
            (t["event_id"], task) for t in turns for task in TASKS
        )


def test_world_ingests_without_quarantine(corpus_dir, tmp_path):
    raw = tmp_path / "raw"
    summary = simulate_corpus(_config(corpus_dir, annotation_rate=0.5), raw, progress=False)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))  # the turns go to the lake beside it
    for day in summary.turns_per_day:
        d = date.fromisoformat(day)
        stats = ingest_turns(con, raw, d, "key")
        assert stats.quarantined_rows == 0, stats.quarantined_by_reason
        assert stats.clean_rows == summary.turns_per_day[day]
        labels = ingest_annotations(con, raw, d)
        assert labels.quarantined_rows == 0, labels.quarantined_by_reason
        assert labels.clean_rows > 0


def test_gold_labels_follow_from_the_recordings(corpus_dir, tmp_path):
    """Every turn's gold failure point agrees with the corpus: asr/nlu exactly when the logged
    interpretation is wrong, split by whether the heard text is the reference."""
    corpus = load_corpus(corpus_dir)
    by_text = {s.text: s for s in corpus.sentences}
    raw = tmp_path / "raw"
    summary = simulate_corpus(_config(corpus_dir), raw, progress=False)
    seen = set()
    for day in summary.turns_per_day:
        turns = {t["event_id"]: t for t in _read(raw / f"date={day}")}
        labels = {}
        for r in _read(raw / GOLD_FOLDER / f"date={day}"):
            labels.setdefault(r["event_id"], {})[r["task"]] = r["label"]
        for eid, t in turns.items():
            g = labels[eid]
            fp = g["failure_point"]
            seen.add(fp)
            if fp == "false_wake":
                assert g["intent"] == "system.false_wake" and g["intended_text"] == ""
                continue
            sentence = by_text[g["intended_text"]]
            assert g["intent"] == sentence.gold.intent
            interp = None
            if t["nlu_intent"] is not None:
                slots = tuple((s["name"], s["value"]) for s in t["nlu_slots"])
                interp = Interpretation(f"{t['nlu_domain']}.{t['nlu_intent']}", slots)
            expected = failure_point(sentence.text, t["asr_text"], interp, sentence.gold)
            if expected is None:
                assert fp in ("er", "result", "correct")
            else:
                assert fp == expected, (t["asr_text"], sentence.text)
            if g["rephrase_of"] is not None:
                assert g["rephrase_of"] in turns and not g["goal_start"]
    assert {"asr", "nlu", "correct"} <= seen


def test_rewrite_routes_a_treatment_users_misheard_text_to_the_reference(corpus_dir, tmp_path):
    table = write_rewrite_table(
        [{"source_text": "wake me up at nine am", "rewrite_text": "wake me up at five am"}],
        tmp_path / "rw.parquet",
    )
    cfg = _config(corpus_dir, rewrite_table=table, treatment_fraction=1.0, popularity_exponent=0.0)
    raw = tmp_path / "ab"
    summary = simulate_corpus(cfg, raw, progress=False)
    rewritten = [
        t for day in summary.turns_per_day for t in _read(raw / f"date={day}") if "rewrite_applied" in t
    ]
    assert rewritten
    for t in rewritten:
        assert t["asr_text"] == "wake me up at nine am" and t["ab_arm"] == "treatment"
        assert t["rewrite_applied"]["rewrite_text"] == "wake me up at five am"
        assert (t["nlu_domain"], t["nlu_intent"], t["nlu_slots"]) == (
            "alarm",
            "set",
            [{"name": "time", "value": "five am"}],
        )


def test_simulator_json_and_replay_of_a_corpus_root(corpus_dir, tmp_path):
    cfg = _config(corpus_dir)
    raw = tmp_path / "raw"
    simulate_corpus(cfg, raw, progress=False)
    save_simulator_config(cfg, raw)
    saved = json.loads((raw / "_simulator.json").read_text())
    assert saved["world"] == "corpus" and saved["corpus"] == str(corpus_dir.resolve())
    base = load_simulator_config(raw)
    assert base == replace(cfg, corpus=corpus_dir.resolve())
    day = date(2026, 11, 2)
    table = write_rewrite_table(
        [{"source_text": "zzz", "rewrite_text": "play some jazz"}], tmp_path / "rw.parquet"
    )
    frame = replay_day(base, day, table, overrides={"ab_arm": "control"})
    # with every user in control, the replayed day is the original day
    assert frame.height == len(_read(raw / f"date={day.isoformat()}"))
    assert set(frame.columns) >= {"user_id", "arm", "defective", "covered", "rewritten"}
    assert not frame["rewritten"].any()


def test_counterfactual_replay_of_a_corpus_day(corpus_dir, tmp_path):
    """The table routes the misheard "wake me up at nine am" to the reference sentence. Replayed as a
    counterfactual, the control arm is the day as first written (its turns and its gold defects, nothing
    rewritten), every user lives the day in both arms, and only the treatment arm is rewritten and fails less."""
    cfg = _config(corpus_dir, popularity_exponent=0.0)
    raw = tmp_path / "raw"
    simulate_corpus(cfg, raw, progress=False)
    day = date(2026, 11, 2)
    table = write_rewrite_table(
        [{"source_text": "wake me up at nine am", "rewrite_text": "wake me up at five am"}],
        tmp_path / "rw.parquet",
    )
    turns = replay_counterfactual(cfg, day, table)
    control, treatment = (turns.filter(turns["arm"] == arm) for arm in ("control", "treatment"))
    written = _read(raw / f"date={day.isoformat()}")
    gold = [r for r in _read(raw / GOLD_FOLDER / f"date={day.isoformat()}") if r["task"] == "failure_point"]
    assert control.height == len(written) == len(gold)
    assert control["defective"].sum() == sum(r["label"] != "correct" for r in gold)
    assert not control["rewritten"].any() and control["covered"].sum() > 0
    assert treatment["rewritten"].sum() > 0 and treatment.filter("rewritten")["covered"].all()
    assert set(control["user_id"]) == set(treatment["user_id"])
    c = compare_arms(turns, seed=0, paired=True)
    assert c.defect_rate_treatment < c.defect_rate_control
    with pytest.raises(ValueError, match="ab_arm"):
        _config(corpus_dir, ab_arm="half")
