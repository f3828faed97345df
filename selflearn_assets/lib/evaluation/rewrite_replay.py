"""A/B replay of a rewrite table on the embedded simulator.

The simulator that wrote a raw root leaves its configuration in `<raw root>/_simulator.json`. A replay
(`replay_day`) simulates one day of that same world again with the rewrite table hooked in before the
simulated NLU, annotates every session, ingests the result through the normal ingestion code into a scratch
DuckDB, and returns one row per turn: user_id, arm, defective (gold failure_point != correct), covered (the
table has the turn's text as a source, so it would fire), rewritten (it did fire). Real logs have no
`_simulator.json`: no replay.

The table's evaluation replays the day as a **counterfactual** (`replay_counterfactual`): the same users live
it twice with the same seed, once with the table firing for nobody (arm `control`) and once with it firing
for everybody (arm `treatment`), so everything up to a user's first rewrite is the same in both and the arms
differ only by what the table did. (Users split in halves, the first design, compared different users; split
in thirds for the online replay, one third's defect rate was 0.81x another's on the demo's world with no
rewrite at all.) It simulates the day twice.

A raw root written by the corpus world (`selflearn simulate --corpus`) records `"world": "corpus"`, the
absolute corpus path (`corpus`) and the `CorpusSimConfig` fields; its replay re-simulates the day of
that world (a day of the corpus world is a pure function of the config and the date).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from selflearn_assets.lib.ingest import ingest_turns
from selflearn_assets.lib.ingest.annotations import ingest_annotations
from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.markov.normalize import normalize_expr
from selflearn_assets.lib.simulator import SimConfig, simulate
from selflearn_assets.lib.simulator.corpus import CorpusSimConfig, simulate_corpus
from selflearn_assets.lib.sql import query_pl

SIMULATOR_CONFIG = "_simulator.json"
REPLAY_KEY = "replay"
CORPUS_WORLD = "corpus"


def save_simulator_config(config: SimConfig | CorpusSimConfig, out_dir: str | Path) -> Path:
    """Record the configuration that wrote `out_dir`, so evaluations can replay its world."""
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    if isinstance(config, CorpusSimConfig):
        values = {"world": CORPUS_WORLD, **values, "corpus": str(Path(config.corpus).resolve())}
    path = Path(out_dir) / SIMULATOR_CONFIG
    path.write_text(json.dumps(values, indent=2, default=str) + "\n")
    return path


def load_simulator_config(raw_root: str | Path) -> SimConfig | CorpusSimConfig | None:
    """The config that wrote `raw_root` (a `CorpusSimConfig` for the corpus world), or None."""
    path = Path(raw_root) / SIMULATOR_CONFIG
    if not path.exists():
        return None
    values = json.loads(path.read_text())
    cls = CorpusSimConfig if values.get("world") == CORPUS_WORLD else SimConfig
    known = {f.name for f in fields(cls)}
    values = {k: v for k, v in values.items() if k in known}
    values["start"] = date.fromisoformat(values["start"])
    values.pop("rewrite_table", None)
    return cls(**values)


REPLAY_ARMS = ("control", "treatment")


def replay_counterfactual(base: SimConfig | CorpusSimConfig, day: date, rewrite_table: Path) -> pl.DataFrame:
    """`day` of the world of `base` lived by the same users once per arm of `REPLAY_ARMS` (the table firing for
    nobody, then for everybody); `replay_day`'s rows for both arms."""
    return pl.concat([replay_day(base, day, rewrite_table, overrides={"ab_arm": arm}) for arm in REPLAY_ARMS])


def replay_day(
    base: SimConfig | CorpusSimConfig, day: date, rewrite_table: Path, overrides: dict | None = None
) -> pl.DataFrame:
    """Simulate `day` of the world of `base` with the table hooked in; one row per turn. Who the table fires
    for is the world's own A/B (`treatment_fraction`) unless `overrides` (further config fields) say: `ab_arm`
    puts every user in one arm (`replay_counterfactual`), the online three-arm replay sets `online_bundle`,
    `online_key` and `online_arm`."""
    cls = type(base)
    config = cls(
        **{
            **{f.name: getattr(base, f.name) for f in fields(cls)},
            "start": day,
            "days": 1,
            "annotation_rate": 1.0,
            "rewrite_table": Path(rewrite_table),
            **(overrides or {}),
        }
    )
    if isinstance(config, CorpusSimConfig):
        config = replace(config, unannotated_last_days=0)
    with tempfile.TemporaryDirectory(prefix="selflearn-replay-") as tmp:
        raw = Path(tmp) / "raw"
        if isinstance(config, CorpusSimConfig):
            simulate_corpus(config, raw, progress=False)
        else:
            simulate(config, raw, progress=False)
        con = duckdb.connect()
        try:
            ingest_turns(con, raw, day, REPLAY_KEY, lake=Lake(str(Path(tmp) / "lake")))
            ingest_annotations(con, raw, day)
            turns = query_pl(con, "evaluation/replay_turns.sql")
        finally:
            con.close()
    sources = pl.read_parquet(rewrite_table, columns=["source_text"])["source_text"].cast(pl.String)
    covered = normalize_expr("asr_text").is_in(sources.implode())  # an empty table's column has no type
    return turns.with_columns(covered=covered).drop("asr_text")
