"""Examples for the contextual rephrase detector (ContReph), from contract fields and annotations only.

One example per turn: the turn (utterance, response) and its following turns of the same session that start
within `max_gap_s` seconds of it, at most `max_following` of them, each with utterance, response and gap.
Its target is the index of the following turn that rephrases it, or -1 (none):

- **gold** (overrides weak): a following turn whose gold `rephrase_of` is this turn's event_id (the first
  such); else none when every following turn of the window is gold-annotated (annotated, and not pointing here).
- **weak** (implicit signals): the turn looks defective (status error / unsupported / no_response, barge-in,
  or explicit negative feedback) and a following turn is lexically or character-wise similar (token Jaccard
  >= `min_jaccard` or edit-ratio >= `min_edit_ratio`) and succeeds (status success, no barge-in, no negative
  feedback): the first such turn is the rephrase; otherwise none.
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
        ex = RephraseExample(eid, sid, utt, resp)
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
        defective = status in FAILED_STATUSES or barge or negative
        if defective:
            for k, nxt in enumerate(follow):
                similar = (
                    jaccard(utt, nxt[3]) >= window.min_jaccard
                    or edit_ratio(utt, nxt[3]) >= window.min_edit_ratio
                )
                if similar and nxt[5] == "success" and not nxt[6] and not nxt[7]:
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


def split_sessions(
    turns: pl.DataFrame, eval_fraction: float = 0.3, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, eval) turns: eval = a seeded `eval_fraction` of the gold-annotated sessions (at least one when
    there are two or more); train = every other session."""
    gold_ids = sorted(set(turns.filter(pl.col("has_gold_rephrase"))["session_id"].to_list()))
    order = pl.Series(gold_ids, dtype=pl.String).sample(fraction=1.0, shuffle=True, seed=seed).to_list()
    n_eval = max(1, int(len(order) * eval_fraction)) if len(order) >= 2 else 0
    held = pl.Series(order[:n_eval], dtype=pl.String).implode()
    return turns.filter(~pl.col("session_id").is_in(held)), turns.filter(pl.col("session_id").is_in(held))
