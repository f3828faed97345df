"""Examples for the contextual rephrase detector (ContReph), from contract fields and annotations only.

One example per turn: the turn (utterance, response) and its following turns of the same session that start
within `max_gap_s` seconds of it, at most `max_following` of them, each with utterance, response and gap.
Its target is the index of the following turn that rephrases it, or -1 (none):

- **gold** (overrides weak): a following turn whose gold `rephrase_of` is this turn's event_id (the first
  such); else none when every following turn of the window is gold-annotated (annotated, and not pointing here).
- **weak** (implicit signals): the turn looks defective (status error / unsupported / no_response / clarify,
  barge-in, or explicit negative feedback) and a following turn is lexically or character-wise similar (token
  Jaccard >= `min_jaccard` or edit-ratio >= `min_edit_ratio`): the first such turn is the rephrase; otherwise
  none. The follower need not succeed: a retry that fails again is still a rephrase (A -> B -> C chains).
  Against gold on the demo world (3 days x 2,000 users, gold sessions outside the audit holdout), requiring
  success gave precision 0.82 / recall 0.50; without it 0.96 / 0.71.

Each turn also carries its contract metadata (response status, barge-in, explicit negative feedback) for the
detector; an absent field reads as status "missing" / false.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import duckdb
import polars as pl

from selflearn_assets.lib.sql import query_pl

FAILED_STATUSES = ("error", "unsupported", "no_response")
DEFECT_STATUSES = (*FAILED_STATUSES, "clarify")  # a weak-label rephrase may follow these
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class RephraseWindow:
    """Which following turns an example sees, and the weak-label heuristics."""

    max_gap_s: float = 45.0
    max_following: int = 3
    min_jaccard: float = 0.3
    min_edit_ratio: float = 0.6


@dataclass
class RephraseExample:
    """A turn and its following turns (event ids, texts, gaps in seconds), and the target follower (-1 none)."""

    event_id: str
    session_id: str
    utterance: str
    response: str
    followers: list[str] = field(default_factory=list)
    follower_utterances: list[str] = field(default_factory=list)
    follower_responses: list[str] = field(default_factory=list)
    gaps_s: list[float] = field(default_factory=list)
    target: int = -1
    gold: bool = False  # target comes from gold annotations
    meta: tuple[str, bool, bool] = ("missing", False, False)  # (response status, barge-in, negative feedback)
    follower_meta: list[tuple[str, bool, bool]] = field(default_factory=list)


def load_rephrase_turns(con: duckdb.DuckDBPyConnection, days: Sequence[date]) -> pl.DataFrame:
    """The turns of `days` in session order (`models/rephrase_turns.sql`), with gold rephrase_of."""
    return query_pl(con, "models/rephrase_turns.sql", {"days": list(days)})


def jaccard(a: str, b: str) -> float:
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


def edit_ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio() if a and b else 0.0


def build_examples(turns: pl.DataFrame, window: RephraseWindow = RephraseWindow()) -> list[RephraseExample]:
    """One example per turn of `turns` (rows of `load_rephrase_turns`, sorted by session, ts), in row order."""
    cols = [
        "event_id", "session_id", "ts", "utterance", "response", "status", "barge_in", "negative_feedback",
        "has_gold_rephrase", "gold_rephrase_of",
    ]  # fmt: skip
    rows = turns.select(cols).rows()
    examples = []
    for i, (eid, sid, ts, utt, resp, status, barge, negative, _, _) in enumerate(rows):
        ex = RephraseExample(eid, sid, utt, resp, meta=(status, bool(barge), bool(negative)))
        follow = []
        for j in range(i + 1, min(i + 1 + window.max_following, len(rows))):
            nxt = rows[j]
            gap = (nxt[2] - ts).total_seconds()
            if nxt[1] != sid or gap > window.max_gap_s:
                break
            follow.append(nxt)
            ex.followers.append(nxt[0])
            ex.follower_utterances.append(nxt[3])
            ex.follower_responses.append(nxt[4])
            ex.gaps_s.append(gap)
            ex.follower_meta.append((nxt[5], bool(nxt[6]), bool(nxt[7])))
        if status in DEFECT_STATUSES or barge or negative:
            for k, nxt in enumerate(follow):
                if (
                    jaccard(utt, nxt[3]) >= window.min_jaccard
                    or edit_ratio(utt, nxt[3]) >= window.min_edit_ratio
                ):
                    ex.target = k
                    break
        pointing = [k for k, nxt in enumerate(follow) if nxt[8] and nxt[9] == eid]
        if pointing:
            ex.target, ex.gold = pointing[0], True
        elif follow and all(nxt[8] for nxt in follow):
            ex.target, ex.gold = -1, True
        examples.append(ex)
    return examples


def gold_pairs(turns: pl.DataFrame) -> set[tuple[str, str]]:
    """(first_event_id, second_event_id) of every gold rephrase among `turns`."""
    gold = turns.filter(pl.col("has_gold_rephrase") & pl.col("gold_rephrase_of").is_not_null())
    return set(zip(gold["gold_rephrase_of"], gold["event_id"], strict=True))
