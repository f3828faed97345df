"""The global layer's approximate-nearest-neighbour index: usearch HNSW over unit vectors, cosine metric.

Chosen by measurement (`bench/online_latency.py`): for 1M entries of 256 dimensions, usearch answers a single
query on one core in about a millisecond, its index is one file that is memory-mapped on load (`view`: the service
starts in milliseconds and shares pages between processes), and it is a maintained PyPI wheel with no system
dependency. Keys are the row numbers of the entries table the index was built with (or the `keys` given).

expansion_search 192 (was 96): at 1M entries it lifts recall@10 on the bench's held-out requests from 0.897 to
0.920 (embedding index) and from 0.949 to 0.963 (char-trigram index) for 1.7-1.9x the CPU of a search (~1 ms);
beyond it the embedding index's curve is flat (0.933 at 384, 3.8x), so 0.95 there needs a denser graph: at
connectivity 32 and expansion_search 256 it is 0.954, for ~2.9x the CPU of a search at 16 / 96 and a third more
memory, which the 10 ms p99 budget may not afford (README, bench rows).

`recall_at_k` measures an index against exact search, counting ties at the k-th place as found; the export is
gated on it (`build.index_recalls`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_CONNECTIVITY = 16
DEFAULT_EXPANSION_ADD = 128
DEFAULT_EXPANSION_SEARCH = 192
TIE_TOLERANCE = 1e-3  # of cosine similarity: ann-benchmarks' epsilon, about the float16 rounding of a cosine


@dataclass(frozen=True)
class Hits:
    keys: np.ndarray  # int64 row numbers, best first
    similarities: np.ndarray  # cosine similarity, 1 = same direction


class VectorIndex:
    def __init__(self, index, vectors_dim: int) -> None:
        self.index = index
        self.dim = vectors_dim

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        keys: np.ndarray | None = None,
        connectivity: int = DEFAULT_CONNECTIVITY,
        expansion_add: int = DEFAULT_EXPANSION_ADD,
        expansion_search: int = DEFAULT_EXPANSION_SEARCH,
        threads: int = 0,
    ) -> VectorIndex:
        from usearch.index import Index

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = Index(
            ndim=vectors.shape[1],
            metric="cos",
            dtype="f16",
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        if len(vectors):
            keys = (
                np.arange(len(vectors), dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
            )
            index.add(keys, vectors, threads=threads)
        return cls(index, vectors.shape[1])

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    @classmethod
    def load(cls, path: Path, expansion_search: int = DEFAULT_EXPANSION_SEARCH) -> VectorIndex:
        from usearch.index import Index

        index = Index.restore(str(path), view=True)
        if index is None:
            raise ValueError(f"{path} is not a usearch index")
        index.expansion_search = expansion_search
        return cls(index, index.ndim)

    def __len__(self) -> int:
        return len(self.index)

    def search(self, vector: np.ndarray, k: int) -> Hits:
        if len(self.index) == 0 or k <= 0:
            return Hits(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        found = self.index.search(np.asarray(vector, dtype=np.float32), min(k, len(self.index)), threads=1)
        keys = np.asarray(found.keys, dtype=np.int64)
        return Hits(keys, 1.0 - np.asarray(found.distances, dtype=np.float32))


def exact_search(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Row numbers of the k most cosine-similar unit vectors, best first (the reference for recall)."""
    sims = vectors @ query
    k = min(k, len(vectors))
    top = np.argpartition(-sims, k - 1)[:k]
    return top[np.argsort(-sims[top], kind="stable")]


def exact_kth(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 32) -> np.ndarray:
    """Per query, the k-th best exact cosine similarity among `vectors` (unit rows, float32)."""
    k = min(k, len(vectors))
    out = np.zeros(len(queries), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        sims = vectors @ queries[start : start + chunk].T
        out[start : start + chunk] = np.partition(sims, len(vectors) - k, axis=0)[len(vectors) - k]
    return out


def recall_at_k(
    index: VectorIndex,
    vectors: np.ndarray,
    keys: np.ndarray | None = None,
    k: int = 10,
    sample: int = 500,
    seed: int = 0,
    queries: np.ndarray | None = None,
    kth: np.ndarray | None = None,
) -> float:
    """Recall@k of the index against exact search: the mean over queries of the share of the k keys the index
    returns whose exact cosine similarity reaches the k-th best exact similarity less `TIE_TOLERANCE`
    (ann-benchmarks' k-nn recall), so that a neighbour tied with the k-th counts as found whichever of the tied
    ones exact search happened to list. `vectors` are the indexed vectors, `keys` their keys in the index
    (default: their row numbers); `queries` (unit rows) default to `sample` indexed vectors with a little noise,
    so that a query is not trivially its own nearest neighbour; `kth`: `exact_kth` of the queries, if known."""
    if len(vectors) == 0:
        return 1.0
    vectors = np.asarray(vectors, dtype=np.float32)
    keys = np.arange(len(vectors)) if keys is None else np.asarray(keys)
    if queries is None:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)
        noise = rng.normal(scale=0.05, size=(len(rows), vectors.shape[1])).astype(np.float32)
        queries = vectors[rows] + noise
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    queries = np.asarray(queries, dtype=np.float32)
    kth = exact_kth(vectors, queries, k) if kth is None else kth
    row_of = dict(zip(keys.tolist(), range(len(keys)), strict=True))
    k = min(k, len(vectors))
    found = 0
    for query, least in zip(queries, kth, strict=True):
        rows = [row_of[key] for key in index.search(query, k).keys.tolist()]
        found += int((vectors[rows] @ query >= least - TIE_TOLERANCE).sum())
    return found / (len(queries) * k)
