"""Utterance normalisation: the text a Markov state is keyed by.

Two spellings of one request ("Alexa, play Imagine Dragons!" and "play imagine dragons") must be one
state, so every utterance goes through the same steps, in this order:

1. Unicode NFKC (full-width letters, ligatures and compatibility spaces become plain ones);
2. lowercase (Unicode-aware, final sigma included);
3. typographic apostrophes (’ ‘ ʼ ` ´) become ``'``;
4. every character that is not a letter, number or combining mark (Unicode categories L*, N*, M*)
   and not an apostrophe becomes a space: punctuation, symbols, emoji, control characters, all
   whitespace;
5. an apostrophe survives only between two such characters ("don't", "rock'n'roll"); runs of
   apostrophes and apostrophes at word edges ("'til", "dogs'", "''") become spaces;
6. whitespace collapses to single spaces, trimmed at both ends;
7. one leading wake word ("alexa", "hey alexa", ...; see ``WAKE_WORDS``) is removed.

`normalize_utterance` is the reference (one string, plain Python); `normalize_expr` is the same
function as a polars expression for whole columns. They agree on every string whose characters
Python's `unicodedata` and the Rust regex engine classify alike (they differ only on characters
assigned in a Unicode version one of them does not know yet); the tests hold them to each other.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import polars as pl

WAKE_WORDS: tuple[str, ...] = ("hey alexa", "ok alexa", "alexa", "hey assistant", "ok assistant")
APOSTROPHES = "\u2019\u2018\u02bc`\u00b4"
_KEPT_CATEGORIES = ("L", "N", "M")


def _wake_word_pattern(wake_words: tuple[str, ...]) -> str:
    # Longest first, so "hey alexa" wins over "alexa"; the word must end at a space or the string end.
    # re.escape writes a space as "\\ ", which the Rust engine rejects; a space needs no escape.
    words = sorted((w for w in wake_words if w), key=len, reverse=True)
    alternatives = "|".join(re.escape(w).replace("\\ ", " ") for w in words)
    return rf"^(?:{alternatives})(?: |$)" if words else ""


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in _KEPT_CATEGORIES


@lru_cache(maxsize=64)
def _wake_word_regex(wake_words: tuple[str, ...]) -> re.Pattern | None:
    pattern = _wake_word_pattern(wake_words)
    return re.compile(pattern) if pattern else None


@lru_cache(maxsize=200_000)
def normalize_utterance(text: str | None, wake_words: tuple[str, ...] = WAKE_WORDS) -> str:
    """The normalised form of one utterance ("" for None or text with no letters or digits). Cached: the
    runtime and the simulator normalise the same requests again and again."""
    if not text:
        return ""
    s = unicodedata.normalize("NFKC", text).lower()
    s = s.translate({ord(a): "'" for a in APOSTROPHES})
    chars = [c if c == "'" or _is_word_char(c) else " " for c in s]
    for i, c in enumerate(chars):
        if c == "'":
            inside = 0 < i < len(chars) - 1 and chars[i - 1] not in " '" and chars[i + 1] not in " '"
            if not inside:
                chars[i] = " "
    s = re.sub(" +", " ", "".join(chars)).strip(" ")
    wake = _wake_word_regex(wake_words)
    return wake.sub("", s, count=1) if wake is not None else s


def normalize_expr(col: str | pl.Expr, wake_words: tuple[str, ...] = WAKE_WORDS) -> pl.Expr:
    """`normalize_utterance` as a polars expression (null becomes "")."""
    e = pl.col(col) if isinstance(col, str) else col
    e = e.fill_null("").str.normalize("NFKC").str.to_lowercase()
    e = e.str.replace_all("[" + APOSTROPHES + "]", "'")
    e = e.str.replace_all(r"[^\p{L}\p{N}\p{M}']", " ")
    # Rust regex has no look-around: drop runs of 2+ apostrophes, then apostrophes touching a space
    # or an end. Each pass consumes the apostrophe and one neighbour, so matches never overlap.
    e = e.str.replace_all("''+", " ")
    e = e.str.replace_all("' ", "  ", literal=True).str.replace_all(" '", "  ", literal=True)
    e = e.str.replace_all("^'|'$", " ")
    e = e.str.replace_all(" +", " ").str.strip_chars(" ")
    pattern = _wake_word_pattern(wake_words)
    return e.str.replace(pattern, "") if pattern else e
