"""The ranker's weak labels: what users rephrased into after a defect, and nothing for what worked.

Examples come from the days of the window before its last (gold) day; each day's requests are retrieved
from layers built from the days before it, as at serving time (the index never holds the very session a
label comes from).

- a **rephrase request**: a turn the defect model thinks failed (first_defect_prob >= `defect_min`), followed
  in its session by a rephrase (pair score >= `pair_min`) that worked (second_defect_prob < `success_max`).
  A candidate is a positive when it is the rephrase's text or means what the rephrase meant (the
  assistant's usual interpretation of the candidate, intent and slots, is the one the rephrase got when it
  worked: "play thriller michael jackson" for "play thriller by michael jackson"); every other candidate
  is a negative;
- a **working request**: a turn that worked (defect_prob < `success_max`): every candidate is a negative
  (rewriting it could only lose), sampled to `working_per_rephrase` times the rephrase requests.

Gold turns of the same days (`gold_requests`) go through the same retrieval, unlabelled: the ranker's
threshold is chosen on them (`gold_threshold.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_expr
from selflearn_assets.lib.online.entries import interpretations
from selflearn_assets.lib.online.features import feature_matrix
from selflearn_assets.lib.online.layers import Layers

REQUEST_COLUMNS = {"user_id": pl.String, "text": pl.String, "target": pl.String, "target_intent": pl.String,
                   "target_slots": pl.String}  # fmt: skip


@dataclass(frozen=True)
class ExampleParams:
    defect_min: float = 0.5
    success_max: float = 0.3
    pair_min: float = 0.5
    working_per_rephrase: float = 10.0
    seed: int = 0


def weak_requests(pairs: pl.DataFrame, turns: pl.DataFrame, params: ExampleParams) -> pl.DataFrame:
    """user_id, text, target, target_intent, target_slots (targets null for working requests): `pairs` are
    rephrase candidates with normalised texts (user_id, first_text, second_text, first_defect_prob,
    second_defect_prob, score); `turns` the day's turns (user_id, norm_text, defect_prob, intent, slots)."""
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
    meant = interpretations(turns.rename({"norm_text": "target"}), ["user_id", "target"], params.success_max)
    rephrase = rephrase.join(meant, on=["user_id", "target"], how="left").rename(
        {"intent": "target_intent", "slots": "target_slots"}
    )
    working = (
        turns.filter((pl.col("defect_prob") < params.success_max) & (pl.col("norm_text") != ""))
        .select("user_id", pl.col("norm_text").alias("text"))
        .unique(maintain_order=True)
    )
    n = min(working.height, int(max(rephrase.height, 1) * params.working_per_rephrase))
    working = working.sample(n=n, seed=params.seed) if n < working.height else working
    none = pl.lit(None, dtype=pl.String)
    working = working.with_columns(target=none, target_intent=none, target_slots=none)
    return pl.concat(
        [rephrase.select(list(REQUEST_COLUMNS)).cast(REQUEST_COLUMNS), working.cast(REQUEST_COLUMNS)]
    ).sort("user_id", "text")


@dataclass
class Examples:
    """Every retrieved candidate of every request: features, weak label, request number, speaker, text."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    users: np.ndarray
    texts: list[str]

    @classmethod
    def empty(cls, n_features: int = 0) -> Examples:
        return cls(np.zeros((0, n_features)), np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int64),
                   np.zeros(0, dtype=object), [])  # fmt: skip

    @classmethod
    def concat(cls, parts: list[Examples]) -> Examples:
        """The parts as one, request numbers renumbered so that no two parts share one."""
        parts = [p for p in parts if len(p.y)]
        if not parts:
            return cls.empty()
        groups, offset = [], 0
        for p in parts:
            groups.append(p.groups + offset)
            offset += int(p.groups.max()) + 1
        return cls(np.vstack([p.x for p in parts]), np.concatenate([p.y for p in parts]), np.concatenate(groups),
                   np.concatenate([p.users for p in parts]), [t for p in parts for t in p.texts])  # fmt: skip


def _retrieve_all(layers: Layers, encoder, requests: pl.DataFrame, label) -> Examples:
    vectors = encoder.encode(requests["text"].to_list())
    xs, ys, groups, users, texts = [], [], [], [], []
    for i, row in enumerate(requests.iter_rows(named=True)):
        candidates = layers.retrieve(row["text"], vectors[i], row["user_id"])
        if not candidates:
            continue
        xs.append(feature_matrix(layers, row["text"], row["user_id"], candidates))
        ys.append(np.array([label(row, c) for c in candidates], dtype=np.int8))
        groups.append(np.full(len(candidates), i))
        users.append(np.full(len(candidates), row["user_id"], dtype=object))
        texts.extend(c.text for c in candidates)
    if not xs:
        return Examples.empty()
    return Examples(np.vstack(xs), np.concatenate(ys), np.concatenate(groups), np.concatenate(users), texts)


def examples(layers: Layers, encoder, requests: pl.DataFrame) -> Examples:
    """The weak examples of `weak_requests`' requests retrieved from `layers`."""

    def label(row: dict, cand) -> bool:
        if row["target"] is None:
            return False
        if cand.text == row["target"]:
            return True
        intent, slots = layers.interpretation(cand)
        return intent is not None and (intent, slots or "") == (
            row["target_intent"],
            row["target_slots"] or "",
        )

    return _retrieve_all(layers, encoder, requests, label)


def gold_requests(layers: Layers, encoder, gold: pl.DataFrame) -> tuple[Examples, list[str]]:
    """Gold turns (event_id, user_id, asr_text) retrieved from `layers` as the runtime would: their candidates'
    features (labels all 0: gold is judged on meaning, `gold_threshold.py`) and each row's event id."""
    requests = gold.select(
        "event_id",
        "user_id",
        normalize_expr("asr_text").alias("text"),
    ).filter(pl.col("text") != "")
    found = _retrieve_all(layers, encoder, requests, lambda row, cand: False)
    event_ids = requests["event_id"].to_list()
    return found, [event_ids[g] for g in found.groups.tolist()]
