"""Frames for the failure-point isolation model (Khaziev et al., NAACL 2022), from contract fields only.

One row per turn in session order (`dbt_like_sql/models/failure_point_turns.sql`): the request, the response,
metadata (wake score, ASR and NLU confidences, ASR n-best margin, ER status, response status, barge-in,
explicit feedback, device type, rewrite flag) and the next two turns of the session within `follow_s`
seconds, plus similarity features between the request and the following requests, the gold and
single-annotator failure points where the session was audited, and documented weak labels (`weak_labels`).
Optional fields may be NULL: every feature has a neutral value and a missing flag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from selflearn_assets.lib.sql import query_pl

CLASSES = ("false_wake", "asr", "nlu", "er", "result", "correct")
_WORD = re.compile(r"\w+")
# function words and request verbs: what a response need not repeat for the request to be covered
_STOP = frozenset(
    "a an the to of in on for by at and or my me i is are was what whats what's who when where how will "
    "can could please play put set turn show tell find get give some any it its this that be do does did".split()
)


@dataclass(frozen=True)
class WeakFailureParams:
    """Thresholds of the weak failure-point rules (see `weak_labels`)."""

    follow_s: float = 60.0  # a following turn within this many seconds is context
    rephrase_gap_s: float = 30.0  # a next request within this many seconds ...
    rephrase_overlap: float = (
        0.4  # ... sharing this share of words (Jaccard), or the same NLU intent, is a retry
    )
    low_wake: float = 0.5
    low_asr: float = 0.6
    low_nlu: float = 0.6


def load_failure_point_frames(
    con: duckdb.DuckDBPyConnection, days: Sequence[date], params: WeakFailureParams = WeakFailureParams()
) -> pl.DataFrame:
    """The turns of `days` with context, similarity features, gold/annotator and weak failure points."""
    turns = query_pl(con, "models/failure_point_turns.sql", {"days": list(days), "follow_s": params.follow_s})
    return weak_labels(overlap_features(turns), params)


def _jaccard(a: str | None, b: str | None) -> float | None:
    if a is None or b is None:
        return None
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


def _words(text: str | None) -> set[str]:
    return set(_WORD.findall(text.lower())) if text else set()


def _coverage(request: str | None, other: str | None) -> float | None:
    """Share of the request's content words (not in _STOP) that `other` contains; None without `other`."""
    if other is None:
        return None
    content = _words(request) - _STOP
    return len(content & _words(other)) / len(content) if content else 1.0


def _new_share(request: str | None, following: str | None) -> float | None:
    """Share of the following request's words that the request did not have (added detail, a changed word)."""
    if following is None:
        return None
    words = _words(following)
    return len(words - _words(request)) / len(words) if words else 0.0


def overlap_features(turns: pl.DataFrame) -> pl.DataFrame:
    """Word overlap of the request with its response and the following requests: Jaccard, the share of the
    request's content words the response (or the next request) repeats, and the share of the next request's
    words that are new; and the request's token count."""
    utt = turns["utterance"].to_list()
    nxt = turns["next1_utterance"].to_list()
    return turns.with_columns(
        response_coverage=pl.Series(
            [_coverage(a, b) for a, b in zip(utt, turns["response"], strict=True)], dtype=pl.Float64
        ),
        next1_coverage=pl.Series([_coverage(a, b) for a, b in zip(utt, nxt, strict=True)], dtype=pl.Float64),
        next1_new_share=pl.Series(
            [_new_share(a, b) for a, b in zip(utt, nxt, strict=True)], dtype=pl.Float64
        ),
        response_overlap=pl.Series(
            [_jaccard(a, b) for a, b in zip(utt, turns["response"], strict=True)], dtype=pl.Float64
        ),
        next1_overlap=pl.Series(
            [_jaccard(a, b) for a, b in zip(utt, turns["next1_utterance"], strict=True)], dtype=pl.Float64
        ),
        next2_overlap=pl.Series(
            [_jaccard(a, b) for a, b in zip(utt, turns["next2_utterance"], strict=True)], dtype=pl.Float64
        ),
        n_tokens=pl.col("utterance").str.count_matches(r"\S+").cast(pl.Int64),
    )


def weak_labels(turns: pl.DataFrame, params: WeakFailureParams = WeakFailureParams()) -> pl.DataFrame:
    """`weak_failure_point` from implicit and explicit feedback; NULL where no rule is confident.

    - retry: the next request comes within `rephrase_gap_s` and shares `rephrase_overlap` of its words or its
      NLU intent (the user tried again).
    - false_wake: wake score under `low_wake` and ASR confidence under `low_asr`, and no retry.
    - asr: a retry after a turn whose ASR confidence is under `low_asr` (the wake score is fine).
    - er: a retry after a turn with an unresolved entity that was heard confidently.
    - nlu: a failed or clarifying response to a confidently heard request the NLU was unsure of
      (NLU confidence under `low_nlu`), followed by a retry.
    - result: a successful, resolved response the user rejected (barge-in or negative feedback) and retried.
    - correct: a successful response, no barge-in, no negative feedback, no retry, confident wake and ASR.
    Rules are applied in that order; the first that fires wins.
    """
    c = pl.col
    retry = (
        (c("next1_gap_s") <= params.rephrase_gap_s)
        & ((c("next1_overlap") >= params.rephrase_overlap) | (c("next1_intent") == c("nlu_intent")))
    ).fill_null(False)
    wake = c("wake_score").fill_null(1.0)
    asr = c("asr_conf").fill_null(1.0)
    nlu = c("nlu_conf").fill_null(1.0)
    negative = (c("explicit_feedback") == "negative").fill_null(False)
    failed = c("status").is_in(["error", "unsupported", "no_response", "clarify"])
    weak = (
        pl.when((wake < params.low_wake) & (asr < params.low_asr) & ~retry)
        .then(pl.lit("false_wake"))
        .when(retry & (asr < params.low_asr) & (wake >= params.low_wake))
        .then(pl.lit("asr"))
        .when(retry & (c("er_status") == "unresolved") & (asr >= params.low_asr))
        .then(pl.lit("er"))
        .when(retry & failed & (asr >= params.low_asr) & (nlu < params.low_nlu))
        .then(pl.lit("nlu"))
        .when(
            retry & (c("status") == "success") & (c("er_status") != "unresolved") & (c("barge_in") | negative)
        )
        .then(pl.lit("result"))
        .when(
            (c("status") == "success")
            & ~c("barge_in")
            & ~negative
            & ~retry
            & (wake >= params.low_wake)
            & (asr >= params.low_asr)
        )
        .then(pl.lit("correct"))
    )
    return turns.with_columns(retry=retry, weak_failure_point=weak)
