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
- **MLflow**: one run per training ("failure-point-model <first day>..<last day>") with the chosen variant's
  metrics, and child runs for the single annotator, the majority class and the other variant that log the
  same names (`accuracy`, `macro_f1`, `<class>_f1`, ...: `failure_point_eval.by_source`), so Compare puts
  them side by side; the training and evaluation turns as datasets; the model with its signature.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import polars as pl

from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.audit import HOLDOUT_SHARE, holdout_expr
from selflearn_assets.lib.models.failure_point_data import CLASSES
from selflearn_assets.lib.models.failure_point_eval import by_source, confusion, evaluate_failure_points
from selflearn_assets.lib.models.failure_point_features import encode
from selflearn_assets.lib.models.failure_point_model import (
    FailurePointConfig,
    FailurePointModel,
    config_params,
    predict_failure_points,
    train_failure_point_model,
)

MODEL_NAME = "selflearn-failure-point-model"
EXPERIMENT = "selflearn-failure-point-model"
PROMOTION_METRIC = "model_macro_f1"
RUN_PREFIX = "failure-point-model"  # run names: "failure-point-model 2026-11-01..2026-11-03"
VARIANT_NAMES = {"gold_only": "gold-only", "with_weak": "with-weak"}
DESCRIPTION = (
    "Failure-point isolation (Khaziev et al., NAACL 2022): per turn, the first component that failed "
    "irrecoverably (false_wake, asr, nlu, er, result, correct). Trained by the Dagster asset "
    "`failure_point_model` on the gold audit labels of a window of days (variant gold-only, and with-weak: "
    "plus weak labels from feedback); evaluated on the gold turns of the audit holdout. Each run is the chosen "
    "variant; its child runs hold the single annotator, the majority class and the other variant under the "
    "same metric names (accuracy, macro_f1, <class>_f1): select the run and a child, then Compare. "
    "`champion` moves only when model_macro_f1 beats the re-scored champion on the same evaluation set."
)


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
    """Train both variants, evaluate against gold next to the annotator and the majority class, log one run
    (with a child run per reference); returns the run id, version, promotion, the chosen variant, the metrics,
    `references` ({child run name: its metrics}) and the epochs: `epochs` (the configured maximum) and
    `epochs_run` (those the chosen variant ran before early stopping)."""
    train, evaluation, eval_set = split_frames(frames)
    tracking.configure(home, EXPERIMENT, DESCRIPTION)
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
    datasets = tracking.split_datasets(
        home, RUN_PREFIX, "dbt_like_sql/models/failure_point_turns.sql", pl.col("gold_failure_point").is_not_null(), frames,
        training=train, evaluation=evaluation,
    )
    name = tracking.run_name(RUN_PREFIX, frames["day"].unique())
    with tracking.start_run(
        EXPERIMENT, tags=tags, params=params, run_name=name, description=DESCRIPTION, datasets=datasets
    ) as run:
        variants = {}
        for variant_name, weight in (("gold_only", 0.0), ("with_weak", config.weak_weight)):
            if variant_name == "with_weak" and weight <= 0:
                continue
            variant = dataclasses.replace(config, weak_weight=weight)
            model, history, fit = train_failure_point_model(train, variant, embedder, progress=progress)
            scores = evaluate_failure_points(
                evaluation, predict_failure_points(model, evaluation, embedder), majority
            )
            variants[variant_name] = (model, history, fit, scores)
            own = {
                k: v for k, v in scores.items() if k.startswith(("model_", "pct_of_human"))
            }  # not the annotator's
            mlflow.log_metrics({f"{variant_name}_{k}": float(v) for k, v in {**fit, **own}.items()})
        chosen = max(variants, key=lambda n: variants[n][2]["best_val_macro_f1"])
        model, history, fit, metrics = variants[chosen]
        sources = by_source(metrics)
        tracking.log_epoch_metrics(history)
        mlflow.log_metrics({k: float(v) for k, v in {**fit, **metrics, **sources["model"]}.items()})
        mlflow.set_tag("variant", chosen)
        references = _log_references(variants, chosen, sources, majority, config, tags, datasets)
        predicted = predict_failure_points(model, evaluation, embedder)
        for who in ("model", "annotator"):
            figure = tracking.confusion_figure(
                list(CLASSES), confusion(evaluation, predicted, who), f"{who} vs gold"
            )
            tracking.log_figure_png(figure, f"failure_point_confusion_{who}.png")
        tracking.log_figure_png(_f1_figure(metrics), "failure_point_f1_by_class.png")
        logged = tracking.log_torch_model(model, signature=model_signature(model, evaluation, embedder))
        registered = tracking.register_run_model(
            run,
            MODEL_NAME,
            PROMOTION_METRIC,
            float(metrics.get(PROMOTION_METRIC, 0.0)),
            eval_set,
            champion_value=_champion_score(evaluation, embedder, majority),
            model_description=DESCRIPTION,
            model_uri=logged.model_uri,
        )
    return {
        **registered,
        "variant": chosen,
        "variants": {name: v[3] for name, v in variants.items()},
        "metrics": metrics,
        "references": references,
        "fit": fit,
        "epochs": config.epochs,
        "epochs_run": int(fit["epochs_run"]),
    }


def _log_references(
    variants: dict, chosen: str, sources: dict, majority: str, config: FailurePointConfig, tags, datasets
) -> dict[str, dict[str, float]]:
    """Child runs of the active run under the model's metric names: the single annotator, the majority
    class and the variant not chosen. Returns {child run name: its metrics}."""
    references = {}

    def child(kind: str, what: str, metrics: dict, description: str, **kwargs) -> None:
        name = f"{RUN_PREFIX} {kind}: {what}"
        tracking.log_child_run(name, metrics, baseline=what, tags=tags, description=description, **kwargs)
        references[name] = dict(metrics)

    child(
        "baseline", "single annotator", sources["annotator"],
        "The single annotator's failure points against gold, on the model's evaluation turns.",
        datasets={"evaluation": datasets["evaluation"]},
    )  # fmt: skip
    child(
        "baseline", "majority class", sources["majority"],
        f"Always `{majority}`, the most frequent gold class of the training turns, against gold.",
        params={"majority_class": majority}, datasets=datasets,
    )  # fmt: skip
    for other in (n for n in variants if n != chosen):
        _, history, fit, scores = variants[other]
        variant = dataclasses.replace(config, weak_weight=config.weak_weight if other == "with_weak" else 0.0)
        val = {n: variants[n][2]["best_val_macro_f1"] for n in (other, chosen)}
        child(
            "variant", VARIANT_NAMES[other], {**fit, **by_source(scores)["model"]},
            f"The {VARIANT_NAMES[other]} variant (weak_weight {variant.weak_weight}), not chosen: validation "
            f"macro-F1 {val[other]:.3f} vs {val[chosen]:.3f} for {VARIANT_NAMES[chosen]}.",
            params=config_params(variant), history=history, datasets=datasets,
        )  # fmt: skip
    return references


def model_signature(model: FailurePointModel, frames: pl.DataFrame, embedder):
    """The tensors `model.forward` takes (text, text_mask, cats, nums; batch dim variable) and its class
    logits, from a real call on the first rows of `frames`."""
    import torch

    data = encode(frames.head(8), model.spec, embedder)
    inputs = {"text": data.text, "text_mask": data.text_mask, "cats": data.cats, "nums": data.nums}
    model.eval()
    with torch.no_grad():
        logits = model(**inputs)
    return tracking.torch_signature(inputs, {"logits": logits}, variable_dims=1)


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
