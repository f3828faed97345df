"""A bench's world: simulated (the synthetic simulator's or the real-corpus one) and ingested into a fresh DuckDB.

    from _world import CORPUS, simulate_world, ingest_world
    raw = simulate_world("corpus", work / "raw-1", seed=1, users=800, start=date(2026, 11, 1), days=5)
    con = ingest_world(work / "warehouse-1.duckdb", raw, days)

Defaults follow `selflearn simulate`: the real-corpus world annotates 30% of sessions, the synthetic one its
`SimConfig` default. `CORPUS` is the shared corpus root beside this checkout (`../shared/data`).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.ingest import ingest_annotations, ingest_turns  # noqa: E402
from selflearn_assets.lib.simulator import SimConfig, simulate  # noqa: E402
from selflearn_assets.lib.simulator.corpus import Corpus, CorpusSimConfig, simulate_corpus  # noqa: E402
from selflearn_assets.lib.sql import run_sql  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data"
WORLDS = ("sim", "corpus")


def world_config(
    world: str,
    seed: int,
    users: int,
    start: date,
    days: int,
    corpus: Path = CORPUS,
    annotation_rate: float | None = None,
) -> SimConfig | CorpusSimConfig:
    """The simulator config of `world` ("sim" or "corpus")."""
    if world == "corpus":
        rate = 0.3 if annotation_rate is None else annotation_rate
        return CorpusSimConfig(
            corpus=Path(corpus).resolve(),
            seed=seed,
            users=users,
            start=start,
            days=days,
            annotation_rate=rate,
        )
    if world != "sim":
        raise ValueError(f"unknown world {world!r}: one of {WORLDS}")
    rate = {} if annotation_rate is None else {"annotation_rate": annotation_rate}
    return SimConfig(seed=seed, users=users, start=start, days=days, **rate)


def simulate_world(world: str, raw: Path, *, corpus_data: Corpus | None = None, **config) -> Path:
    """Simulate `world` into `raw` (`config`: `world_config`'s arguments); `corpus_data` skips loading the corpus
    again for another seed."""
    cfg = world_config(world, **config)
    if isinstance(cfg, CorpusSimConfig):
        simulate_corpus(cfg, raw, progress=False, corpus=corpus_data)
    else:
        simulate(cfg, raw, progress=False)
    return raw


def ingest_world(warehouse: Path, raw: Path, days: list[date]) -> duckdb.DuckDBPyConnection:
    """A fresh warehouse at `warehouse` with every day of `raw` ingested (turns and annotations)."""
    warehouse.unlink(missing_ok=True)
    con = duckdb.connect(str(warehouse))
    run_sql(con, "ingest/schema.sql")
    for day in days:
        ingest_turns(con, raw, day, "bench-key")
        ingest_annotations(con, raw, day)
    return con
