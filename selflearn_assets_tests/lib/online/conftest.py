"""A hand-made world for the online rewriter: the keynote's two cases, a global mishearing, personal contacts.

Days 1-3 fill the layers, day 4's rephrases train the ranker (`build_online`). Users (pseudonymised ids as
the warehouse has them):
- g00..g19: everyone; "play imagine dragons" works, "play maj and dragons" fails and is rephrased into it;
  "what's the weather in wilkerson" works for them (they mean Washington), as do the Bruno song and others;
- alice: habitually asks about Wilkerson, California; the bare request fails for her and she rephrases;
- bob: likes "play we don't talk anymore", which works for him (nobody else says it);
- p0..p9: each calls a contact of their own, misheard the same way each time, then said carefully.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from selflearn_assets.lib.ingest.pseudonym_keys import key_fingerprint
from selflearn_assets.lib.models.encoder import tiny_encoder
from selflearn_assets.lib.online.build import OnlineConfig, build_online
from selflearn_assets.lib.online.bundle import write_bundle
from selflearn_assets.lib.online.ranker import RankerConfig
from selflearn_assets.lib.online.runtime import pseudonymize

KEY = "test-key"
DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(4)]
CONTACTS = [("anneliese varga", "and a lisa var ga"), ("joaquin oyelaran", "walking oil or ran"),
            ("siobhan tully", "shiv on tully"), ("ngozi abara", "goes a bar a"), ("tadhg mcnulty", "tie mc nulty"),
            ("xochitl reyes", "so chill rays"), ("aoife brennan", "if a brennan"), ("saoirse keane", "ser sha keane"),
            ("niamh doyle", "neeve doyle"), ("caoimhe walsh", "key va walsh")]  # fmt: skip
EVERYONE = ["play imagine dragons", "what's the weather in wilkerson", "play we don't talk about bruno",
            "set a timer for ten minutes", "turn on the kitchen lights", "what's the weather in wilkerson washington"]  # fmt: skip


def uid(raw: str) -> str:
    return pseudonymize(KEY, raw)


def _world() -> tuple[pl.DataFrame, pl.DataFrame]:
    turns, pairs = [], []

    def turn(day, user, text, defect, intent=None):
        turns.append({"day": day, "user_id": uid(user), "norm_text": text, "defect_prob": defect,
                      "intent": intent, "slots": None})  # fmt: skip

    def rephrase(day, user, first, second):
        turn(day, user, first, 0.9)
        turn(day, user, second, 0.05)
        pairs.append({"day": day, "user_id": uid(user), "first_text": first, "second_text": second,
                      "first_defect_prob": 0.9, "second_defect_prob": 0.05, "score": 0.9})  # fmt: skip

    for d, day in enumerate(DAYS):
        for i in range(20):
            user = f"g{i:02d}"
            for text in EVERYONE[:5] if i % 4 else EVERYONE:
                turn(day, user, text, 0.05)
            if (i + d) % 3 == 0:
                rephrase(day, user, "play maj and dragons", "play imagine dragons")
        for _ in range(3):
            turn(day, "alice", "what's the weather in wilkerson california", 0.05)
        rephrase(
            day, "alice", "what's the weather in wilkerson", "what's the weather in wilkerson california"
        )
        for _ in range(3):
            turn(day, "bob", "play we don't talk anymore", 0.05)
        turn(day, "bob", "play we don't talk about bruno", 0.05)
        for p, (name, heard) in enumerate(CONTACTS):
            turn(day, f"p{p}", f"call {name}", 0.05)
            rephrase(day, f"p{p}", f"call {heard}", f"call {name}")
            turn(day, f"p{p}", "set a timer for ten minutes", 0.05)
    return pl.DataFrame(turns), pl.DataFrame(pairs)


@pytest.fixture(scope="session")
def online_world(tmp_path_factory):
    """(bundle folder, turns, built): the world's online export for its last day."""
    root = tmp_path_factory.mktemp("online")
    turns, pairs = _world()
    texts = turns["norm_text"].unique().to_list()
    tokenizer, model = tiny_encoder(texts, hidden=32)
    tokenizer.save_pretrained(root / "encoder")
    model.save_pretrained(root / "encoder")
    config = OnlineConfig(ranker=RankerConfig(min_samples_leaf=3, max_iter=100))
    built = build_online(turns, pairs, None, root / "work", config,
                         encoder_path=str(root / "encoder"), log=lambda _: None)  # fmt: skip
    folder = write_bundle(root / "exports", DAYS[-1], built.layers, built.encoder.folder, built.ranker,
                          {"report": built.report, "pseudonym_key_fingerprint": key_fingerprint(KEY)})  # fmt: skip
    return folder, turns, built
