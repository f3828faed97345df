"""The character channel of retrieval: texts as hashed character trigrams, so that a request finds entries
spelled (and so, for ASR errors, often sounding) alike whatever the encoder thinks of their words.

Each text (with a space at both ends, so word edges count) becomes the counts of its character trigrams, hashed
(CRC-32, stable across processes and Python versions) into `DIM` buckets, then scaled to unit length: the cosine
of two such vectors is the classic trigram similarity ("call jo ann" / "call joanne" share most trigrams).

The runtime computes these for every candidate of every request, so ASCII texts (nearly all) are hashed in
numpy, all trigrams of all texts at once, with the CRC-32 table (the same values as `zlib.crc32`); other texts
trigram by trigram with `zlib`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

DIM = 256


def _crc32_table() -> np.ndarray:
    """The table of the reflected CRC-32 (polynomial 0xEDB88320) that zlib uses."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC32 = _crc32_table()


def _cells(texts: Sequence[str], dim: int) -> np.ndarray:
    """row * dim + bucket of every trigram of every text (row: the text's position in `texts`)."""
    padded = [f" {text} " for text in texts]
    plain = [i for i, p in enumerate(padded) if p.isascii()]
    parts = []
    if plain:
        lengths = np.array([len(padded[i]) for i in plain], dtype=np.intp)
        raw = np.frombuffer("".join(padded[i] for i in plain).encode("ascii"), dtype=np.uint8)
        n = len(raw) - 2  # windows of three bytes; those that run into the next text are dropped below
        crc = np.full(n, 0xFFFFFFFF, dtype=np.uint32)
        for k in range(3):
            crc = _CRC32[(crc ^ raw[k : k + n]) & 0xFF] ^ (crc >> 8)
        buckets = (crc ^ np.uint32(0xFFFFFFFF)) % dim
        owner = np.repeat(np.arange(len(plain)), lengths)[:n]
        inside = np.arange(n) <= np.cumsum(lengths)[owner] - 3
        parts.append(np.asarray(plain, dtype=np.intp)[owner[inside]] * dim + buckets[inside])
    for i, p in enumerate(padded):
        if not p.isascii():
            parts.append(
                np.array([i * dim + zlib.crc32(p[j : j + 3].encode()) % dim for j in range(len(p) - 2)])
            )
    return np.concatenate(parts).astype(np.intp) if parts else np.zeros(0, dtype=np.intp)


def char_vector(text: str, dim: int = DIM) -> np.ndarray:
    """One text's vector (trigram by trigram: for a single text, cheaper than `char_vectors`' set-up)."""
    padded = f" {text} "
    cells = np.array(
        [zlib.crc32(padded[i : i + 3].encode()) % dim for i in range(len(padded) - 2)], dtype=np.intp
    )
    counts = np.bincount(cells, minlength=dim).astype(np.float32)
    norm = np.sqrt((counts * counts).sum())
    return counts / norm if norm else counts


def char_vectors(texts: Sequence[str], dim: int = DIM, chunk: int = 20_000) -> np.ndarray:
    """Each text's unit vector of hashed trigram counts, as rows."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        counts = np.bincount(_cells(part, dim), minlength=len(part) * dim).reshape(len(part), dim)
        counts = counts.astype(np.float32)
        # small integer counts: the sum of squares is exact in float32, as np.linalg.norm's was per row
        norms = np.sqrt((counts * counts).sum(axis=1))
        np.divide(counts, norms[:, None], out=out[start : start + len(part)], where=norms[:, None] > 0)
    return out
