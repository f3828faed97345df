"""The ANN index against exact search, the export bundle's integrity, the ranker's threshold."""

from __future__ import annotations

import numpy as np
import pytest

from selflearn_assets.lib.online.bundle import BundleError, load_bundle
from selflearn_assets.lib.online.layers import phonetic_key
from selflearn_assets.lib.online.ranker import threshold_for
from selflearn_assets.lib.online.static_encoder import log_vocabulary, unit_rows
from selflearn_assets.lib.online.vector_index import (
    TIE_TOLERANCE,
    Hits,
    VectorIndex,
    exact_search,
    recall_at_k,
)


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n // 20, dim))
    return unit_rows(
        (centres[rng.integers(0, len(centres), n)] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)
    )


def test_exact_search_on_a_hand_made_set():
    vectors = unit_rows(np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32))
    assert exact_search(vectors, np.array([1.0, 0.0], dtype=np.float32), 3).tolist() == [0, 1, 2]
    index = VectorIndex.build(vectors, keys=np.array([10, 11, 12, 13]))
    hits = index.search(np.array([0.0, 1.0], dtype=np.float32), 2)
    assert hits.keys.tolist() == [12, 11]
    assert hits.similarities[0] == pytest.approx(1.0, abs=1e-3)


def test_recall_against_exact_search_and_round_trip(tmp_path):
    vectors = _clustered(4000, 48)
    keys = np.arange(4000) * 7 + 3  # keys that are not row numbers
    index = VectorIndex.build(vectors, keys=keys)
    assert recall_at_k(index, vectors, keys=keys, sample=300) >= 0.95
    index.save(tmp_path / "i.usearch")
    loaded = VectorIndex.load(tmp_path / "i.usearch")
    assert len(loaded) == 4000
    query = vectors[123]
    assert loaded.search(query, 1).keys.tolist() == [keys[123]]


class _Listed:
    """An 'index' that answers every query with the same keys: to check what recall_at_k counts."""

    def __init__(self, keys: list[int]) -> None:
        self.keys = np.array(keys, dtype=np.int64)

    def search(self, vector: np.ndarray, k: int) -> Hits:
        return Hits(self.keys[:k], np.ones(k, dtype=np.float32))


def test_recall_counts_a_neighbour_tied_with_the_kth_as_found():
    # rows 0 and 1 are the same vector: for the query (1, 0) either is the nearest; row 2 is orthogonal
    vectors = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    assert exact_search(vectors, query[0], 1).tolist() == [0]
    assert recall_at_k(_Listed([1]), vectors, k=1, queries=query) == 1.0  # the tie exact search did not list
    assert recall_at_k(_Listed([2]), vectors, k=1, queries=query) == 0.0
    # k = 2: rows 0 and 1 are the two nearest; (1, 2) finds one of them
    assert recall_at_k(_Listed([1, 2]), vectors, k=2, queries=query) == 0.5
    # within TIE_TOLERANCE of the k-th similarity counts, beyond it does not
    near = unit_rows(np.array([[1, 0], [1, TIE_TOLERANCE], [1, 0.2]], dtype=np.float32))
    assert near[1] @ query[0] > 1 - TIE_TOLERANCE
    assert recall_at_k(_Listed([1]), near, k=1, queries=query) == 1.0
    assert recall_at_k(_Listed([2]), near, k=1, queries=query) == 0.0


def test_a_starved_graph_fails_the_recall_gate():
    vectors = _clustered(4000, 48)
    starved = VectorIndex.build(vectors, connectivity=2, expansion_add=4, expansion_search=1)
    assert recall_at_k(starved, vectors, sample=300) < 0.5
    assert recall_at_k(VectorIndex.build(vectors), vectors, sample=300) >= 0.95


def test_empty_index_answers_nothing():
    index = VectorIndex.build(np.zeros((0, 8), dtype=np.float32))
    assert index.search(np.ones(8, dtype=np.float32), 5).keys.tolist() == []


def test_threshold_is_the_win_loss_break_even():
    assert threshold_for(11.8) == pytest.approx(11.8 / 12.8)
    assert threshold_for(1.0) == 0.5


def test_phonetic_key_and_vocabulary():
    assert phonetic_key("call jo ann") == phonetic_key("call joe an")
    assert phonetic_key("play imagine dragons") != phonetic_key("play we don't talk anymore")
    assert log_vocabulary(["call wilkerson", "weather in wilkerson", "call 42"], min_count=2) == [
        "call",
        "wilkerson",
    ]


def test_a_changed_bundle_is_refused(online_world, tmp_path):
    import shutil

    folder, _, _ = online_world
    copy = tmp_path / "date=2026-03-04"
    shutil.copytree(folder, copy)
    assert load_bundle(copy).manifest["personal_users"] > 0
    with open(copy / "personal_entries.parquet", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(BundleError, match="personal_entries.parquet does not match its sha256"):
        load_bundle(copy)
    shutil.rmtree(copy)
    shutil.copytree(folder, copy)
    (copy / "ranker.joblib").unlink()
    with pytest.raises(BundleError, match="ranker.joblib is missing"):
        load_bundle(copy)
