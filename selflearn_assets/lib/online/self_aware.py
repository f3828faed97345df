"""The self-aware keep/drop rule for the online layers' rewrites (as `markov.self_aware` does for the table).

The runtime logs every rewrite it applies as `rewrite_applied` {rewrite_id, source_text, rewrite_text, layer};
ingestion keeps it, and `signals.markov_transitions` counts the outcome of each rewritten turn under its
`rewrite_id` and `rewrite_layer`. The Markov chain never learns from rewritten turns (their outcome is the
rewrite's doing); this module judges them. For each online rewrite pattern source → target applied in the
window (layer `global` or `personal`; `rewrite_id` = `markov.mine.rewrite_id(source, target)`, the same for
every user), `markov.self_aware.evaluate_deployed` compares the rewritten turns' success with the organic
turns of the source (users or days the online layers did not rewrite it for) under Beta posteriors:

| reason                 | decision | when                                                                       |
|------------------------|----------|----------------------------------------------------------------------------|
| better                 | keep     | P(θ_rewritten > θ_source) >= keep_threshold                                |
| insufficient_evidence  | keep     | either side has fewer than min_trials turns                                |
| worse                  | drop     | otherwise                                                                  |
| dropped_earlier        | drop     | dropped on an earlier day, and the window no longer holds enough evidence  |
|                        |          | to judge it (a dropped pair is not served, so its rewritten turns only     |
|                        |          | leave the window: without this it would return once they had)             |

A dropped pair is exported with the online bundle (`blocked_pairs.parquet`) and `Layers.retrieve` never offers
it for its source again, for any user. A pattern applied by the personal layer for one user and the global
layer for another is one pattern (one rewrite_id): `layers` lists both.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_expr
from selflearn_assets.lib.markov.params import MarkovParams
from selflearn_assets.lib.markov.rows import REWRITE_ID, REWRITTEN, window_frame
from selflearn_assets.lib.markov.self_aware import DECISION_COLUMNS, evaluate_deployed

ONLINE_LAYERS = ("global", "personal")
VERDICT_COLUMNS = {
    **DECISION_COLUMNS,
    "layers": pl.String,  # the layers that applied it in the window, comma-separated, sorted
    "first_dropped": pl.Date,  # the day it was first dropped (NULL: kept)
}
APPLIED_COLUMNS = {"rewrite_id": pl.String, "source_text": pl.String, "rewrite_text": pl.String, "layer": pl.String}


def online_patterns(applied: pl.DataFrame) -> pl.DataFrame:
    """One row per online rewrite pattern of the window from its applied rewrites (rewrite_id, source_text,
    rewrite_text, layer: the contract's `rewrite_applied`); table rewrites and rows without an id are left out.
    Texts are normalised as Markov states are, so they match the transitions' `src`."""
    online = applied.cast(APPLIED_COLUMNS).filter(
        pl.col("layer").is_in(ONLINE_LAYERS) & pl.col("rewrite_id").is_not_null()
    )
    return (
        online.with_columns(normalize_expr("source_text"), normalize_expr("rewrite_text"))
        .group_by("rewrite_id")
        .agg(
            pl.col("source_text").first(),
            pl.col("rewrite_text").first(),
            pl.col("layer").unique().sort().str.join(",").alias("layers"),
        )
        .sort("rewrite_id")
    )


def judge_online(
    rows: pl.DataFrame | pl.LazyFrame,
    applied: pl.DataFrame,
    params: MarkovParams,
    day: date,
    earlier: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The verdicts of `day` (`VERDICT_COLUMNS`): every online pattern of the window's `applied` rewrites judged
    on the window's transition `rows` (only rows counted under a rewrite_id, or organic ones, are used), plus
    the pairs dropped in `earlier` (the previous day's verdicts) that were not judged again."""
    patterns = online_patterns(applied)
    judged = pl.DataFrame(schema=DECISION_COLUMNS)
    if patterns.height:
        # rewritten rows without an id (days built before the column) would be credited to every pattern of
        # their source; only the organic rows and the rows of a known rewrite count here
        frame = window_frame(rows).filter(~pl.col(REWRITTEN) | pl.col(REWRITE_ID).is_not_null())
        judged = evaluate_deployed(frame, patterns.select("rewrite_id", "source_text", "rewrite_text"), params)
    verdicts = judged.join(patterns.select("rewrite_id", "layers"), on="rewrite_id", how="left")
    if earlier is not None and earlier.height:
        before = earlier.filter(pl.col("decision") == "drop").select(
            "rewrite_id", pl.col("first_dropped").alias("dropped_on")
        )
    else:
        before = pl.DataFrame(schema={"rewrite_id": pl.String, "dropped_on": pl.Date})
    # a pair dropped before stays dropped unless the evidence now says better: once dropped it is not served,
    # so its rewritten turns only leave the window, and "insufficient evidence" would bring it back
    verdicts = verdicts.join(before, on="rewrite_id", how="left").with_columns(
        still=pl.col("dropped_on").is_not_null() & (pl.col("reason") == "insufficient_evidence")
    )
    verdicts = verdicts.with_columns(
        decision=pl.when("still").then(pl.lit("drop")).otherwise("decision"),
        reason=pl.when("still").then(pl.lit("dropped_earlier")).otherwise("reason"),
    ).with_columns(
        first_dropped=pl.when(pl.col("decision") == "drop")
        .then(pl.coalesce("dropped_on", pl.lit(day)))
        .otherwise(None)
        .cast(pl.Date)
    )
    carried = (
        earlier.filter(pl.col("decision") == "drop")
        .join(verdicts.select("rewrite_id"), on="rewrite_id", how="anti")
        .with_columns(reason=pl.lit("dropped_earlier"))
        if earlier is not None and earlier.height
        else None
    )
    frames = [verdicts.select(list(VERDICT_COLUMNS)).cast(VERDICT_COLUMNS)]
    if carried is not None and carried.height:
        frames.append(carried.select(list(VERDICT_COLUMNS)).cast(VERDICT_COLUMNS))
    return pl.concat(frames).sort("rewrite_id")


def blocked_pairs(verdicts: pl.DataFrame) -> pl.DataFrame:
    """(source_text, rewrite_text) of the dropped patterns: what `Layers` never offers again."""
    return (
        verdicts.filter(pl.col("decision") == "drop")
        .select("source_text", "rewrite_text")
        .unique()
        .sort("source_text", "rewrite_text")
    )


def verdict_counts(verdicts: pl.DataFrame) -> dict[str, int]:
    """Patterns judged, by reason (every reason present, 0 when none)."""
    counts = dict(verdicts.group_by("reason").len().iter_rows())
    reasons = ("better", "insufficient_evidence", "worse", "dropped_earlier")
    return {"patterns": verdicts.height, **{r: int(counts.get(r, 0)) for r in reasons}}
