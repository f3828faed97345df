"""Failure-point predictions against gold, next to the single annotator and a majority-class baseline.

Scored on turns that have both a gold and an annotator failure point. "% of human" (DESIGN.md) is the
model's score divided by the annotator's on the same turns: `pct_of_human` for accuracy (the paper's
headline), `pct_of_human_macro_f1` for macro-F1 (which weighs the rare failure classes as much as `correct`).
`by_source` renames the prefixed metrics so the model, the annotator and the majority class share names (their
MLflow runs are compared side by side).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from selflearn_assets.lib.models.failure_point_data import CLASSES


def _scores(gold: list[str], guess: list[str], prefix: str) -> dict[str, float]:
    precision, recall, f1, _ = precision_recall_fscore_support(
        gold, guess, labels=list(CLASSES), zero_division=0
    )
    present = [i for i, c in enumerate(CLASSES) if c in set(gold)]
    out = {
        f"{prefix}_accuracy": float(np.mean([a == b for a, b in zip(gold, guess, strict=True)])),
        f"{prefix}_macro_f1": float(np.mean(f1[present])) if present else 0.0,
    }
    for i, name in enumerate(CLASSES):
        out |= {
            f"{prefix}_{name}_precision": float(precision[i]),
            f"{prefix}_{name}_recall": float(recall[i]),
        }
        out[f"{prefix}_{name}_f1"] = float(f1[i])
    return out


def scored_turns(frames: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Turns with gold and annotator labels, joined to the model's predictions."""
    rows = frames.filter(
        pl.col("gold_failure_point").is_not_null() & pl.col("ann_failure_point").is_not_null()
    )
    return rows.select("event_id", "gold_failure_point", "ann_failure_point").join(
        predictions.select("event_id", "failure_point", "failure_point_confidence"), on="event_id"
    )


def evaluate_failure_points(
    frames: pl.DataFrame, predictions: pl.DataFrame, majority: str = "correct"
) -> dict[str, float]:
    """model_*, annotator_* and majority_* accuracy, macro-F1 and per-class precision/recall/F1
    (`model_<class>_f1`, ...); % of human; per class, `<class>_model_minus_annotator_f1` and `gold_<class>_n`,
    the gold turns behind its recall (0 for a class without gold turns: its F1 is 0 and means nothing).
    `majority`: the baseline's class (the most frequent in training)."""
    rows = scored_turns(frames, predictions)
    metrics: dict[str, float] = {"n": float(rows.height)}
    if rows.height == 0:
        return metrics
    gold = rows["gold_failure_point"].to_list()
    metrics |= _scores(gold, rows["failure_point"].to_list(), "model")
    metrics |= _scores(gold, rows["ann_failure_point"].to_list(), "annotator")
    metrics |= _scores(gold, [majority] * len(gold), "majority")
    if metrics["annotator_accuracy"] > 0:
        metrics["pct_of_human"] = metrics["model_accuracy"] / metrics["annotator_accuracy"]
    if metrics["annotator_macro_f1"] > 0:
        metrics["pct_of_human_macro_f1"] = metrics["model_macro_f1"] / metrics["annotator_macro_f1"]
    for name in CLASSES:
        metrics[f"{name}_model_minus_annotator_f1"] = (
            metrics[f"model_{name}_f1"] - metrics[f"annotator_{name}_f1"]
        )
    counts = Counter(gold)
    for name in CLASSES:
        metrics[f"gold_{name}_n"] = float(counts[name])
    return metrics


SOURCES = ("model", "annotator", "majority")


def by_source(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """The metrics of `evaluate_failure_points` per source ("model", "annotator", "majority") under the
    same names: `accuracy`, `macro_f1`, `<class>_precision` / `_recall` / `_f1`, `pct_of_human` and
    `pct_of_human_macro_f1` (its accuracy and macro-F1 / the annotator's), and the shared `n` and
    `gold_<class>_n`."""
    shared = {k: v for k, v in metrics.items() if k == "n" or (k.startswith("gold_") and k.endswith("_n"))}
    out = {}
    for who in SOURCES:
        own = {k.removeprefix(f"{who}_"): v for k, v in metrics.items() if k.startswith(f"{who}_")}
        for ratio, base in (("pct_of_human", "accuracy"), ("pct_of_human_macro_f1", "macro_f1")):
            human = metrics.get(f"annotator_{base}", 0.0)
            if base in own and human > 0:
                own[ratio] = own[base] / human
        out[who] = {**shared, **own}
    return out


def confusion(frames: pl.DataFrame, predictions: pl.DataFrame, who: str = "model") -> np.ndarray:
    """Rows = gold, columns = predicted (`who`: "model" or "annotator"), in CLASSES order."""
    rows = scored_turns(frames, predictions)
    guess = rows["failure_point" if who == "model" else "ann_failure_point"].to_list()
    return confusion_matrix(rows["gold_failure_point"].to_list(), guess, labels=list(CLASSES))
