"""Inputs of the failure-point model: vocabularies fitted on training frames, and per-turn tensors.

Six text slots (request, response, and the request and response of the next two turns within the context
window) are embedded by the frozen encoder; absent slots are masked. Metadata is a numeric vector (each
optional field with a missing flag) plus categorical fields (device type, response status, ER status, and
the status of each following turn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from selflearn_assets.lib.models.failure_point_data import CLASSES

TEXT_SLOTS = (
    "utterance",
    "response",
    "next1_utterance",
    "next1_response",
    "next2_utterance",
    "next2_response",
)
CATEGORICALS = ("device_type", "status", "er_status", "next1_status", "next2_status")
IGNORE = -100
N_NUMERIC = 29
# pairs of text slots whose cosine similarity the model sees: request~response, request~next requests,
# response~next response
COSINE_PAIRS = ((0, 1), (0, 2), (0, 4), (1, 3))


@dataclass
class FailureFeatureSpec:
    """Categorical vocabularies learnt from training frames; index 0 of each is the out-of-vocabulary bucket."""

    categories: dict[str, list[str]]
    classes: tuple[str, ...] = CLASSES

    @classmethod
    def fit(cls, frames: pl.DataFrame) -> FailureFeatureSpec:
        vocab = {c: ["<oov>", *sorted(set(frames[c].fill_null("none").to_list()))] for c in CATEGORICALS}
        return cls(categories=vocab)


@dataclass
class FailureTensors:
    text: torch.Tensor  # (N, 6, D) embeddings of TEXT_SLOTS
    text_mask: torch.Tensor  # (N, 6) True where the slot is present
    cats: torch.Tensor  # (N, len(CATEGORICALS)) long
    nums: torch.Tensor  # (N, N_NUMERIC) float
    target: torch.Tensor  # (N,) long class index, IGNORE without a label
    weight: torch.Tensor  # (N,) sample weight (gold 1, weak `weak_weight`, none 0)


def _numeric(frames: pl.DataFrame) -> np.ndarray:
    def value(name: str, fill: float) -> np.ndarray:
        return frames[name].cast(pl.Float64).fill_null(fill).to_numpy()

    def missing(name: str) -> np.ndarray:
        return frames[name].is_null().to_numpy()

    def log_gap(name: str) -> np.ndarray:
        return np.log1p(np.clip(value(name, 0.0), 0, None)) / 4

    feedback = frames["explicit_feedback"]
    cols = [
        value("wake_score", 1.0),
        missing("wake_score"),
        value("asr_conf", 1.0),
        missing("asr_conf"),
        value("nlu_conf", 1.0),
        missing("nlu_conf"),
        value("asr_margin", 0.5),
        missing("asr_margin"),
        np.log1p(value("n_tokens", 0.0)) / 3,
        frames["utterance"].str.len_chars().eq(0).to_numpy(),
        frames["response"].str.len_chars().eq(0).to_numpy(),
        frames["barge_in"].fill_null(False).to_numpy(),
        (feedback == "negative").fill_null(False).to_numpy(),
        (feedback == "positive").fill_null(False).to_numpy(),
        frames["rewritten"].fill_null(False).to_numpy(),
        log_gap("next1_gap_s"),
        missing("next1_gap_s"),
        log_gap("next2_gap_s"),
        missing("next2_gap_s"),
        value("next1_overlap", 0.0),
        value("next2_overlap", 0.0),
        value("response_overlap", 0.0),
        value("response_coverage", 1.0),
        value("next1_coverage", 0.0),
        value("next1_new_share", 0.0),
        frames["next1_barge_in"].fill_null(False).to_numpy(),
        (frames["next1_intent"] == frames["nlu_intent"]).fill_null(False).to_numpy(),
        frames["retry"].fill_null(False).to_numpy(),
        np.minimum(value("turn_index", 0.0), 10) / 10,
    ]
    out = np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=1)
    assert out.shape[1] == N_NUMERIC, out.shape
    return out


def _index(values, vocab: list[str]) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(vocab)}
    return np.array([lookup.get(v, 0) for v in values], dtype=np.int64)


def targets(frames: pl.DataFrame, weak_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(class index, sample weight): gold where annotated, else the weak label at `weak_weight` (0 drops it)."""
    gold = frames["gold_failure_point"].to_list()
    weak = (
        frames["weak_failure_point"].to_list()
        if "weak_failure_point" in frames.columns
        else [None] * len(gold)
    )
    index = {c: i for i, c in enumerate(CLASSES)}
    target = np.full(len(gold), IGNORE, dtype=np.int64)
    weight = np.zeros(len(gold), dtype=np.float32)
    for row, (g, w) in enumerate(zip(gold, weak, strict=True)):
        if g in index:
            target[row], weight[row] = index[g], 1.0
        elif w in index and weak_weight > 0:
            target[row], weight[row] = index[w], weak_weight
    return target, weight


def encode(
    frames: pl.DataFrame, spec: FailureFeatureSpec, embedder, weak_weight: float = 0.0, progress: bool = False
) -> FailureTensors:
    """Tensors of `frames` (a frame of `failure_point_data.load_failure_point_frames`)."""
    n = frames.height
    texts = [frames[s].fill_null("").to_list() for s in TEXT_SLOTS]
    flat = embedder([t for column in texts for t in column], progress=progress)
    text = (
        flat.reshape(len(TEXT_SLOTS), n, -1).transpose(1, 0, 2)
        if n
        else np.zeros((0, 6, embedder.dim), np.float32)
    )
    present = np.stack([frames[s].is_not_null().to_numpy() for s in TEXT_SLOTS], axis=1)
    present[:, 0] = True  # the request slot is always there (it may be "" for no speech)
    cats = np.stack(
        [_index(frames[c].fill_null("none").to_list(), spec.categories[c]) for c in CATEGORICALS], axis=1
    )
    target, weight = targets(frames, weak_weight)
    return FailureTensors(
        text=torch.from_numpy(np.ascontiguousarray(text, dtype=np.float32)),
        text_mask=torch.from_numpy(present.astype(bool)),
        cats=torch.from_numpy(cats),
        nums=torch.from_numpy(_numeric(frames)),
        target=torch.from_numpy(target),
        weight=torch.from_numpy(weight),
    )
