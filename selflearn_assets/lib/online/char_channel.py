"""The character channel of retrieval: texts as hashed character trigrams, so that a request finds entries
spelled (and so, for ASR errors, often sounding) alike whatever the encoder thinks of their words.

Each text (with a space at both ends, so word edges count) becomes the counts of its character trigrams, hashed
(CRC-32, stable across processes and Python versions) into `DIM` buckets, then scaled to unit length: the cosine
of two such vectors is the classic trigram similarity ("call jo ann" / "call joanne" share most trigrams).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

DIM = 256


def char_vector(text: str, dim: int = DIM) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    padded = f" {text} "
    for i in range(len(padded) - 2):
        vector[zlib.crc32(padded[i : i + 3].encode()) % dim] += 1.0
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def char_vectors(texts: Sequence[str], dim: int = DIM) -> np.ndarray:
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = char_vector(text, dim)
    return out
