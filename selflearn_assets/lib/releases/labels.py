"""The labels a release carries, and whether a label agrees with gold.

Agreement is exact: the same boolean for goal start and goal success, the same "domain.intent", the same
failure point, and for slots the same set of (name, lower-cased value) pairs, as the label model's
evaluation compares them (`lib/models/label_eval.py`).
"""

from __future__ import annotations

import polars as pl

from selflearn_assets.lib.models.label_eval import slot_set

LABELS = ("goal_start", "goal_success", "intent", "slots", "failure_point")
FAILURE_POINTS = ("false_wake", "asr", "nlu", "er", "result", "correct")
DESCRIPTIONS = {
    "goal_start": "the turn starts a new user goal in its session (goal segmentation)",
    "goal_success": "the goal this turn belongs to was achieved",
    "intent": 'what the user asked for, as "domain.intent"',
    "slots": "the request's arguments, a list of {name, value}",
    "failure_point": "the first component that failed irrecoverably: " + ", ".join(FAILURE_POINTS),
}


def same_label(label: str, a, b) -> bool | None:
    """Whether two values of `label` agree; None when either is missing."""
    if a is None or b is None:
        return None
    if label == "slots":
        return slot_set(a) == slot_set(b)
    return a == b


def agreement(frame: pl.DataFrame, label: str, left: str, right: str) -> pl.Series:
    """Per row, `same_label` of columns `left` and `right` (nullable booleans)."""
    return pl.Series(
        [same_label(label, a, b) for a, b in zip(frame[left].to_list(), frame[right].to_list(), strict=True)],
        dtype=pl.Boolean,
    )
