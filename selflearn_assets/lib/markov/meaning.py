"""Does a rewrite keep the request's meaning? Alignment of a source utterance with its candidate target.

A rewrite may correct what the recogniser misheard; it must not add, drop or change what was asked.
Users who fail often go on to ask something related but different ("do i have a meeting on saturday"
→ "did you place the reminder about the meeting for tomorrow"), and a Markov chain cannot tell that
from a repair. What it can tell is whether the target *sounds like* the source: a misheard request
and its correction differ in a few spans that are close in sound or spelling ("maj and dragons" /
"imagine dragons"), while a new request brings words the source never had.

`meaning_score(source, target, locale)` aligns the two normalised utterances word by word (longest
matching blocks, difflib) and scores every span where they differ:

| span in the target           | score                                                               |
|------------------------------|---------------------------------------------------------------------|
| replaces function words by   | 0.0: a new content word ("on" → "at noon")                           |
| content words                |                                                                     |
| replaces source words        | similarity of the two spans: the best of the phonetic similarity     |
|                              | (English Metaphone keys of the spans, spaces and a leading vowel     |
|                              | removed, by normalised Levenshtein; only for `en-*` locales) and the character   |
|                              | similarity of the spans (normalised Indel, rapidfuzz `ratio`)        |
| replaces an OOV marker       | 1.0 when it is at most `OOV_SPAN` words (the recogniser heard        |
| (`unknown`, from @@UNKNOWN@@)| something it had no word for)                                        |
| inserts words                | 1.0 if every inserted word is a function word (`FUNCTION_WORDS`:     |
|                              | recognisers drop "for", "the", "to"), else 0.0: a new content word   |
| drops words                  | 1.0 if every dropped word is a function word, filler or OOV marker,  |
|                              | else 0.0: a dropped content word is a dropped part of the request    |

The utterance's score is the lowest span score (1.0 when they differ only in function words; 0.0
for an empty utterance). The miner keeps a candidate only at `MarkovParams.min_meaning_score` or
above. Scores depend only on the two strings and the locale, so they are cached.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from functools import lru_cache

import jellyfish
from rapidfuzz.distance import Indel, Levenshtein

# Words whose presence or absence rarely changes what is asked, and that recognisers drop or insert.
FUNCTION_WORDS = frozenset(
    "a an the to for of in at on my me i is it and please um uh hmm oh hey ok okay so just can you could "
    "would will be do does what's whats".split()
)
OOV_MARKERS = frozenset({"unknown", "unk"})  # "@@UNKNOWN@@", "<unk>" after normalisation
OOV_SPAN = 3  # an OOV marker may stand for up to this many words


def is_phonetic_locale(locale: str | None) -> bool:
    """English phonetics (Metaphone) for `en-*` locales (and when none is known); character
    similarity alone elsewhere."""
    return locale is None or locale == "" or locale.lower().startswith("en")


@lru_cache(maxsize=200_000)
def _metaphone(words: str) -> str:
    # Metaphone keeps only a leading vowel; recognisers swallow and add those ("imagine" / "maj and").
    return jellyfish.metaphone(words.replace(" ", "")).lstrip("AEIOU") if words else ""


def span_similarity(a: str, b: str, phonetic: bool = True) -> float:
    """How alike two word spans sound or are spelled, in [0, 1]."""
    if a == b:
        return 1.0
    chars = Indel.normalized_similarity(a.replace(" ", ""), b.replace(" ", ""))
    if not phonetic:
        return chars
    pa, pb = _metaphone(a), _metaphone(b)
    sound = Levenshtein.normalized_similarity(pa, pb) if pa and pb else 0.0
    return max(chars, sound)


@lru_cache(maxsize=500_000)
def meaning_score(source: str, target: str, locale: str | None = None) -> float:
    """The lowest score over the spans where `target` differs from `source` (module docstring)."""
    src, tgt = source.split(), target.split()
    if not src or not tgt:
        return 0.0
    phonetic = is_phonetic_locale(locale)
    worst = 1.0
    for op, i1, i2, j1, j2 in SequenceMatcher(a=src, b=tgt, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        dropped, added = src[i1:i2], tgt[j1:j2]
        if op == "delete":
            score = 1.0 if all(w in FUNCTION_WORDS or w in OOV_MARKERS for w in dropped) else 0.0
        elif op == "insert":
            score = 1.0 if all(w in FUNCTION_WORDS for w in added) else 0.0
        elif any(w in OOV_MARKERS for w in dropped) and len(added) <= OOV_SPAN * len(dropped):
            known = [w for w in dropped if w not in OOV_MARKERS]
            score = 1.0 if not known else span_similarity(" ".join(known), " ".join(added), phonetic)
        elif all(w in FUNCTION_WORDS for w in dropped) and not all(w in FUNCTION_WORDS for w in added):
            score = 0.0  # a content word where the source had none ("on" → "at noon")
        else:
            content_a = [w for w in dropped if w not in FUNCTION_WORDS] or dropped
            content_b = [w for w in added if w not in FUNCTION_WORDS] or added
            score = max(
                span_similarity(" ".join(dropped), " ".join(added), phonetic),
                span_similarity(" ".join(content_a), " ".join(content_b), phonetic),
            )
        worst = min(worst, score)
        if worst == 0.0:
            break
    return worst
