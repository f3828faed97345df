"""The rephrase detector and its pairwise baseline against gold `rephrase_of`: pair-level precision, recall
and F1 on turns whose follower is gold-annotated (held-out sessions: `rephrase_training.split_turns`).

A pair is (first, second) event ids. Only pairs whose second turn is gold-annotated count as predictions;
gold pairs outside the model's window count as misses for every model.
"""

from __future__ import annotations

import polars as pl

from selflearn_assets.lib.models.rephrase_data import build_examples, gold_pairs
from selflearn_assets.lib.models.rephrase_model import (
    ContRephModel,
    PairwiseRephraseModel,
    predict_pairwise,
    predict_spans,
)


def pair_prf(predicted: set[tuple[str, str]], gold: set[tuple[str, str]]) -> dict[str, float]:
    """Pair-level precision, recall, F1 (each 0.0 when undefined: no predictions, no gold, or P + R = 0)."""
    tp = len(predicted & gold)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_positives": float(tp),
            "predicted": float(len(predicted)), "gold": float(len(gold))}  # fmt: skip


def score_pairs(
    detector: ContRephModel, baseline: PairwiseRephraseModel | None, turns: pl.DataFrame, embedder
) -> pl.DataFrame:
    """Every (turn, follower) pair of `turns` whose second turn is gold-annotated: gold label, the detector's
    P(follower) and decision, the baseline's P(rephrase) (NaN without a baseline), and follower position."""
    examples = build_examples(turns, detector.config.window)
    annotated = set(turns.filter(pl.col("has_gold_rephrase"))["event_id"].to_list())
    gold = gold_pairs(turns)
    spans = predict_spans(detector, embedder, examples)
    base = predict_pairwise(baseline, embedder, examples) if baseline is not None else None
    rows = []
    for i, (ex, p) in enumerate(zip(examples, spans, strict=True)):
        for k, f in enumerate(ex.followers):
            if f in annotated:
                b = base[i][k] if base is not None else float("nan")
                rows.append(
                    (ex.event_id, f, k, (ex.event_id, f) in gold, p.follower_probs[k], p.follower == k, b)
                )
    schema = {"first_event_id": pl.String, "second_event_id": pl.String, "position": pl.Int64, "gold": pl.Boolean,
              "detector_prob": pl.Float64, "detector_pred": pl.Boolean, "baseline_prob": pl.Float64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def evaluate_against_gold(
    detector: ContRephModel, baseline: PairwiseRephraseModel | None, turns: pl.DataFrame, embedder
) -> dict[str, dict[str, float]]:
    """P/R/F1 of the detector (and the pairwise baseline) against gold `rephrase_of` on `turns` (held-out
    sessions, rows of `load_rephrase_turns`); see the module docstring."""
    scored = score_pairs(detector, baseline, turns, embedder)
    gold = gold_pairs(turns)

    def found(predicate: pl.Expr) -> set[tuple[str, str]]:
        return set(scored.filter(predicate).select("first_event_id", "second_event_id").iter_rows())

    report = {"detector": pair_prf(found(pl.col("detector_pred")), gold)}
    if baseline is not None:
        report["pairwise"] = pair_prf(
            found(pl.col("baseline_prob") >= baseline.config.baseline_threshold), gold
        )
    return report


def flat_metrics(report: dict[str, dict[str, float]], prefix: str = "gold_") -> dict[str, float]:
    """{"gold_detector_f1": ..., ...} for MLflow."""
    return {f"{prefix}{model}_{k}": float(v) for model, values in report.items() for k, v in values.items()}
