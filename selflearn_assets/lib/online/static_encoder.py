"""The runtime's request encoder: a static-embedding distillation (model2vec) of the platform's encoder.

A transformer forward pass for one short request costs ~16 ms on one core of this machine (all-MiniLM-L6-v2),
more than the online rewriter's whole budget (p99 <= 10 ms). model2vec distils the same encoder into one
vector per token of its vocabulary (each token run through the transformer once, then PCA), so a request is
encoded by a lookup and a mean: ~0.2 ms. The logs' own words are added to the vocabulary before distilling
(`vocabulary`), so names the word-piece vocabulary splits ("wilkerson") get a vector of their own. What this
costs in retrieval quality against the transformer is measured by `bench/online_latency.py`.

Distillation reads only the local encoder directory (never the network) and takes ~40 s for MiniLM on two
cores; the result is a folder of a few MB shipped with the export.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from selflearn_assets.lib.models.encoder import load_encoder

_WORD = re.compile(r"[^\W\d_][\w']*")


def log_vocabulary(texts: Iterable[str], min_count: int = 2, limit: int = 50_000) -> list[str]:
    """Words of the logs worth a vector of their own: said at least `min_count` times, the `limit` most frequent."""
    counts = Counter(w for text in texts for w in _WORD.findall(text))
    return [w for w, n in counts.most_common(limit) if n >= min_count]


def distill(encoder_path: str | None, out: Path, vocabulary: Sequence[str] = (), pca_dims: int = 256) -> Path:
    """Distil the encoder at `encoder_path` (None: the platform's default, as `load_encoder`) into `out`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill_from_model

    tokenizer, model = load_encoder(encoder_path)
    known = set(tokenizer.get_vocab())
    extra = [w for w in vocabulary if w not in known]
    dims = min(pca_dims, model.config.hidden_size)
    static = distill_from_model(
        model, tokenizer, vocabulary=extra or None, pca_dims=dims, quantize_to="float32"
    )
    out.mkdir(parents=True, exist_ok=True)
    static.save_pretrained(str(out))
    return out


class StaticEncoder:
    """Texts -> unit-length float32 vectors, from a distilled folder."""

    def __init__(self, folder: str | Path) -> None:
        from model2vec import StaticModel

        self.folder = Path(folder)
        self.model = StaticModel.from_pretrained(str(self.folder), force_download=False)
        self.dim = int(self.model.dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), use_multiprocessing=False).astype(np.float32, copy=False)
        return unit_rows(vectors)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero: a text with no known token)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
