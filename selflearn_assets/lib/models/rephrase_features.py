"""The rephrase detector's inputs: a turn and its followers as one token sequence with its context, and the
pairwise baseline's (turn, follower) pairs.

**Sequence** (ContReph). One example per turn (`rephrase_data.RephraseExample`): the turn and the following
turns of its session that start within `max_gap_s` seconds, at most `max_following`, as

    [CLS] utt [SEP] resp [SEP] <gap1> next1_utt [SEP] next1_resp [SEP] <gap2> next2_utt [SEP] ...

with word pieces of the encoder's tokenizer (each utterance/response truncated to `max_utt_tokens` /
`max_resp_tokens`). Per token the model reads (`rephrase_model.ContRephModel`):

- the encoder's input embedding of the word piece (looked up at run time from `token_table`, never copied
  into the model: `with_token_vectors`),
- the encoder's mean-pooled *sentence embedding* of the utterance the token belongs to (cached per text: one
  encoder pass per distinct utterance), which carries the meaning that word pieces alone do not,
- its position and segment (turn utterance, turn response, follower k utterance / response),
- for a `<gapk>` slot, the bucket of the time gap (edges `gap_edges` seconds),
- the row of the turn's contract metadata (`meta_index`: response status, barge-in, explicit negative
  feedback; "missing" when the field is absent): the implicit feedback the response text may not show,
- for follower k's tokens, its pair features against the turn: cosine of the two sentence embeddings, token
  Jaccard, edit ratio, gap / max_gap_s, same text.

The target is the span of the rephrasing follower's whole utterance, or [CLS]/[CLS] (position 0) for none;
a gold target weighs `gold_weight`, a weak one 1.

**Pairs** (the pairwise baseline): every (turn, follower) pair as the two utterances' frozen embeddings and the
gap, labelled 1 when the follower is the turn's target.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from selflearn_assets.lib.models.rephrase_data import RephraseExample, edit_ratio, jaccard
from selflearn_assets.lib.models.threads import torch_threads

if TYPE_CHECKING:
    from selflearn_assets.lib.models.rephrase_model import RephraseConfig

STATUSES = ("missing", "success", "error", "clarify", "unsupported", "no_response")
N_PAIR_FEATURES = 5  # cosine, token Jaccard, edit ratio, gap / max_gap_s, same text


def meta_index(meta: tuple[str, bool, bool]) -> int:
    """Row of the metadata embedding: status x barge-in x negative feedback (unknown status = missing)."""
    status, barge, negative = meta
    s = STATUSES.index(status) if status in STATUSES else 0
    return 4 * s + 2 * int(barge) + int(negative)


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
        # one thread: on the shared 2-core machine MiniLM over 1,000 utterances took 14.2 s with 2 threads and
        # 3.3 s with one (sorted by length)
        with torch_threads(1):
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


def pair_rows(examples: Sequence[RephraseExample]) -> list[tuple]:
    """(example index, follower index, first text, second text, gap, label) of every (turn, follower) pair."""
    return [
        (i, k, ex.utterance, utt, gap, float(k == ex.target))
        for i, ex in enumerate(examples)
        for k, (utt, gap) in enumerate(zip(ex.follower_utterances, ex.gaps_s, strict=True))
    ]


def pair_tensors(rows: Sequence[tuple], embedder) -> dict[str, torch.Tensor]:
    """The pairwise baseline's inputs of `pair_rows`: embeddings a, b of the two utterances, gap and label."""
    return {
        "a": torch.from_numpy(embedder([r[2] for r in rows])),
        "b": torch.from_numpy(embedder([r[3] for r in rows])),
        "gap": torch.tensor([r[4] for r in rows], dtype=torch.float32),
        "label": torch.tensor([r[5] for r in rows], dtype=torch.float32),
    }
