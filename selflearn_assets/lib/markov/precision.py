"""How often a candidate rewrite would be right, measured on audit gold before it is deployed.

Audit annotations say, for a sample of turns, what the user meant: the gold `intended_text`, intent
and slots. Where such a turn said a candidate's source text in the window, the candidate is **right**
for it when its target is the intended text itself, or when the assistant's interpretation of the
target (its most frequent intent and slots on the window's successful turns) has the gold intent and
exactly the gold slots (both as sorted "name=value" keys: a slot more is a changed request too);
otherwise the rewrite would have changed the meaning (a loss, on a defective turn as on a good one).

Few candidates have much gold of their own, so each is judged with its **stratum** (candidates of the
same channel, a reformulation path or a neighbour (`hops` 0), and meaning-score band, `STRATA`): the stratum's pooled right / gold counts, shrunk toward
`prior_precision`, are the prior of the candidate's own counts (empirical Bayes, Beta–binomial):

    stratum   p_s = (k0 · prior_precision + Σ right) / (k0 + Σ gold)        k0 = prior_strength
    candidate p   = (k1 · p_s + right) / (k1 + gold)                        k1 = prior_strength

`p` is the calibrated precision in the table (`precision`); the miner abstains from candidates with
`p < min_precision` (see `MarkovParams`). With no gold in the window at all, `p` is null and the gate
is not applied (there is nothing to measure with; the report says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

STRATA = (0.999, 0.85, 0.7, 0.0)  # lower edges of the meaning-score bands, best first

GOLD_COLUMNS = ("src", "intended", "gold_intent", "gold_slots")
INTERPRETATION_COLUMNS = ("norm_text", "intent", "slots")


@dataclass(frozen=True)
class GoldEvidence:
    """Gold turns of the window keyed by their normalised text, and what each text is understood as
    (`turns` may be empty: a window without audit gold still has interpretations).

    `turns`: src (normalised text said), intended (normalised gold intended text), gold_intent,
    gold_slots ("name=value;..." lowercased, sorted); `interpretations`: norm_text, intent, slots
    (same key format)."""

    turns: pl.DataFrame
    interpretations: pl.DataFrame
    # the label model's reading of each text (`intents.py`: norm_text, intent, share, turns), if any
    label_intents: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        for frame, columns, name in (
            (self.turns, GOLD_COLUMNS, "turns"),
            (self.interpretations, INTERPRETATION_COLUMNS, "interpretations"),
        ):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ValueError(f"GoldEvidence.{name} lacks columns {missing}")


def expresses_request(
    text: pl.Expr, intended: pl.Expr, intent: pl.Expr, gold_intent: pl.Expr, slots: pl.Expr, gold_slots: pl.Expr
) -> pl.Expr:
    """A rewrite text expresses what the user meant: it is the (normalised) intended text, or it is
    understood with the gold intent and exactly the gold slots (keys as in `GoldEvidence`). The miner's
    gate and the real-logs judge (`evaluation/rewrite_corpus.py`) count "right" by this one rule."""
    return (text == intended).fill_null(False) | ((intent == gold_intent) & (slots == gold_slots)).fill_null(False)


def stratum_of(score: pl.Expr) -> pl.Expr:
    """The index of the meaning-score band (0 = best) of each score."""
    expr = pl.lit(len(STRATA) - 1, dtype=pl.Int32)
    for index in range(len(STRATA) - 2, -1, -1):
        expr = pl.when(score >= STRATA[index]).then(pl.lit(index, dtype=pl.Int32)).otherwise(expr)
    return expr


def gold_counts(pairs: pl.DataFrame, evidence: GoldEvidence) -> pl.DataFrame:
    """Per (source_text, target_text) of `pairs`: its gold turns and how many it would get right."""
    meaning = evidence.interpretations.select(
        pl.col("norm_text").alias("target_text"),
        pl.col("intent").alias("_t_intent"),
        pl.col("slots").fill_null("").alias("_t_slots"),
    ).unique("target_text", keep="first")
    gold = evidence.turns.select(
        pl.col("src").alias("source_text"), "intended", "gold_intent", pl.col("gold_slots").fill_null("")
    )
    joined = (
        pairs.select("source_text", "target_text")
        .unique()
        .join(gold, on="source_text", how="inner")
        .join(meaning, on="target_text", how="left")
    )
    right = expresses_request(
        pl.col("target_text"),
        pl.col("intended"),
        pl.col("_t_intent"),
        pl.col("gold_intent"),
        pl.col("_t_slots"),
        pl.col("gold_slots"),
    )
    counted = joined.group_by("source_text", "target_text").agg(
        pl.len().cast(pl.Int64).alias("gold_turns"), right.sum().cast(pl.Int64).alias("gold_right")
    )
    return (
        pairs.select("source_text", "target_text")
        .unique()
        .join(counted, on=["source_text", "target_text"], how="left")
        .with_columns(pl.col("gold_turns").fill_null(0), pl.col("gold_right").fill_null(0))
    )


def calibrated_precision(
    candidates: pl.DataFrame, prior_precision: float, prior_strength: float
) -> tuple[pl.DataFrame, list[dict]]:
    """`candidates` (hops, meaning_score, gold_turns, gold_right) with `precision` added, and the strata.

    Strata pool every candidate given, so pass the candidates still in the running (module docstring)."""
    k = float(prior_strength)
    with_stratum = candidates.with_columns(
        stratum_of(pl.col("meaning_score")).alias("_stratum"), (pl.col("hops") == 0).alias("_neighbour")
    )
    strata = (
        with_stratum.group_by("_neighbour", "_stratum")
        .agg(
            pl.len().alias("candidates"),
            pl.col("gold_turns").sum().alias("gold_turns"),
            pl.col("gold_right").sum().alias("gold_right"),
        )
        .with_columns(
            ((k * prior_precision + pl.col("gold_right")) / (k + pl.col("gold_turns"))).alias("stratum_precision")
        )
        .sort("_neighbour", "_stratum")
    )
    out = with_stratum.join(
        strata.select("_neighbour", "_stratum", "stratum_precision"), on=["_neighbour", "_stratum"], how="left"
    )
    out = out.with_columns(
        ((k * pl.col("stratum_precision") + pl.col("gold_right")) / (k + pl.col("gold_turns"))).alias("precision")
    ).drop("_stratum", "_neighbour", "stratum_precision")
    report = [
        {
            "channel": "neighbour" if r["_neighbour"] else "path",
            "meaning_score_from": STRATA[int(r["_stratum"])],
            "candidates": int(r["candidates"]),
            "gold_turns": int(r["gold_turns"]),
            "gold_right": int(r["gold_right"]),
            "stratum_precision": round(float(r["stratum_precision"]), 4),
        }
        for r in strata.iter_rows(named=True)
    ]
    return out, report
