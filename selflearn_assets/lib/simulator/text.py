"""Small text and hashing helpers shared by the simulator (and by whoever matches rewrite sources)."""

from __future__ import annotations

import hashlib
import re
from bisect import bisect
from itertools import accumulate

_PUNCT = re.compile(r"[^\w\s]|_")


def normalize_text(text: str) -> str:
    """The key rewrite tables are matched on: lowercase, punctuation removed, whitespace collapsed.

    >>> normalize_text("  Play  Maj-and Dragon's! ")
    'play majand dragons'
    """
    return " ".join(_PUNCT.sub("", text.lower()).split())


def stable_unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts (independent of PYTHONHASHSEED)."""
    key = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2.0**64


def stable_int(*parts: object) -> int:
    """A deterministic 63-bit integer from the parts, for seeding `random.Random`."""
    key = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") >> 1


def stable_hex(n_chars: int, *parts: object) -> str:
    key = "\x1f".join(map(str, parts)).encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()[:n_chars]


def zipf_cumulative(n: int, exponent: float) -> list[float]:
    """Cumulative Zipf weights of ranks 1..n, for `pick_cumulative`."""
    return list(accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


def cumulative(weights: list[float]) -> list[float]:
    return list(accumulate(weights))


def pick_cumulative(cum: list[float], u: float) -> int:
    """Index drawn with probability proportional to the weights behind `cum`, for u uniform in [0, 1)."""
    return bisect(cum, u * cum[-1])


def noise(rand) -> float:
    """Roughly standard normal (a sum of three uniforms, bounded to +-3): cheaper than `random.gauss`."""
    return (rand() + rand() + rand() - 1.5) * 2.0


def plural(noun: str, irregular: dict[str, str]) -> str:
    if noun in irregular:
        return irregular[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


_M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """A bijection of 64-bit integers that looks random (splitmix64's finaliser): unique, opaque ids."""
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)
