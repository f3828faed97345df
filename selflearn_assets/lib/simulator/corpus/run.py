"""Run a corpus world over days and write it: turns, audit annotations, and the evaluation gold.

Layout under `out_dir` (the raw-root layout, plus `_gold/` that the pipeline never reads):

    date=D/part-*.jsonl               turns (raw-log contract)
    annotations/date=D/part-*.jsonl   audit sample: `gold` + `ann_1` records (annotations contract)
    _gold/date=D/part-*.jsonl         every turn's 7 `gold` records, for judges and benches
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from pathlib import Path

import orjson
from tqdm import tqdm

from selflearn_assets.lib.simulator.annotate import ROWS_PER_ANNOTATED_TURN
from selflearn_assets.lib.simulator.config import SimSummary
from selflearn_assets.lib.simulator.corpus.annotate import CorpusAnnotator
from selflearn_assets.lib.simulator.corpus.config import CorpusSimConfig
from selflearn_assets.lib.simulator.corpus.load import Corpus, load_corpus
from selflearn_assets.lib.simulator.corpus.world import STAGES, CorpusWorld, in_corpus_audit
from selflearn_assets.lib.simulator.rewrites import load_rewrite_table
from selflearn_assets.lib.simulator.text import stable_int
from selflearn_assets.lib.simulator.writer import DayWriter

GOLD_FOLDER = "_gold"


def simulate_corpus(
    config: CorpusSimConfig, out_dir: Path | str, progress: bool = True, corpus: Corpus | None = None
) -> SimSummary:
    """Write each day of the corpus world under `out_dir` (see the module docstring). Deterministic:
    the same config (and corpus) writes byte-identical files. `corpus` skips loading `config.corpus`."""
    began = time.perf_counter()
    cfg = config
    out = Path(out_dir)
    corpus = corpus if corpus is not None else load_corpus(cfg.corpus)
    rewrites = load_rewrite_table(cfg.rewrite_table) if cfg.rewrite_table is not None else {}
    world = CorpusWorld(cfg, corpus, rewrites)
    annotator = CorpusAnnotator(corpus.intents(), cfg.annotator_accuracy)
    profiles = [world.profile(i) for i in range(cfg.users)]
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    turns_per_day: dict[str, int] = {}
    files: list[Path] = []
    annotation_files: list[Path] = []
    annotated = 0
    bar = tqdm(total=cfg.users * cfg.days, disable=not progress, unit="user-day", desc="simulate corpus")
    try:
        for d in range(cfg.days):
            day = cfg.start + timedelta(days=d)
            key = day.isoformat()
            writers = [
                DayWriter(out / sub / f"date={key}", cfg.shard_lines)
                for sub in ("", "annotations", GOLD_FOLDER)
            ]
            turns, labels, gold_out = writers
            rng = random.Random(stable_int(cfg.seed, "annotator", key))
            audit: dict[str, bool] = {}

            def emit(
                rec: dict, gold, d=d, audit=audit, rng=rng, turns=turns, labels=labels, gold_out=gold_out
            ) -> None:
                turns.write(dumps(rec, option=newline))
                rows = annotator.gold_records(gold)
                gold_out.write_many([dumps(r, option=newline) for r in rows])
                sid = rec["session_id"]
                if sid not in audit:
                    audit[sid] = in_corpus_audit(cfg, d, sid)
                if audit[sid]:
                    rows = rows + annotator.annotator_records(gold, rng)
                    labels.write_many([dumps(r, option=newline) for r in rows])

            try:
                for u in profiles:
                    world.user_day(u, day, emit)
                    bar.update(1)
            except BaseException:
                for w in writers:
                    w.abort()
                raise
            turns_per_day[key] = turns.lines
            annotated += labels.lines // ROWS_PER_ANNOTATED_TURN
            files += turns.close()
            annotation_files += labels.close()
            gold_out.close()
    finally:
        bar.close()
    total = sum(turns_per_day.values())
    by_stage = {s: (world.stage_counts[s] / total if total else 0.0) for s in STAGES}
    return SimSummary(
        turns_per_day=turns_per_day,
        sessions=world.sessions,
        users=cfg.users,
        defect_rate_by_stage=by_stage,
        defect_rate=1.0 - by_stage["correct"],
        files=files,
        annotation_files=annotation_files,
        annotated_turns=annotated,
        seconds=time.perf_counter() - began,
    )
