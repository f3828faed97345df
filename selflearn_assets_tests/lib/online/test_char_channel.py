"""The character channel: hashed trigram vectors worked out by hand, and the batched numpy path of
`char_vectors` (CRC-32 table for ASCII texts, zlib for the others, in chunks) equal to `char_vector` bit for bit."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from selflearn_assets.lib.online.char_channel import DIM, _crc32_table, char_vector, char_vectors

# ASCII and non-ASCII interleaved, with the empty string and one-letter texts between them, so that the ASCII
# texts are hashed together around the others and trigrams across two texts' joins would show
MIXED = [
    "call jo ann",
    "café crème",
    "",
    "a",
    "zoë",
    "play imagine dragons",
    "b",
    "",
    "what's the weather in wilkerson?",
    "naïve",
    "x",
    "Turn ON the lights",
    "zoë",
    "ab",
]


def _bucket(trigram: str, dim: int = DIM) -> int:
    return zlib.crc32(trigram.encode()) % dim


def test_crc32_table_is_zlibs():
    table = _crc32_table()
    assert table.dtype == np.uint32 and table.shape == (256,)
    # the published entries of the reflected CRC-32 table
    assert [int(table[i]) for i in (0, 1, 128, 255)] == [0, 0x77073096, 0xEDB88320, 0x2D02EF8D]
    for b in range(256):
        # one byte through the table, as `char_vectors` does it: start at all ones, finish by inverting
        crc = int(table[(0xFFFFFFFF ^ b) & 0xFF]) ^ (0xFFFFFFFF >> 8)
        assert crc ^ 0xFFFFFFFF == zlib.crc32(bytes([b])), b


def test_vector_of_ab_by_hand():
    # " ab " has the trigrams " ab" and "ab ", once each
    first, second = _bucket(" ab"), _bucket("ab ")
    expected = np.zeros(DIM, dtype=np.float32)
    if first != second:
        expected[[first, second]] = np.float32(1 / math.sqrt(2))
    else:
        expected[first] = 1.0
    for vector in (char_vector("ab"), char_vectors(["ab"])[0]):
        assert np.count_nonzero(vector) == (2 if first != second else 1)
        np.testing.assert_allclose(vector, expected, rtol=1e-7)
    assert (first, second) == (96, 232)  # zlib.crc32(b" ab") = 0x1856c560, zlib.crc32(b"ab ") = 0xdaf151e8


def test_repeated_trigram_counts_twice():
    # " aaaa " has " aa", "aaa" twice, "aa ": counts 1, 2, 1, length sqrt(6)
    vector = char_vectors(["aaaa"])[0]
    assert vector[_bucket("aaa")] == pytest.approx(2 / math.sqrt(6), rel=1e-6)
    assert vector[_bucket(" aa")] == pytest.approx(1 / math.sqrt(6), rel=1e-6)
    assert vector[_bucket("aa ")] == pytest.approx(1 / math.sqrt(6), rel=1e-6)
    assert np.count_nonzero(vector) == 3
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, rel=1e-6)


def test_empty_and_one_letter_texts():
    vectors = char_vectors(["", "a"])
    assert not vectors[0].any()  # "  " has no trigram: the zero vector, not NaN
    assert np.flatnonzero(vectors[1]).tolist() == [_bucket(" a ")]
    assert vectors[1][_bucket(" a ")] == 1.0
    assert char_vectors([]).shape == (0, DIM)


@pytest.mark.parametrize("dim", [DIM, 7])
def test_batched_equals_one_by_one_on_a_mix(dim):
    batched = char_vectors(MIXED, dim)
    assert batched.dtype == np.float32 and batched.shape == (len(MIXED), dim)
    assert np.array_equal(batched, np.stack([char_vector(t, dim) for t in MIXED]))


@pytest.mark.parametrize(
    "texts", [MIXED[:5], ["café crème", "zoë", "naïve"], ["call jo ann", "a", "", "ab", "b"]]
)
def test_batched_equals_one_by_one_across_chunks(texts):
    one_by_one = np.stack([char_vector(t) for t in texts])
    for chunk in (1, 2, 3, 20_000):  # with 5 texts, chunk=2 ends a chunk after 2 and 4 texts
        assert np.array_equal(char_vectors(texts, chunk=chunk), one_by_one), chunk


def test_similar_spellings_are_close():
    a, b, c = char_vectors(["call jo ann", "call joanne", "play imagine dragons"])
    assert float(a @ b) > 0.5 > float(a @ c)
