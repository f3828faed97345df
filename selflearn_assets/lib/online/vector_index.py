"""The global layer's approximate-nearest-neighbour index: usearch HNSW over unit vectors, cosine metric.

Chosen by measurement (`bench/online_latency.py`): on this machine, for 1M entries of 256 dimensions, usearch
answers a single query on one core in well under a millisecond at recall@10 >= 0.95 against exact search, its
index is one file that is memory-mapped on load (`view`: the service starts in milliseconds and shares pages
between processes), and it is a maintained PyPI wheel with no system dependency. Keys are the row numbers of
the entries table the index was built with (or the `keys` given).

`recall_at_k` measures the index against exact search on a sample of its own vectors, perturbed so that a
query is not trivially its own nearest neighbour; the export is gated on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_CONNECTIVITY = 16
DEFAULT_EXPANSION_ADD = 128
DEFAULT_EXPANSION_SEARCH = 96


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


def recall_at_k(
    index: VectorIndex,
    vectors: np.ndarray,
    keys: np.ndarray | None = None,
    k: int = 10,
    sample: int = 500,
    seed: int = 0,
) -> float:
    """Mean |ANN top-k ∩ exact top-k| / k over `sample` queries: indexed vectors with a little noise.
    `vectors` are the indexed vectors, `keys` their keys in the index (default: their row numbers)."""
    if len(vectors) == 0:
        return 1.0
    keys = np.arange(len(vectors)) if keys is None else np.asarray(keys)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)
    noise = rng.normal(scale=0.05, size=(len(rows), vectors.shape[1])).astype(np.float32)
    queries = vectors[rows] + noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    k = min(k, len(vectors))
    found = 0
    for query in queries:
        exact = keys[exact_search(vectors, query, k)]
        found += len(set(index.search(query, k).keys.tolist()) & set(exact.tolist()))
    return found / (len(queries) * k)
