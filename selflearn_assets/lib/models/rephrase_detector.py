"""The contextual rephrase detector (ContReph; Wang et al., EMNLP 2021), sized for a CPU, and its pairwise baseline.

**Formulation.** One example per turn: the turn and the following turns of its session that start within
`max_gap_s` seconds (default 45), at most `max_following` (default 3). They become one token sequence

    [CLS] utt [SEP] resp [SEP] <gap1> next1_utt [SEP] next1_resp [SEP] <gap2> next2_utt [SEP] ...

with word pieces of the encoder's tokenizer (each utterance/response truncated to `max_utt_tokens` /
`max_resp_tokens`). The paper fine-tunes BERT over this sequence; on a CPU the encoder stays *frozen* and a
small trainable Transformer (1-2 layers) reads the sum, per token, of

- the encoder's input embedding of the word piece (looked up at run time, never copied into the model),
- the encoder's mean-pooled *sentence embedding* of the utterance the token belongs to (cached per text: one
  encoder pass per distinct utterance), which carries the meaning that word pieces alone do not,
- learnt position and segment (turn utterance, turn response, follower k utterance / response) embeddings,
- a `<gapk>` slot's learnt embedding of the time gap's bucket (edges `gap_edges` seconds),
- a learnt embedding of the turn's contract metadata (response status, barge-in, explicit negative feedback;
  "missing" when the field is absent): the implicit feedback the response text may not show,
- for follower k's tokens, a projection of its pair features against the turn: cosine of the two sentence
  embeddings, token Jaccard, edit ratio, gap / max_gap_s, same text.

Two linear heads give start and end logits per token. Only [CLS] (position 0, "no rephrase") and the
followers' utterance tokens may be chosen (other positions are masked). Training minimises the cross-entropy
of the start and end positions of the target span (the whole utterance of the rephrasing follower, or
[CLS]/[CLS] for none), gold targets weighted `gold_weight` times the weak ones.

**Decoding.** The best span (s <= e inside one follower's utterance, score start[s] + end[e]) against the
null score start[0] + end[0]: the span's follower is the predicted rephrase of the turn, if it wins. For
scoring pairs, P(follower k) = mean over the start and end softmaxes (over the allowed positions) of the
mass on follower k's utterance tokens; P(none) is the mass on [CLS]; they sum to 1.

**Cost.** One encoder pass per distinct utterance (cached), then a Transformer of ~0.1M parameters over sequences
of ~30-110 tokens, batched by length; torch runs on one thread (`one_thread`). On the demo world (3 days x 2,000
users, ~6,900 training examples, MiniLM) the `rephrase_model` asset takes about 100 s on a busy 2-core machine.

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

import bisect
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
import torch
from torch import nn
from tqdm.auto import tqdm

from selflearn_assets.lib.models.early_stopping import EarlyStopping
from selflearn_assets.lib.models.rephrase_data import (
    RephraseExample,
    RephraseWindow,
    build_examples,
    edit_ratio,
    gold_pairs,
    jaccard,
    load_rephrase_turns,
)

MASKED = -1e4
STATUSES = ("missing", "success", "error", "clarify", "unsupported", "no_response")
N_PAIR_FEATURES = 5  # cosine, token Jaccard, edit ratio, gap / max_gap_s, same text


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


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread. The detector's matrices (batch x ~60 tokens x 64) are too small to gain
    from more, and on a busy CPU the threads' synchronisation costs several times the work: on the shared 2-core
    machine a training step took 4x, and MiniLM over 1,000 utterances 14.2 s with 2 threads vs 3.3 s with one
    (sorted by length)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def meta_index(meta: tuple[str, bool, bool]) -> int:
    """Row of the metadata embedding: status x barge-in x negative feedback (unknown status = missing)."""
    status, barge, negative = meta
    s = STATUSES.index(status) if status in STATUSES else 0
    return 4 * s + 2 * int(barge) + int(negative)


# --------------------------------------------------------------------------------------------- encoding


@dataclass
class Encoded:
    """One example as token-level lists; spans[k] = (first, last) position of follower k's utterance.

    Per token: the word piece, gap bucket (0 = not a gap slot), segment, metadata row (0 = [CLS]), utterance
    slot (0 none, 1 the turn, 2 + k follower k) and pair slot (0 none, 1 + k follower k). `sentences` holds the
    sentence embeddings of the utterance slots 1.. and `pairs` the pair features of followers 0.."""

    tokens: list[int]
    gaps: list[int]
    segments: list[int]
    meta: list[int]
    utt_slot: list[int]
    pair_slot: list[int]
    spans: list[tuple[int, int]]
    target: tuple[int, int]
    sentences: np.ndarray  # (1 + followers, dim)
    pairs: np.ndarray  # (followers, N_PAIR_FEATURES)
    weight: float = 1.0


class SequenceEncoder:
    """Turns examples into token sequences with the encoder's tokenizer (word pieces cached per text) and the
    embedder's sentence embeddings (cached per text by the embedder)."""

    def __init__(self, embedder, config: RephraseConfig) -> None:
        self.embedder, self.config = embedder, config
        tokenizer = embedder.tokenizer
        self.tokenizer = tokenizer
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

    def encode(self, examples: Sequence[RephraseExample], progress: bool = False) -> list[Encoded]:
        self._pieces(
            [
                t
                for ex in examples
                for t in (ex.utterance, ex.response, *ex.follower_utterances, *ex.follower_responses)
            ]
        )
        # by length, so the encoder's batches carry little padding (the embedder caches per text, order is free)
        utterances = sorted(
            dict.fromkeys(t for ex in examples for t in (ex.utterance, *ex.follower_utterances)), key=len
        )
        with one_thread():
            vectors = (
                self.embedder(utterances, progress=progress)
                if utterances
                else np.zeros((0, self.embedder.dim))
            )
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
        row = {t: i for i, t in enumerate(utterances)}
        return [self._encode_one(ex, vectors, unit, row) for ex in examples]

    def _encode_one(self, ex: RephraseExample, vectors, unit, row) -> Encoded:
        cfg = self.config
        k_max = min(len(ex.followers), cfg.max_following)
        it = Encoded([self.cls], [0], [0], [0], [0], [0], [], (0, 0), np.zeros(0), np.zeros(0))

        def add(ids, segment, meta, utt_slot=0, pair_slot=0):
            n = len(ids)
            it.tokens.extend(ids)
            it.gaps.extend([0] * n)
            it.segments.extend([segment] * n)
            it.meta.extend([meta] * n)
            it.utt_slot.extend([utt_slot] * n)
            it.pair_slot.extend([pair_slot] * n)

        own = meta_index(ex.meta)
        add(self.cache[ex.utterance][: cfg.max_utt_tokens] + [self.sep], 0, own, utt_slot=1)
        add(self.cache[ex.response][: cfg.max_resp_tokens] + [self.sep], 1, own)
        pairs = np.zeros((k_max, N_PAIR_FEATURES), dtype=np.float32)
        metas = ex.follower_meta or [("missing", False, False)] * len(ex.followers)
        for k in range(k_max):
            utt, resp, gap = ex.follower_utterances[k], ex.follower_responses[k], ex.gaps_s[k]
            meta = meta_index(metas[k])
            pairs[k] = (
                float(unit[row[ex.utterance]] @ unit[row[utt]]),
                jaccard(ex.utterance, utt),
                edit_ratio(ex.utterance, utt),
                min(gap, cfg.max_gap_s) / cfg.max_gap_s,
                float(ex.utterance.strip().lower() == utt.strip().lower()),
            )
            add([self.gap_slot], 2 + 2 * k, meta, pair_slot=1 + k)
            it.gaps[-1] = self.bucket(gap)
            pieces = self.cache[utt][: cfg.max_utt_tokens] or [self.unk]  # a span always exists
            it.spans.append((len(it.tokens), len(it.tokens) + len(pieces) - 1))
            add(pieces + [self.sep], 2 + 2 * k, meta, utt_slot=2 + k, pair_slot=1 + k)
            add(self.cache[resp][: cfg.max_resp_tokens] + [self.sep], 3 + 2 * k, meta, pair_slot=1 + k)
        texts = [ex.utterance, *ex.follower_utterances[:k_max]]
        it.sentences = np.stack([vectors[row[t]] for t in texts]).astype(np.float32)
        it.pairs = pairs
        it.target = it.spans[ex.target] if 0 <= ex.target < len(it.spans) else (0, 0)
        it.weight = self.config.gold_weight if ex.gold else 1.0
        return it


def collate(items: Sequence[Encoded], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad to (B, L): tokens, gaps, segments, meta, utterance / pair slots, mask (real tokens), allowed (CLS +
    follower utterances), targets and weights; sentences (B, S, dim) and pairs (B, S, N_PAIR_FEATURES) with
    slot 0 all zeros (tokens outside any utterance / follower)."""
    longest = max(len(it.tokens) for it in items)
    slots = 2 + max(len(it.spans) for it in items)
    dim = items[0].sentences.shape[1]
    b = len(items)
    out = {name: torch.zeros((b, longest), dtype=torch.long)
           for name in ("tokens", "gaps", "segments", "meta", "utt_slot", "pair_slot")}  # fmt: skip
    out["tokens"].fill_(pad_id)
    mask = torch.zeros((b, longest), dtype=torch.bool)
    allowed = torch.zeros((b, longest), dtype=torch.bool)
    sentences = torch.zeros((b, slots, dim))
    pairs = torch.zeros((b, slots, N_PAIR_FEATURES))
    for i, it in enumerate(items):
        n = len(it.tokens)
        for name in ("tokens", "gaps", "segments", "meta", "utt_slot", "pair_slot"):
            out[name][i, :n] = torch.tensor(getattr(it, name))
        mask[i, :n] = True
        allowed[i, 0] = True
        for s, e in it.spans:
            allowed[i, s : e + 1] = True
        sentences[i, 1 : 1 + len(it.sentences)] = torch.from_numpy(it.sentences)
        pairs[i, 1 : 1 + len(it.pairs)] = torch.from_numpy(it.pairs)
    targets = torch.tensor([it.target for it in items], dtype=torch.long)
    return {**out, "mask": mask, "allowed": allowed, "sentences": sentences, "pairs": pairs,
            "start": targets[:, 0], "end": targets[:, 1],
            "weight": torch.tensor([it.weight for it in items], dtype=torch.float32)}  # fmt: skip


def token_table(embedder) -> torch.Tensor:
    """The encoder's frozen input token embeddings (vocab, dim)."""
    return embedder.model.get_input_embeddings().weight.detach()


def with_token_vectors(batch: dict[str, torch.Tensor], table: torch.Tensor) -> dict[str, torch.Tensor]:
    """The batch plus `token_vectors` (B, L, dim): the frozen input embeddings of its word pieces."""
    return {**batch, "token_vectors": nn.functional.embedding(batch["tokens"], table)}


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


@one_thread()
def _fit(model, train_batches, val_batches, loss_fn, config: RephraseConfig, gen, progress: bool, desc: str):
    """Shared loop: AdamW, shuffled batches, early stopping on validation loss; returns (history, best_val_loss)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr)
    stopper = EarlyStopping(config.patience)
    history = []
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
        if stopper.step(model, row["val_loss"]):
            break
    stopper.restore(model).eval()
    return history, (float("inf") if stopper.best_score is None else stopper.best_score)


def _chunks(items: Sequence, size: int) -> list:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _label_counts(examples: list[RephraseExample]) -> dict[str, float]:
    return {
        "n_rephrase_targets": float(sum(ex.target >= 0 for ex in examples)),
        "n_gold_examples": float(sum(ex.gold for ex in examples)),
        "n_gold_rephrase_targets": float(sum(ex.gold and ex.target >= 0 for ex in examples)),
    }


def training_examples(turns: pl.DataFrame, config: RephraseConfig) -> list[RephraseExample]:
    """The examples of `turns` that have followers (a turn without one is always none: nothing to learn)."""
    examples = [ex for ex in build_examples(turns, config.window) if ex.followers]
    if not examples:
        raise ValueError("no turn has a following turn within the window: nothing to train on")
    return examples


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
    gen = torch.Generator().manual_seed(config.seed)
    examples = examples if examples is not None else training_examples(turns, config)
    train, val = split_examples(examples, config.val_fraction, config.seed)
    seq = SequenceEncoder(embedder, config)
    pad = embedder.tokenizer.pad_token_id or 0
    table = token_table(embedder)

    def batches(exs):
        items = sorted(seq.encode(exs, progress=progress), key=lambda it: len(it.tokens))
        return [collate(chunk, pad) for chunk in _chunks(items, config.batch_size)]

    train_batches, val_batches = batches(train), batches(val)
    model = ContRephModel(table.shape[1], embedder.dim, config, encoder_path)

    def loss_fn(m, batch):
        return span_loss(m, with_token_vectors(batch, table))

    history, best = _fit(model, train_batches, val_batches, loss_fn, config, gen, progress, "contreph")
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
    turns: pl.DataFrame,
    embedder,
    config: RephraseConfig,
    progress: bool = True,
    examples: list[RephraseExample] | None = None,
) -> tuple[PairwiseRephraseModel, list[dict[str, float]], dict[str, float]]:
    """Train the pairwise baseline on the same examples (each (turn, follower) pair one row, label = it is the
    target). Returns (best model, per-epoch history, metrics)."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    examples = examples if examples is not None else training_examples(turns, config)
    train, val = split_examples(examples, config.val_fraction, config.seed)

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
    with one_thread():
        for chunk in _chunks(order, batch_size):
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


def score_pairs(
    detector: ContRephModel, baseline: PairwiseRephraseModel | None, turns: pl.DataFrame, embedder
) -> pl.DataFrame:
    """Every (turn, follower) pair of `turns` whose second turn is gold-annotated: gold label, the detector's
    P(follower) and decision, the baseline's P(rephrase) (NaN without a baseline), and follower position."""
    examples = build_examples(turns, detector.config.window)
    annotated = set(turns.filter(pl.col("has_gold_rephrase"))["event_id"].to_list())
    gold = gold_pairs(turns)
    spans = predict_spans(detector, embedder, examples)
    base = predict_pairwise(baseline, embedder, examples) if baseline is not None else None
    rows = []
    for i, (ex, p) in enumerate(zip(examples, spans, strict=True)):
        for k, f in enumerate(ex.followers):
            if f in annotated:
                b = base[i][k] if base is not None else float("nan")
                rows.append(
                    (ex.event_id, f, k, (ex.event_id, f) in gold, p.follower_probs[k], p.follower == k, b)
                )
    schema = {"first_event_id": pl.String, "second_event_id": pl.String, "position": pl.Int64, "gold": pl.Boolean,
              "detector_prob": pl.Float64, "detector_pred": pl.Boolean, "baseline_prob": pl.Float64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def evaluate_against_gold(
    detector: ContRephModel, baseline: PairwiseRephraseModel | None, turns: pl.DataFrame, embedder
) -> dict[str, dict[str, float]]:
    """P/R/F1 of the detector (and the pairwise baseline) against gold `rephrase_of` on `turns` (held-out
    sessions, rows of `load_rephrase_turns`). Pairs are (first, second) event ids; only pairs whose second
    turn is gold-annotated count as predictions; gold pairs outside the window count as misses for both."""
    scored = score_pairs(detector, baseline, turns, embedder)
    gold = gold_pairs(turns)

    def found(predicate: pl.Expr) -> set[tuple[str, str]]:
        return set(scored.filter(predicate).select("first_event_id", "second_event_id").iter_rows())

    report = {"detector": pair_prf(found(pl.col("detector_pred")), gold)}
    if baseline is not None:
        report["pairwise"] = pair_prf(
            found(pl.col("baseline_prob") >= baseline.config.baseline_threshold), gold
        )
    return report


def flat_metrics(report: dict[str, dict[str, float]], prefix: str = "gold_") -> dict[str, float]:
    """{"gold_detector_f1": ..., ...} for MLflow."""
    return {f"{prefix}{model}_{k}": float(v) for model, values in report.items() for k, v in values.items()}


# ------------------------------------------------------------------------------------------------ scorer


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
