"""Build the online layers and train their ranker from a window of logs: the work of the online assets.

`turns`: the window's turns (day, user_id, norm_text, defect_prob, intent, slots: `store.read_turns`);
`pairs`: rephrase candidates with normalised texts (`store.read_pairs`); `markov`: the day's rewrite table
(or None). The ranker of a window [d1..dn] is trained on day d(n-1)'s requests retrieved from layers built
from d1..d(n-2), as at serving time (the index never holds the request's own session), and judged on day
dn's gold with layers built from d1..d(n-1): the gold day is never in its training data. It needs at least
three days. The served layers are built from the whole window (`make_layers`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from selflearn_assets.lib.online import training
from selflearn_assets.lib.online.entries import EntryParams, global_entries, personal_entries
from selflearn_assets.lib.online.layers import Layers
from selflearn_assets.lib.online.ranker import Ranker, RankerConfig, train_ranker
from selflearn_assets.lib.online.static_encoder import StaticEncoder, distill, log_vocabulary
from selflearn_assets.lib.online.vector_index import recall_at_k

MIN_DAYS = 3


class NotEnoughData(ValueError):
    """The window cannot train a ranker (too few days, no weak positive, no gold): not an error of the data."""


@dataclass(frozen=True)
class OnlineConfig:
    window_days: int = 7
    entries: EntryParams = field(default_factory=EntryParams)
    examples: training.ExampleParams = field(default_factory=training.ExampleParams)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    pca_dims: int = 256
    recall_sample: int = 300


def make_layers(
    turns: pl.DataFrame, markov: pl.DataFrame | None, encoder: StaticEncoder, params: EntryParams
) -> Layers:
    g = global_entries(turns, markov, params)
    p = personal_entries(turns, params)
    return layers_from_entries(g, p, encoder)


def layers_from_entries(g: pl.DataFrame, p: pl.DataFrame, encoder: StaticEncoder) -> Layers:
    return Layers(g, encoder.encode(g["text"].to_list()), p, encoder.encode(p["text"].to_list()))


def index_recall(layers: Layers, sample: int) -> float:
    rows = np.flatnonzero(layers.g_candidate)
    indexed = np.asarray(layers.g_vectors[rows], dtype=np.float32)
    return recall_at_k(layers.index, indexed, keys=rows, sample=sample)


@dataclass
class Trained:
    encoder: StaticEncoder
    ranker: Ranker
    report: dict
    eval_layers: Layers | None  # layers of d1..d(n-1), for judging on day dn's gold


def window_days(turns: pl.DataFrame) -> list:
    return sorted(turns["day"].unique().to_list())


def train_on_window(
    turns: pl.DataFrame,
    pairs: pl.DataFrame,
    markov: pl.DataFrame | None,
    workdir: Path,
    config: OnlineConfig,
    encoder_path: str | None = None,
    log=print,
) -> Trained:
    days = window_days(turns)
    if len(days) < MIN_DAYS:
        raise NotEnoughData(
            f"the online ranker needs at least {MIN_DAYS} days of turns (layers, training day, gold day); "
            f"the window has {len(days)}: {', '.join(map(str, days)) or 'none'}"
        )
    started = time.monotonic()
    log(f"online: distilling the request encoder ({turns.height:,} turns in the window)")
    folder = distill(
        encoder_path, workdir / "encoder", log_vocabulary(turns["norm_text"].to_list()), config.pca_dims
    )
    encoder = StaticEncoder(folder)
    train_day, gold_day = days[-2], days[-1]
    requests = training.weak_requests(
        pairs.filter(pl.col("day") == train_day), turns.filter(pl.col("day") == train_day), config.examples
    )
    log(f"online: {requests.height:,} training requests of {train_day}, layers of {days[0]}..{days[-3]}")
    train_layers = make_layers(turns.filter(pl.col("day") < train_day), None, encoder, config.entries)
    x, y, groups = training.examples(train_layers, encoder, requests)
    if not len(y) or y.min() == y.max():
        raise NotEnoughData(
            f"no weak label of both kinds on {train_day}: {int(y.sum())} of {len(y)} retrieved candidates are what a "
            "user rephrased into after a defect; more users or days give the ranker something to learn"
        )
    ranker, ranker_report = train_ranker(x, y, groups, config.ranker)
    eval_layers = make_layers(turns.filter(pl.col("day") < gold_day), None, encoder, config.entries)
    report = {
        "config": asdict(config),
        "days": [str(d) for d in days],
        "train_day": str(train_day),
        "gold_day": str(gold_day),
        "requests": requests.height,
        "rephrase_requests": requests.filter(pl.col("target").is_not_null()).height,
        "ranker": ranker_report,
        "seconds": round(time.monotonic() - started, 1),
    }
    return Trained(encoder, ranker, report, eval_layers)


@dataclass
class Built:
    layers: Layers
    ranker: Ranker
    encoder: StaticEncoder
    report: dict


def build_online(
    turns: pl.DataFrame,
    pairs: pl.DataFrame,
    markov: pl.DataFrame | None,
    workdir: Path,
    config: OnlineConfig,
    encoder_path: str | None = None,
    log=print,
) -> Built:
    """Train on the window and build the served layers of the whole window (tests, benches)."""
    trained = train_on_window(turns, pairs, markov, workdir, config, encoder_path, log)
    layers = make_layers(turns, markov, trained.encoder, config.entries)
    report = {**trained.report, "recall_at_10": index_recall(layers, config.recall_sample)}
    return Built(layers, trained.ranker, trained.encoder, report)
