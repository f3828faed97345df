"""The embedded log simulator: a voice assistant's traffic, with recurring failures at every stage.

It stands in for a real assistant's logs: simulated customers (preferences, habits, devices) pursue
goals over a fixed world (catalogs of artists, songs, films, books, cities, teams, products...), and a
simulated assistant (wake word -> ASR -> rewrite -> NLU over text -> ER -> fulfilment) serves them,
failing the way real ones do, and recurringly, so the platform has something to learn from. Turns are
written in the raw-log contract (DESIGN.md), ground truth for an audit sample of sessions in the
annotations contract. Nothing here imports Dagster.

    from selflearn_assets.lib.simulator import SimConfig, simulate, users_for_turns
    summary = simulate(SimConfig(users=5000, days=3), "data/raw")           # ~23k turns a day
    summary = simulate(SimConfig(users=users_for_turns(1_000_000), workers=2), "data/raw")

    # an A/B replay of a rewrite table, every session annotated
    simulate(SimConfig(start=day, rewrite_table="rewrites.parquet", annotation_rate=1.0), "data/ab")

Modules: `config` (knobs, summary), `vocab` + `catalog` (the world), `intents` (what users ask and how
they say it), `nlu` + `assistant` (the assistant), `users` + `behaviour` (the customers), `personal`
(each user's own contacts, playlists, devices and places, and their own recurring errors), `annotate`
(gold and a single annotator), `rewrites` (the rewrite hook and A/B split), `writer`, `run`
(`world_of(cfg)` and `users_of(cfg)` give a run's world and users, for judges and tests).
"""

from selflearn_assets.lib.simulator.annotate import in_audit_sample
from selflearn_assets.lib.simulator.config import TURNS_PER_USER_DAY, SimConfig, SimSummary, users_for_turns
from selflearn_assets.lib.simulator.rewrites import in_treatment, load_rewrite_table, write_rewrite_table
from selflearn_assets.lib.simulator.run import build_world, simulate, users_of, world_of
from selflearn_assets.lib.simulator.text import normalize_text

__all__ = [
    "TURNS_PER_USER_DAY",
    "SimConfig",
    "SimSummary",
    "build_world",
    "in_audit_sample",
    "in_treatment",
    "load_rewrite_table",
    "normalize_text",
    "simulate",
    "users_for_turns",
    "users_of",
    "world_of",
    "write_rewrite_table",
]
