"""Teachable moments and teaching exchanges in a day's logs (Ping et al. 2020: detect the gap, then teach).

Input: the turns of `window_turns.sql` (one row per turn, in session order). Output, one row per turn that is
either kind (`MOMENT_COLUMNS`):

- a **moment**: a turn where teaching would have helped, for one or more reasons (rules, from the contract's
  fields only):

  | reason             | the turn                                                                        |
  |--------------------|---------------------------------------------------------------------------------|
  | unsupported        | response_status `unsupported`: the assistant could not do it at all             |
  | clarify            | response_status `clarify`: it had to ask (a preference it was never told)       |
  | unresolved_entity  | er_status `unresolved`: a name it does not know                                 |
  | repeated_failure   | the same user's second (or later) defective turn with the same words that day   |
  | negative_feedback  | explicit_feedback `negative`                                                    |

  `score` is the number of reasons; a rule-only detector calls a moment at score >= 1. `MomentModel` is the
  learned detector: a logistic regression over the turn's reasons, whether it asked for a name, its words, its
  defect probability and whether a teaching exchange follows in the session, trained on the gold of earlier
  days (a turn that relied on something taught and failed).
- an **exchange**: a turn that taught the assistant something: the assistant logged a teaching or preference
  intent (domain `teaching` or `preferences`), or the turn answers a clarifying question about a request that
  named something by an activation ("turn on study mode" -> "what should I do?" -> the answer).

`asked_name` is the name such a request asked for ("study mode"): the key of what an answer teaches.
"""

from __future__ import annotations

import polars as pl

from selflearn_assets.lib.online.preferences import ACTIVATIONS

REASONS = ("unsupported", "clarify", "unresolved_entity", "repeated_failure", "negative_feedback")
TEACHING_DOMAINS = ("teaching", "preferences")
DEFECT = 0.5  # defect_prob at which a turn counts as failed for repeated_failure
MOMENT_COLUMNS = {
    "day": pl.Date,
    "event_id": pl.String,
    "session_id": pl.String,
    "user_id": pl.String,
    "norm_text": pl.String,
    "kind": pl.String,  # moment | exchange
    "reasons": pl.List(pl.String),  # why it is a moment (empty for an exchange)
    "score": pl.Int64,  # len(reasons)
    "asked_name": pl.String,  # a moment: the name its request asked for; an exchange: the name it defines
}


def asked_name(norm: str) -> str | None:
    """The name a request asks for by an activation ("turn on study mode" -> "study mode"), else None."""
    for verb in ACTIVATIONS:
        if norm.startswith(verb + " "):
            rest = norm[len(verb) + 1 :]
            for article in ("my ", "the "):
                if rest.startswith(article):
                    rest = rest[len(article) :]
            return rest or None
    return None


def find(turns: pl.DataFrame) -> pl.DataFrame:
    """The day's moments and exchanges (`MOMENT_COLUMNS`), from `window_turns.sql` rows of one or more days."""
    if not turns.height:
        return pl.DataFrame(schema=MOMENT_COLUMNS)
    t = turns.sort("session_id", "ts", "event_id").with_columns(
        failed=pl.col("defect_prob") >= DEFECT,
        name=pl.col("norm_text").map_elements(asked_name, return_dtype=pl.String),
    )
    t = t.with_columns(
        repeat=(
            pl.col("failed")
            & (pl.col("failed").cast(pl.Int64).cum_sum().over("day", "user_id", "norm_text") >= 2)
            & (pl.col("norm_text") != "")
        ),
        prev_status=pl.col("response_status").shift(1).over("session_id"),
        prev_name=pl.col("name").shift(1).over("session_id"),
        prev_failed=pl.col("failed").shift(1).over("session_id"),
    )
    reasons = pl.concat_list(
        pl.when(pl.col("response_status") == "unsupported").then(pl.lit("unsupported")),
        pl.when(pl.col("response_status") == "clarify").then(pl.lit("clarify")),
        pl.when(pl.col("er_status") == "unresolved").then(pl.lit("unresolved_entity")),
        pl.when(pl.col("repeat")).then(pl.lit("repeated_failure")),
        pl.when(pl.col("explicit_feedback") == "negative").then(pl.lit("negative_feedback")),
    ).list.drop_nulls()
    domain = pl.col("intent").str.split(".").list.first()
    answers = (pl.col("prev_status") == "clarify") & pl.col("prev_name").is_not_null()
    exchange = domain.is_in(TEACHING_DOMAINS) | answers
    t = t.with_columns(reasons=reasons, exchange=exchange.fill_null(False))
    moments = t.filter(~pl.col("exchange") & (pl.col("reasons").list.len() > 0)).with_columns(
        kind=pl.lit("moment"), asked_name=pl.col("name")
    )
    exchanges = t.filter(pl.col("exchange")).with_columns(
        kind=pl.lit("exchange"),
        reasons=pl.lit([], dtype=pl.List(pl.String)),
        asked_name=pl.when(answers).then(pl.col("prev_name")),
    )
    out = pl.concat([moments, exchanges]).with_columns(score=pl.col("reasons").list.len().cast(pl.Int64))
    return out.select(list(MOMENT_COLUMNS)).cast(MOMENT_COLUMNS).sort("day", "session_id", "event_id")


MODEL_FEATURES = (*REASONS, "asked_name", "words", "defect_prob", "exchange_follows", "fallback")


def moment_features(turns: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """One row per turn of `turns`: event_id, day and `MODEL_FEATURES` (from `find`'s rows of the same turns)."""
    reasons = found.filter(pl.col("kind") == "moment").select("event_id", "reasons", "asked_name")
    exchanges = found.filter(pl.col("kind") == "exchange").select("session_id", "event_id")
    later = (
        turns.select("session_id", "event_id", "ts")
        .join(exchanges.rename({"event_id": "x"}), on="session_id")
        .join(turns.select(pl.col("event_id").alias("x"), pl.col("ts").alias("x_ts")), on="x")
        .filter(pl.col("x_ts") > pl.col("ts"))
        .select("event_id")
        .unique()
    )
    t = turns.join(reasons, on="event_id", how="left").with_columns(
        pl.col("reasons").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )
    return t.select(
        "event_id",
        "day",
        *[pl.col("reasons").list.contains(r).cast(pl.Float64).alias(r) for r in REASONS],
        pl.col("asked_name").is_not_null().cast(pl.Float64).alias("asked_name"),
        pl.col("norm_text").str.split(" ").list.len().cast(pl.Float64).alias("words"),
        pl.col("defect_prob").cast(pl.Float64),
        pl.col("event_id").is_in(later["event_id"].implode()).cast(pl.Float64).alias("exchange_follows"),
        (pl.col("intent").fill_null("").str.starts_with("knowledge.question")).cast(pl.Float64).alias("fallback"),
    )


class MomentModel:
    """The learned teachable-moment detector (see the module docstring)."""

    def __init__(self) -> None:
        self.model = None

    def fit(self, features: pl.DataFrame, truth: set[str]) -> int:
        """Fit on the turns of `features` (audited ones), `truth` the event ids that are moments; the number of
        true moments learned from (fewer than 5, or no negatives: not trained)."""
        from sklearn.linear_model import LogisticRegression

        y = features["event_id"].is_in(list(truth)).to_numpy()
        if y.sum() < 5 or y.all():
            return 0
        x = features.select(MODEL_FEATURES).to_numpy()
        self.model = LogisticRegression(max_iter=2000, class_weight="balanced").fit(x, y)
        return int(y.sum())

    def predict(self, features: pl.DataFrame) -> set[str]:
        """The event ids it calls moments (P >= 0.5 under balanced class weights)."""
        if self.model is None or not features.height:
            return set()
        called = self.model.predict(features.select(MODEL_FEATURES).to_numpy())
        return set(features.filter(pl.Series(called.astype(bool)))["event_id"].to_list())
