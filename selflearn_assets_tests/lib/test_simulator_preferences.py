"""The simulated world's news sources and music services: drawn per user, relied on unsaid ("play the news"), a result
failure until taught, stated in two disjoint phrasing sets the assistant understands, taught through the runtime and
used from the very next request, changed later (the newer one used); and the truth of all of it."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from selflearn_assets.lib.online.preferences import PreferenceStore
from selflearn_assets.lib.online.runtime import Rewriter
from selflearn_assets.lib.simulator import SimConfig, users_of, world_of
from selflearn_assets.lib.simulator.assistant import Assistant
from selflearn_assets.lib.simulator.intents import INTENT_BY_KEY, PREFERENCE_PHRASINGS
from selflearn_assets.lib.simulator.text import normalize_text
from selflearn_assets_tests.lib.simulated_logs import SimulatedLogs

START = date(2026, 3, 1)
# a small world where many users have both, and changes are common, every session audited
CFG = SimConfig(seed=5, users=500, start=START, days=3, annotation_rate=1.0, news_source_share=0.6,
                music_service_share=0.6, preference_change_share=0.5, concept_share=0.0)  # fmt: skip
AMBIENT = ("news_source", "music_service")


World = SimulatedLogs  # the preferences world, read back


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(CFG, tmp_path_factory.mktemp("prefs"))


def test_the_same_config_writes_the_same_world(world: World, tmp_path):
    again = World(replace(CFG, users=120, days=2), tmp_path / "a")
    twice = World(replace(CFG, users=120, days=2), tmp_path / "b")
    assert again.turns == twice.turns and again.gold == twice.gold
    users, _ = users_of(CFG)
    assert sum(u.news_source is not None for u in users.values()) / len(users) == pytest.approx(0.6, abs=0.08)
    assert sum(u.music_service is not None for u in users.values()) / len(users) == pytest.approx(
        0.6, abs=0.08
    )


def test_each_preference_is_taught_and_relied_on_with_its_truth(world: World):
    taught, used = defaultdict(int), defaultdict(int)
    for e, g in world.gold.items():
        rec = world.turns[e]
        if "preference" in g and g["preference"]["key"] in AMBIENT:
            key = g["preference"]["key"]
            taught[key] += 1
            assert g["intent"] == f"preferences.set_{key}"
            # understood exactly when it is judged correct, and then logged with its slot
            logged = {s["name"]: s["value"] for s in rec["nlu_slots"]}
            if g["failure_point"] == "correct":
                assert logged.get(key) == g["preference"]["value"]
        if g.get("preference_use") in AMBIENT:
            used[g["preference_use"]] += 1
            # the request leaves it unsaid, and the truth's slots name the one the user wants
            key = g["preference_use"]
            assert key in {s["name"] for s in g["slots"]}
            assert not any(normalize_text(f" {v} ") in f" {rec['asr_text']} " for k, v in
                           ((s["name"], s["value"]) for s in g["slots"]) if k == key)  # fmt: skip
    assert min(taught["news_source"], taught["music_service"]) >= 20
    assert min(used["news_source"], used["music_service"]) >= 20


def _uses(world: World, key: str):
    """(ok before the user's first correct teaching of `key`, ok after, ok of the first use after)."""
    taught, before, after, first = set(), [], [], []
    for e in world.order:
        g, user = world.gold[e], world.turns[e]["user_id"]
        if g.get("preference", {}).get("key") == key and g["failure_point"] == "correct":
            taught.add(user)
        if g.get("preference_use") == key:
            ok = g["failure_point"] == "correct"
            if user not in taught:
                before.append(ok)
            else:
                if user not in {u for u, _ in first}:
                    first.append((user, ok))
                after.append(ok)
    return before, after, [ok for _, ok in first]


@pytest.mark.parametrize("key", AMBIENT)
def test_a_request_relying_on_it_fails_at_the_result_until_taught(world: World, key):
    before, after, _ = _uses(world, key)
    assert before and sum(before) == 0  # untaught, the assistant's default is never the user's
    failures = [
        world.gold[e]["failure_point"] for e in world.gold if world.gold[e].get("preference_use") == key
    ]
    assert failures.count("result") > 0.3 * len(failures)
    assert (
        after and sum(after) / len(after) > 0.4
    )  # taught: what still fails is the other stages (and changes)


def test_news_taught_is_rewritten_and_works(world: World):
    rewritten = [r for r in world.turns.values() if (r.get("rewrite_applied") or {}).get("rewrite_text", "").startswith(
        ("play the news from", "what's the news from", "what's in the news from"))]  # fmt: skip
    assert rewritten
    ok = [
        world.gold[r["event_id"]]["failure_point"] == "correct"
        for r in rewritten
        if r["event_id"] in world.gold
    ]
    assert sum(ok) / len(ok) > 0.8


def test_a_changed_preference_is_stated_again_and_the_newer_one_is_used(world: World):
    values = defaultdict(list)
    for e in world.order:
        g = world.gold[e]
        if "preference" in g and g["failure_point"] == "correct":
            values[(world.turns[e]["user_id"], g["preference"]["key"])].append(g["preference"]["value"])
    changed = {k: v for k, v in values.items() if len(set(v)) > 1}
    assert changed
    # after the newer one is taught, the requests relying on it are served with it
    users, _ = users_of(CFG)
    for (user, key), vals in changed.items():
        u = users[user]
        assert u.changes is not None and u.changes[0] == key
        assert vals[-1] == world_of(CFG)[0].entities[u.changes[2]].name


def test_the_phrasing_sets_are_disjoint_and_the_last_day_uses_the_held_out_one(world: World):
    for sets in PREFERENCE_PHRASINGS.values():
        assert not set(sets["train"]) & set(sets["heldout"])
    last = START.toordinal() + CFG.days - 1
    said = defaultdict(set)
    for e, g in world.gold.items():
        if g.get("preference", {}).get("key") in AMBIENT and g["failure_point"] == "correct":
            key, value = g["preference"]["key"], g["preference"]["value"]
            text = world.turns[e]["asr_text"]
            for name, templates in PREFERENCE_PHRASINGS[f"preferences.set_{key}"].items():
                if text in {t.format(**{key: value}) for t in templates}:
                    said[date.fromisoformat(world.turns[e]["ts"][:10]).toordinal() == last].add(name)
    assert said[False] == {"train"} and said[True] == {"heldout"}


def test_the_assistant_understands_both_phrasing_sets():
    catalog, nlu = world_of(SimConfig())
    for key, sets in PREFERENCE_PHRASINGS.items():
        kind = key.removeprefix("preferences.set_")
        for value in (
            ("bbc", "the wall street journal") if kind == "news_source" else ("spotify", "youtube music")
        ):
            for template in (*sets["train"], *sets["heldout"]):
                p = nlu.parse(template.format(**{kind: value}))
                assert (p.intent, p.slots) == (key, ((kind, value),)), template
    # a request naming one: the rest as ever, the preference one more slot
    assert nlu.parse("play imagine dragons on spotify").slots == (
        ("artist", "imagine dragons"),
        ("music_service", "spotify"),
    )
    assert nlu.parse("what's the news from the wall street journal").intent == "news.get_news"
    assert nlu.parse("i listen to music on spotify").intent == "preferences.set_music_service"


def test_teach_then_use_within_one_session_through_the_runtime():
    """A user whose service is not the default: "play X" fails at the result; they teach it; the runtime rewrites
    the very next "play X" into "play X on <theirs>", which succeeds."""
    cfg = SimConfig(users=1)
    catalog, nlu = world_of(cfg)
    assistant = Assistant(catalog, nlu, cfg, {})
    assistant.runtime = Rewriter(None, None, "k", ("personal",), PreferenceStore(), True)
    users, _ = users_of(cfg)
    u = next(iter(users.values()))
    spotify = catalog.get("music_service", "spotify").idx
    artist = catalog.get("artist", "imagine dragons").idx
    goal = (("artist", artist), ("music_service", spotify))
    rng, state = random.Random(1), {"media": "idle"}
    cfg_quiet = replace(cfg, asr_drop_rate=0.0, asr_word_error_rate=0.0, result_error_rate=0.0)
    assistant.cfg = cfg_quiet

    def ask(text, intent, slots):
        return assistant.request(rng, text, None, u, "speaker", state, intent, slots, False)

    first = ask("play imagine dragons", "music.play_artist", goal)
    assert (first.success, first.failure) == (False, "result")
    teach = ask("use spotify for music", "preferences.set_music_service", (("music_service", spotify),))
    assert teach.success and teach.teach == ("music_service", "spotify")
    assistant.learn(u, teach, "e-teach", datetime(2026, 3, 1, 9, tzinfo=UTC))
    again = ask("play imagine dragons", "music.play_artist", goal)
    assert again.rewrite[2] == "play imagine dragons on spotify" and again.success
    # a change later: the newer one is used
    apple = catalog.get("music_service", "apple music").idx
    teach = ask(
        "i use apple music for my music", "preferences.set_music_service", (("music_service", apple),)
    )
    assistant.learn(u, teach, "e-change", datetime(2026, 3, 2, 9, tzinfo=UTC))
    now = ask("play imagine dragons", "music.play_artist", (("artist", artist), ("music_service", apple)))
    assert now.rewrite[2] == "play imagine dragons on apple music" and now.success
    # a film "on <service>" (the runtime rewrites any "play X") is still the film
    film = catalog.entities[catalog.by_kind["film"][3]]
    watched = assistant.request(rng, f"play the movie {film.name}", None, u, "tv", state, "video.play_film",
                                (("film", film.idx),), False)  # fmt: skip
    assert watched.rewrite is not None and watched.success


def test_the_news_request_of_a_user_with_the_default_source_relies_on_nothing():
    users, population = users_of(replace(CFG, users=300))
    default = world_of(CFG)[0].by_kind["news_source"][0]
    news = INTENT_BY_KEY["news.get_news"]
    from selflearn_assets.lib.simulator.behaviour import DaySimulator

    catalog, nlu = world_of(CFG)
    sim = DaySimulator(CFG, catalog, population, Assistant(catalog, nlu, CFG, {}), False)
    for u in users.values():
        got = sim._ambient(u, news, ()) if u.news_source is not None else None
        assert (got is None) == (u.news_source in (None, default))
        if u.news_source is not None:
            assert sim._ambient(u, news, (("topic", 0),)) is None  # a topic: no source relied on
