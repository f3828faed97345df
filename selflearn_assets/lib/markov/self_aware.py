"""The self-aware keep/drop rule for deployed rewrites (Ponnusamy et al., NAACL 2022).

Once a rewrite is live, the feedback on its source utterance depends on it: the rewritten turns
show how the rewrite does, and the source's un-rewritten turns (traffic the runtime held out, or
that arrived before the rewrite) show how the user's own words do. For a deployed rewrite
source → target, over the window:

- rewritten turns: rows with rewritten = true for it, matched by `rewrite_id` where the rows carry
  one and by src = source otherwise;
- source turns: the organic (rewritten = false) rows with src = source.

A turn succeeds when its chain ended in SUCCESS right after it (dst = `__SUCCESS__`); FAILURE or a
reformulation (the user had to rephrase) is a defect. With s successes and f defects, a side's
success rate has the posterior θ ~ Beta(1 + s, 1 + f) (uniform prior), and

    prob_rewrite_better = P(θ_rewritten > θ_source | data),

computed by deterministic quadrature (`posterior.prob_beta_greater`). Decision:

- `insufficient_evidence` (keep): either side has fewer than `min_trials` turns. A new rewrite gets
  traffic before it is judged; a rewrite with no held-out source traffic cannot be judged at all.
- `better` (keep): prob_rewrite_better >= `keep_threshold` (default 0.8).
- `worse` (drop): otherwise. Dropped pairs are blocked from being mined again in the same run.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from selflearn_assets.lib.markov.params import MarkovParams
from selflearn_assets.lib.markov.posterior import prob_beta_greater
from selflearn_assets.lib.markov.rows import DST, N_TRANSITIONS, REWRITE_ID, REWRITTEN, SRC, SUCCESS

DECISION_COLUMNS = {
    "rewrite_id": pl.String,
    "source_text": pl.String,
    "rewrite_text": pl.String,
    "rewritten_successes": pl.Int64,
    "rewritten_failures": pl.Int64,
    "source_successes": pl.Int64,
    "source_failures": pl.Int64,
    "prob_rewrite_better": pl.Float64,
    "decision": pl.String,  # keep | drop
    "reason": pl.String,  # better | worse | insufficient_evidence
}


def evaluate_deployed(
    rows: pl.LazyFrame | pl.DataFrame, deployed: pl.DataFrame, params: MarkovParams
) -> pl.DataFrame:
    """One keep/drop verdict per deployed rewrite (rewrite_id, source_text, rewrite_text), from the
    window's rows (through `rows.window_frame`)."""
    if deployed.height == 0:
        return pl.DataFrame(schema=DECISION_COLUMNS)
    deployed = deployed.select("rewrite_id", "source_text", "rewrite_text").unique(
        "rewrite_id", maintain_order=True
    )
    outcome = rows.lazy().select(
        SRC,
        REWRITE_ID,
        REWRITTEN,
        pl.when(pl.col(DST) == SUCCESS).then(N_TRANSITIONS).otherwise(0).alias("s"),
        pl.when(pl.col(DST) != SUCCESS).then(N_TRANSITIONS).otherwise(0).alias("f"),
    )
    by_id = (
        outcome.filter(pl.col(REWRITTEN) & pl.col(REWRITE_ID).is_not_null())
        .group_by(REWRITE_ID)
        .agg(pl.col("s").sum(), pl.col("f").sum())
        .rename({REWRITE_ID: "rewrite_id"})
    )
    by_src_rewritten = (
        outcome.filter(pl.col(REWRITTEN) & pl.col(REWRITE_ID).is_null())
        .group_by(SRC)
        .agg(pl.col("s").sum(), pl.col("f").sum())
        .rename({SRC: "source_text"})
    )
    by_src_organic = (
        outcome.filter(~pl.col(REWRITTEN))
        .group_by(SRC)
        .agg(pl.col("s").sum().alias("source_successes"), pl.col("f").sum().alias("source_failures"))
        .rename({SRC: "source_text"})
    )
    counts = (
        deployed.lazy()
        .join(by_id, on="rewrite_id", how="left")
        .join(by_src_rewritten, on="source_text", how="left", suffix="_src")
        .join(by_src_organic, on="source_text", how="left")
        .select(
            "rewrite_id",
            "source_text",
            "rewrite_text",
            (pl.col("s").fill_null(0) + pl.col("s_src").fill_null(0))
            .cast(pl.Int64)
            .alias("rewritten_successes"),
            (pl.col("f").fill_null(0) + pl.col("f_src").fill_null(0))
            .cast(pl.Int64)
            .alias("rewritten_failures"),
            pl.col("source_successes").fill_null(0).cast(pl.Int64),
            pl.col("source_failures").fill_null(0).cast(pl.Int64),
        )
        .collect()
    )
    rs, rf, ss, sf = (counts[c].to_numpy() for c in list(DECISION_COLUMNS)[3:7])
    better = prob_beta_greater(1 + rs, 1 + rf, 1 + ss, 1 + sf, nodes=params.quadrature_nodes)
    insufficient = (rs + rf < params.min_trials) | (ss + sf < params.min_trials)
    keep_better = better >= params.keep_threshold
    reason = np.where(insufficient, "insufficient_evidence", np.where(keep_better, "better", "worse"))
    return counts.with_columns(
        pl.Series("prob_rewrite_better", better),
        pl.Series("decision", np.where(reason == "worse", "drop", "keep")),
        pl.Series("reason", reason),
    ).select(list(DECISION_COLUMNS))
