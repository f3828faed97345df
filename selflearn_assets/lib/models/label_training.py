"""One tracked training run of the label-generation model: split, train, evaluate, log, register, promote.

- **Evaluation set**: the gold-annotated sessions of the window that fall in the audit holdout
  (`audit.is_holdout`, a hash of the session id shared by every model and by the label releases). Training
  never sees them, in this run or any other.
- **Training set**: every other session of the window, capped at `max_sessions` (a seeded sample; all
  gold-annotated sessions are kept first; `LabelModelConfig.max_sessions`), so a CPU run stays within minutes.
- The contextual model and the non-contextual baseline (per-turn MLP) train on the same set.
- **Promotion**: the current champion, if any, is re-scored on this run's evaluation set, and `champion`
  moves to the new version only when its `macro_accuracy` (mean accuracy over goal_start, goal_success,
  intent, slots against gold) is higher.
- **MLflow**: one run per training ("label-model <first day>..<last day>") with the model's metrics, and
  child runs for the non-contextual baseline and the single annotator that log the same names
  (`intent_accuracy`, `macro_accuracy`, ...: `label_eval.scores_by_source`), so Compare puts them side by
  side; the training and evaluation turns as datasets; the model with its signature. Epochs: param
  `epochs` is the configured maximum of supervised epochs, metric `epochs_run` those run before early
  stopping; param `pretrain_epochs` and metric `pretrain_epochs_run` are the pretraining epochs before them
  (`train_label_model`'s metrics, also the Dagster metadata's `epochs_run` and `pretrain_epochs`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import polars as pl

from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.audit import HOLDOUT_SHARE, holdout_expr, training_sessions
from selflearn_assets.lib.models.label_eval import (
    evaluate_against_gold,
    intent_confusion,
    predict_turn_labels,
    prefixed_metrics,
    scores_by_source,
)
from selflearn_assets.lib.models.label_features import encode
from selflearn_assets.lib.models.label_model import (
    LabelModel,
    LabelModelConfig,
    check_compatible,
    collate,
    config_params,
    train_label_model,
)

MODEL_NAME = "selflearn-label-model"
EXPERIMENT = "selflearn-label-model"
PROMOTION_METRIC = "macro_accuracy"
RUN_PREFIX = "label-model"  # run names: "label-model 2026-11-01..2026-11-03"
CONFUSION_CLASSES = 15  # the intent confusion matrix shows at most this many classes (those with errors)
DESCRIPTION = (
    "Label-generation model: goal start, goal success, intent and slots of every turn, from frozen turn "
    "embeddings and a dialogue Transformer. Trained by the Dagster asset `label_model` on the weak and gold "
    "labels of a window of days; evaluated against gold on the audit holdout. Each run is the contextual "
    "model; its child runs hold the non-contextual baseline and the single annotator under the same metric "
    "names (<task>_accuracy, <task>_f1, macro_accuracy, pct_of_human): select the run and a child, then "
    "Compare. `champion` moves only when macro_accuracy beats the re-scored champion on the same evaluation set."
)


def _has_gold(frames: pl.DataFrame) -> pl.Expr:
    return pl.any_horizontal(pl.col(c).is_not_null() for c in frames.columns if c.startswith("gold_"))


def split_frames(
    frames: pl.DataFrame, max_sessions: int, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """(train, eval, description of the evaluation set); see the module docstring."""
    gold_sessions = frames.filter(_has_gold(frames)).select("session_id", "day").unique()
    if gold_sessions.is_empty():
        raise ValueError("no gold-annotated turns in the window: the label model needs an audit sample")
    gold_days = sorted(set(gold_sessions["day"].to_list()))
    eval_ids = gold_sessions.filter(holdout_expr())["session_id"]
    if eval_ids.is_empty():
        raise ValueError(
            "no gold-annotated session of the window falls in the audit holdout: too few audited sessions"
        )
    described = f"audit holdout ({HOLDOUT_SHARE:.0%} of gold sessions) of {gold_days[0]}..{gold_days[-1]}"
    holdout = frames.select("session_id").unique().filter(holdout_expr())["session_id"]
    evaluation = frames.filter(pl.col("session_id").is_in(eval_ids.implode()))
    rest = frames.filter(~pl.col("session_id").is_in(holdout.implode()))
    sessions = (
        rest.select("session_id", gold=_has_gold(rest)).group_by("session_id").agg(pl.col("gold").any())
    )
    keep = training_sessions(sessions, max_sessions, seed)
    return rest.filter(pl.col("session_id").is_in(keep.implode())), evaluation, described


def train_and_track(
    frames: pl.DataFrame,
    embedder,
    config: LabelModelConfig,
    home: str | Path,
    tags: dict,
    encoder_name: str = "",
    progress: bool = True,
) -> dict:
    """Train, evaluate and log one run (at most `config.max_sessions` training sessions) with a child run per
    reference; returns the run id, version, promotion, the metrics, `references` ({child run name: its
    metrics}) and the epochs: `epochs` (the configured maximum of supervised epochs), `epochs_run` (those
    run before early stopping) and `pretrain_epochs` (those run before them), as logged to MLflow."""
    train, evaluation, eval_set = split_frames(frames, config.max_sessions, config.seed)
    tracking.configure(home, EXPERIMENT, DESCRIPTION)
    params = {
        **config_params(config),
        "encoder": encoder_name,
        "train_turns": train.height,
        "train_sessions": train["session_id"].n_unique(),
        "eval_turns": evaluation.height,
        "eval_set": eval_set,
    }
    datasets = tracking.split_datasets(
        home,
        RUN_PREFIX,
        "selflearn_assets/lib/models/label_data.py (load_label_frames)",
        _has_gold(frames),
        frames,
        training=train,
        evaluation=evaluation,
    )
    name = tracking.run_name(RUN_PREFIX, frames["day"].unique())
    with tracking.start_run(
        EXPERIMENT, tags=tags, params=params, run_name=name, description=DESCRIPTION, datasets=datasets
    ) as run:
        model, history, fit = train_label_model(train, config, embedder, progress=progress)
        baseline_config = dataclasses.replace(config, contextual=False)
        baseline, baseline_history, baseline_fit = train_label_model(
            train, baseline_config, embedder, progress=progress
        )
        sources = scores_by_source(model, evaluation, embedder, baseline=baseline)
        metrics = prefixed_metrics(sources)
        tracking.log_epoch_metrics(history)
        mlflow.log_metrics({k: float(v) for k, v in {**fit, **metrics, **sources["model"]}.items()})
        references = _log_references(sources, baseline_config, baseline_history, baseline_fit, tags, datasets)
        predicted = predict_turn_labels(model, evaluation, embedder)
        labels, matrix = intent_confusion(evaluation, predicted)
        if len(labels):
            figure = tracking.confusion_figure(labels, matrix, "intent vs gold", top_n=CONFUSION_CLASSES)
            tracking.log_figure_png(figure, "intent_confusion.png")
        scored = predicted.join(evaluation.select("event_id", "gold_goal_success"), on="event_id").filter(
            pl.col("gold_goal_success").is_not_null()
        )
        if scored.height:
            p_success = scored.select(
                pl.when(pl.col("goal_success"))
                .then(pl.col("goal_success_confidence"))
                .otherwise(1 - pl.col("goal_success_confidence"))
            ).to_series()
            figure = tracking.pr_curve_figure(
                scored["gold_goal_success"].to_numpy(), p_success.to_numpy(), "goal success"
            )
            tracking.log_figure_png(figure, "goal_success_pr.png")
        logged = tracking.log_torch_model(model, signature=model_signature(model, evaluation, embedder))
        value = float(metrics.get(PROMOTION_METRIC, 0.0))
        champion_now = _champion_score(evaluation, embedder)
        registered = tracking.register_run_model(
            run, MODEL_NAME, PROMOTION_METRIC, value, eval_set, champion_value=champion_now,
            model_description=DESCRIPTION, model_uri=logged.model_uri,
        )  # fmt: skip
    return {
        **registered,
        "metrics": metrics,
        "references": references,
        "fit": fit,
        "epochs": config.epochs,
        "epochs_run": int(fit["epochs_run"]),
        "pretrain_epochs": int(fit["pretrain_epochs_run"]),
    }


def _log_references(
    sources: dict, baseline_config: LabelModelConfig, history: list, fit: dict, tags: dict, datasets: dict
) -> dict[str, dict[str, float]]:
    """Child runs of the active run under the model's metric names: the non-contextual baseline (trained on
    the same turns) and the single annotator. Returns {child run name: its metrics}."""
    baseline = f"{RUN_PREFIX} baseline: non-contextual"
    annotator = f"{RUN_PREFIX} baseline: single annotator"
    tracking.log_child_run(
        baseline, {**fit, **sources["baseline"]}, baseline="non-contextual", tags=tags,
        params=config_params(baseline_config), history=history, datasets=datasets,
        description="The same features through a per-turn MLP (no dialogue context), trained on the same "
        "turns as the model and evaluated on the same gold turns.",
    )  # fmt: skip
    tracking.log_child_run(
        annotator, sources["annotator"], baseline="single annotator", tags=tags,
        datasets={"evaluation": datasets["evaluation"]},
        description="The single annotator's labels against gold, on the model's evaluation turns.",
    )  # fmt: skip
    return {baseline: {**fit, **sources["baseline"]}, annotator: dict(sources["annotator"])}


def model_signature(model: LabelModel, frames: pl.DataFrame, embedder):
    """The tensors `model.forward` reads from a batch (per turn (B, T, ...), per slot candidate (K, ...))
    and its logits, from a real call on the first sessions of `frames`."""
    import torch

    sessions = frames["session_id"].unique(maintain_order=True).head(4)
    data = encode(frames.filter(pl.col("session_id").is_in(sessions.implode())), model.spec, embedder,
                  contextual=model.config.contextual)  # fmt: skip
    batch = tracking.RecordingBatch(collate(data, data.sessions))
    model.eval()
    with torch.no_grad():
        outputs = model(batch)

    def variable(name: str) -> int:  # candidates are flat (K, ...); turns are (B, T, ...)
        return 1 if name.startswith("cand_") or name == "slots" else 2

    return tracking.torch_signature({k: batch[k] for k in batch.read}, outputs, variable)


def _champion_score(evaluation: pl.DataFrame, embedder) -> float | None:
    """The current champion's promotion metric on this evaluation set (None without a usable champion)."""

    def score(champion) -> float:
        check_compatible(champion)  # one trained by an older feature version is replaced, not scored
        return float(evaluate_against_gold(champion, evaluation, embedder).get(PROMOTION_METRIC, 0.0))

    return tracking.rescore_champion(MODEL_NAME, score)


def load_champion():
    """The registered champion label model (raises MlflowException when there is none)."""
    return tracking.load_champion(MODEL_NAME)


def champion_version() -> str:
    """The champion's registered version number (raises MlflowException when there is none)."""
    return str(tracking.champion_version(MODEL_NAME).version)
