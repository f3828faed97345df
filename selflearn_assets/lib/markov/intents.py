"""Is a candidate's target compatible with what the label model thinks its source meant?

The label model (`labels.turn_labels`) reads every turn in its session context: the user's later
rephrase, the assistant's reply. Over the window, a source utterance's turns get its intents; where
the model agrees with itself (the most frequent intent has at least `min_label_intent_share` of at
least `min_label_intent_turns` turns), that intent is what the source meant. A candidate whose target
the assistant understands as another intent (its most frequent interpretation on the window's
successful turns) would change the request: it is rejected (`intent`). Where either side is unknown
(no labels for the source, no successful interpretation of the target, or the model unsure), the
gate has nothing to say and the candidate goes on.

`label_intents` frame: norm_text, intent (the most frequent), share, turns.
"""

from __future__ import annotations

import polars as pl

LABEL_INTENT_COLUMNS = ("norm_text", "intent", "share", "turns")


def intent_conflicts(
    pairs: pl.DataFrame,
    label_intents: pl.DataFrame,
    interpretations: pl.DataFrame,
    min_share: float,
    min_turns: int,
) -> pl.Series:
    """Per row of `pairs` (source_text, target_text): True where the label model confidently reads the
    source as one intent and the target is understood as another."""
    missing = [c for c in LABEL_INTENT_COLUMNS if c not in label_intents.columns]
    if missing:
        raise ValueError(f"label intents lack columns {missing}")
    sure = label_intents.filter((pl.col("share") >= min_share) & (pl.col("turns") >= min_turns)).select(
        pl.col("norm_text").alias("source_text"), pl.col("intent").alias("_meant")
    )
    understood = interpretations.select(
        pl.col("norm_text").alias("target_text"), pl.col("intent").alias("_understood")
    ).unique("target_text", keep="first")
    joined = (
        pairs.select("source_text", "target_text")
        .join(sure.unique("source_text", keep="first"), on="source_text", how="left", maintain_order="left")
        .join(understood, on="target_text", how="left", maintain_order="left")
    )
    return joined.select(
        (pl.col("_meant") != pl.col("_understood")).fill_null(False).alias("conflict")
    ).to_series()
