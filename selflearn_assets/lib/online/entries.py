"""The entries of the two layers, built from a window of logs without gold (the calibrated defect model).

Input: one row per turn of the window (`dbt_like_sql/online/window_turns.sql`): user_id (pseudonymised),
norm_text, defect_prob (`signals.defect_signals`), and the assistant's interpretation (intent, slots) of it.
A turn's success is 1 - defect_prob, so a text's `success_rate` is the mean P(it worked) over its turns.

- **global**: one row per text said by at least `min_users` distinct users (the privacy rule of the rewrite
  table: a text said by fewer users never leaves their logs for another user's rewrite), with its popularity
  (users, turns), success rate and most frequent interpretation; the Markov table's rewrite targets are
  added with their absorption probability as success rate when the logs have too few turns of them.
  `candidate` marks the texts a request may be rewritten to (success_rate >= min_success); the others stay
  as statistics of the requests themselves (a text that usually fails is a reason to rewrite it).
- **personal**: per user, every text they said in the window (up to `max_per_user`, most used first), with
  their own uses, success rate and last day: what works (and what fails) for this user.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

GLOBAL_COLUMNS = ("text", "users", "turns", "success_rate", "intent", "slots", "from_markov", "candidate")
PERSONAL_COLUMNS = ("user_id", "text", "uses", "success_rate", "last_day", "intent", "slots", "candidate")


@dataclass(frozen=True)
class EntryParams:
    min_users: int = 3  # distinct users who said a text before it may serve another user
    min_success: float = 0.7  # mean P(success) of a text before it is offered as a rewrite
    max_per_user: int = 1000  # personal entries kept per user, most used first


def interpretations(turns: pl.DataFrame, keys: list[str], success_max: float = 0.5) -> pl.DataFrame:
    """Most frequent (intent, slots) among the key's successful turns (defect_prob < success_max)."""
    ok = turns.filter((pl.col("defect_prob") < success_max) & pl.col("intent").is_not_null())
    return (
        ok.group_by([*keys, "intent", "slots"])
        .agg(n=pl.len())
        .sort([*keys, "n", "intent", "slots"], descending=[False] * len(keys) + [True, False, False])
        .unique(subset=keys, keep="first", maintain_order=True)
        .drop("n")
    )


def global_entries(turns: pl.DataFrame, markov: pl.DataFrame | None, params: EntryParams) -> pl.DataFrame:
    """Texts said by >= min_users users (and Markov rewrite targets), sorted by text."""
    turns = turns.filter(pl.col("norm_text") != "").rename({"norm_text": "text"})
    stats = turns.group_by("text").agg(
        users=pl.col("user_id").n_unique(),
        turns=pl.len(),
        success_rate=(1.0 - pl.col("defect_prob")).mean(),
    )
    stats = stats.filter(pl.col("users") >= params.min_users).join(
        interpretations(turns, ["text"]), on="text", how="left"
    )
    stats = stats.with_columns(from_markov=pl.lit(False))
    if markov is not None and markov.height:
        targets = (
            markov.group_by(pl.col("rewrite_text").alias("text"))
            .agg(
                markov_success=pl.col("rewrite_success_prob").max(), markov_users=pl.col("target_users").max()
            )
            .filter(pl.col("markov_users").fill_null(0) >= params.min_users)
        )
        stats = (
            stats.join(targets, on="text", how="full", coalesce=True)
            .with_columns(
                users=pl.coalesce("users", "markov_users"),
                turns=pl.col("turns").fill_null(0),
                success_rate=pl.coalesce("success_rate", "markov_success"),
                from_markov=pl.col("markov_success").is_not_null(),
            )
            .drop("markov_success", "markov_users")
        )
    stats = stats.with_columns(candidate=pl.col("success_rate") >= params.min_success)
    return stats.select(GLOBAL_COLUMNS).cast({"users": pl.Int64, "turns": pl.Int64}).sort("text")


def personal_entries(turns: pl.DataFrame, params: EntryParams) -> pl.DataFrame:
    """Per user, their texts with their own uses and success, sorted by user then text."""
    turns = turns.filter(pl.col("norm_text") != "").rename({"norm_text": "text"})
    stats = turns.group_by("user_id", "text").agg(
        uses=pl.len(), success_rate=(1.0 - pl.col("defect_prob")).mean(), last_day=pl.col("day").max()
    )
    stats = (
        stats.sort(["user_id", "uses", "last_day", "text"], descending=[False, True, True, False])
        .group_by("user_id", maintain_order=True)
        .head(params.max_per_user)
        .join(interpretations(turns, ["user_id", "text"]), on=["user_id", "text"], how="left")
        .with_columns(candidate=pl.col("success_rate") >= params.min_success)
    )
    return stats.select(PERSONAL_COLUMNS).cast({"uses": pl.Int64}).sort("user_id", "text")
