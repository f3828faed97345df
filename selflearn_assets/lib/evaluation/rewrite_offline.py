"""Offline win/loss of a rewrite table against the gold annotations of the day after its window.

Over gold-annotated turns whose normalised text is a source of the table (the rewrite would fire):

- the rewrite *expresses the intended request* when the assistant's interpretation of the rewrite
  text (its most frequent intent and slots on successful turns of the window, read from the logs)
  has the turn's gold intent and keeps every gold slot with its value (it may add detail: "play
  giants in the mirror by the electric foxes" for the song the user meant); for a rewrite text with
  no successful interpretation in the window, when its normalised text equals the gold
  `intended_text`;
- **win**: a defective turn (gold failure_point != correct) whose rewrite expresses the request;
- **loss**: a turn that was fine and whose rewrite does not express it (the rewrite changes its
  meaning), or a defective turn rewritten to another wrong request;
- **neutral**: a fine turn whose rewrite still expresses it.

`coverage` is the share of gold-defective turns on which some rewrite fires; `win_coverage` the share
of gold-defective turns that a rewrite fixes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_expr


@dataclass(frozen=True)
class OfflineResult:
    gold_turns: int
    gold_defective: int
    fired: int
    wins: int
    losses: int
    neutral: int
    coverage: float
    win_coverage: float

    @property
    def win_loss(self) -> float | None:
        return self.wins / self.losses if self.losses else None

    def as_dict(self) -> dict:
        return {**asdict(self), "win_loss": self.win_loss}


def judge_turns(gold: pl.DataFrame, rewrites: pl.DataFrame, interpretations: pl.DataFrame) -> pl.DataFrame:
    """Per gold turn: the rewrite that fires (if any) and its outcome (win / loss / neutral / null).

    `gold`: event_id, asr_text, failure_point, intended_text, gold_intent, gold_slots;
    `rewrites`: source_text, rewrite_text; `interpretations`: norm_text, intent, slots."""
    fired = gold.with_columns(source_text=normalize_expr("asr_text")).join(
        rewrites.select("source_text", "rewrite_text"), on="source_text", how="left"
    )
    return judge_rewritten(fired, interpretations)


def judge_rewritten(fired: pl.DataFrame, interpretations: pl.DataFrame) -> pl.DataFrame:
    """`judge_turns` for gold turns that already carry the `rewrite_text` applied to each (null: none), as
    per-user rewriters decide it (the online layers)."""
    meaning = interpretations.select(
        pl.col("norm_text").alias("rewrite_text"),
        pl.col("intent").alias("rewrite_intent"),
        pl.col("slots").alias("rewrite_slots"),
    )
    judged = fired.join(meaning, on="rewrite_text", how="left")
    gold_slots = pl.col("gold_slots").fill_null("").str.split(";").list.eval(pl.element().filter(pl.element() != ""))
    rewrite_slots = pl.col("rewrite_slots").fill_null("").str.split(";")
    keeps_slots = gold_slots.list.set_difference(rewrite_slots).list.len() == 0
    by_meaning = (pl.col("rewrite_intent") == pl.col("gold_intent")) & keeps_slots
    by_text = pl.col("rewrite_text") == normalize_expr("intended_text")
    expresses = (
        pl.when(pl.col("rewrite_intent").is_not_null()).then(by_meaning).otherwise(by_text).fill_null(False)
    )
    defective = pl.col("failure_point") != "correct"
    outcome = (
        pl.when(pl.col("rewrite_text").is_null())
        .then(None)
        .when(expresses & defective)
        .then(pl.lit("win"))
        .when(expresses)
        .then(pl.lit("neutral"))
        .otherwise(pl.lit("loss"))
    )
    return judged.with_columns(expresses=expresses, outcome=outcome)


def offline_win_loss(judged: pl.DataFrame) -> OfflineResult:
    defective = judged.filter(pl.col("failure_point") != "correct")
    fired = judged.filter(pl.col("outcome").is_not_null())
    count = {o: fired.filter(pl.col("outcome") == o).height for o in ("win", "loss", "neutral")}
    fired_defective = defective.filter(pl.col("outcome").is_not_null()).height
    return OfflineResult(
        gold_turns=judged.height,
        gold_defective=defective.height,
        fired=fired.height,
        wins=count["win"],
        losses=count["loss"],
        neutral=count["neutral"],
        coverage=fired_defective / defective.height if defective.height else 0.0,
        win_coverage=count["win"] / defective.height if defective.height else 0.0,
    )
