"""The ranker's weak labels: what users rephrased into after a defect, and nothing for what worked.

Examples come from one day (or a few), and the layers they are retrieved from are built from the days before
it, as at serving time: the index never holds the very session a label comes from.

- a **rephrase request**: a turn the defect model thinks failed (first_defect_prob >= `defect_min`), followed
  in its session by a rephrase (pair score >= `pair_min`) that worked (second_defect_prob < `success_max`):
  the candidate equal to the rephrase's text is a positive, every other candidate a negative;
- a **working request**: a turn that worked (defect_prob < `success_max`): every candidate is a negative
  (rewriting it could only lose), sampled to `working_per_rephrase` times the rephrase requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from selflearn_assets.lib.online.features import feature_matrix
from selflearn_assets.lib.online.layers import Layers


@dataclass(frozen=True)
class ExampleParams:
    defect_min: float = 0.5
    success_max: float = 0.3
    pair_min: float = 0.5
    working_per_rephrase: float = 10.0
    seed: int = 0


def weak_requests(pairs: pl.DataFrame, turns: pl.DataFrame, params: ExampleParams) -> pl.DataFrame:
    """user_id, text, target (null for working requests): `pairs` are rephrase candidates with normalised
    texts (user_id, first_text, second_text, first_defect_prob, second_defect_prob, score); `turns` the
    day's turns (user_id, norm_text, defect_prob)."""
    rephrase = (
        pairs.filter(
            (pl.col("first_defect_prob") >= params.defect_min)
            & (pl.col("second_defect_prob") < params.success_max)
            & (pl.col("score") >= params.pair_min)
            & (pl.col("first_text") != pl.col("second_text"))
            & (pl.col("first_text") != "")
        )
        .sort("score", descending=True)
        .unique(subset=["user_id", "first_text"], keep="first", maintain_order=True)
        .select("user_id", pl.col("first_text").alias("text"), pl.col("second_text").alias("target"))
    )
    working = (
        turns.filter((pl.col("defect_prob") < params.success_max) & (pl.col("norm_text") != ""))
        .select("user_id", pl.col("norm_text").alias("text"))
        .unique(maintain_order=True)
    )
    n = min(working.height, int(max(rephrase.height, 1) * params.working_per_rephrase))
    working = working.sample(n=n, seed=params.seed) if n < working.height else working
    return pl.concat([rephrase, working.with_columns(target=pl.lit(None, dtype=pl.String))]).sort(
        "user_id", "text"
    )


def examples(layers: Layers, encoder, requests: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, request number) over every retrieved candidate of every request."""
    vectors = encoder.encode(requests["text"].to_list())
    xs, ys, groups = [], [], []
    for i, (user, text, target) in enumerate(requests.select("user_id", "text", "target").iter_rows()):
        candidates = layers.retrieve(text, vectors[i], user)
        if not candidates:
            continue
        xs.append(feature_matrix(layers, text, user, candidates))
        ys.append(np.array([c.text == target for c in candidates], dtype=np.int8))
        groups.append(np.full(len(candidates), i))
    if not xs:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int64)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(groups)
