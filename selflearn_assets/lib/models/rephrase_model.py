"""The contextual rephrase detector (ContReph; Wang et al., EMNLP 2021), sized for a CPU, and its pairwise
baseline: their settings, the networks, their training and their predictions.

**Model.** The paper fine-tunes BERT over the sequence of a turn and its followers (`rephrase_features`); on a
CPU the encoder stays *frozen* and a small trainable Transformer (1-2 layers) reads, per token, the sum of the
projected frozen token and sentence embeddings, the projected pair features and learnt position, segment,
gap-bucket and metadata embeddings. Two linear heads give start and end logits per token. Only [CLS]
(position 0, "no rephrase") and the followers' utterance tokens may be chosen (other positions are masked).
Training minimises the cross-entropy of the start and end positions of the target span, gold targets weighted
`gold_weight` times the weak ones (`training_loop.fit`: early stopping on the validation loss of a split by
session).

**Decoding.** The best span (s <= e inside one follower's utterance, score start[s] + end[e]) against the
null score start[0] + end[0]: the span's follower is the predicted rephrase of the turn, if it wins. For
scoring pairs, P(follower k) = mean over the start and end softmaxes (over the allowed positions) of the
mass on follower k's utterance tokens; P(none) is the mass on [CLS]; they sum to 1.

**Cost.** One encoder pass per distinct utterance (cached), then a Transformer of ~0.1M parameters over sequences
of ~30-110 tokens, batched by length; torch runs on one thread. On the demo world (3 days x 2,000 users, ~6,900
training examples, MiniLM) the `rephrase_model` asset takes about 100 s on a busy 2-core machine.

**Pairwise baseline.** A classifier on (turn, candidate) pairs alone: mean-pooled frozen embeddings a, b of
the two utterances, [a, b, |a - b|, a * b, gap / max_gap_s] -> MLP -> P(rephrase). No response, no other turn.
It predicts every pair with P >= `baseline_threshold`.

**Labels** (`rephrase_data.build_examples`): gold `rephrase_of` where annotated, else weak labels from implicit
signals (defective turn followed by a similar one).

**Scoring `signals.rephrase_candidates`.** `make_model_scorer(model, embedder, con)` returns a `ModelScorer`
that loads the turns of the pairs' days and sessions from `ingest.clean_turns` on `con` (responses, statuses,
times), builds the example of every first turn of a pair and returns P(second | first) for every candidate
pair; NaN where the second turn is not among the first turn's followers (e.g. a window other than the model's).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

from selflearn_assets.lib.models import training_loop
from selflearn_assets.lib.models.rephrase_data import (
    RephraseExample,
    RephraseWindow,
    build_examples,
    load_rephrase_turns,
)
from selflearn_assets.lib.models.rephrase_features import (
    N_PAIR_FEATURES,
    STATUSES,
    SequenceEncoder,
    collate,
    pair_rows,
    pair_tensors,
    token_table,
    with_token_vectors,
)
from selflearn_assets.lib.models.threads import torch_threads

MASKED = -1e4


@dataclass
class RephraseConfig:
    """Every setting of the rephrase detector, its pairwise baseline and their training run, each with its one
    default: the `rephrase_model` asset's run config is generated from these fields (`defs/run_config.py`; all
    but `gap_edges`), and the benches use them too."""

    window_days: int = 14  # the latest ingested days that train and evaluate the model (the asset reads them)
    max_sessions: int = 6000  # training sessions (all audited ones first, then a seeded sample)
    d_model: int = 64  # width of the token vectors and of the Transformer
    layers: int = 2  # Transformer layers
    heads: int = 4  # attention heads per layer (must divide d_model)
    dropout: float = 0.0  # early stopping regularises; dropout's sampling was a quarter of a CPU step
    max_gap_s: float = 45.0  # followers are the turns that start within this many seconds of the turn ...
    max_following: int = 3  # ... at most this many
    min_jaccard: float = 0.3  # weak labels: token Jaccard of a rephrase at least this (see rephrase_data) ...
    min_edit_ratio: float = 0.6  # ... or its edit ratio at least this
    max_utt_tokens: int = 12  # word pieces kept of each utterance
    max_resp_tokens: int = 8  # enough for "sorry, i couldn't find ..." / "here's something i found ..."
    gap_edges: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 30.0)  # seconds: buckets of the <gapk> embeddings
    lr: float = 2e-3  # AdamW learning rate (detector and baseline)
    batch_size: int = 64  # examples of similar length are batched together (less padding)
    epochs: int = 12  # at most (early stopping may end sooner)
    patience: int = 3  # early stopping on validation loss
    val_fraction: float = 0.15  # training sessions held out for early stopping
    gold_weight: float = 3.0  # loss weight of an example whose target is gold (weak: 1)
    seed: int = 0  # the training-session sample, the validation split, initial weights and batch order
    baseline_hidden: int = 64  # hidden width of the pairwise baseline's MLP
    baseline_threshold: float = 0.5  # the baseline predicts a pair with P(rephrase) at least this

    @property
    def window(self) -> RephraseWindow:
        return RephraseWindow(self.max_gap_s, self.max_following, self.min_jaccard, self.min_edit_ratio)

    @property
    def max_length(self) -> int:
        u, r = self.max_utt_tokens, self.max_resp_tokens
        return 1 + (u + 1) + (r + 1) + self.max_following * (1 + u + 1 + r + 1)


def config_params(config: RephraseConfig) -> dict[str, object]:
    """The config as MLflow params."""
    return asdict(config)


# ------------------------------------------------------------------------------------------------ models


class ContRephModel(nn.Module):
    """Frozen token and sentence embeddings + learnt context embeddings -> small Transformer -> start/end logits
    per token (see the module docstring). Holds no copy of the encoder: `token_vectors` and `sentences` come
    with the batch; `encoder_path` names the encoder it was trained with ("" = the default one)."""

    def __init__(
        self, token_dim: int, sentence_dim: int, config: RephraseConfig, encoder_path: str = ""
    ) -> None:
        super().__init__()
        self.config, self.encoder_path = config, encoder_path
        d = config.d_model
        self.token_dim, self.sentence_dim = token_dim, sentence_dim
        self.project = nn.Linear(token_dim, d)
        self.sentence = nn.Linear(sentence_dim, d, bias=False)
        self.pair = nn.Linear(N_PAIR_FEATURES, d, bias=False)
        self.meta = nn.Embedding(4 * len(STATUSES), d)
        self.gap = nn.Embedding(len(config.gap_edges) + 2, d)  # 0: not a gap slot
        self.segment = nn.Embedding(2 + 2 * config.max_following, d)
        self.position = nn.Embedding(config.max_length, d)
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(d, config.heads, 2 * d, config.dropout, batch_first=True)
        self.context = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.span = nn.Linear(d, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        b, length = batch["tokens"].shape
        rows = torch.arange(b).unsqueeze(1)
        positions = torch.arange(length).unsqueeze(0).expand(b, length)
        x = (
            self.project(batch["token_vectors"])
            + self.sentence(batch["sentences"])[rows, batch["utt_slot"]]
            + self.pair(batch["pairs"])[rows, batch["pair_slot"]]
            + self.meta(batch["meta"])
            + self.gap(batch["gaps"])
            + self.segment(batch["segments"])
            + self.position(positions)
        )
        h = self.context(self.drop(self.norm(x)), src_key_padding_mask=~batch["mask"])
        logits = self.span(h).masked_fill(~batch["allowed"].unsqueeze(-1), MASKED)
        return logits[..., 0], logits[..., 1]


class PairwiseRephraseModel(nn.Module):
    """MLP over [a, b, |a - b|, a * b, gap / max_gap_s] of two frozen utterance embeddings -> logit."""

    def __init__(self, dim: int, config: RephraseConfig) -> None:
        super().__init__()
        self.config = config
        h = config.baseline_hidden
        self.mlp = nn.Sequential(
            nn.Linear(4 * dim + 1, h), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(h, 1)
        )

    def forward(self, a: torch.Tensor, b: torch.Tensor, gap_s: torch.Tensor) -> torch.Tensor:
        gap = (gap_s / self.config.max_gap_s).unsqueeze(-1)
        return self.mlp(torch.cat([a, b, (a - b).abs(), a * b, gap], dim=-1)).squeeze(-1)


def span_loss(model: ContRephModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Weighted mean over examples of the start and end cross-entropies."""
    start, end = model(batch)
    ce = nn.functional.cross_entropy
    per_example = 0.5 * (
        ce(start, batch["start"], reduction="none") + ce(end, batch["end"], reduction="none")
    )
    weight = batch.get("weight")
    if weight is None:
        return per_example.mean()
    return (per_example * weight).sum() / weight.sum()


def pair_loss(model: PairwiseRephraseModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(
        model(batch["a"], batch["b"], batch["gap"]), batch["label"]
    )


# ---------------------------------------------------------------------------------------------- training


def split_examples(examples: list[RephraseExample], val_fraction: float, seed: int):
    """(train, validation) examples, split by session (a seeded `val_fraction` of them for validation)."""
    ids = sorted({ex.session_id for ex in examples})
    random.Random(seed).shuffle(ids)
    n_val = max(1, int(len(ids) * val_fraction)) if len(ids) > 1 else 0
    held = set(ids[:n_val])
    return [ex for ex in examples if ex.session_id not in held], [
        ex for ex in examples if ex.session_id in held
    ]


def training_examples(turns: pl.DataFrame, config: RephraseConfig) -> list[RephraseExample]:
    """The examples of `turns` that have followers (a turn without one is always none: nothing to learn)."""
    examples = [ex for ex in build_examples(turns, config.window) if ex.followers]
    if not examples:
        raise ValueError("no turn has a following turn within the window: nothing to train on")
    return examples


def _fit(model, train_batches, val_batches, loss_fn, config: RephraseConfig, progress: bool, desc: str):
    """The shared training loop over ready batches (their order shuffled each epoch), early stopping on the
    mean validation loss; returns (history, best validation loss)."""
    gen = torch.Generator().manual_seed(config.seed)
    held = val_batches or train_batches

    def validate(m) -> dict[str, float]:
        return {"val_loss": float(np.mean([loss_fn(m, b).item() for b in held]))}

    fit = training_loop.fit(
        model, lambda: training_loop.shuffled(train_batches, gen), loss_fn, epochs=config.epochs, lr=config.lr,
        validate=validate, patience=config.patience, desc=desc, progress=progress,
    )  # fmt: skip
    return fit.history, (float("inf") if fit.best_score is None else fit.best_score)


def _label_counts(examples: list[RephraseExample]) -> dict[str, float]:
    return {
        "n_rephrase_targets": float(sum(ex.target >= 0 for ex in examples)),
        "n_gold_examples": float(sum(ex.gold for ex in examples)),
        "n_gold_rephrase_targets": float(sum(ex.gold and ex.target >= 0 for ex in examples)),
    }


def train_rephrase_detector(
    turns: pl.DataFrame,
    embedder,
    config: RephraseConfig,
    progress: bool = True,
    encoder_path: str = "",
    examples: list[RephraseExample] | None = None,
) -> tuple[ContRephModel, list[dict[str, float]], dict[str, float]]:
    """Train ContReph on the examples of `turns` (rows of `load_rephrase_turns`; or on `examples` when given) with
    the tokenizer, frozen input token embeddings and sentence embeddings of `embedder` (a TurnEmbedder).
    Validation split by session; returns (best model, per-epoch history, metrics)."""
    torch.manual_seed(config.seed)
    examples = examples if examples is not None else training_examples(turns, config)
    train, val = split_examples(examples, config.val_fraction, config.seed)
    seq = SequenceEncoder(embedder, config)
    pad = embedder.tokenizer.pad_token_id or 0
    table = token_table(embedder)

    def batches(exs):
        items = sorted(seq.encode(exs, progress=progress), key=lambda it: len(it.tokens))
        return [collate(chunk, pad) for chunk in training_loop.chunks(items, config.batch_size)]

    train_batches, val_batches = batches(train), batches(val)
    model = ContRephModel(table.shape[1], embedder.dim, config, encoder_path)

    def loss_fn(m, batch):
        return span_loss(m, with_token_vectors(batch, table))

    history, best = _fit(
        model, train_batches, val_batches, loss_fn, config, progress, "rephrase detector (ContReph)"
    )
    metrics = {"best_val_loss": best, "epochs_run": float(len(history))}
    metrics |= {"n_train_examples": float(len(train)), "n_val_examples": float(len(val))}
    return model, history, metrics | _label_counts(examples)


def train_pairwise_baseline(
    turns: pl.DataFrame,
    embedder,
    config: RephraseConfig,
    progress: bool = True,
    examples: list[RephraseExample] | None = None,
) -> tuple[PairwiseRephraseModel, list[dict[str, float]], dict[str, float]]:
    """Train the pairwise baseline on the same examples (each (turn, follower) pair one row, label = it is the
    target). Returns (best model, per-epoch history, metrics)."""
    torch.manual_seed(config.seed)
    examples = examples if examples is not None else training_examples(turns, config)
    train, val = split_examples(examples, config.val_fraction, config.seed)

    def batches(exs):
        rows = pair_rows(exs)
        if not rows:
            return []
        t = pair_tensors(rows, embedder)
        return [
            {k: v[i : i + config.batch_size] for k, v in t.items()}
            for i in range(0, len(rows), config.batch_size)
        ]

    model = PairwiseRephraseModel(embedder.dim, config)
    history, best = _fit(
        model, batches(train), batches(val), pair_loss, config, progress, "rephrase pairwise baseline"
    )
    metrics = {
        "best_val_loss": best,
        "epochs_run": float(len(history)),
        "n_train_examples": float(len(train)),
    }
    return model, history, metrics | _label_counts(examples)


# -------------------------------------------------------------------------------------------- prediction


@dataclass
class SpanPrediction:
    """Decoded span (token positions; (0, 0) = [CLS] = none), its follower (-1 none) and turn probabilities."""

    start: int
    end: int
    follower: int
    follower_probs: list[float]
    none_prob: float


def decode(start: np.ndarray, end: np.ndarray, spans: Sequence[tuple[int, int]]) -> SpanPrediction:
    """Best span inside one follower's utterance vs the null span (see the module docstring)."""
    best, choice = start[0] + end[0], (0, 0, -1)
    for k, (s0, e0) in enumerate(spans):
        st, en = start[s0 : e0 + 1], end[s0 : e0 + 1]
        score = st[:, None] + en[None, :]
        score = np.where(np.triu(np.ones_like(score, dtype=bool)), score, -np.inf)
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[i, j] > best:
            best, choice = score[i, j], (s0 + int(i), s0 + int(j), k)
    allowed = np.zeros(len(start), dtype=bool)
    allowed[0] = True
    for s0, e0 in spans:
        allowed[s0 : e0 + 1] = True
    ps = _softmax(np.where(allowed, start, -np.inf))
    pe = _softmax(np.where(allowed, end, -np.inf))
    probs = [float(0.5 * (ps[s0 : e0 + 1].sum() + pe[s0 : e0 + 1].sum())) for s0, e0 in spans]
    return SpanPrediction(choice[0], choice[1], choice[2], probs, float(0.5 * (ps[0] + pe[0])))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


@torch.no_grad()
def predict_spans(
    model: ContRephModel, embedder, examples: Sequence[RephraseExample], batch_size: int = 128
) -> list[SpanPrediction]:
    """One SpanPrediction per example (an example without followers: none with probability 1)."""
    model.eval()
    seq = SequenceEncoder(embedder, model.config)
    pad = embedder.tokenizer.pad_token_id or 0
    table = token_table(embedder)
    encoded = seq.encode(examples)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].tokens))  # batches of similar length
    out: list[SpanPrediction | None] = [None] * len(encoded)
    with torch_threads(1):
        for chunk in training_loop.chunks(order, batch_size):
            items = [encoded[i] for i in chunk]
            start, end = model(with_token_vectors(collate(items, pad), table))
            for b, (i, it) in enumerate(zip(chunk, items, strict=True)):
                n = len(it.tokens)
                out[i] = decode(start[b, :n].numpy(), end[b, :n].numpy(), it.spans)
    return out


@torch.no_grad()
def predict_pairwise(
    model: PairwiseRephraseModel, embedder, examples: Sequence[RephraseExample]
) -> list[list[float]]:
    """P(rephrase) of every follower of every example."""
    model.eval()
    out = [[0.0] * len(ex.followers) for ex in examples]
    rows = pair_rows(examples)
    if rows:
        t = pair_tensors(rows, embedder)
        probs = torch.sigmoid(model(t["a"], t["b"], t["gap"])).numpy()
        for (i, k, *_), p in zip(rows, probs, strict=True):
            out[i][k] = float(p)
    return out


def make_model_scorer(model: ContRephModel, embedder, con, batch_size: int = 128):
    """A `signals.rephrase.ModelScorer` backed by `model`: see the module docstring. `con` must hold
    `ingest.clean_turns` (and `ingest.annotations`) of the pairs' days."""

    def score(pairs: pl.DataFrame) -> np.ndarray:
        if pairs.is_empty():
            return np.zeros(0, dtype=np.float64)
        days = sorted(set(pairs["day"].to_list()))
        turns = load_rephrase_turns(con, days)
        turns = turns.filter(pl.col("session_id").is_in(pairs["session_id"].unique().implode()))
        firsts = set(pairs["first_event_id"].to_list())
        examples = [
            ex for ex in build_examples(turns, model.config.window) if ex.event_id in firsts and ex.followers
        ]
        probs: dict[tuple[str, str], float] = {}
        for ex, p in zip(examples, predict_spans(model, embedder, examples, batch_size), strict=True):
            probs.update({(ex.event_id, f): q for f, q in zip(ex.followers, p.follower_probs, strict=True)})
        keys = zip(pairs["first_event_id"], pairs["second_event_id"], strict=True)
        return np.clip(np.array([probs.get(k, np.nan) for k in keys], dtype=np.float64), 0.0, 1.0)

    return score
