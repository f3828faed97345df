"""Build the online layers and train their ranker from a window of logs: the work of the online assets.

`turns`: the window's turns (day, user_id, norm_text, defect_prob, intent, slots: `store.read_turns`);
`pairs`: rephrase candidates with normalised texts (`store.read_pairs`); `markov`: the day's rewrite table
(or None). The ranker of a window [d1..dn] is trained on the requests of days d2..d(n-2), each retrieved from
layers built from the days before it, as at serving time (the index never holds the request's own session);
its threshold is chosen on the gold of d(n-1), a day it did not train on (`gold_threshold.fit_and_choose`;
a 3-day window trains and chooses on d2), and it is judged on day dn's gold with layers built from
d1..d(n-1): the gold day is never in its training data. It needs at least three days.
The served layers are built from the whole window (`make_layers`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from selflearn_assets.lib.online import gold_threshold, training
from selflearn_assets.lib.online.char_channel import char_vectors
from selflearn_assets.lib.online.entries import EntryParams, global_entries, personal_entries
from selflearn_assets.lib.online.layers import Layers
from selflearn_assets.lib.online.ranker import Ranker, RankerConfig
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


def layers_from_entries(
    g: pl.DataFrame, p: pl.DataFrame, encoder: StaticEncoder, blocked: pl.DataFrame | None = None
) -> Layers:
    """The layers of the entries, encoded; `blocked`: (source_text, rewrite_text) pairs never offered."""
    return Layers(
        g, encoder.encode(g["text"].to_list()), p, encoder.encode(p["text"].to_list()), blocked=blocked
    )


def near_miss(text: str, rng: np.random.Generator) -> str:
    """The text with one word dropped (texts of 3+ words, half the time) or one letter of its longest word
    dropped: a request near an entry but not in it, as the index is queried."""
    words = text.split()
    if len(words) >= 3 and rng.random() < 0.5:
        del words[int(rng.integers(1, len(words)))]
    else:
        i = max(range(len(words)), key=lambda j: len(words[j]))
        word = words[i]
        if len(word) >= 3:
            j = int(rng.integers(1, len(word) - 1))
            words[i] = word[:j] + word[j + 1 :]
    return " ".join(words)


def index_recalls(
    layers: Layers, sample: int, encoder: StaticEncoder | None = None, seed: int = 0
) -> dict[str, float]:
    """Recall@10 against exact search (`recall_at_k`) of the embedding index and of the char-trigram index.
    With the layers' `encoder`, the queries are `sample` candidate texts with a word or a letter dropped (as the
    bench's held-out requests); without, `sample` indexed vectors with a little noise."""
    rows = np.flatnonzero(layers.g_candidate)
    indexed = np.asarray(layers.g_vectors[rows], dtype=np.float32)
    chars = char_vectors([layers.g_text[r] for r in rows.tolist()])
    if encoder is None or not len(rows):
        return {
            "embedding": recall_at_k(layers.index, indexed, keys=rows, sample=sample, seed=seed),
            "char": recall_at_k(layers.char_index, chars, keys=rows, sample=sample, seed=seed),
        }
    rng = np.random.default_rng(seed)
    picked = rng.choice(rows, size=min(sample, len(rows)), replace=False)
    texts = [near_miss(layers.g_text[r], rng) for r in picked.tolist()]
    return {
        "embedding": recall_at_k(layers.index, indexed, keys=rows, queries=encoder.encode(texts)),
        "char": recall_at_k(layers.char_index, chars, keys=rows, queries=char_vectors(texts)),
    }


def index_recall(layers: Layers, sample: int, encoder: StaticEncoder | None = None) -> float:
    """The export gate's recall@10: the lower of the two indexes'."""
    return min(index_recalls(layers, sample, encoder).values())


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
    gold: pl.DataFrame | None = None,
    interpretations: pl.DataFrame | None = None,
) -> Trained:
    """Weak examples of every day but the first and the last, each retrieved from the layers of the days
    before it; the ranker and its threshold from `gold_threshold.fit_and_choose` (`gold`: gold turns with a
    `day` column, judged with `interpretations`; without gold, W / (1 + W))."""
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
    train_days, gold_day = days[1:-1], days[-1]
    weak, gold_found, per_day = {}, {}, {}
    for day in train_days:
        layers = make_layers(turns.filter(pl.col("day") < day), None, encoder, config.entries)
        requests = training.weak_requests(
            pairs.filter(pl.col("day") == day), turns.filter(pl.col("day") == day), config.examples
        )
        found = training.examples(layers, encoder, requests)
        weak[day] = found
        day_gold = gold.filter(pl.col("day") == day) if gold is not None and gold.height else None
        if day_gold is not None and day_gold.height:
            gold_found[day] = training.gold_requests(layers, encoder, day_gold)
        per_day[str(day)] = {
            "requests": requests.height,
            "rephrase_requests": requests.filter(pl.col("target").is_not_null()).height,
            "positives": int(found.y.sum()),
            "gold_turns": day_gold.height if day_gold is not None else 0,
        }
        log(f"online: {day}: {per_day[str(day)]['rephrase_requests']:,} rephrase and "
            f"{requests.height - per_day[str(day)]['rephrase_requests']:,} working requests, "
            f"{int(found.y.sum()):,} weak positives, layers of {days[0]}..{day - timedelta(days=1)}")  # fmt: skip
    # only the labels here: fit_and_choose concatenates the examples it fits on
    labels = np.concatenate([found.y for found in weak.values()])
    if not len(labels) or labels.min() == labels.max():
        raise NotEnoughData(
            f"no weak label of both kinds on {', '.join(map(str, train_days))}: {int(labels.sum())} of "
            f"{len(labels)} retrieved candidates are what a user rephrased into after a defect; more users or "
            "days give the ranker something to learn"
        )
    ranker, ranker_report = gold_threshold.fit_and_choose(
        weak, gold_found, gold, interpretations, config.ranker
    )
    log(f"online: ranker fitted on {', '.join(ranker_report['fit_days'])}; threshold "
        f"{ranker.threshold:.3f} from {ranker_report['threshold_source']}")  # fmt: skip
    eval_layers = make_layers(turns.filter(pl.col("day") < gold_day), None, encoder, config.entries)
    report = {
        "config": asdict(config),
        "days": [str(d) for d in days],
        "train_day": ",".join(str(d) for d in train_days),
        "gold_day": str(gold_day),
        "requests": sum(d["requests"] for d in per_day.values()),
        "rephrase_requests": sum(d["rephrase_requests"] for d in per_day.values()),
        "per_day": per_day,
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
    report = {**trained.report, "recall_at_10": index_recall(layers, config.recall_sample, trained.encoder)}
    return Built(layers, trained.ranker, trained.encoder, report)
