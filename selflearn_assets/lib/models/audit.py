"""The audit holdout: the share of gold-annotated sessions that no model ever trains on.

Every model (label model, failure-point model) evaluates on, and every label release measures its
precision and picks its thresholds on, the gold sessions in the holdout; training uses the other gold
sessions and the weak labels. The rule is a hash of the session id, so it needs no stored state and
gives the same answer in every asset, every run and every window.
"""

from __future__ import annotations

import hashlib

import polars as pl

HOLDOUT_SHARE = 0.3


def is_holdout(session_id: str, share: float = HOLDOUT_SHARE) -> bool:
    """Whether a session belongs to the audit holdout (sha1 of the id, in 10,000 buckets)."""
    return int(hashlib.sha1(session_id.encode()).hexdigest()[:8], 16) % 10_000 < share * 10_000


def holdout_expr(column: str = "session_id", share: float = HOLDOUT_SHARE) -> pl.Expr:
    """`is_holdout` as a polars expression over a string column."""
    return pl.col(column).map_elements(lambda s: is_holdout(s, share), return_dtype=pl.Boolean)


def training_sessions(sessions: pl.DataFrame, max_sessions: int, seed: int = 0) -> pl.Series:
    """Up to `max_sessions` ids of `sessions` (columns `session_id`, `gold`: whether it has a gold annotation)
    to train on: every gold session first, then a seeded sample of the others (order-independent: sessions are
    sorted by id before sampling)."""
    sessions = sessions.sort("session_id")
    return pl.concat(
        [
            sessions.filter(pl.col("gold")),
            sessions.filter(~pl.col("gold")).sample(fraction=1.0, shuffle=True, seed=seed),
        ]
    ).head(max_sessions)["session_id"]
