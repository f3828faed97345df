"""The contextual rephrase detector (ContReph; Wang et al., EMNLP 2021), sized for a CPU, and its pairwise baseline.

**Formulation.** One example per turn: the turn and the following turns of its session that start within
`max_gap_s` seconds (default 45), at most `max_following` (default 3). They become one token sequence

    [CLS] utt [SEP] resp [SEP] <gap1> next1_utt [SEP] next1_resp [SEP] <gap2> next2_utt [SEP] ...

with word pieces of the encoder's tokenizer (each utterance/response truncated to `max_utt_tokens` /
`max_resp_tokens`). A token's input vector is the encoder's *frozen* input token embedding, projected to
`d_model`, plus learnt position, segment (turn utterance, turn response, follower k utterance / response) and
time-gap embeddings: a `<gapk>` slot carries the learnt embedding of the gap's bucket (edges `gap_edges`
seconds), the only place time enters. A small trainable Transformer encoder (1-2 layers) reads the sequence
and two linear heads give start and end logits per token. Only [CLS] (position 0, meaning "no rephrase") and
the followers' utterance tokens may be chosen (other positions are masked). Training minimises the
cross-entropy of the start and end positions of the target span: the whole utterance of the rephrasing
follower, or [CLS]/[CLS] for none.

**Decoding.** The best span (s <= e inside one follower's utterance, score start[s] + end[e]) against the
null score start[0] + end[0]: the span's follower is the predicted rephrase of the turn, if it wins. For
scoring pairs, P(follower k) = mean over the start and end softmaxes (over the allowed positions) of the
mass on follower k's utterance tokens; P(none) is the mass on [CLS]; they sum to 1.

**Pairwise baseline.** A classifier on (turn, candidate) pairs alone: mean-pooled frozen embeddings a, b of
the two utterances, [a, b, |a - b|, a * b, gap / max_gap_s] -> MLP -> P(rephrase). No response, no other turn.
It predicts every pair with P >= `baseline_threshold`.

**Labels** (`rephrase_data.build_examples`): gold `rephrase_of` where annotated, else weak labels from implicit
signals (defective turn followed by a similar, successful one).

**Scoring `signals.rephrase_candidates`.** `make_model_scorer(model, embedder, con)` returns a `ModelScorer`
that loads the turns of the pairs' days and sessions from `ingest.clean_turns` on `con` (responses, statuses,
times), builds each first turn's example and returns P(second | first) for every candidate pair; NaN where the
second turn is not among the first turn's followers (e.g. a window other than the model's).
"""

from __future__ import annotations

import bisect
import copy
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn
from tqdm.auto import tqdm

from selflearn_assets.lib.models.rephrase_data import (
    RephraseExample,
    RephraseWindow,
    build_examples,
    gold_pairs,
    load_rephrase_turns,
)

EXPERIMENT = "selflearn-rephrase-detector"
MODEL_NAME = "selflearn-rephrase-detector"
MASKED = -1e4


@dataclass
class RephraseConfig:
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    max_gap_s: float = 45.0
    max_following: int = 3
    min_jaccard: float = 0.3  # weak labels (see rephrase_data)
    min_edit_ratio: float = 0.6
    max_utt_tokens: int = 16
    max_resp_tokens: int = 16
    gap_edges: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 30.0)
    lr: float = 2e-3
    batch_size: int = 32
    epochs: int = 20
    patience: int = 3  # early stopping on validation loss
    val_fraction: float = 0.2  # sessions held out for validation
    seed: int = 0
    baseline_hidden: int = 64
    baseline_threshold: float = 0.5

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


# --------------------------------------------------------------------------------------------- encoding


@dataclass
class Encoded:
    """One example as token-level lists; spans[k] = (first, last) position of follower k's utterance."""

    tokens: list[int]
    gaps: list[int]
    segments: list[int]
    spans: list[tuple[int, int]]
    target: tuple[int, int]


class SequenceEncoder:
    """Turns examples into token sequences with the encoder's tokenizer (word pieces cached per text)."""

    def __init__(self, tokenizer, config: RephraseConfig) -> None:
        self.tokenizer, self.config = tokenizer, config
        self.cls, self.sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.gap_slot = (
            tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.unk_token_id
        )
        self.unk = tokenizer.unk_token_id
        self.cache: dict[str, list[int]] = {}

    def _pieces(self, texts: Sequence[str]) -> None:
        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if new:
            ids = self.tokenizer(new, add_special_tokens=False)["input_ids"]
            self.cache.update(zip(new, ids, strict=True))

    def bucket(self, gap_s: float) -> int:
        return 1 + bisect.bisect_left(self.config.gap_edges, gap_s)

    def encode(self, examples: Sequence[RephraseExample]) -> list[Encoded]:
        self._pieces(
            [
                t
                for ex in examples
                for t in (ex.utterance, ex.response, *ex.follower_utterances, *ex.follower_responses)
            ]
        )
        cfg = self.config
        out = []
        for ex in examples:
            tokens, gaps, segs, spans = [self.cls], [0], [0], []

            def add(ids, segment, tokens=tokens, gaps=gaps, segs=segs):
                tokens.extend(ids)
                gaps.extend([0] * len(ids))
                segs.extend([segment] * len(ids))

            add(self.cache[ex.utterance][: cfg.max_utt_tokens] + [self.sep], 0)
            add(self.cache[ex.response][: cfg.max_resp_tokens] + [self.sep], 1)
            for k, (utt, resp, gap) in enumerate(
                zip(ex.follower_utterances, ex.follower_responses, ex.gaps_s, strict=True)
            ):
                if k >= cfg.max_following:
                    break
                tokens.append(self.gap_slot)
                gaps.append(self.bucket(gap))
                segs.append(2 + 2 * k)
                pieces = self.cache[utt][: cfg.max_utt_tokens] or [self.unk]  # a span always exists
                spans.append((len(tokens), len(tokens) + len(pieces) - 1))
                add(pieces + [self.sep], 2 + 2 * k)
                add(self.cache[resp][: cfg.max_resp_tokens] + [self.sep], 3 + 2 * k)
            target = spans[ex.target] if 0 <= ex.target < len(spans) else (0, 0)
            out.append(Encoded(tokens, gaps, segs, spans, target))
        return out


def collate(items: Sequence[Encoded], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad to (B, L): tokens, gaps, segments, mask (real tokens), allowed (CLS + follower utterances), targets."""
    longest = max(len(it.tokens) for it in items)
    b = len(items)
    tokens = torch.full((b, longest), pad_id, dtype=torch.long)
    gaps = torch.zeros((b, longest), dtype=torch.long)
    segments = torch.zeros((b, longest), dtype=torch.long)
    mask = torch.zeros((b, longest), dtype=torch.bool)
    allowed = torch.zeros((b, longest), dtype=torch.bool)
    for i, it in enumerate(items):
        n = len(it.tokens)
        tokens[i, :n] = torch.tensor(it.tokens)
        gaps[i, :n] = torch.tensor(it.gaps)
        segments[i, :n] = torch.tensor(it.segments)
        mask[i, :n] = True
        allowed[i, 0] = True
        for s, e in it.spans:
            allowed[i, s : e + 1] = True
    targets = torch.tensor([it.target for it in items], dtype=torch.long)
    return {"tokens": tokens, "gaps": gaps, "segments": segments, "mask": mask, "allowed": allowed,
            "start": targets[:, 0], "end": targets[:, 1]}  # fmt: skip


# ------------------------------------------------------------------------------------------------ models


class ContRephModel(nn.Module):
    """Frozen token embeddings -> small Transformer -> start/end logits per token (see the module docstring)."""

    def __init__(self, token_embeddings: torch.Tensor, config: RephraseConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.tokens = nn.Embedding.from_pretrained(token_embeddings.detach().clone().float(), freeze=True)
        self.project = nn.Linear(token_embeddings.shape[1], d)
        self.gap = nn.Embedding(len(config.gap_edges) + 2, d)  # 0: not a gap slot
        self.segment = nn.Embedding(2 + 2 * config.max_following, d)
        self.position = nn.Embedding(config.max_length, d)
        self.norm = nn.LayerNorm(d)
        layer = nn.TransformerEncoderLayer(d, config.heads, 2 * d, config.dropout, batch_first=True)
        self.context = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.span = nn.Linear(d, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(start_logits, end_logits), each (B, L); positions other than CLS and follower utterances get -1e4."""
        positions = torch.arange(batch["tokens"].shape[1]).unsqueeze(0)
        x = self.project(self.tokens(batch["tokens"])) + self.gap(batch["gaps"])
        x = self.norm(x + self.segment(batch["segments"]) + self.position(positions))
        h = self.context(x, src_key_padding_mask=~batch["mask"])
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


# ---------------------------------------------------------------------------------------------- training


def _split_examples(examples: list[RephraseExample], val_fraction: float, seed: int):
    ids = sorted({ex.session_id for ex in examples})
    random.Random(seed).shuffle(ids)
    n_val = max(1, int(len(ids) * val_fraction)) if len(ids) > 1 else 0
    held = set(ids[:n_val])
    return [ex for ex in examples if ex.session_id not in held], [
        ex for ex in examples if ex.session_id in held
    ]


def span_loss(model: ContRephModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    start, end = model(batch)
    ce = nn.functional.cross_entropy
    return 0.5 * (ce(start, batch["start"]) + ce(end, batch["end"]))


def _fit(model, train_batches, val_batches, loss_fn, config: RephraseConfig, gen, progress: bool, desc: str):
    """Shared loop: AdamW, shuffled batches, early stopping on validation loss; returns (history, best_val_loss)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr)
    history, best, best_loss, waited = [], copy.deepcopy(model.state_dict()), float("inf"), 0
    for epoch in tqdm(range(config.epochs), desc=desc, disable=not progress):
        model.train()
        total = 0.0
        for i in torch.randperm(len(train_batches), generator=gen).tolist():
            loss = loss_fn(model, train_batches[i])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            total += loss.item()
        model.eval()
        with torch.no_grad():
            val = [loss_fn(model, b).item() for b in (val_batches or train_batches)]
        row = {
            "epoch": epoch,
            "train_loss": total / max(len(train_batches), 1),
            "val_loss": float(np.mean(val)),
        }
        history.append(row)
        if row["val_loss"] < best_loss - 1e-4:
            best, best_loss, waited = copy.deepcopy(model.state_dict()), row["val_loss"], 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    model.load_state_dict(best)
    model.eval()
    return history, best_loss


def _label_counts(examples: list[RephraseExample]) -> dict[str, float]:
    return {
        "n_rephrase_targets": float(sum(ex.target >= 0 for ex in examples)),
        "n_gold_examples": float(sum(ex.gold for ex in examples)),
    }


def train_rephrase_detector(
    turns: pl.DataFrame, embedder, config: RephraseConfig, progress: bool = True
) -> tuple[ContRephModel, list[dict[str, float]], dict[str, float]]:
    """Train ContReph on the examples of `turns` (rows of `load_rephrase_turns`) with the tokenizer and frozen
    input token embeddings of `embedder` (a TurnEmbedder). Turns without followers are left out (their answer
    is always none). Validation split by session; returns (best model, per-epoch history, metrics)."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    examples = [ex for ex in build_examples(turns, config.window) if ex.followers]
    if not examples:
        raise ValueError("no turn has a following turn within the window: nothing to train on")
    train, val = _split_examples(examples, config.val_fraction, config.seed)
    seq = SequenceEncoder(embedder.tokenizer, config)
    pad = embedder.tokenizer.pad_token_id or 0

    def batches(exs):
        size = config.batch_size
        return [collate(seq.encode(exs[i : i + size]), pad) for i in range(0, len(exs), size)]

    model = ContRephModel(embedder.model.get_input_embeddings().weight, config)
    history, best = _fit(model, batches(train), batches(val), span_loss, config, gen, progress, "contreph")
    metrics = {"best_val_loss": best, "epochs_run": float(len(history))}
    metrics |= {"n_train_examples": float(len(train)), "n_val_examples": float(len(val))}
    return model, history, metrics | _label_counts(examples)


def _pair_rows(examples: Sequence[RephraseExample]):
    """(example index, follower index, first text, second text, gap, label) of every (turn, follower) pair."""
    return [
        (i, k, ex.utterance, utt, gap, float(k == ex.target))
        for i, ex in enumerate(examples)
        for k, (utt, gap) in enumerate(zip(ex.follower_utterances, ex.gaps_s, strict=True))
    ]


def _pair_tensors(rows, embedder) -> dict[str, torch.Tensor]:
    return {
        "a": torch.from_numpy(embedder([r[2] for r in rows])),
        "b": torch.from_numpy(embedder([r[3] for r in rows])),
        "gap": torch.tensor([r[4] for r in rows], dtype=torch.float32),
        "label": torch.tensor([r[5] for r in rows], dtype=torch.float32),
    }


def pair_loss(model: PairwiseRephraseModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(
        model(batch["a"], batch["b"], batch["gap"]), batch["label"]
    )


def train_pairwise_baseline(
    turns: pl.DataFrame, embedder, config: RephraseConfig, progress: bool = True
) -> tuple[PairwiseRephraseModel, list[dict[str, float]], dict[str, float]]:
    """Train the pairwise baseline on the same examples (each (turn, follower) pair one row, label = it is the
    target). Returns (best model, per-epoch history, metrics)."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    examples = [ex for ex in build_examples(turns, config.window) if ex.followers]
    if not examples:
        raise ValueError("no turn has a following turn within the window: nothing to train on")
    train, val = _split_examples(examples, config.val_fraction, config.seed)

    def batches(exs):
        rows = _pair_rows(exs)
        if not rows:
            return []
        t = _pair_tensors(rows, embedder)
        return [
            {k: v[i : i + config.batch_size] for k, v in t.items()}
            for i in range(0, len(rows), config.batch_size)
        ]

    model = PairwiseRephraseModel(embedder.dim, config)
    history, best = _fit(model, batches(train), batches(val), pair_loss, config, gen, progress, "pairwise")
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
    model: ContRephModel, embedder, examples: Sequence[RephraseExample], batch_size: int = 64
) -> list[SpanPrediction]:
    """One SpanPrediction per example (examples without followers: none with probability 1)."""
    model.eval()
    seq = SequenceEncoder(embedder.tokenizer, model.config)
    pad = embedder.tokenizer.pad_token_id or 0
    out: list[SpanPrediction] = []
    for i in range(0, len(examples), batch_size):
        items = seq.encode(examples[i : i + batch_size])
        start, end = model(collate(items, pad))
        for b, it in enumerate(items):
            n = len(it.tokens)
            out.append(decode(start[b, :n].numpy(), end[b, :n].numpy(), it.spans))
    return out


@torch.no_grad()
def predict_pairwise(
    model: PairwiseRephraseModel, embedder, examples: Sequence[RephraseExample]
) -> list[list[float]]:
    """P(rephrase) of every follower of every example."""
    model.eval()
    out = [[0.0] * len(ex.followers) for ex in examples]
    rows = _pair_rows(examples)
    if rows:
        t = _pair_tensors(rows, embedder)
        probs = torch.sigmoid(model(t["a"], t["b"], t["gap"])).numpy()
        for (i, k, *_), p in zip(rows, probs, strict=True):
            out[i][k] = float(p)
    return out


# -------------------------------------------------------------------------------------------- evaluation


def pair_prf(predicted: set[tuple[str, str]], gold: set[tuple[str, str]]) -> dict[str, float]:
    """Pair-level precision, recall, F1 (each 0.0 when undefined: no predictions, no gold, or P + R = 0)."""
    tp = len(predicted & gold)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_positives": float(tp),
            "predicted": float(len(predicted)), "gold": float(len(gold))}  # fmt: skip


def evaluate_against_gold(
    detector: ContRephModel, baseline: PairwiseRephraseModel | None, turns: pl.DataFrame, embedder
) -> dict[str, dict[str, float]]:
    """P/R/F1 of the detector (and the pairwise baseline) against gold `rephrase_of` on `turns` (held-out
    sessions, rows of `load_rephrase_turns`). Pairs are (first, second) event ids; only pairs whose second
    turn is gold-annotated count as predictions; gold pairs outside the window count as misses for both."""
    examples = build_examples(turns, detector.config.window)
    annotated = set(turns.filter(pl.col("has_gold_rephrase"))["event_id"].to_list())
    gold = gold_pairs(turns)
    spans = predict_spans(detector, embedder, examples)
    found = {
        (ex.event_id, ex.followers[p.follower])
        for ex, p in zip(examples, spans, strict=True)
        if p.follower >= 0
    }
    report = {"detector": pair_prf({p for p in found if p[1] in annotated}, gold)}
    if baseline is not None:
        probs = predict_pairwise(baseline, embedder, examples)
        threshold = baseline.config.baseline_threshold
        pairs = {
            (ex.event_id, f)
            for ex, ps in zip(examples, probs, strict=True)
            for f, p in zip(ex.followers, ps, strict=True)
            if p >= threshold and f in annotated
        }
        report["pairwise"] = pair_prf(pairs, gold)
    return report


def flat_metrics(report: dict[str, dict[str, float]], prefix: str = "gold_") -> dict[str, float]:
    """{"gold_detector_f1": ..., ...} for MLflow."""
    return {f"{prefix}{model}_{k}": float(v) for model, values in report.items() for k, v in values.items()}


# ------------------------------------------------------------------------------------------------ scorer


def make_model_scorer(model: ContRephModel, embedder, con, batch_size: int = 64):
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


# -------------------------------------------------------------------------------------------------- MLflow


def log_rephrase_run(
    home: str | Path,
    config: RephraseConfig,
    history: list[dict[str, float]],
    metrics: dict[str, float],
    report: dict[str, dict[str, float]] | None = None,
    model: ContRephModel | None = None,
    tags: dict | None = None,
    experiment: str = EXPERIMENT,
) -> str:
    """One MLflow run under `<home>/mlflow/`: config params, per-epoch history, metrics, the gold report
    (flattened) and, when given, the model (pickled torch). Returns the run id."""
    import mlflow

    from selflearn_assets.lib.models import tracking

    tracking.configure(home, experiment)
    with tracking.start_run(experiment, tags=tags, params=config_params(config)) as run:
        tracking.log_epoch_metrics([{k: v for k, v in row.items() if k != "epoch"} for row in history])
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        if report:
            mlflow.log_metrics(flat_metrics(report))
        if model is not None:
            tracking.log_torch_model(model)
        return run.info.run_id
