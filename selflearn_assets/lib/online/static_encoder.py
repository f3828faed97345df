"""The runtime's request encoder: a static-embedding distillation of the platform's encoder.

A transformer forward pass for one short request costs ~16 ms on one core of this machine (all-MiniLM-L6-v2),
more than the online rewriter's whole budget (p99 <= 10 ms). Distillation (the method of model2vec, done here
with the encoder's own tokenizer and weights, no other dependency) runs every token of the encoder's
vocabulary through the transformer once ([CLS] token [SEP], the token's output vector), and every word of the
logs' own vocabulary (`log_vocabulary`: names the word-piece vocabulary splits, "wilkerson") as a whole word
(mean of its pieces' outputs); the vectors are reduced by PCA to `pca_dims` and weighted down for frequent
tokens (SIF with a Zipf prior over the vocabulary's order, as model2vec does). A request is then encoded by a
lookup and a mean: whole words found in the word table, the rest by their word pieces; ~0.1 ms.

Reads only the local encoder directory (never the network): ~40 s for MiniLM on two cores. The folder holds
`vectors.npy` (float32, tokens then words), `words.json` and the encoder's tokenizer.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from selflearn_assets.lib.models.encoder import embed_texts, load_encoder

_WORD = re.compile(r"[^\W\d_][\w']*")
_UNUSED = re.compile(r"^\[unused\d+\]$|^\[[A-Z]+\]$")
SIF_A = 1e-4
VECTORS, WORDS, TOKENIZER = "vectors.npy", "words.json", "tokenizer"


def log_vocabulary(texts: Iterable[str], min_count: int = 2, limit: int = 50_000) -> list[str]:
    """Words of the logs worth a vector of their own: said at least `min_count` times, the `limit` most frequent."""
    counts = Counter(w for text in texts for w in _WORD.findall(text))
    return [w for w, n in counts.most_common(limit) if n >= min_count]


@torch.no_grad()
def _token_vectors(tokenizer, model, batch_size: int = 512, progress: bool = True) -> np.ndarray:
    vocab_size = len(tokenizer)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    out = np.zeros((vocab_size, model.config.hidden_size), dtype=np.float32)
    model.eval()
    for start in tqdm(
        range(0, vocab_size, batch_size), desc="distil tokens", unit="batch", disable=not progress
    ):
        ids = torch.arange(start, min(start + batch_size, vocab_size))
        batch = torch.stack([torch.full_like(ids, cls), ids, torch.full_like(ids, sep)], dim=1)
        hidden = model(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
        out[start : start + len(ids)] = hidden[:, 1].float().numpy()
    return out


def distill(
    encoder_path: str | None,
    out: Path,
    vocabulary: Sequence[str] = (),
    pca_dims: int = 256,
    progress: bool = True,
) -> Path:
    """Distil the encoder at `encoder_path` (None: the platform's default, as `load_encoder`) into `out`."""
    tokenizer, model = load_encoder(encoder_path)
    known = tokenizer.get_vocab()
    words = [w for w in dict.fromkeys(vocabulary) if w not in known]
    tokens = _token_vectors(tokenizer, model, progress=progress)
    word_vectors = embed_texts(tokenizer, model, words, progress=progress) if words else tokens[:0]
    vectors = np.vstack([tokens, word_vectors]).astype(np.float64)
    # PCA (centred SVD) to at most pca_dims dimensions
    centred = vectors - vectors.mean(axis=0)
    dims = min(pca_dims, vectors.shape[1], len(vectors))
    _, _, components = np.linalg.svd(centred[:: max(1, len(centred) // 20000)], full_matrices=False)
    reduced = centred @ components[:dims].T
    # SIF weights over a Zipf prior on the vocabulary's order; whole words of the logs count as rare
    rank = np.arange(1, len(tokens) + 1, dtype=np.float64)
    prior = (1.0 / rank) / (1.0 / rank).sum()
    weights = np.concatenate([SIF_A / (SIF_A + prior), np.ones(len(words))])
    unusable = np.array([bool(_UNUSED.match(t)) for t, _ in sorted(known.items(), key=lambda kv: kv[1])])
    if len(unusable) == len(tokens):
        weights[: len(tokens)][unusable] = 0.0  # special and unused tokens carry no meaning
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / VECTORS, (reduced * weights[:, None]).astype(np.float32))
    (out / WORDS).write_text(json.dumps(words))
    tokenizer.save_pretrained(str(out / TOKENIZER))
    return out


class StaticEncoder:
    """Texts -> unit-length float32 vectors, from a distilled folder."""

    def __init__(self, folder: str | Path) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.vectors = np.load(self.folder / VECTORS)
        self.tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER / "tokenizer.json"))
        self.n_tokens = self.tokenizer.get_vocab_size(with_added_tokens=True)
        words = json.loads((self.folder / WORDS).read_text())
        self.words = {w: self.n_tokens + i for i, w in enumerate(words)}
        self.dim = int(self.vectors.shape[1])

    def _rows(self, text: str) -> list[int]:
        rows, rest = [], []
        for word in text.lower().split():
            row = self.words.get(word)
            if row is None:
                rest.append(word)
            else:
                rows.append(row)
        if rest:
            rows.extend(self.tokenizer.encode(" ".join(rest), add_special_tokens=False).ids)
        return rows

    def encode_one(self, text: str) -> np.ndarray:
        rows = self._rows(text)
        if not rows:
            return np.zeros(self.dim, dtype=np.float32)
        vector = self.vectors[rows].mean(axis=0)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.encode_one(text)
        return out


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero: a text with no known token)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
