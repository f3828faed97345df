"""The persistent embedding store: round trip, each text encoded once across embedders, a new encoder apart."""

from __future__ import annotations

import numpy as np

from selflearn_assets.lib.models.embedding_store import EmbeddingStore, encoder_fingerprint
from selflearn_assets.lib.models.encoder import TurnEmbedder, tiny_encoder

TEXTS = ["play imagine dragons", "what's the weather", "play imagine dragons", ""]


def test_store_round_trip(tmp_path):
    store = EmbeddingStore(tmp_path, "abc", dim=3)
    assert store.lookup(["x"]) == {}
    store.add(["x", "y"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
    store.add(["z"], np.array([[7, 8, 9]], dtype=np.float32))
    found = store.lookup(["y", "z", "missing", "y"])
    assert set(found) == {"y", "z"}
    assert found["y"].tolist() == [4, 5, 6] and found["z"].tolist() == [7, 8, 9]
    assert not list((tmp_path / "abc").glob(".*.tmp"))  # shards are renamed into place


def test_second_embedder_encodes_nothing_and_agrees(tmp_path):
    tokenizer, model = tiny_encoder(TEXTS)
    first = TurnEmbedder(tokenizer, model, store_root=tmp_path)
    a = first(TEXTS)
    assert first.cache.encoded == 3  # three distinct texts
    second = TurnEmbedder(tokenizer, model, store_root=tmp_path)
    b = second(TEXTS + ["a new text"])
    assert second.cache.encoded == 1  # only the new text
    np.testing.assert_allclose(b[: len(TEXTS)], a, rtol=1e-6)
    plain = TurnEmbedder(tokenizer, model)(TEXTS)  # no store: the same vectors
    np.testing.assert_allclose(plain, a, rtol=1e-6)


def test_another_encoder_gets_its_own_folder(tmp_path):
    _, small = tiny_encoder(TEXTS, hidden=16)
    _, large = tiny_encoder(TEXTS, hidden=32)
    assert encoder_fingerprint(small, 64) != encoder_fingerprint(large, 64)
    assert encoder_fingerprint(small, 64) != encoder_fingerprint(small, 32)
    assert encoder_fingerprint(small, 64) == encoder_fingerprint(small, 64)


def test_a_store_backed_cache_stays_bounded_and_never_encodes_twice(tmp_path):
    texts = [f"request number {i}" for i in range(12)]
    tokenizer, model = tiny_encoder(texts)
    bounded = TurnEmbedder(tokenizer, model, store_root=tmp_path, cache_limit=4)
    chunks = [bounded(texts[i : i + 3]) for i in range(0, 12, 3)]  # a day in chunks of 3 texts
    assert len(bounded.cache) <= 4 + 3  # at most the limit, then one chunk's
    again = bounded(texts)  # every vector comes back from the store, none encoded twice
    assert bounded.cache.encoded == 12
    np.testing.assert_allclose(again, np.concatenate(chunks), rtol=1e-6)
    unbounded = TurnEmbedder(tokenizer, model, cache_limit=4)  # no store: nothing may be dropped
    for i in range(0, 12, 3):
        unbounded(texts[i : i + 3])
    assert len(unbounded.cache) == 12 and unbounded.cache.encoded == 12
    np.testing.assert_allclose(unbounded(texts), again, rtol=1e-6)
    assert unbounded.cache.encoded == 12
