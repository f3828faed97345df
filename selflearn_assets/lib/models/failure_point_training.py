"""One tracked training run of the failure-point isolation model: split, train, evaluate, log, register, promote.

- **Evaluation set**: gold-annotated turns of audit-holdout sessions (`audit.is_holdout`); no model trains on
  holdout sessions.
- **Training set**: every other turn of the window. Two variants train on it: gold labels only, and gold plus
  the weak labels of `failure_point_data.weak_labels` at `weak_weight`. The variant with the better
  validation macro-F1 (a split of the training gold, not the evaluation set) is the run's model; both
  variants' scores on the evaluation set are logged (`gold_only_*`, `with_weak_*`), which shows whether weak
  labels help.
- **Promotion**: the current champion is re-scored on this run's evaluation set, and `champion` moves only
  when the new model's `model_macro_f1` is higher.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import polars as pl

from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.audit import HOLDOUT_SHARE, holdout_expr
from selflearn_assets.lib.models.failure_point_data import CLASSES
from selflearn_assets.lib.models.failure_point_eval import confusion, evaluate_failure_points
from selflearn_assets.lib.models.failure_point_model import (
    FailurePointConfig,
    config_params,
    predict_failure_points,
    train_failure_point_model,
)

MODEL_NAME = "selflearn-failure-point-model"
EXPERIMENT = "selflearn-failure-point-model"
PROMOTION_METRIC = "model_macro_f1"


def split_frames(frames: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """(train, evaluation, description): evaluation = gold turns of holdout sessions, train = the rest."""
    holdout = frames.select(holdout_expr().alias("_holdout"))["_holdout"]
    gold = frames["gold_failure_point"].is_not_null()
    evaluation = frames.filter(holdout & gold)
    if evaluation.is_empty():
        raise ValueError(
            "no gold failure points in the audit holdout of the window: the model needs an audit sample"
        )
    train = frames.filter(~holdout)
    if train.filter(pl.col("gold_failure_point").is_not_null()).is_empty():
        raise ValueError("no gold failure points outside the audit holdout: nothing to train on")
    days = sorted(set(frames["day"].to_list()))
    return train, evaluation, f"audit holdout ({HOLDOUT_SHARE:.0%} of gold sessions) of {days[0]}..{days[-1]}"


def _majority(train: pl.DataFrame) -> str:
    counts = train["gold_failure_point"].drop_nulls().value_counts(sort=True)
    return counts[0, 0] if counts.height else "correct"


def train_and_track(
    frames: pl.DataFrame,
    embedder,
    config: FailurePointConfig,
    home: str | Path,
    tags: dict,
    encoder_name: str = "",
    progress: bool = True,
) -> dict:
    """Train both variants, evaluate against gold next to the annotator and the majority class, log one run;
    returns the run id, version, promotion, the chosen variant and the metrics."""
    train, evaluation, eval_set = split_frames(frames)
    tracking.configure(home, EXPERIMENT)
    weak = train["weak_failure_point"].is_not_null() & train["gold_failure_point"].is_null()
    params = {
        **config_params(config),
        "encoder": encoder_name,
        "train_turns": train.height,
        "train_gold_turns": int(train["gold_failure_point"].is_not_null().sum()),
        "train_weak_turns": int(weak.sum()),
        "eval_turns": evaluation.height,
        "eval_set": eval_set,
    }
    majority = _majority(train)
    with tracking.start_run(EXPERIMENT, tags=tags, params=params) as run:
        variants = {}
        for name, weight in (("gold_only", 0.0), ("with_weak", config.weak_weight)):
            if name == "with_weak" and weight <= 0:
                continue
            variant = dataclasses.replace(config, weak_weight=weight)
            model, history, fit = train_failure_point_model(train, variant, embedder, progress=progress)
            scores = evaluate_failure_points(
                evaluation, predict_failure_points(model, evaluation, embedder), majority
            )
            variants[name] = (model, history, fit, scores)
            own = {
                k: v for k, v in scores.items() if k.startswith(("model_", "pct_of_human"))
            }  # not the annotator's
            mlflow.log_metrics({f"{name}_{k}": float(v) for k, v in {**fit, **own}.items()})
        chosen = max(variants, key=lambda n: variants[n][2]["best_val_macro_f1"])
        model, history, fit, metrics = variants[chosen]
        tracking.log_epoch_metrics(history)
        mlflow.log_metrics({k: float(v) for k, v in {**fit, **metrics}.items()})
        mlflow.set_tag("variant", chosen)
        predicted = predict_failure_points(model, evaluation, embedder)
        for who in ("model", "annotator"):
            figure = tracking.confusion_figure(
                list(CLASSES), confusion(evaluation, predicted, who), f"{who} vs gold"
            )
            tracking.log_figure_png(figure, f"failure_point_confusion_{who}.png")
        tracking.log_figure_png(_f1_figure(metrics), "failure_point_f1_by_class.png")
        tracking.log_torch_model(model)
        registered = tracking.register_run_model(
            run,
            MODEL_NAME,
            PROMOTION_METRIC,
            float(metrics.get(PROMOTION_METRIC, 0.0)),
            eval_set,
            champion_value=_champion_score(evaluation, embedder, majority),
        )
    return {
        **registered,
        "variant": chosen,
        "variants": {name: v[3] for name, v in variants.items()},
        "metrics": metrics,
        "fit": fit,
        "epochs": len(history),
    }


def _f1_figure(metrics: dict[str, float]):
    """Per-class F1 of the model, the single annotator and the majority baseline against gold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(CLASSES))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for offset, who in ((-0.25, "model"), (0.0, "annotator"), (0.25, "majority")):
        ax.bar(x + offset, [metrics.get(f"{who}_{c}_f1", 0.0) for c in CLASSES], width=0.25, label=who)
    ax.set_xticks(x, CLASSES)
    ax.set_ylabel("F1 vs gold")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    ax.set_title("failure point: F1 by class")
    fig.tight_layout()
    return fig


def _champion_score(evaluation: pl.DataFrame, embedder, majority: str) -> float | None:
    """The current champion's promotion metric on this evaluation set (None without a usable champion)."""

    def score(champion) -> float:
        predicted = predict_failure_points(champion, evaluation, embedder)
        return float(evaluate_failure_points(evaluation, predicted, majority).get(PROMOTION_METRIC, 0.0))

    return tracking.rescore_champion(MODEL_NAME, score)


def load_champion():
    """The registered champion failure-point model (raises MlflowException when there is none)."""
    return tracking.load_champion(MODEL_NAME)


def champion_version() -> str:
    """The champion's registered version number (raises MlflowException when there is none)."""
    return str(tracking.champion_version(MODEL_NAME).version)
