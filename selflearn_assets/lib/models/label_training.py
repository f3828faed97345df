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
)
from selflearn_assets.lib.models.label_model import (
    LabelModelConfig,
    check_compatible,
    config_params,
    train_label_model,
)

MODEL_NAME = "selflearn-label-model"
EXPERIMENT = "selflearn-label-model"
PROMOTION_METRIC = "macro_accuracy"


def _has_gold(frames: pl.DataFrame) -> pl.Expr:
    return pl.any_horizontal(pl.col(c).is_not_null() for c in frames.columns if c.startswith("gold_"))


def split_frames(frames: pl.DataFrame, max_sessions: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """(train, eval, description of the evaluation set); see the module docstring."""
    gold_sessions = frames.filter(_has_gold(frames)).select("session_id", "day").unique()
    if gold_sessions.is_empty():
        raise ValueError("no gold-annotated turns in the window: the label model needs an audit sample")
    gold_days = sorted(set(gold_sessions["day"].to_list()))
    eval_ids = gold_sessions.filter(holdout_expr())["session_id"]
    if eval_ids.is_empty():
        raise ValueError("no gold-annotated session of the window falls in the audit holdout: too few audited sessions")
    described = f"audit holdout ({HOLDOUT_SHARE:.0%} of gold sessions) of {gold_days[0]}..{gold_days[-1]}"
    holdout = frames.select("session_id").unique().filter(holdout_expr())["session_id"]
    evaluation = frames.filter(pl.col("session_id").is_in(eval_ids.implode()))
    rest = frames.filter(~pl.col("session_id").is_in(holdout.implode()))
    sessions = rest.select("session_id", gold=_has_gold(rest)).group_by("session_id").agg(pl.col("gold").any())
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
    """Train, evaluate and log one run (at most `config.max_sessions` training sessions); returns the run id,
    version, promotion and the metrics."""
    train, evaluation, eval_set = split_frames(frames, config.max_sessions, config.seed)
    tracking.configure(home, EXPERIMENT)
    params = {
        **config_params(config),
        "encoder": encoder_name,
        "train_turns": train.height,
        "train_sessions": train["session_id"].n_unique(),
        "eval_turns": evaluation.height,
        "eval_set": eval_set,
    }
    with tracking.start_run(EXPERIMENT, tags=tags, params=params) as run:
        model, history, fit = train_label_model(train, config, embedder, progress=progress)
        baseline_config = dataclasses.replace(config, contextual=False)
        baseline, _, _ = train_label_model(train, baseline_config, embedder, progress=progress)
        metrics = evaluate_against_gold(model, evaluation, embedder, baseline=baseline)
        tracking.log_epoch_metrics(history)
        mlflow.log_metrics({k: float(v) for k, v in {**fit, **metrics}.items()})
        predicted = predict_turn_labels(model, evaluation, embedder)
        labels, matrix = intent_confusion(evaluation, predicted)
        if len(labels):
            tracking.log_figure_png(tracking.confusion_figure(labels, matrix, "intent vs gold"), "intent_confusion.png")
        scored = predicted.join(
            evaluation.select("event_id", "gold_goal_success"), on="event_id"
        ).filter(pl.col("gold_goal_success").is_not_null())
        if scored.height:
            p_success = scored.select(
                pl.when(pl.col("goal_success")).then(pl.col("goal_success_confidence"))
                .otherwise(1 - pl.col("goal_success_confidence"))
            ).to_series()
            figure = tracking.pr_curve_figure(scored["gold_goal_success"].to_numpy(), p_success.to_numpy(), "goal success")
            tracking.log_figure_png(figure, "goal_success_pr.png")
        tracking.log_torch_model(model)
        value = float(metrics.get(PROMOTION_METRIC, 0.0))
        champion_now = _champion_score(evaluation, embedder)
        registered = tracking.register_run_model(
            run, MODEL_NAME, PROMOTION_METRIC, value, eval_set, champion_value=champion_now
        )
    return {
        **registered,
        "metrics": metrics,
        "fit": fit,
        "epochs": len(history),
    }


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
