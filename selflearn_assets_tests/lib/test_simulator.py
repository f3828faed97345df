"""The log simulator: contract-true records and annotations, realistic recurring failures, the rewrite hook."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from selflearn_assets.lib.simulator import (
    TURNS_PER_USER_DAY,
    SimConfig,
    load_rewrite_table,
    normalize_text,
    simulate,
    users_for_turns,
    users_of,
    world_of,
    write_rewrite_table,
)
from selflearn_assets.lib.simulator import run as simulator_run
from selflearn_assets.lib.simulator.annotate import FAILURE_POINTS, TASKS, TEACHING_TASKS
from selflearn_assets.lib.simulator.assistant import Assistant
from selflearn_assets.lib.simulator.catalog import TAIL_SIZES
from selflearn_assets.lib.simulator.intents import (
    INTENT_BY_KEY,
    PERSONAL_INTENT_BY_KEY,
    PERSONAL_INTENTS,
    SCREEN_DEVICES,
)
from selflearn_assets.lib.simulator.nlu import PERSONAL_KINDS
from selflearn_assets.lib.simulator.personal import ACCENT_RULES, accent_of

START = date(2026, 3, 1)
REQUIRED = {"event_id": str, "session_id": str, "user_id": str, "device_id": str, "ts": str, "asr_text": str}
OPTIONAL = {
    "device_type": str,
    "locale": str,
    "wake_score": float,
    "asr_confidence": float,
    "asr_nbest": list,
    "nlu_domain": (str, type(None)),
    "nlu_intent": (str, type(None)),
    "nlu_slots": list,
    "nlu_confidence": float,
    "er_status": str,
    "er_entity_id": (str, type(None)),
    "response_text": str,
    "response_status": str,
    "response_duration_ms": int,
    "barge_in": bool,
    "explicit_feedback": str,
    "device_state": dict,
    "rewrite_applied": dict,
    "ab_arm": str,
    "rewrite_source": str,  # "taught": the rewrite was what the user taught (beside rewrite_applied; kept in extra)
}
ALLOWED = {
    "device_type": {"speaker", "screen", "tv", "car", "phone", "other"},
    "er_status": {"resolved", "unresolved", "not_applicable"},
    "response_status": {"success", "error", "clarify", "unsupported", "no_response"},
    "explicit_feedback": {"positive", "negative"},
    "ab_arm": {"control", "treatment"},
    "rewrite_source": {"taught"},
}


class Run:
    """One simulation, loaded back: turn records, gold and single-annotator labels by event id."""

    def __init__(self, cfg: SimConfig, out: Path) -> None:
        self.cfg = cfg
        self.out = out
        self.summary = simulate(cfg, out, progress=False)
        self.turns: dict[str, dict] = {}
        self.folder_of: dict[str, str] = {}
        for f in sorted(out.glob("date=*/*.jsonl")):
            for line in f.read_bytes().splitlines():
                rec = orjson.loads(line)
                self.turns[rec["event_id"]] = rec
                self.folder_of[rec["event_id"]] = f.parent.name.removeprefix("date=")
        self.labels: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
        self.annotation_rows = 0
        for f in sorted(out.glob("annotations/date=*/*.jsonl")):
            for line in f.read_bytes().splitlines():
                row = orjson.loads(line)
                self.annotation_rows += 1
                self.labels[row["annotator"]][row["event_id"]][row["task"]] = row["label"]
        self.gold = self.labels["gold"]

    def ts(self, event_id: str) -> float:
        return datetime.fromisoformat(self.turns[event_id]["ts"]).timestamp()

    def defect_rate(self, event_ids) -> float:
        ids = list(event_ids)
        return sum(self.gold[e]["failure_point"] != "correct" for e in ids) / len(ids)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Run:
    """Two days of 1,200 users at default knobs, every session annotated."""
    cfg = SimConfig(seed=11, users=1200, start=START, days=2, annotation_rate=1.0)
    return Run(cfg, tmp_path_factory.mktemp("base"))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.jsonl"))}


def test_normalize_text():
    assert normalize_text("  Play  Maj-and Dragon's! ") == "play majand dragons"
    assert normalize_text("What's the   WEATHER?") == "whats the weather"
    assert normalize_text("") == ""


def test_same_seed_same_bytes_in_another_process(tmp_path):
    cfg = SimConfig(seed=3, users=250, start=START, days=2, annotation_rate=0.3)
    simulate(cfg, tmp_path / "a", progress=False)
    code = (
        "import sys; from datetime import date; from selflearn_assets.lib.simulator import SimConfig, simulate; "
        "simulate(SimConfig(seed=3, users=250, start=date(2026, 3, 1), days=2, annotation_rate=0.3), sys.argv[1], "
        "progress=False)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # string hashing must not leak into the output
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "b")], check=True, env=env)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(a) == 4 and a == b
    simulate(replace(cfg, seed=4), tmp_path / "c", progress=False)
    c = _files(tmp_path / "c")
    assert c.keys() == a.keys() and all(c[k] != a[k] for k in a)


def test_worker_processes_do_not_change_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(simulator_run, "CHUNK_USERS", 64)  # several chunks from a small run
    cfg = SimConfig(seed=3, users=250, start=START, days=2, annotation_rate=0.3, shard_lines=500)
    one = simulate(cfg, tmp_path / "one", progress=False)
    two = simulate(replace(cfg, workers=2), tmp_path / "two", progress=False)
    assert one.turns_per_day == two.turns_per_day and one.defect_rate_by_stage == two.defect_rate_by_stage
    files = _files(tmp_path / "one")
    assert len(files) > 4 and files == _files(tmp_path / "two")  # several parts of <= 500 lines each
    assert all(len(body.splitlines()) <= 500 for body in files.values())


def test_records_match_contract(base: Run):
    turns = base.turns
    assert len(turns) == base.summary.turns == sum(base.summary.turns_per_day.values())
    assert set(base.summary.turns_per_day) == {"2026-03-01", "2026-03-02"}
    for rec in turns.values():
        for field, kind in REQUIRED.items():
            assert isinstance(rec[field], kind), field
            assert field == "asr_text" or rec[field], field
        for field, value in rec.items():
            assert field in REQUIRED or field in OPTIONAL, (
                f"unexpected field {field}"
            )  # no simulator internals
            if field in OPTIONAL:
                assert isinstance(value, OPTIONAL[field]), field
                assert field == "barge_in" or not isinstance(value, bool), field
            if field in ALLOWED:
                assert value in ALLOWED[field], (field, value)
        for score in ("wake_score", "asr_confidence", "nlu_confidence"):
            assert 0.0 <= rec[score] <= 1.0
        assert rec["response_duration_ms"] >= 0 and isinstance(rec["barge_in"], bool)
        assert all(set(h) == {"text", "score"} and 0 <= h["score"] <= 1 for h in rec["asr_nbest"])
        assert all(set(s) == {"name", "value"} and isinstance(s["value"], str) for s in rec["nlu_slots"])
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in rec["device_state"].items())
        assert (rec["nlu_domain"] is None) == (rec["nlu_intent"] is None)
        assert "ab_arm" not in rec  # no rewrite table, no A/B split
        if "rewrite_applied" in rec:  # only what users taught, rewritten by the runtime's personal layer
            assert rec["rewrite_applied"]["layer"] == "personal"
        ts = datetime.fromisoformat(rec["ts"])
        assert ts.utcoffset() == timedelta(0) and ts.date().isoformat() == base.folder_of[rec["event_id"]]
    assert len({r["session_id"] for r in turns.values()}) == base.summary.sessions
    assert {r["device_type"] for r in turns.values()} == ALLOWED["device_type"] - {"other"}
    assert 0.02 < sum("explicit_feedback" in r for r in turns.values()) / len(turns) < 0.08


def test_sessions_stay_in_one_day_and_one_device(base: Run):
    sessions = defaultdict(list)
    for eid, rec in base.turns.items():
        sessions[rec["session_id"]].append(eid)
    for ids in sessions.values():
        assert len({base.folder_of[e] for e in ids}) == 1
        assert len({(base.turns[e]["user_id"], base.turns[e]["device_id"]) for e in ids}) == 1
        times = sorted(base.ts(e) for e in ids)
        assert times[-1] - times[0] < 900
    users = {r["user_id"] for r in base.turns.values()}
    per_user_day = len(base.turns) / (base.cfg.users * base.cfg.days)
    assert len(users) > 0.9 * base.cfg.users
    assert abs(per_user_day - TURNS_PER_USER_DAY) / TURNS_PER_USER_DAY < 0.12
    assert users_for_turns(46_000) == 10_000


def test_annotations_match_contract(base: Run):
    assert set(base.labels) == {"gold", "ann_1"}
    assert set(base.gold) == set(base.turns)  # annotation_rate=1.0: every turn
    teaching_rows = sum(t in TEACHING_TASKS for labels in base.gold.values() for t in labels)
    assert teaching_rows > 0
    assert base.annotation_rows == 2 * len(TASKS) * len(base.turns) + 2 * teaching_rows
    assert base.summary.annotated_turns == len(base.turns)
    for eid, labels in base.gold.items():
        assert set(TASKS) <= set(labels) <= set(TASKS) | set(TEACHING_TASKS)
        assert labels["failure_point"] in FAILURE_POINTS
        assert isinstance(labels["goal_start"], bool) and isinstance(labels["goal_success"], bool)
        domain, _, name = labels["intent"].partition(".")
        assert domain and name
        assert all(set(s) == {"name", "value"} for s in labels["slots"])
        assert labels["rephrase_of"] is None or labels["rephrase_of"] in base.turns
        assert isinstance(labels["intended_text"], str)
        assert set(base.labels["ann_1"][eid]) == set(labels)
        if "preference" in labels:
            assert set(labels["preference"]) == {"key", "value"}
            assert all(isinstance(v, str) and v for v in labels["preference"].values())
        if "preference_use" in labels:
            assert labels["preference_use"] in ("team", "cuisine", "news_source", "music_service") or labels[
                "preference_use"
            ].startswith("concept:")
    # the gold intent and slots of a correct turn are what the assistant logged
    for eid, labels in base.gold.items():
        rec = base.turns[eid]
        if (
            labels["failure_point"] == "correct"
            and (labels["intent"] in INTENT_BY_KEY or labels["intent"] in PERSONAL_INTENT_BY_KEY)
            and rec["response_status"] == "success"
        ):
            assert f"{rec['nlu_domain']}.{rec['nlu_intent']}" == labels["intent"]


def test_annotation_sample_is_by_session(tmp_path):
    run = Run(SimConfig(seed=5, users=600, start=START, annotation_rate=0.25), tmp_path)
    sessions = defaultdict(set)
    for eid, rec in run.turns.items():
        sessions[rec["session_id"]].add(eid in run.gold)
    assert all(len(flags) == 1 for flags in sessions.values())  # all of a session's turns, or none
    share = sum(True in f for f in sessions.values()) / len(sessions)
    assert 0.19 < share < 0.31


def test_single_annotator_is_noisy_like_a_person(base: Run):
    ann = base.labels["ann_1"]
    for task in ("failure_point", "goal_start", "goal_success", "intent"):
        agree = sum(ann[e][task] == g[task] for e, g in base.gold.items()) / len(base.gold)
        assert 0.84 < agree < 0.9, (task, agree)
    mistakes = Counter(
        (g["failure_point"], ann[e]["failure_point"])
        for e, g in base.gold.items()
        if ann[e]["failure_point"] != g["failure_point"]
    )
    assert mistakes[("asr", "er")] > 0 and mistakes[("correct", "result")] > mistakes[("correct", "asr")]
    near = [(g["intent"], ann[e]["intent"]) for e, g in base.gold.items() if ann[e]["intent"] != g["intent"]]
    assert sum(a.split(".")[0] == b.split(".")[0] for a, b in near) / len(near) > 0.7


def test_defect_rate_near_15_percent_with_every_stage(base: Run):
    rates = Counter(g["failure_point"] for g in base.gold.values())
    n = len(base.gold)
    assert 0.12 < 1 - rates["correct"] / n < 0.19
    bands = {
        "false_wake": (0.01, 0.04),
        "asr": (0.03, 0.075),
        "nlu": (0.025, 0.07),
        "er": (0.01, 0.035),
        "result": (0.008, 0.03),
    }
    for stage, (lo, hi) in bands.items():
        assert lo < rates[stage] / n < hi, (stage, rates[stage] / n)
    # the summary counts every turn, annotated or not, the same way
    assert base.summary.defect_rate_by_stage["asr"] == pytest.approx(rates["asr"] / n)


@pytest.mark.parametrize(
    ("knobs", "stage", "direction"),
    [
        ({"asr_confusable_fraction": 0.7, "asr_entity_confusion_rate": 0.8}, "asr", "up"),
        ({"nlu_miss_scale": 0.0}, "nlu", "down"),
        ({"nlu_miss_scale": 3.0}, "nlu", "up"),
        ({"er_alias_rate": 0.0, "personal_error_fraction": 0.0}, "er", "down"),  # and no short forms
        ({"er_alias_rate": 0.3}, "er", "up"),
        ({"result_error_rate": 0.0, "result_bug_fraction": 0.0}, "result", "down"),
        ({"false_wake_rate": 0.0}, "false_wake", "zero"),
    ],
)
def test_failure_knobs_move_their_stage(base: Run, tmp_path, knobs, stage, direction):
    # without the turns of users' own concepts (NLU failures until taught) and news sources / music services (result
    # failures until taught), which no knob here moves
    plain = [g for g in base.gold.values() if not set(g) & set(TEACHING_TASKS)]
    default = Counter(g["failure_point"] for g in plain)[stage] / len(plain)
    summary = simulate(
        SimConfig(seed=11, users=700, start=START, annotation_rate=0.0, concept_share=0.0, news_source_share=0.0,
                  music_service_share=0.0, **knobs), tmp_path,
        progress=False,
    )  # fmt: skip
    rate = summary.defect_rate_by_stage[stage]
    if direction == "up":
        assert rate > 2 * default
    elif direction == "down":
        assert rate < 0.5 * default
    else:
        assert rate == 0.0


def test_rephrases_follow_failures_within_seconds(base: Run):
    turns, gold = base.turns, base.gold
    by_session = defaultdict(list)
    for eid, rec in turns.items():
        by_session[rec["session_id"]].append(eid)
    previous = {}
    for ids in by_session.values():
        ids.sort(key=base.ts)
        previous.update(zip(ids[1:], ids[:-1], strict=True))
    rephrases = [e for e, g in gold.items() if g["rephrase_of"]]
    assert len(rephrases) > 0.04 * len(gold)
    for eid in rephrases:
        target = gold[eid]["rephrase_of"]
        assert turns[target]["session_id"] == turns[eid]["session_id"] and base.ts(target) < base.ts(eid)
        assert gold[target]["failure_point"] != "correct" or turns[target]["response_status"] == "clarify"
        assert (
            not gold[eid]["goal_start"]
            and gold[eid]["intent"].split(".")[0] == gold[target]["intent"].split(".")[0]
        )
        assert 2.0 <= base.ts(eid) - base.ts(previous[eid]) <= 20.0
        assert base.ts(eid) - base.ts(target) <= 45.0
    # most failures of a real request are retried (rephrased, or reformulated into another request of the
    # domain); the rest are abandoned, barged in on, or taken for a success
    failed = [e for e, g in gold.items() if g["failure_point"] not in ("correct", "false_wake")]
    retried = {gold[e]["rephrase_of"] for e in rephrases}
    nxt = _next_turn(base)
    retried |= {e for e in failed if e in nxt and _reformulation(base, e, nxt[e])}
    assert 0.5 < sum(e in retried for e in failed) / len(failed) < 0.9
    # goals: every turn of a goal carries the goal's outcome; a successful goal ends with a correct turn
    for ids in by_session.values():
        goals = []
        for eid in ids:
            if gold[eid]["goal_start"]:
                goals.append([])
            goals[-1].append(eid)
        for goal in goals:
            assert len({gold[e]["goal_success"] for e in goal}) == 1
            if gold[goal[0]]["goal_success"]:
                assert (
                    gold[goal[-1]]["failure_point"] == "correct"
                    and turns[goal[-1]]["response_status"] == "success"
                )


def test_misrecognitions_recur_across_users(base: Run):
    users = defaultdict(set)
    for eid, g in base.gold.items():
        if g["failure_point"] == "asr":
            users[(base.turns[eid]["asr_text"], g["intended_text"])].add(base.turns[eid]["user_id"])
    recurring = {k: len(v) for k, v in users.items() if len(v) >= 5}
    assert len(recurring) >= 3  # a fifth of the entities users ask for are rare ones (`long_tail_share`)
    assert ("play maj and dragons", "play imagine dragons") in recurring


def test_signals_correlate_with_failures(base: Run):
    turns, gold = base.turns, base.gold

    def mean(field, stage):
        values = [turns[e][field] for e, g in gold.items() if g["failure_point"] == stage]
        return sum(values) / len(values)

    assert mean("asr_confidence", "asr") < mean("asr_confidence", "correct") - 0.1
    assert mean("nlu_confidence", "nlu") < mean("nlu_confidence", "correct") - 0.2
    assert mean("wake_score", "false_wake") < mean("wake_score", "correct") - 0.2
    assert mean("barge_in", "result") > 5 * mean("barge_in", "correct")
    fed_back = [
        (g["goal_success"], turns[e]["explicit_feedback"])
        for e, g in gold.items()
        if "explicit_feedback" in turns[e]
    ]
    positive_when = {
        ok: sum(f == "positive" for s, f in fed_back if s == ok) / sum(s == ok for s, _ in fed_back)
        for ok in (True, False)
    }
    assert positive_when[True] > 0.8 and positive_when[False] < 0.35
    assert any(t == "" for t in (r["asr_text"] for r in turns.values()))  # false wakes with no speech


def test_context_ambiguity_fails_where_context_disagrees(base: Run):
    outcomes = defaultdict(Counter)
    for eid, g in base.gold.items():
        rec = base.turns[eid]
        if rec["asr_text"] == "play harry potter":
            assert rec["nlu_intent"] == "play_film"  # context-blind: always the film
            outcomes[(g["intent"], rec["device_type"] in ("screen", "tv", "phone"))][g["failure_point"]] += 1
        if rec["asr_text"] == "what is the temperature" and g["intent"] == "smart_home.oven_temperature":
            assert g["failure_point"] == "nlu" and rec["device_state"].get("oven") == "on"
    assert outcomes[("audiobooks.play_book", False)]["nlu"] > 0
    assert outcomes[("audiobooks.play_book", False)]["correct"] == 0
    assert outcomes[("video.play_film", True)]["nlu"] == 0  # right wherever the film was meant on a screen


def test_taught_preferences_are_used_later(base: Run):
    taught_at = {}
    for eid, g in sorted(base.gold.items(), key=lambda kv: base.ts(kv[0])):
        rec = base.turns[eid]
        if g["intent"] == "preferences.set_team" and g["failure_point"] == "correct":
            taught_at.setdefault(rec["user_id"], base.ts(eid))
    assert len(taught_at) >= 10
    after = [
        base.turns[e]["response_status"]
        for e, g in base.gold.items()
        if base.turns[e]["asr_text"] == "how did my team do"
        and base.ts(e) > taught_at.get(base.turns[e]["user_id"], 1e18)
    ]
    assert after and Counter(after)["success"] > 0.8 * len(after)


def _mined_rewrites(run: Run, n: int) -> list[dict]:
    """What a perfect miner would find: frequent misheard texts -> what the users meant."""
    pairs = defaultdict(set)
    for eid, g in run.gold.items():
        if g["failure_point"] == "asr":
            pairs[(normalize_text(run.turns[eid]["asr_text"]), g["intended_text"])].add(
                run.turns[eid]["user_id"]
            )
    top = sorted(pairs.items(), key=lambda kv: -len(kv[1]))[:n]
    return [{"source_text": s, "rewrite_text": t, "support_users": len(u)} for (s, t), u in top if s]


def test_rewrites_fix_treatment_turns_only(base: Run, tmp_path):
    rows = _mined_rewrites(base, 60)
    table = write_rewrite_table(rows, tmp_path / "rewrites.parquet")
    cfg = replace(base.cfg, users=1000, rewrite_table=table, treatment_fraction=0.5, days=1)
    ab = Run(cfg, tmp_path / "ab")
    sources = {r["source_text"] for r in rows}
    arms = Counter(r["ab_arm"] for r in ab.turns.values())
    assert set(arms) == {"control", "treatment"} and 0.35 < arms["treatment"] / sum(arms.values()) < 0.65
    matched = defaultdict(list)
    for eid, rec in ab.turns.items():
        hit = normalize_text(rec["asr_text"]) in sources
        if (
            "rewrite_applied" in rec and rec["rewrite_applied"]["layer"] != "personal"
        ):  # (taught: the runtime's)
            applied = rec["rewrite_applied"]
            assert rec["ab_arm"] == "treatment" and hit
            assert applied["layer"] == "table" and applied["rewrite_id"].startswith("rw-")
            assert normalize_text(applied["source_text"]) == normalize_text(rec["asr_text"])
        else:
            assert not (hit and rec["ab_arm"] == "treatment")
        if hit:
            matched[rec["ab_arm"]].append(eid)
    assert len(matched["treatment"]) >= 20 and len(matched["control"]) >= 20
    # where a rewrite fires it fixes the turn; the same texts keep failing for control users
    assert ab.defect_rate(matched["treatment"]) < 0.3 < 0.8 < ab.defect_rate(matched["control"])
    by_arm = defaultdict(list)
    for eid, rec in ab.turns.items():
        by_arm[rec["ab_arm"]].append(eid)
    assert ab.defect_rate(by_arm["treatment"]) < ab.defect_rate(by_arm["control"])


def test_a_bad_rewrite_breaks_requests(base: Run, tmp_path):
    table = write_rewrite_table(
        [{"source_text": "play imagine dragons", "rewrite_text": "play the song hollow desert"}],
        tmp_path / "bad.parquet",
    )
    ab = Run(
        replace(base.cfg, users=600, rewrite_table=table, treatment_fraction=1.0, days=1), tmp_path / "ab"
    )
    assert set(r["ab_arm"] for r in ab.turns.values()) == {"treatment"}
    fired = [e for e, r in ab.turns.items() if r.get("rewrite_applied", {}).get("layer") == "table"]
    assert fired and all(ab.turns[e]["asr_text"] == "play imagine dragons" for e in fired)
    assert all(
        ab.gold[e]["failure_point"] == "nlu" and ab.turns[e]["nlu_intent"] == "play_song" for e in fired
    )


def test_rewrite_table_is_matched_on_normalised_text(tmp_path):
    rows = [
        {"source_text": "Play Maj and Dragons!", "rewrite_text": "play imagine dragons", "confidence": 0.9},
        {"source_text": "play maj and dragons", "rewrite_text": "play the dragons", "confidence": 0.2},
        {"source_text": "what's the weather", "rewrite_text": "whats the weather"},  # no change: dropped
    ]
    table = load_rewrite_table(write_rewrite_table(rows, tmp_path / "t.parquet"))
    assert list(table) == ["play maj and dragons"]
    rewrite_id, source, target = table["play maj and dragons"]
    assert (source, target) == ("Play Maj and Dragons!", "play imagine dragons") and rewrite_id.startswith(
        "rw-"
    )


def test_config_checks_its_knobs():
    assert SimConfig(start="2026-05-02", rewrite_table="t.parquet").start == date(2026, 5, 2)
    assert SimConfig(rewrite_table="t.parquet").rewrite_table == Path("t.parquet")
    for bad in (
        {"annotation_rate": 1.5},
        {"er_alias_rate": -0.1},
        {"users": 0},
        {"max_attempts": 0},
        {"reformulate_prob": 1.2},
        {"wrong_success_rate": -0.5},
        {"long_tail_share": 2.0},
        {"personal_share": -0.1},
        {"personal_error_fraction": 1.5},
        {"namesake_share": 2.0},
        {"ab_arm": "half"},
    ):
        with pytest.raises(ValueError):
            SimConfig(**bad)
    assert SimConfig.for_turns(46_000).users == 10_000


def test_a_rerun_replaces_the_day(tmp_path):
    small = SimConfig(seed=2, users=120, start=START, shard_lines=100, annotation_rate=0.5)
    first = simulate(small, tmp_path, progress=False)
    assert len(first.files) > 2 and [p.name for p in first.files][:2] == [
        "part-00000.jsonl",
        "part-00001.jsonl",
    ]
    second = simulate(replace(small, shard_lines=250_000), tmp_path, progress=False)
    day = tmp_path / "date=2026-03-01"
    assert sorted(p.name for p in day.iterdir()) == ["part-00000.jsonl"] == [p.name for p in second.files]
    assert len((day / "part-00000.jsonl").read_bytes().splitlines()) == second.turns == first.turns


# -- the three ways real logs are less kind than a clean simulation ---------------------------------


def _next_turn(run: Run) -> dict[str, str]:
    """Event id -> the next turn of its session."""
    by_session = defaultdict(list)
    for eid, rec in run.turns.items():
        by_session[rec["session_id"]].append(eid)
    out = {}
    for ids in by_session.values():
        ids.sort(key=run.ts)
        out.update(zip(ids[:-1], ids[1:], strict=True))
    return out


def _reformulation(run: Run, failed: str, nxt: str) -> bool:
    """Whether turn `nxt` asks for something else of the failed turn's domain as quickly as a rephrase would:
    a new goal of the same domain, with another meaning, within 20 s."""
    g, n = run.gold[failed], run.gold[nxt]
    return (
        n["goal_start"]
        and n["intent"].split(".")[0] == g["intent"].split(".")[0]
        and (n["intent"], n["slots"]) != (g["intent"], g["slots"])
        and run.ts(nxt) - run.ts(failed) <= 20.0
    )


def _followups(run: Run, skip: frozenset[str] = frozenset()) -> Counter:
    """What the next turn of a failed request (not in `skip`) is: a rephrase of it, a reformulation, or
    neither."""
    gold, nxt = run.gold, _next_turn(run)
    out = Counter()
    for eid, g in gold.items():
        if g["failure_point"] in ("correct", "false_wake") or eid not in nxt or eid in skip:
            continue
        if gold[nxt[eid]]["rephrase_of"] == eid:
            out["rephrase"] += 1
        elif _reformulation(run, eid, nxt[eid]):
            out["reformulation"] += 1
    return out


def test_failed_requests_are_reformulated_into_other_requests(base: Run):
    """~`reformulate_prob` of the retries after a failure ask for something else of the same domain: a new
    goal with its own gold, as close in time as a rephrase (requests about the user's own things are
    retried, never reformulated)."""
    own = _about_own_things(base)
    mine = _followups(base, frozenset(base.gold) - own)
    assert mine["rephrase"] > 100 and mine["reformulation"] / mine["rephrase"] < 0.02  # only look-alikes
    follow = _followups(base, own)
    share = follow["reformulation"] / (follow["reformulation"] + follow["rephrase"])
    assert follow["reformulation"] > 100 and abs(share - base.cfg.reformulate_prob) < 0.06, share
    nxt = _next_turn(base)
    for eid, g in base.gold.items():
        if (
            g["failure_point"] not in ("correct", "false_wake")
            and eid in nxt
            and _reformulation(base, eid, nxt[eid])
        ):
            n = base.gold[nxt[eid]]
            assert n["rephrase_of"] is None and n["intended_text"] != g["intended_text"]
            assert not g["goal_success"]  # the request it replaced was abandoned


def test_no_reformulations_when_the_knob_is_off(base: Run, tmp_path):
    run = Run(replace(base.cfg, users=600, days=1, reformulate_prob=0.0), tmp_path)
    follow = _followups(run)
    assert follow["rephrase"] > 100
    assert follow["reformulation"] / follow["rephrase"] < 0.02  # only new goals that happen to look alike


def _guess_opportunities(run: Run) -> Counter:
    """Real requests the assistant could not honestly execute (a name ER does not know, a question with
    no web answer), by what it did: claimed a success on a guess, or refused."""
    catalog, nlu = world_of(run.cfg)
    assistant = Assistant(catalog, nlu, run.cfg, {})
    out = Counter()
    for eid, g in run.gold.items():
        rec = run.turns[eid]
        if g["failure_point"] == "false_wake" or rec["response_status"] in ("clarify", "no_response"):
            continue
        if any(s["name"] in PERSONAL_KINDS for s in rec["nlu_slots"]):
            continue  # a user's own contacts, playlists, devices: never guessed
        if rec["nlu_intent"] == "question":
            hopeless = not assistant.web_answer(rec["nlu_slots"][0]["value"])
        else:
            hopeless = any(
                s["value"] not in nlu.er_index[s["name"]] for s in rec["nlu_slots"] if s["value"] != "my team"
            )
            if rec["device_type"] not in SCREEN_DEVICES and rec["nlu_domain"] == "video":
                hopeless = False  # refused for the device, whatever the name
        if hopeless:
            out["guessed" if rec["response_status"] == "success" else "refused"] += 1
            assert g["failure_point"] in ("asr", "nlu", "er"), (rec["asr_text"], g)
    return out


def test_wrong_interpretations_are_reported_as_success(base: Run):
    """~`wrong_success_rate` of the requests the assistant would refuse are executed on a guess and
    reported as a success (its gold failure point stays the real one); users notice some of them."""
    out = _guess_opportunities(base)
    assert out["guessed"] + out["refused"] > 300
    share = out["guessed"] / (out["guessed"] + out["refused"])
    assert abs(share - base.cfg.wrong_success_rate) < 0.07, share
    # users notice some claimed successes (and rephrase), and move on after others (a failed goal)
    nxt = _next_turn(base)
    _, nlu = world_of(base.cfg)
    guessed = [
        e
        for e, rec in base.turns.items()
        if rec["response_status"] == "success"
        and rec["nlu_intent"] != "question"
        and not any(s["name"] in PERSONAL_KINDS for s in rec["nlu_slots"])
        and any(
            s["value"] not in nlu.er_index[s["name"]] for s in rec["nlu_slots"] if s["value"] != "my team"
        )
    ]
    noticed = [e for e in guessed if e in nxt and base.gold[nxt[e]]["rephrase_of"] == e]
    moved_on = [e for e in guessed if e not in nxt or base.gold[nxt[e]]["goal_start"]]
    assert len(noticed) > 10 and len(moved_on) > 10
    assert not any(base.gold[e]["goal_success"] for e in moved_on)


def test_no_claimed_success_when_the_knob_is_off(base: Run, tmp_path):
    run = Run(replace(base.cfg, users=600, days=1, wrong_success_rate=0.0), tmp_path)
    out = _guess_opportunities(run)
    assert out["refused"] > 50 and out["guessed"] == 0


def _tail_entities(run: Run):
    """(kind, name) -> whether it is a long-tail entity of the run's world (not one of the personal world's
    towns and titles, which follow the tail)."""
    catalog, _ = world_of(run.cfg)
    first_tail = {k: idxs[catalog.head_size[k]] for k, idxs in catalog.by_kind.items() if k in TAIL_SIZES}
    end = catalog.personal.first_idx if catalog.personal is not None else len(catalog.entities)
    return lambda kind, name: kind in first_tail and first_tail[kind] <= catalog.by_name[(kind, name)] < end


def _tail_share(run: Run) -> tuple[float, int]:
    """Share of the entities named at the start of goals that come from the long tail, and how many there are
    (artists left out: a song's own artist comes with the song)."""
    in_tail = _tail_entities(run)
    named = [
        (s["name"], s["value"])
        for g in run.gold.values()
        if g["goal_start"]
        for s in g["slots"]
        if s["name"] in TAIL_SIZES and s["name"] != "artist"
    ]
    return sum(in_tail(*kv) for kv in named) / len(named), len(named)


def test_requests_are_long_tailed(base: Run, tmp_path):
    """~`long_tail_share` of the entities users ask for are rare ones; a failing request that names one is
    said by a handful of users, as are most failing requests (on a small world, also without the tail: the
    knob matters at scale, where head requests recur across thousands of users)."""
    share, n = _tail_share(base)
    assert n > 2000 and abs(share - base.cfg.long_tail_share) < 0.05, share
    in_tail = _tail_entities(base)
    users, tail_texts = defaultdict(set), set()
    for eid, g in base.gold.items():
        if g["failure_point"] not in ("correct", "false_wake"):
            text = normalize_text(base.turns[eid]["asr_text"])
            users[text].add(base.turns[eid]["user_id"])
            if any(in_tail(s["name"], s["value"]) for s in g["slots"]):
                tail_texts.add(text)
    assert len(tail_texts) > 80 and sum(len(users[t]) < 5 for t in tail_texts) / len(tail_texts) > 0.97
    assert sum(len(u) < 5 for u in users.values()) / len(users) > 0.9
    off = Run(replace(base.cfg, users=600, days=1, long_tail_share=0.0), tmp_path)
    assert _tail_share(off)[0] == 0.0


# -- personal error sources: each user's own things, and the errors only a personal layer can fix ------


PERSONAL_OFF = {
    "personal_share": 0.0,
    "personal_error_fraction": 0.0,
    "namesake_share": 0.0,
    "concept_share": 0.0,
    "news_source_share": 0.0,
    "music_service_share": 0.0,
    "preference_change_share": 0.0,
}
# sha256 of the files `SimConfig(seed=3, users=150, start=START, days=2, annotation_rate=0.5)` wrote without the
# personal sources and the users' own concepts: first measured before the personal sources existed (commit
# 9ec926e: fd82d314...); since teaching goes through the runtime (a taught team or cuisine is the runtime's
# rewrite, logged as `rewrite_applied`) the files differ from those, and this is their sha256. Update it only
# when the simulator's output changes on purpose.
# the files of the simulator before the personal sources; since then the 4 records of a taught rewrite say so
# (`rewrite_source`, checked to be their only difference: 1a98f706... before that field)
BEFORE_PERSONAL_SHA256 = "0b08e2c5fc3e18bc40e11fcb23593fe88a83014deaea4b0fd021a9345c62929b"


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for name, body in _files(root).items():
        h.update(name.encode() + b"\0" + body)
    return h.hexdigest()


def test_personal_knobs_at_zero_write_the_files_of_before(tmp_path):
    """With the personal knobs at 0 (and no concepts) nothing of the personal world is built or drawn: the files
    are those of the simulator without them, byte for byte (`personal_share` 0 alone is enough)."""
    cfg = SimConfig(seed=3, users=150, start=START, days=2, annotation_rate=0.5)
    simulate(replace(cfg, **PERSONAL_OFF), tmp_path / "off", progress=False)
    assert _digest(tmp_path / "off") == BEFORE_PERSONAL_SHA256
    taught_off = {
        k: 0.0
        for k in ("concept_share", "news_source_share", "music_service_share", "preference_change_share")
    }
    simulate(replace(cfg, personal_share=0.0, **taught_off), tmp_path / "share_off", progress=False)
    assert _files(tmp_path / "share_off") == _files(tmp_path / "off")
    on = simulate(cfg, tmp_path / "on", progress=False)
    assert on.personal_defect_rate > 0 and _files(tmp_path / "on") != _files(tmp_path / "off")


def test_every_personal_phrasing_is_understood():
    catalog, nlu = world_of(SimConfig())
    names = {"contact": "tavin kessler", "playlist": "velvet harbor jams", "device": "reading nook lamp"}
    for intent in PERSONAL_INTENTS:
        for phrasing in intent.phrasings:
            parse = nlu.parse(phrasing.template.format_map(names))
            assert (parse.intent, parse.slots) == (intent.key, tuple((k, names[k]) for k in phrasing.slots))
            assert parse.personal and parse.quality == "typed"
    # the world's own requests keep their meaning: an appliance is still an appliance
    assert nlu.parse("turn on the kitchen lights").slots == (("appliance", "lights"), ("room", "kitchen"))


def test_own_things_resolve_only_for_their_user():
    """ER resolves a user's contacts, playlists and devices from that user's registry, never another's."""
    cfg = SimConfig(users=40)
    users, population = users_of(cfg)
    _, nlu = world_of(cfg)
    a, b = (population.profiles.of(u) for u in list(users.values())[:2])
    for kind, template in (
        ("contact", "call {}"),
        ("playlist", "play my {} playlist"),
        ("device", "turn on the {}"),
    ):
        for name, idx in a.registry[kind].items():
            parse = nlu.parse(template.format(name))
            assert nlu.resolve(parse, {}, a.registry)[0] == ((kind, idx),)
            if name not in b.registry[kind]:
                assert nlu.resolve(parse, {}, b.registry)[2] == name  # unresolved for the other user
                assert nlu.resolve(parse, {}, None)[2] == name


def test_accents_mishear_a_name_their_own_way():
    """A user's mishearing of a name is fixed by their accent; users with other accents hear it otherwise."""
    rules = list(range(len(ACCENT_RULES)))
    assert accent_of("sheetha", rules) == "sheatha"  # rule 4: ee -> ea
    assert accent_of("spare nook fan", [8, 18, *rules]) == "spare noak fan"  # no v; rule 18: o -> a
    import random

    rng = random.Random(1)
    heard = {accent_of("rivers in the scarlet", rng.sample(rules, len(rules))) for _ in range(200)}
    assert len(heard) >= 5 and "rivers in the scarlet" not in heard


def _own_things(run: Run):
    """user id -> {(slot kind, canonical name): the user's own thing}, and the run's catalog."""
    users, population = users_of(run.cfg)
    catalog, _ = world_of(run.cfg)
    ents = catalog.entities
    own = {
        uid: {(o.kind, ents[o.idx].name): o for o in population.profiles.things(u)}
        for uid, u in users.items()
    }
    return own, catalog


def _about_own_things(run: Run) -> frozenset[str]:
    """Turns whose goal is about one of the user's own things."""
    own, _ = _own_things(run)
    return frozenset(
        eid
        for eid, g in run.gold.items()
        if any((s["name"], s["value"]) in own[run.turns[eid]["user_id"]] for s in g["slots"])
    )


def _personal_failures(run: Run):
    """Defective turns whose failure is the user's own recurring error, as (event id, the thing)."""
    own, _ = _own_things(run)
    out = []
    for eid, g in run.gold.items():
        rec = run.turns[eid]
        for slot in g["slots"]:
            thing = own[rec["user_id"]].get((slot["name"], slot["value"]))
            if thing is None or thing.error is None:
                continue
            fp, heard = g["failure_point"], rec["asr_text"]
            if (
                (thing.error == "asr" and fp == "asr" and thing.heard in heard)
                or (thing.error == "short" and fp == "er" and heard == g["intended_text"])
                or (thing.error == "bare" and fp == "result")
            ):
                out.append((eid, thing))
    return out


def test_personal_sources_are_a_minority_of_defects_said_by_few_users(base: Run):
    """`personal_share` x `personal_error_fraction`: 10-20% of defective turns come from a user's own
    errors; their texts are said by fewer than 3 users (no table with min_users >= 3 holds them), and they
    recur for their user."""
    failures = _personal_failures(base)
    defective = sum(g["failure_point"] != "correct" for g in base.gold.values())
    assert 0.10 < len(failures) / defective < 0.20
    assert len(failures) / len(base.gold) == pytest.approx(base.summary.personal_defect_rate, rel=0.05)
    said_by = defaultdict(set)
    per_user = Counter()
    for eid, _ in failures:
        rec = base.turns[eid]
        said_by[normalize_text(rec["asr_text"])].add(rec["user_id"])
        per_user[(rec["user_id"], normalize_text(rec["asr_text"]))] += 1
    assert len(said_by) > 150 and sum(len(u) < 3 for u in said_by.values()) / len(said_by) >= 0.9
    assert sum(n >= 2 for n in per_user.values()) > 15  # the same failure again, for the same user
    kinds = Counter((t.error, t.kind) for _, t in failures)
    assert {e for e, _ in kinds} >= {"asr", "short"} and {"contact", "playlist", "device", "city"} <= {
        k for _, k in kinds
    }


def test_a_users_own_mishearing_is_the_same_every_time_and_their_careful_rephrase_works(base: Run):
    own, _ = _own_things(base)
    misheard = defaultdict(list)  # (user, name) -> whether each failing turn heard the user's own variant
    fixed = {}
    for eid, g in base.gold.items():
        rec = base.turns[eid]
        for slot in g["slots"]:
            thing = own[rec["user_id"]].get((slot["name"], slot["value"]))
            if thing is None or thing.error != "asr":
                continue
            key = (rec["user_id"], slot["value"])
            if g["failure_point"] == "asr" and thing.said in g["intended_text"]:
                misheard[key].append(thing.heard in rec["asr_text"])
                fixed.setdefault(key, False)
            elif g["failure_point"] == "correct" and g["rephrase_of"] and thing.said in rec["asr_text"]:
                fixed[key] = True
    assert len(misheard) > 30 and sum(len(v) >= 2 for v in misheard.values()) > 10
    # every time the same variant (a few turns fail on another word instead)
    assert sum(all(v) for v in misheard.values()) / len(misheard) > 0.9
    # most users get through by saying it carefully, so their own history holds the fix
    assert sum(fixed.values()) / len(fixed) > 0.6


def test_personal_gold_is_right(base: Run):
    """Gold of requests about a user's own things: the intent asked for, the canonical name of the user's
    thing, the words said (a mishearing: what ASR heard, with the user's name put back), the stage."""
    own, _ = _own_things(base)
    registry_kinds = {"contact": "communication.call", "playlist": "music.play_playlist"}
    seen = Counter()
    for eid, g in base.gold.items():
        rec = base.turns[eid]
        mine = [own[rec["user_id"]].get((s["name"], s["value"])) for s in g["slots"]]
        if not any(s["name"] in PERSONAL_KINDS for s in g["slots"]):
            continue
        assert len(g["slots"]) == 1 and mine[0] is not None  # always one of the user's own things
        thing, fp = mine[0], g["failure_point"]
        assert g["intent"] == registry_kinds.get(thing.kind, g["intent"])
        assert g["intent"] in (i.key for i in thing.intents)
        if fp == "correct":
            assert rec["asr_text"] == g["intended_text"] and rec["response_status"] == "success"
            assert f"{rec['nlu_domain']}.{rec['nlu_intent']}" == g["intent"]
            seen["correct"] += 1
        elif fp == "asr" and thing.error == "asr" and thing.heard in rec["asr_text"]:
            # what ASR heard is what was said with the user's own mishearing of the name (and, now and
            # then, another word misheard or dropped as well)
            seen["asr"] += 1
            seen["asr exactly"] += rec["asr_text"].replace(thing.heard, thing.said, 1) == g["intended_text"]
        elif fp == "er" and thing.error == "short" and thing.said in rec["asr_text"]:
            assert rec["asr_text"] == g["intended_text"] and rec["response_status"] == "error"
            assert rec["nlu_slots"][0]["value"] == thing.said
            seen["er"] += 1
    assert min(seen["correct"], seen["asr"], seen["er"]) > 30, seen
    assert seen["asr exactly"] / seen["asr"] > 0.95


@pytest.fixture(scope="module")
def namesakes(tmp_path_factory) -> Run:
    """Many users with a twin town or a near-namesake title (the knobs turned up to see enough of them)."""
    cfg = SimConfig(
        seed=5, users=600, start=START, days=2, annotation_rate=1.0, personal_share=0.4, namesake_share=0.8
    )
    return Run(cfg, tmp_path_factory.mktemp("namesakes"))


def _understood(run: Run, eid: str, names: set[str]) -> bool:
    """The turn's NLU has the gold intent and one of `names` in its slot (it was heard well enough)."""
    rec, g = run.turns[eid], run.gold[eid]
    return f"{rec['nlu_domain']}.{rec['nlu_intent']}" == g["intent"] and any(
        s["value"] in names for s in rec["nlu_slots"]
    )


def test_twin_towns_fail_only_for_users_of_the_rarer_one(namesakes: Run):
    """ "what's the weather in wilkerson" is Wilkerson, Washington (the popular one): right for its users,
    a result-stage failure for users of Wilkerson, California, whose gold intended text names the state;
    their rephrase with the state succeeds."""
    catalog, _ = world_of(namesakes.cfg)
    ents, world = catalog.entities, catalog.personal
    bare = {ents[t].name: world.bare[t] for pair in world.twins for t in pair}
    rare = {ents[r].name for _, r in world.twins}
    outcomes = defaultdict(Counter)
    users = defaultdict(set)
    rephrased = Counter()
    for eid, g in namesakes.gold.items():
        rec = namesakes.turns[eid]
        town = next((s["value"] for s in g["slots"] if s["name"] == "city" and s["value"] in bare), None)
        if town is None or not _understood(namesakes, eid, {town, bare[town]}):
            continue
        said = rec["nlu_slots"][0]["value"]
        which = ("rare" if town in rare else "popular", "bare" if said == bare[town] else "with state")
        outcomes[which][g["failure_point"]] += 1
        users[which].add(rec["user_id"])
        if which == ("rare", "bare"):
            assert g["intended_text"] == rec["asr_text"].replace(said, town) != rec["asr_text"]
            popular = next(ents[p] for p, r in world.twins if ents[r].name == town)
            assert popular.display in rec["response_text"]
        if which == ("rare", "with state") and g["rephrase_of"]:
            rephrased[(namesakes.gold[g["rephrase_of"]]["failure_point"], g["failure_point"])] += 1
    assert outcomes[("rare", "bare")]["result"] > 15 and set(outcomes[("rare", "bare")]) == {"result"}
    for which in (("popular", "bare"), ("popular", "with state"), ("rare", "with state")):
        n = sum(outcomes[which].values())
        assert n > 10 and outcomes[which]["correct"] / n > 0.95, (which, outcomes[which])
    assert len(users[("popular", "bare")]) > 2 * len(users[("rare", "bare")])  # the more common request
    assert rephrased[("result", "correct")] > 10  # "... in wilkerson california" after the wrong town


def test_near_namesake_titles_are_served_right(namesakes: Run):
    """Users who like the rare title close to a popular one's say it right and get it, not the popular one."""
    catalog, _ = world_of(namesakes.cfg)
    ents, world = catalog.entities, catalog.personal
    assert len(world.namesakes) >= 20
    for p, r in world.namesakes:
        a, b = ents[p].name.split(), ents[r].name.split()
        assert (
            ents[p].kind == ents[r].kind
            and len(a) == len(b)
            and sum(x != y for x, y in zip(a, b, strict=True)) == 1
        )
    rare = {ents[r].name: ents[p].name for p, r in world.namesakes}
    served = Counter()
    for eid, g in namesakes.gold.items():
        title = next(
            (s["value"] for s in g["slots"] if s["value"] in rare and s["name"] in ("song", "film")), None
        )
        if title is None or not _understood(namesakes, eid, {title}):
            continue
        rec = namesakes.turns[eid]
        served[g["failure_point"]] += 1
        if g["failure_point"] == "correct":
            kind = next(
                s["name"] for s in rec["nlu_slots"] if s["value"] == title
            )  # (beside a music service)
            assert ents[catalog.by_name[(kind, title)]].display in rec["response_text"]
            assert rare[title] not in rec["asr_text"]
    assert served["correct"] > 30 and served["correct"] / sum(served.values()) > 0.95, served


def test_personal_world_is_deterministic_in_its_files(tmp_path):
    """The same seed writes the same bytes with the personal sources on, whatever the processes (their
    contacts, playlists and devices are made on first use, in another order in each process)."""
    cfg = SimConfig(seed=9, users=300, start=START, days=2, annotation_rate=0.3, personal_share=0.3)
    simulate(cfg, tmp_path / "a", progress=False)
    simulate(cfg, tmp_path / "b", progress=False)  # the world's entities already made by the first run
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    simulate(replace(cfg, seed=10), tmp_path / "c", progress=False)
    assert _files(tmp_path / "c") != _files(tmp_path / "a")
