"""What a teaching turn taught: (key, value), by a rule baseline and by a model that weighs the logs' evidence.

Preferences the assistant understood come with their slot (`preferences.set_team` with team = warriors): key
the slot's name, value its value, for both extractors. Concepts are the hard part: "when i say study mode i
mean turn on the desk lamp", or the answer "just turn on the desk lamp" to "what should I do when you say
study mode?". Either extractor returns `EXTRACTION_COLUMNS` rows: key `concept:<name>`, value the definition.

- **rules** (`RuleExtractor`, the baseline): the phrasings of the training days written as patterns ("X means
  Y", "when i say X i mean Y", filler "just" / "it means" / "thanks" around an answer). Phrasings it was not
  written for come out wrong or not at all.
- **spans** (`SpanExtractor`): every split of the turn into a concept span (1-4 words; for an answer, the name
  the question asked about) and a definition span, scored by a logistic regression over evidence that does
  not depend on the phrasing: is the definition a request that works in the window's logs (for anyone, for
  this user), how often requests that work start with its first word, does it reach the end of the turn, how
  many words it leaves out; is the concept a name this user (or anyone) asked for by an activation and failed
  to get. Trained on the gold `preference` labels of earlier days; the best split of a turn is its answer, with
  the model's probability as confidence.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_utterance
from selflearn_assets.lib.teaching.moments import DEFECT, asked_name

CONCEPT = "concept:"
EXTRACTION_COLUMNS = {"day": pl.Date, "event_id": pl.String, "user_id": pl.String, "key": pl.String,
                      "value": pl.String, "confidence": pl.Float64, "method": pl.String}  # fmt: skip
MAX_CONCEPT_WORDS = 4
MAX_WORDS = 24  # longer turns are not split (a definition is a request)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=EXTRACTION_COLUMNS)


def from_slots(row: dict) -> tuple[str, str] | None:
    """(key, value) of a preference the assistant's NLU understood ("preferences.set_team", team = warriors)."""
    intent = row.get("intent") or ""
    slots = row.get("slots") or []
    if intent.startswith("preferences.") and slots:
        return slots[0]["name"], slots[0]["value"].lower()
    return None


# -- the baseline -------------------------------------------------------------------------------------------
_STATEMENTS = (re.compile(r"^when i say (?P<c>.+?) i mean (?P<d>.+)$"),
               re.compile(r"^(?:remember that )?(?P<c>.+?) means (?P<d>.+)$"))  # fmt: skip
_FILLER_BEFORE = ("just ", "it means ")
_FILLER_AFTER = (" thanks",)


class RuleExtractor:
    method = "rules"

    def extract_one(self, row: dict) -> tuple[str, str, float] | None:
        found = from_slots(row)
        if found is not None:
            return found[0], found[1], 1.0
        text = row["norm_text"]
        if row.get("asked_name"):
            for filler in _FILLER_BEFORE:
                text = text[len(filler) :] if text.startswith(filler) else text
            for filler in _FILLER_AFTER:
                text = text[: -len(filler)] if text.endswith(filler) else text
            return CONCEPT + row["asked_name"], text, 1.0
        for pattern in _STATEMENTS:
            m = pattern.match(text)
            if m:
                return CONCEPT + m.group("c"), m.group("d"), 1.0
        return None

    def extract(self, exchanges: pl.DataFrame) -> pl.DataFrame:
        return _rows(exchanges, self.extract_one, self.method)


def _rows(exchanges: pl.DataFrame, fn, method: str) -> pl.DataFrame:
    out = []
    for row in exchanges.iter_rows(named=True):
        found = fn(row)
        if found is None:
            continue
        key, value = found[0], normalize_utterance(found[1])
        if key.startswith(CONCEPT):
            key = CONCEPT + normalize_utterance(key[len(CONCEPT) :])
        if value and key != CONCEPT:
            out.append({"day": row["day"], "event_id": row["event_id"], "user_id": row["user_id"],
                        "key": key, "value": value, "confidence": found[2], "method": method})  # fmt: skip
    return pl.DataFrame(out, schema=EXTRACTION_COLUMNS) if out else _empty()


# -- the model ----------------------------------------------------------------------------------------------
@dataclass
class Evidence:
    """What the window's logs say about texts and names, the span model's features."""

    working: set[str] = field(default_factory=set)  # texts whose turns mostly worked
    user_working: set[tuple[str, str]] = field(default_factory=set)  # (user, text) that worked for that user
    first_words: Counter = field(default_factory=Counter)  # first word of working texts, by distinct text
    failed_names: Counter = field(default_factory=Counter)  # names asked for by an activation and not got
    user_failed_names: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def of(cls, turns: pl.DataFrame) -> Evidence:
        ev = cls()
        if not turns.height:
            return ev
        said = turns.filter(pl.col("norm_text") != "").group_by("norm_text").agg(
            pl.col("defect_prob").mean().alias("p")
        )
        ev.working = set(said.filter(pl.col("p") < DEFECT)["norm_text"].to_list())
        for text in ev.working:
            ev.first_words[text.split(" ", 1)[0]] += 1
        mine = turns.filter((pl.col("norm_text") != "") & (pl.col("defect_prob") < DEFECT))
        ev.user_working = set(zip(mine["user_id"].to_list(), mine["norm_text"].to_list(), strict=True))
        failed = turns.filter(pl.col("defect_prob") >= DEFECT)
        for user, text in zip(failed["user_id"].to_list(), failed["norm_text"].to_list(), strict=True):
            name = asked_name(text)
            if name:
                ev.failed_names[name] += 1
                ev.user_failed_names.add((user, name))
        return ev


FEATURES = ("d_working", "d_user_working", "d_first_word", "d_to_end", "d_words", "left_out", "c_user_failed",
            "c_failed", "c_words", "c_first", "asked")  # fmt: skip


def _candidates(row: dict) -> list[tuple[str | None, str, tuple[int, int, int, int]]]:
    """(concept or None, definition, (c_start, c_end, d_start, d_end)) splits of a teaching turn."""
    words = row["norm_text"].split()
    n = len(words)
    if not n or n > MAX_WORDS:
        return []
    out = []
    if row.get("asked_name"):  # an answer: the concept is what was asked; any span may be the definition
        for i in range(n):
            for j in range(i + 1, n + 1):
                out.append((row["asked_name"], " ".join(words[i:j]), (0, 0, i, j)))
        return out
    for a in range(n):
        for b in range(a + 1, min(n, a + MAX_CONCEPT_WORDS) + 1):
            for i in range(b, n):  # the definition after the concept, as people say it
                for j in range(i + 1, n + 1):
                    out.append((" ".join(words[a:b]), " ".join(words[i:j]), (a, b, i, j)))
    return out


def _features(row: dict, cands, ev: Evidence) -> np.ndarray:
    n = len(row["norm_text"].split())
    user = row["user_id"]
    total = max(1, sum(ev.first_words.values()))
    x = np.zeros((len(cands), len(FEATURES)))
    for k, (concept, definition, (a, b, i, j)) in enumerate(cands):
        first = definition.split(" ", 1)[0]
        x[k] = (
            definition in ev.working,
            (user, definition) in ev.user_working,
            np.log1p(1000 * ev.first_words.get(first, 0) / total),
            j == n,
            j - i,
            n - (j - i) - (b - a),
            (user, concept) in ev.user_failed_names,
            np.log1p(ev.failed_names.get(concept, 0)),
            b - a,
            a == 0 and b > 0,
            bool(row.get("asked_name")),
        )
    return x


class SpanExtractor:
    method = "spans"

    def __init__(self, evidence: Evidence):
        self.evidence = evidence
        self.model = None

    def fit(self, exchanges: pl.DataFrame, gold: dict[str, tuple[str, str]]) -> int:
        """Fit on the exchanges with a gold `preference` label of a concept (event_id -> (key, value)); the
        number of turns it learned from (0: nothing to learn, the extractor then abstains on concepts)."""
        from sklearn.linear_model import LogisticRegression

        xs, ys, used = [], [], 0
        for row in exchanges.iter_rows(named=True):
            truth = gold.get(row["event_id"])
            if truth is None or not truth[0].startswith(CONCEPT) or from_slots(row) is not None:
                continue
            cands = _candidates(row)
            hits = [(CONCEPT + c, d) == truth for c, d, _ in cands]
            if not any(hits):
                continue  # misheard beyond any split: nothing to learn from it
            xs.append(_features(row, cands, self.evidence))
            ys.append(np.array(hits, dtype=int))
            used += 1
        if used < 5:
            return 0
        self.model = LogisticRegression(max_iter=1000, C=1.0).fit(np.vstack(xs), np.concatenate(ys))
        return used

    def extract_one(self, row: dict) -> tuple[str, str, float] | None:
        found = from_slots(row)
        if found is not None:
            return found[0], found[1], 1.0
        if self.model is None:
            return None
        cands = _candidates(row)
        if not cands:
            return None
        scores = self.model.decision_function(_features(row, cands, self.evidence))
        best = int(np.argmax(scores))
        p = np.exp(scores - scores.max())
        concept, definition, _ = cands[best]
        return CONCEPT + concept, definition, float(p[best] / p.sum())

    def extract(self, exchanges: pl.DataFrame) -> pl.DataFrame:
        return _rows(exchanges, self.extract_one, self.method)


def precision_recall(found: pl.DataFrame, gold: dict[str, tuple[str, str]], annotated: set[str]) -> dict:
    """Of (event, key, value) on the audit turns: precision of what was extracted, recall of the gold."""
    mine = {(e, k, v) for e, k, v in found.select("event_id", "key", "value").iter_rows() if e in annotated}
    truth = {(e, k, v) for e, (k, v) in gold.items()}
    right = len(mine & truth)
    return {"extracted": len(mine), "gold": len(truth), "right": right,
            "precision": right / len(mine) if mine else None, "recall": right / len(truth) if truth else None}  # fmt: skip
