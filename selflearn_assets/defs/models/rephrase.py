"""The contextual rephrase detector (ContReph): trained over a window of days, tracked in MLflow, promoted to
`champion` on improvement; `rephrase_candidates` scores its pairs with the champion."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import fmt, markdown_table, mlflow_run_metadata, mlflow_run_tags, stage
from selflearn_assets.defs.models.window import load_training_window
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource
from selflearn_assets.defs.run_config import config_class
from selflearn_assets.lib.models.rephrase_data import load_rephrase_turns
from selflearn_assets.lib.models.rephrase_model import RephraseConfig
from selflearn_assets.lib.models.rephrase_training import train_and_track


class RephraseModelTraining(config_class(RephraseConfig, exclude=("gap_edges",))):
    """Training window, model size and training settings: the fields of `RephraseConfig` with its defaults
    (see `selflearn_assets/lib/models/rephrase_detector.py`) but `gap_edges` (the time-gap buckets: an
    engineering knob, and a tuple, which Dagster config has no type for); `params()` is the `RephraseConfig`."""


@dg.asset(
    deps=["clean_turns", "annotations"],
    **stage("models"),
    kinds={"pytorch", "mlflow"},
    pool="duckdb",
)
def rephrase_model(
    context: dg.AssetExecutionContext,
    config: RephraseModelTraining,
    duckdb: DuckDBResource,
    mlflow: MLflowResource,
    encoder: EncoderConfig,
) -> dg.MaterializeResult:
    """The contextual rephrase detector (a turn, its following turns within 45 s with their responses and time
    gaps -> the span of the turn that rephrases it, or none), trained on the window's weak and gold labels and
    compared with a pairwise baseline against gold of the audit holdout. Registered in MLflow as
    `selflearn-rephrase-detector`; the alias `champion` moves only when it beats the current champion's F1 on
    the same evaluation set. `rephrase_candidates` scores its pairs with the champion."""
    model_config = config.params()
    days, turns = load_training_window(context, duckdb, model_config.window_days, load_rephrase_turns)
    embedder = encoder.load()
    tags = mlflow_run_tags(context, days)
    try:
        summary = train_and_track(
            turns, embedder, model_config, mlflow.home, tags, encoder_path=encoder.path, progress=False
        )
    except ValueError as err:
        raise dg.Failure(description=str(err)) from err
    report = summary["report"]
    rows = [
        (
            name,
            fmt(r["precision"]),
            fmt(r["recall"]),
            fmt(r["f1"]),
            int(r["true_positives"]),
            int(r["predicted"]),
        )
        for name, r in (("ContReph", report["detector"]), ("pairwise baseline", report["pairwise"]))
    ]
    detector, pairwise = report["detector"], report["pairwise"]
    return dg.MaterializeResult(
        metadata={
            **mlflow_run_metadata(mlflow, summary, "f1"),
            "f1": float(detector["f1"]),
            "precision": float(detector["precision"]),
            "recall": float(detector["recall"]),
            "baseline_f1": float(pairwise["f1"]),
            "baseline_precision": float(pairwise["precision"]),
            "baseline_recall": float(pairwise["recall"]),
            "gold_pairs": summary["eval_gold_pairs"],
            "eval_set": summary["eval_set"],
            # as in MLflow: param `epochs` = the configured maximum, metric `epochs_run` = those run
            "epochs": summary["epochs"],
            "epochs_run": summary["epochs_run"],
            "train_seconds": round(summary["train_seconds"], 1),
            "quality_vs_gold": dg.MetadataValue.md(
                markdown_table(["model", "precision", "recall", "F1", "true positives", "predicted"], rows)
            ),
        }
    )
