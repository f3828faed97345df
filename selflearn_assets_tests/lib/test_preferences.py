"""Taught preferences and concepts (`lib/online/preferences.py`) and the runtime's use of them: teach, then the
very next request uses it; a preference changed later; another user never gets it; the runtime log's round
trip, its torn last line and its bad lines; the use table; the teaching switch; `selflearn teach`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from selflearn_assets import cli
from selflearn_assets.lib.markov.mine import rewrite_id
from selflearn_assets.lib.online.preferences import (
    PreferenceStore,
    TeachConflict,
    preferences_log,
    taught_rewrite,
)
from selflearn_assets.lib.online.runtime import ALL_LAYERS, Rewriter, pseudonymize

from .online.serving_world import BUNDLE_DAY, write_table

KEY = "test-key"
STUDY = "set the desk lamp to 40%"
T0 = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=2, hours=3)


def uid(raw: str) -> str:
    return pseudonymize(KEY, raw)


def _rewriter(log: Path | None = None, **kwargs) -> Rewriter:
    """A rewriter with no bundle and no table, as the simulator uses it: taught items only."""
    return Rewriter(None, None, KEY, preferences=PreferenceStore.load(log) if log else None, **kwargs)


@pytest.mark.parametrize(
    "request_text",
    ["turn on study mode", "Start study mode", "activate study mode", "study mode", "switch to study mode",
     "set study mode", "Alexa, turn on my study mode!", "switch on the study mode", "enable study mode",
     "time for study mode", "it's study mode", "let's do study mode", "go into study mode"],
)  # fmt: skip
def test_a_taught_concept_rewrites_the_very_next_request(tmp_path, request_text):
    rewriter = _rewriter(tmp_path / "preferences.jsonl")
    before = rewriter.rewrite("alice", request_text)
    assert (before.rewrite, before.reason) == (None, "no table match; no online layer loaded")

    item = rewriter.teach("alice", "concept:Study Mode", STUDY, "turn-17", ts=T0)
    assert item == {"user_id": uid("alice"), "key": "concept:study mode", "kind": "concept", "value": STUDY,
                    "event_id": "turn-17", "confidence": 1.0, "source": "runtime", "valid_from": T0.isoformat(),
                    "valid_to": None, "status": "stored", "replaced": None}  # fmt: skip

    after = rewriter.rewrite("alice", request_text)  # the next request, same rewriter, no reload
    assert (after.rewrite, after.layer, after.score, after.reason) == (
        STUDY,
        "personal",
        1.0,
        "taught concept",
    )
    assert after.rewrite_id == rewrite_id(after.normalized, STUDY)
    assert after.candidates == [{"text": STUDY, "score": 1.0, "layer": "personal"}]
    assert rewriter.preference("alice", "concept:study mode") == STUDY


@pytest.mark.parametrize("request_text", ["is study mode on", "turn off study mode", "study mode settings",
                                          "turn on study", "start the study mode timer", "what is study mode",
                                          "stop study mode", "please don't start study mode", "exit study mode",
                                          "how do i use study mode", "i really do not like study mode"])  # fmt: skip
def test_a_concept_applies_only_to_its_phrase_with_an_activation(request_text):
    rewriter = _rewriter()
    rewriter.teach("alice", "concept:study mode", STUDY, "e1")
    assert rewriter.rewrite("alice", request_text).rewrite is None


def test_a_preference_changed_later_keeps_both_and_uses_the_newer(tmp_path):
    rewriter = _rewriter(tmp_path / "preferences.jsonl")
    rewriter.teach("alice", "team", "Warriors", "e1", ts=T0)
    first = rewriter.rewrite("alice", "play the game")
    assert (first.rewrite, first.reason) == ("play the warriors game", "taught preference team")

    changed = rewriter.teach("alice", "team", "Los Angeles Lakers", "e2", ts=T1)
    assert (changed["status"], changed["replaced"], changed["valid_from"]) == (
        "stored",
        "Warriors",
        T1.isoformat(),
    )
    history = rewriter.preferences.history(uid("alice"), "team")
    assert [(i.value, i.event_id, i.valid_from, i.valid_to) for i in history] == [
        ("Warriors", "e1", T0, T1),  # closed when the newer one was taught
        ("Los Angeles Lakers", "e2", T1, None),
    ]
    assert rewriter.preference("alice", "team") == "Los Angeles Lakers"
    for text, expected in [("play the game", "play the los angeles lakers game"),
                           ("what's the score of the game", "what's the score of the los angeles lakers game"),
                           ("when is the game", "when is the los angeles lakers game")]:  # fmt: skip
        decision = rewriter.rewrite("alice", text)
        assert (decision.rewrite, decision.rewrite_id) == (expected, rewrite_id(text, expected))


def test_another_user_never_gets_it_and_no_raw_id_is_kept(tmp_path):
    log = tmp_path / "preferences.jsonl"
    rewriter = _rewriter(log)
    rewriter.teach("alice", "concept:study mode", STUDY, "e1")
    rewriter.teach("alice", "team", "Warriors", "e2")
    for user in ("bob", "Alice", "alice ", None, ""):
        assert rewriter.rewrite(user, "turn on study mode").rewrite is None, user
        assert rewriter.rewrite(user, "play the game").rewrite is None, user
    assert rewriter.preference("bob", "team") is None
    assert rewriter.preferences.users() == [uid("alice")]
    assert "alice" not in log.read_text()
    assert {json.loads(line)["user_id"] for line in log.read_text().splitlines()} == {uid("alice")}
    other_key = Rewriter(None, None, "another-key", preferences=rewriter.preferences)
    assert other_key.rewrite("alice", "turn on study mode").rewrite is None  # another key, another pseudonym


def _teach_some(rewriter: Rewriter) -> None:
    rewriter.teach("alice", "concept:study mode", STUDY, "e1", ts=T0)
    rewriter.teach("alice", "team", "Warriors", "e2", ts=T0)
    rewriter.teach("bob", "cuisine", "Italian", "e3", ts=T0 + timedelta(hours=1))
    rewriter.teach("alice", "team", "Lakers", "e4", ts=T1)
    rewriter.teach("bob", "concept:movie night", "dim the lights and turn on the tv", "e5", ts=T1)


REQUESTS = [("alice", "turn on study mode"), ("alice", "play the game"), ("bob", "find a restaurant"),
            ("bob", "start movie night"), ("bob", "play the game"), ("carol", "turn on study mode")]  # fmt: skip


def test_the_runtime_log_round_trip(tmp_path):
    log = tmp_path / "online" / "preferences.jsonl"
    rewriter = _rewriter(log)
    _teach_some(rewriter)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5  # one line per teaching
    assert json.loads(lines[0]) == {"ts": T0.isoformat(), "user_id": uid("alice"), "key": "concept:study mode",
                                    "value": STUDY, "event_id": "e1", "source": "runtime", "confidence": 1.0}  # fmt: skip
    assert log.stat().st_mode & 0o777 == 0o600  # personal data: the owner's only

    again = PreferenceStore.load(log)
    assert again.skipped == []
    assert again.rows() == rewriter.preferences.rows()
    assert [(r["key"], r["value"], r["valid_to"]) for r in again.rows() if r["user_id"] == uid("alice")] == [
        ("concept:study mode", STUDY, None),
        ("team", "Warriors", T1.isoformat()),
        ("team", "Lakers", None),
    ]
    replayed = Rewriter(None, None, KEY, preferences=again)
    decisions = [replayed.rewrite(user, text).as_dict() for user, text in REQUESTS]
    assert decisions == [rewriter.rewrite(user, text).as_dict() for user, text in REQUESTS]
    assert [d["rewrite"] for d in decisions] == [STUDY, "play the lakers game", "italian restaurants near me",
                                                 "dim the lights and turn on the tv", None, None]  # fmt: skip


def test_a_torn_last_line_is_skipped_and_the_next_teaching_starts_a_line_of_its_own(tmp_path, caplog):
    log = tmp_path / "preferences.jsonl"
    rewriter = _rewriter(log)
    rewriter.teach("alice", "concept:study mode", STUDY, "e1", ts=T0)
    rewriter.teach("alice", "team", "Warriors", "e2", ts=T0)
    with log.open("ab") as f:  # the process died in the middle of the third line
        f.write(b'{"ts": "2026-03-06T10:00:00+00:00", "user_id": "' + uid("bob").encode()[:7])

    with caplog.at_level(logging.WARNING, logger="selflearn.preferences"):
        store = PreferenceStore.load(log)
    assert [number for number, _ in store.skipped] == [3]
    assert "line 3 (the last, unterminated: torn by a crash?) skipped" in caplog.text
    assert store.rows() == rewriter.preferences.rows()

    Rewriter(None, None, KEY, preferences=store).teach("bob", "cuisine", "Thai", "e3", ts=T1)
    lines = log.read_bytes().split(b"\n")
    assert json.loads(lines[3])["event_id"] == "e3"  # line 4: the torn line was ended first
    again = PreferenceStore.load(log)
    assert [number for number, _ in again.skipped] == [3]
    assert again.current(uid("bob"), "cuisine").value == "Thai"
    assert again.values(uid("alice")) == {"concept:study mode": STUDY, "team": "Warriors"}


def test_bad_lines_anywhere_are_skipped_with_their_line_numbers(tmp_path, caplog):
    good = {"ts": T0.isoformat(), "user_id": uid("alice"), "key": "team", "value": "Warriors", "event_id": "e1",
            "source": "runtime", "confidence": 1.0}  # fmt: skip
    lines = [
        json.dumps(good).encode(),  # 1
        b"not json",  # 2
        b'["a list"]',  # 3
        json.dumps({**good, "key": "Team!", "event_id": "e2"}).encode(),  # 4: a key the runtime refuses
        json.dumps({k: v for k, v in good.items() if k != "event_id"}).encode(),  # 5: no provenance
        b"\xff\xfe{}",  # 6: not UTF-8
        json.dumps({**good, "ts": "yesterday", "event_id": "e3"}).encode(),  # 7
        json.dumps({**good, "confidence": 1.5, "event_id": "e4"}).encode(),  # 8
        b"",  # 9: blank, harmless
        json.dumps({**good, "value": "Lakers", "ts": T1.isoformat(), "event_id": "e5"}).encode(),  # 10
        json.dumps(
            {**good, "value": "Celtics", "event_id": "e1"}
        ).encode(),  # 11: event e1 again, another value
    ]
    log = tmp_path / "preferences.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    with caplog.at_level(logging.WARNING, logger="selflearn.preferences"):
        store = PreferenceStore.load(log)
    assert [number for number, _ in store.skipped] == [2, 3, 4, 5, 6, 7, 8, 11]
    assert all(f"line {n} skipped" in caplog.text for n in (2, 3, 4, 5, 6, 7, 8, 11))
    assert [(i.value, i.valid_to) for i in store.history(uid("alice"), "team")] == [
        ("Warriors", T1),
        ("Lakers", None),
    ]


@pytest.mark.parametrize(
    "taught, request_text, expected",
    [
        ({"team": "Warriors"}, "play the game", ("play the warriors game", "team")),
        ({"team": "Warriors"}, "what's the score of the game", ("what's the score of the warriors game", "team")),
        ({"team": "Warriors"}, "when is the game", ("when is the warriors game", "team")),
        ({"team": "Warriors"}, "how did my team do", ("how did the warriors do", "team")),
        ({"team": "Warriors"}, "did my team win", ("did the warriors win", "team")),
        ({"team": "Warriors"}, "what's my team's score", ("what's the warriors score", "team")),
        ({"team": "Warriors"}, "play the warriors game", None),  # already names the value
        ({"team": "Warriors"}, "play the lakers game", None),  # names another: not a use
        ({"news_source": "BBC News"}, "play the news", ("play the news from bbc news", "news_source")),
        ({"news_source": "BBC News"}, "what's the news", ("what's the news from bbc news", "news_source")),
        ({"news_source": "BBC News"}, "play the news from npr", None),
        ({"music_service": "Spotify"}, "play imagine dragons", ("play imagine dragons on spotify", "music_service")),
        ({"music_service": "Spotify"}, "can you play imagine dragons",
         ("can you play imagine dragons on spotify", "music_service")),
        ({"music_service": "Spotify"}, "put on some jazz", ("put on some jazz on spotify", "music_service")),
        ({"music_service": "Spotify"}, "i want to listen to adele", ("i want to listen to adele on spotify", "music_service")),
        ({"music_service": "Spotify"}, "i want to hear hello", ("i want to hear hello on spotify", "music_service")),
        ({"music_service": "Spotify"}, "put on the game", None),  # the team's, untaught here: not a song
        ({"music_service": "Spotify"}, "can you play jazz on apple music", None),
        ({"music_service": "Spotify"}, "play jazz on apple music", None),
        ({"music_service": "Spotify"}, "play spotify", None),
        ({"music_service": "Spotify"}, "play the game", None),  # the team's use, not a song
        ({"music_service": "Spotify"}, "play the news", None),
        ({"cuisine": "Italian"}, "find a restaurant", ("italian restaurants near me", "cuisine")),
        ({"cuisine": "Italian"}, "restaurants near me", ("italian restaurants near me", "cuisine")),
        ({"cuisine": "Italian"}, "find me a restaurant near me", ("italian restaurants near me", "cuisine")),
        ({"cuisine": "Italian"}, "where should i eat", ("italian restaurants near me", "cuisine")),
        ({"cuisine": "Italian"}, "find an italian restaurant", None),
        ({"cuisine": "Italian"}, "find a thai restaurant", None),
        ({"favorite_color": "blue"}, "play the game", None),  # kept, but no use of it yet
        ({"team": "Warriors", "music_service": "Spotify"}, "play the game", ("play the warriors game", "team")),
        ({"team": "Warriors", "concept:play the game": "turn on the tv"}, "play the game",
         ("turn on the tv", "concept:play the game")),  # a concept first
        ({"concept:study mode": "set study mode"}, "set study mode", None),  # would rewrite to itself
        ({}, "play the game", None),
    ],
)  # fmt: skip
def test_the_use_table(taught, request_text, expected):
    assert taught_rewrite(request_text, taught) == expected


@pytest.mark.parametrize(
    "user_id, key, value, event_id, message",
    [
        (None, "team", "Warriors", "e", "user_id must be a non-empty string"),
        ("  ", "team", "Warriors", "e", "user_id must be a non-empty string"),
        ("alice", "Team", "Warriors", "e", "neither a preference name"),
        ("alice", "favourite team", "Warriors", "e", "neither a preference name"),
        ("alice", "", "Warriors", "e", "key is empty"),
        ("alice", "concept:", STUDY, "e", "has no phrase"),
        ("alice", "concept:Alexa!", STUDY, "e", "has no phrase"),  # only the wake word
        ("alice", "team", "   ", "e", "value is empty"),
        ("alice", "team", 5, "e", "value must be a string, not int"),
        ("alice", "team", "x" * 1001, "e", "value is 1001 characters; at most 1000"),
        ("alice", "team", "caf\udce9", "e", "value holds an unpaired surrogate"),
        ("alice", "team", "Warriors", "", "event_id is empty"),
        ("alice", "team", "Warriors", None, "event_id must be a string"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("teaching", [True, False])
def test_bad_teachings_are_refused_and_nothing_is_kept(
    tmp_path, user_id, key, value, event_id, message, teaching
):
    log = tmp_path / "preferences.jsonl"
    rewriter = _rewriter(log, teaching=teaching)
    with pytest.raises(ValueError, match=message):
        rewriter.teach(user_id, key, value, event_id)
    assert rewriter.preferences.users() == [] and not log.exists()


def test_a_retried_event_is_taught_once_and_a_conflicting_one_refused(tmp_path):
    log = tmp_path / "preferences.jsonl"
    rewriter = _rewriter(log)
    assert rewriter.teach("alice", "team", "Warriors", "e1", ts=T0)["status"] == "stored"
    retry = rewriter.teach("alice", "team", "Warriors", "e1", ts=T1)
    assert (retry["status"], retry["valid_from"]) == ("unchanged", T0.isoformat())
    with pytest.raises(TeachConflict, match="already taught team = 'Warriors', not 'Lakers'"):
        rewriter.teach("alice", "team", "Lakers", "e1", ts=T1)
    assert len(log.read_text().splitlines()) == 1
    assert rewriter.preference("alice", "team") == "Warriors"


def test_the_teaching_switch_and_the_personal_layer(tmp_path):
    rewriter = _rewriter()
    rewriter.teach("alice", "concept:study mode", STUDY, "e1")
    control = rewriter.restricted(ALL_LAYERS, teaching=False)  # an A/B arm: personal layer, no teaching
    assert control.preferences is rewriter.preferences
    assert control.rewrite("alice", "turn on study mode").rewrite is None
    assert control.preference("alice", "concept:study mode") is None
    assert control.teach("alice", "team", "Warriors", "e2")["status"] == "ignored"
    assert rewriter.preference("alice", "team") is None  # nothing was kept
    assert rewriter.restricted(("table", "global")).rewrite("alice", "turn on study mode").rewrite is None

    arm = rewriter.restricted(("table", "personal"))  # shares the store: what it is taught, all see
    arm.teach("alice", "team", "Warriors", "e3")
    assert rewriter.rewrite("alice", "play the game").rewrite == "play the warriors game"

    log = tmp_path / "preferences.jsonl"
    off = _rewriter(log, teaching=False)
    assert off.teach("alice", "concept:study mode", STUDY, "e1")["status"] == "ignored"
    assert not log.exists()


def test_bad_input_comes_first_then_taught_items_then_the_table():
    source, target = "turn on study mode", "turn on the study lamp"
    table = pl.DataFrame({"source_text": [source], "rewrite_text": [target],
                          "rewrite_id": [rewrite_id(source, target)], "confidence": [0.9]})  # fmt: skip
    rewriter = Rewriter(None, table, KEY, layers=("table", "personal"))
    rewriter.teach("alice", "concept:study mode", STUDY, "e1")
    assert rewriter.rewrite("alice", "Turn on study mode.").rewrite == STUDY
    assert rewriter.rewrite_pseudonymous(uid("alice"), "turn on study mode").rewrite == STUDY
    bob = rewriter.rewrite("bob", "turn on study mode")
    assert (bob.rewrite, bob.layer) == (target, "table")
    assert "longer than" in rewriter.rewrite("alice", "study mode " * 100).reason
    assert rewriter.rewrite("alice", "").reason == "empty request"
    assert rewriter.rewrite("alice", None).reason == "text is not a string"


def test_refresh_reads_what_another_process_wrote(tmp_path):
    log = tmp_path / "preferences.jsonl"
    server, other = PreferenceStore.load(log), PreferenceStore.load(log)
    server.teach(uid("alice"), "team", "Warriors", "e1", ts=T0)
    assert server.refresh() is False  # its own append
    assert other.refresh() is True
    assert other.current(uid("alice"), "team").value == "Warriors"
    assert other.refresh() is False
    other.teach(uid("alice"), "team", "Lakers", "cli-1", ts=T1)
    assert server.refresh() is True
    assert [(i.value, i.valid_to) for i in server.history(uid("alice"), "team")] == [
        ("Warriors", T1),
        ("Lakers", None),
    ]
    log.unlink()  # forget-user removed it
    assert server.refresh() is True and server.users() == []


def test_load_keeps_the_runtime_log_of_the_exports_roots_home(tmp_path):
    home = tmp_path / "home"
    write_table(home / "exports", BUNDLE_DAY, "turn on the kitchen lights")
    rewriter = Rewriter.load(home / "exports", KEY)  # a table only: taught items are served all the same
    assert rewriter.preferences.path == preferences_log(home) == home / "online" / "preferences.jsonl"
    rewriter.teach("alice", "concept:study mode", STUDY, "e1")
    assert Rewriter.load(home / "exports", KEY).rewrite("alice", "turn on study mode").rewrite == STUDY
    assert Rewriter.load(home / "exports", KEY, preferences=None).preferences.path is None
    assert (
        Rewriter.load(home / "exports", KEY, preferences=None).rewrite("alice", "study mode").rewrite is None
    )


def test_selflearn_teach_writes_the_runtime_log_that_rewrite_reads(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("SELFLEARN_HOME", str(home))
    monkeypatch.setenv("SELFLEARN_PSEUDONYM_KEY", KEY)
    write_table(home / "exports", BUNDLE_DAY, "turn on the kitchen lights")
    assert cli.main(["teach", "--user", "alice", "concept:Study Mode", STUDY, "--event-id", "turn-1"]) == 0
    assert (
        f"taught: user {uid('alice')} concept:study mode = {STUDY!r} (event turn-1)"
        in capsys.readouterr().out
    )
    assert cli.main(["teach", "--user", "alice", "team", "Warriors"]) == 0
    assert cli.main(["teach", "--user", "alice", "team", "Lakers"]) == 0
    assert "; replaces 'Warriors'" in capsys.readouterr().out
    assert cli.main(["teach", "--user", "alice", "Team!", "Warriors"]) == 2
    assert "neither a preference name" in capsys.readouterr().err

    rows = [json.loads(line) for line in preferences_log(home).read_text().splitlines()]
    assert [(r["key"], r["value"]) for r in rows] == [("concept:study mode", STUDY), ("team", "Warriors"),
                                                      ("team", "Lakers")]  # fmt: skip
    assert rows[0]["event_id"] == "turn-1" and rows[1]["event_id"].startswith("cli-")
    assert cli.main(["rewrite", "--user", "alice", "--json", "turn on study mode", "play the game"]) == 0
    study, game = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (study["rewrite"], study["layer"], study["reason"]) == (STUDY, "personal", "taught concept")
    assert game["rewrite"] == "play the lakers game"


def test_taught_items_are_served_before_any_export_exists(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("SELFLEARN_HOME", str(home))
    monkeypatch.setenv("SELFLEARN_PSEUDONYM_KEY", KEY)
    assert cli.main(["teach", "--user", "alice", "concept:study mode", STUDY]) == 0
    capsys.readouterr()
    assert cli.main(["rewrite", "--user", "alice", "--json", "turn on study mode"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert (decision["rewrite"], decision["layer"]) == (STUDY, "personal")
    # without the personal layer there is nothing to serve yet: a clear error, not a traceback
    assert cli.main(["rewrite", "--user", "alice", "--layers", "table,global", "turn on study mode"]) == 2
    assert "no online bundle and no rewrite table" in capsys.readouterr().err


def test_a_users_items_move_between_stores_with_their_history():
    here, there = PreferenceStore(), PreferenceStore()
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    here.teach("u1", "team", "warriors", "e1", ts=t0)
    here.teach("u1", "team", "lakers", "e2", ts=t0 + timedelta(days=1))
    here.teach("u1", "concept:study mode", STUDY, "e3", ts=t0)
    here.teach("u2", "team", "celtics", "e4", ts=t0)
    moved = here.items_of("u1")
    assert [(i.key, i.value, i.valid_to is None) for i in moved] == [
        ("concept:study mode", STUDY, True), ("team", "warriors", False), ("team", "lakers", True)]  # fmt: skip
    there.teach("u1", "team", "warriors", "e1", ts=t0)  # what `there` knew of u1: an older state
    there.restore(moved)
    there.restore(moved)  # twice: nothing doubled
    assert there.items_of("u1") == moved and there.users() == ["u1"]
    assert there.values("u1") == {"concept:study mode": STUDY, "team": "lakers"}
