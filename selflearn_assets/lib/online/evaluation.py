"""The online rewriter judged on gold: per layer set, wins / losses / coverage and the oracle ceiling.

Every gold-annotated turn is sent through a `Rewriter` restricted to a set of layers (the A/B arms:
table, table + global, table + global + personal) as its speaker (pseudonymised, as in the warehouse) would
send it; the rewrite each gets is judged as the rewrite table's are (`evaluation.rewrite_offline`: a win
fixes a defective turn, a loss changes the meaning of a fine one or rewrites a defective one to another
wrong request). The **oracle ceiling** is the share of gold-defective turns for which some retrieved
candidate is the intended text: what a perfect ranker over these candidates could fix.
"""

from __future__ import annotations

import polars as pl

from selflearn_assets.lib.evaluation.rewrite_offline import judge_rewritten, offline_win_loss
from selflearn_assets.lib.markov.normalize import normalize_utterance

ARMS = {"table": ("table",), "global": ("table", "global"), "personal": ("table", "global", "personal")}


def decide(rewriter, gold: pl.DataFrame) -> pl.DataFrame:
    """event_id, rewrite_text, layer, score, oracle (the intended text was among the candidates)."""
    rows = []
    for event_id, user, text, intended in gold.select(
        "event_id", "user_id", "asr_text", "intended_text"
    ).iter_rows():
        decision = rewriter.rewrite_pseudonymous(user, text)
        want = normalize_utterance(intended) if intended else ""
        oracle = (
            bool(want)
            and want != decision.normalized
            and (decision.rewrite == want or any(c["text"] == want for c in decision.candidates))
        )
        rows.append((event_id, decision.rewrite, decision.layer, decision.score, oracle))
    return pl.DataFrame(
        rows,
        schema={"event_id": pl.String, "rewrite_text": pl.String, "layer": pl.String, "score": pl.Float64,
                "oracle": pl.Boolean},
        orient="row",
    )  # fmt: skip


def judge_arm(rewriter, gold: pl.DataFrame, interpretations: pl.DataFrame) -> dict:
    """The arm's offline result (`OfflineResult.as_dict`) with wins and losses per layer and the oracle."""
    decided = gold.join(decide(rewriter, gold), on="event_id", how="left")
    judged = judge_rewritten(decided, interpretations)
    result = offline_win_loss(judged).as_dict()
    defective = judged.filter(pl.col("failure_point") != "correct")
    result["oracle_ceiling"] = defective["oracle"].mean() if defective.height else 0.0
    by_layer = judged.filter(pl.col("outcome").is_not_null()).group_by("layer", "outcome").len()
    result["by_layer"] = {
        f"{layer}_{outcome}": n for layer, outcome, n in by_layer.sort("layer", "outcome").iter_rows()
    }
    return result


def judge_arms(
    make_rewriter, gold: pl.DataFrame, interpretations: pl.DataFrame, arms=ARMS
) -> dict[str, dict]:
    """{arm: judge_arm(...)} with `make_rewriter(layers)` building each arm's rewriter."""
    if not gold.height:
        return {}
    return {arm: judge_arm(make_rewriter(layers), gold, interpretations) for arm, layers in arms.items()}
