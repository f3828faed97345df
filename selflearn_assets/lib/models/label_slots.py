"""Slot candidates for the label model: the (name, value) pairs a turn's slots are chosen from.

The model does not invent slot values; it scores candidates and keeps those above a threshold, best first,
less any that is another reading of a value already kept for its slot name (`variants`): a slot name may hold
several values ("how far is canada from georgia"). A turn's candidates come from:

- `own`: the NLU's slots of the turn;
- `resolved`: values of the slot lexicon (values seen in training targets) close to an own NLU value, by
  `rapidfuzz`'s WRatio: partial titles ("ezra lacroix" -> "ezra lacroix and the door of ember"), misheard
  names ("hairy potter" -> "harry potter"), extra words ("some butter" -> "butter");
- `in_utterance`: lexicon values of any slot name that occur word for word in the utterance (a misrouted
  turn's NLU slots name the wrong thing, its words still hold the right value);
- `crowd`: values that other sessions meant by the same text (`label_crowd`: gold slots of audited turns,
  weak slots of turns that went well or were rephrased successfully), whether or not the turn's own words
  contain them: a value the turn's ASR lost can still be chosen;
- `previous` / `next` (contextual model only): the NLU's slots of the turns up to `window` positions before
  and after in the session, and their resolutions. After a failure users repeat themselves, so a rephrase's
  slots often are what a misheard turn meant; the non-contextual baseline cannot see them.

Each candidate carries `FEATURES` (sources, matches against the utterance and the lexicon, confidences of
the turn it came from); duplicates from several sources merge into one candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

SOURCES = ("own", "resolved", "in_utterance", "crowd", "previous", "next")
FEATURES = (
    *(f"from_{s}" for s in SOURCES),
    "in_lexicon",  # the value was seen for this name in training
    "in_text",  # the value occurs word for word in the utterance
    "text_match",  # best partial match of the value against the utterance (0..1)
    "source_match",  # similarity to the NLU value it was resolved from (1 for an NLU value itself)
    "name_in_nlu",  # the turn's own NLU has a slot of this name
    "source_nlu_conf",  # NLU confidence of the turn the candidate came from (0.5 when absent)
    "source_asr_conf",  # ASR confidence of that turn
    "distance",  # |turn offset| / window (0 for the turn's own candidates)
    "n_words",  # log1p(words in the value) / 2
    "crowd_gold",  # share of other sessions' gold sightings of the same text that had this slot
    "crowd_weak",  # share of other sessions' weak sightings of the same text that had this slot
)
CROWD_MIN_WEAK_SHARE = 0.25  # a value only weak sightings had becomes a candidate from this share up
RESOLVE_LIMIT = 3  # lexicon values tried per NLU value
RESOLVE_CUTOFF = 85.0  # WRatio (0..100) a lexicon value needs to count as a resolution
MAX_NGRAM = 8  # longest lexicon value (in words) looked up in an utterance
VARIANT_RATIO = 70.0  # rapidfuzz ratio (0..100) from which two values of a slot name are one value misheard
MEMO_TEXTS = 65_536  # texts (and value-text pairs) whose lookups are memoised, the most recent kept
_AT = {name: k for k, name in enumerate(FEATURES)}


@dataclass
class SlotCandidates:
    """Candidates of every row of a frame, sorted by row: `row[k]` is the frame row of candidate k."""

    row: np.ndarray  # (K,) int64
    name: list[str]
    value: list[str]
    features: np.ndarray  # (K, len(FEATURES)) float32

    def __len__(self) -> int:
        return len(self.name)


class SlotLexicon:
    """Slot values seen in training, per name, with fuzzy resolution and word n-gram lookup (both memoised:
    a day's texts and NLU values repeat)."""

    def __init__(self, lexicon: dict[str, list[str]]) -> None:
        self.values = {name: list(values) for name, values in lexicon.items()}
        self.known = {(name, v) for name, values in lexicon.items() for v in values}
        self.by_value: dict[str, list[str]] = {}
        for name, values in lexicon.items():
            for v in values:
                self.by_value.setdefault(v, []).append(name)
        self.resolve = lru_cache(maxsize=None)(self._resolve)
        self._grams = lru_cache(maxsize=MEMO_TEXTS)(self._in_text)

    def _resolve(self, name: str, value: str) -> tuple[tuple[str, float], ...]:
        """Lexicon values of `name` close to `value` (not itself), with their similarity (0..1)."""
        choices = self.values.get(name)
        if not choices or not value:
            return ()
        found = process.extract(
            value, choices, scorer=fuzz.WRatio, limit=RESOLVE_LIMIT + 1, score_cutoff=RESOLVE_CUTOFF
        )
        return tuple((v, score / 100.0) for v, score, _ in found if v != value)[:RESOLVE_LIMIT]

    def in_text(self, words: list[str]) -> list[tuple[str, str]]:
        """(name, value) of lexicon values that occur as a word n-gram of `words`."""
        return list(self._grams(tuple(words)))

    def _in_text(self, words: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        out = []
        for n in range(1, min(MAX_NGRAM, len(words)) + 1):
            for i in range(len(words) - n + 1):
                gram = " ".join(words[i : i + n])
                out.extend((name, gram) for name in self.by_value.get(gram, ()))
        return tuple(out)


@lru_cache(maxsize=MEMO_TEXTS)
def _partial_ratio(value: str, text: str) -> float:
    return fuzz.partial_ratio(value, text)


@lru_cache(maxsize=MEMO_TEXTS, typed=True)  # typed: 1, 1.0 and True are three values
def normalise(value) -> str:
    """A slot value as compared everywhere: lower case, single spaces (memoised: values and texts repeat)."""
    return " ".join(str(value).lower().split())


def _conf(value) -> float:
    return 0.5 if value is None else float(value)


def _merge(
    found: dict,
    name: str,
    value: str,
    source: str,
    match: float,
    distance: float,
    nlu_conf: float,
    asr_conf: float,
) -> None:
    """Add one sighting of (name, value) to a turn's candidates, merging with earlier sightings."""
    if not value:
        return
    f = found.get((name, value))
    if f is None:  # a list of floats: float32 once the turn's candidates are complete (the same values)
        f = [0.0] * len(FEATURES)
        f[_AT["distance"]] = 1.0
        found[(name, value)] = f
    f[SOURCES.index(source)] = 1.0
    f[_AT["source_match"]] = max(f[_AT["source_match"]], match)
    f[_AT["source_nlu_conf"]] = max(f[_AT["source_nlu_conf"]], nlu_conf)
    f[_AT["source_asr_conf"]] = max(f[_AT["source_asr_conf"]], asr_conf)
    f[_AT["distance"]] = min(f[_AT["distance"]], distance)


def slot_candidates(
    frames: pl.DataFrame,
    lexicon: SlotLexicon,
    contextual: bool,
    window: int = 2,
    crowd: Sequence[dict[tuple[str, str], tuple[float, float]]] | None = None,
) -> SlotCandidates:
    """Candidates of every turn of `frames` (sorted by session and time, with `utterance`, `nlu_slots`,
    `session_id`, `asr_conf`, `nlu_conf`), see the module docstring; `crowd`: per row, the slot values other
    sessions meant by its text with their (gold, weak) shares (`label_crowd.Evidence.slot_share`)."""
    sessions = frames["session_id"].to_list()
    texts = [normalise(u) for u in frames["utterance"].to_list()]
    nlu = [
        [(s["name"], normalise(s["value"])) for s in slots or [] if s.get("value") is not None]
        for slots in frames["nlu_slots"].to_list()
    ]
    nlu_conf = [_conf(c) for c in frames["nlu_conf"].to_list()]
    asr_conf = [_conf(c) for c in frames["asr_conf"].to_list()]
    rows, names, values, feats = [], [], [], []
    for i, text in enumerate(texts):
        padded = f" {text} "
        own_names = {n for n, _ in nlu[i]}
        found: dict[tuple[str, str], list[float]] = {}

        def add(name: str, value: str, source: str, match: float, j: int, found=found, i=i) -> None:
            _merge(found, name, value, source, match, abs(i - j) / window, nlu_conf[j], asr_conf[j])

        for name, value in nlu[i]:
            add(name, value, "own", 1.0, i)
            for resolved, score in lexicon.resolve(name, value):
                add(name, resolved, "resolved", score, i)
        for name, value in lexicon.in_text(text.split()):
            add(name, value, "in_utterance", 1.0, i)
        seen = crowd[i] if crowd is not None else {}
        for (name, value), (gold_share, weak_share) in seen.items():
            if gold_share > 0 or weak_share >= CROWD_MIN_WEAK_SHARE:
                add(name, value, "crowd", 1.0, i)
        if contextual:
            for j in range(max(0, i - window), min(len(texts), i + window + 1)):
                if j == i or sessions[j] != sessions[i]:
                    continue
                source = "previous" if j < i else "next"
                for name, value in nlu[j]:
                    add(name, value, source, 1.0, j)
                    for resolved, score in lexicon.resolve(name, value):
                        add(name, resolved, source, score, j)
        for (name, value), f in found.items():
            f[_AT["in_lexicon"]] = float((name, value) in lexicon.known)
            f[_AT["in_text"]] = float(f" {value} " in padded)
            f[_AT["text_match"]] = _partial_ratio(value, text) / 100.0 if text else 0.0
            f[_AT["name_in_nlu"]] = float(name in own_names)
            f[_AT["n_words"]] = np.log1p(len(value.split())) / 2
            f[_AT["crowd_gold"]], f[_AT["crowd_weak"]] = seen.get((name, value), (0.0, 0.0))
            rows.append(i)
            names.append(name)
            values.append(value)
            feats.append(f)
    return SlotCandidates(
        row=np.asarray(rows, dtype=np.int64),
        name=names,
        value=values,
        features=np.array(feats, np.float32) if feats else np.zeros((0, len(FEATURES)), np.float32),
    )


def candidate_targets(
    candidates: SlotCandidates, targets: Sequence[list[dict] | None]
) -> tuple[np.ndarray, np.ndarray]:
    """(target, known) per candidate: whether (name, value) is among its row's target slots, and whether the
    row has a slot target at all."""
    sets = [None if t is None else {(s["name"], normalise(s["value"])) for s in t} for t in targets]
    target = np.zeros(len(candidates), np.float32)
    known = np.zeros(len(candidates), bool)
    for k, (row, name, value) in enumerate(
        zip(candidates.row, candidates.name, candidates.value, strict=True)
    ):
        if sets[row] is not None:
            known[k] = True
            target[k] = float((name, value) in sets[row])
    return target, known


def variants(a: str, b: str) -> bool:
    """Two values of one slot name that are readings of the same words ("hairy potter" / "harry potter",
    "violin lesson" / "violin lesson dentist", "usa" / "us"), not two values ("canada" / "georgia"): they share
    a word or are spelt alike (rapidfuzz ratio >= VARIANT_RATIO)."""
    return bool(set(a.split()) & set(b.split())) or fuzz.ratio(a, b) >= VARIANT_RATIO


def choose_slots(
    candidates: SlotCandidates, probabilities: np.ndarray, n_rows: int, threshold: float = 0.5
) -> tuple[list[list[dict]], list[float]]:
    """Per row: the candidates whose probability reaches `threshold`, best first, each kept unless it is a
    variant of a value already kept for its slot name (a slot name may hold several values: "how far is canada
    from georgia"), and the confidence of the row's least sure decision (1.0 for a row without candidates)."""
    above: list[list[tuple[float, str, str]]] = [[] for _ in range(n_rows)]
    confidence = [1.0] * n_rows
    for row, name, value, p in zip(
        candidates.row, candidates.name, candidates.value, probabilities, strict=True
    ):
        if p >= threshold:
            above[row].append((-float(p), name, value))
        confidence[row] = min(confidence[row], float(max(p, 1 - p)))
    slots = []
    for found in above:
        kept: dict[str, list[str]] = {}
        for _, name, value in sorted(found):
            values = kept.setdefault(name, [])
            if not any(variants(value, other) for other in values):
                values.append(value)
        slots.append([{"name": name, "value": v} for name in sorted(kept) for v in sorted(kept[name])])
    return slots, confidence
