"""Training and evaluation frames for the label-generation model, from contract fields and annotations only.

One row per turn, sessions in time order, with the model's inputs (utterance, response, NLU domain and intent,
dialogue status, token count, ASR/NLU confidence, device type, device state as `key=value` tokens, hour of
day, gap to the previous turn) and its targets: weak labels from implicit and explicit feedback, overridden by
gold annotations where a session was audited. The single annotator's labels ride along for the %-of-human
comparison; both come from the annotation pivot `ingest.turn_annotations` (dbt_like_sql/ingest/schema.sql).
The turns are read by dbt_like_sql/models/label_turns.sql, the annotations by models/label_annotations.sql.
Optional contract fields may be NULL; every feature has a neutral fallback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from selflearn_assets.lib.sql import query_pl

FAILED_STATUSES = ("error", "unsupported", "no_response")
UNKNOWN = "unknown"
_WORD = re.compile(r"\w+")
SLOTS_TYPE = pl.List(pl.Struct({"name": pl.String, "value": pl.String}))


@dataclass(frozen=True)
class WeakLabelParams:
    """Heuristics of the weak labels (documented in `weak_labels`)."""

    new_goal_gap_s: float = 45.0  # a pause longer than this starts a new goal
    rephrase_gap_s: float = 30.0  # a next turn within this many seconds ...
    rephrase_overlap: float = 0.5  # ... sharing this share of words (Jaccard) is a rephrase


def load_label_frames(
    con: duckdb.DuckDBPyConnection, days: Sequence[date], params: WeakLabelParams = WeakLabelParams()
) -> pl.DataFrame:
    """The turns of `days`, one row per turn in session order, with features, weak, gold and annotator labels.

    Targets: `goal_start`, `goal_success` (bool, gold else weak), `intent_target` (gold, else the NLU intent
    of a weakly successful turn, else the intent its successful rephrase was given (`meant_intent`) when that
    is another intent than the turn's own reading, else null), `slots_target` (list of {name, value}: gold,
    else the NLU slots of a weakly successful turn, else its successful rephrase's slots, else null).

    A failed turn whose retries ended well *with the same NLU intent* gets no weak intent: either the reading
    was right and something after NLU failed, or the words were misheard the same way again (real ASR errors
    repeat: one speaker, one recording) and the "success" is the assistant's claim. On the real-corpus world's
    gold such targets were wrong 70-90% of the time where the NLU was wrong (where it was right, the turn's
    own reading, an input, says as much).
    """
    turns = query_pl(con, "models/label_turns.sql", {"days": list(days)})
    turns = _session_features(turns)
    turns = weak_labels(turns, params)
    annotations = query_pl(con, "models/label_annotations.sql", {"days": list(days)})
    turns = turns.join(annotations, on=["day", "event_id"], how="left", maintain_order="left")
    return _targets(turns)


def _session_features(turns: pl.DataFrame) -> pl.DataFrame:
    return turns.with_columns(
        turn_index=pl.int_range(pl.len()).over("session_id"),
        gap_s=(pl.col("ts") - pl.col("ts").shift(1))
        .dt.total_milliseconds()
        .over("session_id")
        .truediv(1000.0),
        n_tokens=pl.col("utterance").str.count_matches(r"\S+").cast(pl.Int64),
    )


def _jaccard(a: str, b: str) -> float:
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


def weak_labels(turns: pl.DataFrame, params: WeakLabelParams = WeakLabelParams()) -> pl.DataFrame:
    """Weak labels from feedback, for turns in session order (needs gap_s and turn_index).

    - `followed_by_rephrase`: the next turn of the session comes within `rephrase_gap_s` and repeats at least
      `rephrase_overlap` of the words, or has the same NLU intent.
    - `weak_turn_ok`: not a failed status (error, unsupported, no_response), no barge-in, no explicit negative
      feedback, not followed by a rephrase.
    - `weak_goal_start`: first turn of the session, a pause over `new_goal_gap_s`, or an NLU intent change that
      is not a quick retry of a failed turn.
    - `weak_goal_success`: `weak_turn_ok` of the last turn of the weak goal (a goal succeeds when it ends well).
    - `meant_intent`, `meant_slots`: for a turn followed by rephrases that end in a turn that went well
      (`weak_turn_ok`), that turn's NLU intent and slots: what the user meant (null otherwise).
    """
    nxt = turns.select(
        next_utt=pl.col("utterance").shift(-1).over("session_id"),
        next_intent=pl.col("nlu_intent").shift(-1).over("session_id"),
        next_gap=pl.col("gap_s").shift(-1).over("session_id"),
    )
    rephrase = [
        gap is not None
        and gap <= params.rephrase_gap_s
        and (_jaccard(u, nu) >= params.rephrase_overlap or (i == ni and i != UNKNOWN))
        for u, nu, i, ni, gap in zip(
            turns["utterance"],
            nxt["next_utt"],
            turns["nlu_intent"],
            nxt["next_intent"],
            nxt["next_gap"],
            strict=True,
        )
    ]
    out = turns.with_columns(followed_by_rephrase=pl.Series(rephrase, dtype=pl.Boolean))
    failed = (
        pl.col("status").is_in(FAILED_STATUSES)
        | pl.col("barge_in")
        | (pl.col("explicit_feedback") == "negative").fill_null(False)
    )
    out = out.with_columns(weak_turn_ok=~failed & ~pl.col("followed_by_rephrase"))
    prev_retry = (pl.col("followed_by_rephrase").shift(1).over("session_id")).fill_null(False)
    intent_change = (pl.col("nlu_intent") != pl.col("nlu_intent").shift(1).over("session_id")).fill_null(True)
    out = out.with_columns(
        weak_goal_start=(pl.col("turn_index") == 0)
        | (pl.col("gap_s") > params.new_goal_gap_s).fill_null(True)
        | (intent_change & ~prev_retry)
    )
    out = out.with_columns(weak_goal=pl.col("weak_goal_start").cast(pl.Int32).cum_sum().over("session_id"))
    out = out.with_columns(
        weak_goal_success=pl.col("weak_turn_ok").last().over(["session_id", "weak_goal"])
    ).drop("weak_goal")
    chain_start = ~pl.col("followed_by_rephrase").shift(1).over("session_id").fill_null(False)
    out = out.with_columns(rephrase_chain=chain_start.cast(pl.Int32).cum_sum().over("session_id"))
    chain = ["session_id", "rephrase_chain"]
    resolved = pl.col("followed_by_rephrase") & pl.col("weak_turn_ok").last().over(chain)
    return out.with_columns(
        meant_intent=pl.when(resolved).then(pl.col("nlu_intent").last().over(chain)),
        meant_slots=pl.when(resolved).then(pl.col("nlu_slots").last().over(chain)),
    ).drop("rephrase_chain")


def _targets(turns: pl.DataFrame) -> pl.DataFrame:
    weak_ok = pl.col("weak_turn_ok")
    return turns.with_columns(
        has_gold=pl.col("gold_intent").is_not_null() | pl.col("gold_goal_start").is_not_null(),
        goal_start=pl.coalesce("gold_goal_start", "weak_goal_start"),
        goal_success=pl.coalesce("gold_goal_success", "weak_goal_success"),
        intent_target=pl.coalesce(
            "gold_intent",
            pl.when(weak_ok).then(pl.col("nlu_intent")),
            pl.when(pl.col("meant_intent").ne_missing(pl.col("nlu_intent"))).then("meant_intent"),
        ),
        slots_target=pl.coalesce(
            "gold_slots",
            pl.when(weak_ok).then(pl.col("nlu_slots").cast(SLOTS_TYPE)),
            pl.col("meant_slots").cast(SLOTS_TYPE),
        ),
    )
