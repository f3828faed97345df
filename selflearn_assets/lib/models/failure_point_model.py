"""The failure-point isolation model (Khaziev et al., NAACL 2022), sized for a CPU.

The request, the response and the next two turns (request and response of each, within the context window)
are embedded by the frozen pretrained encoder; a "mixing encoder" (a small Transformer) reads those six text
tokens, each with a learnt slot embedding, next to a metadata token built from the wake score, ASR and NLU
confidences, the ASR n-best margin, ER and response status, barge-in, feedback, device type, time gaps and
word overlap and embedding cosine similarity between the request, its response and the following requests
(a rejected or repeated request, a response about something else). The metadata token's output predicts the first component that
failed irrecoverably: false_wake, asr, nlu, er, result, or correct.

Training: class-weighted cross-entropy (inverse square root of class frequency), gold labels at weight 1 and,
optionally, weak labels at `weak_weight`; early stopping on the validation macro-F1 over gold turns (the shared
loop of `training_loop`).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
import torch
from sklearn.metrics import f1_score
from torch import nn

from selflearn_assets.lib.models import training_loop
from selflearn_assets.lib.models.failure_point_data import CLASSES
from selflearn_assets.lib.models.failure_point_features import (
    CATEGORICALS,
    COSINE_PAIRS,
    IGNORE,
    N_NUMERIC,
    TEXT_SLOTS,
    FailureFeatureSpec,
    FailureTensors,
    encode,
)
from selflearn_assets.lib.models.threads import torch_threads


@dataclass
class FailurePointConfig:
    """Every setting of the failure-point model and its training run, each with its one default: the
    `failure_point_model` asset's run config is generated from these fields (`defs/run_config.py`), and the
    benches use them too."""

    window_days: int = 14  # the latest ingested days that train and evaluate the model (the asset reads them)
    d_model: int = 64  # width of the text and metadata tokens and of the mixing encoder
    layers: int = 2  # mixing-encoder layers
    heads: int = 4  # attention heads per layer (must divide d_model)
    dropout: float = 0.1  # of the mixing encoder and before the head
    lr: float = 2e-3  # AdamW learning rate
    batch_size: int = 128  # turns per training batch
    epochs: int = 40  # at most (early stopping may end sooner)
    patience: int = 6  # epochs without a better validation macro-F1
    weak_weight: float = 0.3  # weight of weak labels; a tracked run also trains a gold-only variant (0: none)
    max_weak_per_class: int = 2000  # a seeded sample of each weak class, so `correct` does not swamp the rest
    val_fraction: float = 0.2  # gold sessions held out for early stopping
    seed: int = 0  # the weak-label sample, the validation split, initial weights and batch order


class FailurePointModel(nn.Module):
    def __init__(self, spec: FailureFeatureSpec, text_dim: int, config: FailurePointConfig) -> None:
        super().__init__()
        self.spec, self.config = spec, config
        d = config.d_model
        self.text = nn.Sequential(nn.Linear(text_dim, d), nn.LayerNorm(d))
        self.slot = nn.Embedding(len(TEXT_SLOTS) + 1, d)  # + the metadata token
        self.cats = nn.ModuleList(nn.Embedding(len(spec.categories[c]), 8) for c in CATEGORICALS)
        self.meta = nn.Sequential(
            nn.Linear(N_NUMERIC + len(COSINE_PAIRS) + 8 * len(CATEGORICALS), d),
            nn.GELU(),
            nn.Linear(d, d),
            nn.LayerNorm(d),
        )
        layer = nn.TransformerEncoderLayer(d, config.heads, 2 * d, config.dropout, batch_first=True)
        self.mixer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(2 * d, len(spec.classes)))

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, cats: torch.Tensor, nums: torch.Tensor):
        """(B, 6, D), (B, 6) bool, (B, C) long, (B, N_NUMERIC) -> class logits (B, 6)."""
        cat = torch.cat([emb(cats[:, i]) for i, emb in enumerate(self.cats)], dim=-1)
        cosine = torch.stack(
            [
                nn.functional.cosine_similarity(text[:, a], text[:, b], dim=-1)
                * (text_mask[:, a] & text_mask[:, b])
                for a, b in COSINE_PAIRS
            ],
            dim=-1,
        )
        meta = self.meta(torch.cat([nums, cosine, cat], dim=-1))
        slots = self.slot.weight
        tokens = torch.cat([(meta + slots[0]).unsqueeze(1), self.text(text) + slots[1:]], dim=1)
        mask = torch.cat([torch.ones_like(text_mask[:, :1]), text_mask], dim=1)
        mixed = self.mixer(tokens, src_key_padding_mask=~mask)
        return self.head(torch.cat([mixed[:, 0], meta], dim=-1))


def _batch(data: FailureTensors, rows) -> tuple[torch.Tensor, ...]:
    return data.text[rows], data.text_mask[rows], data.cats[rows], data.nums[rows]


@torch.no_grad()
def predict_proba(model: FailurePointModel, data: FailureTensors, batch_size: int = 512) -> np.ndarray:
    """(N, 6) class probabilities."""
    model.eval()
    with torch_threads(1):
        out = [
            torch.softmax(model(*_batch(data, slice(s, s + batch_size))), dim=-1).numpy()
            for s in range(0, data.nums.shape[0], batch_size)
        ]
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


def class_weights(target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Inverse square root of each class's frequency among labelled rows, mean 1 (unseen classes get the max)."""
    known = target[target != IGNORE]
    counts = torch.bincount(known, minlength=n_classes).float()
    weights = torch.where(counts > 0, counts.clamp(min=1).rsqrt(), torch.zeros_like(counts))
    weights = torch.where(counts > 0, weights, weights.max())
    return weights / weights.mean()


def _labelled(frames: pl.DataFrame, config: FailurePointConfig) -> pl.DataFrame:
    """The rows that carry a training signal: gold, plus (with a weak weight) a capped sample of each weak class."""
    gold = frames.filter(pl.col("gold_failure_point").is_not_null())
    if config.weak_weight <= 0:
        return gold
    weak = frames.filter(pl.col("gold_failure_point").is_null() & pl.col("weak_failure_point").is_not_null())
    sampled = [
        group.sample(min(group.height, config.max_weak_per_class), seed=config.seed)
        for _, group in weak.sort("event_id").group_by("weak_failure_point", maintain_order=True)
    ]
    return pl.concat([gold, *sampled]) if sampled else gold


def _split(frames: pl.DataFrame, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation): validation = a share of the gold sessions, never their weak rows."""
    gold_sessions = sorted(
        set(frames.filter(pl.col("gold_failure_point").is_not_null())["session_id"].to_list())
    )
    random.Random(seed).shuffle(gold_sessions)
    held = (
        set(gold_sessions[: max(1, int(len(gold_sessions) * val_fraction))])
        if len(gold_sessions) > 1
        else set()
    )
    in_val = frames["session_id"].is_in(list(held)).to_numpy()
    return np.flatnonzero(~in_val), np.flatnonzero(
        in_val & frames["gold_failure_point"].is_not_null().to_numpy()
    )


def train_failure_point_model(
    frames: pl.DataFrame, config: FailurePointConfig, embedder, progress: bool = True
) -> tuple[FailurePointModel, list[dict[str, float]], dict[str, float]]:
    """Fit on `frames` (gold, plus weak labels at `config.weak_weight`); returns the model with the best
    validation macro-F1, the per-epoch history and fit metrics."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    frames = _labelled(frames, config)
    spec = FailureFeatureSpec.fit(frames)
    data = encode(frames, spec, embedder, weak_weight=config.weak_weight, progress=progress)
    train_rows, val_rows = _split(frames, config.val_fraction, config.seed)
    train_rows = train_rows[data.target[train_rows].numpy() != IGNORE]
    if len(train_rows) == 0:
        raise ValueError("no labelled turns to train the failure-point model on")
    model = FailurePointModel(spec, embedder.dim, config)
    loss_fn = nn.CrossEntropyLoss(
        weight=class_weights(data.target[train_rows], len(CLASSES)), reduction="none"
    )
    train_index = torch.from_numpy(train_rows)
    eval_rows = val_rows if len(val_rows) else train_rows

    def weighted_loss(m, rows):
        w = data.weight[rows]
        return (loss_fn(m(*_batch(data, rows)), data.target[rows]) * w).sum() / w.sum()

    run = training_loop.fit(
        model, lambda: training_loop.chunks(training_loop.shuffled(train_index, gen), config.batch_size),
        weighted_loss, epochs=config.epochs, lr=config.lr, desc="failure-point model", progress=progress,
        validate=lambda m: _validation(m, data, eval_rows, loss_fn), monitor="val_macro_f1",
        higher_is_better=True, patience=config.patience, weigh=len,
        row=lambda epoch, means: {"epoch": float(epoch), "train_loss": means["loss"]},
    )  # fmt: skip
    fit = {
        "best_val_macro_f1": float(run.best_score or 0.0),
        "best_epoch": float(run.best_epoch),
        "epochs_run": float(run.epochs_run),
        "n_train_turns": float(len(train_rows)),
        "n_train_gold_turns": float((data.weight[train_index] == 1.0).sum()),
        "n_val_turns": float(len(val_rows)),
    }
    return model, run.history, fit


@torch.no_grad()
def _validation(model, data: FailureTensors, rows: np.ndarray, loss_fn) -> dict[str, float]:
    model.eval()
    index = torch.from_numpy(rows)
    logits = model(*_batch(data, index))
    target = data.target[index]
    loss = loss_fn(logits, target).mean().item()
    pred = logits.argmax(-1).numpy()
    return {
        "val_loss": loss,
        "val_accuracy": float((pred == target.numpy()).mean()),
        "val_macro_f1": float(
            f1_score(target.numpy(), pred, average="macro", labels=range(len(CLASSES)), zero_division=0)
        ),
    }


def predict_failure_points(model: FailurePointModel, frames: pl.DataFrame, embedder) -> pl.DataFrame:
    """One row per turn: event_id, session_id, failure_point, failure_point_confidence and p_<class>."""
    data = encode(frames, model.spec, embedder)
    p = predict_proba(model, data)
    chosen = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=np.int64)
    columns = {
        "event_id": frames["event_id"],
        "session_id": frames["session_id"],
        "failure_point": pl.Series([model.spec.classes[i] for i in chosen], dtype=pl.String),
        "failure_point_confidence": pl.Series(p.max(axis=1) if len(p) else [], dtype=pl.Float64),
    }
    for i, name in enumerate(model.spec.classes):
        columns[f"p_{name}"] = pl.Series(p[:, i], dtype=pl.Float64)
    return pl.DataFrame(columns)


def config_params(config: FailurePointConfig) -> dict[str, object]:
    return asdict(config)
