"""`simulate`: write days of raw turn logs and audit annotations, streaming, in chunks of users.

A day is simulated in fixed chunks of `CHUNK_USERS` users, in order; each chunk is a pure function of
(config, day, its users, what they taught the assistant on earlier days), so the files are the same
byte for byte whether chunks run in this process or in `workers` processes, and memory stays bounded
(a chunk's lines, never a whole day).
"""

from __future__ import annotations

import multiprocessing
import random
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import orjson
from tqdm import tqdm

from selflearn_assets.lib.online.preferences import PreferenceStore
from selflearn_assets.lib.online.runtime import Rewriter, pseudonymize
from selflearn_assets.lib.simulator.annotate import annotation_records
from selflearn_assets.lib.simulator.assistant import Assistant
from selflearn_assets.lib.simulator.behaviour import DaySimulator
from selflearn_assets.lib.simulator.catalog import Catalog, build_catalog
from selflearn_assets.lib.simulator.config import SimConfig, SimSummary
from selflearn_assets.lib.simulator.nlu import Nlu
from selflearn_assets.lib.simulator.personal import extend_catalog
from selflearn_assets.lib.simulator.rewrites import (
    in_treatment,
    load_online_rewriters,
    load_rewrite_table,
    online_arm,
)
from selflearn_assets.lib.simulator.text import mix64, stable_int
from selflearn_assets.lib.simulator.users import Population, User
from selflearn_assets.lib.simulator.writer import DayWriter

STAGES = ("false_wake", "asr", "nlu", "er", "result", "correct")
COUNTS = (*STAGES, "personal")  # turns by first failing stage, and defective turns from a personal source
TEACHING_KEY = "selflearn-simulator"  # the simulated runtime's pseudonym key when no online_key is given
CHUNK_USERS = 1024


@lru_cache(maxsize=4)
def build_world(
    world_seed: int, confusable_fraction: float, result_bug_fraction: float, personal: bool = False
) -> tuple[Catalog, Nlu]:
    """The catalog (with its personal world if `personal`) and the assistant's NLU over it (cached: they
    only depend on these arguments)."""
    catalog = build_catalog(world_seed, confusable_fraction, result_bug_fraction)
    if personal:
        catalog.personal = extend_catalog(catalog, world_seed)
    return catalog, Nlu(catalog)


def world_of(cfg: SimConfig) -> tuple[Catalog, Nlu]:
    """The world a config simulates (`build_world` with its arguments)."""
    return build_world(
        cfg.world_seed, cfg.asr_confusable_fraction, cfg.result_bug_fraction, cfg.personal_share > 0
    )


def users_of(cfg: SimConfig) -> tuple[dict[str, User], Population]:
    """Every user of a config as the simulator makes them each day, by user id, and their population
    (a user's own things: `population.profiles.things(user)`, when the config has personal sources)."""
    population = Population(*world_of(cfg), cfg, cfg.seed)
    salt = stable_int(cfg.seed, "user")
    rng = random.Random()
    out = {}
    for idx in range(cfg.users):
        rng.seed(mix64(idx ^ salt))
        u = population.make_user(idx, rng)
        out[u.id] = u
    return out, population


class _Chunks:
    """Simulates chunks of users for one config (one per process)."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        catalog, nlu = world_of(cfg)
        rewrites = load_rewrite_table(cfg.rewrite_table) if cfg.rewrite_table is not None else {}
        self.ab = cfg.rewrite_table is not None or cfg.online_bundle is not None
        self.population = Population(catalog, nlu, cfg, cfg.seed)
        assistant = Assistant(catalog, nlu, cfg, rewrites, self.population.profiles)
        if cfg.online_bundle is not None:
            assistant.online = load_online_rewriters(cfg.online_bundle, cfg.online_key)
        # the runtime that keeps what users teach (taught items only: `Rewriter` with no bundle or table)
        self.key = cfg.online_key or TEACHING_KEY
        assistant.runtime = Rewriter(None, None, self.key, ("personal",), PreferenceStore(), cfg.teaching)
        self.catalog = catalog
        self.sim = DaySimulator(cfg, catalog, self.population, assistant, self.ab)
        self.user_salt = stable_int(cfg.seed, "user")
        self.rng = random.Random()

    def run(self, d: int, lo: int, hi: int, memories: dict[int, dict]):
        """Users lo..hi-1 on day d: (turn lines, annotation lines, what the runtime kept of them (taught items),
        stage counts and annotated turns, sessions)."""
        cfg, sim, rng = self.cfg, self.sim, self.rng
        day = (cfg.start + timedelta(days=d)).isoformat()
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        lines: list[bytes] = []
        labels: list[bytes] = []
        annotator = random.Random(stable_int(cfg.seed, "annotator", day, lo))
        accuracy = cfg.annotator_accuracy

        annotated = [0]

        def emit(rec: dict, gold) -> None:
            lines.append(dumps(rec, option=newline))
            if gold is not None:
                annotated[0] += 1
                labels.extend(
                    dumps(row, option=newline) for row in annotation_records(gold, annotator, accuracy)
                )

        day_salt = stable_int(cfg.seed, "day", day)
        ordinal = (cfg.start + timedelta(days=d)).toordinal()
        sim.stage_counts = dict.fromkeys(COUNTS, 0)
        sim.sessions = 0
        taught = {}
        store = sim.assistant.runtime.preferences
        before = datetime.combine(cfg.start, datetime.min.time(), UTC)
        for idx in range(lo, hi):
            rng.seed(mix64(idx ^ self.user_salt))  # the user's profile: the same every day
            u = self.population.make_user(idx, rng)
            if idx in memories:  # what the runtime kept of this user, as it was at the end of their last day
                store.restore(memories[idx])
            elif u.memory and cfg.teaching:  # taught before the world's first day
                store.teach(pseudonymize(self.key, u.id), "team", self.catalog.entities[u.memory["team"]].name,
                            f"before-{u.id}", ts=before)  # fmt: skip
            if cfg.online_bundle is not None:  # three arms, each with the table: the arm's name
                u.treated = cfg.online_arm or online_arm(cfg.seed, u.id)
            elif cfg.ab_arm is not None:  # the counterfactual replay: every user in one arm
                u.treated = self.ab and cfg.ab_arm == "treatment"
            else:
                u.treated = self.ab and in_treatment(cfg.seed, u.id, cfg.treatment_fraction)
            rng.seed(mix64(idx ^ day_salt))  # what they do today
            sim.user_day(u, ordinal, f"{day}T", rng, emit)
            items = store.items_of(pseudonymize(self.key, u.id))
            if items:
                taught[idx] = items
        return lines, labels, taught, {**sim.stage_counts, "annotated": annotated[0]}, sim.sessions


_worker: _Chunks | None = None


def _init_worker(cfg: SimConfig) -> None:
    global _worker
    _worker = _Chunks(cfg)


def _run_chunk(args):
    return _worker.run(*args)


def simulate(config: SimConfig, out_dir: Path | str, progress: bool = True) -> SimSummary:
    """Write `out_dir/date=D/part-*.jsonl` (turns) and `out_dir/annotations/date=D/part-*.jsonl` for
    each day of the config. Deterministic: the same config writes byte-identical files (whatever
    `config.workers`)."""
    began = time.perf_counter()
    cfg = config
    out = Path(out_dir)
    local = _Chunks(cfg)  # also builds (and caches) the world before any worker forks
    pool = None
    if cfg.workers > 1:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        pool = ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(cfg,))
    memories: dict[int, list] = {}  # what the runtime kept of each user (taught items), across days
    counts = dict.fromkeys(COUNTS, 0)
    sessions = 0
    turns_per_day: dict[str, int] = {}
    files: list[Path] = []
    annotation_files: list[Path] = []
    annotated = 0
    bar = tqdm(total=cfg.users * cfg.days, disable=not progress, unit="user-day", desc="simulate")
    try:
        for d in range(cfg.days):
            day = (cfg.start + timedelta(days=d)).isoformat()
            turns = DayWriter(out / f"date={day}", cfg.shard_lines)
            labels = DayWriter(out / "annotations" / f"date={day}", cfg.shard_lines)
            chunks = [
                (d, lo, min(lo + CHUNK_USERS, cfg.users), {i: memories[i] for i in range(lo, lo + CHUNK_USERS) if i in memories})
                for lo in range(0, cfg.users, CHUNK_USERS)
            ]  # fmt: skip
            try:
                results = pool.imap(_run_chunk, chunks) if pool else (local.run(*c) for c in chunks)
                for (_, lo, hi, _), (lines, label_lines, taught, chunk_counts, chunk_sessions) in zip(
                    chunks, results, strict=True
                ):
                    turns.write_many(lines)
                    labels.write_many(label_lines)
                    memories.update(taught)
                    annotated += chunk_counts.pop("annotated")
                    for stage, n in chunk_counts.items():
                        counts[stage] += n
                    sessions += chunk_sessions
                    bar.update(hi - lo)
                    bar.set_postfix(day=day, turns=turns.lines, refresh=False)
            except BaseException:
                turns.abort()
                labels.abort()
                raise
            turns_per_day[day] = turns.lines
            files += turns.close()
            annotation_files += labels.close()
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    total = sum(turns_per_day.values())
    by_stage = {s: (counts[s] / total if total else 0.0) for s in STAGES}
    return SimSummary(
        turns_per_day=turns_per_day,
        sessions=sessions,
        users=cfg.users,
        defect_rate_by_stage=by_stage,
        defect_rate=1.0 - by_stage["correct"],
        personal_defect_rate=counts["personal"] / total if total else 0.0,
        files=files,
        annotation_files=annotation_files,
        annotated_turns=annotated,
        seconds=time.perf_counter() - began,
    )
